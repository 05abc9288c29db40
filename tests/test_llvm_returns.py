"""Arrays returned by native kernels: every rank (1 to 4), float64 and
float32, views with any strides, tuples mixing arrays and numbers; and
kernels whose tangent part is empty (``return (a, b), ()``, the shape region
lowering compiles values-only code in).

Each function runs on the native backend and on the Python backend (the
reference) with respect to every non-empty subset of its parameters, and the
tangent is checked against central finite differences.  Returned arrays keep
numpy's dtype: a float32 computation gives float32 arrays, as the Python
backend does (values within float32 rounding, see docs/native-backend.md)."""

import itertools
import textwrap

import numpy as np
import pytest

pytest.importorskip("llvmlite")
import gast  # noqa: E402

from fwdcompile import forward_gradient  # noqa: E402
from fwdcompile.backends.llvm.catalogue import Namespace  # noqa: E402
from fwdcompile.backends.llvm.jit import compile_kernel  # noqa: E402
from fwdcompile.backends.llvm.types import ArrayType, kind_slots  # noqa: E402


# ------------------------------------------------------------------ cases
def activations(x, w, b):
    """A (B, C, H, W) activation returned whole, with its energy."""
    z = np.tanh(x * w + b)
    return z, np.sum(z * z)


def strided_views(x, w):
    """Views with negative and non-unit strides, returned from rank 3 and 4."""
    z = x * w
    return z[:, ::-1, 1:], z[0, :, ::2, ::-1], np.sin(z[..., 0])


def rank3_from_loops(x, w):
    """A 3-D array made inside and filled by loops (a helper-free conv)."""
    b, c, h, k = x.shape
    out = np.zeros((b, c, h))
    for i in range(b):
        for j in range(c):
            for m in range(h):
                s = 0.0
                for n in range(k):
                    s += x[i, j, m, n] * w[m, n]
                out[i, j, m] = s
    return out


def _normalise(a):
    return a / np.sqrt(np.sum(a * a, axis=-1, keepdims=True) + 1.0)


def through_a_helper(x, w):
    """A helper returning a 4-D array into the kernel, which returns it."""
    h = _normalise(x * w)
    return h, h[1], np.mean(h)


def float32_layer(x, w, c):
    """float32 throughout (c a Python float: no promotion, NEP 50)."""
    h = np.tanh(x @ w) * c
    return h, np.sum(h), h[0]


def float32_rank4(x, w):
    z = np.exp(-x * x) * w
    return z, z.max(axis=1), z[:, 0, ::-1]


RNG = np.random.default_rng(11)
B, C, H, W = 2, 3, 4, 5
F64_CASES = [
    (activations, (RNG.normal(size=(B, C, H, W)), RNG.normal(size=(H, W)),
                   RNG.normal(size=(C, 1, 1)))),
    (strided_views, (RNG.normal(size=(B, C, H, W)), RNG.normal(size=W))),
    (rank3_from_loops, (RNG.normal(size=(B, C, H, W)), RNG.normal(size=(H, W)))),
    (through_a_helper, (RNG.normal(size=(B, C, H, W)), RNG.normal(size=(C, H, 1)))),
]
F32_CASES = [
    (float32_layer, (RNG.normal(size=(4, 3)), RNG.normal(size=(3, 5)), 0.7)),
    (float32_rank4, (RNG.normal(size=(B, C, H, W)), RNG.normal(size=(H, W)))),
    (activations, F64_CASES[0][1]),
    (strided_views, F64_CASES[1][1]),
]


def _subsets(names):
    return [s for r in range(1, len(names) + 1) for s in itertools.combinations(names, r)]


def _names(fn):
    return fn.__code__.co_varnames[:fn.__code__.co_argcount]


def _finite_difference(fn, args, names, wrt, tangents, h=1e-6):
    def at(sign):
        moved = [a + sign * h * tangents[wrt.index(n)] if n in wrt else a
                 for n, a in zip(names, args)]
        out = fn(*moved)
        return [np.asarray(o, dtype=np.float64) for o in (out if isinstance(out, tuple)
                                                           else (out,))]
    return [(p - m) / (2 * h) for p, m in zip(at(1), at(-1))]


def _leaves(out):
    return list(out) if isinstance(out, tuple) else [out]


@pytest.mark.parametrize("fn, args", F64_CASES, ids=[c[0].__name__ for c in F64_CASES])
def test_float64_arrays_of_every_rank_come_back(fn, args):
    names = _names(fn)
    rng = np.random.default_rng(len(names))
    for wrt in _subsets(names):
        tangents = tuple(rng.normal(size=np.shape(args[names.index(n)])) for n in wrt)
        native = forward_gradient(fn, wrt=wrt, backend="llvm").jvp(*args, tangents=tangents)
        python = forward_gradient(fn, wrt=wrt).jvp(*args, tangents=tangents)
        for part in (0, 1):
            for got, want in zip(_leaves(native[part]), _leaves(python[part]), strict=True):
                assert np.shape(got) == np.shape(want)
                if isinstance(want, np.ndarray):
                    assert isinstance(got, np.ndarray) and got.dtype == np.float64
                    # ours: the kernel's own block (no copy) or a copy, never an argument's memory
                    assert got.flags.c_contiguous and got.flags.writeable
                    assert not any(np.shares_memory(got, a) for a in (*args, *tangents)
                                   if isinstance(a, np.ndarray))
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        fd = _finite_difference(fn, args, names, wrt, tangents)
        for got, want in zip(_leaves(native[1]), fd, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn, args", F32_CASES, ids=[c[0].__name__ for c in F32_CASES])
def test_float32_arrays_come_back_as_float32(fn, args):
    names = _names(fn)
    args32 = tuple(a.astype(np.float32) if isinstance(a, np.ndarray) else a for a in args)
    rng = np.random.default_rng(5)
    for wrt in _subsets(names):
        tangents = tuple(rng.normal(size=np.shape(args[names.index(n)])).astype(np.float32)
                         if isinstance(args[names.index(n)], np.ndarray) else 0.5 for n in wrt)
        native = forward_gradient(fn, wrt=wrt, backend="llvm").jvp(*args32, tangents=tangents)
        python = forward_gradient(fn, wrt=wrt).jvp(*args32, tangents=tangents)
        for got, want in zip(_leaves(native[0]), _leaves(python[0]), strict=True):
            assert type(got) is type(want)  # float32 arrays and np.float32 numbers
            assert np.asarray(got).dtype == np.float32
            np.testing.assert_allclose(got, np.asarray(want, np.float64), rtol=2e-5,
                                       atol=2e-5)
        for got, want in zip(_leaves(native[1]), _leaves(python[1]), strict=True):
            # float32 as numpy keeps it (the Python backend widens the tangent of a
            # Python float parameter to float64: docs/native-backend.md, float32);
            # a zero tangent of a number is the runtime's Python 0.0 on both backends
            assert np.asarray(got).dtype == np.float32 or type(got) is type(want) is float
            assert np.shape(got) == np.shape(want)
            np.testing.assert_allclose(got, np.asarray(want, np.float64), rtol=2e-5,
                                       atol=2e-5)
        wide = tuple(a.astype(np.float64) if isinstance(a, np.ndarray) else a for a in args32)
        fd = _finite_difference(fn, wide, names, wrt,
                                [np.asarray(t, dtype=np.float64) for t in tangents])
        for got, want in zip(_leaves(native[1]), fd, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_returned_arrays_through_the_native_entry():
    """After the first call ``f.jvp`` is the generated entry, which builds the
    result from the out buffer (Kernel.assemble): the same arrays, fresh each
    call, and errors the kernel flags are still raised."""
    f = forward_gradient(strided_views, backend="llvm")
    x, w = F64_CASES[1][1]
    ref = forward_gradient(strided_views).jvp(x, w, tangents=(x, w))
    first = None
    for _ in range(3):
        got = f.jvp(x, w, tangents=(x, w))
        for a, b in zip(got[0] + got[1], ref[0] + ref[1]):
            np.testing.assert_allclose(a, b, rtol=1e-13)
        if first is not None:
            assert got[0][0] is not first[0][0]
        first = got
    assert type(f.jvp).__name__ == "builtin_function_or_method"
    with pytest.raises(ValueError, match="shape|broadcast"):
        f.jvp(x, np.ones(3), tangents=(x, np.ones(3)))


def test_out_buffer_layout_depends_on_the_rank():
    assert [kind_slots(k) for k in ("float", "int", "float32", "array1", "array2f32",
                                    "array3", "array4f32")] == [1, 1, 1, 4, 6, 8, 10]


# ------------------------------------------------------------------ no tangents
def _values_only(source, types):
    fdef = gast.parse(textwrap.dedent(source)).body[0]
    return compile_kernel(fdef, types, namespace=Namespace(globals_={"np": np}))


def test_a_kernel_returning_values_and_an_empty_tangent_part():
    """``return (o1, ..., on), ()``: n value leaves of any kind, no tangent
    (how region lowering compiles a run of statements for their values)."""
    kernel = _values_only("""
        def region(x, y, n):
            z = np.tanh(x * y)
            s = np.sum(z)
            if n > 100:
                return (z, s, n, x[0], z[:, ::-1]), ()
            return (z * 2.0, s, n + 1, x[1], z[::-1]), ()
        """, (ArrayType(3), ArrayType(1), int))
    assert kernel._kinds == ["array3", "float", "int", "array2", "array3"]
    assert kernel._slots == 8 + 1 + 1 + 6 + 8
    x = RNG.normal(size=(2, 3, 4))
    y = RNG.normal(size=4)
    z = np.tanh(x * y)
    value, tangent = kernel(x, y, 7)
    assert tangent == ()
    assert isinstance(value, tuple) and len(value) == 5
    np.testing.assert_allclose(value[0], 2 * z, rtol=1e-14)  # libm's tanh, numpy's
    assert value[1] == pytest.approx(np.sum(z), rel=1e-14)
    assert value[2] == 8 and type(value[2]) is int
    np.testing.assert_array_equal(value[3], x[1])
    np.testing.assert_allclose(value[4], z[::-1], rtol=1e-14)
    value, tangent = kernel(x, y, 101)
    assert tangent == () and value[2] == 101
    np.testing.assert_allclose(value[4], z[:, ::-1], rtol=1e-14)
    with pytest.raises(ValueError):  # shapes that do not broadcast: still raised
        kernel(x, np.ones(3), 1)


def test_values_only_kernels_of_one_leaf_and_of_float32():
    kernel = _values_only("""
        def one(x, c):
            return (x * c,), ()
        """, (ArrayType(2, single=True), float))
    value, tangent = kernel(np.full((2, 3), 1.5, np.float32), 2.0)
    assert tangent == () and len(value) == 1
    assert value[0].dtype == np.float32 and value[0].shape == (2, 3)
    np.testing.assert_array_equal(value[0], 3.0)
    scalar = _values_only("""
        def total(x):
            return (np.sum(x), len(x)), ()
        """, (ArrayType(1),))
    assert scalar(np.arange(4.0)) == ((6.0, 4), ())


def test_jvp_kernels_of_unequal_value_and_tangent_parts_are_not_split_in_half():
    """The out buffer's value part has as many leaves as the value: a tangent
    part of another length (here none) is never read as half of the leaves."""
    kernel = _values_only("""
        def three(x):
            return (x[0], x[1], x[2]), ()
        """, (ArrayType(1),))
    assert kernel(np.array([1.0, 2.0, 3.0])) == ((1.0, 2.0, 3.0), ())


# ------------------------------------------------------------------ new axes
def pairwise_energy(x, eps):
    """Lennard-Jones-like: (n, 1, 3) - (1, n, 3) broadcast to (n, n, 3)."""
    d = x[:, None, :] - x[None, :, :]
    r2 = np.sum(d * d, axis=-1) + eps
    inv = 1.0 / (r2 * r2 * r2)
    return np.sum(inv * inv - inv)


def gaussian_mixture(X, mu, s):
    """(N, 1, D) against (1, K, D), a log-sum-exp over K with the max kept."""
    z = (X[:, np.newaxis, :] - mu[np.newaxis]) / s[None, :, :]
    logp = -0.5 * np.sum(z * z, axis=2)                 # (N, K)
    m = np.max(logp, axis=1, keepdims=True)
    return -np.sum(m[:, 0] + np.log(np.sum(np.exp(logp - m), axis=1)))


def outer_views(x, y):
    """New axes returned, with an ellipsis, after integers, on a column."""
    o = x[:, np.newaxis] * y[None]
    return o, x[None], o[..., None] * 2.0, o[0, None], np.sum(o[:, 1][:, None] * y)


AXIS_CASES = [
    (pairwise_energy, (RNG.normal(size=(6, 3)) * 2.0, 1.5)),
    (gaussian_mixture, (RNG.normal(size=(7, 2)), RNG.normal(size=(3, 2)),
                        1.0 + RNG.uniform(size=(3, 2)))),
    (outer_views, (RNG.normal(size=4), RNG.normal(size=3))),
]


@pytest.mark.parametrize("fn, args", AXIS_CASES, ids=[c[0].__name__ for c in AXIS_CASES])
def test_new_axes_are_broadcasting_views(fn, args):
    test_float64_arrays_of_every_rank_come_back(fn, args)


def new_axis_write(x):
    out = np.zeros((3, 1))
    out[:, 0][:, None] = x[:, None] * 2.0   # a write through a view with a new axis
    out[None, 1] += x[1]
    return out, out[None, :, 0, None]


def test_new_axes_in_writes_and_through_the_entry():
    x = np.array([1.0, 2.0, 3.0])
    f = forward_gradient(new_axis_write, backend="llvm")
    ref = forward_gradient(new_axis_write).jvp(x, tangents=(x,))
    for _ in range(3):
        got = f.jvp(x, tangents=(x,))
        for a, b in zip(got[0] + got[1], ref[0] + ref[1], strict=True):
            assert a.shape == b.shape
            np.testing.assert_array_equal(a, b)


def too_many_indices(x):
    return np.sum(x[0, None, 1])


def test_too_many_indices_next_to_new_axes_is_numpys_index_error():
    # the statement does not lower; in numpy it raises what the Python backend raises
    for backend in ("python", "llvm"):
        with pytest.raises(IndexError, match="too many indices"):
            forward_gradient(too_many_indices, backend=backend).jvp(np.ones(3),
                                                                    tangents=(np.ones(3),))


# ------------------------------------------------------------------ var and std
def layer_norm(x, g, b):
    """Normalised over the last axis, with a returned (N, D) array."""
    mu = np.mean(x, axis=-1, keepdims=True)
    sd = np.std(x, axis=-1, keepdims=True)
    y = g * (x - mu) / (sd + 1e-5) + b
    return y, np.sum(np.tanh(y))


def spreads(x, A):
    """Every spelling: functions and methods, over everything and along axes."""
    a = np.var(x) + np.std(x) + x.var() + x.std(ddof=0)
    col = np.var(A, axis=0) + A.std(axis=0)
    row = np.std(A, axis=1)
    return a * np.sum(col) + np.sum(row * row) + np.std(A * x[:3, None]), row


def spread_of_rank3(t):
    return t.var(axis=1), np.std(t)


SPREAD_CASES = [
    (layer_norm, (RNG.normal(size=(4, 6)), RNG.normal(size=6), RNG.normal(size=6))),
    (spreads, (RNG.normal(size=5), RNG.normal(size=(3, 4)))),
    (spread_of_rank3, (RNG.normal(size=(2, 3, 4)),)),
]


@pytest.mark.parametrize("fn, args", SPREAD_CASES, ids=[c[0].__name__ for c in SPREAD_CASES])
def test_var_and_std(fn, args):
    test_float64_arrays_of_every_rank_come_back(fn, args)


def std_only(x):
    return np.std(x, axis=1)


def test_std_tangent_where_the_spread_is_zero():
    """A constant row has std 0: its tangent is 0 along a direction constant on
    the row and NaN along any other (runtime/rules.py std_jvp); one entry per
    row gives 0."""
    x = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]])
    f, ref = forward_gradient(std_only, backend="llvm"), forward_gradient(std_only)
    for d in (np.full(x.shape, 0.5), np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])):
        got = f.jvp(x, tangents=(d,))[1]
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref.jvp(x, tangents=(d,))[1]))
        np.testing.assert_allclose(got, ref.jvp(x, tangents=(d,))[1], rtol=1e-14)
    one = x[:, :1].copy()
    assert np.all(f.jvp(one, tangents=(one,))[1] == 0.0)


def spread_with_ddof(x):
    return np.var(x, ddof=1)


def test_other_ddof_runs_in_numpy():
    x, d = np.array([0.5, 1.0, 2.5]), np.array([1.0, -1.0, 0.5])
    f = forward_gradient(spread_with_ddof, backend="llvm")
    np.testing.assert_allclose(f.jvp(x, tangents=(d,)),
                               forward_gradient(spread_with_ddof).jvp(x, tangents=(d,)),
                               rtol=1e-14)
    assert "ddof" in f.llvm_ir  # why it does not lower whole


# ------------------------------------------------------------------ cumsum, cumprod
def running(x, A):
    """1-D scans, axis= scans of a matrix, nested in expressions and in a loop."""
    c = np.cumsum(x)
    p = np.cumprod(x)
    q = np.cumsum(A, axis=1) + np.cumprod(A, axis=0)
    total = 0.0
    for i in range(2):
        total += np.sum(np.cumsum(x * i + 1.0) ** 2)
    return np.sum(c * p) + np.sum(np.sin(q)) + total, q, np.cumprod(A, axis=-1)


def running32(x, w):
    return np.cumsum(x * w, axis=1), np.sum(np.cumprod(x, axis=0))


SCAN_CASES = [
    (running, (0.5 + RNG.uniform(size=5), 0.5 + RNG.uniform(size=(3, 4)))),
]


@pytest.mark.parametrize("fn, args", SCAN_CASES, ids=[c[0].__name__ for c in SCAN_CASES])
def test_cumsum_and_cumprod(fn, args):
    test_float64_arrays_of_every_rank_come_back(fn, args)


def test_cumsum_and_cumprod_of_float32():
    test_float32_arrays_come_back_as_float32(
        running32, (0.5 + RNG.uniform(size=(3, 4)), 0.5 + RNG.uniform(size=(3, 4))))


def flattening_cumsum(A):
    return np.sum(np.cumsum(A))


def test_cumsum_of_a_matrix_without_axis_runs_in_numpy():
    A, d = np.arange(1.0, 5.0).reshape(2, 2), np.ones((2, 2))
    f = forward_gradient(flattening_cumsum, backend="llvm")
    assert f.jvp(A, tangents=(d,)) == forward_gradient(flattening_cumsum).jvp(A, tangents=(d,))
    assert "axis= only" in f.llvm_ir
