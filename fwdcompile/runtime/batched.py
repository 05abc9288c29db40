"""Vector mode: tangents that carry K directions on a leading axis.

Contract: the batched transform (transform/batch.py and the vector-mode
paths of transform/) emits these to keep every K-direction tangent of shape
``(K,) + shape(value)``: making and fitting them (``bzeros``, ``lift``,
``fit``), in-place updates (``inplace_batched_*``), indexing and iteration
(``bindex``, ``bsplit``, ``btranspose``, ``breshape``), reductions and
products (``breduce``, ``bmax_jvp``, ``matmul_left``/``matmul_right``,
``beinsum``, ``btensordot``, ``bdot``, ``binner``, ``bouter``), axes of
the value as axes of its tangent (``baxis``, ``balong``) and
rules evaluated once per direction (``custom_batched``, ``ufunc_at_batched``).
None of them lowers natively.

"""

from __future__ import annotations

import string

import numpy as np

from ..tree import is_container, leaves
from .facts import returns_fresh, updates_first
from .rules import ties


def batch_size(*tangents):
    """K, read off the first tangent argument (a structure's first leaf)."""
    for t in tangents:
        if type(t) is np.ndarray:
            if t.ndim > 0:
                return t.shape[0]
        elif is_container(t):
            return batch_size(*leaves(t))
        elif np.ndim(t) > 0:
            return np.shape(t)[0]
    raise ValueError("fwdcompile: batched tangents need a leading axis of directions")


def bzeros(k, x):
    """K zero tangents for ``x``."""
    if isinstance(x, tuple):
        return tuple(bzeros(k, item) for item in x)
    return np.zeros((k,) + np.shape(x), dtype=np.result_type(np.asarray(x).dtype, np.float64))


def lift(d, z):
    """Insert unit axes after the direction axis so that ``d`` (K directions of
    a lower-rank value) broadcasts against values of ``z``'s rank."""
    d = np.asarray(d)
    missing = np.ndim(z) - (d.ndim - 1)
    if missing < 0 and all(n == 1 for n in d.shape[1:1 - missing]):
        # a stored value with leading unit axes (a[i, j] = t of shape (1, 1)):
        # numpy's assignment drops them, and so does the tangent's
        return d.reshape(d.shape[:1] + d.shape[1 - missing:])
    if missing <= 0:
        return d
    return d.reshape(d.shape[:1] + (1,) * missing + d.shape[1:])


def fit(d, z, copy=False):
    """K tangents of exactly the shape (K,) + shape(z), so that later in-place
    updates (x += ..., out[i] = ...) see one array per variable, as the value
    does; ``copy`` when the tangent must not share memory with another one.
    A scalar value is a copy (``y[2]``), so its tangent must not stay a view
    of another tangent (``d_y[:, 2]``) that a later store would change."""
    d = lift(d, z)  # also drops a stored value's leading unit axes
    shape = d.shape[:1] + np.shape(z)
    if d.shape == shape:
        if copy or (d.base is not None and not isinstance(z, np.ndarray)):
            return d.copy()
        return d
    return np.array(np.broadcast_to(d, shape))


def _inplace(d, v, x, op):
    """``d_x op= v`` with the value's semantics: in place when ``x`` is an array
    (aliases see the update), a new tangent when ``x`` is an immutable scalar."""
    if isinstance(x, np.ndarray):
        return op(d, v, out=d) if d.dtype.kind in "fc" else op(d, v)
    return op(d, v)


# ``x op= e`` in vector mode: tangents carry K on axis 0, so numpy's alignment
# of trailing axes needs the lower-rank operand lifted first (``s += a`` with
# a scalar s and an array a turns s into an array, and d_s (K,) must meet
# d_a (K, n) as (K, 1)).

def _lift_rank(d, rank):
    """K-direction tangent ``d`` with unit axes after K up to value rank ``rank``."""
    d = np.asarray(d)
    missing = rank - (d.ndim - 1)
    return d if missing <= 0 else d.reshape(d.shape[:1] + (1,) * missing + d.shape[1:])


def _inplace_both(d, v, x, op):
    """``d_x op= d_e`` with both tangents lifted to the higher value rank."""
    rank = max(np.ndim(d), np.ndim(v)) - 1
    return _inplace(_lift_rank(d, rank), _lift_rank(v, rank), x, op)


@updates_first
def inplace_batched_add(d, v, x):
    """``d_x += d_e`` (both with K directions)."""
    return _inplace_both(d, v, x, np.add)


@updates_first
def inplace_batched_sub(d, v, x):
    """``d_x -= d_e`` (both with K directions)."""
    return _inplace_both(d, v, x, np.subtract)


@updates_first
def inplace_batched_mul(d, a, x):
    """``d_x *= a`` for K-direction ``d_x`` and a value ``a``."""
    return _inplace(_lift_rank(d, np.ndim(a)), a, x, np.multiply)


@updates_first
def inplace_batched_div(d, a, x):
    """``d_x /= a`` for K-direction ``d_x`` and a value ``a``."""
    return _inplace(_lift_rank(d, np.ndim(a)), a, x, np.true_divide)


def bsplit(d):
    """Iterate K-direction tangents along the value's first axis (copies for
    the elements of a vector: they are scalars, which a later store into the
    vector must not change)."""
    d = np.asarray(d)
    return d.T.copy() if d.ndim == 2 else np.moveaxis(d, 0, 1)


def btranspose(d):
    """``x.T`` for K-direction tangents: reverse every axis but the first."""
    d = np.asarray(d)
    return d.transpose((0,) + tuple(range(d.ndim - 1, 0, -1)))


@returns_fresh
def matmul_left(d_a, b):
    """K directions of ``d_a @ b``."""
    d_a, b = np.asarray(d_a), np.asarray(b)
    if d_a.ndim == 2 and b.ndim > 2:  # (K, n) would be read as one matrix
        return np.stack([d @ b for d in d_a])
    if d_a.ndim >= 3 and b.ndim == 2:  # all K directions in one matrix product
        return (d_a.reshape(-1, d_a.shape[-1]) @ b).reshape(d_a.shape[:-1] + b.shape[1:])
    return d_a @ b


@returns_fresh
def matmul_right(a, d_b):
    """K directions of ``a @ d_b``."""
    a, d_b = np.asarray(a), np.asarray(d_b)
    if d_b.ndim == 2:  # b is a vector: (K, n) -> a @ each row
        if a.ndim == 1:
            return d_b @ a
        if a.ndim == 2:
            return d_b @ a.T
        return np.stack([a @ d for d in d_b])
    if a.ndim > 2:
        return np.stack([a @ d for d in d_b])
    return a @ d_b


# einsum labels for the direction axis, the most readable first
_DIRECTION_LABELS = "KLMNPQRSTUVWXYZABCDEFGHIJOabcdefghijklmnopqrstuvwxyz"


def einsum_batched_subscripts(subscripts, i):
    """The subscripts of ``einsum(subscripts, *operands)`` when operand ``i``
    carries K directions on a new leading axis: a label no operand uses is
    prepended to that operand and to the output, which is written out in
    implicit mode (the labels used once, sorted, after the broadcast axes
    ``...``, as numpy reads it).  None when unsure (malformed, no free label)."""
    if not isinstance(subscripts, str):
        return None
    s = subscripts.replace(" ", "")
    inputs, arrow, output = s.partition("->")
    operands = inputs.split(",")
    used = inputs.replace("...", "") + output.replace("...", "")
    if "->" in output or not 0 <= i < len(operands) \
            or any(c not in string.ascii_letters for c in used.replace(",", "")):
        return None
    if not arrow:
        counts = {c: used.count(c) for c in used if c != ","}
        output = ("..." if "..." in inputs else "") \
            + "".join(sorted(c for c, n in counts.items() if n == 1))
    label = next((c for c in _DIRECTION_LABELS if c not in used), None)
    if label is None:
        return None
    operands[i] = label + operands[i]
    return ",".join(operands) + "->" + label + output


def beinsum(i, *operands, **keywords):
    """``numpy.einsum(*operands)`` whose operand ``i`` (the subscripts string
    counting as operand 0) holds K directions on a leading axis: one einsum
    with the direction axis as one more label; the sublist form is evaluated
    direction by direction."""
    spec = einsum_batched_subscripts(operands[0], i - 1)
    if spec is None:
        before, after = operands[:i], operands[i + 1:]
        return np.stack([np.einsum(*before, d, *after, **keywords) for d in operands[i]])
    return np.einsum(spec, *operands[1:], **keywords)


def _axis_list(axes):
    return list(axes) if np.ndim(axes) else [axes]


def _shifted(axes):
    """Axes of a value as axes of its K-direction tangent (negative ones stay)."""
    return [a + 1 if a >= 0 else a for a in axes]


@returns_fresh
def btensordot(a, b, axes, i):
    """``numpy.tensordot(a, b, axes)`` where operand ``i`` (0: a, 1: b) holds
    K directions on a leading axis; the result has them first."""
    try:
        axes_a, axes_b = axes
    except TypeError:  # an integer n: the last n axes of a, the first n of b
        axes_a, axes_b = list(range(-axes, 0)), list(range(0, axes))
    axes_a, axes_b = _axis_list(axes_a), _axis_list(axes_b)
    if i == 0:
        return np.tensordot(a, b, (_shifted(axes_a), axes_b))
    out = np.tensordot(a, b, (axes_a, _shifted(axes_b)))
    return np.moveaxis(out, np.ndim(a) - len(axes_a), 0)


@returns_fresh
def bdot(a, b, i):
    """``numpy.dot(a, b)`` where operand ``i`` (0: a, 1: b) holds K directions."""
    ndim_a, ndim_b = np.ndim(a) - (i == 0), np.ndim(b) - (i == 1)
    if ndim_a == 0 or ndim_b == 0:
        return btensordot(a, b, 0, i)
    return btensordot(a, b, ([-1], [-2 if ndim_b >= 2 else -1]), i)


@returns_fresh
def binner(a, b, i):
    """``numpy.inner(a, b)`` where operand ``i`` (0: a, 1: b) holds K directions."""
    if np.ndim(a) - (i == 0) == 0 or np.ndim(b) - (i == 1) == 0:
        return btensordot(a, b, 0, i)
    return btensordot(a, b, ([-1], [-1]), i)


@returns_fresh
def bouter(a, b, i):
    """``numpy.outer(a, b)`` (of the flattened operands) where operand ``i``
    (0: a, 1: b) holds K directions."""
    if i == 0:
        d = np.asarray(a)
        return d.reshape(d.shape[0], -1, 1) * np.ravel(b)
    d = np.asarray(b)
    return np.ravel(a)[:, None] * d.reshape(d.shape[0], 1, -1)


def baxis(axis, x):
    """``axis`` of the value ``x`` as the axis of its K-direction tangent
    (None, every axis of ``x``: all but the first)."""
    if axis is None:
        return tuple(range(1, np.ndim(x) + 1))
    if np.ndim(axis):
        return tuple(_shifted(axis))
    return axis + 1 if axis >= 0 else axis


def balong(fn, d, axis, **options):
    """``fn(d, axis=axis, **options)`` (cumsum, diff: linear along one axis)
    for K-direction tangents ``d``; ``axis=None`` flattens each direction.
    Not fresh: ``diff(d, n=0)`` is ``d``."""
    d = np.asarray(d)
    if axis is None:
        return fn(d.reshape(d.shape[0], -1), axis=1, **options)
    return fn(d, axis=baxis(axis, d[0]), **options)


def custom_batched(rule, primals, tangents, **keywords):
    """A custom_jvp rule evaluated for K directions: (value, stacked tangents)."""
    k = batch_size(*tangents)
    value, outs = None, []
    for i in range(k):
        value, out = rule(primals, tuple(_direction(t, i) for t in tangents), **keywords)
        outs.append(_rule_tangent(rule, value, out))
    return value, _stack_like(outs, value)


def _direction(tangent, i):
    """Direction ``i`` of K stacked tangents; a tuple argument's tangent is a
    tuple of stacks (``bzeros``), not a stack of tuples."""
    if isinstance(tangent, tuple):
        return tuple(_direction(t, i) for t in tangent)
    return tangent[i]


def _rule_tangent(rule, value, tangent):
    """A rule's tangent with its value's tuple structure.  A list or array of
    the tuple's length stands for a tuple (as unpacking ``(d_a, d_b) = ...``
    reads it for one direction); anything else raises, since stacking would
    otherwise slice an array where a tuple was meant."""
    name = getattr(rule, "__qualname__", rule)
    if isinstance(value, tuple):
        if not isinstance(tangent, tuple) and isinstance(tangent, (list, np.ndarray)) \
                and np.ndim(tangent) and len(tangent) == len(value):
            tangent = tuple(tangent)
        if not (isinstance(tangent, tuple) and len(tangent) == len(value)):
            what = f"a tuple of {len(tangent)}" if isinstance(tangent, tuple) else \
                f"{type(tangent).__name__} of shape {np.shape(tangent)}"
            raise TypeError(f"the custom_jvp rule {name} returned a tuple of {len(value)} "
                            f"values but {what} as their tangent; return one tangent per "
                            "value, in a tuple")
        return tuple(_rule_tangent(rule, v, t) for v, t in zip(value, tangent))
    if isinstance(tangent, tuple):
        raise TypeError(f"the custom_jvp rule {name} returned one value but a tuple of "
                        f"{len(tangent)} tangents")
    return tangent


def _shift_axis(axis, ndim):
    """An axis of the value, as an axis of its K-direction tangent."""
    if axis is None:
        return tuple(range(1, ndim + 1))
    if isinstance(axis, (tuple, list)):
        return tuple(_shift_axis(a, ndim)[0] if not isinstance(a, tuple) else a for a in axis)
    return (axis + 1 if axis >= 0 else axis,)


@returns_fresh
def breduce(fn, d, axis=None, keepdims=False):
    """A linear reduction (numpy.sum, numpy.mean) of K-direction tangents."""
    d = np.asarray(d)
    return fn(d, axis=_shift_axis(axis, d.ndim - 1), keepdims=keepdims)


@returns_fresh
def bmax_jvp(a, z, d, axis=None, keepdims=False):
    """max_jvp for K-direction tangents: the tie mask is computed once."""
    mask, count = ties(a, z, axis, keepdims)
    axes = _shift_axis(axis, mask.ndim)
    return np.sum(np.where(mask, d, 0.0), axis=axes, keepdims=keepdims) / count


def _array_index(e):
    """Whether ``e``, one entry of an index tuple, is an index array (or list)."""
    return not (e is None or e is Ellipsis or isinstance(e, (slice, int, np.integer))) \
        or isinstance(e, bool)


def bindex(idx, k):
    """The index of K-direction tangents that ``idx`` is of the value:
    ``(slice(None),) + idx`` for a tuple (numpy reads a tuple index as one
    entry per axis), ``(slice(None), idx)`` otherwise.  When index arrays are
    separated by a slice (``x[0, :, rows]``) numpy puts their axes first; the
    direction axis then becomes an index array too, so it stays first."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    if any(_array_index(e) for e in idx):
        advanced = [i for i, e in enumerate(idx) if _array_index(e)
                    or isinstance(e, (int, np.integer))]
        if advanced[-1] - advanced[0] + 1 != len(advanced):
            arrays = []
            for i in advanced:
                e = np.asarray(idx[i])
                arrays.extend(np.nonzero(e) if e.dtype == bool else [e])
            rank = len(np.broadcast_shapes(*(np.shape(a) for a in arrays)))
            return (np.arange(k).reshape((k,) + (1,) * rank),) + idx
    return (slice(None),) + idx


def breshape(d, z, copy=False):
    """``x.reshape(...)``, ``x.ravel()``, ``x.flatten()`` (C order) for
    K-direction tangents: one reshape to ``(K,) + z.shape`` (a copy for
    ``flatten``, which copies the value)."""
    d = np.asarray(d)
    out = d.reshape(d.shape[:1] + np.shape(z))
    return out.copy() if copy and np.may_share_memory(out, d) else out


def _stack_like(tangents, value):
    """K tangents of one value (a rule's outputs) as one array (K,) + shape."""
    if isinstance(value, tuple):
        return tuple(_stack_like([t[i] for t in tangents], v) for i, v in enumerate(value))
    return fit(np.stack([np.broadcast_to(t, np.shape(value)) for t in tangents]), value)



def ufunc_at_batched(ufunc, d_a, index, d_b):
    """``ufunc.at(d_a, index, d_b)`` (np.add / np.subtract) for K directions."""
    d_b = np.asarray(d_b)
    for k in range(d_a.shape[0]):
        ufunc.at(d_a[k], index, d_b[k] if d_b.ndim else d_b)
