"""Loops: for over ranges and arrays, while, break/continue, in-place updates,
ODE integrators, stencils and pairwise interactions."""

import math
from math import sin, cos, exp

import numpy as np

from . import case


def _spread(rng, n, gap=0.4, lo=-2.0):
    """n floats in random order whose pairwise gaps are at least ``gap``."""
    return lo + gap * rng.permutation(n) + rng.uniform(0.0, 0.1 * gap, n)


def _vec(rng, n, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, n)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def _sq(x):
    return x * x


def _decay(t, y, k):
    return -k * y + sin(t) * 0.5


def _lotka_volterra(state, a, b):
    x, y = state[0], state[1]
    return np.array([a * x - b * x * y, b * x * y - y])


def _integrand(t, a):
    return exp(-a * t * t) * cos(t)


def _rosen_grad(x, y):
    gx = -2.0 * (1.0 - x) - 400.0 * x * (y - x * x)
    gy = 200.0 * (y - x * x)
    return gx, gy


# --------------------------------------------------------------------------
# for over range / arrays / enumerate / zip
# --------------------------------------------------------------------------

@case(lambda rng: (float(rng.uniform(0.3, 0.9)), 8))
def sum_range(x, n):
    s = 0.0
    for i in range(n):
        s += x ** i / (i + 1)
    return s


@case(lambda rng: (rng.uniform(-1.0, 1.0, 5), float(rng.uniform(-1.5, 1.5))), complex_ok=True)
def horner(coeffs, x):
    result = 0.0
    for c in coeffs:
        result = result * x + c
    return result


@case(lambda rng: (float(rng.uniform(-1.5, 1.5)),), complex_ok=True)
def horner_constant_coeffs(x):
    p = 0.0
    for c in (1.0, -2.0, 0.5, 3.0, -0.25):
        p = p * x + c
    return p


@case(lambda rng: (_vec(rng, 6),))
def enumerate_weighted(x):
    s = 0.0
    for i, xi in enumerate(x):
        s += (i + 1) * xi ** 2
    return s


@case(lambda rng: (_vec(rng, 5), _vec(rng, 5)), complex_ok=True)
def zip_dot(x, y):
    s = 0.0
    for a, b in zip(x, y):
        s += a * b
    return s


@case(lambda rng: (_vec(rng, 4), _vec(rng, 4, 0.5, 1.5)))
def zip_enumerate(x, w):
    total = 0.0
    for k, (xi, wi) in enumerate(zip(x, w)):
        total = total + wi * math.sin(xi + k)
    return total


def _break_args(rng):
    x = rng.uniform(0.5, 2.0, 8)
    x[5] = -1.0
    return (x,)


@case(_break_args)
def for_break(x):
    s = 0.0
    for xi in x:
        if xi < 0:
            break
        s += math.sqrt(xi)
    return s


@case(lambda rng: (rng.choice([-1.0, 1.0], 8) * rng.uniform(0.5, 2.0, 8),))
def for_continue(x):
    s = 0.0
    for xi in x:
        if xi < 0:
            continue
        s += xi ** 2
    return s


def _early_return_args(rng):
    x = rng.uniform(0.0, 1.0, 6)
    x[3] = 2.0 + rng.uniform(0.0, 0.5)
    return (x, 1.5)


@case(_early_return_args, wrt=("x",))
def loop_early_return(x, threshold):
    total = 0.0
    for i in range(len(x)):
        if x[i] > threshold:
            return total + x[i] * 2
        total += x[i]
    return total


@case(lambda rng: (float(rng.uniform(0.2, 0.8)), 10))
def range_step(x, n):
    s = 0.0
    for i in range(1, n, 3):
        s += sin(i * x) / i
    for j in range(n - 1, -1, -2):
        s -= cos(j * x) / (j + 1)
    return s


@case(lambda rng: (rng.uniform(-1.0, 1.0, (4, 3)), _vec(rng, 3)))
def loop_over_rows(A, x):
    total = 0.0
    for row in A:
        total += np.dot(row, x) ** 2
    return total


@case(lambda rng: (_vec(rng, 6),))
def while_index(x):
    i = 0
    n = x.shape[0]
    acc = 0.0
    while i < n:
        acc = acc * 0.5 + x[i] ** 3
        i += 1
    return acc


@case(lambda rng: (_vec(rng, 7),))
def nested_helper_in_loop(x):
    s = 0.0
    for i in range(len(x)):
        s += _sq(x[i]) * _sq(i)
    return s


# --------------------------------------------------------------------------
# in-place writes
# --------------------------------------------------------------------------

@case(lambda rng: (_vec(rng, 6),))
def inplace_write(x):
    n = len(x)
    out = np.zeros(n)
    for i in range(n):
        out[i] = x[i] ** 2 + x[i - 1]
    return out


@case(lambda rng: (_vec(rng, 6),), complex_ok=True)
def inplace_add(x):
    out = np.zeros_like(x)
    for i in range(1, len(x)):
        out[i] += x[i] * x[i - 1]
        out[i - 1] -= 0.5 * x[i]
    return out


@case(lambda rng: (_vec(rng, 5), _vec(rng, 5)))
def inplace_empty_fill(x, y):
    out = np.empty(2 * len(x))
    for i in range(len(x)):
        out[2 * i] = x[i] * y[i]
        out[2 * i + 1] = x[i] - y[i]
    return out.sum() + out[0] * out[-1]


@case(lambda rng: (_vec(rng, 8),))
def prefix_sum(x):
    c = np.zeros(len(x))
    c[0] = x[0]
    for i in range(1, len(x)):
        c[i] = c[i - 1] + x[i]
    return c


@case(lambda rng: (rng.uniform(-1, 1, (3, 4)), rng.uniform(-1, 1, (4, 2))))
def matmul_by_hand(A, B):
    n, m = A.shape
    p = B.shape[1]
    C = np.zeros((n, p))
    for i in range(n):
        for j in range(p):
            for k in range(m):
                C[i, j] += A[i, k] * B[k, j]
    return C


def _triangular_args(rng):
    L = np.tril(rng.uniform(-0.5, 0.5, (5, 5))) + 2.0 * np.eye(5)
    return (L.T.copy(), rng.uniform(-1, 1, 5))


@case(_triangular_args)
def back_substitution(U, b):
    n = b.shape[0]
    x = np.zeros(n)
    for i in range(n - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, n):
            s -= U[i, j] * x[j]
        x[i] = s / U[i, i]
    return x


# --------------------------------------------------------------------------
# swaps and tuple state
# --------------------------------------------------------------------------

@case(lambda rng: (np.sin(np.linspace(0, np.pi, 12)) * rng.uniform(0.5, 1.5), 0.3, 20),
      wrt=("u0", "r"))
def heat_swap(u0, r, steps):
    u = u0.copy()
    u_new = np.zeros_like(u)
    for _ in range(steps):
        u_new[1:-1] = u[1:-1] + r * (u[2:] - 2 * u[1:-1] + u[:-2])
        u_new[0] = 0.0
        u_new[-1] = 0.0
        u, u_new = u_new, u
    return u


@case(lambda rng: (float(rng.uniform(0.5, 1.0)), 12))
def fibonacci_like(x, n):
    a, b = 1.0, x
    for _ in range(n):
        a, b = b, 0.5 * a + x * b / (1 + b * b)
    return b


@case(lambda rng: (float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)), 0.05, 40),
      wrt=(0, 1))
def symplectic_oscillator(q, p, dt, steps):
    for _ in range(steps):
        p = p - dt * math.sin(q)
        q = q + dt * p
    return q, p


# --------------------------------------------------------------------------
# ODE integrators
# --------------------------------------------------------------------------

@case(lambda rng: (float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.5, 2.0))))
def euler_ode(y0, k):
    y = y0
    t = 0.0
    dt = 0.01
    for _ in range(100):
        y = y + dt * _decay(t, y, k)
        t += dt
    return y


@case(lambda rng: (float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.5, 2.0))), kwargs={"n": 40})
def rk4_scalar(y0, k, n=10):
    h = 1.0 / n
    y = y0
    t = 0.0
    for _ in range(n):
        k1 = _decay(t, y, k)
        k2 = _decay(t + h / 2, y + h / 2 * k1, k)
        k3 = _decay(t + h / 2, y + h / 2 * k2, k)
        k4 = _decay(t + h, y + h * k3, k)
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        t = t + h
    return y


@case(lambda rng: (rng.uniform(0.5, 1.5, 2), float(rng.uniform(0.8, 1.2)),
                   float(rng.uniform(0.3, 0.6))))
def rk4_lotka_volterra(state0, a, b):
    h = 0.05
    s = state0
    for _ in range(40):
        k1 = _lotka_volterra(s, a, b)
        k2 = _lotka_volterra(s + 0.5 * h * k1, a, b)
        k3 = _lotka_volterra(s + 0.5 * h * k2, a, b)
        k4 = _lotka_volterra(s + h * k3, a, b)
        s = s + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return s


@case(lambda rng: (rng.uniform(-1, 1, 3), rng.uniform(-0.3, 0.3, (3, 3))))
def euler_linear_system(x0, A):
    x = x0
    dt = 0.02
    for step in range(50):
        x = x + dt * (A @ x - x ** 3)
    return x


def _verlet_args(rng):
    pos = np.arange(4, dtype=float) * 1.0 + rng.uniform(-0.1, 0.1, 4)
    return (pos, rng.uniform(-0.2, 0.2, 4), float(rng.uniform(0.8, 1.2)))


@case(_verlet_args)
def velocity_verlet_chain(pos, vel, k):
    dt = 0.02
    x = pos.copy()
    v = vel.copy()
    n = len(x)
    for _ in range(30):
        f = np.zeros(n)
        for i in range(n - 1):
            stretch = x[i + 1] - x[i] - 1.0
            f[i] += k * stretch
            f[i + 1] -= k * stretch
        v = v + 0.5 * dt * f
        x = x + dt * v
        f = np.zeros(n)
        for i in range(n - 1):
            stretch = x[i + 1] - x[i] - 1.0
            f[i] += k * stretch
            f[i + 1] -= k * stretch
        v = v + 0.5 * dt * f
    return x, v


@case(lambda rng: (float(rng.uniform(0.1, 0.9)), float(rng.uniform(2.8, 3.2))))
def logistic_map(x0, r):
    x = x0
    for _ in range(8):
        x = r * x * (1.0 - x)
    return x


@case(lambda rng: (float(rng.uniform(-0.5, 0.5)),))
def fixed_point_cos(p):
    x = 0.0
    for _ in range(80):
        x = 0.5 * math.cos(x) + p
    return x


@case(lambda rng: (float(rng.uniform(-1, 1)), float(rng.uniform(0.5, 1.5))))
def gradient_descent_steps(a, scale):
    w = 0.0
    lr = 0.1
    for _ in range(30):
        grad = 2.0 * scale * (w - a) + 0.1 * math.sin(w)
        w -= lr * grad
    return w


@case(lambda rng: (float(rng.uniform(-1.2, -0.8)), float(rng.uniform(0.8, 1.2))))
def rosenbrock_descent(x, y):
    lr = 1e-4
    for _ in range(25):
        gx, gy = _rosen_grad(x, y)
        x = x - lr * gx
        y = y - lr * gy
    return x, y


def _power_args(rng):
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    A = Q @ np.diag([4.0, 2.0, 1.0, 0.5]) @ Q.T
    return (A, rng.uniform(0.5, 1.0, 4))


@case(_power_args)
def power_iteration(A, v0):
    v = v0 / np.linalg.norm(v0)
    for _ in range(60):
        w = A @ v
        v = w / np.linalg.norm(w)
    return v @ A @ v


@case(lambda rng: (rng.uniform(-0.4, 0.4, (3, 3)), 5))
def matrix_power_loop(A, k):
    P = np.eye(A.shape[0])
    for _ in range(k):
        P = P @ A + 0.1 * P
    return P


# --------------------------------------------------------------------------
# quadrature
# --------------------------------------------------------------------------

@case(lambda rng: (float(rng.uniform(-0.5, 0.0)), float(rng.uniform(1.0, 2.0)),
                   float(rng.uniform(0.5, 1.5))), kwargs={"n": 30})
def trapezoid(lo, hi, a, n=10):
    h = (hi - lo) / n
    s = 0.5 * (_integrand(lo, a) + _integrand(hi, a))
    for i in range(1, n):
        s += _integrand(lo + i * h, a)
    return s * h


@case(lambda rng: (float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.5, 1.5))))
def simpson(a, b):
    n = 20
    h = b / n
    total = _integrand(0.0, a) + _integrand(b, a)
    for i in range(1, n):
        w = 4.0 if i % 2 == 1 else 2.0
        total += w * _integrand(i * h, a)
    return total * h / 3.0


# --------------------------------------------------------------------------
# stencils and pairwise interactions
# --------------------------------------------------------------------------

@case(lambda rng: (_vec(rng, 9),))
def laplacian_1d(x):
    n = len(x)
    lap = np.zeros(n)
    for i in range(1, n - 1):
        lap[i] = x[i - 1] - 2 * x[i] + x[i + 1]
    return np.sum(lap ** 2)


@case(lambda rng: (rng.uniform(-1, 1, (5, 6)),))
def stencil_2d(u):
    n, m = u.shape
    out = np.zeros((n, m))
    for i in range(1, n - 1):
        for j in range(1, m - 1):
            out[i, j] = 0.25 * (u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1]) - u[i, j]
    return out


def _positions(rng, n=5, dim=2):
    grid = np.array([[i % 3, i // 3] for i in range(n)], dtype=float)[:, :dim] * 1.2
    return grid + rng.uniform(-0.1, 0.1, (n, dim))


@case(lambda rng: (_positions(rng),), complex_ok=True)
def lennard_jones(pos):
    n = pos.shape[0]
    energy = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            d = pos[i] - pos[j]
            r2 = np.sum(d * d)
            inv6 = 1.0 / r2 ** 3
            energy += 4.0 * (inv6 * inv6 - inv6)
    return energy


@case(lambda rng: (_positions(rng, 4), rng.uniform(0.5, 1.5, 4)))
def coulomb_energy(pos, q):
    energy = 0.0
    for i in range(len(q)):
        for j in range(len(q)):
            if i == j:
                continue
            dx = pos[i, 0] - pos[j, 0]
            dy = pos[i, 1] - pos[j, 1]
            energy += 0.5 * q[i] * q[j] / math.sqrt(dx * dx + dy * dy)
    return energy


@case(lambda rng: (_positions(rng, 4), float(rng.uniform(0.8, 1.2))))
def spring_network(pos, rest):
    e = 0.0
    n = pos.shape[0]
    for i in range(n):
        for j in range(i):
            r = np.linalg.norm(pos[i] - pos[j])
            e += (r - rest) ** 2
    return e


# --------------------------------------------------------------------------
# piecewise per element, running extrema
# --------------------------------------------------------------------------

def _huber_args(rng):
    r = rng.choice([-1.0, 1.0], 8) * np.where(rng.uniform(size=8) < 0.5,
                                               rng.uniform(0.1, 0.7, 8), rng.uniform(1.3, 2.0, 8))
    return (r, 1.0)


@case(_huber_args, wrt=("r",))
def huber_loop(r, delta):
    total = 0.0
    for ri in r:
        if abs(ri) < delta:
            total += 0.5 * ri * ri
        else:
            total += delta * (abs(ri) - 0.5 * delta)
    return total


@case(lambda rng: (_spread(rng, 7),))
def running_max(x):
    best = -1e300
    for xi in x:
        if xi > best:
            best = xi
    return best


@case(lambda rng: (_spread(rng, 6), _spread(rng, 6)))
def running_min_max_builtin(x, y):
    lo = x[0]
    hi = y[0]
    for i in range(1, len(x)):
        lo = min(lo, x[i])
        hi = max(hi, y[i])
    return hi - lo


@case(lambda rng: (rng.uniform(-1, 1, 6), rng.uniform(-1, 1, 5), 0.5), wrt=("x", "y"))
def soft_dtw(x, y, gamma):
    n, m = len(x), len(y)
    R = np.full((n + 1, m + 1), 1e10)
    R[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost = (x[i - 1] - y[j - 1]) ** 2
            a = -R[i - 1, j - 1] / gamma
            b = -R[i - 1, j] / gamma
            c = -R[i, j - 1] / gamma
            mx = max(a, b, c)
            softmin = -gamma * (mx + math.log(math.exp(a - mx) + math.exp(b - mx)
                                              + math.exp(c - mx)))
            R[i, j] = cost + softmin
    return R[n, m]


@case(lambda rng: (rng.uniform(-1, 1, 20), float(rng.uniform(0.2, 0.8))))
def exponential_moving_average(x, alpha):
    ema = x[0]
    out = np.zeros(len(x))
    out[0] = ema
    for t in range(1, len(x)):
        ema = alpha * x[t] + (1 - alpha) * ema
        out[t] = ema
    return out


@case(lambda rng: (float(rng.uniform(0.5, 1.5)), rng.standard_normal(25), 0.3),
      wrt=("theta",))
def euler_maruyama(theta, noise, sigma):
    x = 1.0
    dt = 0.04
    for k in range(len(noise)):
        x = x + theta * (0.5 - x) * dt + sigma * math.sqrt(dt) * noise[k]
    return x
