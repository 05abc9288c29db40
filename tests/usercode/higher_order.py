"""A helper in another module that receives a function (tests/test_language.py)."""


def apply_elsewhere(f, x):
    return f(x) * 2.0


def first_doubled(*ts):
    return ts[0] * 2.0
