"""The native backend: lower the generated JVP to LLVM IR and call it.

The pipeline, one module per job:

- ``lower.py``: scalars, control flow, helper calls, returns (the lowering);
- ``arrays.py``: array values, memory, indexing and array statements;
- ``array_types.py``: the types and shapes of array expressions;
- ``elementwise.py``: elementwise expressions as fused loops, broadcasting, ``@``;
- ``reductions.py``: sums, means, extremes, along an axis or not;
- ``temporaries.py``: which array temporaries need no storage;
- ``catalogue.py``: what a call may call, keyed by the Python object
  (``math.exp``, ``np.exp``, ``runtime.pow_dx``), resolved in the namespace
  the generated function runs in; outside numbers folded as constants;
- ``numpy_names.py``: the operations those objects lower to;
- ``callwrap.py``: CPython entry points generated in IR;
- ``results.py``: the results of an entry (numbers, numpy arrays on the
  kernel's memory) built in IR through numpy's C API;
- ``jit.py``: optimizes at O2 (O3 ran no faster in ``benchmarks/bench_llvm.py``
  and compiled about 20% slower), compiles with MCJIT, returns a callable;
- ``engine.py``: the one JIT pipeline (target machine, parse and verify,
  optimization, MCJIT, the unresolved-symbol check), shared with sampling.py;
- ``types.py``: the LLVM type constants and ``ArrayType``, defined once;
- ``errors.py``: what can go wrong, at compile time and at run time.

llvmlite is imported only when this package is.
"""
