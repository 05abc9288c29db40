"""Machine-learning and statistics losses written the way users write them:
data passed as arguments, biases broadcast, reductions with axis/keepdims,
one-hot encodings, in-place normalisation, flat parameter vectors, float32
data with float64 parameters, int labels."""

import math

import numpy as np

from . import case


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z, axis=-1):
    z = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def _logsumexp(z, axis=-1):
    m = np.max(z, axis=axis, keepdims=True)
    return (m + np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))).squeeze(axis)


def _away_from_zero(rng, shape, lo=0.3, hi=1.0):
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(lo, hi, shape)


# --------------------------------------------------------------------------
# classification
# --------------------------------------------------------------------------

def _logreg_args(rng):
    X = rng.uniform(-1, 1, (8, 3))
    y = rng.integers(0, 2, 8)
    return (rng.uniform(-0.5, 0.5, 3), float(rng.uniform(-0.3, 0.3)), X, y)


@case(_logreg_args, wrt=("w", "b"))
def logistic_regression_nll(w, b, X, y):
    p = _sigmoid(X @ w + b)
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def _softmax_args(rng):
    X = rng.uniform(-1, 1, (6, 4))
    y = rng.integers(0, 3, 6)
    return (rng.uniform(-0.5, 0.5, (4, 3)), rng.uniform(-0.2, 0.2, 3), X, y)


@case(_softmax_args, wrt=("W", "b"))
def softmax_regression_onehot(W, b, X, y):
    logits = X @ W + b
    logits -= logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    Y = np.eye(3)[y]
    return -(Y * log_probs).sum() / X.shape[0]


@case(_softmax_args, wrt=("W", "b"))
def softmax_take_along_axis(W, b, X, y):
    z = X.dot(W) + b[None, :]
    lse = _logsumexp(z, axis=1)
    picked = np.take_along_axis(z, y[:, None], axis=1)[:, 0]
    return np.mean(lse - picked)


@case(_softmax_args, wrt=("W", "b"), kwargs={"smoothing": 0.1})
def softmax_label_smoothing(W, b, X, y, smoothing=0.1):
    k = W.shape[1]
    logits = X @ W + b
    target = np.full((X.shape[0], k), smoothing / k)
    target[np.arange(X.shape[0]), y] += 1.0 - smoothing
    logp = logits - _logsumexp(logits, axis=1)[:, None]
    return -np.sum(target * logp) / len(y)


@case(_softmax_args, wrt=("W", "b"))
def softmax_fancy_index_nll(W, b, X, y):
    p = _softmax(X @ W + b, axis=1)
    n = X.shape[0]
    return -np.log(p[np.arange(n), y]).mean()


def _mlp_args(rng):
    X = rng.uniform(-1, 1, (5, 3))
    y = rng.integers(0, 2, 5)
    while True:
        W1 = rng.uniform(-1, 1, (3, 4))
        b1 = rng.uniform(-0.5, 0.5, 4)
        if np.min(np.abs(X @ W1 + b1)) > 0.15:
            break
    return (W1, b1, rng.uniform(-1, 1, (4, 2)), rng.uniform(-0.2, 0.2, 2), X, y)


@case(_mlp_args, wrt=("W1", "b1", "W2", "b2"), fd_scale=0.1)
def mlp_relu_cross_entropy(W1, b1, W2, b2, X, y):
    h = np.maximum(X @ W1 + b1, 0)
    logits = h @ W2 + b2
    logits = logits - logits.max(axis=-1, keepdims=True)
    logp = logits - np.log(np.sum(np.exp(logits), axis=-1, keepdims=True))
    return -np.mean(logp[np.arange(len(y)), y])


@case(_mlp_args, wrt=("W1", "b1", "W2", "b2"))
def mlp_tanh_mse(W1, b1, W2, b2, X, y):
    h = np.tanh(X @ W1 + b1)
    out = h @ W2 + b2
    target = np.stack([y, 1 - y], axis=1).astype(float)
    return ((out - target) ** 2).mean()


def _flat_args(rng):
    X = rng.uniform(-1, 1, (7, 2))
    t = rng.uniform(-1, 1, (7, 3))
    return (rng.uniform(-0.5, 0.5, 2 * 3 + 3), X, t)


@case(_flat_args, wrt=("theta",))
def flat_theta_linear(theta, X, t):
    W = theta[:6].reshape(2, 3)
    b = theta[6:]
    pred = X @ W + b
    return 0.5 * np.sum((pred - t) ** 2) + 1e-2 * np.sum(W ** 2)


@case(_flat_args, wrt=("theta",))
def flat_theta_unpack_rows(theta, X, t):
    W = theta[:6].reshape((3, 2)).T
    b = theta[-3:]
    resid = (X @ W + b - t).reshape(-1)
    return resid @ resid / resid.size


# --------------------------------------------------------------------------
# normalisation and attention
# --------------------------------------------------------------------------

def _bn_args(rng):
    return (rng.uniform(-1, 1, (6, 4)), rng.uniform(0.5, 1.5, 4), rng.uniform(-0.5, 0.5, 4))


@case(_bn_args)
def batch_norm(x, gamma, beta):
    eps = 1e-5
    mu = np.mean(x, axis=0)
    var = np.var(x, axis=0)
    xhat = (x - mu) / np.sqrt(var + eps)
    out = gamma * xhat + beta
    return np.sum(out ** 3)


@case(_bn_args)
def batch_norm_manual_var(x, gamma, beta):
    eps = 1e-5
    mu = x.mean(axis=0, keepdims=True)
    xc = x - mu
    var = (xc ** 2).mean(axis=0, keepdims=True)
    y = gamma[None, :] * xc / (var + eps) ** 0.5 + beta[None, :]
    return np.tanh(y).sum()


@case(_bn_args)
def layer_norm_affine(x, gamma, beta):
    mu = x.mean(-1, keepdims=True)
    sd = x.std(-1, keepdims=True)
    y = (x - mu) / (sd + 1e-6) * gamma + beta
    return (y * np.arange(y.shape[1])).sum()


def _attn_args(rng):
    return (rng.uniform(-1, 1, (5, 4)), rng.uniform(-0.5, 0.5, (4, 4)),
            rng.uniform(-0.5, 0.5, (4, 4)), rng.uniform(-0.5, 0.5, (4, 4)))


@case(_attn_args)
def self_attention(x, Wq, Wk, Wv):
    q = x @ Wq
    k = x @ Wk
    v = x @ Wv
    scores = np.einsum("id,jd->ij", q, k) / np.sqrt(q.shape[-1])
    attn = _softmax(scores, axis=-1)
    out = np.einsum("ij,jd->id", attn, v)
    return np.sum(out ** 2)


@case(_attn_args)
def causal_attention(x, Wq, Wk, Wv):
    n = x.shape[0]
    q, k, v = x @ Wq, x @ Wk, x @ Wv
    s = q @ k.T / math.sqrt(k.shape[1])
    mask = np.triu(np.ones((n, n), dtype=bool), k=1)
    s[mask] = -np.inf
    s = s - s.max(axis=1, keepdims=True)
    w = np.exp(s)
    w /= w.sum(axis=1, keepdims=True)
    return (w @ v).mean(axis=0)


def _rnn_args(rng):
    return (rng.uniform(-1, 1, (6, 2)), rng.uniform(-0.5, 0.5, (2, 3)),
            rng.uniform(-0.5, 0.5, (3, 3)), rng.uniform(-0.2, 0.2, 3))


@case(_rnn_args)
def tiny_rnn(x, Wx, Wh, b):
    h = np.zeros(Wh.shape[0])
    hs = []
    for t in range(x.shape[0]):
        h = np.tanh(x[t] @ Wx + h @ Wh + b)
        hs.append(h)
    H = np.array(hs)
    return np.mean(H ** 2), h


@case(_rnn_args)
def tiny_rnn_preallocated(x, Wx, Wh, b):
    T = x.shape[0]
    H = np.zeros((T + 1, Wh.shape[0]))
    for t in range(T):
        H[t + 1, :] = np.tanh(x[t] @ Wx + H[t] @ Wh + b)
    return H[1:].sum(axis=0)


# --------------------------------------------------------------------------
# Gaussian likelihoods and Gaussian processes
# --------------------------------------------------------------------------

def _mvn_args(rng):
    A = rng.uniform(-0.5, 0.5, (3, 3))
    return (rng.uniform(-1, 1, 3), A @ A.T + 1.5 * np.eye(3), rng.uniform(-1, 1, (5, 3)))


@case(_mvn_args)
def mvn_loglik_slogdet(mu, Sigma, data):
    d = data.shape[1]
    sign, logdet = np.linalg.slogdet(Sigma)
    diff = data - mu
    sol = np.linalg.solve(Sigma, diff.T)
    quad = np.sum(diff.T * sol, axis=0)
    return np.sum(-0.5 * (quad + logdet + d * np.log(2 * np.pi)))


@case(_mvn_args)
def mvn_loglik_cholesky(mu, Sigma, data):
    L = np.linalg.cholesky(Sigma)
    z = np.linalg.solve(L, (data - mu[None, :]).T)
    logdet = 2.0 * np.sum(np.log(np.diag(L)))
    n, d = data.shape
    return -0.5 * np.sum(z ** 2) - 0.5 * n * logdet - 0.5 * n * d * math.log(2 * math.pi)


def _rbf(X, lengthscale, variance):
    sq = np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1)
    return variance * np.exp(-0.5 * sq / lengthscale ** 2)


def _gp_args(rng):
    X = np.sort(rng.uniform(-2, 2, (6, 1)), axis=0)
    y = np.sin(X[:, 0]) + rng.uniform(-0.1, 0.1, 6)
    return (float(rng.uniform(0.6, 1.2)), float(rng.uniform(0.5, 1.5)),
            float(rng.uniform(0.05, 0.2)), X, y)


@case(_gp_args)
def gp_marginal_likelihood(lengthscale, variance, noise, X, y):
    K = _rbf(X, lengthscale, variance) + noise * np.eye(len(y))
    L = np.linalg.cholesky(K)
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, y))
    return 0.5 * y @ alpha + np.log(np.diag(L)).sum() + 0.5 * len(y) * np.log(2 * np.pi)


@case(_gp_args, wrt=("lengthscale", "variance", "noise"))
def gp_marginal_likelihood_slogdet(lengthscale, variance, noise, X, y):
    n = X.shape[0]
    K = _rbf(X, lengthscale, variance)
    K[np.diag_indices(n)] += noise
    _, logdet = np.linalg.slogdet(K)
    return 0.5 * y.dot(np.linalg.solve(K, y)) + 0.5 * logdet


def _gmm_args(rng):
    return (rng.uniform(-1, 1, (3, 2)), rng.uniform(-0.3, 0.3, 3), rng.uniform(-0.2, 0.2, 3),
            rng.uniform(-1.5, 1.5, (7, 2)))


@case(_gmm_args)
def gmm_loglik(means, log_sigma, logit_pi, X):
    log_pi = logit_pi - _logsumexp(logit_pi, axis=0)
    sigma2 = np.exp(2 * log_sigma)
    d = X.shape[1]
    sq = ((X[:, None, :] - means[None, :, :]) ** 2).sum(-1)
    comp = -0.5 * sq / sigma2 - 0.5 * d * np.log(2 * np.pi * sigma2) + log_pi
    return _logsumexp(comp, axis=1).sum()


@case(_gmm_args, wrt=("means",))
def kmeans_soft_assignment(means, log_sigma, logit_pi, X):
    beta = 2.0
    d2 = np.sum((X[:, np.newaxis] - means) ** 2, axis=2)
    r = _softmax(-beta * d2, axis=1)
    return np.sum(r * d2) / X.shape[0]


# --------------------------------------------------------------------------
# GLMs and regularised regression
# --------------------------------------------------------------------------

def _poisson_args(rng):
    X = rng.uniform(-1, 1, (8, 3))
    counts = rng.integers(0, 6, 8)
    return (rng.uniform(-0.3, 0.3, 3), float(rng.uniform(0.2, 0.6)), X, counts)


@case(_poisson_args, wrt=("beta", "intercept"))
def poisson_glm_nll(beta, intercept, X, counts):
    eta = X @ beta + intercept
    return np.sum(np.exp(eta) - counts * eta)


@case(_poisson_args, wrt=("beta", "intercept"))
def negative_binomial_nll(beta, intercept, X, counts):
    r = 2.5
    mu = np.exp(X @ beta + intercept)
    ll = r * np.log(r / (r + mu)) + counts * np.log(mu / (r + mu))
    return -ll.sum()


@case(_poisson_args, wrt=("beta", "intercept"))
def negative_binomial_nll_lgamma(beta, intercept, X, counts):
    r = 2.5
    mu = np.exp(X @ beta + intercept)
    total = 0.0
    for i in range(len(counts)):
        c = counts[i]
        total += (math.lgamma(c + r) - math.lgamma(r) - math.lgamma(c + 1)
                  + r * np.log(r / (r + mu[i])) + c * np.log(mu[i] / (r + mu[i])))
    return -total


def _ridge_args(rng):
    X = rng.uniform(-1, 1, (9, 4))
    y = rng.uniform(-1, 1, 9)
    return (_away_from_zero(rng, 4), X, y, float(rng.uniform(0.1, 0.5)))


@case(_ridge_args, wrt=("w", "lam"))
def elastic_net(w, X, y, lam):
    r = y - X @ w
    return 0.5 * np.mean(r ** 2) + lam * np.abs(w).sum() + 0.5 * lam * np.sum(w ** 2)


def _huber_args(rng):
    X = rng.uniform(-1, 1, (10, 2))
    w = rng.uniform(-1, 1, 2)
    y = X @ w + _away_from_zero(rng, 10, 0.1, 2.0)
    r = y - X @ w
    y = np.where(np.abs(np.abs(r) - 1.0) < 0.15, y + 0.4 * np.sign(r), y)
    return (w, X, y, rng.uniform(0.5, 1.5, 10))


@case(_huber_args, wrt=("w",))
def huber_weighted(w, X, y, sample_weight):
    delta = 1.0
    r = y - X @ w
    a = np.abs(r)
    loss = np.where(a <= delta, 0.5 * r ** 2, delta * (a - 0.5 * delta))
    return np.sum(sample_weight * loss) / sample_weight.sum()



def _pca_args(rng):
    X = rng.uniform(-1, 1, (8, 3))
    return (rng.uniform(-1, 1, (3, 2)), X)


@case(_pca_args)
def pca_reconstruction(W, X):
    Xc = X - X.mean(axis=0)
    Z = Xc @ W
    recon = Z @ W.T
    return ((Xc - recon) ** 2).sum() / len(X)


# --------------------------------------------------------------------------
# mixed precision, in-place row updates, scalars and arrays
# --------------------------------------------------------------------------

def _f32_args(rng):
    X = rng.uniform(-1, 1, (6, 3)).astype(np.float32)
    y = rng.uniform(-1, 1, 6).astype(np.float32)
    return (rng.uniform(-0.5, 0.5, 3), float(rng.uniform(-0.2, 0.2)), X, y)


@case(_f32_args, wrt=("w", "b"))
def float32_data_float64_params(w, b, X, y):
    pred = X @ w + b
    return np.mean((pred - y) ** 2) + 0.01 * w.dot(w)


def _rowupd_args(rng):
    return (rng.uniform(-1, 1, (4, 3)), rng.uniform(-1, 1, 3), rng.uniform(0.5, 1.0, 4))


@case(_rowupd_args)
def row_inplace_updates(A, u, s):
    A = A.copy()
    for i in range(A.shape[0]):
        A[i, :] += s[i] * u
        A[i] *= 0.5
    A[:, 0] -= A[:, 1]
    return np.sum(np.tanh(A)), A.T.reshape(-1)


@case(_rowupd_args)
def scalars_mixed_with_arrays(A, u, s):
    scale = float(np.sum(s)) / len(s)
    c = 2.0
    z = (A * c + u) / scale
    total = 0.0
    for i in range(len(s)):
        total += s[i] * np.log1p(np.exp(z[i])).sum()
    return total + scale ** 2


@case(_rowupd_args)
def clip_method_and_transpose(A, u, s):
    p = _sigmoid(A @ u)
    p = p.clip(1e-7, 1 - 1e-7)
    B = A.T * s
    return -np.sum(s * np.log(p)) + (B ** 2).mean(axis=1).sum()
