"""Arrays of 3 and 4 dimensions (CNN-shaped activations: batch, channels,
height, width) and float32 arrays on the native backend, and the argument
types it refuses.

Every case runs on the native backend and on the Python backend (the
reference: the same generated code run by numpy) with respect to every
non-empty subset of its parameters, and the tangent is also checked against
central finite differences.  float32 results have numpy's types (float32
scalars; Python numbers do not promote, NEP 50) and agree within float32
rounding.  Bad arguments (float16, complex, rank 5, float32 mixed with
float64, numpy scalars with float32 arrays) are a ``TypeError`` naming the
argument; the native entry never hands a kernel compiled for one dtype or
rank an array of another (one function called with float64 and float32
data in alternation)."""

import itertools

import numpy as np
import pytest

pytest.importorskip("llvmlite")
from fwdcompile import forward_gradient  # noqa: E402


# ------------------------------------------------------------------ cases
def conv_like(x, w, b):
    """Elementwise ops with broadcasting over (batch, channels, h, w)."""
    z = np.tanh(x * w + b)
    return np.sum(z * z) + np.mean(np.exp(-z))


def reductions_along_axes(x, w):
    z = x * w
    pooled = z.max(axis=3)            # (B, C, H)
    per_channel = np.sum(z, axis=1)
    centered = z - z.mean(axis=2, keepdims=True)
    return np.sum(pooled ** 2) + np.sum(np.sin(per_channel)) + np.sum(centered ** 2) \
        + np.sum(z.min(axis=0) * 0.1 + 1.0)


def indexing_and_slices(x, w):
    first = x[0]                      # (C, H, W)
    corner = x[1, 2, 0, 3] * w[-2]
    crop = x[:, 1:, ::2, -3:]         # a strided view
    flipped = x[..., ::-1] * w
    return corner + np.sum(first ** 3) + np.sum(crop * crop[::-1]) + np.sum(flipped[:, 0])


def loops_and_writes(x, w):
    b, c, h, k = x.shape
    out = np.zeros((b, c, h))
    for i in range(b):
        for j in range(c):
            for m in range(h):
                s = 0.0
                for n in range(k):
                    s += x[i, j, m, n] * w[m, n]
                out[i, j, m] = s
    total = 0.0
    for image in x:                   # (C, H, W) views
        total += np.sum(image * image)
    return np.sum(np.tanh(out)) + total


def rank3(u, v):
    """3-D arrays broadcasting against a matrix and a vector."""
    z = u * v
    return np.sum(np.sqrt(z * z + 1.0)) + np.max(u[:, -1, :]) + np.sum(z.sum(axis=-1) ** 2)


def _channel_energy(a, scale):
    return scale * np.sum(a * a, axis=-1)   # a helper taking and returning views


def helpers_writes_and_shapes(x, w):
    b, c, h, k = x.shape
    buf = np.zeros_like(x[0])               # (C, H, W)
    buf[:, 1:, :] = x[1, :, :-1, :] * w[1:]  # a slice write
    buf[0] += x[0, 0]
    e = _channel_energy(buf, 0.5)           # (C, H)
    acc = 0.0
    for j in range(c):
        plane = x[0, j]                     # (H, W)
        for m in range(h):
            acc += j * np.sum(plane[m] * w[m])
    return np.sum(np.tanh(e)) + acc + x.shape[3] * np.mean(buf) + x.ndim


RNG = np.random.default_rng(7)
B, C, H, W = 2, 3, 4, 5
CASES = [
    (conv_like, (RNG.normal(size=(B, C, H, W)), RNG.normal(size=(H, W)),
                 RNG.normal(size=(C, 1, 1)))),
    (reductions_along_axes, (RNG.normal(size=(B, C, H, W)), RNG.normal(size=(C, 1, W)))),
    (indexing_and_slices, (RNG.normal(size=(B, C, H, W)), RNG.normal(size=(W,)))),
    (loops_and_writes, (RNG.normal(size=(B, C, H, W)), RNG.normal(size=(H, W)))),
    (rank3, (RNG.normal(size=(3, 4, 5)), RNG.normal(size=(4, 5)))),
    (helpers_writes_and_shapes, (RNG.normal(size=(B, C, H, W)), RNG.normal(size=(H, W)))),
]


def _subsets(names):
    return [s for r in range(1, len(names) + 1) for s in itertools.combinations(names, r)]


def _finite_difference(fn, args, names, wrt, tangents, h=1e-6):
    def at(sign):
        moved = [a + sign * h * tangents[wrt.index(n)] if n in wrt else a
                 for n, a in zip(names, args)]
        return fn(*moved)
    return (at(1) - at(-1)) / (2 * h)


@pytest.mark.parametrize("fn, args", CASES, ids=[c[0].__name__ for c in CASES])
def test_rank_3_and_4_match_the_python_backend_and_finite_differences(fn, args):
    names = fn.__code__.co_varnames[:fn.__code__.co_argcount]
    rng = np.random.default_rng(len(names))
    for wrt in _subsets(names):
        tangents = tuple(rng.normal(size=args[names.index(n)].shape) for n in wrt)
        native = forward_gradient(fn, wrt=wrt, backend="llvm").jvp(*args, tangents=tangents)
        python = forward_gradient(fn, wrt=wrt).jvp(*args, tangents=tangents)
        np.testing.assert_allclose(native[0], python[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(native[1], python[1], rtol=1e-10, atol=1e-10)
        fd = _finite_difference(fn, args, names, wrt, tangents)
        np.testing.assert_allclose(native[1], fd, rtol=1e-5, atol=1e-6)


def test_rank_4_through_the_native_entry_and_its_checks():
    f = forward_gradient(conv_like, backend="llvm")
    x, w, b = CASES[0][1]
    ref = forward_gradient(conv_like).jvp(x, w, b, tangents=(x, w, b))
    for _ in range(3):  # the first call compiles, later ones take the native entry
        np.testing.assert_allclose(f.jvp(x, w, b, tangents=(x, w, b)), ref, rtol=1e-12)
    # another rank for the same parameter: another kernel, never this one
    x3 = x[0]
    ref3 = forward_gradient(conv_like).jvp(x3, w, b, tangents=(x3, w, b))
    np.testing.assert_allclose(f.jvp(x3, w, b, tangents=(x3, w, b)), ref3, rtol=1e-12)
    np.testing.assert_allclose(f.jvp(x, w, b, tangents=(x, w, b)), ref, rtol=1e-12)
    # a non-contiguous 4-D argument is copied, not misread
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    np.testing.assert_allclose(f.jvp(xt, w, b, tangents=(xt, w, b)), ref, rtol=1e-12)
    with pytest.raises(ValueError, match="shape|broadcast"):
        f.jvp(x, w, b, tangents=(x[:1], w, b))


def test_explicit_signatures_up_to_rank_4():
    f = forward_gradient(conv_like, backend="llvm")
    f.compile("float64[:, :, :, :]", "float64[:,:]", "float64[:, :, :]")
    with pytest.raises(TypeError, match="up to 4 dimensions"):
        f.compile("float64[:, :, :, :, :]", "float64[:,:]", "float64[:, :, :]")


def returns_an_index_array(x, idx):
    return x * 2.0, idx


def _same_as_python(fn, args, tangents, rtol=1e-13):
    """backend="llvm" gives the Python backend's value and tangent (dtype too)."""
    got = forward_gradient(fn, backend="llvm").jvp(*args, tangents=tangents)
    want = forward_gradient(fn).jvp(*args, tangents=tangents)
    for g, w in zip(got, want):
        assert np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_allclose(g, w, rtol=rtol)
    return got


def test_returning_arrays_of_rank_3_runs():
    x = np.linspace(0.1, 0.8, 8).reshape(2, 2, 2)
    _same_as_python(returns_a_3d_array, (x,), (np.ones((2, 2, 2)),))


def returns_a_3d_array(x):
    return x * 2.0


def test_returning_an_integer_array_runs_in_numpy():
    """Arrays of every rank and float dtype are returned (tests/test_llvm_returns.py);
    int64 arrays are index data only, so the statement returning one runs in numpy."""
    x, idx = np.ones((2, 2, 2)), np.arange(3)
    f = forward_gradient(returns_an_index_array, wrt="x", backend="llvm")
    (value, index), (tangent, _) = f.jvp(x, idx, tangents=(np.ones((2, 2, 2)),))
    np.testing.assert_array_equal(index, idx)
    np.testing.assert_array_equal(value, 2.0 * x)
    np.testing.assert_array_equal(tangent, 2.0 * np.ones((2, 2, 2)))


def batched_matmul(x, w):
    return np.sum(x @ w)


def test_matmul_of_rank_3_runs_through_numpy():
    x, w = np.linspace(0.1, 0.8, 8).reshape(2, 2, 2), np.array([[1.0, 2.0], [0.5, -1.0]])
    _same_as_python(batched_matmul, (x, w), (np.ones((2, 2, 2)), np.ones((2, 2))))


def total(x):
    return np.sum(x * x)


@pytest.mark.parametrize("bad, what", [
    (np.ones(3, np.float16), "float16"),
    (np.ones(3, np.complex128), "complex128"),
    (np.ones((1, 1, 1, 1, 3)), "5 dimension"),
])
def test_arrays_native_code_does_not_take_run_on_the_python_backend(bad, what):
    f = forward_gradient(total, backend="llvm")
    want = forward_gradient(total).jvp(bad, tangents=(np.ones(bad.shape),))
    assert f.jvp(bad, tangents=(np.ones(bad.shape),)) == want
    assert what in f.llvm_placement
    # after a good call has installed the native entry, too
    f.jvp(np.ones(3), tangents=(np.ones(3),))
    assert f.jvp(bad, tangents=(np.ones(bad.shape),)) == want


def test_one_function_called_with_float64_and_float32_in_alternation():
    """Two kernels (one per dtype); the native entry of the float64 one checks
    the dtype, so float32 data never reaches it, nor float64 data the float32
    one: each call gives its dtype's answer."""
    f = forward_gradient(total, backend="llvm")
    x64 = np.linspace(0.1, 1.0, 6).reshape(1, 2, 3)
    x32 = x64.astype(np.float32) * np.float32(2)
    for _ in range(4):
        v, d = f.jvp(x64, tangents=(x64,))
        assert type(v) is float and v == pytest.approx(np.sum(x64 * x64), rel=1e-14)
        assert d == pytest.approx(2 * np.sum(x64 * x64), rel=1e-14)
        v, d = f.jvp(x32, tangents=(x32,))
        assert type(v) is np.float32 and type(d) is np.float32
        assert v == pytest.approx(np.sum(x64 * x64) * 4, rel=1e-6)
        assert d == pytest.approx(2 * np.sum(x64 * x64) * 4, rel=1e-6)
    # a float32 tangent for a float64 argument is converted (to float64), not misread
    d = f.jvp(x64, tangents=(x32,))[1]
    assert d == pytest.approx(2 * np.sum(x64 * x32.astype(np.float64)), rel=1e-14)
    # a float64 tangent for a float32 argument: numpy would promote; not this kernel's
    for _ in range(3):  # every time: no call plan records it (the plan would pass it on)
        with pytest.raises(TypeError, match="tangent for 'x' has dtype float64"):
            f.jvp(x32, tangents=(x64,))
        assert f.jvp(x32, tangents=(x32,))[1] == pytest.approx(8 * np.sum(x64 * x64), rel=1e-6)


# ------------------------------------------------------------------ float32
def f32_mlp(x, w, b, scale):
    h = np.tanh(x @ w + b) * scale           # float32 array * Python float: float32
    m = h.mean(axis=1, keepdims=True)  # max: the Python backend gives float64 tangents
    e = np.exp(h - m)
    p = e / np.sum(e, axis=1, keepdims=True)
    s = 0.0
    for i in range(p.shape[0]):
        s += p[i, 0] * 0.5                   # a float32 scalar from then on
    return np.mean(p * p) + s + np.sum(h[:, 1:] ** 2) / 3


def f32_conv(x, w, c):
    z = np.sin(x * w + c)                    # (B, C, H, W) * (H, W) + Python float
    acc = 0.0
    for image in z:
        acc += np.sum(image[0] * image[-1])
    return np.sum(z.mean(axis=2)) + acc + z[1, 2, 3, 4]


def f32_python_number(x, c):
    """A returned number computed from Python numbers only stays a Python float."""
    return np.sum(x * c), math_like(c) + x.size * 0.25 + len(x) / 3


def math_like(c):
    return c * c


def _f32_layer(x, w):
    return np.tanh(x * w)                    # a helper returning a float32 array


def f32_helpers(x, w):
    h = _f32_layer(x, w)
    t = 0.0
    for v in h[0]:
        t += v * v
    return np.sum(_f32_layer(h, w)) + t


F32_CASES = [
    (f32_helpers, (RNG.normal(size=(3, 4)), RNG.normal(size=4))),
    (f32_mlp, (RNG.normal(size=(4, 3)), RNG.normal(size=(3, 5)), RNG.normal(size=5), 0.7)),
    (f32_conv, (RNG.normal(size=(B, C, H, W)), RNG.normal(size=(H, W)), 0.3)),
]


def _as32(args):
    return tuple(a.astype(np.float32) if isinstance(a, np.ndarray) else a for a in args)


@pytest.mark.parametrize("fn, args", F32_CASES, ids=[c[0].__name__ for c in F32_CASES])
def test_float32_matches_the_python_backend_and_finite_differences(fn, args):
    """Same dtypes as numpy (float32 results, Python numbers do not promote),
    values within float32 rounding: the kernel computes in double and rounds
    what it stores, numpy rounds every operation and sums pairwise in float32
    (docs/native-backend.md)."""
    names = fn.__code__.co_varnames[:fn.__code__.co_argcount]
    args32 = _as32(args)
    rng = np.random.default_rng(3)
    for wrt in _subsets(names):
        tangents = tuple(rng.normal(size=np.shape(args[names.index(n)])).astype(np.float32)
                         if isinstance(args[names.index(n)], np.ndarray) else 0.5 for n in wrt)
        native = forward_gradient(fn, wrt=wrt, backend="llvm").jvp(*args32, tangents=tangents)
        python = forward_gradient(fn, wrt=wrt).jvp(*args32, tangents=tangents)
        assert type(native[0]) is type(python[0]) is np.float32
        # the tangent is float32 as the value is; the Python backend widens a
        # Python float's tangent (_rt.broadcast makes it a float64 array)
        assert type(native[1]) is np.float32
        assert type(python[1]) is np.float32 or all(
            not isinstance(args[names.index(n)], np.ndarray) for n in wrt)
        np.testing.assert_allclose(native, np.array(python, dtype=np.float64),
                                   rtol=2e-5, atol=2e-5)
        # finite differences in float64 on the float32 data
        wide = tuple(a.astype(np.float64) if isinstance(a, np.ndarray) else a for a in args32)
        fd = _finite_difference(fn, wide, names, wrt,
                                [np.asarray(t, dtype=np.float64) for t in tangents])
        np.testing.assert_allclose(native[1], fd, rtol=1e-4, atol=1e-4)


def test_float32_and_python_numbers_keep_their_types():
    x = np.linspace(0.5, 1.5, 4).astype(np.float32)
    native = forward_gradient(f32_python_number, backend="llvm").jvp(x, 1.5, tangents=(x, 1.0))
    python = forward_gradient(f32_python_number).jvp(x, 1.5, tangents=(x, 1.0))
    assert [type(v) for v in native[0] + native[1]] == [type(v) for v in python[0] + python[1]]
    np.testing.assert_allclose(np.array(native, dtype=float), np.array(python, dtype=float),
                               rtol=1e-6)


def mixed(x, y):
    return np.sum(x * y)


def f32_returns_array(x):
    return x * 2.0


def f32_makes_float64(x):
    out = np.zeros(x.shape[0])
    out[0] = x[0]
    return np.sum(out)


def test_float32_outside_the_subset_runs_with_numpys_promotions():
    x32, x64 = np.linspace(0.5, 1.5, 3, dtype=np.float32), np.linspace(1.0, 2.0, 3)
    for y, d_y in ((x64, x64), (np.float64(2.0), 1.0), (np.float32(2.0), 1.0)):
        _same_as_python(mixed, (x32, y), (x32, d_y), rtol=1e-6)
    got = forward_gradient(mixed, backend="llvm").jvp(x32, 2.0, tangents=(x32, 1.0))
    assert got == forward_gradient(mixed).jvp(x32, 2.0, tangents=(x32, 1.0))
    assert type(got[0]) is np.float32
    _same_as_python(f32_returns_array, (x32,), (x32,), rtol=1e-6)
    _same_as_python(f32_makes_float64, (x32,), (x32,), rtol=1e-6)
    value, tangent = forward_gradient(f32_returns_array, backend="llvm").jvp(x32, tangents=(x32,))
    assert value.dtype == tangent.dtype == np.float32  # returned as numpy would


def test_float32_signature_and_numpy_type_number():
    from fwdcompile.backends.llvm import callwrap
    assert np.dtype(np.float32).num == callwrap._NPY_FLOAT
    f = forward_gradient(f32_conv, backend="llvm")
    f.compile("float32[:, :, :, :]", "float32[:, :]", float)
    assert "float" in f.llvm_ir
