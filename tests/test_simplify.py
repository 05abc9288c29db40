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


# Forward substitution moves a temporary to its one use only past statements
# that change nothing it reads, and moves a call only when it has no effect but
# its result.  Every method of a local value used to count as such a call, so
# `s_pop = s.pop()` was inlined into the return, past `len_s = len(s)`: len
# then saw the list before the pop (value 4.93 and derivative 2.29 instead of
# 4.29 and 1.53, in both modes).  Only the methods declared in rules/methods.py
# are pure now; `lst.pop()`, `d.popitem()` are taken to write.

def pop_then_len(x):
    s = [1.0, 2.0, 3.0]
    return s.pop() + np.sin(x) * len(s)


def popitem_then_len(x):
    d = {"a": 1.0, "b": 2.0}
    y = d.popitem()[1] + np.sin(x) * len(d)
    return y


@pytest.mark.parametrize("fn", [pop_then_len, popitem_then_len])
@pytest.mark.parametrize("batched", [False, True])
def test_a_mutating_method_is_not_moved_past_a_read(fn, batched):
    f = forward_gradient(fn, wrt=("x",))
    x, h = 0.7, 1e-6
    value, tangent = f.jvp(x, tangents=(np.array([1.0, -2.0]) if batched else 1.0,),
                           batched=batched)
    assert value == fn(x)
    slope = (fn(x + h) - fn(x - h)) / (2 * h)
    np.testing.assert_allclose(tangent, np.array([1.0, -2.0]) * slope if batched else slope,
                               rtol=1e-6)


def sum_then_len(x):
    a = np.array([1.0, 2.0, 3.0])
    return a.sum() + np.sin(x) * len(a)


def test_a_declared_method_still_moves():
    """``a.sum()`` is declared pure (rules/methods.py): inlined at its one use,
    past ``len_a = len(a)``, as before."""
    source = forward_gradient(sum_then_len, wrt=("x",)).source
    assert "len_a = len(a)" in source and "a_sum" not in source
    assert "a.sum() + np.sin(x) * len_a" in source
