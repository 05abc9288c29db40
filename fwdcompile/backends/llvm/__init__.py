"""The native backend: lower the generated scalar JVP to LLVM IR and call it.

``lower.py`` turns the generated function into IR, ``jit.py`` compiles it
with LLVM O3 into a shared MCJIT engine and returns a callable.  llvmlite is
imported only when this package is.
"""
