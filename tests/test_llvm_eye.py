"""``np.eye`` on the native backend: a lazy identity (never stored) with
``M``, ``k`` and ``dtype=float``; equal to numpy, differentiated through,
negative sizes raise ``ValueError`` as numpy does; the Lennard-Jones energy
that masks its diagonal with it lowers whole."""


import numpy as np
import pytest

import oracle

pytest.importorskip("llvmlite")
from fwdcompile import forward_gradient  # noqa: E402


def masked(x, n, k):
    return np.sum(x * np.eye(n, 4, k)) + np.sum(np.eye(3, dtype=float) * x[:3, :3])


def keywords(x, n):
    return np.sum(np.eye(n, M=4, k=-1) * x * x)


def lj_energy(pos, scale):
    n = pos.shape[0]
    d = pos[:, None, :] - pos[None, :, :]
    r2 = np.sum(d * d, axis=2) * scale + np.eye(n)
    inv6 = 1.0 / r2 ** 3
    e = np.where(np.eye(n) > 0.0, 0.0, 4.0 * (inv6 * inv6 - inv6))
    return 0.5 * np.sum(e)


def test_values_and_tangents_equal_numpy_and_finite_differences():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4))
    for k in (-2, 0, 1, 5):
        f = forward_gradient(masked, wrt=(0,), backend="llvm")
        v = rng.normal(size=x.shape)
        value, tangent = f.jvp(x, 5, k, tangents=(v,))
        assert value == pytest.approx(masked(x, 5, k), rel=1e-14)
        ref, _ = oracle.jvp_reference(masked, (x, 5, k), [0], (v,))
        assert tangent == pytest.approx(ref, rel=1e-8, abs=1e-10)
        assert "one native kernel" in f.llvm_placement
    g = forward_gradient(keywords, wrt=(0,), backend="llvm")
    value, tangent = g.jvp(x, 5, tangents=(x,))
    assert value == pytest.approx(keywords(x, 5), rel=1e-14)
    assert tangent == pytest.approx(2 * np.sum(np.eye(5, 4, -1) * x * x), rel=1e-13)


def test_lennard_jones_lowers_whole_for_every_wrt_subset_and_in_vector_mode():
    rng = np.random.default_rng(1)
    pos = np.stack(np.meshgrid(*[np.arange(3) * 1.3] * 3), -1).reshape(-1, 3)
    pos = pos + rng.normal(size=pos.shape) * 0.05
    args = (pos, 1.1)
    for wrt in [(0,), (1,), (0, 1)]:
        f = forward_gradient(lj_energy, wrt=wrt, backend="llvm")
        tangents = tuple(rng.normal(size=np.shape(args[i])) if i == 0 else 0.7 for i in wrt)
        value, tangent = f.jvp(*args, tangents=tangents)
        assert value == pytest.approx(lj_energy(*args), rel=1e-12)
        ref, _ = oracle.jvp_reference(lj_energy, args, list(wrt), tangents)
        assert tangent == pytest.approx(ref, rel=1e-7)
        assert "one native kernel" in f.llvm_placement
    f = forward_gradient(lj_energy, wrt=(0,), backend="llvm")
    batch = rng.normal(size=(3,) + pos.shape)
    _, tangents = f.jvp(*args, tangents=(batch,), batched=True)
    for j in range(3):
        ref, _ = oracle.jvp_reference(lj_energy, args, [0], (batch[j],))
        assert tangents[j] == pytest.approx(ref, rel=1e-7)


def test_a_negative_size_raises_value_error_as_numpy():
    f = forward_gradient(keywords, wrt=(0,), backend="llvm")
    x = np.ones((5, 4))
    with pytest.raises(ValueError):
        np.eye(-1, M=4, k=-1)
    with pytest.raises(ValueError):
        f.jvp(x, -1, tangents=(x,))


def test_options_it_does_not_lower_run_in_numpy():
    def f(x, n):
        return np.sum(x * np.eye(n, 4, dtype=np.float32))

    g = forward_gradient(f, wrt=(0,), backend="llvm")
    x = np.arange(20.0).reshape(5, 4)
    value, tangent = g.jvp(x, 5, tangents=(np.ones_like(x),))
    assert value == pytest.approx(f(x, 5))
    assert tangent == pytest.approx(4.0)
    assert "numpy" in g.llvm_placement


