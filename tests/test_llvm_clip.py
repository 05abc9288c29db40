"""``np.clip`` and its tangent ``_rt.clip_jvp`` on the native backend:
elementwise with broadcasting bounds, NaN as numpy propagates it, float32
kept, every ``wrt`` subset in single-direction and vector mode against
finite differences (points away from the kinks), one kernel."""

import itertools

import numpy as np
import pytest

import oracle

pytest.importorskip("llvmlite")
from fwdcompile import forward_gradient  # noqa: E402


def clipped(x, lo, hi):
    y = np.clip(x * 1.5, lo, hi)
    return np.sum(y * y + np.sin(x))


def clipped_rows(X, lo, hi):
    return np.sum(np.clip(X, lo, hi) ** 2)  # lo (n,), hi (m, 1): bounds broadcast


def _subsets(n):
    return [s for k in range(1, n + 1) for s in itertools.combinations(range(n), k)]


CASES = [
    (clipped, lambda rng: (rng.uniform(-2, 2, size=11), -0.6, 0.9)),
    (clipped_rows, lambda rng: (rng.uniform(-2, 2, size=(4, 5)),
                                rng.uniform(-1.0, -0.2, size=5),
                                rng.uniform(0.2, 1.0, size=(4, 1)))),
]


@pytest.mark.parametrize("fn, make", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_every_wrt_subset_single_and_vector_mode(fn, make):
    rng = np.random.default_rng(0)
    args = make(rng)
    for wrt in _subsets(3):
        f = forward_gradient(fn, wrt=wrt, backend="llvm")
        tangents = tuple(rng.normal(size=np.shape(args[i])) if np.ndim(args[i]) else 0.7
                         for i in wrt)
        value, tangent = f.jvp(*args, tangents=tangents)
        assert value == pytest.approx(fn(*args), rel=1e-13)
        ref, _ = oracle.jvp_reference(fn, args, list(wrt), tangents)
        assert tangent == pytest.approx(ref, rel=1e-7, abs=1e-9), (fn.__name__, wrt)
        assert "one native kernel" in f.llvm_placement
        batch = tuple(rng.normal(size=(3,) + np.shape(args[i])) for i in wrt)
        _, tangents_k = f.jvp(*args, tangents=batch, batched=True)
        for j in range(3):
            ref, _ = oracle.jvp_reference(fn, args, list(wrt), tuple(t[j] for t in batch))
            assert tangents_k[j] == pytest.approx(ref, rel=1e-7, abs=1e-9), (fn.__name__, wrt, j)


def test_nan_and_float32_as_the_python_backend():
    def f(x, lo):
        return np.clip(x, lo, 2.5) * 3.0

    x = np.array([np.nan, -1.0, 0.5, 3.0, np.inf], dtype=np.float32)
    native = forward_gradient(f, wrt=(0, 1), backend="llvm")
    python = forward_gradient(f, wrt=(0, 1))
    t = (np.ones_like(x), 2.0)
    (v1, d1), (v2, d2) = native.jvp(x, 0.0, tangents=t), python.jvp(x, 0.0, tangents=t)
    assert v1.dtype == v2.dtype == np.float32
    np.testing.assert_array_equal(v1, v2)
    np.testing.assert_array_equal(d1, d2)
    assert d1.dtype == d2.dtype
