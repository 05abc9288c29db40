"""Integer-array gathers and scatters on the native backend
(backends/llvm/selections.py): ``W[tokens]``, ``X[batch]``, ``x[idx, j]``,
``x[rows, cols]``, ``x[:, idx]``, ``x[idx, :, j]`` (numpy's layout: the
index dimensions first when the array indices are not adjacent), negative
indices, and writes ``out[idx] = v`` / ``out[idx] += v`` with repeated
indices.  Each runs natively and gives the Python backend's numbers for
every wrt subset, single and vector mode, checked against finite
differences (native_check.py); an index out of range is numpy's
IndexError, never a read outside the array."""

import numpy as np
import pytest

pytest.importorskip("llvmlite")
from fwdcompile import forward_gradient  # noqa: E402

import native_check  # noqa: E402

RNG = np.random.default_rng(3)


def embedding(W, b, tokens):
    E = W[tokens]                       # (T, D) rows of the table
    return np.sum(np.tanh(E + b) ** 2)


def batch_rows(X, w, batch):
    Xb = X[batch]                       # (B, C, H): rows of a 3-d array
    return np.mean(np.sin(Xb * w))


def column_of_rows(x, idx, j):
    return np.sum(x[idx, j] ** 2) + np.sum(np.exp(x[idx, -1]) * x[idx, j])


def pairs(x, rows, cols):
    return np.sum(np.sin(x[rows, cols]) * x[rows, cols])


def columns(x, idx):
    picked = x[:, idx]                  # (N, len(idx))
    return np.sum(picked * picked[::-1])


def separated(x, idx):
    return np.sum(np.cos(x[idx, :, 1]) * x[idx, 0, :])   # (len(idx), H) both


def grid(x, rows, cols):
    return np.sum(x[rows, cols] ** 3)   # (2, 1) and (1, 3) broadcast to (2, 3)


def gathered_in_a_loop(W, tokens):
    total = 0.0
    for t in range(tokens.shape[0]):
        row = W[tokens[t:t + 2]]
        total += np.sum(row * row) * (t + 1)
    return total


def scatter(x, v, idx):
    out = np.zeros(6)
    out[idx] = v                        # repeated index: the last value wins
    out[idx] += x[idx]                  # x[idx] + out[idx] in full, then written
    out[idx[:2]] *= 2.0
    return np.sum(out ** 2)


TOKENS = np.array([1, 4, -1, 4, 0])
CASES = [
    (embedding, lambda: (RNG.normal(size=(6, 4)), RNG.normal(size=4), TOKENS), ("W", "b")),
    (batch_rows, lambda: (RNG.normal(size=(5, 3, 2)), RNG.normal(size=2),
                          np.array([[0, 2], [4, -5]])), ("X", "w")),
    (column_of_rows, lambda: (RNG.normal(size=(6, 3)), TOKENS, 1), ("x",)),
    (pairs, lambda: (RNG.normal(size=(4, 5)), np.array([0, 3, -1]), np.array([4, 0, 2])),
     ("x",)),
    (columns, lambda: (RNG.normal(size=(4, 5)), np.array([2, -1, 2])), ("x",)),
    (separated, lambda: (RNG.normal(size=(5, 3, 3)), np.array([1, 4, -2])), ("x",)),
    (grid, lambda: (RNG.normal(size=(3, 4)), np.array([[0], [2]]), np.array([[1, 3, -4]])),
     ("x",)),
    (gathered_in_a_loop, lambda: (RNG.normal(size=(6, 3)), TOKENS), ("W",)),
    (scatter, lambda: (RNG.normal(size=6), RNG.normal(size=4), np.array([5, 1, 1, -2])),
     ("x", "v")),
]


@pytest.mark.parametrize("fn, make, params", CASES, ids=[c[0].__name__ for c in CASES])
def test_gathers_lower_and_match_for_every_wrt(fn, make, params):
    native_check.check(fn, make(), params)


def test_gather_shapes_follow_numpy():
    def shapes(x, idx, j):
        return x[idx, :, j] * 1.0, x[:, idx, j] * 1.0, x[idx, idx] * 1.0, x[j, :, idx] * 1.0

    x, idx = RNG.normal(size=(4, 5, 6)), np.array([[0, 1, 2], [3, -1, 2]])
    f = forward_gradient(shapes, wrt=("x",), backend="llvm")
    value, tangent = f.jvp(x, idx, 2, tangents=(x,))
    assert "runs in one native kernel" in f.llvm_placement
    for got, want in zip(value, shapes(x, idx, 2)):
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("bad", [np.array([0, 6]), np.array([-7, 1]), np.array([[9]])])
def test_an_index_out_of_range_is_an_index_error(bad):
    W, b = RNG.normal(size=(6, 4)), np.ones(4)
    f = forward_gradient(embedding, wrt=("W",), backend="llvm")
    f.jvp(W, b, TOKENS, tangents=(W,))  # compiled for int64 index vectors
    with pytest.raises(IndexError):
        embedding(W, b, bad)
    if bad.ndim == 1:
        with pytest.raises(IndexError, match="index out of bounds"):
            f.jvp(W, b, bad, tangents=(W,))
        assert "runs in one native kernel" in f.llvm_placement


def test_index_arrays_that_do_not_broadcast_are_an_index_error():
    x = RNG.normal(size=(4, 5))
    f = forward_gradient(pairs, wrt=("x",), backend="llvm")
    with pytest.raises(IndexError, match="shape mismatch"):
        pairs(x, np.array([0, 1]), np.array([0, 1, 2]))
    with pytest.raises(IndexError, match="shape mismatch"):
        f.jvp(x, np.array([0, 1]), np.array([0, 1, 2]), tangents=(x,))


def test_a_scatter_out_of_range_writes_nothing():
    def write(x, idx):
        out = x * 1.0
        out[idx] = 7.0
        return np.sum(out)

    f = forward_gradient(write, wrt=("x",), backend="llvm")
    x = np.arange(4.0)
    with pytest.raises(IndexError):
        f.jvp(x, np.array([0, 1, 4]), tangents=(x,))
    np.testing.assert_array_equal(x, np.arange(4.0))
    assert f.jvp(x, np.array([0, -1]), tangents=(x,))[0] == 1.0 + 2.0 + 14.0


def test_a_gather_with_a_matrix_product_runs_natively_around_it():
    def logits(W, U, tokens):
        E = W[tokens]
        return np.sum(np.tanh(E @ U))

    args = (RNG.normal(size=(6, 4)), RNG.normal(size=(4, 3)), TOKENS)
    native_check.check(logits, args, ("W", "U"), lines=["E = W[tokens]"])
