"""Scalar code: plain floats, the math module, branches and small iterations."""

import math
from math import exp, sqrt, log

import numpy as np

from . import case


def _u(rng, lo, hi, n=1):
    """n uniform floats in [lo, hi) as a tuple of Python floats."""
    return tuple(float(v) for v in rng.uniform(lo, hi, n))


# --------------------------------------------------------------------------
# helpers called by the cases below (plain module-level functions)
# --------------------------------------------------------------------------

def _sq(x):
    return x * x


def _cube(x):
    return x * _sq(x)


def softplus(x):
    if x > 0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


def logistic(x):
    return 1.0 / (1.0 + exp(-x))


def _norm2(x, y):
    return sqrt(_sq(x) + _sq(y))


def _to_polar(x, y):
    return math.hypot(x, y), math.atan2(y, x)


def _affine(x, scale=2.0, shift=0.0):
    return scale * x + shift


def _normal_cdf(z):
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _piecewise(x):
    if x < -1.0:
        y = -x * x
    elif x < 1.0:
        y = math.sin(x)
    else:
        y = x ** 3 - 0.5
    return y


# --------------------------------------------------------------------------
# arithmetic and the math module
# --------------------------------------------------------------------------

@case(lambda rng: _u(rng, -2.0, 2.0), complex_ok=True)
def poly_cubic(x):
    return 3.0 * x ** 3 - 2.0 * x ** 2 + x - 7.0


@case(lambda rng: _u(rng, 0.3, 2.0, 2), complex_ok=True)
def rational(x, y):
    return (x * x + y) / (1.0 + x * y * y) - 1 / x


@case(lambda rng: _u(rng, 0.2, 1.2))
def trig_mix(x):
    return math.sin(x) * math.cos(2.0 * x) + math.tan(x / 3.0)


@case(lambda rng: _u(rng, 0.2, 1.5, 2))
def exp_log(x, y):
    return exp(x) * math.log(y) + math.log1p(x * y) - math.expm1(-y)


@case(lambda rng: _u(rng, -1.0, 1.0))
def hyperbolic(x):
    return math.sinh(x) + math.cosh(x) / 2 + math.tanh(3 * x)


@case(lambda rng: _u(rng, -0.6, 0.6))
def inverse_trig(x):
    return math.asin(x) + math.acos(x / 2) + math.atan(4 * x)


@case(lambda rng: _u(rng, 0.5, 2.0) + _u(rng, -1.0, 1.0))
def atan2_hypot(x, y):
    r = math.hypot(x, y)
    theta = math.atan2(y, x)
    return r * math.cos(2 * theta)


@case(lambda rng: _u(rng, 0.2, 3.0))
def sqrt_chain(x):
    return sqrt(1.0 + sqrt(x)) + x ** 0.5 + x ** -1 - 1.0 / x ** 2


@case(lambda rng: _u(rng, 0.5, 2.0) + _u(rng, -1.5, 2.5))
def power_variable_exponent(x, y):
    return x ** y


@case(lambda rng: _u(rng, 0.5, 2.0, 2))
def power_mixed(x, y):
    return 2.0 ** x + x ** 2.5 + y ** x + (x * y) ** (1.0 / 3.0)


@case(lambda rng: _u(rng, 0.5, 2.0, 2))
def pow_builtin(x, y):
    return pow(x, y) + math.pow(y, 0.5) + pow(x, 3)


@case(lambda rng: _u(rng, 0.5, 1.5) + (3,))
def integer_power(x, n):
    return x ** n + n * x ** (n - 1)


def _divmod_args(rng):
    y = float(rng.uniform(1.0, 2.0))
    return (y * (2.0 + float(rng.uniform(0.3, 0.7))), y)


@case(_divmod_args, fd_scale=0.1)
def floordiv_mod(x, y):
    q = x // y
    r = x % y
    return q * y + 2.0 * r + r * r


@case(lambda rng: _u(rng, 1.0, 5.0), fd_scale=0.1)
def wrap_angle(theta):
    wrapped = theta % (2 * math.pi)
    return math.sin(wrapped) + wrapped


@case(lambda rng: _u(rng, 0.5, 3.0, 2))
def log_variants(x, y):
    return math.log(x, 2.0) + math.log2(y) + math.log10(x * y) + log(x)


@case(lambda rng: _u(rng, 0.5, 2.0))
def exp2_cbrt(x):
    return math.exp2(x) + math.cbrt(x) + math.degrees(x) + math.radians(x)


@case(lambda rng: _u(rng, 0.3, 2.0, 2))
def gaussian_pdf(x, sigma):
    mu = 1.0
    z = (x - mu) / sigma
    return math.exp(-0.5 * z * z) / (sigma * math.sqrt(2 * math.pi))


@case(lambda rng: (float(rng.uniform(90, 110)), 100.0, float(rng.uniform(0.5, 2.0)),
                   float(rng.uniform(0.01, 0.05)), float(rng.uniform(0.15, 0.4))))
def black_scholes_call(S, K, T, r, sigma):
    d1 = (math.log(S / K) + (r + 0.5 * sigma ** 2) * T) / (sigma * math.sqrt(T))
    d2 = d1 - sigma * math.sqrt(T)
    return S * _normal_cdf(d1) - K * math.exp(-r * T) * _normal_cdf(d2)


@case(lambda rng: _u(rng, 0.5, 4.0, 2))
def log_beta(a, b):
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


@case(lambda rng: _u(rng, 0.3, 1.5, 2))
def augmented_assignments(x, y):
    acc = x
    acc *= y
    acc += 2
    acc /= 1.0 + x * x
    acc -= y
    acc **= 2
    return acc


@case(lambda rng: _u(rng, 0.3, 1.5, 2), complex_ok=True)
def chained_assignment(x, y):
    a = b = x * 2
    a = a + y
    b = b * y
    return a * b


@case(lambda rng: _u(rng, -2.0, 2.0), complex_ok=True)
def identity(x):
    return x


@case(lambda rng: _u(rng, -2.0, 2.0))
def constant_output(x):
    return 3.0


@case(lambda rng: _u(rng, -2.0, 2.0, 2), complex_ok=True)
def ignores_second_arg(x, y):
    return x * x


@case(lambda rng: _u(rng, -2.0, 2.0), complex_ok=True)
def unary_ops(x):
    y = -x
    z = +y
    return -(z * z * x) + -3.0 * -x


@case(lambda rng: _u(rng, 0.5, 2.0) + (7,))
def mixes_ints(x, n):
    k = n // 2
    m = n % 3
    return x * k + m + float(n) * x - x / n


@case(lambda rng: _u(rng, 0.5, 2.0))
def float_cast(x):
    y = float(x) * 2.0
    return y * math.sin(float(y))


@case(lambda rng: (np.float64(rng.uniform(0.5, 2.0)), np.float64(rng.uniform(-1, 1))),
      complex_ok=True)
def numpy_scalars(x, y):
    return np.sin(x) * np.exp(y) + np.sqrt(x) * y ** 2


@case(lambda rng: _u(rng, 0.5, 2.0, 3))
def builtin_sum_tuple(x, y, z):
    return sum((x, y * z, x * y)) + x


# --------------------------------------------------------------------------
# branches
# --------------------------------------------------------------------------

@case(lambda rng: _u(rng, -0.5, 0.5))
def if_elif_else(x):
    return _piecewise(x - 2.5) + _piecewise(x) + _piecewise(x + 2.5)


@case(lambda rng: (float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0)),))
def if_else_sign(x):
    if x > 0:
        y = math.log(x) + x
    else:
        y = x * x * math.exp(x)
    return y


@case(lambda rng: (float(rng.uniform(-2.0, -0.3)), float(rng.uniform(0.3, 2.0))))
def ternary(x, y):
    a = x * x if x > 0 else -x * x * x
    b = math.sqrt(y) if y > 0 else 0.0
    return a + b


@case(lambda rng: _u(rng, 0.1, 0.9))
def ternary_nested(x):
    return x ** 2 if x < 0.0 else (math.sin(x) if x < 1.0 else math.cos(x))


def _abs_args(rng):
    x = float(rng.uniform(-2.0, 2.0))
    return (x, x + float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.5)))


@case(_abs_args)
def abs_min_max(x, y):
    return abs(x - y) + max(x, y) * min(x, y) - max(x, y, 4.0) + abs(x + 5.0)


@case(lambda rng: _u(rng, 0.2, 0.8), wrt=("x",))
def clamp_defaults(x, lo=0.0, hi=1.0):
    return min(max(x, lo), hi) * x


@case(lambda rng: _u(rng, -2.0, 2.0))
def smooth_abs(x, eps=1e-2):
    return math.sqrt(x * x + eps)


@case(lambda rng: _u(rng, 0.2, 0.8))
def chained_comparison(x):
    if 0.0 < x < 1.0:
        return x * (1.0 - x)
    return 0.0


@case(lambda rng: (float(rng.uniform(0.5, 2.0)), float(rng.uniform(-2.0, -0.5))))
def boolean_ops(x, y):
    if x > 0 and y > 0:
        r = x * y
    elif x > 0 or y > 0:
        r = x - y * y
    else:
        r = 0.0
    if not (x < 0):
        r = r * 2.0
    return r


@case(lambda rng: (float(rng.uniform(2.5, 4.0)),))
def early_return(x):
    if x > 2.0:
        return math.log(x) * x
    y = x * x
    return y + 1.0


@case(lambda rng: (float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 3.0)),))
def softplus_branch(x):
    return softplus(x) + softplus(-2.0 * x)


@case(lambda rng: (float(rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 1.0)),
                   float(rng.uniform(0.1, 0.9))))
def copysign_fabs(x, y):
    s = math.copysign(y, x)
    return s * math.fabs(x - 2.0) + math.fabs(y)


# --------------------------------------------------------------------------
# while loops
# --------------------------------------------------------------------------

@case(lambda rng: _u(rng, 0.5, 5.0))
def newton_sqrt(a):
    x = a
    while abs(x * x - a) > 1e-13 * a:
        x = 0.5 * (x + a / x)
    return x


@case(lambda rng: _u(rng, 0.5, 10.0))
def newton_cubic(c):
    x = 1.0
    it = 0
    while it < 50:
        fx = x ** 3 + x - c
        step = fx / (3 * x * x + 1)
        x = x - step
        it += 1
        if abs(step) < 1e-14:
            break
    return x


@case(lambda rng: (float(rng.uniform(0.5, 2.5)), float(rng.uniform(0.05, 0.6))))
def kepler_newton(M, e):
    E = M
    while True:
        dE = (E - e * math.sin(E) - M) / (1.0 - e * math.cos(E))
        E -= dE
        if abs(dE) < 1e-13:
            break
    return E


@case(lambda rng: _u(rng, -1.5, 1.5))
def series_exp(x):
    term = 1.0
    total = 1.0
    k = 1
    while abs(term) > 1e-17:
        term *= x / k
        total += term
        k += 1
    return total


@case(lambda rng: _u(rng, 0.5, 3.0), kwargs={"iters": 25})
def babylonian_iters(a, iters=10):
    x = 1.0
    i = 0
    while i < iters:
        x = (x + a / x) / 2
        i += 1
    return x


# --------------------------------------------------------------------------
# tuple returns and helpers
# --------------------------------------------------------------------------

@case(lambda rng: _u(rng, 0.5, 2.0) + _u(rng, -1.0, 1.0))
def polar(x, y):
    r = math.sqrt(x * x + y * y)
    theta = math.atan2(y, x)
    return r, theta


@case(lambda rng: _u(rng, -1.0, 1.0))
def sincos_square(x):
    return math.sin(x), math.cos(x), x * x


@case(lambda rng: _u(rng, -1.0, 1.0, 2))
def uses_helpers(x, y):
    return softplus(x - y + 3.0) * _norm2(x, y) + _cube(y)


@case(lambda rng: _u(rng, 0.5, 2.0) + _u(rng, -1.0, 1.0))
def helper_tuple_unpack(x, y):
    r, t = _to_polar(x, y)
    return r * math.cos(t) + r * r * math.sin(t)


@case(lambda rng: _u(rng, -1.0, 1.0, 2))
def helper_keywords(x, y):
    return _affine(x, shift=y) + _affine(y, 0.5) + _affine(x * y, scale=y, shift=1.0)


@case(lambda rng: _u(rng, -3.0, 3.0))
def logistic_chain(x):
    s = logistic(x)
    return s * (1.0 - s) + logistic(logistic(x))


@case(lambda rng: _u(rng, 0.5, 2.0) + (4,))
def helper_with_int(x, n):
    return integer_power(x, n) + _sq(n) * x


@case(lambda rng: _u(rng, -1.0, 1.0, 3))
def returns_pair_of_helpers(x, y, z):
    a = _sq(x + y)
    b = _cube(y - z)
    return a + b, a * b


@case(lambda rng: _u(rng, 0.5, 1.5, 2))
def ackley_2d(x, y):
    a = -20.0 * math.exp(-0.2 * math.sqrt(0.5 * (x * x + y * y)))
    b = -math.exp(0.5 * (math.cos(2 * math.pi * x) + math.cos(2 * math.pi * y)))
    return a + b + math.e + 20.0


@case(lambda rng: _u(rng, 0.5, 2.0, 2))
def projectile_range(v, angle):
    g = 9.81
    return v * v * math.sin(2 * angle) / g, v * math.sin(angle) / g
