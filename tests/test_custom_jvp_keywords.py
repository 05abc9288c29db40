"""custom_jvp rules receive the call's keyword arguments (constants), and rules
returning tuples work in vector mode (or fail clearly when their tangents do
not match their values)."""

from __future__ import annotations

import numpy as np
import pytest

import fwdcompile
from fwdcompile import NoDerivativeRule, UnsupportedSyntax, check_grads, forward_gradient

X = np.array([0.3, -0.7, 1.1])
EYE = np.eye(3)


def scaled_power(x, factor=1.0, power=1):
    return factor * x ** power


@fwdcompile.custom_jvp(scaled_power)
def scaled_power_jvp(primals, tangents, factor=1.0, power=1):
    (x, *rest), dx = primals, tangents[0]
    factor = rest[0] if rest else factor  # given positionally: a primal
    return factor * x ** power, factor * power * x ** (power - 1) * dx


def options_anywhere(x, **options):
    return np.sum(x) * options.get("weight", 1.0)


@fwdcompile.custom_jvp(options_anywhere)
def options_anywhere_jvp(primals, tangents, **options):
    (x,), (dx,) = primals, tangents
    return options_anywhere(x, **options), np.sum(dx) * options.get("weight", 1.0)


def with_keywords(x):
    return np.sum(scaled_power(x, factor=3.0, power=2))


def with_mixed(x):
    return np.sum(scaled_power(x, 2.0, power=3)) + options_anywhere(x, weight=0.5)


def keyword_carries_derivative(x, a):
    return np.sum(scaled_power(x, factor=a))


def keyword_the_rule_lacks(x):
    return np.sum(scaled_power(x, offset=1.0))


def sincos(x):
    return np.sin(x), np.cos(x)


@fwdcompile.custom_jvp(sincos)
def sincos_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return (np.sin(x), np.cos(x)), (np.cos(x) * dx, -np.sin(x) * dx)


def sincos_stacked(x):
    return np.sin(x), np.cos(x)


@fwdcompile.custom_jvp(sincos_stacked)
def sincos_stacked_jvp(primals, tangents):  # one array for the two tangents
    (x,), (dx,) = primals, tangents
    return (np.sin(x), np.cos(x)), np.stack([np.cos(x) * dx, -np.sin(x) * dx])


def sincos_short(x):
    return np.sin(x), np.cos(x)


@fwdcompile.custom_jvp(sincos_short)
def sincos_short_jvp(primals, tangents):  # wrong: one tangent for two values
    (x,), (dx,) = primals, tangents
    return (np.sin(x), np.cos(x)), (np.cos(x) * dx,)


def uses_sincos(x):
    s, c = sincos(x)
    return np.sum(s * c)


def returns_sincos(x):
    return sincos(x)


def uses_stacked(x):
    s, c = sincos_stacked(x)
    return np.sum(s * c * x)


def uses_short(x):
    s, c = sincos_short(x)
    return np.sum(s * c)


def test_keywords_reach_the_rule():
    f = forward_gradient(with_keywords)
    value, slope = f.jvp(X, tangents=(np.ones(3),))
    assert value == pytest.approx(np.sum(3 * X ** 2))
    assert slope == pytest.approx(np.sum(6 * X))
    _, slopes = f.jvp(X, tangents=(EYE,), batched=True)
    np.testing.assert_allclose(slopes, 6 * X)
    assert "factor=3.0, power=2" in f.source
    check_grads(with_keywords, (X,))


def test_positional_and_keyword_arguments_together():
    f = forward_gradient(with_mixed)
    _, slopes = f.jvp(X, tangents=(EYE,), batched=True)
    np.testing.assert_allclose(slopes, 6 * X ** 2 + 0.5)
    check_grads(with_mixed, (X,))


def test_a_keyword_carrying_a_derivative_is_an_error():
    with pytest.raises(NoDerivativeRule, match="keyword argument `factor=`") as info:
        forward_gradient(keyword_carries_derivative).jvp(X, 2.0, tangents=(np.ones(3), 1.0))
    assert "positionally" in str(info.value)
    # as data (not differentiated) it is a constant, and fine
    _, slope = forward_gradient(keyword_carries_derivative, wrt="x").jvp(
        X, 2.0, tangents=(np.ones(3),))
    assert slope == pytest.approx(6.0)


def test_a_keyword_the_rule_does_not_accept_is_reported_at_compile_time():
    with pytest.raises(UnsupportedSyntax, match="offset="):
        forward_gradient(keyword_the_rule_lacks, wrt="x")  # compiled at decoration
    with pytest.raises(UnsupportedSyntax, match="does not accept"):
        forward_gradient(keyword_the_rule_lacks).jvp(X, tangents=(EYE[0],))


def test_tuple_results_in_vector_mode():
    for fn in (uses_sincos, uses_stacked):
        f = forward_gradient(fn)
        _, slopes = f.jvp(X, tangents=(EYE,), batched=True)
        for j in range(3):
            _, one = f.jvp(X, tangents=(EYE[j],))
            assert slopes[j] == pytest.approx(one, rel=1e-14)
        check_grads(fn, (X,))
    value, tangent = forward_gradient(returns_sincos).jvp(X, tangents=(EYE,), batched=True)
    np.testing.assert_allclose(tangent[0], np.diag(np.cos(X)))
    np.testing.assert_allclose(tangent[1], np.diag(-np.sin(X)))


def test_tuple_tangents_that_do_not_match_the_values_raise():
    with pytest.raises(TypeError, match="tuple of 2 values but a tuple of 1"):
        forward_gradient(uses_short).jvp(X, tangents=(EYE,), batched=True)


def windows(x, shape):
    """A rule taking a tuple argument (like sliding_window_view's window shape)."""
    return np.lib.stride_tricks.sliding_window_view(x, shape)


@fwdcompile.custom_jvp(windows)
def windows_jvp(primals, tangents):
    x, shape = primals
    return windows(x, shape), windows(tangents[0], shape)


def window_energy(x):
    return np.sum(windows(x, (3,)) ** 2)


@pytest.mark.parametrize("k", [1, 2, 3, 8])
def test_a_rule_with_a_tuple_argument_in_vector_mode_matches_one_direction_at_a_time(k):
    # the tuple's tangent is a tuple of stacked zeros: direction i of it is a
    # tuple too (it once indexed the tuple's items by direction: wrong values
    # for K below the tuple's length, an IndexError above)
    x = np.linspace(-1.0, 1.5, 6)
    directions = np.random.default_rng(k).normal(size=(k, 6))
    f = forward_gradient(window_energy)
    batched = f.jvp(x, tangents=(directions,), batched=True)[1]
    one_by_one = [f.jvp(x, tangents=(d,))[1] for d in directions]
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-14)
    np.testing.assert_allclose(one_by_one, [2 * np.sum(windows(x, (3,)) * windows(d, (3,)))
                                            for d in directions], rtol=1e-14)
