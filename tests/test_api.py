"""The public API as a user module sees it: decorators applied at import time,
decorated functions calling each other, custom rules, activity decided by
runtime types (and re-decided when the types change between calls)."""

import math
import warnings

import numpy as np
import pytest

import oracle

fwdcompile = pytest.importorskip("fwdcompile")
from usercode import decorated as user  # noqa: E402  (imports fwdcompile)


def _ref(fn, args, active, tangents):
    return oracle.jvp_reference(fn.__wrapped__ if hasattr(fn, "__wrapped__") else fn,
                                args, active, tangents)[0]


def _close(actual, expected, rtol=1e-7):
    ok, worst = oracle.close(actual, expected, rtol)
    assert ok, worst


def test_public_names():
    for name in ("forward_gradient", "jvp", "custom_jvp", "FwdcompileError", "UnsupportedSyntax"):
        assert hasattr(fwdcompile, name), name
    assert issubclass(fwdcompile.UnsupportedSyntax, fwdcompile.FwdcompileError)


def test_bare_decorator_primal_and_jvp():
    x, dx = np.array([0.3, -0.7, 1.1]), np.array([1.0, 0.5, -2.0])
    assert user.energy(x, 2.0) == user.energy.__wrapped__(x, 2.0)
    val, dval = user.energy.jvp(x, 2.0, tangents=(dx, 0.25))
    assert val == user.energy(x, 2.0)
    _close(dval, _ref(user.energy, (x, 2.0), [0, 1], (dx, 0.25)))


def test_wrt_names_decorator():
    rng = np.random.default_rng(0)
    W, b, X = rng.standard_normal((3, 2)), rng.standard_normal(2), rng.standard_normal((4, 3))
    dW, db = rng.standard_normal((3, 2)), rng.standard_normal(2)
    val, dval = user.predict.jvp(W, b, X, tangents=(dW, db))
    np.testing.assert_array_equal(val, user.predict(W, b, X))
    _close(dval, _ref(user.predict, (W, b, X), [0, 1], (dW, db)))
    # X is a float array but not in wrt: it gets no tangent
    with pytest.raises(ValueError):
        user.predict.jvp(W, b, X, tangents=(dW, db, np.zeros_like(X)))


def test_wrt_index_decorator():
    val, dval = user.scaled.jvp(0.5, 1.5, tangents=(2.0,))
    assert dval == pytest.approx(3.0, rel=1e-14)


def test_decorated_calls_decorated():
    x, dx = np.array([0.3, -0.7, 1.1]), np.array([1.0, 0.5, -2.0])
    val, dval = user.total.jvp(x, 2.0, tangents=(dx, -1.0))
    assert val == pytest.approx(user.total(x, 2.0), rel=1e-14)
    _close(dval, _ref(user.total, (x, 2.0), [0, 1], (dx, -1.0)))


def test_custom_jvp_on_a_callable_without_source():
    x, dx = np.array([0.3, -0.7, 1.1]), np.array([1.0, 0.5, -2.0])
    val, dval = user.uses_custom.jvp(x, tangents=(dx,))
    assert val == pytest.approx(float(np.sum(x ** 3) + np.sum(x)), rel=1e-14)
    assert dval == pytest.approx(float(np.sum(3 * x * x * dx) + np.sum(dx)), rel=1e-13)


def test_same_function_float_then_array_then_float():
    f = user.polymorphic
    deriv = lambda x: np.cos(x) * x + np.sin(x) + 2 * x
    for x, dx in [(0.4, 1.0), (np.array([0.1, 0.2, 0.3]), np.array([1.0, -1.0, 2.0])),
                  (0.9, -0.5), (np.array([[0.5, 1.5]]), np.array([[2.0, 1.0]])),
                  (np.float64(0.25), np.float64(1.0))]:
        val, dval = f.jvp(x, tangents=(dx,))
        np.testing.assert_allclose(val, f(x), rtol=1e-15)
        np.testing.assert_allclose(dval, deriv(x) * dx, rtol=1e-13)
        assert np.shape(dval) == np.shape(x)


def test_activity_follows_runtime_types_between_calls():
    f = user.maybe_active
    # n is an int: inactive, one tangent
    val, dval = f.jvp(1.5, 3, tangents=(1.0,))
    assert dval == pytest.approx(2 * 1.5 * 3)
    # n is a float now: active, two tangents
    val, dval = f.jvp(1.5, 3.0, tangents=(1.0, 1.0))
    assert dval == pytest.approx(2 * 1.5 * 3 + 1.5 ** 2 + 2 * 3.0)
    # and back to int: one tangent again (a cached fast path must not be reused)
    val, dval = f.jvp(1.5, 3, tangents=(1.0,))
    assert dval == pytest.approx(2 * 1.5 * 3)
    with pytest.raises(ValueError):
        f.jvp(1.5, 3, tangents=(1.0, 1.0))
    # numpy integer scalar: inactive
    val, dval = f.jvp(1.5, np.int64(3), tangents=(1.0,))
    assert dval == pytest.approx(2 * 1.5 * 3)
    # array x, float n
    x = np.array([1.0, 2.0])
    val, dval = f.jvp(x, 2.0, tangents=(np.ones(2), 0.5))
    np.testing.assert_allclose(dval, 2 * x * 2.0 + 0.5 * (x ** 2 + 4.0), rtol=1e-14)


def test_shape_changes_between_calls():
    f = user.polymorphic
    for n in (3, 5, 3, 1):
        x = np.linspace(0.1, 1.0, n)
        val, dval = f.jvp(x, tangents=(np.ones(n),))
        assert dval.shape == (n,)
    with pytest.raises(ValueError):
        f.jvp(np.ones(3), tangents=(np.ones(5),))


def test_default_float_argument_not_passed_is_not_differentiated():
    x = np.array([0.5, -1.0])
    val, dval = user.with_default.jvp(x, tangents=(np.ones(2),))
    np.testing.assert_allclose(dval, x / np.sqrt(x * x + 1e-3), rtol=1e-13)
    # passed explicitly as a float: it is differentiated
    val, dval = user.with_default.jvp(x, 0.5, tangents=(np.zeros(2), 1.0))
    np.testing.assert_allclose(dval, 0.5 / np.sqrt(x * x + 0.5), rtol=1e-13)
    # passed by keyword
    val, dval = user.with_default.jvp(x, eps=0.5, tangents=(np.zeros(2), 1.0))
    np.testing.assert_allclose(dval, 0.5 / np.sqrt(x * x + 0.5), rtol=1e-13)


def test_functional_jvp():
    def g(x, y):
        return math.exp(x) * y, x - y

    val, dval = fwdcompile.jvp(g, primals=(0.3, 2.0), tangents=(1.0, -1.0))
    assert val == g(0.3, 2.0)
    assert isinstance(dval, tuple) and len(dval) == 2
    assert dval[0] == pytest.approx(math.exp(0.3) * 2.0 - math.exp(0.3), rel=1e-14)
    assert dval[1] == pytest.approx(2.0, rel=1e-14)
    # on a decorated function too
    x, dx = np.array([0.3, -0.7]), np.array([1.0, 0.5])
    val, dval = fwdcompile.jvp(user.polymorphic, primals=(x,), tangents=(dx,))
    np.testing.assert_allclose(dval, (np.cos(x) * x + np.sin(x) + 2 * x) * dx, rtol=1e-13)


def test_functional_jvp_input_errors():
    def g(x, y):
        return x * y

    with pytest.raises(ValueError):
        fwdcompile.jvp(g, primals=(1.0, 2.0), tangents=(1.0,))
    with pytest.raises(ValueError, match=r"\by\b"):
        fwdcompile.jvp(lambda_free_vec, primals=(np.ones(2), np.ones(3)),
                       tangents=(np.ones(2), np.ones(2)))


def lambda_free_vec(x, y):
    return np.sum(x) * np.sum(y)


def test_tuple_output_tangent_is_a_tuple_of_same_length():
    def three(x):
        return x, x * 2.0, np.array([x, x * x])

    val, dval = fwdcompile.forward_gradient(three).jvp(1.5, tangents=(1.0,))
    assert isinstance(dval, tuple) and len(dval) == 3
    assert dval[0] == 1.0 and dval[1] == 2.0
    np.testing.assert_allclose(dval[2], [1.0, 3.0])


def test_source_mentions_tangents_and_is_readable():
    src = user.energy.source
    assert "def " in src
    compile(src, "<generated>", "exec")
    # readable: the user's statement appears, and it is plain Python without lambdas
    assert "np.sum" in src or "_np.sum" in src
    assert "lambda" not in src


def test_decorating_twice_is_harmless():
    f = fwdcompile.forward_gradient(user.polymorphic)
    val, dval = f.jvp(0.4, tangents=(1.0,))
    assert dval == pytest.approx(math.cos(0.4) * 0.4 + math.sin(0.4) + 0.8, rel=1e-14)


def test_argument_kinds():
    f = user.polymorphic
    deriv = lambda x: np.cos(x) * x + np.sin(x) + 2 * x
    # float32 arrays are floating, hence active; the result keeps a float dtype
    x32 = np.array([0.5, 1.0], dtype=np.float32)
    val, dval = f.jvp(x32, tangents=(np.ones(2, dtype=np.float32),))
    assert np.issubdtype(np.asarray(dval).dtype, np.floating)
    np.testing.assert_allclose(dval, deriv(x32.astype(float)), rtol=1e-5)
    # 0-d arrays
    val, dval = f.jvp(np.array(0.5), tangents=(np.array(2.0),))
    assert float(dval) == pytest.approx(2.0 * deriv(0.5), rel=1e-14)
    # a Python int tangent for a float argument is fine
    val, dval = f.jvp(0.5, tangents=(1,))
    assert float(dval) == pytest.approx(deriv(0.5), rel=1e-14)
    # a strided view as argument
    x = np.arange(6.0)[::2] * 0.3
    val, dval = f.jvp(x, tangents=(np.ones(3),))
    np.testing.assert_allclose(dval, deriv(x), rtol=1e-13)
    # boolean tangents are rejected
    with pytest.raises(ValueError, match=r"\bx\b"):
        f.jvp(0.5, tangents=(True,))
    with pytest.raises(ValueError, match=r"\bx\b"):
        f.jvp(np.ones(2), tangents=(np.ones(2, dtype=bool),))


def test_module_globals_are_read_at_call_time():
    """Python semantics: a function sees the current value of a module global."""
    old = user.GAIN
    try:
        val, dval = user.gained.jvp(0.5, tangents=(1.0,))
        assert (val, dval) == (pytest.approx(old * 0.25), pytest.approx(old * 1.0))
        user.GAIN = 3.0
        assert user.gained(0.5) == pytest.approx(0.75)
        val, dval = user.gained.jvp(0.5, tangents=(1.0,))
        assert val == pytest.approx(0.75), "jvp value must equal the primal"
        assert dval == pytest.approx(3.0)
    finally:
        user.GAIN = old


def _times_one(x):
    return x * 1.0


def _pair(x, y):
    return x + 0.0, (y[1:] * 1.0, x)


@pytest.mark.parametrize("backend", ["python", "llvm"])
def test_returned_tangents_never_share_memory_with_the_given_ones(backend):
    # the generated code returns d_x itself for x * 1.0; a caller scaling the
    # result in place must not change the direction it passed in
    if backend == "llvm":
        pytest.importorskip("llvmlite")
    for fn, args in [(_times_one, (np.arange(3.0),)),
                     (_pair, (np.arange(3.0), np.arange(4.0)))]:
        f = fwdcompile.forward_gradient(fn, backend=backend, fallback="python")
        for _ in range(3):  # the first call and the fast paths after it
            given = tuple(np.ones_like(a) for a in args)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # falling back to Python
                _, tangent = f.jvp(*args, tangents=given)
            for leaf in oracle.leaves(tangent):
                assert not any(np.may_share_memory(leaf, g) for g in given)
