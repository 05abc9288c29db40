"""Reads and stores through any index, in both modes: tuple-valued indices,
masks, index arrays (adjacent or separated by a slice), Ellipsis and newaxis,
element and row swaps; the tangents passed in are never written to."""

import numpy as np
import pytest

from jvp_check import check

import fwdcompile
from fwdcompile.pipeline import compile_jvp


def triu_zero(x):
    S = np.outer(x, x)
    S[np.triu_indices(3, 1)] = 0.0
    return np.sum(S)


def tuple_index_read(x, a):
    S = np.outer(x, a)
    idx = np.triu_indices(3)
    return S[idx] * 2.0


def tuple_param_index(A, idx):
    B = A * 1.0
    B[idx] = B[idx] ** 2
    return B[idx] + np.sum(B)


def mask_store(x, mask):
    y = x * 2.0
    y[mask] = y[mask] ** 2
    return y


def mask_compare(x):
    y = np.sin(x)
    y[x > 0.0] = 0.5 * x[x > 0.0]
    return y


def fancy_rows(A):
    return A[[0, 2]][:, :2] * A[:, [2, 0]][[1, 3]]


def separated_fancy(A):
    return A[0, :, [1, 0]] * A[[3, 1], :, [0, 1]]


def separated_store(A):
    B = A * 1.0
    B[0, :, [1, 0]] = B[1, :, [0, 1]] * 2.0
    return B


def separated_names(A, rows, j):
    B = A + 0.0
    B[j, :, rows] = B[j, :, rows] ** 2
    return B[rows, 1, j - 1] * B[j]


def ellipsis_newaxis(x):
    return x[..., 0] * x[None, :, None, 1] + x[:, None, 0] * x[None][0, 2, 1]


def element_swap(x):
    y = x * 1.0
    y[0], y[2] = y[2], y[0]
    return np.sum(y * np.arange(1.0, 4.0))


def element_swap_returned(x):
    y = x * 1.0
    y[0], y[2] = y[2], y[0]
    return y


def row_swap_fancy(A):
    B = A * 1.0
    B[[0, 1]] = B[[1, 0]]
    return B * np.arange(1.0, 4.0)


def row_swap_copies(A):
    A = A * 1.0
    A[0], A[1] = A[1].copy(), A[0].copy()
    return A * np.arange(1.0, 4.0)


def element_then_store(y):
    y = y * 1.0
    a = y[2]
    y[2] = 0.0
    return a * y


def loop_store(x):
    n = x.shape[0]
    out = np.zeros(n)
    for i in range(n):
        out[i] = x[i] * x[n - 1 - i]
    return out


def int_param_store(x, i):
    y = x * 1.0
    y[i] = y[i] * 3.0
    return y


def separated_slices(A):
    B = A * 1.0
    B[1:, :2, [1, 0, 1]] = B[:3, 1:, [0, 1, 1]] * 2.0
    return B[0, ::2, [1, 0]]


def _sq(v):
    return np.sum(v * v)


def _two(v):
    return np.sum(v), np.prod(v)


def helper_into_rows(x):
    out = np.zeros((3, 3))
    for i in range(3):
        out[i] = _sq(x * (i + 1.0))
    return out


def helper_pair_into_rows(x):
    out = np.zeros((3, 3))
    out[0], out[2] = _two(x)
    return out


def chained_alias(x, s):
    a = b = np.zeros(3)   # one array, two names: a write through b shows in a
    a[0] = s
    b += x
    return a


def unpack_state(state, k):
    x, v = state          # vector mode: unpack the value's axis, not the K directions
    return 0.5 * v ** 2 + 0.5 * k * x ** 2


def unpack_rule_result(state, k):
    x, v = np.sin(state)
    return 0.5 * v ** 2 + 0.5 * k * x ** 2


RNG = np.random.default_rng(5)
A432 = RNG.standard_normal((4, 3, 2))
A43 = RNG.standard_normal((4, 3))

CASES = [
    (triu_zero, (np.array([1.0, 2.0, 3.0]),), ("x",)),
    (tuple_index_read, (RNG.standard_normal(3), RNG.standard_normal(3)), ("x", "a")),
    (tuple_param_index, (A43, (np.array([0, 2, 3]), np.array([1, 0, 2]))), ("A",)),
    (mask_store, (A43, A43 > 0.3), ("x",)),
    (mask_compare, (A43,), ("x",)),
    (fancy_rows, (A43,), ("A",)),
    (separated_fancy, (A432,), ("A",)),
    (separated_store, (A432,), ("A",)),
    (separated_names, (A432, np.array([1, 0]), 2), ("A",)),
    (separated_slices, (RNG.standard_normal((4, 3, 2)),), ("A",)),
    (ellipsis_newaxis, (A43,), ("x",)),
    (element_swap, (np.array([1.0, 2.0, 3.0]),), ("x",)),
    (element_swap_returned, (RNG.standard_normal(4),), ("x",)),
    (row_swap_fancy, (A43,), ("A",)),
    (row_swap_copies, (A43,), ("A",)),
    (element_then_store, (RNG.standard_normal(4),), ("y",)),
    (loop_store, (RNG.standard_normal(5),), ("x",)),
    (helper_into_rows, (RNG.uniform(0.5, 1.0, 3),), ("x",)),
    (helper_pair_into_rows, (RNG.uniform(0.5, 1.0, 3),), ("x",)),
    (int_param_store, (A43, (1, 2)), ("x",)),
    (int_param_store, (A43, 3), ("x",)),
    (chained_alias, (RNG.standard_normal(3), 0.5), ("x", "s")),
    (unpack_state, (np.array([0.3, -0.8]), 2.0), ("state", "k")),
    (unpack_rule_result, (np.array([0.3, -0.8]), 2.0), ("state", "k")),
]


@pytest.mark.parametrize("fn, args, params", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_against_finite_differences(fn, args, params):
    check(fn, args, params)


def test_triu_projected_gradient():
    f = fwdcompile.forward_gradient(triu_zero)
    x = np.array([1.0, 2.0, 3.0])
    _, g = f.forward_grad(x, directions=3, combine="project", rng=np.random.default_rng(0))
    np.testing.assert_allclose(g, [7.0, 8.0, 9.0])


def test_swap_copies_the_tangent_it_writes():
    for batched in (False, True):
        source = compile_jvp(element_swap, ("x",), batched=batched).source
        assert "d_y = d_x\n" not in source


def test_loop_counter_indexes_stay_readable():
    source = compile_jvp(loop_store, ("x",), batched=True).source
    assert "d_out[:, i] =" in source and "bindex" not in source
    source = compile_jvp(triu_zero, ("x",), batched=True).source
    assert "_rt.bindex(triu_indices, _K)" in source



def scalars_into_rows(A, s):
    B = A * 1.0
    B[0], B[2] = s * s, np.sin(s)
    return B


def loop_element_then_store(x):
    y = x * 1.0
    total = 0.0
    for v in y:
        y[0] = 0.0
        total = total + v * v
    return total * y


def test_scalars_stored_into_rows():
    check(scalars_into_rows, (np.random.default_rng(2).standard_normal((3, 3)), 0.7),
          ("A", "s"))


def test_loop_element_then_store():
    check(loop_element_then_store, (np.random.default_rng(3).standard_normal(4),), ("x",))


def row_into_vector(p, r):
    t2 = p.reshape(1, -1) * 1.0
    t5 = r.copy()
    t5[0:] = np.sin(t2)   # numpy drops the leading unit axis of the value
    return t5 * 2.0


def test_a_stored_value_with_leading_unit_axes():
    check(row_into_vector, (RNG.standard_normal(4), RNG.standard_normal(4)), ("p", "r"))


def unit_axes_into_fancy(q):
    t1 = np.std(q, axis=None, keepdims=True)   # shape (1, 1)
    t6 = q / 2.0
    t6[[1, 0], [3, 2]] = t1                    # into a (2,) selection
    return t6


def test_a_value_with_unit_axes_stored_through_fancy_indices():
    check(unit_axes_into_fancy, (RNG.standard_normal((3, 4)),), ("q",))
