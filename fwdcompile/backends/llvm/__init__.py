"""The native backend: lower the generated JVP to LLVM IR and call it.

``lower.py`` (scalars, control flow, helpers) and ``arrays.py`` (arrays)
turn the generated function into IR; ``callwrap.py`` adds the CPython entry
points; ``jit.py`` optimizes the module at O2 (O3 ran no faster in
``benchmarks/bench_llvm.py`` and compiled about 20% slower), compiles it with
MCJIT and returns a callable.  ``errors.py`` holds what can go wrong.
llvmlite is imported only when this package is.
"""
