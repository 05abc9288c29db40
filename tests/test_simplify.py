"""transform/simplify.py: folding never turns a new array into an existing one.

A hypothesis run found `t = -(-x); t *= 2.0` generated as `t = x`, so the
in-place update doubled the caller's array (corpus: tricky.py,
double_negation_then_in_place).  Identities may be dropped where arithmetic
reads the result, never where the object itself is kept."""

import ast

import gast
import numpy as np
import pytest

from fwdcompile import forward_gradient
from fwdcompile.transform.simplify import fold


def _fold(text, **kw):
    node = gast.parse(text, mode="eval").body
    return ast.unparse(gast.gast_to_ast(fold(node, **kw)))


@pytest.mark.parametrize("text, safe, plain", [
    ("-(-d)", "--d", "d"),
    ("1 * d", "1 * d", "d"),
    ("d / 1", "d / 1", "d"),
    ("d ** 1", "d ** 1", "d"),
    ("f(-(-d))", "f(--d)", "f(d)"),  # a call may keep its argument
    ("(-(-d), e)", "(--d, e)", "(d, e)"),
    ("2.0 * -(-d)", "2.0 * d", "2.0 * d"),  # arithmetic reads it: a new array anyway
    ("-(-d) + e * 1", "d + e", "d + e"),
    ("2 - 1", "1", "1"),
])
def test_safe_fold_keeps_new_arrays_new(text, safe, plain):
    assert _fold(text, safe=True) == safe
    assert _fold(text) == plain


def negated_twice(x):
    return -(-x)  # noqa: B002  (on purpose)


def test_a_new_array_is_not_the_argument():
    f = forward_gradient(negated_twice)
    x, d = np.arange(3.0), np.ones(3)
    value, tangent = f.jvp(x, tangents=(d,))
    assert not np.shares_memory(value, x) and not np.shares_memory(tangent, d)
    value[:] = -1.0
    tangent[:] = -1.0
    np.testing.assert_array_equal(x, np.arange(3.0))
    np.testing.assert_array_equal(d, np.ones(3))
