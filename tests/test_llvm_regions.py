"""Region lowering (backends/llvm/regions.py, schedule.py): functions that do
not lower whole run as native regions joined by numpy, and give the Python
backend's answers for every subset of parameters as wrt, checked against
finite differences (tests/oracle.py), which share no code with either backend."""

import gc
import itertools
import resource

import numpy as np
import pytest

import oracle

pytest.importorskip("llvmlite")
from fwdcompile import forward_gradient  # noqa: E402

RNG = np.random.default_rng(7)


def mlp_loss(W1, b1, W2, b2, X, Y):
    h = np.tanh(X @ W1 + b1)
    z = h @ W2 + b2
    z = z - np.max(z, axis=1, keepdims=True)
    lse = np.log(np.sum(np.exp(z), axis=1))
    return np.mean(lse - np.sum(Y * z, axis=1))


def solve_then_square(A, b, c):
    x = np.linalg.solve(A, b)
    return np.sum(np.sin(x) * c + x * x)


def python_loop_with_an_unknown_call(x, k):
    s = 0.0
    for i in range(k):
        y = _not_native(x * (i + 1))  # a plain Python function: no native form
        s = s + np.sum(np.exp(-y * y)) * x[i]
    return s


def _not_native(v):
    return np.concatenate([v, v])[:v.shape[0]]  # lists do not lower


def conditional_names(x, c):
    y = np.linalg.norm(x)
    if c > 0:
        z = x * y
        w = z + 1.0
    else:
        z = x / y
        w = z - 1.0
    return np.sum(w * w) + np.sum(z)


def writes_then_blas(A, x):
    out = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = np.sin(x[i]) * x[i]
    y = A @ out
    return np.sum(y * y)


def attention(Wq, Wk, X):
    q = X @ Wq
    k = X @ Wk
    s = np.einsum("id,jd->ij", q, k) / 4.0
    s = s - np.max(s, axis=1, keepdims=True)
    p = np.exp(s)
    p = p / np.sum(p, axis=1, keepdims=True)
    return np.sum(p * s)


CASES = [
    (mlp_loss, lambda: (RNG.normal(size=(5, 4)), RNG.normal(size=4), RNG.normal(size=(4, 3)),
                        RNG.normal(size=3), RNG.normal(size=(6, 5)),
                        np.eye(3)[RNG.integers(0, 3, 6)]), ("W1", "b1", "W2", "b2")),
    (solve_then_square, lambda: (np.eye(3) * 3 + RNG.normal(size=(3, 3)) * 0.3,
                                 RNG.normal(size=3), RNG.normal(size=3)), ("A", "b", "c")),
    (python_loop_with_an_unknown_call, lambda: (RNG.uniform(0.2, 0.9, 4), 3), ("x",)),
    (conditional_names, lambda: (RNG.uniform(0.5, 1.5, 4), 1.0), ("x",)),
    (conditional_names, lambda: (RNG.uniform(0.5, 1.5, 4), -1.0), ("x",)),
    (writes_then_blas, lambda: (RNG.normal(size=(3, 4)), RNG.normal(size=4)), ("A", "x")),
    (attention, lambda: (RNG.normal(size=(4, 4)) * 0.5, RNG.normal(size=(4, 4)) * 0.5,
                         RNG.normal(size=(5, 4))), ("Wq", "Wk")),
]


def _subsets(names):
    return [s for r in range(1, len(names) + 1) for s in itertools.combinations(names, r)]


@pytest.mark.parametrize("fn, make, params", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_regions_match_the_python_backend_for_every_wrt(fn, make, params):
    args = make()
    names = list(fn.__code__.co_varnames[:fn.__code__.co_argcount])
    for wrt in _subsets(params):
        tangents = tuple(RNG.normal(size=np.shape(args[names.index(n)])) for n in wrt)
        native = forward_gradient(fn, wrt=wrt, backend="llvm")
        want = forward_gradient(fn, wrt=wrt).jvp(*args, tangents=tangents)
        for _ in range(2):  # the first call may settle the partition; the second runs it
            got = native.jvp(*args, tangents=tangents)
            np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)
        fd, _ = oracle.jvp_reference(fn, args, [names.index(n) for n in wrt], tangents)
        np.testing.assert_allclose(got[1], fd, rtol=1e-7, atol=1e-9)
        assert "native" in native.llvm_placement


def test_matrix_products_run_in_numpy_and_the_rest_fuses():
    f = forward_gradient(mlp_loss, wrt=("W1", "b1", "W2", "b2"), backend="llvm")
    args = CASES[0][1]()
    f.jvp(*args, tangents=tuple(np.ones_like(a) for a in args[:4]))
    kernel = f._last_kernel()
    # the products of each layer run back to back; everything else is two kernels
    assert len(kernel.specs) == 2, kernel.glue_source
    assert kernel.glue_source.count(" @ ") == 5
    placement = f.llvm_placement
    assert "numpy" in placement and "native 1" in placement and "native 2" in placement
    assert "matrix product runs through numpy" in f.llvm_ir


def test_a_region_that_cannot_lower_for_its_types_moves_to_numpy():
    args = CASES[2][1]()
    f = forward_gradient(python_loop_with_an_unknown_call, wrt=("x",), backend="llvm")
    t = (np.ones(4),)
    first = f.jvp(*args, tangents=t)
    assert f.jvp(*args, tangents=t) == first  # same numbers once the partition settled
    where = f._last_kernel().where()
    # the call to the plain Python function runs in numpy, its loop stays Python
    assert any(m == "numpy" for m in where.values())
    assert any(m.startswith("native") for m in where.values())


def test_a_write_into_a_non_contiguous_argument_reaches_the_caller():
    def scale_in_place(x, y):
        x *= 2.0
        return np.sum(np.linalg.norm(y) * x)

    base = np.arange(1.0, 9.0)
    for backend in ("python", "llvm"):
        x = base.copy()[::2]  # a view: a region would have to copy it
        forward_gradient(scale_in_place, wrt=("y",), backend=backend).jvp(
            x, np.ones(3), tangents=(np.ones(3),))
        np.testing.assert_array_equal(x, 2.0 * base[::2])


def test_results_are_the_callers_own_and_memory_is_released():
    f = forward_gradient(solve_then_square, wrt=("b",), backend="llvm")

    def returns_array(A, b):
        return np.linalg.solve(A, b) * 2.0

    g = forward_gradient(returns_array, wrt=("b",), backend="llvm")
    A, b = np.eye(200) * 2.0, np.ones(200)
    value, tangent = g.jvp(A, b, tangents=(b,))
    value[:] = 0.0  # writeable, and writing changes nothing of ours
    np.testing.assert_allclose(g.jvp(A, b, tangents=(b,))[0], np.ones(200))
    for _ in range(50):
        g.jvp(A, b, tangents=(b,))
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(3000):
        g.jvp(A, b, tangents=(b,))
        f.jvp(np.eye(3) * 2, np.ones(3), np.ones(3), tangents=(np.ones(3),))
    gc.collect()
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 20_000  # 3000 leaked 1.6 kB results would be ~5 MB per result


def test_the_glue_source_is_readable_and_deterministic():
    sources = []
    for _ in range(2):
        f = forward_gradient(attention, wrt=("Wq",), backend="llvm")
        args = CASES[-1][1]()
        f.jvp(*args, tangents=(np.ones((4, 4)),))
        sources.append(f._last_kernel().glue_source)
    assert sources[0] == sources[1]
    assert "_region_1(" in sources[0] and "q @ k.T" in sources[0]  # the einsum, as a product


def rnn(W, U, xs, y):
    h = np.zeros(W.shape[0])
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + U @ xs[t])
    return np.sum((h - y) ** 2)


@pytest.mark.parametrize("n", [8, 600])  # one kernel with the products as loops; regions
def test_matrix_products_run_as_loops_when_small_and_through_blas_when_large(n):
    from fwdcompile.native import BySize

    rng = np.random.default_rng(n)
    W, U = rng.normal(size=(n, n)) * 0.3 / np.sqrt(n), rng.normal(size=(n, 3)) * 0.3
    xs, y = rng.normal(size=(4, 3)), rng.normal(size=n)
    tangents = (rng.normal(size=W.shape), rng.normal(size=U.shape))
    native = forward_gradient(rnn, wrt=("W", "U"), backend="llvm")
    want = forward_gradient(rnn, wrt=("W", "U")).jvp(W, U, xs, y, tangents=tangents)
    for _ in range(2):
        got = native.jvp(W, U, xs, y, tangents=tangents)
        np.testing.assert_allclose(got, want, rtol=1e-11)
    fd, _ = oracle.jvp_reference(rnn, (W, U, xs, y), [0, 1], tangents)
    np.testing.assert_allclose(got[1], fd, rtol=1e-7)
    kernel = native._last_kernel()
    assert isinstance(kernel, BySize) and kernel.large.loops
    assert (W.size <= kernel.limit) == (n == 8)


@pytest.mark.parametrize("spec", ["id,jd->ij", "ij,jd->id", "ij,jk->ki", "ji,jk->ik", "ij,j->i",
                                  "ji,j->i", "i,ij->j", "i,ji->j", "i,i->"])
def test_einsum_matrix_products_become_matmul(spec):
    from fwdcompile.backends.llvm.schedule import matmul_form

    ta, tb, tout = matmul_form(spec)
    inputs = spec.split("->")[0].split(",")
    sizes = {c: 3 + k for k, c in enumerate(sorted(set("".join(inputs))))}
    a, b = (RNG.normal(size=[sizes[c] for c in s]) for s in inputs)
    got = (a.T if ta else a) @ (b.T if tb else b)
    np.testing.assert_allclose(got.T if tout else got, np.einsum(spec, a, b), rtol=1e-13)


@pytest.mark.parametrize("spec", ["ij,ij->", "bij,bjk->bik", "ij,jk->ijk", "ii,i->i", "...i,i"])
def test_other_einsums_stay_einsum(spec):
    from fwdcompile.backends.llvm.schedule import matmul_form

    assert matmul_form(spec) is None


# ---------------------------------------------------------------- results built natively
def layer(W, x):
    h = np.tanh(W @ x)
    return h * 2.0 + 1.0  # a region returning arrays to the caller


def test_region_results_are_new_arrays_that_own_their_memory():
    rng = np.random.default_rng(3)
    W, x = rng.normal(size=(300, 300)), rng.normal(size=300)
    f = forward_gradient(layer, wrt=("W",), backend="llvm")
    want = forward_gradient(layer, wrt=("W",)).jvp(W, x, tangents=(W,))
    first = f.jvp(W, x, tangents=(W,))
    second = f.jvp(W, x, tangents=(W,))
    for got in (first, second):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)
        for a in got:
            assert a.flags.writeable and a.flags.c_contiguous and a.dtype == np.float64
            assert not any(np.may_share_memory(a, b) for b in (W, x))
    assert not np.may_share_memory(first[0], second[0])
    first[0][:] = 0.0  # one result's memory is its own
    np.testing.assert_allclose(second[0], want[0], rtol=1e-11, atol=1e-11)


def test_region_results_outlive_their_kernel_and_are_released():
    rng = np.random.default_rng(4)
    n = 1_000_000  # 8 MB per array: a leak would show in the resident size
    A = np.eye(2) * 2.0
    x = rng.normal(size=n)

    def big(A, x):
        s = np.linalg.det(A)
        return np.sin(x) * s

    f = forward_gradient(big, wrt=("x",), backend="llvm")
    kept = f.jvp(A, x, tangents=(x,))
    del f
    gc.collect()  # the kernel and its machine code may go; the arrays stay valid
    np.testing.assert_allclose(kept[0], np.sin(x) * 4.0, rtol=1e-12)
    g = forward_gradient(big, wrt=("x",), backend="llvm")
    for _ in range(5):
        g.jvp(A, x, tangents=(x,))
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(60):
        g.jvp(A, x, tangents=(x,))
    gc.collect()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # kB
    del kept


def aliased_outputs(A, x):
    y = A @ x
    z = np.sin(y)
    w = z  # one block under two names, both read after the region
    v = z[::2]  # a strided view into it
    return np.sum(A @ z) + np.sum(A @ w) + np.sum(A[::2, ::2] @ v)


def test_region_outputs_sharing_a_block_or_strided_are_copied_out():
    rng = np.random.default_rng(5)
    args = (rng.normal(size=(6, 6)), rng.normal(size=6))
    tangents = (rng.normal(size=(6, 6)), rng.normal(size=6))
    native = forward_gradient(aliased_outputs, backend="llvm")
    want = forward_gradient(aliased_outputs).jvp(*args, tangents=tangents)
    for _ in range(3):
        np.testing.assert_allclose(native.jvp(*args, tangents=tangents), want, rtol=1e-12)
    assert "native" in native.llvm_placement


def index_in_region(A, x, i):
    y = A @ x
    return np.sum(np.sin(y) * y[i])


def test_an_error_in_a_region_is_raised_and_calls_continue():
    rng = np.random.default_rng(6)
    A, x = rng.normal(size=(4, 4)), rng.normal(size=4)
    native = forward_gradient(index_in_region, wrt=("x",), backend="llvm")
    python = forward_gradient(index_in_region, wrt=("x",))
    np.testing.assert_allclose(native.jvp(A, x, 2, tangents=(x,)),
                               python.jvp(A, x, 2, tangents=(x,)), rtol=1e-12)
    for f in (python, native):
        with pytest.raises(IndexError):
            f.jvp(A, x, 7, tangents=(x,))
    np.testing.assert_allclose(native.jvp(A, x, 1, tangents=(x,)),
                               python.jvp(A, x, 1, tangents=(x,)), rtol=1e-12)
