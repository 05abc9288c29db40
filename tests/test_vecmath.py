"""Vector math in native kernels (fwdcompile/backends/llvm/vecmath.py).

Every function libmvec provides is compiled twice over the same inputs: with
vector math (the loop vectorizes and calls ``_ZGV..._f``) and with
``FWDCOMPILE_VECMATH=0`` (one scalar libm call per element, the reference).
Over wide ranges and the special values (NaN, +-inf, +-0.0, subnormals,
huge, the tanh saturation region, domain edges) the two must agree to
within :data:`MAX_ULP` units in the last place of the extended-precision
result (glibc documents its vector functions at <= 4 ULP), classify alike
(NaN where NaN, the same infinities, the sign of zero), and JVPs through
them still match the Python backend and central differences.  The disk
cache keys kernels by the switch.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

pytest.importorskip("llvmlite")

from fwdcompile import forward_gradient  # noqa: E402
from fwdcompile.backends.llvm import disk_cache, vecmath  # noqa: E402

# asserted between the vector result and numpy's function in extended precision
# (long double), or, for erf/erfc, the scalar libm result; measured on AMD Zen 5
# (AVX-512, glibc 2.36): at most 3 ULP (exp, sin, cos, tan), 1-2 elsewhere
MAX_ULP = 4

AVAILABLE = bool(vecmath.plan())
needs_libmvec = pytest.mark.skipif(not AVAILABLE, reason="no libmvec on this host")

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308,
           -2.2250738585072014e-308, 1e-300, -1e-300, 1e-20, -1e-20, 1.0, -1.0, 0.5, -0.5,
           1e300, -1e300, 1.7976931348623157e308, -1.7976931348623157e308]


def _inputs(*ranges, n=20000, seed=0):
    rng = np.random.default_rng(seed)
    parts = [np.array(SPECIAL)]
    for lo, hi in ranges:
        parts.append(rng.uniform(lo, hi, n))
    mags = 10.0 ** rng.uniform(-320, 308, n)  # every binade
    parts.append(mags * rng.choice([-1.0, 1.0], n))
    x = np.concatenate(parts)
    return x[np.isfinite(x) | np.isnan(x) | np.isinf(x)]


UNARY = {  # numpy function -> the ranges where it is interesting
    "exp": [(-746, 710), (-1, 1), (709, 710), (-745.2, -708)],
    "expm1": [(-40, 710), (-1e-5, 1e-5)],
    "exp2": [(-1080, 1025), (-1, 1)],
    "log": [(0, 10), (0.9, 1.1), (0, 1e-300)],
    "log2": [(0, 10), (0.9, 1.1)],
    "log10": [(0, 10), (0.9, 1.1)],
    "log1p": [(-1, 3), (-1e-5, 1e-5)],
    "sin": [(-10, 10), (-1e6, 1e6), (-1e15, 1e15)],
    "cos": [(-10, 10), (-1e6, 1e6), (-1e15, 1e15)],
    "tan": [(-10, 10), (-1e6, 1e6), (1.5, 1.6)],
    "arcsin": [(-1.1, 1.1), (0.99, 1.0)],
    "arccos": [(-1.1, 1.1), (-1.0, -0.99)],
    "arctan": [(-50, 50)],
    "sinh": [(-711, 711), (-1, 1)],
    "cosh": [(-711, 711), (-1, 1)],
    "tanh": [(-5, 5), (-25, 25), (18, 23), (-23, -18), (-1e-8, 1e-8)],  # saturation ~19.06
    "arcsinh": [(-50, 50), (-1e-5, 1e-5)],
    "arccosh": [(0.5, 50), (1.0, 1.001)],
    "arctanh": [(-1.1, 1.1), (0.999, 1.0)],
    "cbrt": [(-50, 50)],
}
BINARY = {
    "power": lambda: _pairs(
        x=np.concatenate([np.abs(_inputs((0, 3))), -np.arange(0.0, 9.0)]),
        y=[0.0, -0.0, 1.0, -1.0, 2.0, 3.0, 0.5, -2.5, 7.0, 1e-9, 300.0, -300.0, np.inf,
           -np.inf, np.nan]),
    "arctan2": lambda: _pairs(x=_inputs((-3, 3), n=3000), y=SPECIAL + [2.0, -3.0, 1e-10]),
    "hypot": lambda: _pairs(x=_inputs((-3, 3), n=3000), y=SPECIAL + [2.0, -3.0, 1e-10]),
}


def _pairs(x, y):
    xs, ys = np.meshgrid(np.asarray(x, float), np.asarray(y, float))
    return xs.ravel(), ys.ravel()


def _unary(u):
    def f(x):
        return u(x)
    return f


def _binary(u):
    def f(x, y):
        return u(x, y)
    return f


def erf_loop(x):
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = math.erf(x[i])
    return out


def erfc_loop(x):
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = math.erfc(x[i])
    return out


def _both(monkeypatch, make, *args):
    """(vector result, scalar result, vector IR) of a fresh native compile of each."""
    results = []
    for switch in ("1", "0"):
        monkeypatch.setenv("FWDCOMPILE_VECMATH", switch)
        f = forward_gradient(make(), backend="llvm")
        with np.errstate(all="ignore"):
            for _ in range(2):  # a function run as regions settles after its first call
                value, _ = f.jvp(*args, tangents=tuple(np.ones_like(a) for a in args))
        results.append(np.asarray(value))
        results.append(f.llvm_ir)
    vector, vector_ir, scalar, scalar_ir = results
    assert "_ZGV" not in scalar_ir
    return vector, scalar, vector_ir


def _ordered(a):
    i = a.view(np.int64)
    return np.where(i < 0, np.int64(-2 ** 63) - i, i)  # monotonic in the float's value


EXTENDED = np.finfo(np.longdouble).nmant >= 63  # x87 80-bit: 11 bits beyond double


def _reference(name, args, scalar):
    """numpy's function in extended precision, rounded to double: within half
    an ULP of the correctly rounded result (else the scalar libm result)."""
    if not EXTENDED:
        return scalar
    with np.errstate(all="ignore"):
        return getattr(np, name)(*[np.asarray(a, np.longdouble) for a in args]).astype(float)


def _check(vector, scalar, what, reference=None):
    nan = np.isnan(scalar)
    assert np.array_equal(np.isnan(vector), nan), f"{what}: NaN where the scalar is not"
    inf = np.isinf(scalar)
    assert np.array_equal(vector[inf], scalar[inf]), f"{what}: infinities differ"
    assert np.array_equal(np.isinf(vector), inf), f"{what}: infinite where the scalar is not"
    zero = scalar == 0
    assert np.array_equal(np.signbit(vector[zero]), np.signbit(scalar[zero])) \
        or not np.any(vector[zero]), f"{what}: the sign of a zero differs"
    reference = scalar if reference is None else reference
    finite = np.isfinite(scalar) & np.isfinite(reference)
    ulps = np.abs(_ordered(vector[finite]) - _ordered(reference[finite]))
    worst = int(ulps.max()) if ulps.size else 0
    assert worst <= MAX_ULP, f"{what}: {worst} ULP from the reference"
    return worst


@needs_libmvec
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_accuracy(monkeypatch, name):
    x = _inputs(*UNARY[name])
    vector, scalar, ir = _both(monkeypatch, lambda: _unary(getattr(np, name)), x)
    assert "_ZGV" in ir  # the loop really calls the vector version
    _check(vector, scalar, name, _reference(name, (x,), scalar))
    with np.errstate(all="ignore"):
        reference = getattr(np, name)(x)  # and numpy agrees with both on the specials
    special = np.isnan(reference) | np.isinf(reference)
    assert np.array_equal(np.isnan(vector), np.isnan(reference))
    assert np.array_equal(vector[special & ~np.isnan(reference)],
                          reference[special & ~np.isnan(reference)])


@needs_libmvec
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_accuracy(monkeypatch, name):
    x, y = BINARY[name]()
    vector, scalar, ir = _both(monkeypatch, lambda: _binary(getattr(np, name)), x, y)
    assert "_ZGV" in ir
    _check(vector, scalar, name, _reference(name, (x, y), scalar))


@needs_libmvec
@pytest.mark.parametrize("loop", [erf_loop, erfc_loop], ids=["erf", "erfc"])
def test_math_module_in_a_loop(monkeypatch, loop):
    x = _inputs((-7, 7), (-30, 30))
    vector, scalar, ir = _both(monkeypatch, lambda: loop, x)
    assert "_ZGV" in ir
    _check(vector, scalar, loop.__name__)


def tanh_loss(a, b):
    return np.sum(np.tanh(a + b))


def softmax_xent(z, y):
    m = np.max(z)
    e = np.exp(z - m)
    return np.sum(np.log(np.sum(e)) + m - z * y)


def mixed(x):
    return np.sum(np.sin(x) * np.cos(x) + np.exp(-x * x) + np.log1p(x * x) + x ** 2.5
                  + np.arctan2(x, 1.0 + x))


@needs_libmvec
@pytest.mark.parametrize("fn, nargs", [(tanh_loss, 2), (softmax_xent, 2), (mixed, 1)])
def test_jvps_match_the_python_backend(fn, nargs):
    rng = np.random.default_rng(1)
    args = [rng.uniform(0.1, 3.0, (100, 32)) for _ in range(nargs)]
    dirs = [rng.standard_normal(a.shape) for a in args]
    native = forward_gradient(fn, backend="llvm")
    python = forward_gradient(fn)
    for _ in range(3):  # regions settle after the first call
        value, tangent = native.jvp(*args, tangents=tuple(dirs))
    assert "_ZGV" in native.llvm_ir
    ref_value, ref_tangent = python.jvp(*args, tangents=tuple(dirs))
    np.testing.assert_allclose(value, ref_value, rtol=1e-13)
    np.testing.assert_allclose(tangent, ref_tangent, rtol=1e-12)
    h = 1e-6  # and central differences
    fd = (fn(*[a + h * d for a, d in zip(args, dirs)])
          - fn(*[a - h * d for a, d in zip(args, dirs)])) / (2 * h)
    np.testing.assert_allclose(tangent, fd, rtol=1e-6)


def test_switch_off_and_the_cache_key(monkeypatch):
    text = 'define double @f(double %"x") {\n  %".2" = call double @"llvm.tanh.f64"' \
           '(double %"x")\n  ret double %".2"\n}\n'
    monkeypatch.setenv("FWDCOMPILE_VECMATH", "0")
    assert vecmath.tag(text) == text
    assert vecmath.describe() == "vecmath off"
    off = disk_cache.key(text, 2)
    monkeypatch.setenv("FWDCOMPILE_VECMATH", "1")
    assert disk_cache.key(text, 2) != off or not AVAILABLE
    if AVAILABLE:
        tagged = vecmath.tag(text)
        assert "vector-function-abi-variant" in tagged and "#7000" in tagged


def test_only_the_host_isa_is_advertised(monkeypatch):
    from fwdcompile.backends.llvm import engine
    features = set(engine.host_features().split(","))
    for entries in vecmath.plan().values():
        for isa, lanes, symbol in entries:
            feature = {"e": "+avx512f", "d": "+avx2", "b": "+sse2"}[isa]
            assert feature in features
            assert re.fullmatch(rf"_ZGV{isa}N{lanes}v+_\w+", symbol)
