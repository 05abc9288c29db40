"""Helpers that generated code calls as ``_rt.<name>``.

They hold the tangent rules that are clearer as a few lines of numpy than as
one template expression (reductions with ties, products with zeros, norms).
Each takes primal values and tangents and returns the tangent of the result.
"""

from __future__ import annotations

import math
import numbers

import numpy as np


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


def copy(x):
    """A tangent that must not alias another one (see transform.jvp)."""
    return x.copy() if isinstance(x, np.ndarray) else x


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


def _expand(z, a, axis, keepdims):
    if axis is None or keepdims:
        return z
    return np.expand_dims(z, axis)


def max_jvp(a, z, d_a, axis=None, keepdims=False):
    """Tangent of max/min reductions: the mean of the tangents at the extremal
    entries, so ties split the derivative evenly (as JAX does)."""
    a = np.asarray(a)
    mask = a == _expand(z, a, axis, keepdims)
    count = np.sum(mask, axis=axis, keepdims=keepdims)
    return np.sum(np.where(mask, d_a, 0.0), axis=axis, keepdims=keepdims) / count


def prod_jvp(a, d_a, axis=None, keepdims=False):
    """Tangent of prod, exact when entries are zero (products of the others)."""
    a = np.asarray(a, dtype=np.result_type(a, np.float64))
    d_a = np.broadcast_to(d_a, a.shape)
    if axis is None:
        flat, d_flat = a.reshape(-1), d_a.reshape(-1)
        out = np.sum(_others_product(flat, 0) * d_flat)
        return np.reshape(out, (1,) * a.ndim) if keepdims else out
    return np.sum(_others_product(a, axis) * d_a, axis=axis, keepdims=keepdims)


def _others_product(a, axis):
    """Product of all entries but one along ``axis``, without dividing."""
    a = np.moveaxis(a, axis, -1)
    ones = np.ones(a.shape[:-1] + (1,), dtype=a.dtype)
    left = np.cumprod(np.concatenate([ones, a[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, a[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return np.moveaxis(left * right, -1, axis)


def cumprod_jvp(a, z, d_a, axis=None):
    """Tangent of cumprod by the product rule along the axis (no division)."""
    a = np.asarray(a, dtype=np.result_type(a, np.float64))
    d_a = np.broadcast_to(d_a, a.shape)
    if axis is None:
        a, d_a, axis = a.reshape(-1), d_a.reshape(-1), 0
    a_m = np.moveaxis(a, axis, -1)
    d_m = np.moveaxis(d_a, axis, -1)
    out = np.empty(a_m.shape, dtype=a_m.dtype)
    acc_val = np.ones(a_m.shape[:-1], dtype=a_m.dtype)
    acc_tan = np.zeros(a_m.shape[:-1], dtype=a_m.dtype)
    for k in range(a_m.shape[-1]):
        acc_tan = acc_tan * a_m[..., k] + acc_val * d_m[..., k]
        acc_val = acc_val * a_m[..., k]
        out[..., k] = acc_tan
    return np.moveaxis(out, -1, axis)


def _reduced_count(a, axis):
    """How many entries each result of a reduction over ``axis`` combines."""
    if axis is None:
        return a.size
    return int(np.prod([a.shape[i] for i in np.atleast_1d(axis)]))


def var_jvp(a, d_a, axis=None, ddof=0, keepdims=False):
    """Tangent of var: 2 / (N - ddof) * sum((a - mean(a)) * d_a)."""
    a = np.asarray(a)
    centered = a - np.mean(a, axis=axis, keepdims=True)
    d_centered = d_a - np.mean(np.broadcast_to(d_a, a.shape), axis=axis, keepdims=True)
    n = _reduced_count(a, axis)
    return 2.0 * np.sum(centered * d_centered, axis=axis, keepdims=keepdims) / (n - ddof)


def std_jvp(a, z, d_a, axis=None, ddof=0, keepdims=False):
    """Tangent of std: d var / (2 std).

    Over a single entry std is identically 0 (or NaN for ddof >= 1), so its
    tangent is 0 (NaN likewise).  At other points of zero variance (all entries
    equal) std(a + t d) = |t| std(d): the derivative along ``d`` exists only
    when ``d`` is constant along the axis too, and is 0 then (``p - p``);
    otherwise the tangent is NaN (JAX, whose std is sqrt(var), gives NaN
    there in every direction)."""
    a = np.asarray(a)
    d_var = var_jvp(a, d_a, axis=axis, ddof=ddof, keepdims=keepdims)
    if _reduced_count(a, axis) == 1:
        return d_var * z  # 0, or NaN where z is NaN (ddof >= 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = d_var / (2 * z)
    flat = np.asarray(z) == 0
    if np.any(flat):
        spread = np.var(np.broadcast_to(d_a, a.shape), axis=axis, keepdims=keepdims)
        out = np.where(flat, np.where(spread == 0, 0.0, np.nan), out)
        return out if np.ndim(out) else float(out)
    return out


def _norm_axes(x, axis):
    """The reduced axes of numpy.linalg.norm as a tuple of non-negative ints."""
    if axis is None:
        return tuple(range(x.ndim))
    return tuple(a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis))


def norm_jvp(x, z, d_x, ord=None, axis=None, keepdims=False):
    """Tangent of numpy.linalg.norm for every order numpy accepts.

    Vectors (one reduced axis): the p-norm for any numeric ``ord``,
    ``sum(|x|^(p-1) sign(x) d_x) / ||x||^(p-1)``; 1 and +-inf (the max/min of
    ``|x|``, ties share the tangent as in max) by their own formulas; 0 (the
    count of nonzeros) has tangent 0.  Matrices (two reduced axes): None/'fro',
    'nuc', +-2 (through the SVD, assuming distinct singular values), +-1 and
    +-inf (max/min column/row sums).  At x == 0 the norm has no derivative
    (NaN for ord 2 and p > 1), like JAX."""
    x = np.asarray(x)
    d_x = np.broadcast_to(d_x, x.shape)
    if axis is None and ord is None:  # the 2-norm of the flattened array
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sum(x * d_x, keepdims=keepdims) / z
    axes = _norm_axes(x, axis)
    plain = np.linalg.norm(x, ord=ord, axis=axis)  # z without keepdims
    if len(axes) == 1:
        out = _vector_norm_jvp(x, plain, d_x, ord, axes[0])
    elif len(axes) == 2:
        out = _matrix_norm_jvp(x, plain, d_x, ord, axes)
    else:
        raise _no_rule(f"numpy.linalg.norm over {len(axes)} axes has no derivative rule")
    if keepdims:
        out = np.expand_dims(out, axes)
    return out


def _vector_norm_jvp(x, z, d_x, ord, ax):
    if ord is None or ord == 2:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sum(x * d_x, axis=ax) / z
    if isinstance(ord, str):
        raise _no_rule(f"numpy.linalg.norm has no derivative rule for ord={ord!r} on vectors")
    p = float(ord)
    if p == 0:  # the number of nonzero entries: piecewise constant
        return np.zeros(np.shape(z), dtype=np.result_type(x, np.float64))
    if p == 1:
        return np.sum(np.sign(x) * d_x, axis=ax)
    if np.isinf(p):
        return max_jvp(np.abs(x), z, np.sign(x) * d_x, axis=ax)
    zz = np.expand_dims(z, ax)
    with np.errstate(invalid="ignore", divide="ignore"):
        weights = np.abs(x) ** (p - 1) * np.sign(x) / zz ** (p - 1)
        return np.sum(weights * d_x, axis=ax)


def _matrix_norm_jvp(x, z, d_x, ord, axes):
    xm = np.moveaxis(x, axes, (-2, -1))
    dm = np.moveaxis(d_x, axes, (-2, -1))
    if ord is None or ord == "fro":
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sum(xm * dm, axis=(-2, -1)) / z
    if ord in ("nuc", 2, -2):
        u, _, vh = np.linalg.svd(xm, full_matrices=False)
        # d sigma_i = u_i^T dX v_i
        d_sigma = np.einsum("...ji,...jk,...ik->...i", u.conj(), dm, vh).real
        if ord == "nuc":
            return np.sum(d_sigma, axis=-1)
        return d_sigma[..., 0] if ord == 2 else d_sigma[..., -1]
    if ord in (1, -1, np.inf, -np.inf):
        summed = -2 if ord in (1, -1) else -1  # column sums for 1, row sums for inf
        sums = np.sum(np.abs(xm), axis=summed)
        d_sums = np.sum(np.sign(xm) * dm, axis=summed)
        return max_jvp(sums, z, d_sums, axis=-1)
    raise _no_rule(f"numpy.linalg.norm has no derivative rule for ord={ord!r} on matrices")


def _no_rule(message):
    from .errors import NoDerivativeRule
    return NoDerivativeRule(message, hint="use ord None/'fro'/'nuc'/+-1/+-2/+-inf for "
                                          "matrices, any number for vectors")


def clip_jvp(a, a_min, a_max, d_a, d_min=0.0, d_max=0.0):
    """Tangent of clip: the argument's tangent inside the bounds, a bound's outside."""
    below = (a < a_min) if a_min is not None else False
    above = (a > a_max) if a_max is not None else False
    inside = np.logical_not(np.logical_or(below, above))
    return np.where(inside, d_a, 0.0) + np.where(below, d_min, 0.0) + np.where(above, d_max, 0.0)


def sinc_derivative(x):
    """d/dx of numpy.sinc (normalized), with its limit 0 at x = 0."""
    x = np.asarray(x, dtype=float)
    px = np.pi * x
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (np.cos(px) * px - np.sin(px)) / (px * x)
    return np.where(x == 0, 0.0, out)


def digamma(x):
    """The digamma function for real x (recurrence, then the asymptotic series)."""
    x = float(x)
    if x <= 0 and x == math.floor(x):
        return math.nan
    result = 0.0
    if x < 0.5:  # reflection
        return digamma(1.0 - x) - math.pi / math.tan(math.pi * x)
    while x < 6.0:
        result -= 1.0 / x
        x += 1.0
    inv = 1.0 / x
    inv2 = inv * inv
    series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 / 132))))
    return result + math.log(x) - 0.5 * inv - series


def pow_dx(x, y):
    """d(x ** y)/dx = y * x ** (y - 1), and exactly 0 where y == 0."""
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        with np.errstate(divide="ignore", invalid="ignore"):
            out = y * np.power(x, y - 1)
        return np.where(np.asarray(y) == 0, 0.0, out)
    if y == 0:
        return 0.0
    return y * x ** (y - 1)


def pow_dy(x, z):
    """d(x ** y)/dy = x ** y * log(x), and exactly 0 where x == 0."""
    if isinstance(x, np.ndarray) or isinstance(z, np.ndarray):
        with np.errstate(divide="ignore", invalid="ignore"):
            out = z * np.log(x)
        return np.where(np.asarray(x) == 0, 0.0, out)
    if x == 0:
        return 0.0
    return z * math.log(x) if x > 0 else z * np.log(x)


def _select(values, tangents, largest):
    if len(values) == 1:  # max(iterable)
        seq = list(values[0])
        d_seq = list(tangents[0]) if not isinstance(tangents[0], float) else [0.0] * len(seq)
        values, tangents = seq, d_seq
    best = 0
    for k in range(1, len(values)):
        if (values[k] > values[best]) if largest else (values[k] < values[best]):
            best = k
    return tangents[best]


def select_max(values, tangents):
    """Tangent of builtin max(...): that of the first largest argument."""
    return _select(values, tangents, True)


def select_min(values, tangents):
    """Tangent of builtin min(...): that of the first smallest argument."""
    return _select(values, tangents, False)


def sort_jvp(a, d_a, axis=-1):
    """Tangent of numpy.sort: the tangents permuted like the values."""
    a = np.asarray(a)
    d_a = np.broadcast_to(d_a, a.shape)
    if axis is None:
        order = np.argsort(a, axis=None, kind="stable")
        return d_a.reshape(-1)[order]
    return np.take_along_axis(d_a, np.argsort(a, axis=axis, kind="stable"), axis=axis)


# ------------------------------------------------------------------ vector mode
# In a batched JVP every tangent has a leading axis of K directions.

def batch_size(*tangents):
    """K, read off the first tangent argument."""
    for t in tangents:
        if np.ndim(t) > 0:
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


def inplace_add(d, v, x):
    return _inplace(d, v, x, np.add)


def inplace_sub(d, v, x):
    return _inplace(d, v, x, np.subtract)


def inplace_mul(d, v, x):
    return _inplace(d, v, x, np.multiply)


def inplace_div(d, v, x):
    return _inplace(d, v, x, np.true_divide)


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


def inplace_batched_add(d, v, x):
    """``d_x += d_e`` (both with K directions)."""
    return _inplace_both(d, v, x, np.add)


def inplace_batched_sub(d, v, x):
    """``d_x -= d_e`` (both with K directions)."""
    return _inplace_both(d, v, x, np.subtract)


def inplace_batched_mul(d, a, x):
    """``d_x *= a`` for K-direction ``d_x`` and a value ``a``."""
    return _inplace(_lift_rank(d, np.ndim(a)), a, x, np.multiply)


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


def matmul_left(d_a, b):
    """K directions of ``d_a @ b``."""
    d_a, b = np.asarray(d_a), np.asarray(b)
    if d_a.ndim == 2 and b.ndim > 2:  # (K, n) would be read as one matrix
        return np.stack([d @ b for d in d_a])
    if d_a.ndim >= 3 and b.ndim == 2:  # all K directions in one matrix product
        return (d_a.reshape(-1, d_a.shape[-1]) @ b).reshape(d_a.shape[:-1] + b.shape[1:])
    return d_a @ b


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


# Buffer reuse (transform/reuse.py): the first argument is a temporary that
# nobody else holds, so its memory may take the result.  Below this many
# elements a fresh array is cheaper than the checks.
REUSE_MIN_SIZE = 4096


def _can_hold(buffer, other):
    """``buffer`` is a writable array of the result's shape and dtype (checked
    in plain Python for the usual operands: numpy's own checks cost more than
    the allocation saved)."""
    if type(buffer) is not np.ndarray or buffer.size < REUSE_MIN_SIZE \
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


def reuse_add(a, b):
    """``a + b``, in ``a``'s memory when it can hold the result."""
    return np.add(a, b, out=a) if _can_hold(a, b) else a + b


def reuse_sub(a, b):
    """``a - b``, in ``a``'s memory when it can hold the result."""
    return np.subtract(a, b, out=a) if _can_hold(a, b) else a - b


def reuse_mul(a, b):
    """``a * b``, in ``a``'s memory when it can hold the result."""
    return np.multiply(a, b, out=a) if _can_hold(a, b) else a * b


def reuse_div(a, b):
    """``a / b``, in ``a``'s memory when it can hold the result."""
    return np.true_divide(a, b, out=a) if _can_hold(a, b) else a / b


_BITS = {np.dtype(np.float64): np.uint64, np.dtype(np.float32): np.uint32}


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


def custom_batched(rule, primals, tangents):
    """A custom_jvp rule evaluated for K directions: (value, stacked tangents)."""
    k = batch_size(*tangents)
    value, outs = None, []
    for i in range(k):
        value, out = rule(primals, tuple(t[i] for t in tangents))
        outs.append(out)
    return value, _stack_like(outs, value)


def _shift_axis(axis, ndim):
    """An axis of the value, as an axis of its K-direction tangent."""
    if axis is None:
        return tuple(range(1, ndim + 1))
    if isinstance(axis, (tuple, list)):
        return tuple(_shift_axis(a, ndim)[0] if not isinstance(a, tuple) else a for a in axis)
    return (axis + 1 if axis >= 0 else axis,)


def breduce(fn, d, axis=None, keepdims=False):
    """A linear reduction (numpy.sum, numpy.mean) of K-direction tangents."""
    d = np.asarray(d)
    return fn(d, axis=_shift_axis(axis, d.ndim - 1), keepdims=keepdims)


def bmax_jvp(a, z, d, axis=None, keepdims=False):
    """max_jvp for K-direction tangents: the tie mask is computed once."""
    a = np.asarray(a)
    mask = a == _expand(z, a, axis, keepdims)
    count = np.sum(mask, axis=axis, keepdims=keepdims)
    axes = _shift_axis(axis, a.ndim)
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


# ------------------------------------------------------------------ linear algebra

def _lower_symmetric(d):
    """The symmetric matrix a routine reading only the lower triangle sees."""
    d = np.asarray(d)
    return np.tril(d) + np.swapaxes(np.tril(d, -1), -1, -2)


def cholesky_jvp(L, d_a):
    """dL = L Phi(L^-1 dA L^-T), Phi: the lower triangle with half its diagonal."""
    L = np.asarray(L)
    d_a = _lower_symmetric(d_a)  # numpy.linalg.cholesky reads only the lower triangle
    inner = np.linalg.solve(L, np.swapaxes(np.linalg.solve(L, d_a), -1, -2))
    phi = np.tril(inner, -1) + 0.5 * np.eye(L.shape[-1]) * inner
    return L @ phi


def eigvalsh_jvp(a, d_a):
    """d(lambda_i) = v_i^T dA v_i (distinct eigenvalues of a symmetric matrix)."""
    _, v = np.linalg.eigh(a)
    sym = _lower_symmetric(d_a)  # eigvalsh reads only the lower triangle (UPLO='L')
    return np.einsum("...ji,...jk,...ki->...i", v, sym, v)


def pinv_jvp(a, z, d_a):
    """Tangent of the Moore-Penrose pseudo-inverse (constant rank)."""
    zt = np.swapaxes(z, -1, -2)
    d_at = np.swapaxes(d_a, -1, -2)
    m, n = np.shape(a)[-2:]
    eye_n, eye_m = np.eye(n), np.eye(m)
    return (-z @ d_a @ z + z @ zt @ d_at @ (eye_m - a @ z)
            + (eye_n - z @ a) @ d_at @ zt @ z)


def polyval_jvp(p, x, d_p, d_x):
    """Tangent of numpy.polyval in the coefficients and in x."""
    p = np.asarray(p)
    out = 0.0
    if not (isinstance(d_x, float) and d_x == 0.0):
        out = out + np.polyval(np.polyder(p), x) * d_x if p.size > 1 else out
    if not (isinstance(d_p, float) and d_p == 0.0):
        out = out + np.polyval(d_p, x)
    return out


def interp_jvp(x, xp, fp, d_x, d_fp):
    """Tangent of numpy.interp in x (the local slope) and in fp (linear)."""
    x, xp, fp = np.asarray(x, dtype=float), np.asarray(xp, dtype=float), np.asarray(fp)
    out = 0.0
    if not (isinstance(d_x, float) and d_x == 0.0):
        i = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, len(xp) - 2)
        slope = (fp[i + 1] - fp[i]) / (xp[i + 1] - xp[i])
        inside = (x >= xp[0]) & (x <= xp[-1])
        out = out + np.where(inside, slope, 0.0) * d_x
    if not (isinstance(d_fp, float) and d_fp == 0.0):
        out = out + np.interp(x, xp, d_fp)
    return out


def ufunc_at_batched(ufunc, d_a, index, d_b):
    """``ufunc.at(d_a, index, d_b)`` (np.add / np.subtract) for K directions."""
    d_b = np.asarray(d_b)
    for k in range(d_a.shape[0]):
        ufunc.at(d_a[k], index, d_b[k] if d_b.ndim else d_b)


# ---------------------------------------------------------------- checking mode

def _check_failed(message, site):
    from .errors import TangentCheckFailed  # only on failure: keep _rt's imports light
    raise TangentCheckFailed(message, **(site or {}),
                             hint="a custom_jvp rule returning the wrong shape, or a bug in "
                                  "fwdcompile: please report it with the function's source")


def _tangent_problem(d, x, k):
    """Why ``d`` is not a tangent of ``x`` (K directions when ``k`` is not None), or None."""
    if isinstance(x, (type({}.keys()), type({}.values()), type({}.items()))):
        x, d = list(x), list(d) if hasattr(d, "__iter__") else d
    if isinstance(x, (list, tuple)):
        if not isinstance(d, (list, tuple)) or len(d) != len(x):
            if k is not None and isinstance(x, tuple) and np.ndim(d) >= 1:
                return None  # a batched tuple may be stacked; its leaves are checked at use
            return f"a tangent of type {type(d).__name__} for a {type(x).__name__} of {len(x)}"
        for di, xi in zip(d, x):
            problem = _tangent_problem(di, xi, k)
            if problem:
                return problem
        return None
    if isinstance(x, dict):
        if not isinstance(d, dict) or set(d) != set(x):
            return f"a tangent of type {type(d).__name__} for a dict with keys {sorted(x)}"
        for key in x:
            problem = _tangent_problem(d[key], x[key], k)
            if problem:
                return problem
        return None
    if not isinstance(x, (numbers.Number, np.ndarray, np.generic)):
        return None  # iterators and the user's own objects: their leaves are checked at use
    try:
        dtype = np.result_type(d)
    except TypeError:
        return f"a tangent of type {type(d).__name__}"
    if not np.issubdtype(dtype, np.inexact):
        return f"a tangent of dtype {dtype} (tangents are floating point)"
    shape = np.shape(x) if k is None else (k,) + np.shape(x)
    if np.shape(d) != shape:
        return f"a tangent of shape {np.shape(d)} where the value's shape asks for {shape}"
    return None


def check_tangent(d, x, k, name, site):
    """Checking mode: ``d`` is a tangent of ``x`` (shape, dtype), else a located error."""
    problem = _tangent_problem(d, x, k)
    if problem:
        _check_failed(f"checking mode: `{name}` got {problem}", site)


def check_return(value, tangent, k, site):
    """Checking mode: the returned tangent matches the returned value."""
    problem = _tangent_problem(tangent, value, k) if tangent is not None else None
    if problem:
        _check_failed(f"checking mode: the returned value got {problem}", site)
    return value, tangent
