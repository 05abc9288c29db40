"""Buffer reuse in vector mode (transform/reuse.py, runtime.reuse_*).

The rewrite is only sound if the buffer it writes into is seen by nobody
else.  These tests (1) pin the runtime helpers' fallbacks, (2) check on small
functions which operations reuse and which must not, and (3) run every corpus
case and random programs batched with the size threshold at zero, so every
rewritten operation really writes in place, against one JVP per direction,
checking that the caller's arrays are left alone."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import harness
import oracle
from test_properties import SETTINGS, _load, loop_programs, programs

from fwdcompile import forward_gradient, runtime

K = 3


@pytest.fixture
def always_reuse(monkeypatch):
    monkeypatch.setattr(runtime, "REUSE_MIN_SIZE", 0)


# ------------------------------------------------------------------ helpers

def test_reuse_writes_into_the_first_operand(always_reuse):
    a, b = np.ones((K, 4)), np.arange(4.0)
    out = runtime.reuse_add(a, b)
    assert out is a
    np.testing.assert_array_equal(out, np.broadcast_to(1.0 + np.arange(4.0), (K, 4)))


@pytest.mark.parametrize("a, b", [
    (np.ones((K, 1)), np.ones((K, 4))),  # the result is larger than a
    (np.ones((K, 4), dtype=np.float32), np.ones(4)),  # the result is float64
    (np.ones((K, 4), dtype=np.int64), 0.5),  # the result is float
    (np.ones((K, 4)), 1j),  # the result is complex
    (2.0, np.ones(4)),  # a scalar holds nothing
])
def test_reuse_falls_back_when_the_buffer_cannot_hold_the_result(always_reuse, a, b):
    keep = np.copy(a)
    for name, op in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                     ("div", np.true_divide)]:
        out = getattr(runtime, f"reuse_{name}")(a, b)
        want = op(keep, b)
        assert out is not a and out.dtype == want.dtype
        np.testing.assert_array_equal(out, want)
        np.testing.assert_array_equal(a, keep)


def test_small_arrays_are_not_reused():
    a = np.ones((K, 4))
    assert runtime.reuse_mul(a, 2.0) is not a


def test_reuse_of_a_read_only_array_falls_back(always_reuse):
    a = np.ones((K, 4))
    a.flags.writeable = False
    assert runtime.reuse_sub(a, 1.0) is not a


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reuse_where_is_bit_for_bit_numpy_where(always_reuse, dtype):
    a = np.array([[1.5, -0.0, np.inf, np.nan, -2.0, 0.0]] * K, dtype=dtype)
    for condition in (np.array([True, False, True, True, False, True]),
                      np.array([1.0, 0.0, np.nan, -1.0, 0.0, 2.0]),  # NaN is true
                      True, False):
        want = np.where(condition, a, 0.0)
        buffer = a.copy()
        out = runtime.reuse_where(condition, buffer, 0.0)
        assert out is buffer and out.dtype == want.dtype
        assert out.tobytes() == want.tobytes()


def test_reuse_where_falls_back_for_other_constants(always_reuse):
    a = np.ones((K, 3))
    for k in (-0.0, 1.0):
        out = runtime.reuse_where(np.array([True, False, True]), a, k)
        assert out is not a
        assert out.tobytes() == np.where([True, False, True], np.ones((K, 3)), k).tobytes()


# ------------------------------------------------------------------ the pass

def _batched_source(fn, wrt):
    f = forward_gradient(fn, wrt=wrt)
    return f, f._batched_variant(tuple(wrt)).source


def mlp(W1, b1, X):
    h = np.maximum(X @ W1 + b1, 0.0)
    return np.sum(h * h)


def test_mlp_tangents_reuse_their_buffers():
    _, source = _batched_source(mlp, ("W1", "b1"))
    assert "_rt.reuse_add(_rt.lift(d_X_matmul_W1" in source
    assert "_rt.reuse_where(total >= 0.0, d_total, 0.0)" in source


def aliased(x):
    t = x * 2.0
    s = t
    u = t * x
    return s * u


def viewed(x):
    t = x * 2.0
    v = t[1:]
    u = t * x
    return np.sum(v) + np.sum(u)


def read_later(x):
    t = x * 2.0
    u = t * x
    return u * t


def in_loop(x):
    t = x * 2.0
    acc = x
    for _ in range(3):
        acc = acc * t
    return acc


def chain(x):
    t = x * np.sin(x)
    u = t * 3.0 - x
    return u / x


@pytest.mark.parametrize("fn, forbidden", [
    (aliased, "reuse_mul(_rt.lift(d_t"),  # d_s is d_t: writing into d_t would change d_s
    (viewed, "reuse_mul(_rt.lift(d_t"),  # d_v is a view of d_t
    (read_later, "reuse_mul(_rt.lift(d_t, u)"),  # d_t is read again after t * x
    (in_loop, "reuse_"),  # every iteration reads d_t and d_acc again
])
def test_a_buffer_someone_else_sees_is_not_reused(always_reuse, fn, forbidden):
    f, source = _batched_source(fn, ("x",))
    assert forbidden not in source, source
    _assert_batched_equals_singles(f, (np.linspace(0.5, 2.0, 5),))


@pytest.mark.parametrize("fn", [read_later, chain])
def test_reused_buffers_give_the_single_direction_values(always_reuse, fn):
    f, source = _batched_source(fn, ("x",))
    assert "_rt.reuse_" in source, source
    _assert_batched_equals_singles(f, (np.linspace(0.5, 2.0, 5),))


def test_one_direction_code_is_unchanged():
    f = forward_gradient(mlp, wrt=("W1", "b1"))
    assert "reuse" not in f.source


# ------------------------------------------------------------------ soundness

def _assert_batched_equals_singles(f, args, active=None, kwargs=None, seed=0):
    """Batched tangents equal one JVP per direction, and the call leaves the
    caller's arrays as those single calls leave theirs (a function may update
    its argument in place, and its tangent with it; nothing else may change)."""
    kwargs = kwargs or {}
    active = range(len(args)) if active is None else active
    rng = np.random.default_rng(seed)
    tangents = tuple(rng.standard_normal((K,) + np.shape(args[i])) for i in active)
    given_args, given_tangents = harness.fresh(args), harness.fresh(tangents)
    with np.errstate(all="ignore"):
        _, dval = f.jvp(*given_args, tangents=given_tangents, batched=True, **kwargs)
    for k in range(K):
        single = tuple(t[k].copy() if isinstance(args[i], np.ndarray) else type(args[i])(t[k])
                       for t, i in zip(tangents, active))
        single_args = harness.fresh(args)
        with np.errstate(all="ignore"):
            _, dval_k = f.jvp(*single_args, tangents=single, **kwargs)
        for d_batched, d_one in zip(oracle.leaves(dval), oracle.leaves(dval_k)):
            np.testing.assert_allclose(np.asarray(d_batched)[k], d_one, rtol=1e-10,
                                       atol=1e-12, equal_nan=True)
        harness.assert_same_structure_equal(given_args, single_args, exact=False, rtol=1e-12)
        for t, one in zip(given_tangents, single):
            if isinstance(one, np.ndarray):
                np.testing.assert_allclose(t[k], one, rtol=1e-10, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("case", harness.CASES, ids=harness.CASE_IDS)
def test_corpus_with_every_buffer_reused(always_reuse, case):
    args = harness.make_args(case)
    active = harness.active_positions(case, args)
    if not active:
        pytest.skip("no differentiated argument")
    _assert_batched_equals_singles(harness.compiled(case), args, active, case.kwargs,
                                   seed=harness.seed_of(case.name))


@SETTINGS
@given(prog=programs(arrays=True), seed=st.integers(0, 2 ** 32 - 1))
def test_random_array_programs_with_every_buffer_reused(prog, seed):
    nargs, source_fn, source_probe = prog
    rng = np.random.default_rng(seed)
    args = tuple(rng.uniform(-1.5, 1.5, 3) for _ in range(nargs))
    _check_program(source_fn, source_probe, args, seed)


@SETTINGS
@given(prog=loop_programs(), xs=st.lists(st.floats(-1.5, 1.5), min_size=3, max_size=3),
       seed=st.integers(0, 2 ** 32 - 1))
def test_random_loop_programs_with_every_buffer_reused(prog, xs, seed):
    nargs, source_fn, source_probe = prog
    _check_program(source_fn, source_probe, tuple(xs[:nargs]), seed)


def _check_program(source_fn, source_probe, args, seed):
    saved, runtime.REUSE_MIN_SIZE = runtime.REUSE_MIN_SIZE, 0
    try:
        f = forward_gradient(_load(source_fn, source_probe).f)
        try:
            with np.errstate(all="ignore"):
                f(*harness.fresh(args))
        except (OverflowError, ValueError, ZeroDivisionError):
            return  # the program itself fails at this point
        _assert_batched_equals_singles(f, args, seed=seed)
    finally:
        runtime.REUSE_MIN_SIZE = saved
