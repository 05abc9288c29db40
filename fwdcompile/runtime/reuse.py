"""Vector mode's buffer reuse (transform/reuse.py): ``reuse_add`` and friends.

Contract: the first argument is a temporary that nobody else holds, so its
memory may take the result: ``reuse_op(a, b)`` is ``a op b``, written into
``a`` when ``a`` is a writable array of the result's shape and dtype with at
least ``REUSE_MIN_SIZE`` elements.  The threshold is read from the ``_rt``
namespace (``fwdcompile.runtime.REUSE_MIN_SIZE``) at each call, so setting it
there takes effect (tests set it to 0).
"""

from __future__ import annotations

import numpy as np

from .. import runtime as _rt
from .facts import returns_fresh


def _can_hold(buffer, other):
    """``buffer`` is a writable array of the result's shape and dtype (checked
    in plain Python for the usual operands: numpy's own checks cost more than
    the allocation saved)."""
    if type(buffer) is not np.ndarray or buffer.size < _rt.REUSE_MIN_SIZE \
            or not buffer.flags.writeable:
        return False
    if type(other) is float:
        return buffer.dtype.kind == "f"
    if type(other) is np.ndarray:
        return other.dtype == buffer.dtype and _fits(other.shape, buffer.shape)
    try:
        return np.result_type(buffer, other) == buffer.dtype \
            and _fits(np.shape(other), buffer.shape)
    except TypeError:
        return False


def _fits(shape, into):
    """``shape`` broadcasts to ``into`` without growing it."""
    if shape == into or not shape:
        return True
    if len(shape) > len(into):
        return False
    for s, t in zip(shape[::-1], into[::-1]):
        if s != 1 and s != t:
            return False
    return True


@returns_fresh
def reuse_add(a, b):
    """``a + b``, in ``a``'s memory when it can hold the result."""
    return np.add(a, b, out=a) if _can_hold(a, b) else a + b


@returns_fresh
def reuse_sub(a, b):
    """``a - b``, in ``a``'s memory when it can hold the result."""
    return np.subtract(a, b, out=a) if _can_hold(a, b) else a - b


@returns_fresh
def reuse_mul(a, b):
    """``a * b``, in ``a``'s memory when it can hold the result."""
    return np.multiply(a, b, out=a) if _can_hold(a, b) else a * b


@returns_fresh
def reuse_div(a, b):
    """``a / b``, in ``a``'s memory when it can hold the result."""
    return np.true_divide(a, b, out=a) if _can_hold(a, b) else a / b


_BITS = {np.dtype(np.float64): np.uint64, np.dtype(np.float32): np.uint32}


@returns_fresh
def reuse_where(condition, a, zero):
    """``numpy.where(condition, a, 0.0)``, in ``a``'s memory when it can hold
    the result.  In place it ANDs ``a``'s bits with all ones where the condition
    holds and with zeros elsewhere: bit for bit ``where``'s result (+0.0, and
    NaN or inf kept where the condition holds), in one pass; numpy's masked
    ``copyto`` takes four times as long."""
    bits = _BITS.get(getattr(a, "dtype", None))
    if bits is None or zero != 0 or np.signbit(zero) or not _can_hold(a, zero) \
            or not _fits(np.shape(condition), a.shape):
        return np.where(condition, a, zero)
    mask = np.asarray(condition, dtype=bool).astype(bits)
    np.negative(mask, out=mask)  # True -> all ones
    view = a.view(bits)
    np.bitwise_and(view, mask, out=view)
    return a
