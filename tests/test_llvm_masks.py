"""Boolean masks on the native backend (backends/llvm/selections.py): masks
computed in the function (``m = x > 0``, ``(a > 0) & (a < 1)``) or passed
as bool arrays, reads ``x[m]`` (a vector of run-time length, or rows of a
matrix), writes ``x[m] = value`` / ``x[m] = y[m]`` / ``x[m] += value``, and
``np.where`` with them.  Each runs natively and gives the Python backend's
numbers for every wrt subset, single and vector mode, checked against
finite differences (native_check.py); a mask of the wrong shape is numpy's
IndexError, a value that does not fit the selection numpy's ValueError.
What numpy computes in integers or bools (``np.sum(m)``, ``m + m``) stays
in numpy."""

import numpy as np
import pytest

pytest.importorskip("llvmlite")
from fwdcompile import forward_gradient  # noqa: E402

import native_check  # noqa: E402

RNG = np.random.default_rng(5)


def away(*shape):
    """Numbers at least 0.1 from the thresholds below (0, 0.1, 0.3, 0.5): finite
    differences never move an element across one."""
    size = np.ones(shape) * RNG.choice([0.2, 0.7, 1.2], size=shape)
    return size * RNG.choice([-1.0, 1.0], size=shape)


def positive_part(x, y):
    m = x > 0
    z = x[m]
    return np.sum(z * z) + np.sum(np.where(m, x, y) ** 2)


def clamp_in_place(x, y):
    w = y * 1.0
    w[x > 0.5] = 0.5                    # a number
    w[x < -0.5] = y[x < -0.5] * 2.0     # the selected values of another array
    w[(x > -0.1) & (x < 0.1)] += x[(x > -0.1) & (x < 0.1)] ** 2
    return np.sum(w * x)


def given_mask(x, m):
    return np.sum(np.sin(x[m])) + np.sum(np.where(m, x * x, 0.0))


def rows(X, w, m):
    kept = X[m]                         # (count, C): the rows where m holds
    out = X * 1.0
    out[m] = kept * w                   # rows written back, broadcast against w
    return np.sum(np.tanh(out)) + np.sum(kept ** 2)


def elements_of_a_matrix(X):
    big = np.abs(X) > 0.3               # a 2-d mask: a vector of the elements
    return np.sum(np.exp(X[big])) + np.sum(np.where(big | (X > 0), X, -X))


CASES = [
    (positive_part, lambda: (away(9), away(9)), ("x", "y"), None),
    (clamp_in_place, lambda: (away(12), away(12)), ("x", "y"), None),
    (given_mask, lambda: (away(7), RNG.normal(size=7) > 0), ("x",), None),
    (rows, lambda: (away(6, 3), away(3), np.array([True, False, True, True, False, False])),
     ("X", "w"), None),
    (elements_of_a_matrix, lambda: (away(4, 5),), ("X",), None),
]


@pytest.mark.parametrize("fn, make, params, lines", CASES, ids=[c[0].__name__ for c in CASES])
def test_masks_lower_and_match_for_every_wrt(fn, make, params, lines):
    native_check.check(fn, make(), params, lines)


def test_an_empty_selection_is_an_empty_array():
    x = -np.ones(5)
    f = forward_gradient(positive_part, wrt=("x",), backend="llvm")
    value, tangent = f.jvp(x, x, tangents=(np.ones(5),))
    assert value == positive_part(x, x) and tangent == 0.0
    assert "runs in one native kernel" in f.llvm_placement


def test_a_mask_of_the_wrong_shape_is_an_index_error():
    f = forward_gradient(given_mask, wrt=("x",), backend="llvm")
    x = RNG.normal(size=7)
    f.jvp(x, x > 0, tangents=(x,))
    with pytest.raises(IndexError, match="boolean index did not match"):
        given_mask(x, np.ones(6, bool))
    with pytest.raises(IndexError, match="boolean index did not match"):
        f.jvp(x, np.ones(6, bool), tangents=(x,))


def test_values_that_do_not_fit_the_selection_are_a_value_error():
    def write(x, v):
        out = x * 1.0
        out[x > 0] = v
        return np.sum(out)

    f = forward_gradient(write, wrt=("x", "v"), backend="llvm")
    x = np.array([1.0, -1.0, 2.0])
    assert f.jvp(x, np.array([5.0, 6.0]), tangents=(x, x[:2]))[0] == 10.0
    assert "runs in one native kernel" in f.llvm_placement
    with pytest.raises(ValueError):
        write(x, np.ones(3))
    with pytest.raises(ValueError, match="boolean array indexing assignment"):
        f.jvp(x, np.ones(3), tangents=(x, x))


def test_counts_and_bool_arithmetic_stay_in_numpy():
    def counts(x):
        m = x > 0
        return np.sum(x[m]) * np.sum(m) + np.sum((m + m) * x)

    x = RNG.normal(size=6)
    f = forward_gradient(counts, wrt=("x",), backend="llvm")
    want = forward_gradient(counts, wrt=("x",)).jvp(x, tangents=(x,))
    for _ in range(2):
        native_check.assert_same(f.jvp(x, tangents=(x,)), want, 1e-12)
    placement = f.llvm_placement
    assert "numpy" in placement and "native" in placement, placement


def test_bool_arrays_are_native_arguments():
    f = forward_gradient(given_mask, wrt=("x",), backend="llvm").compile("float64[:]", "bool[:]")
    x = RNG.normal(size=7)
    np.testing.assert_allclose(f.jvp(x, x > 0, tangents=(x,)),
                               forward_gradient(given_mask, wrt=("x",)).jvp(
                                   x, x > 0, tangents=(x,)), rtol=1e-12)
    assert type(f.jvp).__name__ == "builtin_function_or_method"
