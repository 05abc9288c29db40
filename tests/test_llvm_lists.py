"""Lists of floats built with ``append`` on the native backend
(backends/llvm/lists.py): ``vals = []; for ...: vals.append(expr)`` then
``np.array(vals)``, ``sum(vals)``, ``len(vals)``, ``vals[i]``, numpy
reductions and loops over them, growing past their first block; and
helpers returning tuples of arrays.  Each runs natively and gives the Python
backend's numbers for every wrt subset, single and vector mode, checked
against finite differences (native_check.py); an index past the end is an
IndexError.  What lists do unlike arrays (``vals * 2``, a second name for
the list) runs in numpy."""

import numpy as np
import pytest

pytest.importorskip("llvmlite")
from fwdcompile import forward_gradient  # noqa: E402

import native_check  # noqa: E402

RNG = np.random.default_rng(13)


def built_in_a_loop(x, c, n):
    vals = []
    for i in range(n):
        vals.append(x[i] * c + 1.0)
    a = np.array(vals)
    return sum(vals) + len(vals) * vals[0] + np.sum(a * a) + vals[-1] * c


def grown_past_its_block(x, y):
    vals = []
    for i in range(x.shape[0]):         # 2 len(x) items: the block doubles twice
        vals.append(np.sin(x[i]) * y[i])
        vals.append(x[i] * x[i])
    total = 0.0
    for item in vals:
        total += item * vals[1]
    return total + np.mean(vals) + np.sum(np.array(vals) ** 3)


def two_arrays(x, y):
    return np.sin(x) * y, np.cos(x) + y


def unpacked(x, y):
    a, b = two_arrays(x, y)
    c, d = two_arrays(b, a)
    return np.sum(a * b + c * d), c


CASES = [
    (built_in_a_loop, lambda: (RNG.normal(size=6), 0.7, 5), ("x", "c")),
    (grown_past_its_block, lambda: (RNG.normal(size=9), RNG.normal(size=9)), ("x", "y")),
    (unpacked, lambda: (RNG.normal(size=4), RNG.normal(size=4)), ("x", "y")),
]


@pytest.mark.parametrize("fn, make, params", CASES, ids=[c[0].__name__ for c in CASES])
def test_lists_and_tuples_lower_and_match_for_every_wrt(fn, make, params):
    native_check.check(fn, make(), params)


def test_an_index_past_the_end_is_an_index_error():
    f = forward_gradient(built_in_a_loop, wrt=("x",), backend="llvm")
    x = RNG.normal(size=6)
    f.jvp(x, 0.5, 3, tangents=(x,))
    with pytest.raises(IndexError):
        built_in_a_loop(x, 0.5, 0)
    with pytest.raises(IndexError):
        f.jvp(x, 0.5, 0, tangents=(x,))
    assert "runs in one native kernel" in f.llvm_placement


def repeated(x):
    vals = []
    for v in x:
        vals.append(v * 2.0)
    other = vals
    other.append(1.0)                   # the same list under a second name
    return np.sum(np.array(vals * 2)) + len(vals)


def test_what_lists_do_unlike_arrays_runs_in_numpy():
    x = RNG.normal(size=4)
    f = forward_gradient(repeated, wrt=("x",), backend="llvm")
    want = forward_gradient(repeated, wrt=("x",)).jvp(x, tangents=(x,))
    for _ in range(2):
        native_check.assert_same(f.jvp(x, tangents=(x,)), want, 1e-12)
    assert "numpy" in f.llvm_placement
