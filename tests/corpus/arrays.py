"""numpy code: elementwise math, reductions, linear algebra, indexing, small models."""

import numpy as np
import numpy as onp
from numpy import sin, cos, exp as nexp

from . import case
from .scalar import logistic


def _spread(rng, shape, gap=0.3, lo=-1.5):
    """Entries in random order whose pairwise gaps are at least ``gap``."""
    n = int(np.prod(shape))
    return (lo + gap * rng.permutation(n) + rng.uniform(0.0, 0.1 * gap, n)).reshape(shape)


def _away(rng, shape, lo=0.3, hi=1.5):
    """Entries of random sign with magnitude in [lo, hi] (away from zero)."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(lo, hi, shape)


def _wellcond(rng, n):
    return 3.0 * np.eye(n) + rng.uniform(-0.5, 0.5, (n, n))


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def logsumexp(z, axis=-1):
    m = np.max(z, axis=axis, keepdims=True)
    return m[..., 0] + np.log(np.sum(np.exp(z - m), axis=axis))


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def relu(z):
    return np.maximum(z, 0)


# --------------------------------------------------------------------------
# elementwise
# --------------------------------------------------------------------------

@case(lambda rng: (rng.uniform(-1.0, 1.0, 5),), complex_ok=True)
def elementwise_trig(x):
    return np.sin(x) * np.cos(x) + np.tan(0.5 * x)


@case(lambda rng: (rng.uniform(0.2, 2.0, 5),), complex_ok=True)
def elementwise_exp_log(x):
    return np.exp(x) + np.log(x) + np.log1p(x) + np.expm1(-x)


@case(lambda rng: (rng.uniform(0.2, 2.0, (2, 3)),), complex_ok=True)
def sqrt_tanh(x):
    return np.sqrt(x) * np.tanh(x) - np.sqrt(1.0 + x * x)


@case(lambda rng: (rng.uniform(-0.8, 0.8, 6),), complex_ok=True)
def inverse_trig_arrays(x):
    return np.arctan(x) + np.arcsin(x / 2) + np.arccos(x / 3)


@case(lambda rng: (rng.uniform(-1.0, 1.0, 4),), complex_ok=True)
def hyperbolic_arrays(x):
    return np.sinh(x) * np.cosh(x) - np.tanh(x) ** 2


@case(lambda rng: (rng.uniform(0.5, 2.0, 4), rng.uniform(-1.0, 1.0, 4)))
def arctan2_hypot_arrays(x, y):
    return np.arctan2(y, x) + np.hypot(x, y)


@case(lambda rng: (_away(rng, 6),))
def abs_sign(x):
    return np.abs(x) * np.sign(x) + np.abs(x) ** 1.5 + abs(x)


def _maxmin_args(rng):
    y = rng.uniform(-1.0, 1.0, 6)
    return (y + _away(rng, 6, 0.4, 1.0), y)


@case(_maxmin_args)
def maximum_minimum(x, y):
    return np.maximum(x, y) - np.minimum(y, x) * 2.0 + np.maximum(x, -5.0)


@case(lambda rng: (_away(rng, 7),))
def where_branches(x):
    return np.where(x > 0, x ** 2, -np.sin(x))


@case(lambda rng: (_spread(rng, 8, gap=0.35, lo=-1.35),))
def clip_constant_bounds(x):
    return np.clip(x, -0.5, 0.55) * x


@case(lambda rng: (_spread(rng, 8, gap=0.35, lo=-1.35), -0.5, 0.55))
def clip_active_bounds(x, lo, hi):
    return np.clip(x, lo, hi) ** 2


@case(lambda rng: (rng.uniform(0.5, 2.0, 5), rng.uniform(-1.0, 2.0, 5)), complex_ok=True)
def elementwise_power(x, y):
    return x ** y + x ** 2.5 + 2.0 ** x + np.power(x, 3)


@case(lambda rng: (rng.uniform(-1.0, 1.0, 5), float(rng.uniform(0.5, 2.0))), complex_ok=True)
def scalar_times_array(x, s):
    return s * x + x / s + s ** 2 - x * x * s


@case(lambda rng: (rng.uniform(-1.0, 1.0, 5),), complex_ok=True)
def from_numpy_import(x):
    return sin(x) * nexp(-x) + cos(2 * x)


@case(lambda rng: (rng.uniform(-1.0, 1.0, 5),), complex_ok=True)
def onp_alias(x):
    return onp.sum(onp.exp(x) * onp.cos(x)) + onp.square(x).sum()


@case(lambda rng: (rng.uniform(-3.0, 3.0, 6),))
def logistic_from_other_module(x):
    total = 0.0
    for xi in x:
        total += logistic(xi) * (1 - logistic(xi))
    return total


# --------------------------------------------------------------------------
# reductions
# --------------------------------------------------------------------------

@case(lambda rng: (rng.uniform(-1, 1, (3, 4)),), complex_ok=True)
def sum_mean_axes(A):
    return A.sum(axis=0), np.mean(A, axis=1), np.sum(A), A.mean(), np.sum(A, axis=(0, 1))


@case(lambda rng: (rng.uniform(-1, 1, (3, 4)),), complex_ok=True)
def sum_keepdims(A):
    return A - np.sum(A, axis=1, keepdims=True) / A.shape[1] + A.mean(axis=0, keepdims=True)


@case(lambda rng: (rng.uniform(0.5, 1.5, (3, 4)),), complex_ok=True)
def prod_reductions(A):
    return np.prod(A, axis=1), A.prod(), np.prod(A, axis=0, keepdims=True)


@case(lambda rng: (_spread(rng, (3, 4)),))
def max_min_reductions(A):
    return np.max(A, axis=1), A.min(axis=0), np.max(A), A.max(axis=0, keepdims=True)


@case(lambda rng: (_spread(rng, (3, 4)),))
def max_keepdims_shift(A):
    return A - A.max(axis=1, keepdims=True)


@case(lambda rng: (rng.uniform(-1, 1, (4, 5)),))
def var_std(A):
    return np.var(A, axis=0), A.std(), np.std(A, axis=1, ddof=1), A.var(axis=1, keepdims=True)


@case(lambda rng: (rng.uniform(-1, 1, 8),))
def standardize(x):
    return (x - x.mean()) / x.std()


@case(lambda rng: (rng.uniform(-1, 1, (3, 4)),), complex_ok=True)
def cumsum_diff(A):
    return np.cumsum(A, axis=0), np.diff(A, axis=1), np.cumsum(A), np.diff(A[0])


@case(lambda rng: (rng.uniform(0.5, 1.5, 6),), complex_ok=True)
def cumprod_vector(x):
    return np.cumprod(x) + x.cumsum()


# --------------------------------------------------------------------------
# products and linear algebra
# --------------------------------------------------------------------------

@case(lambda rng: (rng.uniform(-1, 1, (3, 4)), rng.uniform(-1, 1, 4)), complex_ok=True)
def matvec_forms(A, x):
    return A @ x, np.dot(A, x), np.matmul(A, x), A.dot(x)


@case(lambda rng: (rng.uniform(-1, 1, 4), rng.uniform(-1, 1, 4)), complex_ok=True)
def vector_products(x, y):
    return x @ y, np.dot(x, y), x.dot(y), np.outer(x, y)


@case(lambda rng: (rng.uniform(-1, 1, (3, 4)), rng.uniform(-1, 1, (4, 5)),
                   rng.uniform(-1, 1, (5, 2)), rng.uniform(-1, 1, 2)), complex_ok=True)
def matmul_chain(A, B, C, x):
    return A @ B @ C @ x


@case(lambda rng: (rng.uniform(-1, 1, (4, 4)), rng.uniform(-1, 1, 4)), complex_ok=True)
def quadratic_form(A, x):
    return x.T @ A @ x + x @ A.T @ x


@case(lambda rng: (rng.uniform(-1, 1, (2, 3, 4)), rng.uniform(-1, 1, (2, 4, 3))),
      complex_ok=True)
def batched_matmul(A, B):
    return np.matmul(A, B), A @ B


@case(lambda rng: (rng.uniform(-1, 1, (3, 4)), rng.uniform(-1, 1, (4, 2)),
                   rng.uniform(-1, 1, 4)), complex_ok=True)
def einsum_forms(A, B, x):
    return (np.einsum("ij,j->i", A, x), np.einsum("ij,jk->ik", A, B),
            np.einsum("ij,ij->", A, A), np.einsum("i,i", x, x))


@case(lambda rng: (rng.uniform(-1, 1, (2, 3, 4)), rng.uniform(-1, 1, (2, 4, 5))),
      complex_ok=True)
def einsum_batched(A, B):
    return np.einsum("bij,bjk->bik", A, B)


@case(lambda rng: (rng.uniform(-1, 1, (3, 4)), rng.uniform(-1, 1, (4, 2)),
                   rng.uniform(-1, 1, (3, 4))), complex_ok=True)
def tensordot_forms(A, B, C):
    return (np.tensordot(A, B, axes=1), np.tensordot(A, B, axes=([1], [0])),
            np.tensordot(A, C, axes=2))


@case(lambda rng: (_away(rng, 5), rng.uniform(-1, 1, (3, 4))))
def norms(x, A):
    return (np.linalg.norm(x), np.linalg.norm(A), np.linalg.norm(A, axis=1),
            np.linalg.norm(x, ord=1), np.linalg.norm(A, axis=0, keepdims=True))


@case(lambda rng: (rng.uniform(-1, 1, (4, 3)),))
def normalize_rows(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@case(lambda rng: (_wellcond(rng, 4), rng.uniform(-1, 1, 4)), complex_ok=True)
def linear_solve(A, b):
    return np.linalg.solve(A, b)


@case(lambda rng: (_wellcond(rng, 3), rng.uniform(-1, 1, (3, 2))), complex_ok=True)
def inverse_and_solve(A, B):
    Ainv = np.linalg.inv(A)
    return Ainv @ B + np.linalg.solve(A.T, B)


@case(lambda rng: (rng.uniform(-1, 1, (8, 3)), rng.uniform(-1, 1, 8), float(rng.uniform(0.1, 1))),
      complex_ok=True)
def ridge_regression(X, y, lam):
    d = X.shape[1]
    w = np.linalg.solve(X.T @ X + lam * np.eye(d), X.T @ y)
    r = X @ w - y
    return r @ r + lam * w @ w


# --------------------------------------------------------------------------
# shapes: reshape / transpose / concatenate / stack
# --------------------------------------------------------------------------

@case(lambda rng: (rng.uniform(-1, 1, 12),), complex_ok=True)
def reshape_transpose(x):
    A = x.reshape(3, 4)
    B = np.reshape(x, (4, 3))
    return A.T @ B.T, np.transpose(A) * 2.0, A.transpose(1, 0).ravel(), x.reshape((2, -1)).T


@case(lambda rng: (rng.uniform(-1, 1, 4), rng.uniform(-1, 1, 3)), complex_ok=True)
def concatenate_stack(x, y):
    z = np.concatenate([x, y ** 2])
    s = np.stack([x, 2 * x], axis=0)
    t = np.stack((x[:3], y), axis=1)
    return z, s, t, np.concatenate((s, s), axis=1)


@case(lambda rng: (rng.uniform(-1, 1, 5),), complex_ok=True)
def polynomial_features(x):
    F = np.stack([np.ones_like(x), x, x ** 2, x ** 3], axis=1)
    w = np.array([0.5, -1.0, 2.0, 0.25])
    return F @ w


# --------------------------------------------------------------------------
# indexing
# --------------------------------------------------------------------------

@case(lambda rng: (rng.uniform(-1, 1, 6),), complex_ok=True)
def slice_differences(x):
    return x[1:] - x[:-1] ** 2


@case(lambda rng: (rng.uniform(-1, 1, 4), rng.uniform(-1, 1, 3)), complex_ok=True)
def newaxis_broadcast(a, b):
    return a[:, None] * b[None, :] + a[:, np.newaxis] - b


@case(lambda rng: (rng.uniform(-1, 1, (3, 4)), 1, 2), complex_ok=True)
def scalar_index(A, i, j):
    return A[i, j] * A[0, 0] + A[i][j] ** 2 + A[-1, -1]


@case(lambda rng: (rng.uniform(-1, 1, (4, 5)),), complex_ok=True)
def slices_2d(A):
    return A[1:3, ::2], A[:, -1], A[::-1, 1], A[..., 0] * A[0, ...][:4]


@case(lambda rng: (_away(rng, 8),))
def boolean_mask(x):
    return x[x > 0].sum() - np.sum(x[x < 0] ** 2)


@case(lambda rng: (_away(rng, 8),))
def boolean_mask_assign(x):
    y = x.copy()
    y[y < 0] = 0.0
    return y * x


@case(lambda rng: (rng.uniform(-1, 1, 6), np.array([0, 2, 2, 5, 1])), complex_ok=True)
def integer_gather(x, idx):
    return x[idx] * x[idx[::-1]]


@case(lambda rng: (rng.uniform(-1, 1, (4, 3)), np.array([0, 3, 1]), np.array([2, 0, 1])),
      complex_ok=True)
def fancy_index_2d(A, rows, cols):
    return A[rows, cols], A[rows], A[:, cols]


@case(lambda rng: (rng.uniform(-1, 1, 6),), complex_ok=True)
def copy_then_modify(x):
    y = x.copy()
    y[0] = 0.0
    y[1:] *= 2
    y[2] += x[3] * x[4]
    return y


@case(lambda rng: (rng.uniform(-1, 1, (3, 3)),), complex_ok=True)
def methods_mix(A):
    s = A.sum() + A.sum(axis=1).dot(A.mean(axis=0))
    B = A.reshape(9).reshape(3, 3).copy()
    return s * B.T.flatten()


# --------------------------------------------------------------------------
# creation functions as constants
# --------------------------------------------------------------------------

@case(lambda rng: (rng.uniform(-1, 1, 6), float(rng.uniform(0.5, 2.0))), complex_ok=True)
def creation_constants(x, a):
    n = x.shape[0]
    t = np.linspace(0.0, 1.0, n)
    w = np.arange(1, n + 1)
    z = np.zeros(n)
    o = np.ones((n,))
    f = np.full(n, 2.0)
    return np.sum(np.exp(-a * t) * x) + x @ w + np.sum(z + o * f * x)


@case(lambda rng: (rng.uniform(-1, 1, (3, 3)), float(rng.uniform(0.5, 2.0))), complex_ok=True)
def eye_shift(A, lam):
    I = np.eye(3)
    return (A + lam * I) @ (A - lam * np.eye(A.shape[0]))


@case(lambda rng: (rng.uniform(-1, 1, 5),))
def empty_and_zeros_like(x):
    out = np.empty(x.shape)
    out[:] = x ** 2
    acc = np.zeros_like(x)
    acc += out * 3.0
    return acc + np.ones_like(x)


# --------------------------------------------------------------------------
# models and losses
# --------------------------------------------------------------------------

@case(lambda rng: (rng.uniform(-1.5, 1.5, 6),), complex_ok=True)
def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


@case(lambda rng: (rng.uniform(-2, 2, (3, 5)),))
def logsumexp_rows(z):
    return logsumexp(z)


@case(lambda rng: (rng.uniform(-2, 2, (3, 5)),))
def softmax_rows(z):
    return softmax(z)


def _loss_args(rng):
    X = rng.uniform(-1, 1, (6, 4))
    return (rng.uniform(-1, 1, (4, 3)), rng.uniform(-0.5, 0.5, 3), X, rng.integers(0, 3, 6))


@case(_loss_args)
def loss(W, b, X, y):
    logits = X @ W + b
    m = logits.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    n = X.shape[0]
    return np.mean(lse - logits[np.arange(n), y])


@case(lambda rng: (rng.uniform(-1, 1, 3), rng.uniform(-1, 1, (10, 3)),
                   rng.choice([-1.0, 1.0], 10)), wrt=("w",))
def logistic_regression(w, X, y):
    margins = y * (X @ w)
    return np.sum(np.log1p(np.exp(-margins))) + 0.01 * np.dot(w, w)


def _mlp_params(rng):
    return (rng.uniform(-1, 1, (4, 3)), rng.uniform(-0.5, 0.5, 4), rng.uniform(-1, 1, (2, 4)),
            rng.uniform(-0.5, 0.5, 2), rng.uniform(-1, 1, (5, 3)))


@case(_mlp_params)
def mlp_tanh(W1, b1, W2, b2, X):
    h = np.tanh(X @ W1.T + b1)
    out = h @ W2.T + b2
    return 0.5 * np.sum(out ** 2)


def _relu_mlp_args(rng):
    W1 = rng.uniform(-1, 1, (4, 3))
    b1 = rng.uniform(-0.5, 0.5, 4)
    X = rng.uniform(-1, 1, (5, 3))
    # a constant offset puts every pre-activation at least 0.5 away from relu's kink
    target = _away(rng, (5, 4), 0.5, 1.5)
    offset = target - (X @ W1.T + b1)
    return (W1, b1, rng.uniform(-1, 1, (2, 4)), X, offset)


@case(_relu_mlp_args, wrt=("W1", "b1", "W2"))
def mlp_relu(W1, b1, W2, X, offset):
    z = X @ W1.T + b1 + offset
    h = relu(z)
    out = h @ W2.T
    return np.mean(out ** 2) + np.sum(np.maximum(z, 0) * 0.1)


@case(lambda rng: (rng.uniform(-1, 1, (4, 3)), rng.uniform(-1, 1, (4, 3)),
                   rng.uniform(-1, 1, (4, 2))))
def attention(Q, K, V):
    d = Q.shape[1]
    scores = Q @ K.T / np.sqrt(d)
    weights = softmax(scores)
    return weights @ V


@case(lambda rng: (rng.uniform(-1, 1, (3, 6)), rng.uniform(0.5, 1.5, 6), rng.uniform(-1, 1, 6)))
def layer_norm(x, gamma, beta):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + 1e-5) + beta


@case(lambda rng: (rng.uniform(-1, 1, (4, 2)), rng.uniform(-1, 1, (3, 2)),
                   float(rng.uniform(0.5, 1.5))))
def gaussian_kernel(X, Y, ell):
    diff = X[:, None, :] - Y[None, :, :]
    d2 = np.sum(diff ** 2, axis=-1)
    return np.exp(-0.5 * d2 / ell ** 2)


@case(lambda rng: (rng.uniform(-1, 1, 4), _wellcond(rng, 4)), complex_ok=True)
def gaussian_quadratic(r, S):
    return 0.5 * r @ np.linalg.solve(S @ S.T, r)


@case(lambda rng: (rng.uniform(0.1, 0.9, 5), rng.uniform(0.1, 0.9, 5)), complex_ok=True)
def binary_cross_entropy(p, q):
    return -np.mean(p * np.log(q) + (1 - p) * np.log(1 - q))


def _distance_args(rng):
    c = rng.uniform(-1, 1, 2)
    radii = 0.3 + 0.4 * rng.permutation(5) + rng.uniform(0.0, 0.04, 5)
    angles = rng.uniform(0, 2 * np.pi, 5)
    return (c + radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1), c)


@case(_distance_args)
def pairwise_distances(P, c):
    d = P - c
    r = np.sqrt(np.sum(d * d, axis=1))
    return np.sum(1.0 / (1.0 + r)), r.max() + r.min()


def _smooth_l1_args(rng):
    target = rng.uniform(0.5, 1.5, 6)
    small = rng.uniform(0.01, 0.05, 6)
    large = rng.uniform(0.25, 1.0, 6)
    d = rng.choice([-1.0, 1.0], 6) * np.where(np.arange(6) % 2 == 0, small, large)
    return (target + d, target)


@case(_smooth_l1_args, fd_scale=0.3)
def smooth_l1_where(pred, target):
    d = pred - target
    ad = np.abs(d)
    return np.where(ad < 0.1, 0.5 * d * d / 0.1, ad - 0.05).sum()


@case(lambda rng: (rng.uniform(-1, 1, (2, 3)), rng.uniform(-1, 1, (3, 2))), complex_ok=True)
def transpose_dot_trace_like(A, B):
    C = A.dot(B)
    return (C * np.eye(2)).sum() + A.T.dot(A).sum()


# --------------------------------------------------------------------------
# more linear algebra and numpy functions with rules
# --------------------------------------------------------------------------

def _spd(rng, n=3):
    a = rng.uniform(-1, 1, (n, n))
    return a @ a.T + n * np.eye(n)


@case(lambda rng: (_spd(rng),))
def cholesky_logdet(S):
    L = np.linalg.cholesky(S)
    return 2.0 * np.sum(np.log(np.diag(L))), L


@case(lambda rng: (_spd(rng),))
def slogdet_unpacked(S):
    sign, logdet = np.linalg.slogdet(S)
    return sign * logdet


@case(lambda rng: (_spd(rng, 4) + np.diag(np.arange(4.0)),))
def symmetric_eigenvalues(S):
    return np.linalg.eigvalsh(0.5 * (S + S.T))


@case(lambda rng: (rng.uniform(-1, 1, (4, 3)) + np.eye(4, 3),))
def pseudo_inverse(A):
    return np.linalg.pinv(A)


@case(lambda rng: (rng.uniform(-1, 1, 8), rng.uniform(-1, 1, 3)))  # correlate conjugates
def convolution(x, w):
    return np.convolve(x, w, mode="valid"), np.correlate(x, w)


@case(lambda rng: (rng.uniform(-1, 1, 4), float(rng.uniform(-1, 1))), complex_ok=True)
def polynomial(p, x):
    return np.polyval(p, x)


@case(lambda rng: (np.sort(rng.uniform(0.05, 0.95, 6)) + np.arange(6) * 0.0, rng.uniform(-1, 1, 5)))
def interpolation(x, fp):
    return np.interp(x, np.linspace(0.0, 1.0, 5), fp)
