"""Larger programs of the kind people differentiate: filters, recurrent cells,
simulations, fits and likelihoods.  Each combines loops, helpers, linear
algebra and reductions."""

import math

import numpy as np

from . import case


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _spd(rng, n, shift=2.0):
    A = rng.uniform(-0.5, 0.5, (n, n))
    return A @ A.T + shift * np.eye(n)


# --------------------------------------------------------------------------
# Kalman filter
# --------------------------------------------------------------------------

def _kalman_args(rng):
    F = np.array([[1.0, 0.1], [0.0, 1.0]])
    H = np.array([[1.0, 0.0]])
    zs = rng.uniform(-1, 1, (6, 1))
    return (float(rng.uniform(0.05, 0.2)), float(rng.uniform(0.2, 0.6)), F, H, zs)


@case(_kalman_args, wrt=("q", "r", "zs"))
def kalman_filter(q, r, F, H, zs):
    x = np.zeros(2)
    P = np.eye(2)
    Q = q * np.eye(2)
    R = r * np.eye(1)
    nll = 0.0
    for z in zs:
        x = F @ x
        P = F @ P @ F.T + Q
        S = H @ P @ H.T + R
        K = P @ H.T @ np.linalg.inv(S)
        innov = z - H @ x
        x = x + K @ innov
        P = (np.eye(2) - K @ H) @ P
        nll = nll + 0.5 * (innov @ np.linalg.solve(S, innov) + np.log(S[0, 0]))
    return nll, x


# --------------------------------------------------------------------------
# recurrent cell
# --------------------------------------------------------------------------

def _lstm_args(rng):
    nh, nx = 3, 2
    return (rng.uniform(-0.5, 0.5, (4 * nh, nh + nx)), rng.uniform(-0.2, 0.2, 4 * nh),
            rng.uniform(-1, 1, (5, nx)))


@case(_lstm_args)
def lstm_sequence(W, b, xs):
    nh = W.shape[0] // 4
    h = np.zeros(nh)
    c = np.zeros(nh)
    total = 0.0
    for t in range(xs.shape[0]):
        z = W @ np.concatenate([h, xs[t]]) + b
        i = _sigmoid(z[:nh])
        f = _sigmoid(z[nh:2 * nh])
        o = _sigmoid(z[2 * nh:3 * nh])
        g = np.tanh(z[3 * nh:])
        c = f * c + i * g
        h = o * np.tanh(c)
        total = total + np.sum(h ** 2)
    return total, h


# --------------------------------------------------------------------------
# simulations
# --------------------------------------------------------------------------

def _nbody_args(rng):
    pos = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.2], [-1.1, -0.3]]) + rng.uniform(-0.1, 0.1, (4, 2))
    vel = rng.uniform(-0.2, 0.2, (4, 2))
    return (pos, vel, rng.uniform(0.5, 1.5, 4))


def _accelerations(pos, mass, soft):
    diff = pos[None, :, :] - pos[:, None, :]
    r2 = np.sum(diff ** 2, axis=-1) + soft ** 2
    inv_r3 = r2 ** -1.5
    return np.sum(diff * (mass[None, :] * inv_r3)[:, :, None], axis=1)


@case(_nbody_args)
def nbody_leapfrog(pos, vel, mass):
    dt = 0.01
    soft = 0.1
    x = pos.copy()
    v = vel.copy()
    a = _accelerations(x, mass, soft)
    for _ in range(20):
        v = v + 0.5 * dt * a
        x = x + dt * v
        a = _accelerations(x, mass, soft)
        v = v + 0.5 * dt * a
    kinetic = 0.5 * np.sum(mass[:, None] * v ** 2)
    return kinetic, x


@case(lambda rng: (rng.uniform(0.2, 1.0, (6, 6)), float(rng.uniform(0.1, 0.2))))
def diffusion_2d(u0, kappa):
    u = u0.copy()
    for _ in range(10):
        lap = u[2:, 1:-1] + u[:-2, 1:-1] + u[1:-1, 2:] + u[1:-1, :-2] - 4.0 * u[1:-1, 1:-1]
        u_next = u.copy()
        u_next[1:-1, 1:-1] = u[1:-1, 1:-1] + kappa * lap
        u = u_next
    return np.sum(u ** 2)


@case(lambda rng: (float(rng.uniform(0.3, 1.0)), float(rng.uniform(-0.5, 0.5)),
                   float(rng.uniform(0.05, 0.3))))
def damped_pendulum(theta0, omega0, damping):
    dt = 0.01
    T = 1.0
    t = 0.0
    theta, omega = theta0, omega0
    while t < T - 1e-9:
        omega = omega - dt * (9.81 * math.sin(theta) + damping * omega)
        theta = theta + dt * omega
        t += dt
    return theta, omega


def _logistic_data(rng):
    ts = np.linspace(0.0, 4.0, 9)
    data = 1.0 / (1.0 + 9.0 * np.exp(-1.2 * ts)) + rng.uniform(-0.02, 0.02, 9)
    return (float(rng.uniform(0.8, 1.5)), float(rng.uniform(0.08, 0.15)), data)


def _rk4_step(y, r, h):
    k1 = r * y * (1 - y)
    y2 = y + 0.5 * h * k1
    k2 = r * y2 * (1 - y2)
    y3 = y + 0.5 * h * k2
    k3 = r * y3 * (1 - y3)
    y4 = y + h * k3
    k4 = r * y4 * (1 - y4)
    return y + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


@case(_logistic_data, wrt=("r", "y0"))
def ode_fit_loss(r, y0, data):
    h = 0.1
    y = y0
    loss = (y - data[0]) ** 2
    k = 0
    for step in range(1, 41):
        y = _rk4_step(y, r, h)
        if step % 5 == 0:
            k += 1
            loss += (y - data[k]) ** 2
    return loss


# --------------------------------------------------------------------------
# fits and likelihoods
# --------------------------------------------------------------------------

def _gn_args(rng):
    t = np.linspace(0, 2, 12)
    y = 2.0 * np.exp(-0.7 * t) + rng.uniform(-0.01, 0.01, 12)
    return (t, y, float(rng.uniform(1.5, 2.5)), float(rng.uniform(0.5, 0.9)))


@case(_gn_args, wrt=("y", "a0", "k0"))
def gauss_newton_exponential(t, y, a0, k0):
    a, k = a0, k0
    for _ in range(8):
        e = np.exp(-k * t)
        r = a * e - y
        J = np.stack([e, -a * t * e], axis=1)
        step = np.linalg.solve(J.T @ J, J.T @ r)
        a = a - step[0]
        k = k - step[1]
    return a, k


def _gp_args(rng):
    X = np.linspace(-1, 1, 6)[:, None] + rng.uniform(-0.05, 0.05, (6, 1))
    y = np.sin(3 * X[:, 0]) + rng.uniform(-0.1, 0.1, 6)
    return (float(rng.uniform(0.3, 0.8)), float(rng.uniform(0.8, 1.5)),
            float(rng.uniform(0.05, 0.2)), X, y)


@case(_gp_args, wrt=("ell", "sf", "noise"))
def gp_negative_log_likelihood(ell, sf, noise, X, y):
    d2 = np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1)
    K = sf ** 2 * np.exp(-0.5 * d2 / ell ** 2) + noise ** 2 * np.eye(X.shape[0])
    alpha = np.linalg.solve(K, y)
    return 0.5 * y @ alpha + 0.5 * np.log(np.linalg.det(K)) + 0.5 * len(y) * math.log(2 * math.pi)


@case(lambda rng: (rng.uniform(-1, 1, 4), rng.uniform(0.01, 0.1, 4), _spd(rng, 4, 0.5) * 0.1,
                   float(rng.uniform(1.0, 5.0))))
def portfolio_utility(logits, mu, Sigma, gamma):
    w = np.exp(logits - np.max(logits))
    w = w / np.sum(w)
    return w @ mu - 0.5 * gamma * w @ Sigma @ w


@case(lambda rng: (rng.uniform(-1, 1, 10), rng.uniform(-1, 1, 3), float(rng.uniform(-0.2, 0.2))))
def conv1d_valid(x, w, bias):
    k = w.shape[0]
    n_out = x.shape[0] - k + 1
    out = np.zeros(n_out) + bias
    for j in range(k):
        out += w[j] * x[j:j + n_out]
    return np.tanh(out)


@case(lambda rng: (rng.uniform(-1, 1, (2, 4, 6)), rng.uniform(-1, 1, (6, 6)),
                   rng.uniform(-1, 1, (6, 6)), rng.uniform(-1, 1, (6, 6))))
def multihead_attention(x, Wq, Wk, Wv):
    B, T, D = x.shape
    H = 2
    dh = D // H
    q = (x @ Wq).reshape(B, T, H, dh).transpose(0, 2, 1, 3)
    k = (x @ Wk).reshape(B, T, H, dh).transpose(0, 2, 1, 3)
    v = (x @ Wv).reshape(B, T, H, dh).transpose(0, 2, 1, 3)
    scores = np.einsum("bhtd,bhsd->bhts", q, k) / math.sqrt(dh)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / weights.sum(axis=-1, keepdims=True)
    out = np.einsum("bhts,bhsd->bhtd", weights, v)
    return out.transpose(0, 2, 1, 3).reshape(B, T, D)


@case(lambda rng: (rng.uniform(-1, 1, (8, 3)), rng.uniform(0.5, 1.5, 3), rng.uniform(-0.5, 0.5, 3),
                   rng.uniform(-1, 1, (3, 2))))
def batchnorm_linear(X, gamma, beta, W):
    mu = X.mean(axis=0)
    var = X.var(axis=0)
    Xn = (X - mu) / np.sqrt(var + 1e-5)
    H = gamma * Xn + beta
    out = H @ W
    return np.mean(np.log1p(np.exp(out)))


def _mc_args(rng):
    return (float(rng.uniform(90, 110)), float(rng.uniform(0.15, 0.3)), rng.standard_normal(200))


@case(_mc_args, wrt=("S0", "sigma"))
def monte_carlo_smooth_call(S0, sigma, normals):
    K = 100.0
    T = 1.0
    r = 0.02
    ST = S0 * np.exp((r - 0.5 * sigma ** 2) * T + sigma * math.sqrt(T) * normals)
    payoff = 5.0 * np.log1p(np.exp((ST - K) / 5.0))
    return math.exp(-r * T) * np.mean(payoff)


@case(lambda rng: (rng.uniform(0.8, 1.2, 6), float(rng.uniform(0.5, 2.0))))
def spring_chain_energy(x, k):
    ext = np.diff(np.concatenate([[0.0], x.cumsum()])) - 1.0
    return 0.5 * k * np.sum(ext ** 2) + np.sum(np.cos(x))
