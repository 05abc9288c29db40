"""Threads in the native backend (backends/llvm/parallel.py): with loops split
across threads (the size threshold forced to 0, so small test arrays split
too), native results equal the Python backend's, tangents equal central
differences, and 1, 2 or 3 threads give the same bits (reductions run in
fixed blocks whatever the thread count).  Not timed: benchmarks/bench_threads.py."""

import contextlib
import ctypes
import itertools
import os

import numpy as np
import pytest

pytest.importorskip("llvmlite")
from llvmlite import ir  # noqa: E402

from fwdcompile import forward_gradient  # noqa: E402
from fwdcompile.backends.llvm import engine, parallel  # noqa: E402
from fwdcompile.backends.llvm.arrays import ArrayLowering  # noqa: E402
from fwdcompile.backends.llvm.errors import INDEX  # noqa: E402
from fwdcompile.backends.llvm.reductions import BLOCK  # noqa: E402
from fwdcompile.backends.llvm.types import F64, F64P, I64, I64P, VOID  # noqa: E402

RNG = np.random.default_rng(14)


@contextlib.contextmanager
def threads(n, threshold=0):
    """Kernels compiled inside use ``n`` threads above ``threshold``."""
    saved = {k: os.environ.get(k) for k in ("FWDCOMPILE_NUM_THREADS",
                                            "FWDCOMPILE_PARALLEL_THRESHOLD")}
    os.environ["FWDCOMPILE_NUM_THREADS"] = str(n)
    os.environ["FWDCOMPILE_PARALLEL_THRESHOLD"] = str(threshold)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def native_jvp(fn, args, tangents, n_threads=2, threshold=0, **options):
    """``(f, f.jvp(...))`` with ``fn`` compiled (at its first call) for ``n_threads``."""
    with threads(n_threads, threshold):
        f = forward_gradient(fn, backend="llvm", **options)
        return f, f.jvp(*args, tangents=tangents)


def python_jvp(fn, args, tangents, **options):
    return forward_gradient(fn, **options).jvp(*args, tangents=tangents)


def leaves(x):
    return [np.asarray(v) for v in (x if isinstance(x, tuple) else (x,))]


def assert_close(got, want, rtol=1e-12):
    for g, w in zip(leaves(got), leaves(want)):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * max(1.0, np.max(np.abs(w))))


def assert_same_bits(got, want):
    for g, w in zip(leaves(got), leaves(want)):
        assert g.shape == w.shape and np.array_equal(g, w, equal_nan=True), \
            f"bits differ: max |diff| {np.max(np.abs(g - w))}"


def central_difference(fn, args, tangents, h=1e-6):
    plus = fn(*[a + h * t for a, t in zip(args, tangents)])
    minus = fn(*[a - h * t for a, t in zip(args, tangents)])
    return (np.asarray(plus) - np.asarray(minus)) / (2 * h)


def uses_threads(f):
    return "pthread_create" in f.llvm_ir


# ---------------------------------------------------------------- workloads

def tanh_affine(a, b, c):
    return np.tanh(a * b + c) * a


def broadcast_rows(A, w, c):
    return np.exp(-A * A) * w + c  # (n, m) * (m,) + (n, 1)


def written_into(a, b):
    out = np.zeros_like(a)
    out[1:] = a[1:] * b[:-1] + np.sin(b[1:])
    out[0] = 1.0
    return out


def whole_reductions(a, b):
    y = np.tanh(a * b)
    return np.sum(y * a) + np.mean(np.exp(-y)) + np.max(a * b) - np.min(y) + np.sum(a ** 2)


def axis_reductions(A, B):
    s0 = np.sum(A * B, axis=0)
    m1 = np.mean(np.tanh(A), axis=1)
    x1 = np.max(A * B, axis=1)
    return np.sum(s0 * s0) + np.sum(m1) + np.sum(x1 * x1) + np.sum(np.min(B, axis=0))


def centred(A):
    z = A - np.max(A, axis=1, keepdims=True)  # a hidden array held before the loop
    return np.log(np.sum(np.exp(z), axis=1)) + np.cumsum(A[:, 0])


def allocating_loop(x, k):
    s = 0.0
    for i in range(k):
        y = np.tanh(x * (i + 1.0))  # a new array every iteration, filled by threads
        s = s + np.sum(y * y)
    return s


def three_args(a, b, c):
    return np.sum(np.tanh(a * b + c) * a) + np.sum(b * c)


def mlp_loss(W1, b1, W2, b2, X, Y):  # `@` runs in numpy: native regions joined by it
    h = np.tanh(X @ W1 + b1)
    z = h @ W2 + b2
    z = z - np.max(z, axis=1, keepdims=True)
    lse = np.log(np.sum(np.exp(z), axis=1))
    return np.mean(lse - np.sum(Y * z, axis=1))


def vectors(*shapes):
    return tuple(RNG.standard_normal(s) for s in shapes)


CASES = [
    ("tanh_affine", tanh_affine, lambda: vectors(20001, 20001, 20001)),
    ("tanh_affine_2d", tanh_affine, lambda: vectors((37, 301), (37, 301), (37, 301))),
    ("broadcast_rows", broadcast_rows, lambda: vectors((123, 77), 77, (123, 1))),
    ("written_into", written_into, lambda: vectors(10007, 10007)),
    ("whole_reductions", whole_reductions, lambda: vectors(3 * BLOCK + 5, 3 * BLOCK + 5)),
    ("whole_reductions_small", whole_reductions, lambda: vectors(1000, 1000)),
    ("whole_reductions_2d", whole_reductions, lambda: vectors((7, BLOCK // 3), (7, BLOCK // 3))),
    ("axis_reductions", axis_reductions, lambda: vectors((301, 211), (301, 211))),
    ("centred", centred, lambda: vectors((513, 9))),
]


@pytest.mark.parametrize("name, fn, make", CASES, ids=[c[0] for c in CASES])
def test_threads_match_python_and_differences(name, fn, make):
    args = make()
    tangents = vectors(*[a.shape for a in args])
    f, (value, tangent) = native_jvp(fn, args, tangents, n_threads=2)
    want_value, want_tangent = python_jvp(fn, args, tangents)
    assert_close(value, want_value)
    assert_close(tangent, want_tangent)
    assert_close(tangent, central_difference(fn, args, tangents), rtol=1e-6)
    assert uses_threads(f)


@pytest.mark.parametrize("name, fn, make", CASES, ids=[c[0] for c in CASES])
def test_thread_count_never_changes_the_bits(name, fn, make):
    args = make()
    tangents = vectors(*[a.shape for a in args])
    _, one = native_jvp(fn, args, tangents, n_threads=1)
    for n, threshold in ((2, 0), (3, 0), (2, 10 ** 12)):  # the last: serial, same worker
        _, many = native_jvp(fn, args, tangents, n_threads=n, threshold=threshold)
        assert_same_bits(many[0], one[0])
        assert_same_bits(many[1], one[1])


def test_sum_is_blocked_in_order():
    """A whole sum of more than one block is the in-order sum of the blocks' sums."""
    x = RNG.standard_normal(4 * BLOCK + 17)
    _, (value, _) = native_jvp(lambda_free_sum, (x,), (x,), n_threads=3)
    blocks = [np.sum(x[k:k + BLOCK]) for k in range(0, x.size, BLOCK)]
    assert value == pytest.approx(sum(blocks), rel=1e-14)
    assert value == pytest.approx(np.sum(x), rel=1e-12)


def lambda_free_sum(x):
    return np.sum(x)


def test_allocating_loop_and_errors_outside():
    x = RNG.standard_normal(5000)
    t = RNG.standard_normal(5000)
    f, (value, tangent) = native_jvp(allocating_loop, (x, 4), (t,), wrt=("x",))
    want_value, want_tangent = python_jvp(allocating_loop, (x, 4), (t,), wrt=("x",))
    assert_close(value, want_value)
    assert_close(tangent, want_tangent)
    with threads(2, 0):  # a shape error is checked before the split loop
        g = forward_gradient(broadcast_rows, backend="llvm")
        A, w, c = vectors((40, 7), 7, (40, 1))
        g.jvp(A, w, c, tangents=(A, w, c))
        with pytest.raises(ValueError):
            g.jvp(A, w[:5], c, tangents=(A, w[:5], c))


def test_regions_with_matrix_products():
    X, W1, b1, W2, b2 = vectors((600, 16), (16, 32), 32, (32, 5), 5)
    Y = np.eye(5)[RNG.integers(0, 5, 600)]
    args = (W1, b1, W2, b2, X, Y)
    tangents = vectors(W1.shape, b1.shape, W2.shape, b2.shape)
    wrt = ("W1", "b1", "W2", "b2")
    _, (value, tangent) = native_jvp(mlp_loss, args, tangents, wrt=wrt)
    want_value, want_tangent = python_jvp(mlp_loss, args, tangents, wrt=wrt)
    assert_close(value, want_value, rtol=1e-11)
    assert_close(tangent, want_tangent, rtol=1e-10)
    _, (value1, tangent1) = native_jvp(mlp_loss, args, tangents, n_threads=1, wrt=wrt)
    assert_same_bits(value, value1)
    assert_same_bits(tangent, tangent1)


SUBSETS = [s for k in (1, 2, 3) for s in itertools.combinations(("a", "b", "c"), k)]


@pytest.mark.parametrize("wrt", SUBSETS, ids=["".join(s) for s in SUBSETS])
def test_every_wrt_subset_single_and_vector_mode(wrt):
    args = vectors(9001, 9001, 9001)
    single = vectors(*[(9001,)] * len(wrt))
    batched = tuple(RNG.standard_normal((3, 9001)) for _ in wrt)
    _, got = native_jvp(three_args, args, single, wrt=wrt)
    assert_close(got, python_jvp(three_args, args, single, wrt=wrt))
    with threads(2, 0):
        f = forward_gradient(three_args, backend="llvm", wrt=wrt)
        got = f.jvp(*args, tangents=batched, batched=True)
    want = forward_gradient(three_args, wrt=wrt).jvp(*args, tangents=batched, batched=True)
    assert_close(got[0], want[0])
    assert_close(got[1], want[1])


# ---------------------------------------------------------------- the mechanism itself

class _Harness(ArrayLowering, parallel.ParallelLowering):
    """Just enough of a lowering to emit ``void k(double* x, double* out, i64 n, i64* err)``."""

    def __init__(self):
        self.module = ir.Module(name="threads_test")
        self.fn = ir.Function(self.module, ir.FunctionType(VOID, [F64P, F64P, I64, I64P]),
                              name="k")
        self.err = self.fn.args[3]
        self.builder = ir.IRBuilder(self.fn.append_basic_block("entry"))
        self.exit = self.fn.append_basic_block("exit")
        self.slots = {}

    def compile(self):
        self.builder.branch(self.exit)
        self.builder.position_at_end(self.exit)
        self.builder.ret_void()
        tm = engine.target_machine(2)
        engine.prepare(self.module, tm)
        jitted, _ = engine.build(str(self.module), tm, 2)
        proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                 ctypes.POINTER(ctypes.c_int64))
        return jitted, proto(jitted.get_function_address("k"))


def _failing_kernel():
    """``out[i] = 2 x[i]``, failing with INDEX where ``x[i] < 0``; then ``out[n] = -1``."""
    h = _Harness()
    b = h.builder
    x, out, n, _ = h.fn.args

    def body(index):
        v = b.load(b.gep(x, [index[0]]))
        h.fail_if(b.fcmp_ordered("<", v, ir.Constant(F64, 0.0)), INDEX)
        b.store(b.fmul(v, ir.Constant(F64, 2.0)), b.gep(out, [index[0]]))

    with threads(2, 0):
        h.parallel_nest((n,), body)
    b.store(ir.Constant(F64, -1.0), b.gep(out, [n]))  # skipped when the loop failed
    return h.compile()


def _run(kernel, x):
    out = np.zeros(x.size + 1)
    err = ctypes.c_int64(0)
    kernel(x.ctypes.data, out.ctypes.data, x.size, ctypes.byref(err))
    return out, err.value


def test_a_body_that_fails_inside_the_threads():
    jitted, kernel = _failing_kernel()
    x = np.abs(RNG.standard_normal(4000)) + 0.5
    out, err = _run(kernel, x)
    assert err == 0 and np.array_equal(out[:-1], 2 * x) and out[-1] == -1.0
    for bad in ([3900], [10], [10, 3999], list(range(4000))):  # chunk 1, chunk 0, both
        y = x.copy()
        y[bad] = -1.0
        out, err = _run(kernel, y)
        assert err == INDEX and out[-1] == 0.0
    del jitted


def test_a_body_that_writes_a_shared_variable_is_refused():
    """An accumulator of the enclosing function would race: the loop stays serial."""
    h = _Harness()
    b = h.builder
    x, out, n, _ = h.fn.args
    with b.goto_entry_block():
        acc = b.alloca(F64, name="acc")
    b.store(ir.Constant(F64, 0.0), acc)
    with threads(2, 0):
        h.parallel_nest((n,), lambda index: b.store(
            b.fadd(b.load(acc), b.load(b.gep(x, [index[0]]))), acc))
    b.store(b.load(acc), b.gep(out, [ir.Constant(I64, 0)]))
    assert "worker" not in str(h.module)
    jitted, kernel = h.compile()
    x = np.arange(1000.0)
    out, err = _run(kernel, x)
    assert err == 0 and out[0] == x.sum()
    del jitted
