"""Tangent rules written as a few lines of numpy instead of one template.

Contract: reductions with ties (``max_jvp``), products with zeros
(``prod_jvp``, ``cumprod_jvp``), ``var``/``std``, norms of every order,
``clip``, ``sort``, builtin ``max``/``min`` (``select_*``), ``x ** y``
(``pow_dx``, ``pow_dy``), linear algebra and a few special functions.  Each
takes primal values and tangents (one direction) and returns the tangent of
the result; the rule tables (rules/) emit the calls.  Helpers marked
:func:`.lowered.lowered_natively` have an IR twin in the native backend.
"""

from __future__ import annotations

import math

import numpy as np

from .lowered import ARRAYS, SCALARS, lowered_natively


def _expand(z, a, axis, keepdims):
    if axis is None or keepdims:
        return z
    return np.expand_dims(z, axis)




@lowered_natively(ARRAYS)  # reductions.py: extremum_tangent and the axis reduction
def max_jvp(a, z, d_a, axis=None, keepdims=False):
    """Tangent of max/min reductions: the mean of the tangents at the extremal
    entries, so ties split the derivative evenly (as JAX does)."""
    mask, count = ties(a, z, axis, keepdims)
    return np.sum(np.where(mask, d_a, 0.0), axis=axis, keepdims=keepdims) / count


def ties(a, z, axis, keepdims):
    """Where ``a`` equals its reduction ``z`` (a max or a min along ``axis``),
    and how many entries tie for each result."""
    a = np.asarray(a)
    mask = a == _expand(z, a, axis, keepdims)
    return mask, np.sum(mask, axis=axis, keepdims=keepdims)


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


@lowered_natively(ARRAYS)  # elementwise.py: scan (not batched)
def cumprod_jvp(a, z, d_a, axis=None, batched=False):
    """Tangent of cumprod by the product rule along the axis (no division);
    ``batched``: K directions on a leading axis of ``d_a``, the same sums."""
    a = np.asarray(a, dtype=np.result_type(a, np.float64))
    lead = np.shape(d_a)[:1] if batched else ()
    d_a = np.broadcast_to(d_a, lead + a.shape)
    if axis is None:
        a, d_a, axis = a.reshape(-1), d_a.reshape(lead + (-1,)), 0
    d_axis = axis + len(lead) if axis >= 0 else axis
    a_m = np.moveaxis(a, axis, -1)
    d_m = np.moveaxis(d_a, d_axis, -1)
    out = np.empty(lead + a_m.shape, dtype=a_m.dtype)
    acc_val = np.ones(a_m.shape[:-1], dtype=a_m.dtype)
    acc_tan = np.zeros(lead + a_m.shape[:-1], dtype=a_m.dtype)
    for k in range(a_m.shape[-1]):
        acc_tan = acc_tan * a_m[..., k] + acc_val * d_m[..., k]
        acc_val = acc_val * a_m[..., k]
        out[..., k] = acc_tan
    return np.moveaxis(out, -1, d_axis)


def _reduced_count(a, axis):
    """How many entries each result of a reduction over ``axis`` combines."""
    if axis is None:
        return a.size
    return int(np.prod([a.shape[i] for i in np.atleast_1d(axis)]))


@lowered_natively(ARRAYS)  # reductions.py: moment (ddof=0)
def var_jvp(a, d_a, axis=None, ddof=0, keepdims=False):
    """Tangent of var: 2 / (N - ddof) * sum((a - mean(a)) * d_a)."""
    a = np.asarray(a)
    centered = a - np.mean(a, axis=axis, keepdims=True)
    d_centered = d_a - np.mean(np.broadcast_to(d_a, a.shape), axis=axis, keepdims=True)
    n = _reduced_count(a, axis)
    return 2.0 * np.sum(centered * d_centered, axis=axis, keepdims=keepdims) / (n - ddof)


@lowered_natively(ARRAYS)  # reductions.py: moment (ddof=0)
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


@lowered_natively(ARRAYS)  # reductions.py: sum(x * d_x) / z, the 2-norm only
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
    from ..errors import NoDerivativeRule
    return NoDerivativeRule(message, hint="use ord None/'fro'/'nuc'/+-1/+-2/+-inf for "
                                          "matrices, any number for vectors")


@lowered_natively(ARRAYS)  # elementwise.py: clip, the same selects and sums
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


def pow_dx_number(x, y):
    """pow_dx of numbers; also what the native backend lowers (one expression)."""
    return 0.0 if y == 0 else y * x ** (y - 1)


@lowered_natively(SCALARS, number=pow_dx_number)
def pow_dx(x, y):
    """d(x ** y)/dx = y * x ** (y - 1), and exactly 0 where y == 0."""
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        with np.errstate(divide="ignore", invalid="ignore"):
            out = y * np.power(x, y - 1)
        return np.where(np.asarray(y) == 0, 0.0, out)
    return pow_dx_number(x, y)


def pow_dy_number(x, z):
    """pow_dy of numbers (z = x ** y); also what the native backend lowers.
    ``np.log`` of a negative number is NaN where ``math.log`` would raise."""
    return 0.0 if x == 0 else (z * math.log(x) if x > 0 else z * np.log(x))


@lowered_natively(SCALARS, number=pow_dy_number)
def pow_dy(x, z):
    """d(x ** y)/dy = x ** y * log(x), and exactly 0 where x == 0."""
    if isinstance(x, np.ndarray) or isinstance(z, np.ndarray):
        with np.errstate(divide="ignore", invalid="ignore"):
            out = z * np.log(x)
        return np.where(np.asarray(x) == 0, 0.0, out)
    return pow_dy_number(x, z)


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


def sort_jvp(a, d_a, axis=-1, batched=False):
    """Tangent of numpy.sort: the tangents permuted like the values
    (``batched``: K directions on a leading axis of ``d_a``, one argsort)."""
    a = np.asarray(a)
    if batched:
        d_a = np.asarray(d_a)
        if axis is None:
            return d_a.reshape(d_a.shape[0], -1)[:, np.argsort(a, axis=None, kind="stable")]
        order = np.argsort(a, axis=axis, kind="stable")[None]
        return np.take_along_axis(d_a, order, axis=axis + 1 if axis >= 0 else axis)
    d_a = np.broadcast_to(d_a, a.shape)
    if axis is None:
        order = np.argsort(a, axis=None, kind="stable")
        return d_a.reshape(-1)[order]
    return np.take_along_axis(d_a, np.argsort(a, axis=axis, kind="stable"), axis=axis)


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


def eigvalsh_jvp(a, d_a, UPLO="L"):
    """d(lambda_i) = v_i^T dA v_i (distinct eigenvalues of a symmetric matrix)."""
    _, v = np.linalg.eigh(a, UPLO=UPLO)
    sym = _triangle_symmetric(d_a, UPLO)  # eigvalsh reads only the triangle UPLO
    return np.einsum("...ji,...jk,...ki->...i", v, sym, v)


def _upper_symmetric(d):
    """The symmetric matrix a routine reading only the upper triangle sees."""
    d = np.asarray(d)
    return np.triu(d) + np.swapaxes(np.triu(d, 1), -1, -2)


def _triangle_symmetric(d, UPLO):
    return _upper_symmetric(d) if str(UPLO).upper() == "U" else _lower_symmetric(d)


def eigh_jvp(z, d_a, UPLO="L"):
    """Tangent of numpy.linalg.eigh (distinct eigenvalues): with S the
    symmetric matrix eigh reads from dA's triangle UPLO, d(lambda_i) =
    v_i^T S v_i and dV = V (F o (V^T S V)), F_ij = 1 / (lambda_j - lambda_i)
    off the diagonal and 0 on it (unit eigenvectors: v_i^T dv_i = 0)."""
    w, v = z
    inner = np.swapaxes(v, -1, -2) @ _triangle_symmetric(d_a, UPLO) @ v
    n = w.shape[-1]
    eye = np.eye(n, dtype=bool)
    gap = w[..., None, :] - w[..., :, None]  # gap[i, j] = lambda_j - lambda_i
    f = np.where(eye, 0.0, 1.0 / np.where(eye, 1.0, gap))
    return np.diagonal(inner, axis1=-2, axis2=-1), v @ (f * inner)


def matrix_power_jvp(a, n, d_a):
    """Tangent of numpy.linalg.matrix_power: sum_k A^k dA A^(n-1-k), through
    the inverse (d inv = -inv dA inv) for negative n."""
    a = np.asarray(a)
    d_a = np.broadcast_to(d_a, a.shape)
    n = int(n)
    if n == 0:
        return np.zeros(a.shape, dtype=np.result_type(a, d_a))
    if n < 0:
        a = np.linalg.inv(a)
        d_a = -a @ d_a @ a
        n = -n
    powers = [np.broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), a.shape)]
    for _ in range(n - 1):
        powers.append(powers[-1] @ a)
    return sum(powers[k] @ d_a @ powers[n - 1 - k] for k in range(n))


def partition_jvp(a, z, d_a, axis=-1):
    """Tangent of numpy.partition: each result entry takes the tangent of the
    entry it came from (equal values in turn, as numpy.sort's rule does)."""
    a = np.asarray(a)
    d_a = np.broadcast_to(d_a, a.shape)
    if axis is None:
        a, d_a, axis = a.reshape(-1), d_a.reshape(-1), -1
    am, zm, dm = (np.moveaxis(np.asarray(t), axis, -1) for t in (a, z, d_a))
    n = am.shape[-1]
    earlier = np.tril(np.ones((n, n), dtype=bool), -1)  # earlier[j, i]: i < j
    rank = np.sum(am[..., None, :] < zm[..., :, None], axis=-1) \
        + np.sum((zm[..., None, :] == zm[..., :, None]) & earlier, axis=-1)
    source = np.take_along_axis(np.argsort(am, axis=-1, kind="stable"), rank, axis=-1)
    return np.moveaxis(np.take_along_axis(dm, source, axis=-1), -1, axis)


_PAD_LINEAR = ("constant", "edge", "wrap", "reflect", "symmetric", "mean", "linear_ramp")


def pad_jvp(array, d_array, pad_width, mode="constant", d_constant_values=0.0,
            d_end_values=0.0, reflect_type="even", stat_length=None):
    """Tangent of numpy.pad for the modes that are linear in the array (and in
    constant_values / end_values): the same padding of the tangents."""
    d_array = np.broadcast_to(d_array, np.shape(array))
    if not isinstance(mode, str) or mode not in _PAD_LINEAR:
        from ..errors import NoDerivativeRule
        raise NoDerivativeRule(f"numpy.pad has no derivative rule for mode={mode!r}",
                               hint="modes " + ", ".join(map(repr, _PAD_LINEAR))
                                    + " are differentiable")
    if mode == "constant":
        return np.pad(d_array, pad_width, mode, constant_values=d_constant_values)
    if mode == "linear_ramp":
        return np.pad(d_array, pad_width, mode, end_values=d_end_values)
    if mode in ("reflect", "symmetric"):
        return np.pad(d_array, pad_width, mode, reflect_type=reflect_type)
    if mode == "mean":
        return np.pad(d_array, pad_width, mode, stat_length=stat_length)
    return np.pad(d_array, pad_width, mode)


def angle_jvp(x, d_x, deg=False):
    """Tangent of numpy.angle: Im(conj(x) dx) / |x|^2; 0 for real x (where
    the angle is 0 or pi, piecewise constant)."""
    x = np.asarray(x)
    if not np.iscomplexobj(x):
        return np.zeros(np.broadcast(x, d_x).shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.imag(np.conj(x) * d_x) / np.abs(x) ** 2
    return out * (180.0 / np.pi) if deg else out


def nan_to_num_jvp(x, d_x, copy=True):
    """Tangent of numpy.nan_to_num: ``d_x`` where ``x`` is finite, 0 where it
    was replaced by a constant.  ``copy=False`` writes the result into ``x``,
    whose own tangent would then be stale where values were replaced: an
    error rather than a silently wrong derivative."""
    if not copy:
        from ..errors import NoDerivativeRule
        raise NoDerivativeRule(
            "numpy.nan_to_num(..., copy=False) of a differentiated value writes into its "
            "argument, which fwdcompile does not differentiate",
            hint="use the default copy=True and assign the result: x = np.nan_to_num(x)")
    return np.where(np.isfinite(x), d_x, 0.0)


def _no_linalg_rule(message, hint):
    from ..errors import NoDerivativeRule
    return NoDerivativeRule(message, hint=hint)


def _t(m):
    return np.swapaxes(m, -1, -2)


def svd_jvp(a, z, d_a, full_matrices=True, compute_uv=True, hermitian=False):
    """Tangent of numpy.linalg.svd (distinct nonzero singular values; of a
    rectangular matrix's full_matrices=True factors, the columns of U / rows
    of V^T past min(M, N) are not unique and get NaN tangents): with
    dP = U^T dA V and F_ij = 1 / (s_j^2 - s_i^2) off the diagonal, ds = diag(dP),
    dU = U (F o (dP S + S dP^T)) + (I - U U^T) dA V S^-1 and
    dV = V (F o (S dP + dP^T S)) + (I - V V^T) dA^T U S^-1."""
    a = np.asarray(a)
    d_a = np.broadcast_to(d_a, a.shape)
    if hermitian:
        raise _no_linalg_rule("numpy.linalg.svd(..., hermitian=True) has no derivative rule",
                              "use hermitian=False, or numpy.linalg.eigh")
    m, n = a.shape[-2:]
    if not compute_uv:
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        return np.einsum("...ik,...ij,...kj->...k", u, d_a, vh)  # u_k^T dA v_k
    u, s, vh = z
    k = s.shape[-1]
    if full_matrices and m != n:
        # the first min(M, N) singular vectors as below; the others are not
        # unique (any orthonormal basis of the complement): NaN tangents
        du, ds, dvh = svd_jvp(a, (u[..., :k], s, vh[..., :k, :]), d_a, False)
        nan = np.full(a.shape[:-2] + ((m, m - k) if m > k else (n - k, n)), np.nan)
        return ((np.concatenate([du, nan], axis=-1), ds, dvh) if m > k
                else (du, ds, np.concatenate([dvh, nan], axis=-2)))
    v = _t(vh)
    dp = _t(u) @ d_a @ v
    ds = np.diagonal(dp, axis1=-2, axis2=-1)
    eye = np.eye(k, dtype=bool)
    s2 = s ** 2
    gap = s2[..., None, :] - s2[..., :, None]  # gap[i, j] = s_j^2 - s_i^2
    f = np.where(eye, 0.0, 1.0 / np.where(eye, 1.0, gap))
    sm = s[..., None, :]  # right-multiplying by S scales columns
    sl = s[..., :, None]  # left-multiplying by S scales rows
    du = u @ (f * (dp * sm + sl * _t(dp)))
    dv = v @ (f * (sl * dp + _t(dp) * sm))
    if m > k:
        du = du + (d_a @ v - u @ (_t(u) @ d_a @ v)) / sm
    if n > k:
        dat_u = _t(d_a) @ u
        dv = dv + (dat_u - v @ (_t(v) @ dat_u)) / sm
    return du, ds, _t(dv)


def qr_jvp(a, z, d_a, mode="reduced"):
    """Tangent of numpy.linalg.qr (full column rank, M >= N; mode 'complete'
    only for square matrices): with X = Q^T dA R^-1 and Omega = L - L^T, L the
    strict lower triangle of X, dQ = Q Omega + (I - Q Q^T) dA R^-1 and
    dR = (X - Omega) R."""
    a = np.asarray(a)
    d_a = np.broadcast_to(d_a, a.shape)
    m, n = a.shape[-2:]
    if mode not in ("reduced", "complete", "r") or m < n or (mode == "complete" and m != n):
        raise _no_linalg_rule(f"numpy.linalg.qr(mode={mode!r}) of a {m}x{n} matrix has no "
                              "derivative rule", "use mode 'reduced' or 'r' with M >= N")
    q, r = (np.linalg.qr(a), z) if mode == "r" else z
    if mode == "r":
        q = q[0]
    dar = _t(np.linalg.solve(_t(r), _t(d_a)))  # dA R^-1
    x = _t(q) @ dar
    low = np.tril(x, -1)
    omega = low - _t(low)
    dr = (x - omega) @ r
    if mode == "r":
        return dr
    dq = q @ omega + dar - q @ (_t(q) @ dar)
    return dq, dr


def lstsq_jvp(a, b, z, d_a, d_b):
    """Tangent of numpy.linalg.lstsq for a matrix of full rank: the solution
    pinv(A) b, the residuals |b - A x|^2 (d: 2 sum(r * (db - dA x)), as
    A^T r = 0), no tangent for the rank, and the singular values'."""
    x, residuals, rank, s = z
    a = np.asarray(a)
    m, n = a.shape[-2:]
    if rank != min(m, n):
        raise _no_linalg_rule("numpy.linalg.lstsq of a rank-deficient matrix has no "
                              "derivative rule", "drop the dependent columns, or use "
                              "numpy.linalg.pinv(a) @ b")
    d_a = np.broadcast_to(d_a, a.shape)
    d_b = np.broadcast_to(d_b, np.shape(b))
    p = np.linalg.pinv(a)
    dx = pinv_jvp(a, p, d_a) @ b + p @ d_b
    r = b - a @ x
    d_res = 2.0 * np.sum(r * (d_b - d_a @ x), axis=0)
    d_res = np.reshape(d_res, (-1,))[:np.size(residuals)] if np.size(residuals) \
        else np.zeros(np.shape(residuals))
    return dx, d_res, 0, svd_jvp(a, None, d_a, compute_uv=False)


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
