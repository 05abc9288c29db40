"""fwdcompile.check_grads: passes on correct derivatives, and fails (AssertionError
naming the parameter and the error) on a deliberately wrong custom_jvp rule."""

from __future__ import annotations

import numpy as np
import pytest

import fwdcompile
from fwdcompile import check_grads

RNG = np.random.default_rng(3)
A = RNG.standard_normal((4, 3))
X = RNG.standard_normal(3)


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def mlp(A, x, scale=1.0):
    return scale * np.tanh(A @ x)


def layer(params, x):
    return np.sum(np.tanh(x @ params["W"] + params["b"]) ** 2)


def pair(x, y):
    return np.sin(x) * y, np.sum(x * x)


def with_abs(x):
    return np.sum(np.abs(x) * x)


def count_up(n, x):
    return x * n


def returns_text(x):
    return "no"


# --- a deliberately wrong rule: 0.1 % off --------------------------------

def off_sin(x):
    return np.sin(x)


@fwdcompile.custom_jvp(off_sin)
def off_sin_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return np.sin(x), 1.001 * np.cos(x) * dx


def wrong(x):
    return np.sum(off_sin(x) ** 2)


def wrong_in_second(x, y):
    return np.sum(x * x) + np.sum(off_sin(y))


def wrong_in_leaf(params, x):
    return np.sum(params["W"] @ x) + np.sum(off_sin(params["b"]))


def test_passes_on_correct_functions():
    report = check_grads(rosen, (np.array([-1.0, 0.5, 0.8, 1.2]),))
    assert report.parameters == ("x",) and report.worst["parameter 'x'"] <= 1.0
    assert report.max_relative_error < 1e-8
    check_grads(mlp, (A, X), kwargs={"scale": 2.0})
    check_grads(mlp, (A, X, 2.0), wrt=("x", "scale"), directions=5)
    check_grads(pair, (X, 0.7))  # tuple output, float parameter
    check_grads(with_abs, (X,), method="ridders")


def test_pytree_parameter_checks_every_leaf():
    params = {"W": RNG.standard_normal((3, 2)), "b": RNG.standard_normal(2)}
    report = check_grads(layer, (params, X))
    assert set(report.worst) == {"parameter 'params' at params['W']",
                                 "parameter 'params' at params['b']", "parameter 'x'"}


def test_float32_and_the_native_backend():
    check_grads(mlp, (A.astype(np.float32), X.astype(np.float32)))
    check_grads(fwdcompile.forward_gradient(rosen, backend="llvm"),
                (np.array([-1.0, 0.5, 0.8, 1.2]),))
    check_grads(rosen, (np.array([0.3, 0.4, 0.5]),), backend="llvm")


def test_explicit_directions():
    check_grads(mlp, (A, X), wrt="x", directions=[(np.ones(3),), np.array([1.0, 0.0, 0.0])])
    with pytest.raises(ValueError, match="shape"):
        check_grads(mlp, (A, X), wrt="x", directions=[(np.ones(4),)])


@pytest.mark.parametrize("method", ["auto", "ridders", "complex"])
def test_fails_on_a_wrong_rule(method):
    with pytest.raises(AssertionError, match=r"parameter 'x', direction 0 \(single direction\)"
                                             r".*\|error\|"):
        check_grads(wrong, (X,), method=method)


def test_failure_names_the_parameter_and_the_leaf():
    check_grads(wrong_in_second, (X, X), wrt="x")  # the wrong rule is not reached
    with pytest.raises(AssertionError, match="parameter 'y'"):
        check_grads(wrong_in_second, (X, X))
    params = {"W": np.ones((2, 3)), "b": X}
    with pytest.raises(AssertionError, match=r"params\['b'\]"):
        check_grads(wrong_in_leaf, (params, X))
    check_grads(wrong_in_leaf, (params, X), wrt="x")


def test_loose_tolerance_lets_a_small_error_pass():
    check_grads(wrong, (X,), rtol=1e-2, atol=1e-2)


def test_bad_input_is_reported_clearly():
    with pytest.raises(ValueError, match="not a parameter"):
        check_grads(mlp, (A, X), wrt="z")
    with pytest.raises(TypeError, match="'n' is in wrt"):
        check_grads(count_up, (3, X), wrt="n")
    with pytest.raises(TypeError, match="float"):
        check_grads(count_up, (3, np.arange(3)), wrt="x")
    with pytest.raises(TypeError, match="returned str"):
        check_grads(returns_text, (X,))
    with pytest.raises(ValueError, match="order"):
        check_grads(rosen, (X,), order=2)
    with pytest.raises(TypeError, match="tuple"):
        check_grads(rosen, X)
    with pytest.raises(ValueError, match="directions"):
        check_grads(rosen, (X,), directions=0)


def good_sin(x):
    return np.sin(x)


@fwdcompile.custom_jvp(good_sin)
def good_sin_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return np.sin(x), np.cos(x) * dx


def uses_good_sin(x):
    return np.sum(good_sin(x) ** 2)


def test_fails_when_only_vector_mode_is_wrong(monkeypatch):
    from fwdcompile import runtime

    check_grads(uses_good_sin, (X,))
    real = runtime.custom_batched

    def off(rule, primals, tangents, **keywords):  # vector mode's rule calls, 0.1 % off
        value, tangent = real(rule, primals, tangents, **keywords)
        return value, tangent * 1.001

    monkeypatch.setattr(runtime, "custom_batched", off)
    with pytest.raises(AssertionError, match=r"vector mode, 3 directions"):
        check_grads(uses_good_sin, (X,))
