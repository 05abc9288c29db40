"""Arrays on the native backend: the corpus's array functions give the Python
backend's answers; indexing is bounds-checked; shapes, dtypes and layouts
behave as documented; arrays made inside a kernel are freed."""

import copy
import numpy as np
import pytest

import harness
import oracle

pytest.importorskip("llvmlite")
from fwdcompile import UnsupportedSyntax, forward_gradient  # noqa: E402


def _native_ok(a):
    if isinstance(a, np.ndarray):
        return a.dtype in (np.float64, np.int64) and 1 <= a.ndim <= 4
    return isinstance(a, (float, int))


ARRAY_CASES = [c for c in harness.CASES if not c.kwargs
               and all(_native_ok(a) for a in harness.make_args(c))
               and any(isinstance(a, np.ndarray) for a in harness.make_args(c))]


def _both(case):
    args = harness.make_args(case)
    tangents = harness.make_tangents(case, args)
    fresh = copy.deepcopy((args, tangents))  # some cases write into their arguments
    native = forward_gradient(case.fn, wrt=case.wrt, backend="llvm").jvp(*args,
                                                                          tangents=tangents)
    python = forward_gradient(case.fn, wrt=case.wrt).jvp(*fresh[0], tangents=fresh[1])
    return native, python


def test_most_array_cases_lower():
    lowered = []
    for case in ARRAY_CASES:
        try:
            _both(case)
            lowered.append(case.name)
        except UnsupportedSyntax:
            pass
    # those left use matmul, axes, linalg, lists, fancy indexing or helpers
    # taking arrays (see docs/native-backend.md)
    assert len(lowered) >= 45, (len(lowered), len(ARRAY_CASES))


@pytest.mark.parametrize("case", ARRAY_CASES, ids=[c.name for c in ARRAY_CASES])
def test_same_answer_as_the_python_backend(case):
    try:
        (val, dval), (ref_val, ref_dval) = _both(case)
    except UnsupportedSyntax as exc:
        assert "native backend" in str(exc)
        pytest.skip("outside the native subset")
    # sums run left to right here and pairwise in numpy: last-bit differences
    for a, b in zip(oracle.leaves(val), oracle.leaves(ref_val)):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    for a, b in zip(oracle.leaves(dval), oracle.leaves(ref_dval)):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12)


# --------------------------------------------------------------------------
# indexing, shapes, dtypes, layouts
# --------------------------------------------------------------------------

def pick(x, i):
    return x[i] * x[-1]


def test_indices_wrap_and_out_of_range_is_an_index_error():
    f = forward_gradient(pick, wrt=("x",), backend="llvm")
    x = np.array([1.0, 2.0, 3.0])
    assert f.jvp(x, -3, tangents=(np.ones(3),)) == (3.0, 4.0)
    for i in (3, -4, 10 ** 6):
        with pytest.raises(IndexError):
            f.jvp(x, i, tangents=(np.ones(3),))


def write_at(x, i):
    y = x.copy()
    y[i] = 0.0
    return np.sum(y)


def test_an_out_of_range_write_is_an_index_error_not_a_stray_write():
    f = forward_gradient(write_at, wrt=("x",), backend="llvm")
    with pytest.raises(IndexError):
        f.jvp(np.ones(4), 4, tangents=(np.ones(4),))
    assert f.jvp(np.ones(4), 1, tangents=(np.ones(4),)) == (3.0, 3.0)


def add(x, y):
    return np.sum(x * y)


def test_unequal_shapes_are_a_value_error():
    f = forward_gradient(add, backend="llvm")
    with pytest.raises(ValueError, match="broadcast"):
        f.jvp(np.ones(3), np.ones(4), tangents=(np.ones(3), np.ones(4)))


def test_other_dtypes_and_ranks_run_on_the_python_backend():
    f = forward_gradient(add, wrt=("x",), backend="llvm")
    python = forward_gradient(add, wrt=("x",))
    for args in ((np.ones(3), np.arange(3, dtype=np.int32)),
                 (np.ones((1, 1, 1, 1, 3)), np.ones(3))):
        tangents = (np.ones(args[0].shape),)
        assert f.jvp(*args, tangents=tangents) == python.jvp(*args, tangents=tangents)
    assert "Python backend" in f.llvm_placement and "5 dimension" in f.llvm_placement


def test_non_contiguous_arrays_are_converted():
    f = forward_gradient(add, backend="llvm")
    a = np.arange(12.0).reshape(3, 4)
    x, y = a[:, 1], a[::-1, 2]
    assert f.jvp(x, y, tangents=(y, x)) == forward_gradient(add).jvp(x, y, tangents=(y, x))


def stencil(u):
    v = u.copy()
    v[1:] = v[:-1] * 2.0  # overlaps its source: numpy reads everything first
    v[::-1] += v
    return v


def test_overlapping_slice_writes_follow_numpy():
    u = np.arange(1.0, 6.0)
    val, dval = forward_gradient(stencil, backend="llvm").jvp(u, tangents=(np.ones(5),))
    ref_val, ref_dval = forward_gradient(stencil).jvp(u, tangents=(np.ones(5),))
    np.testing.assert_array_equal(val, ref_val)
    np.testing.assert_array_equal(dval, ref_dval)
    np.testing.assert_array_equal(val, stencil(u))


def outer_rows(A, x):
    out = np.zeros((A.shape[0], len(x)))
    for i in range(A.shape[0]):
        out[i] = A[i, :len(x)] * x
    return out.T


def test_two_dimensional_results_come_back_as_fresh_numpy_arrays():
    A, x = np.arange(12.0).reshape(3, 4), np.array([1.0, -1.0])
    f = forward_gradient(outer_rows, wrt=("x",), backend="llvm")
    val, dval = f.jvp(A, x, tangents=(np.ones(2),))
    assert val.shape == (2, 3) and dval.shape == (2, 3)
    np.testing.assert_array_equal(val, outer_rows(A, x))
    val[:] = 7.0  # ours: the next call is not affected
    np.testing.assert_array_equal(f.jvp(A, x, tangents=(np.ones(2),))[0], outer_rows(A, x))


def largest(x):
    return np.max(x)


def test_a_reduction_without_identity_on_an_empty_array_is_a_value_error():
    f = forward_gradient(largest, backend="llvm", fallback=None)
    with pytest.raises(ValueError, match="zero-size"):
        f.jvp(np.ones(0), tangents=(np.ones(0),))


def loop_with_temporaries(x, steps):
    y = x.copy()
    for _ in range(steps):
        t = np.sin(y) * 0.5
        y = y + t
    return np.sum(y), y


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/statm"), reason="needs /proc")
def test_arrays_made_in_a_kernel_are_freed():
    f = forward_gradient(loop_with_temporaries, wrt=("x",), backend="llvm")
    x = np.linspace(0.0, 1.0, 1000)
    (s, y), (ds, dy) = f.jvp(x, 5, tangents=(np.ones(1000),))
    (rs, ry), (rds, rdy) = forward_gradient(loop_with_temporaries, wrt=("x",)).jvp(
        x, 5, tangents=(np.ones(1000),))
    np.testing.assert_allclose([s, ds], [rs, rds], rtol=1e-12)
    np.testing.assert_allclose(dy, rdy, rtol=1e-12)
    for _ in range(200):
        f.jvp(x, 5, tangents=(np.ones(1000),))
    before = _rss_bytes()
    for _ in range(2000):  # 2000 calls x 22 arrays x 8 kB: 350 MB if nothing were freed
        f.jvp(x, 5, tangents=(np.ones(1000),))
    assert _rss_bytes() - before < 30 * 2 ** 20


def test_eager_compilation_from_a_signature():
    f = forward_gradient(loop_with_temporaries, backend="llvm").compile("float64[:]", int)
    assert "loop_with_temporaries_jvp" in f.llvm_ir
    assert "loop_with_temporaries_jvp" in f.llvm_asm
    x = np.linspace(0.0, 1.0, 5)
    got = f.jvp(x, 3, tangents=(np.ones(5),))
    want = forward_gradient(loop_with_temporaries).jvp(x, 3, tangents=(np.ones(5),))
    np.testing.assert_allclose(got[0][1], want[0][1], rtol=1e-13)
    with pytest.raises(TypeError, match="signature entry for 'x'"):
        forward_gradient(loop_with_temporaries, backend="llvm").compile("float16[:]", int)
    with pytest.raises(TypeError, match="takes 2 parameters"):
        forward_gradient(loop_with_temporaries, backend="llvm").compile(float)
    listed = forward_gradient(uses_a_list, backend="llvm").compile(float)  # regions
    assert listed.jvp(1.5, tangents=(2.0,)) == (1.5, 2.0)


def uses_a_list(x):
    return [x, x][0]


# --------------------------------------------------------------------------
# temporaries recomputed where they are used, and only where that is sound
# --------------------------------------------------------------------------

def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def test_elementwise_temporaries_are_fused_into_their_reductions():
    f = forward_gradient(rosen, backend="llvm")
    x = np.linspace(-1.0, 1.0, 9)
    val, dval = f.jvp(x, tangents=(np.ones(9),))
    ref_val, ref_dval = forward_gradient(rosen).jvp(x, tangents=(np.ones(9),))
    np.testing.assert_allclose([val, dval], [ref_val, ref_dval], rtol=1e-13)
    assert "malloc" not in f.llvm_ir  # the JVP's `diff` arrays are never stored


def input_written_after(x):
    y = x.copy()
    t = y * 2.0
    y[0] = 100.0
    return np.sum(t * y)


def scalar_reassigned_after(x, k):
    t = x * k
    k = k + 1.0
    return np.sum(t) * k


def viewed_temporary(x):
    t = x * 2.0
    return t[0] + np.sum(t)


def written_in_a_loop(x, n):
    s = 0.0
    y = x.copy()
    for _ in range(n):
        t = y * 0.5
        y[1:] = y[:-1] + 1.0
        s += np.sum(t * t)
    return s


def nested_temporary_reads_reassigned(a):
    t1 = -a
    ratio = (0.5 + t1) / 2.0  # a temporary reading t1 ...
    t2 = ratio * a  # ... inside another, used after t1 changes below
    if np.sum(a) > np.sum(t2):
        t1 = a
    return np.sum(t2 * t1)


@pytest.mark.parametrize("fn, args", [
    (nested_temporary_reads_reassigned, (np.array([0.3, -0.2, 0.9]),)),
    (input_written_after, (np.arange(1.0, 5.0),)),
    (scalar_reassigned_after, (np.arange(1.0, 5.0), 2.0)),
    (viewed_temporary, (np.arange(1.0, 5.0),)),
    (written_in_a_loop, (np.arange(1.0, 5.0), 3)),
])
def test_temporaries_whose_inputs_change_keep_their_values(fn, args):
    tangents = tuple(np.ones_like(a) if isinstance(a, np.ndarray) else 1.0
                     for a in args if not isinstance(a, int))
    got = forward_gradient(fn, backend="llvm").jvp(*args, tangents=tangents)
    want = forward_gradient(fn).jvp(*args, tangents=tangents)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    assert got[0] == pytest.approx(fn(*args), rel=1e-13)


def products(A, B, x):
    y = A @ x
    C = np.dot(A, B)
    return np.sum(C * C) + x @ y + np.sum(np.dot(x, A))


def test_matrix_products_match_numpy_and_check_shapes():
    rng = np.random.default_rng(3)
    A, B, x = rng.standard_normal((3, 3)), rng.standard_normal((3, 4)), rng.standard_normal(3)
    tangents = (rng.standard_normal((3, 3)), rng.standard_normal((3, 4)),
                rng.standard_normal(3))
    f = forward_gradient(products, backend="llvm")
    got = f.jvp(A, B, x, tangents=tangents)
    want = forward_gradient(products).jvp(A, B, x, tangents=tangents)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # small arrays: one kernel (its shape check); large ones: numpy's BLAS path checks
    with pytest.raises(ValueError, match="not aligned|broadcast"):
        f.jvp(A, B.T.copy(), x, tangents=(tangents[0], tangents[1].T.copy(), tangents[2]))


# --------------------------------------------------------------------------
# helpers taking and returning arrays
# --------------------------------------------------------------------------

def _rhs(y, k):
    return -k * y + np.sin(y)


def _tail(y):
    return y[1:]


def _at(y, i):
    return y[i]


def integrate(y0, k, steps):
    y = y0.copy()
    for _ in range(steps):
        y = y + 0.1 * _rhs(y, k)
        y = y + 0.05 * _rhs(y * 0.5, k)  # an expression argument: a temporary
    return np.sum(_tail(y) ** 2), y


def index_in_helper(y, i):
    return _at(y, i) * 2.0


def test_helpers_take_and_return_arrays():
    y0, k = np.linspace(0.1, 1.0, 6), 0.7
    tangents = (np.ones(6), 1.0)
    got = forward_gradient(integrate, backend="llvm").jvp(y0, k, 30, tangents=tangents)
    want = forward_gradient(integrate).jvp(y0, k, 30, tangents=tangents)
    np.testing.assert_allclose(got[0][0], want[0][0], rtol=1e-12)
    np.testing.assert_allclose(got[1][0], want[1][0], rtol=1e-12)
    np.testing.assert_allclose(got[0][1], want[0][1], rtol=1e-12)
    np.testing.assert_allclose(got[1][1], want[1][1], rtol=1e-12)
    f = forward_gradient(integrate, backend="llvm")
    y0, tangents = np.linspace(0.1, 1.0, 2000), (np.ones(2000), 1.0)
    f.jvp(y0, k, 30, tangents=tangents)
    before = _rss_bytes()
    for _ in range(300):  # 300 calls x 30 argument temporaries of 16 kB: 140 MB if leaked
        f.jvp(y0, k, 30, tangents=tangents)
    assert _rss_bytes() - before < 30 * 2 ** 20


def test_an_index_error_in_a_helper_leaves_the_caller():
    f = forward_gradient(index_in_helper, wrt=("y",), backend="llvm")
    assert f.jvp(np.arange(3.0), -1, tangents=(np.ones(3),)) == (4.0, 2.0)
    with pytest.raises(IndexError):
        f.jvp(np.arange(3.0), 3, tangents=(np.ones(3),))


# --------------------------------------------------------------------------
# broadcasting, as numpy does it
# --------------------------------------------------------------------------

def affine_rows(A, b):
    C = np.zeros_like(A)
    C[:] = b  # a row stretched over every row
    return np.sum(np.tanh(A + b) * C) + np.sum(A[:, 0:1] * A), A * b - C


def test_vectors_and_single_columns_broadcast_against_matrices():
    rng = np.random.default_rng(5)
    A, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    tangents = (rng.standard_normal((3, 4)), rng.standard_normal(4))
    got = forward_gradient(affine_rows, backend="llvm").jvp(A, b, tangents=tangents)
    want = forward_gradient(affine_rows).jvp(A, b, tangents=tangents)
    np.testing.assert_allclose(got[0][0], want[0][0], rtol=1e-12)
    np.testing.assert_allclose(got[1][0], want[1][0], rtol=1e-12)
    np.testing.assert_allclose(got[0][1], want[0][1], rtol=1e-13)
    np.testing.assert_allclose(got[1][1], want[1][1], rtol=1e-13)
    with pytest.raises(ValueError, match="broadcast"):
        forward_gradient(affine_rows, backend="llvm").jvp(
            A, np.ones(3), tangents=(tangents[0], np.ones(3)))


def _logsumexp(z, axis=-1):
    m = np.max(z, axis=axis, keepdims=True)
    return m[..., 0] + np.log(np.sum(np.exp(z - m), axis=axis))


def axis_reductions(A):
    s0 = np.sum(A, axis=0)
    m1 = A.mean(axis=1)
    top = np.max(A, axis=1, keepdims=True)
    low = A.min(0)
    return np.sum(s0 * s0) + np.sum(m1) + np.sum(A - top) + np.sum(low) + np.sum(_logsumexp(A))


def test_reductions_along_an_axis_with_keepdims_and_helper_defaults():
    rng = np.random.default_rng(7)
    A, dA = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    A[1, 2] = A[1, 3] = A[1].max() + 1.0  # a tie: the derivative is shared
    got = forward_gradient(axis_reductions, backend="llvm").jvp(A, tangents=(dA,))
    want = forward_gradient(axis_reductions).jvp(A, tangents=(dA,))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    with pytest.raises(ValueError, match="zero-size"):
        forward_gradient(axis_reductions, backend="llvm").jvp(np.ones((3, 0)),
                                                              tangents=(np.ones((3, 0)),))


# --------------------------------------------------------------------------
# the generated f.jvp entry with arrays
# --------------------------------------------------------------------------

def scaled_pick(x, i, flip, s):
    v = x[i] * s
    return -v if flip else v


def test_the_native_entry_takes_arrays_and_hands_the_rest_to_the_general_path():
    import sys

    f = forward_gradient(scaled_pick, backend="llvm")
    python = forward_gradient(scaled_pick)
    x, t = np.arange(1.0, 7.0), np.ones(6)
    first = f.jvp(x, 2, False, 0.5, tangents=(t, 1.0))
    assert type(f.jvp).__name__ == "builtin_function_or_method"
    calls = [((x, 2, False, 0.5), (t, 1.0)),
             ((x, -1, True, 2.0), (t, 0.5)),
             ((x[::2], 1, False, 0.5), (t[::2], 1.0)),           # not contiguous
             ((list(x), 2, False, 0.5), (t, 1.0)),               # not an array
             ((x, np.int64(2), False, 0.5), (t, 1.0)),           # not an exact int
             ((x, 2, 0, 0.5), (t, 1.0)),                         # not a bool
             ((x, 2, False, np.float64(0.5)), (t, 1.0))]         # not an exact float
    for args, tangents in calls:
        try:
            want = python.jvp(*args, tangents=tangents)
        except Exception as exc:
            with pytest.raises(type(exc)):
                f.jvp(*args, tangents=tangents)
            continue
        got = f.jvp(*args, tangents=tangents)
        np.testing.assert_allclose(got, want, rtol=1e-15)
    assert f.jvp(x, 2, False, 0.5, tangents=(t, 1.0)) == first
    with pytest.raises(ValueError, match="shape"):
        f.jvp(x, 2, False, 0.5, tangents=(np.ones(5), 1.0))  # a tangent of another shape
    with pytest.raises(TypeError, match="float32"):
        f.jvp(x.astype(np.float32), 2, False, 0.5, tangents=(t, 1.0))
    with pytest.raises(IndexError):
        f.jvp(x, 6, False, 0.5, tangents=(t, 1.0))  # raised by the kernel, through the entry
    before = [sys.getrefcount(o) for o in (x, t)]
    for _ in range(1000):
        result = f.jvp(x, 2, False, 0.5, tangents=(t, 1.0))
    assert [sys.getrefcount(o) for o in (x, t)] == before
    assert sys.getrefcount(result) == 2


# --------------------------------------------------------------------------
# int64 arrays: index data, read element by element
# --------------------------------------------------------------------------

def spring_energy(pos, edges, rest):
    e = 0.0
    for k in range(edges.shape[0]):
        i = edges[k, 0]
        j = edges[k, 1]
        d = pos[i] - pos[j]
        e += (np.sqrt(np.sum(d * d)) - rest[k]) ** 2
    return e


def gather_squares(x, idx):
    s = 0.0
    for i in idx:
        s += x[i] ** 2
    return s


def index_arithmetic(x, idx):
    return np.sum(x * idx)


def test_integer_arrays_index_native_code():
    rng = np.random.default_rng(11)
    pos, rest = rng.standard_normal((6, 2)), rng.uniform(0.5, 1.5, 7)
    edges = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 0], [0, 3]])
    tangents = (rng.standard_normal((6, 2)), rng.standard_normal(7))
    f = forward_gradient(spring_energy, wrt=("pos", "rest"), backend="llvm")
    want = forward_gradient(spring_energy, wrt=("pos", "rest")).jvp(pos, edges, rest,
                                                                     tangents=tangents)
    np.testing.assert_allclose(f.jvp(pos, edges, rest, tangents=tangents), want, rtol=1e-12)
    assert type(f.jvp).__name__ == "builtin_function_or_method"  # int64 arrays take the entry
    np.testing.assert_allclose(f.jvp(pos, edges, rest, tangents=tangents), want, rtol=1e-12)
    x, idx = rng.standard_normal(5), np.array([4, 0, 0, -1])
    g = forward_gradient(gather_squares, wrt=("x",), backend="llvm")
    np.testing.assert_allclose(g.jvp(x, idx, tangents=(np.ones(5),)),
                               forward_gradient(gather_squares, wrt=("x",)).jvp(
                                   x, idx, tangents=(np.ones(5),)), rtol=1e-13)
    with pytest.raises(IndexError):
        g.jvp(x, np.array([5]), tangents=(np.ones(5),))


def test_integer_arrays_outside_indexing_run_in_numpy():
    x = np.linspace(0.5, 1.5, 3)
    for fn, idx in ((index_arithmetic, np.arange(3)),
                    (gather_squares, np.arange(3, dtype=np.int32))):
        want = forward_gradient(fn, wrt=("x",)).jvp(x, idx, tangents=(x,))
        got = forward_gradient(fn, wrt=("x",), backend="llvm").jvp(x, idx, tangents=(x,))
        np.testing.assert_allclose(got, want, rtol=1e-13)


def scaled_by_quotient(x, n):
    return x * (7 // n) + 1.0


def test_the_native_entry_returns_arrays_and_releases_them_on_errors():
    import sys

    f = forward_gradient(scaled_by_quotient, wrt=("x",), backend="llvm")
    x = np.linspace(0.0, 1.0, 1000)
    first = f.jvp(x, 2, tangents=(np.ones(1000),))
    assert type(f.jvp).__name__ == "builtin_function_or_method"
    value, tangent = f.jvp(x, 2, tangents=(np.ones(1000),))
    np.testing.assert_array_equal(value, first[0])
    np.testing.assert_array_equal(value, x * 3 + 1.0)
    np.testing.assert_array_equal(tangent, np.full(1000, 3.0))
    result = f.jvp(x, 2, tangents=(np.ones(1000),))
    counts = sys.getrefcount(result), sys.getrefcount(result[0]), sys.getrefcount(result[1])
    assert counts == (2, 2, 2)  # (computed first: pytest's assert rewriting holds references)
    t = np.ones(1000)
    for _ in range(100):
        f.jvp(x, 2, tangents=(t,))
        with pytest.raises(ZeroDivisionError):
            f.jvp(x, 0, tangents=(t,))  # the kernel still returned arrays: released
    before = _rss_bytes()
    for _ in range(3000):  # 3000 x 2 arrays of 8 kB: 48 MB if either path leaked
        f.jvp(x, 2, tangents=(t,))
        with pytest.raises(ZeroDivisionError):
            f.jvp(x, 0, tangents=(t,))
    assert _rss_bytes() - before < 20 * 2 ** 20


def with_defaults(x, scale=2.0, steps=3):
    y = x.copy()
    for _ in range(steps):
        y = y * scale - 0.5 * y * y
    return np.sum(y), y


def test_the_native_entry_fills_in_defaults_when_wrt_is_fixed():
    x, t = np.linspace(0.1, 0.5, 5), np.ones(5)
    f = forward_gradient(with_defaults, wrt=("x",), backend="llvm")
    python = forward_gradient(with_defaults, wrt=("x",))
    f.jvp(x, tangents=(t,))
    assert type(f.jvp).__name__ == "builtin_function_or_method"
    for args in [(x,), (x, 1.5), (x, 1.5, 4), (x, 2.0, 3)]:
        got, want = f.jvp(*args, tangents=(t,)), python.jvp(*args, tangents=(t,))
        np.testing.assert_allclose(got[0][0], want[0][0], rtol=1e-13)
        np.testing.assert_allclose(got[1][1], want[1][1], rtol=1e-13)
    with pytest.raises(ValueError, match="expected 1 tangent"):
        f.jvp(x, tangents=(t, 1.0))


def asarray_aliases(x):
    z = x.copy()
    y = np.asarray(z)  # the same array: the write below reaches z
    y[0] = 5.0
    w = np.array(z)  # a copy: this one does not
    w[1] = 7.0
    return np.sum(z * z)


def test_asarray_aliases_and_array_copies_as_in_numpy():
    got = forward_gradient(asarray_aliases, backend="llvm").jvp(np.ones(3),
                                                                tangents=(np.ones(3),))
    assert got == forward_gradient(asarray_aliases).jvp(np.ones(3), tangents=(np.ones(3),))
    assert got[0] == asarray_aliases(np.ones(3)) == 27.0
