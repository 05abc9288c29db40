"""Tangent helpers for the scipy rules (rules/scipy_fns.py).

Generated code reaches them as ``_rt.scipy_rules.<name>``; this module is
imported on first use only (``runtime/__init__.py``'s ``__getattr__``), so
importing fwdcompile never imports scipy.  Each helper takes primal values
and one direction's tangents and returns the tangent of the result; a
tangent that is statically zero arrives as the number ``0.0``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as _la
from scipy.special import digamma, polygamma

from .batched import _lift_rank, _shift_axis
from .rules import _lower_symmetric, _upper_symmetric

__all__ = ["digamma", "polygamma", "xlogy_dy", "xlog1py_dy", "logsumexp_jvp", "softmax_jvp",
           "log_softmax_jvp", "cholesky_jvp", "cho_factor_jvp", "cho_solve_jvp",
           "solve_triangular_jvp", "solve_jvp", "lu_factor_jvp", "lu_solve_jvp", "expm_jvp",
           "logm_jvp", "norm_logpdf_jvp", "norm_cdf_jvp"]


def _no_rule(message, hint):
    from ..errors import NoDerivativeRule
    return NoDerivativeRule(message, hint=hint)


def _zero(tangent):
    """A tangent the rule passed as the constant 0.0 (the argument carries none)."""
    return tangent is None or (isinstance(tangent, float) and tangent == 0.0)


def _t(m):
    return np.swapaxes(m, -1, -2)


def _no_overwrite(name, *flags):
    if any(flags):
        raise _no_rule(f"scipy.linalg.{name}(..., overwrite_*=True) of a differentiated value "
                       "may destroy an argument the tangent still needs",
                       "drop overwrite_a / overwrite_b (the default False)")


# ------------------------------------------------------------------ scipy.special

def xlogy_dy(x, y):
    """d xlogy(x, y) / dy = x / y, and exactly 0 where x == 0 (xlogy(0, y) is 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.asarray(x) == 0, 0.0, x / y)


def xlog1py_dy(x, y):
    """d xlog1py(x, y) / dy = x / (1 + y), and exactly 0 where x == 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.asarray(x) == 0, 0.0, x / (1 + y))


def _keep(z, ndim, axis, keepdims):
    """A reduction's result with its reduced axes kept (length 1)."""
    if keepdims:
        return z
    if axis is None:
        return np.reshape(z, (1,) * ndim)
    axes = tuple(a % ndim for a in ((axis,) if np.ndim(axis) == 0 else axis))
    return np.expand_dims(z, axes)


def logsumexp_jvp(a, z, d_a, axis=None, b=None, d_b=0.0, keepdims=False, return_sign=False,
                  batched=False):
    """Tangent of logsumexp(a, b=b): sum(exp(a - z) (b da + db)) over ``axis``
    (b = 1 when absent); ``batched``: the tangents carry K directions on a
    leading axis (the weights are computed once)."""
    if return_sign:
        raise _no_rule("scipy.special.logsumexp(..., return_sign=True) has no derivative rule",
                       "use return_sign=False (the default) where the weighted sum is positive")
    a = np.asarray(a)
    ndim = a.ndim if b is None else np.broadcast(a, b).ndim
    weights = np.exp(a - _keep(z, ndim, axis, keepdims))
    shape = weights.shape
    if batched:  # each tangent's value axes after K, aligned with the weights' last axes
        d_a, d_b = (d if _zero(d) else _lift_rank(d, ndim) for d in (d_a, d_b))
        shape = np.shape(d_b if _zero(d_a) else d_a)[:1] + shape
        axis = _shift_axis(axis, ndim)
    inner = d_a * weights if b is None else (b * d_a + d_b) * weights
    inner = np.broadcast_to(inner, shape)
    return np.sum(inner, axis=axis, keepdims=keepdims)


def softmax_jvp(z, d_x, axis=None):
    """Tangent of softmax: z (dx - sum(z dx)) over ``axis``."""
    return z * (d_x - np.sum(z * d_x, axis=axis, keepdims=True))


def log_softmax_jvp(z, d_x, axis=None):
    """Tangent of log_softmax: dx - sum(exp(z) dx) over ``axis``."""
    return d_x - np.sum(np.exp(z) * d_x, axis=axis, keepdims=True)


def norm_logpdf_jvp(x, loc, scale, d_x, d_loc, d_scale):
    """Tangent of scipy.stats.norm.logpdf(x, loc, scale), u = (x - loc) / scale:
    -u (dx - dloc) / scale + (u^2 - 1) dscale / scale."""
    u = (x - loc) / scale
    return (-u * (d_x - d_loc) + (u * u - 1) * d_scale) / scale


def norm_cdf_jvp(x, loc, scale, d_x, d_loc, d_scale):
    """Tangent of scipy.stats.norm.cdf(x, loc, scale): pdf(u) du,
    du = (dx - dloc - u dscale) / scale."""
    u = (x - loc) / scale
    pdf = 0.3989422804014327 * np.exp(-0.5 * u * u)
    return pdf * (d_x - d_loc - u * d_scale) / scale


# ------------------------------------------------------------------ scipy.linalg

def _triangle(d, lower):
    """The symmetric matrix a routine reading only one triangle of ``d`` sees."""
    return _lower_symmetric(d) if lower else _upper_symmetric(d)


def _real(name, *values):
    """The Cholesky rules are written for real symmetric matrices."""
    if any(np.iscomplexobj(v) for v in values):
        raise _no_rule(f"scipy.linalg.{name} of a complex (Hermitian) matrix has no "
                       "derivative rule", "use real matrices, or scipy.linalg.solve")


def cholesky_jvp(z, d_a, lower=False, overwrite_a=False):
    """Tangent of scipy.linalg.cholesky (upper factor unless ``lower``): with L
    the lower factor and S the symmetric matrix of the triangle LAPACK reads,
    dL = L Phi(L^-1 S L^-T), Phi: the lower triangle with half its diagonal."""
    _no_overwrite("cholesky", overwrite_a)
    _real("cholesky", z, d_a)
    low = np.asarray(z) if lower else _t(z)
    inner = np.linalg.solve(low, _t(np.linalg.solve(low, _triangle(d_a, lower))))
    phi = np.tril(inner, -1) + 0.5 * np.eye(low.shape[-1], dtype=inner.dtype) * inner
    d_low = low @ phi
    return d_low if lower else _t(d_low)


def cho_factor_jvp(z, d_a, lower=False, overwrite_a=False):
    """Tangent of scipy.linalg.cho_factor's (c, lower): the factor's tangent in
    the triangle it fills, the argument's own tangent in the other one
    (LAPACK leaves that triangle as it was); ``lower`` carries none."""
    c, _ = z
    d_factor = cholesky_jvp(np.tril(c) if lower else np.triu(c), d_a, lower, overwrite_a)
    rest = np.triu(d_a, 1) if lower else np.tril(d_a, -1)
    return d_factor + rest, None


def _pair_tangent(tangent):
    """The first tangent of a (factor, flag) pair, or None when it is zero."""
    if _zero(tangent):
        return None
    first = tangent[0] if isinstance(tangent, (tuple, list)) else tangent
    return None if _zero(first) else first


def cho_solve_jvp(c_and_lower, z, d_c_and_lower, d_b, overwrite_b=False):
    """Tangent of scipy.linalg.cho_solve((c, lower), b), x = (L L^T)^-1 b with
    L from c's triangle: A^-1 (db - (dL L^T + L dL^T) x)."""
    _no_overwrite("cho_solve", overwrite_b)
    c, lower = c_and_lower
    _real("cho_solve", c, d_b)
    rhs = 0.0 if _zero(d_b) else d_b
    d_c = _pair_tangent(d_c_and_lower)
    if d_c is not None:
        low = np.tril(c) if lower else _t(np.triu(c))
        d_low = np.tril(d_c) if lower else _t(np.triu(d_c))
        d_a = d_low @ _t(low) + low @ _t(d_low)
        rhs = rhs - d_a @ z
    return _la.cho_solve((c, lower), np.broadcast_to(rhs, np.shape(z)))


_TRANS = {0: 0, 1: 1, 2: 2, "N": 0, "T": 1, "C": 2}


def _op(m, trans):
    if trans == 0:
        return m
    return _t(np.conj(m)) if trans == 2 else _t(m)


def solve_triangular_jvp(a, b, z, d_a, d_b, trans=0, lower=False, unit_diagonal=False,
                         overwrite_b=False):
    """Tangent of scipy.linalg.solve_triangular: op(T) x = b with T the
    triangle of ``a`` it reads (not the diagonal when ``unit_diagonal``):
    dx = op(T)^-1 (db - op(dT) x)."""
    _no_overwrite("solve_triangular", overwrite_b)
    trans = _TRANS[trans]
    rhs = 0.0 if _zero(d_b) else d_b
    if not _zero(d_a):
        d_t = np.tril(d_a, -1 if unit_diagonal else 0) if lower \
            else np.triu(d_a, 1 if unit_diagonal else 0)
        rhs = rhs - _op(d_t, trans) @ z
    return _la.solve_triangular(a, np.broadcast_to(rhs, np.shape(z)), trans=trans, lower=lower,
                                unit_diagonal=unit_diagonal)


_GENERAL = (None, "gen", "general")
_SYMMETRIC = ("sym", "symmetric", "her", "hermitian", "pos", "positive definite")
_TRIANGULAR = {"upper triangular": np.triu, "lower triangular": np.tril}


def _solve_structure(d_a, assume_a, lower):
    """The part of ``d_a`` scipy.linalg.solve reads for ``assume_a``."""
    if assume_a in _GENERAL:
        return d_a
    if assume_a in _SYMMETRIC:
        if np.iscomplexobj(d_a):
            raise _no_rule(f"scipy.linalg.solve(..., assume_a={assume_a!r}) of a complex "
                           "matrix has no derivative rule", "use assume_a=None")
        return _triangle(d_a, lower)
    if assume_a in _TRIANGULAR:
        return _TRIANGULAR[assume_a](d_a)
    if assume_a == "diagonal":
        return np.eye(np.shape(d_a)[-1], dtype=np.asarray(d_a).dtype) * d_a
    raise _no_rule(f"scipy.linalg.solve(..., assume_a={assume_a!r}) has no derivative rule "
                   "for a differentiated matrix",
                   "use assume_a None, 'general', 'symmetric', 'positive definite', "
                   "'diagonal' or '(upper|lower) triangular'")


def solve_jvp(a, b, z, d_a, d_b, lower=False, overwrite_a=False, overwrite_b=False,
              assume_a=None, transposed=False):
    """Tangent of scipy.linalg.solve: op(A) x = b gives
    dx = op(A)^-1 (db - op(dA) x), with dA the part of the matrix read for
    ``assume_a``."""
    _no_overwrite("solve", overwrite_a, overwrite_b)
    rhs = 0.0 if _zero(d_b) else d_b
    if not _zero(d_a):
        d_m = _solve_structure(d_a, assume_a, lower)
        rhs = rhs - (_t(d_m) if transposed else d_m) @ z
    options = {} if assume_a is None else {"assume_a": assume_a}  # None: scipy >= 1.16
    return _la.solve(a, np.broadcast_to(rhs, np.shape(z)), lower=lower, transposed=transposed,
                     **options)


def _rows(piv):
    """The row order of an LU factorization: A[rows] = L U (LAPACK's ipiv)."""
    rows = np.arange(len(piv))
    for i, p in enumerate(piv):
        rows[[i, p]] = rows[[p, i]]
    return rows


def _lu_2d(name, lu):
    if np.ndim(lu) != 2:
        raise _no_rule(f"scipy.linalg.{name} of a stack of matrices has no derivative rule",
                       "factor each matrix in a loop, or use scipy.linalg.solve")


def lu_factor_jvp(z, d_a, overwrite_a=False):
    """Tangent of scipy.linalg.lu_factor's (lu, piv): with A[rows] = L U and
    X = L^-1 dA[rows] U^-1, dL = L strict_lower(X) and dU = upper(X) U, packed
    as lu is; the pivots carry none."""
    _no_overwrite("lu_factor", overwrite_a)
    lu, piv = z
    _lu_2d("lu_factor", lu)
    n = lu.shape[-1]
    low = np.tril(lu, -1) + np.eye(n, dtype=lu.dtype)
    up = np.triu(lu)
    x = _la.solve_triangular(low, np.asarray(d_a)[_rows(piv)], lower=True, unit_diagonal=True)
    x = _t(_la.solve_triangular(up, _t(x), trans=1))  # X = L^-1 dA[rows] U^-1
    return np.tril(low @ np.tril(x, -1), -1) + np.triu(np.triu(x) @ up), None


def lu_solve_jvp(lu_and_piv, z, d_lu_and_piv, d_b, trans=0, overwrite_b=False):
    """Tangent of scipy.linalg.lu_solve((lu, piv), b): the matrix A with
    A[rows] = L U has dA[rows] = dL U + L dU, and op(A) x = b gives
    dx = op(A)^-1 (db - op(dA) x)."""
    _no_overwrite("lu_solve", overwrite_b)
    lu, piv = lu_and_piv
    trans = _TRANS[trans]
    rhs = 0.0 if _zero(d_b) else d_b
    d_lu = _pair_tangent(d_lu_and_piv)
    if d_lu is not None:
        _lu_2d("lu_solve", lu)
        n = lu.shape[-1]
        low, up = np.tril(lu, -1) + np.eye(n, dtype=lu.dtype), np.triu(lu)
        d_a = np.empty_like(np.asarray(d_lu))
        d_a[_rows(piv)] = np.tril(d_lu, -1) @ up + low @ np.triu(d_lu)
        rhs = rhs - _op(d_a, trans) @ z
    return _la.lu_solve((lu, piv), np.broadcast_to(rhs, np.shape(z)), trans=trans)


def _frechet(function, a, d_a):
    """The Frechet derivative of a primary matrix function at ``a`` along
    ``d_a``: the top-right block of function([[A, dA], [0, A]])."""
    a = np.asarray(a)
    d_a = np.broadcast_to(d_a, a.shape)
    n = a.shape[-1]
    block = np.zeros(a.shape[:-2] + (2 * n, 2 * n), dtype=np.result_type(a, d_a))
    block[..., :n, :n] = a
    block[..., n:, n:] = a
    block[..., :n, n:] = d_a
    return function(block)[..., :n, n:]


def expm_jvp(a, d_a):
    """Tangent of scipy.linalg.expm (the block-matrix form of its Frechet derivative)."""
    return _frechet(_la.expm, a, d_a)


def logm_jvp(a, d_a):
    """Tangent of scipy.linalg.logm (principal logarithm; the block-matrix form)."""
    if np.ndim(a) != 2:
        raise _no_rule("scipy.linalg.logm of a stack of matrices has no derivative rule",
                       "take logm of each matrix in a loop")
    out = _frechet(_la.logm, a, d_a)
    if not np.iscomplexobj(a) and np.iscomplexobj(out):
        out = out.real if np.allclose(out.imag, 0.0) else out
    return out

