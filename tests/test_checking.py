"""Checking mode: generated code that asserts every tangent's shape and dtype.

``forward_gradient(..., check=True)`` or ``FWDCOMPILE_CHECK=1``.  CI runs
the corpus, the property tests and the examples once with it on (.ci/run).
"""

from __future__ import annotations

import numpy as np
import pytest

import fwdcompile
from fwdcompile import forward_gradient
from fwdcompile.pipeline import clear_cache, compile_jvp
from fwdcompile.errors import FwdcompileError, TangentCheckFailed
from fwdcompile.transform.expressions import ExpressionMixin
from test_broadcast import grows_in_a_loop as looped
from test_broadcast import row_product as biased


def wrapped(x):
    return np.sum(_bad_rule(x)) + np.sum(x)


def _bad_rule(x):
    return np.sin(x)


def test_checked_source_asserts_each_tangent():
    source = compile_jvp(biased, ("b",), check=True).source
    assert "_rt.check_tangent(d_Z, Z, None, 'Z', " in source
    assert "return _rt.check_return(" in source
    assert "check_tangent" not in compile_jvp(biased, ("b",), check=False).source


def test_checked_code_gives_the_same_numbers():
    rng = np.random.default_rng(0)
    X, s = rng.standard_normal((4, 3)), 0.3
    plain = forward_gradient(wrt="s", check=False)(looped)
    checked = forward_gradient(wrt="s", check=True)(looped)
    assert checked.jvp(s, X, tangents=(0.7,)) == plain.jvp(s, X, tangents=(0.7,))
    V = rng.standard_normal(3)
    np.testing.assert_array_equal(checked.jvp(s, X, tangents=(V,), batched=True)[1],
                                  plain.jvp(s, X, tangents=(V,), batched=True)[1])


def test_environment_variable_turns_it_on(monkeypatch):
    monkeypatch.setenv("FWDCOMPILE_CHECK", "1")
    assert "check_tangent" in compile_jvp(biased, ("b",)).source
    monkeypatch.setenv("FWDCOMPILE_CHECK", "0")
    assert "check_tangent" not in compile_jvp(biased, ("b",)).source


def test_a_tangent_of_the_wrong_shape_is_caught_at_the_users_line(monkeypatch):
    """Mutation check: without the broadcast of d_b the checks must fire."""
    monkeypatch.setattr(ExpressionMixin, "may_broadcast", lambda self, primal, tangent: False)
    clear_cache()
    try:
        f = forward_gradient(wrt="b", check=True)(biased)
        with pytest.raises(TangentCheckFailed) as info:
            f.jvp(np.ones(3), np.ones((4, 3)), tangents=(np.ones(3),))
    finally:
        clear_cache()
    error = info.value
    assert isinstance(error, FwdcompileError)
    assert error.lineno == biased.__code__.co_firstlineno + 1  # Z = X + b
    assert "shape (3,)" in str(error) and "(4, 3)" in str(error)
    assert "Z = X + b" in str(error)


def test_a_custom_rule_returning_the_wrong_shape_is_caught():
    @fwdcompile.custom_jvp(_bad_rule)
    def bad_rule_jvp(primals, tangents):
        (x,), (dx,) = primals, tangents
        return np.sin(x), np.sum(np.cos(x) * dx)  # a scalar where an array is owed

    try:
        f = forward_gradient(wrapped, check=True)
        with pytest.raises(TangentCheckFailed, match="shape"):
            f.jvp(np.ones(3), tangents=(np.ones(3),))
    finally:
        from fwdcompile.rules.registry import _REGISTRY
        _REGISTRY.pop(_bad_rule, None)
        clear_cache()


def test_integer_tangents_are_caught():
    from fwdcompile import runtime
    with pytest.raises(TangentCheckFailed, match="dtype"):
        runtime.check_tangent(np.zeros(3, dtype=int), np.zeros(3), None, "x", None)
    runtime.check_tangent(np.zeros((2, 3)), np.zeros(3), 2, "x", None)
    with pytest.raises(TangentCheckFailed, match=r"\(2, 3\)"):
        runtime.check_tangent(np.zeros(3), np.zeros(3), 2, "x", None)
