"""Scientific and engineering programs written the way physicists, engineers
and quants write them: ODE integrators, pairwise potentials, stencils with
buffer swaps, Newton iterations, option pricing, small mechanics problems
with linear algebra, interpolation and quadrature."""

import math

import numpy as np

from . import case

G = 6.674e-11
M_EARTH = 5.972e24
R_GAS = 8.314
EPS0 = 8.854e-12
ONE_THIRD = 1.0 / 3.0


def _lattice(rng, n, dim, spacing=1.2, jitter=0.05):
    """n points on a jittered line/grid so pair distances stay well apart from 0."""
    side = int(math.ceil(n ** (1.0 / dim)))
    pts = []
    for idx in range(n):
        coord = []
        rest = idx
        for _ in range(dim):
            coord.append(rest % side)
            rest //= side
        pts.append(coord)
    return spacing * np.array(pts, dtype=float) + rng.uniform(-jitter, jitter, (n, dim))


# --------------------------------------------------------------------------
# ODE integrators
# --------------------------------------------------------------------------

@case(lambda rng: (float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.8, 1.2)), 0.05, 40))
def euler_decay(k, y0, dt, nsteps):
    y = y0
    t = 0.0
    for i in range(nsteps):
        y = y + dt * (-k * y + 0.3 * math.cos(2.0 * t))
        t = t + dt
    return y


def _oscillator_rhs(state, omega, gamma=0.1):
    x, v = state
    return np.array([v, -omega ** 2 * x - gamma * v])


@case(lambda rng: (float(rng.uniform(1.0, 2.0)), rng.uniform(-1.0, 1.0, 2), 0.05, 30),
      wrt=("omega", "state0"))
def rk4_damped_oscillator_v2(omega, state0, dt, nsteps):
    state = state0.copy()
    traj = np.zeros((nsteps + 1, 2))
    traj[0] = state
    for n in range(nsteps):
        k1 = _oscillator_rhs(state, omega)
        k2 = _oscillator_rhs(state + 0.5 * dt * k1, omega)
        k3 = _oscillator_rhs(state + 0.5 * dt * k2, omega)
        k4 = _oscillator_rhs(state + dt * k3, omega, gamma=0.1)
        state = state + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        traj[n + 1] = state
    energy = 0.5 * traj[:, 1] ** 2 + 0.5 * omega ** 2 * traj[:, 0] ** 2
    return dt * (np.sum(energy) - 0.5 * (energy[0] + energy[-1])), state


@case(lambda rng: (rng.uniform(-0.5, 0.5, 5), rng.uniform(-0.3, 0.3, 5),
                   float(rng.uniform(0.8, 1.5))))
def symplectic_euler_chain(x0, v0, k):
    """Spring chain, `x, v = x + dt * v, v + dt * a` tuple update."""
    dt = 0.02
    x = x0.copy()
    v = v0.copy()
    for step in range(50):
        a = np.zeros_like(x)
        a[1:] -= k * (x[1:] - x[:-1])
        a[:-1] += k * (x[1:] - x[:-1])
        a -= 0.1 * x
        x, v = x + dt * v, v + dt * a
    return 0.5 * np.sum(v ** 2) + 0.5 * k * np.sum(np.diff(x) ** 2)


@case(lambda rng: (float(rng.uniform(0.3, 0.9)), float(rng.uniform(0.8, 1.5)),
                   float(rng.uniform(9.0, 10.0))))
def pendulum_velocity_verlet(theta0, length, g):
    dt = 0.01
    theta = theta0
    omega = 0.0
    acc = -(g / length) * math.sin(theta)
    for _ in range(100):
        theta += omega * dt + 0.5 * acc * dt * dt
        new_acc = -(g / length) * math.sin(theta)
        omega += 0.5 * (acc + new_acc) * dt
        acc = new_acc
    energy = 0.5 * length ** 2 * omega ** 2 + g * length * (1 - math.cos(theta))
    return theta, energy


@case(lambda rng: (float(rng.uniform(0.5, 2.0)), float(rng.uniform(0.5, 1.5))))
def implicit_euler_stiff(lam, y0):
    """Backward Euler on a 2x2 stiff linear system: solve per step."""
    h = 0.1
    A = np.array([[-lam, 1.0], [0.0, -50.0 * lam]])
    y = np.array([y0, 2.0 * y0])
    M = np.eye(2) - h * A
    for _ in range(15):
        y = np.linalg.solve(M, y)
    return y[0] + y[1]


# --------------------------------------------------------------------------
# pairwise interactions
# --------------------------------------------------------------------------

@case(lambda rng: (_lattice(rng, 6, 3), float(rng.uniform(0.8, 1.2)),
                   float(rng.uniform(0.9, 1.1))))
def lennard_jones_energy(pos, epsilon, sigma):
    n = pos.shape[0]
    r = pos[:, None, :] - pos[None, :, :]
    d2 = np.sum(r ** 2, axis=-1)
    iu = np.triu_indices(n, k=1)
    d2_pairs = d2[iu]
    sr6 = (sigma ** 2 / d2_pairs) ** 3
    return 4.0 * epsilon * np.sum(sr6 ** 2 - sr6)


@case(lambda rng: (_lattice(rng, 5, 2), rng.uniform(0.5, 2.0, 5)))
def gravity_accelerations_v2(pos, mass):
    """Accelerations with the diagonal masked by np.where."""
    diff = pos[None, :, :] - pos[:, None, :]
    dist = np.sqrt(np.sum(diff ** 2, axis=2))
    off = ~np.eye(len(mass), dtype=bool)
    dist = np.where(off, dist, 1.0)
    inv3 = np.where(off, 1.0 / dist ** 3, 0.0)
    acc = G * 1e10 * np.einsum("ij,ijk->ik", inv3 * mass[None, :], diff)
    return acc


@case(lambda rng: (_lattice(rng, 5, 2), rng.uniform(-1.0, 1.0, 5)))
def coulomb_energy_mask(pos, charge):
    n = len(charge)
    r = pos[:, None, :] - pos[None, :, :]
    dist = np.linalg.norm(r, axis=-1)
    mask = ~np.eye(n, dtype=bool)
    qq = charge[:, None] * charge[None, :]
    pair = np.where(mask, qq / np.where(mask, dist, 1.0), 0.0)
    return 0.5 * np.sum(pair) / (4 * math.pi * EPS0) * 1e-9


@case(lambda rng: (_lattice(rng, 4, 3), rng.uniform(-0.5, 0.5, (4, 3)), rng.uniform(1.0, 2.0, 4)))
def angular_momentum_and_spread(pos, vel, mass):
    com = np.sum(mass[:, None] * pos, axis=0) / np.sum(mass)
    rel = pos - com
    L = np.sum(mass[:, None] * np.cross(rel, vel), axis=0)
    radii = np.linalg.norm(rel, axis=1)
    return L, np.max(radii) + np.mean(radii)


# --------------------------------------------------------------------------
# finite-difference stencils, heat and wave equations
# --------------------------------------------------------------------------

@case(lambda rng: (1.0 + 0.3 * np.sin(np.linspace(0, np.pi, 12)) + rng.uniform(-0.05, 0.05, 12),
                   float(rng.uniform(0.2, 0.4)), 25))
def heat_1d_buffer_swap(u0, alpha, nsteps):
    u = u0.copy()
    unew = np.empty_like(u)
    for n in range(nsteps):
        unew[1:-1] = u[1:-1] + alpha * (u[2:] - 2 * u[1:-1] + u[:-2])
        unew[0] = u0[0]
        unew[-1] = u0[-1]
        u, unew = unew, u
    return u


@case(lambda rng: (rng.uniform(0.0, 1.0, (5, 6)), float(rng.uniform(0.5, 1.5))))
def laplacian_periodic_roll(u, h):
    lap = (np.roll(u, 1, axis=0) + np.roll(u, -1, axis=0) + np.roll(u, 1, axis=1)
           + np.roll(u, -1, axis=1) - 4 * u) / h ** 2
    return np.sum(u * lap) * h ** 2


@case(lambda rng: (np.sin(np.pi * np.linspace(0, 1, 15)) * rng.uniform(0.5, 1.0),
                   float(rng.uniform(0.5, 0.9))))
def wave_equation_three_buffers(u0, c):
    nx = len(u0)
    dx = 1.0 / (nx - 1)
    dt = 0.5 * dx
    r2 = (c * dt / dx) ** 2
    u_prev = u0.copy()
    u = u0.copy()
    u[1:-1] = u0[1:-1] + 0.5 * r2 * (u0[2:] - 2 * u0[1:-1] + u0[:-2])
    u_next = np.zeros(nx)
    for n in range(20):
        u_next[1:-1] = 2 * u[1:-1] - u_prev[1:-1] + r2 * (u[2:] - 2 * u[1:-1] + u[:-2])
        u_next[0] = 0.0
        u_next[-1] = 0.0
        u_prev, u, u_next = u, u_next, u_prev
    return u


@case(lambda rng: (rng.uniform(0.0, 1.0, (6, 6)), float(rng.uniform(0.5, 1.5))))
def gauss_seidel_poisson(f, boundary):
    n = f.shape[0]
    u = np.zeros((n, n))
    u[0, :] = boundary
    u[:, 0] = boundary
    h2 = (1.0 / (n - 1)) ** 2
    for sweep in range(15):
        for i in range(1, n - 1):
            for j in range(1, n - 1):
                u[i, j] = 0.25 * (u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1]
                                  - h2 * f[i, j])
    return u[1:-1, 1:-1].sum()


@case(lambda rng: (rng.uniform(0.5, 1.5, 8), float(rng.uniform(0.2, 0.5))))
def crank_nicolson_thomas(u0, r):
    """Crank-Nicolson heat step with a hand-written tridiagonal (Thomas) solver."""
    n = len(u0)
    a = np.full(n, -r / 2)
    b = np.full(n, 1 + r)
    c = np.full(n, -r / 2)
    u = u0.copy()
    for step in range(5):
        d = u.copy()
        d[1:-1] = r / 2 * u[:-2] + (1 - r) * u[1:-1] + r / 2 * u[2:]
        cp = np.zeros(n)
        dp = np.zeros(n)
        cp[0] = c[0] / b[0]
        dp[0] = d[0] / b[0]
        for i in range(1, n):
            m = b[i] - a[i] * cp[i - 1]
            cp[i] = c[i] / m
            dp[i] = (d[i] - a[i] * dp[i - 1]) / m
        x = np.zeros(n)
        x[-1] = dp[-1]
        for i in range(n - 2, -1, -1):
            x[i] = dp[i] - cp[i] * x[i + 1]
        u = x
    return u


# --------------------------------------------------------------------------
# root finding
# --------------------------------------------------------------------------

@case(lambda rng: (float(rng.uniform(0.5, 2.5)), float(rng.uniform(0.1, 0.6))))
def kepler_true_anomaly(M, e):
    E = M if e < 0.8 else math.pi
    delta = 1.0
    it = 0
    while abs(delta) > 1e-14 and it < 50:
        delta = (E - e * math.sin(E) - M) / (1 - e * math.cos(E))
        E -= delta
        it += 1
    a = 1.0
    b = a * math.sqrt(1 - e * e)
    x = a * (math.cos(E) - e)
    y = b * math.sin(E)
    nu = math.atan2(y, x)
    return nu, math.hypot(x, y)


def _vdw_pressure(V, T, a=0.364, b=4.27e-5):
    return R_GAS * T / (V - b) - a / V ** 2


@case(lambda rng: (float(rng.uniform(300.0, 400.0)), float(rng.uniform(2.0e6, 4.0e6))))
def van_der_waals_volume(T, P):
    """Newton on the van der Waals equation for the molar volume."""
    V = R_GAS * T / P
    for _ in range(30):
        f = _vdw_pressure(V, T) - P
        dfdV = -R_GAS * T / (V - 4.27e-5) ** 2 + 2 * 0.364 / V ** 3
        V = V - f / dfdV
    return V * 1e3


@case(lambda rng: (float(rng.uniform(2.0, 5.0)),))
def bisection_then_newton(c):
    """Bracket sqrt(c) by bisection, polish with Newton (the usual hybrid)."""
    lo, hi = 0.0, max(c, 1.0)
    while hi - lo > 1e-3:
        mid = 0.5 * (lo + hi)
        if mid * mid - c > 0:
            hi = mid
        else:
            lo = mid
    x = 0.5 * (lo + hi)
    for _ in range(6):
        x = x - (x * x - c) / (2 * x)
    return x


# --------------------------------------------------------------------------
# mechanics with linear algebra
# --------------------------------------------------------------------------

@case(lambda rng: (rng.uniform(50.0, 150.0, 5), rng.uniform(1.0, 2.0, 4), rng.uniform(-1.0, 1.0, 4)))
def spring_mass_chain_modes(k, m, f):
    """Fixed-free chain: static displacement and natural frequencies."""
    n = len(m)
    K = np.zeros((n, n))
    for i in range(n):
        K[i, i] += k[i]
        if i + 1 < n:
            K[i, i] += k[i + 1]
            K[i, i + 1] -= k[i + 1]
            K[i + 1, i] -= k[i + 1]
    u = np.linalg.solve(K, f)
    Minv_sqrt = np.diag(1.0 / np.sqrt(m))
    w2 = np.linalg.eigvalsh(Minv_sqrt @ K @ Minv_sqrt)
    return u, np.sqrt(w2)


@case(lambda rng: (rng.uniform(1.0, 3.0, 4), float(rng.uniform(0.5, 1.0))))
def fem_bar_assembly(EA, load):
    """1-D bar FEM: element matrices added into the global matrix with +=."""
    ne = len(EA)
    L = 1.0 / ne
    Kg = np.zeros((ne + 1, ne + 1))
    for e in range(ne):
        ke = EA[e] / L * np.array([[1.0, -1.0], [-1.0, 1.0]])
        Kg[e:e + 2, e:e + 2] += ke
    F = np.zeros(ne + 1)
    F[-1] = load
    Kr = Kg[1:, 1:]
    u = np.zeros(ne + 1)
    u[1:] = np.linalg.solve(Kr, F[1:])
    compliance = F @ u
    return compliance, np.linalg.det(Kr) ** (1.0 / ne)


@case(lambda rng: (float(rng.uniform(0.2, 1.2)), float(rng.uniform(0.2, 1.2)),
                   rng.uniform(0.5, 1.0, 2)))
def two_link_arm_jacobian(q1, q2, lengths):
    l1, l2 = lengths
    c1, s1 = math.cos(q1), math.sin(q1)
    c12, s12 = math.cos(q1 + q2), math.sin(q1 + q2)
    tip = np.array([l1 * c1 + l2 * c12, l1 * s1 + l2 * s12])
    J = np.array([[-l1 * s1 - l2 * s12, -l2 * s12],
                  [l1 * c1 + l2 * c12, l2 * c12]])
    manip = abs(np.linalg.det(J))
    Jinv = np.linalg.inv(J)
    dq = Jinv @ np.array([0.01, -0.02])
    return tip, manip, dq


@case(lambda rng: (rng.uniform(-1.0, 1.0, (5, 3)), rng.uniform(0.5, 1.5, 5)))
def inertia_tensor_principal_v2(pts, mass):
    I = np.zeros((3, 3))
    for p, m in zip(pts, mass):
        I += m * (np.dot(p, p) * np.eye(3) - np.outer(p, p))
    w = np.linalg.eigvalsh(I)
    return w, np.trace(I)


@case(lambda rng: (float(rng.uniform(0.1, 1.4)), rng.uniform(-1.0, 1.0, (6, 2))))
def rotate_points(theta, pts):
    c, s = np.cos(theta), np.sin(theta)
    R = np.array([[c, -s], [s, c]])
    rotated = pts @ R.T
    r = np.hypot(rotated[:, 0], rotated[:, 1])
    phi = np.arctan2(rotated[:, 1], rotated[:, 0] + 3.0)
    return rotated, r.sum() + phi.sum()


# --------------------------------------------------------------------------
# finance
# --------------------------------------------------------------------------

def _norm_cdf(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


@case(lambda rng: (float(rng.uniform(90, 110)), float(rng.uniform(95, 105)),
                   float(rng.uniform(0.01, 0.05)), float(rng.uniform(0.15, 0.35)),
                   float(rng.uniform(0.5, 2.0))))
def black_scholes_call_delta(S, K, r, sigma, T):
    d1 = (math.log(S / K) + (r + 0.5 * sigma ** 2) * T) / (sigma * math.sqrt(T))
    d2 = d1 - sigma * math.sqrt(T)
    call = S * _norm_cdf(d1) - K * math.exp(-r * T) * _norm_cdf(d2)
    delta = _norm_cdf(d1)
    return call, delta


@case(lambda rng: (100.0 + float(rng.uniform(-5, 5)), float(rng.uniform(0.15, 0.3)),
                   rng.standard_normal((64, 12)), 40.0), wrt=("S0", "sigma"))
def monte_carlo_asian(S0, sigma, Z, K):
    r = 0.03
    T = 1.0
    n_steps = Z.shape[1]
    dt = T / n_steps
    increments = (r - 0.5 * sigma ** 2) * dt + sigma * math.sqrt(dt) * Z
    log_paths = np.log(S0) + np.cumsum(increments, axis=1)
    paths = np.exp(log_paths)
    avg = paths.mean(axis=1)
    payoff = np.maximum(avg - K, 0.0)
    return math.exp(-r * T) * payoff.mean()


@case(lambda rng: (float(rng.uniform(95, 105)), float(rng.uniform(0.2, 0.3)), 30),
      wrt=("S", "sigma"))
def binomial_tree_european_put(S, sigma, n):
    K = 200.0
    r = 0.02
    T = 1.0
    dt = T / n
    u = math.exp(sigma * math.sqrt(dt))
    d = 1.0 / u
    p = (math.exp(r * dt) - d) / (u - d)
    disc = math.exp(-r * dt)
    V = np.zeros(n + 1)
    for j in range(n + 1):
        V[j] = max(K - S * u ** j * d ** (n - j), 0.0)
    for i in range(n - 1, -1, -1):
        for j in range(i + 1):
            V[j] = disc * (p * V[j + 1] + (1 - p) * V[j])
    return V[0]


@case(lambda rng: (rng.uniform(0.01, 0.05, 10), np.linspace(0.5, 5.0, 10)), wrt=("hazard",))
def survival_and_bond_price(hazard, times):
    dt = np.diff(np.concatenate([[0.0], times]))
    survival = np.cumprod(np.exp(-hazard * dt))
    cum_hazard = np.cumsum(hazard * dt)
    discount = np.exp(-0.03 * times)
    coupon = 0.05 * np.sum(discount * survival * dt)
    return coupon + discount[-1] * survival[-1], cum_hazard[-1]


# --------------------------------------------------------------------------
# polynomials, interpolation, quadrature
# --------------------------------------------------------------------------

@case(lambda rng: (rng.uniform(-1.0, 1.0, 6), rng.uniform(-1.2, 1.2, 7)), wrt=("coeffs",))
def horner_and_polyval_v2(coeffs, x):
    out = np.zeros_like(x)
    for c in coeffs:
        out = out * x + c
    deriv = np.polyval(coeffs[:-1] * np.arange(len(coeffs) - 1, 0, -1), x)
    return out - np.polyval(coeffs, x) + np.sum(out ** 2) + deriv


@case(lambda rng: (np.array([0.0, 0.7, 1.5, 2.2, 3.0, 4.1]), rng.uniform(-1.0, 1.0, 6),
                   np.array([0.15, 0.9, 1.85, 2.5, 3.95])), wrt=("fp",))
def interp_table(xp, fp, xq):
    vals = np.interp(xq, xp, fp)
    return np.sum(vals ** 2), vals


@case(lambda rng: (float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.5, 2.0))))
def quadrature_trapezoid_simpson_v2(a, b):
    x = np.linspace(0.0, 2.0, 21)
    y = np.exp(-a * x ** 2) * np.cos(b * x)
    trap = np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x))
    h = x[1] - x[0]
    w = np.ones(len(x))
    w[1:-1:2] = 4
    w[2:-1:2] = 2
    simpson = h / 3 * np.sum(w * y)
    return trap, simpson


# --------------------------------------------------------------------------
# piecewise physics
# --------------------------------------------------------------------------

def _drag_coefficient(Re):
    if Re < 1.0:
        return 24.0 / Re
    elif Re < 1000.0:
        return 24.0 / Re * (1 + 0.15 * Re ** 0.687)
    else:
        return 0.44


@case(lambda rng: (float(rng.uniform(0.5, 2.0)), float(rng.uniform(1e-4, 3e-4))), fd_scale=1e-4)
def falling_sphere_drag(v, d):
    rho, mu = 1.2, 1.8e-5
    Re = rho * v * d / mu
    Cd = _drag_coefficient(Re)
    area = math.pi * d ** 2 / 4
    return 0.5 * rho * v ** 2 * Cd * area * 1e6


@case(lambda rng: (np.array([-0.02, -0.004, 0.0005, 0.0015, 0.006, 0.03]) + rng.uniform(-1e-4, 1e-4, 6),
                   float(rng.uniform(180e3, 220e3)), float(rng.uniform(240.0, 260.0))),
      fd_scale=1e-3)
def bilinear_material(strain, E, sigma_y):
    eps_y = sigma_y / E
    elastic = E * strain
    plastic = np.sign(strain) * (sigma_y + 0.05 * E * (np.abs(strain) - eps_y))
    stress = np.where(np.abs(strain) < eps_y, elastic, plastic)
    regime = np.select([strain < -eps_y, strain > eps_y], [-1.0, 1.0], default=0.0)
    return stress / 1e3, np.sum(regime * stress) / 1e3


@case(lambda rng: (float(rng.uniform(6.6e6, 7.5e6)), float(rng.uniform(0.01, 0.1))))
def orbit_period_and_escape(a, ecc, mass=M_EARTH):
    mu = G * mass
    period = 2 * math.pi * math.sqrt(a ** 3 / mu)
    r_peri = a * (1 - ecc)
    v_peri = math.sqrt(mu * (2 / r_peri - 1 / a))
    v_esc = math.sqrt(2 * mu / r_peri)
    return period / 3600.0, v_esc - v_peri


def _spring_force(x, k=10.0, rest=0.5, damping=0.0, v=0.0):
    return -k * (x - rest) - damping * v


@case(lambda rng: (rng.uniform(0.4, 0.6, 3), float(rng.uniform(5.0, 15.0)), 3))
def helper_kwargs_springs(x, k, n):
    total = 0.0
    for i in range(n):
        total += _spring_force(x[i], k=k) ** 2
        total += _spring_force(x[i], rest=0.4, k=2 * k, damping=0.1, v=x[i] / n)
    return total / n


@case(lambda rng: (rng.uniform(0.5, 1.5, 8).astype(np.float32), float(rng.uniform(0.5, 2.0))),
      wrt=("scale",))
def float32_data_mixed_ints(signal, scale):
    n = len(signal)
    mean = signal.sum() / n
    centred = signal - mean
    weights = np.arange(1, n + 1)
    return scale ** 2 * float(np.sum(weights * centred ** 2)) / (n - 1) + scale * n


@case(lambda rng: (rng.uniform(0.1, 1.0, (4, 5)), float(rng.uniform(0.5, 1.5))))
def ideal_gas_mixture_grid(conc, T):
    P = conc * R_GAS * T
    P[:, 0] += 0.5 * T
    P[1:3, 1:4] *= 1.1
    P[-1] -= P[0]
    return P.sum(axis=0)
