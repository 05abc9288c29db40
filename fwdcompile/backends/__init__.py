"""Backends that run a generated JVP: Python (the default, in the compiler
itself) and native code through llvmlite (``backends/llvm``)."""
