"""Elementwise loops over C-contiguous arrays of rank 2-4 run as one flat
loop (elementwise.py ``each``): the results must equal numpy's and the
Python backend's whatever the layout (views, transposes, broadcasting,
writes into strided targets), and tangents must match finite differences
for every ``wrt`` subset, in single-direction and vector mode."""

import itertools

import numpy as np
import pytest

import oracle

pytest.importorskip("llvmlite")
from fwdcompile import forward_gradient  # noqa: E402


def three_d(a, b, c):
    # (N, K, 2) like the Gaussian mixture: an inner dimension of two
    diff = a[:, None, :] - b[None, :, :]
    e = np.exp(-diff * diff) * c
    return np.sum(e * diff)


def same_shape(a, b, c):
    return np.sum(np.tanh(a * b + c) * a)


def strided_views(a, b, c):
    # a transposed, a column slice and a stepped slice: not C-contiguous
    return np.sum(a.T * b.T) + np.sum(a[:, 1:] * c[:, 1:]) + np.sum(np.sin(b[::2, :]))


def write_into_view(a, b, c):
    out = np.zeros((a.shape[0], a.shape[1] + 1))
    out[:, 1:] = a * b + c  # the target is a strided view
    out[:, :1] = a[:, :1]
    return np.sum(out * out)


def held_and_returned(a, b, c):
    h = np.exp(a) * b
    g = h * c + a
    return g


SHAPES = {
    three_d: [(7, 2), (5, 2), (5, 2)],
    same_shape: [(4, 3, 5), (4, 3, 5), (4, 3, 5)],
    strided_views: [(6, 6), (6, 6), (6, 6)],
    write_into_view: [(5, 4), (5, 4), (5, 4)],
    held_and_returned: [(3, 4, 2, 5), (3, 4, 2, 5), (3, 4, 2, 5)],
}


def _args(fn, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(rng.normal(size=s) for s in SHAPES[fn])


def _subsets(n):
    return [s for k in range(1, n + 1) for s in itertools.combinations(range(n), k)]


@pytest.mark.parametrize("fn", list(SHAPES), ids=lambda f: f.__name__)
def test_values_equal_numpy_and_the_python_backend(fn):
    args = _args(fn)
    f = forward_gradient(fn, backend="llvm")
    value, _ = f.jvp(*args, tangents=tuple(np.zeros_like(a) for a in args))
    np.testing.assert_allclose(value, fn(*args), rtol=1e-13, atol=1e-13)
    assert "one native kernel" in f.llvm_placement


@pytest.mark.parametrize("fn", list(SHAPES), ids=lambda f: f.__name__)
def test_tangents_for_wrt_subsets(fn):
    args = _args(fn)
    rng = np.random.default_rng(1)
    # every subset where the layout cases differ; one, two and all elsewhere
    subsets = _subsets(len(args)) if fn in (three_d, write_into_view) else [
        (0,), (1, 2), (0, 1, 2)]
    for wrt in subsets:
        f = forward_gradient(fn, wrt=wrt, backend="llvm")
        tangents = tuple(rng.normal(size=args[i].shape) for i in wrt)
        _, tangent = f.jvp(*args, tangents=tangents)
        ref, _ = oracle.jvp_reference(fn, args, list(wrt), tangents)
        np.testing.assert_allclose(tangent, ref, rtol=1e-7, atol=1e-8,
                                   err_msg=f"{fn.__name__} wrt {wrt}")
        batch = tuple(rng.normal(size=(3,) + args[i].shape) for i in wrt)
        _, tangents_k = f.jvp(*args, tangents=batch, batched=True)
        for j in range(3):
            ref, _ = oracle.jvp_reference(fn, args, list(wrt), tuple(t[j] for t in batch))
            np.testing.assert_allclose(tangents_k[j], ref, rtol=1e-7, atol=1e-8,
                                       err_msg=f"{fn.__name__} wrt {wrt}, direction {j}")


def test_non_contiguous_arguments_and_broadcasting_rows_and_columns():
    def f(a, r, c):
        return np.sum(a * r + c * a)  # r (n,) broadcasts along rows, c (m, 1) along columns

    rng = np.random.default_rng(2)
    big = rng.normal(size=(6, 10))
    a, r, c = big[:, ::2], rng.normal(size=5), rng.normal(size=(6, 1))
    g = forward_gradient(f, backend="llvm")
    for args in [(a, r, c), (np.ascontiguousarray(a), r, c), (a.T.copy().T, r, c)]:
        value, tangent = g.jvp(*args, tangents=(np.ones_like(args[0]), np.ones(5),
                                                np.ones((6, 1))))
        assert value == pytest.approx(f(*args), rel=1e-13)
        ref, _ = oracle.jvp_reference(f, args, [0, 1, 2], (np.ones(a.shape), np.ones(5),
                                                           np.ones((6, 1))))
        assert tangent == pytest.approx(ref, rel=1e-7)
