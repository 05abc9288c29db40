"""Tangent plumbing of both modes: zero tangents, copies, widening.

Contract: the transform emits these whatever the rules: ``zeros_like(x)``
(a fresh zero tangent of ``x``'s shape), ``copy(d)`` (a tangent that must not
alias another one) and ``broadcast(d, z)`` (an operand's tangent widened to
its result's shape).  All three have IR twins in the native backend
(:mod:`.lowered`).
"""

from __future__ import annotations

import numpy as np

from .lowered import BOTH, lowered_natively


@lowered_natively(BOTH)  # scalars: lower.py; arrays: arrays.py (a zero-filled block)
def zeros_like(x):
    """A zero tangent for ``x``: ``0.0`` for a scalar, a fresh float array otherwise."""
    if isinstance(x, np.ndarray):
        return np.zeros(x.shape, dtype=np.result_type(x.dtype, np.float64))
    if isinstance(x, list):  # a list being built with .append keeps a list tangent
        return [zeros_like(item) for item in x]
    if isinstance(x, tuple):
        return tuple(zeros_like(item) for item in x)
    if isinstance(x, dict):  # d = {} then d["a"] = ...: a dict of tangents
        return {key: zeros_like(item) for key, item in x.items()}
    if isinstance(x, complex):
        return 0j
    return 0.0



@lowered_natively(BOTH)  # scalars: lower.py (the value itself); arrays: elementwise.py
def copy(x):
    """A tangent that must not alias another one (see transform.jvp)."""
    return x.copy() if isinstance(x, np.ndarray) else x



@lowered_natively(BOTH)  # scalars: lower.py (d itself); arrays: elementwise.py
def broadcast(d, z, copy=False):
    """The tangent ``d`` of an operand, widened to the shape of the result ``z``.

    An operand that carries no tangent can broadcast the result (``X + b``
    with only ``b`` differentiated), and every tangent has exactly its value's
    shape.  ``d`` itself comes back when the shapes already agree (a copy
    when ``copy``: the result is written in place later)."""
    if type(z) is float:  # a Python float result: d is a scalar already
        return d
    if isinstance(z, tuple):  # tuple-valued elementwise functions (divmod, modf)
        return tuple(broadcast(di, zi, copy) for di, zi in zip(d, z))
    shape = getattr(z, "shape", ())
    if getattr(d, "shape", ()) == shape:
        return d.copy() if copy and isinstance(d, np.ndarray) else d
    return np.array(np.broadcast_to(d, shape))
