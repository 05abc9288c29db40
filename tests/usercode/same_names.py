"""A second module with a helper named like one in tests/test_llvm_resolution.py
(both generated helper JVPs are called ``g_jvp``)."""


def g(x):
    return x * x * x


def h(x):
    return g(x) + 1.0
