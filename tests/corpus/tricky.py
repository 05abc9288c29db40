"""Code that is easy to get subtly wrong in a source transformation: names that
look like generated ones, variables whose activity changes, aliasing and
in-place updates on views, helpers that write into their arguments, mixed
int/float outputs."""

import math
from math import exp

import numpy as np

from . import case


def _away(rng, n, lo=0.3, hi=1.5):
    return rng.choice([-1.0, 1.0], n) * rng.uniform(lo, hi, n)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def _fill_squares(out, x):
    out[:] = x ** 2


def _accumulate(out, x, w):
    for i in range(len(x)):
        out[i] += w * x[i]


def _mul(a, b):
    return a * b


def _scale_inplace(v, s):
    v *= s
    return v


# --------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------

@case(lambda rng: (float(rng.uniform(0.2, 1.2)),))
def names_like_generated(x):
    exp_x = 3.0
    d_x = x * 2.0
    sin_x = math.sin(x) + exp_x
    y = exp(x) * exp_x + d_x * sin_x
    return y


@case(lambda rng: (float(rng.uniform(0.2, 1.2)),))
def locals_named_like_reserved_aliases(x):
    _np = 2.0
    _math = 0.5
    _rt = 1.5
    y = math.sin(x) * _np + np.cos(x) * _math * _rt
    return y


@case(lambda rng: (float(rng.uniform(0.2, 1.2)), float(rng.uniform(0.2, 1.2))))
def parameter_named_like_a_tangent(d_x, x):
    return d_x * x + math.sin(d_x)


@case(lambda rng: (float(rng.uniform(0.2, 1.2)),))
def rebinding_parameter(x):
    x = x * 2
    x = math.sin(x) + x
    x += 1.0
    return x


@case(lambda rng: (rng.uniform(0.5, 1.5, 4),))
def local_shadows_builtin(x):
    total = 0.0
    for value in x:
        total += value
    max_ = x.max()
    sum_ = total * max_
    return sum_


# --------------------------------------------------------------------------
# activity changes
# --------------------------------------------------------------------------

@case(lambda rng: (float(rng.uniform(0.5, 1.2)), 4))
def int_accumulator_becomes_float(x, n):
    s = 0
    acc = 1
    for i in range(n):
        s = s + x * i
        acc *= x
    return s + acc


@case(lambda rng: (float(rng.uniform(0.5, 1.2)), 1))
def active_in_one_branch_only(x, flag):
    if flag > 0:
        y = x * 2.0
    else:
        y = 1.0
    return y * y


@case(lambda rng: (float(rng.uniform(0.5, 1.2)), -1))
def constant_in_taken_branch(x, flag):
    if flag > 0:
        y = x * 2.0
    else:
        y = 1.0
    return y * y + x


@case(lambda rng: (float(rng.uniform(0.5, 1.2)),))
def while_active_after_first_iteration(x):
    y = 0
    k = 0
    while k < 3:
        if k > 0:
            y = y + x * k
        k += 1
    return y


@case(lambda rng: (rng.uniform(-1.0, 1.0, 4),))
def zeros_then_active_scalar_store(x):
    out = np.zeros(3)
    out[1] = x[0] * x[1]
    out[2] = 5.0
    return out


# --------------------------------------------------------------------------
# aliasing and in-place updates
# --------------------------------------------------------------------------

@case(lambda rng: (rng.uniform(-1.0, 1.0, 5),))
def inplace_through_view(x):
    y = x.copy()
    v = y[1:]
    v *= 2.0
    v += y[0]
    return y


@case(lambda rng: (rng.uniform(-1.0, 1.0, 5),))
def overlapping_inplace(x):
    y = x.copy()
    y[1:] *= y[:-1]
    y[1:] += y[:-1]
    return y


@case(lambda rng: (rng.uniform(0.5, 1.5, 4), rng.uniform(-1.0, 1.0, 4)))
def alias_then_inplace(x0, v):
    x = x0.copy()
    y = x
    for _ in range(3):
        y += 0.1 * v * x
        x *= 1.0 + 0.05 * v
    return x, y


@case(lambda rng: (rng.uniform(0.5, 1.5, 4),))
def alias_square_inplace(a):
    b = a.copy()
    t = b
    t *= b
    t /= 1.0 + b
    return b


@case(lambda rng: (rng.uniform(-1.0, 1.0, (2, 3)), rng.uniform(0.5, 1.5, 3)))
def broadcast_inplace(A, b):
    B = A.copy()
    B += b[None, :]
    B *= b
    B[0] -= B[1]
    return B


@case(lambda rng: (rng.uniform(-1.0, 1.0, 6),))
def strided_stores(x):
    y = np.zeros_like(x)
    y[::2] = x[::2] ** 2
    y[1::2] = -x[1::2]
    y[::-1] += x
    return y


@case(lambda rng: (rng.uniform(-1.0, 1.0, 4),))
def helper_writes_into_argument(x):
    out = np.zeros(len(x))
    _fill_squares(out, x)
    _accumulate(out, x, 0.5)
    return out.sum() + out[0] * out[-1]


@case(lambda rng: (rng.uniform(-1.0, 1.0, 4), float(rng.uniform(0.5, 1.5))))
def helper_scales_in_place_and_returns(x, s):
    v = x.copy()
    w = _scale_inplace(v, s)
    return v + w


@case(lambda rng: (rng.uniform(-1.0, 1.0, 4), rng.uniform(-1.0, 1.0, 4)))
def swap_arrays_then_write(a, b):
    p = a.copy()
    q = b.copy()
    p, q = q, p
    p[0] = q[1] * 3.0
    return p - q


# --------------------------------------------------------------------------
# helpers called with different activity patterns
# --------------------------------------------------------------------------

@case(lambda rng: (float(rng.uniform(0.5, 1.2)),))
def helper_different_activity(x):
    return _mul(x, 2.0) + _mul(2.0, x) + _mul(x, x) + _mul(3, 4)


# --------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------

@case(lambda rng: (float(rng.uniform(0.5, 1.2)),))
def tuple_with_int_output(x):
    return x * 2, 3


@case(lambda rng: (float(rng.uniform(0.5, 1.2)), float(rng.uniform(0.5, 1.2))))
def nested_tuple_output(x, y):
    return x, (y * x, (x - y,))


@case(lambda rng: (float(rng.uniform(0.5, 1.2)),))
def returns_constant_array(x):
    return np.ones(3) * 2.0


@case(lambda rng: (float(rng.uniform(1.2, 1.4)),))
def round_floor_int(x):
    return round(x) * x + int(x) + math.floor(x) * x + math.ceil(x)


@case(lambda rng: (float(rng.uniform(0.5, 1.2)),), kwargs={"n": 4})
def keyword_only_int(x, *, n=3):
    return x ** n + n


@case(lambda rng: (np.array([0.13, 0.91, -0.52, 0.4]),))
def builtin_reductions_on_arrays(x):
    return sum(x) + max(x) * min(x) + len(x)


@case(lambda rng: (rng.uniform(-1, 1, (2, 3)) + np.arange(6.0).reshape(2, 3),))
def negative_axes(A):
    return np.sum(A, axis=-1), np.mean(A, axis=(0, 1)), A.max(axis=-2), np.cumsum(A, axis=-1)


# --------------------------------------------------------------------------
# numpy calls whose rules are easy to forget
# --------------------------------------------------------------------------

@case(lambda rng: (rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 4)))
def meshgrid_active(x, y):
    X, Y = np.meshgrid(x, y)
    return X * Y + np.sin(X)


@case(lambda rng: (float(rng.uniform(0.5, 1.5)),))
def logspace_active(a):
    return np.logspace(0.0, a, 4)


@case(lambda rng: (rng.uniform(-1, 1, 4),))
def numpy_scalar_casts(x):
    a = np.asarray(x)
    c = x.astype(float)
    d = np.float64(x[0])
    return a * c + d


@case(lambda rng: (float(rng.uniform(0.5, 1.5)), float(rng.uniform(1.6, 2.5))))
def linspace_active_endpoints(a, b):
    t = np.linspace(a, b, 5)
    return np.sum(np.sin(t) * t)


@case(lambda rng: (float(rng.uniform(0.5, 1.5)),))
def full_active(x):
    return np.full(3, x) * np.arange(3) + np.full((2,), 2.0 * x).sum()


# --------------------------------------------------------------------------
# more statements and styles
# --------------------------------------------------------------------------

GRAVITY = 9.81
WEIGHTS = np.array([0.5, -1.0, 2.0, 0.25])


@case(lambda rng: (rng.uniform(-1, 1, 4), float(rng.uniform(0.5, 1.5))))
def module_constants(x, h):
    return WEIGHTS @ x * GRAVITY * h + GRAVITY * h ** 2


@case(lambda rng: (rng.uniform(-1, 1, 7),))
def comprehension_of_indices(x):
    even = [i for i in range(len(x)) if i % 2 == 0]
    pairs = [(i, i + 1) for i in range(0, len(x) - 1, 2)]
    total = np.sum(x[even] ** 2)
    for i, j in pairs:
        total = total + x[i] * x[j]
    return total


@case(lambda rng: (rng.uniform(-1, 1, 5),))
def list_append_then_array(x):
    vals = []
    for i in range(len(x)):
        vals.append(x[i] ** 2 + i)
    arr = np.array(vals)
    return arr * x + sum(vals)


@case(lambda rng: (rng.permutation(6) * 0.4 + rng.uniform(0, 0.04, 6),))
def sort_values(x):
    s = np.sort(x)
    return s * np.arange(1, 7) + np.sort(-x ** 3)


@case(lambda rng: (float(rng.uniform(0.5, 1.5)), 3))
def assert_and_raise(x, n):
    assert x > 0, "x must be positive"
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    return x ** n


@case(lambda rng: (float(rng.uniform(0.5, 1.5)), 2))
def annotated(x: float, n: int = 3) -> float:
    """A docstring, annotations, pass, and an f-string that is not used."""
    y: float = x * 2.0
    label = f"{x:.3f} and {n}"
    pass
    return y ** n + len(label) * 0.0


@case(lambda rng: (float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.5, 1.5))))
def formatting_styles(x, y):
    a = x * 2; b = a + y  # noqa: E702
    c = (a * b
         + math.sin(x)
         - y ** 2)
    d = a + \
        b
    return (c
            * d)


@case(lambda rng: (rng.uniform(-1, 1, 6), float(rng.uniform(0.5, 1.5))))
def seeded_noise_inside(x, sigma):
    rng = np.random.default_rng(1234)
    noise = rng.normal(size=x.shape)
    return np.sum((x + sigma * noise) ** 2)


@case(lambda rng: (float(rng.uniform(0.3, 0.45)),), fd_scale=0.3)
def math_isclose_and_floor_div(x):
    if math.isclose(x, 2.0):
        return 0.0
    k = x // 0.25
    return k * x + (x % 0.25) ** 2


# --------------------------------------------------------------------------
# containers that carry derivatives
# --------------------------------------------------------------------------

def _dense(params, x):
    return np.tanh(params["W"] @ x + params["b"])


@case(lambda rng: (rng.uniform(-1, 1, (3, 2)), rng.uniform(-0.5, 0.5, 3), rng.uniform(-1, 1, 2)))
def dict_of_params(W, b, x):
    params = {"W": W, "b": b}
    h = _dense(params, x)
    reg = 0.0
    for name, value in params.items():
        reg = reg + 0.01 * np.sum(value ** 2)
    return np.sum(h ** 2) + reg


@case(lambda rng: (float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.5, 1.5))))
def dict_literal_lookup(x, y):
    d = {"a": x * 2.0, "b": y}
    d["c"] = d["a"] * y
    return d["a"] * d["b"] + d["c"]


@case(lambda rng: (float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.5, 1.5))))
def star_args_call(x, y):
    pair = (x, y * 2.0)
    return _mul(pair[0], pair[1]) + _mul(*[y, x])


@case(lambda rng: (float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.5, 1.5))))
def double_star_call(x, y):
    kw = {"a": x, "b": y}
    return _mul(a=kw["a"], b=kw["b"]) + _mul(x, **{"b": y * y})


@case(lambda rng: (float(rng.uniform(0.5, 1.5)), float(rng.uniform(0.5, 1.5))))
def list_literal_carrying(x, y):
    v = [x, y * 3.0]
    v[0] += y
    pts = [(x, y), (y, x)]
    s = 0.0
    for a, b in pts:
        s += a * b
    return v[0] * v[1] + v[-1] + s + max([x, 2.0 * y])


# --------------------------------------------------------------------------
# operations that look like no-ops but make a new array (a hypothesis run
# found `-(-x)` simplified to `x` in the generated code: `t *= 2` then
# doubled the caller's array)
# --------------------------------------------------------------------------

@case(lambda rng: (rng.uniform(0.5, 1.5, 4),))
def double_negation_then_in_place(x):
    t = -(-x)  # noqa: B002  (a user negating twice, on purpose)
    t *= 2.0
    return np.sum(t * x)


@case(lambda rng: (rng.uniform(0.5, 1.5, 4), rng.uniform(0.5, 1.5, 4)))
def identities_then_in_place(x, y):
    t = (x * 1.0) / 1.0
    t += y
    u = (y ** 1) * 1
    u *= x
    return np.sum(t * u) + np.sum(x)


def _add_exp(u, v):
    u += np.exp(v)
    return u * v


@case(lambda rng: (rng.uniform(0.5, 1.5, 3), rng.uniform(0.5, 1.5, 3)))
def helper_writes_into_an_argument_not_differentiated_after(a, c):
    # c receives exp(a), but only a branch reads it afterwards: the helper must
    # still get a tangent for c (the generated call once passed d_a as d_u)
    t = _add_exp(c, a)
    if np.sum(t) > np.sum(c):
        return np.sum(a * a)
    return np.sum(a)


def _shift_by_half(u, v):
    u += v / 2.0
    return 0.5 * v + u


def _shift_through(b, a):
    _shift_by_half(b, a)
    return 0.0


@case(lambda rng: (rng.uniform(0.5, 1.5, 3), rng.uniform(0.5, 1.5, 3)))
def helper_result_unused_but_argument_written(a, b):
    # b += a / 2 inside the helper: b depends on a although t is never read
    # (the JVP once called the plain helper here, dropping a's contribution)
    t = _shift_by_half(b, a)  # noqa: F841  (a user keeping a result, unused)
    return b * 2.0


@case(lambda rng: (rng.uniform(0.5, 1.5, 3), rng.uniform(0.5, 1.5, 3)))
def helper_writing_through_another_helper(a, b):
    t = _shift_through(b, a)
    return np.sum(b * b) + t


@case(lambda rng: (rng.uniform(0.5, 1.5, 3), rng.uniform(0.5, 1.5, 3)))
def scalar_grows_into_an_array_in_place(a, b):
    # s += a turns a scalar into an array: in vector mode d_s (K,) had to meet
    # d_a (K, 3) as (K, 1) (numpy aligned it with the 3, silently wrong at K = 3)
    s = np.sum(a * b)
    s += a
    t = np.sum(b)
    t *= a
    u = np.sum(a)
    u /= b
    return np.sum(s * t) + np.sum(u)
