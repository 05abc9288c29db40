"""The native backend's fast paths give numpy's answers: branch-free
``max``/``min``/``np.maximum``/``np.minimum`` (NaN from either side, in every
position), reductions along an axis of 2 or 3 positions spelled out
(and the loop otherwise), short elementwise loops vectorized on request (an
(N, K) array against an (N, 1) one, K from 1 to 9) without LLVM printing
anything, ``_rt.broadcast`` of a tangent read for its target's shape alone,
and ``x ** n`` of an array for small integer ``n`` by multiplication.  The
derivatives of a Gaussian-mixture likelihood (which takes all of these) for
every ``wrt`` subset, single-direction and vector mode, against finite
differences."""

import itertools
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import oracle

pytest.importorskip("llvmlite")
from fwdcompile import forward_gradient  # noqa: E402


def _native(fn):
    f = forward_gradient(fn, wrt=(), backend="llvm")
    return lambda *args: f.jvp(*args, tangents=())[0]


def row_max(L):
    return np.max(L, axis=1)


def row_min(L):
    return np.min(L, axis=1, keepdims=True)


def pairwise_max(a, b):
    return np.maximum(a, b) + np.minimum(a, b) * 0.5


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 8])
def test_max_and_min_along_rows_with_nans_as_numpy(k):
    rng = np.random.default_rng(k)
    L = rng.normal(size=(9, k))
    L[2, 0] = np.nan  # first position
    L[5, k - 1] = np.nan  # last position
    L[7] = np.inf
    for fn in (row_max, row_min):
        np.testing.assert_array_equal(_native(fn)(L), fn(L))


def test_maximum_and_minimum_propagate_nan_from_either_operand():
    a = np.array([1.0, np.nan, 3.0, -np.inf, np.nan, 0.5])
    b = np.array([np.nan, 2.0, 1.0, 4.0, np.nan, 0.5])
    np.testing.assert_array_equal(_native(pairwise_max)(a, b), pairwise_max(a, b))
    np.testing.assert_array_equal(_native(pairwise_max)(b, a), pairwise_max(b, a))


def test_signed_zeros_compare_equal():
    # documented: of -0.0 and +0.0 the native max is +0.0 (numpy returns its
    # second operand); the values are equal either way
    z = np.array([[-0.0, 0.0], [0.0, -0.0]])
    assert np.all(_native(row_max)(z) == 0.0)


def axis_sums(X):
    return (np.sum(X, axis=2), np.mean(X, axis=2), np.prod(X, axis=2), np.max(X, axis=1),
            np.sum(X * X, axis=0))


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 7])
def test_short_axis_reductions_as_numpy(k):
    X = np.random.default_rng(k).normal(size=(6, 5, k))
    got, want = _native(axis_sums)(X), axis_sums(X)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-14, atol=1e-15)


def centred_exp(L):
    m = np.max(L, axis=1, keepdims=True)
    return np.exp(L - m) * 2.0 + np.sqrt(np.abs(L))


@pytest.mark.parametrize("k", range(1, 10))
def test_short_broadcast_loops_as_numpy(k):
    L = np.random.default_rng(k).normal(size=(13, k))
    np.testing.assert_allclose(_native(centred_exp)(L), centred_exp(L), rtol=1e-14)


def test_llvm_prints_nothing_when_a_loop_cannot_vectorize(tmp_path):
    # bodies with an inner loop (a reduction along an axis), a branch or a
    # call LLVM cannot widen must not carry the vectorize hint: LLVM would
    # print "loop not vectorized" warnings on the user's terminal
    code = textwrap.dedent("""
        import numpy as np
        from fwdcompile import forward_gradient

        def f(L):
            m = np.max(L, axis=1, keepdims=True)
            y = np.exp(L - m) + np.arctan2(L, 1.5) + np.sum(L * L, axis=1, keepdims=True)
            z = np.where(L > 0.0, np.log1p(np.abs(L)), np.abs(L) ** 2.5)
            return np.sum(y * z) + np.sum(np.cumsum(L, axis=1))

        L = np.random.default_rng(0).normal(size=(40, 6))
        g = forward_gradient(f, backend="llvm")
        g.jvp(L, tangents=(np.ones_like(L),))
        assert "one native kernel" in g.llvm_placement, g.llvm_placement
    """)
    script = tmp_path / "loops.py"  # a file: fwdcompile reads the function's source
    script.write_text(code)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env={**os.environ, "FWDCOMPILE_CACHE": "0"})
    assert run.returncode == 0, run.stderr
    assert "not vectorized" not in run.stderr and "warning" not in run.stderr, run.stderr


def powers(x):
    return x ** 2, x ** 3, x ** 4, x ** -2, x ** -3, x ** 2.0, x ** 5, x ** 0.5


def test_small_integer_powers_of_arrays():
    x = np.random.default_rng(1).uniform(0.3, 3.0, size=(4, 7))
    for got, want in zip(_native(powers)(x), powers(x)):
        np.testing.assert_allclose(got, want, rtol=4e-16 * 4)


def mixture(mu, log_sigma, logits, X):
    diff = X[:, None, :] - mu[None, :, :]
    sq = np.sum(diff ** 2, axis=2)
    logw = logits - np.max(logits)
    logw = logw - np.log(np.sum(np.exp(logw)))
    logp = logw - 0.5 * sq * np.exp(-2.0 * log_sigma) - 2.0 * log_sigma
    m = np.max(logp, axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.sum(np.exp(logp - m), axis=1))
    return -np.mean(lse)


def test_mixture_every_wrt_subset_single_and_vector_mode():
    rng = np.random.default_rng(3)
    K = 5
    args = (rng.normal(size=(K, 2)), 0.1 * rng.normal(size=K), 0.1 * rng.normal(size=K),
            rng.normal(size=(30, 2)))
    for n in (1, 2, 3):
        for wrt in itertools.combinations(range(3), n):
            f = forward_gradient(mixture, wrt=wrt, backend="llvm")
            tangents = tuple(rng.normal(size=np.shape(args[i])) for i in wrt)
            value, tangent = f.jvp(*args, tangents=tangents)
            assert value == pytest.approx(mixture(*args), rel=1e-13)
            ref, _ = oracle.jvp_reference(mixture, args, list(wrt), tangents)
            assert tangent == pytest.approx(ref, rel=1e-7, abs=1e-9), wrt
            assert "one native kernel" in f.llvm_placement
            batch = tuple(rng.normal(size=(3,) + np.shape(args[i])) for i in wrt)
            _, tangents_k = f.jvp(*args, tangents=batch, batched=True)
            for j in range(3):
                ref, _ = oracle.jvp_reference(mixture, args, list(wrt),
                                              tuple(t[j] for t in batch))
                assert tangents_k[j] == pytest.approx(ref, rel=1e-7, abs=1e-9), (wrt, j)
