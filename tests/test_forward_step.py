"""optimizer.forward_step(f, params, ...): one forward-gradient step in place,
at inference memory, with the numbers of forward_grad + step bit for bit."""

import copy

import numpy as np
import pytest

from fwdcompile import forward_gradient, optim, tree
from fwdcompile.sampling import DirectionSampler


def mlp(layers, X, y):
    h = X
    for W, b in layers:
        h = np.tanh(h @ W + b)
    return np.mean((h[:, 0] - y) ** 2)


def _quadratic(w, A):
    return 0.5 * w @ (A @ w)


quadratic = forward_gradient(_quadratic, wrt="w")


def square(a):
    return a * a


def _layers(dtype):
    rng = np.random.default_rng(0)
    layers = [(rng.normal(size=(3, 5)).astype(dtype), np.zeros(5, dtype)),
              (rng.normal(size=(5, 1)).astype(dtype), np.zeros(1, dtype))]
    X, y = rng.normal(size=(20, 3)).astype(dtype), np.sin(rng.normal(size=20)).astype(dtype)
    return layers, X, y


@pytest.mark.parametrize("make", ["FGD", "Momentum", "Adam"])
@pytest.mark.parametrize("k, combine", [(1, "mean"), (3, "mean"), (3, "project")])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_step_is_forward_grad_then_step_bit_for_bit(make, k, combine, dtype):
    layers, X, y = _layers(dtype)
    fused, reference = copy.deepcopy(layers), copy.deepcopy(layers)
    f = forward_gradient(mlp, wrt="layers")
    a, b = getattr(optim, make)(lr=0.05), getattr(optim, make)(lr=0.05)
    sa, sb = DirectionSampler(11), DirectionSampler(11)
    for _ in range(4):
        loss = a.forward_step(f, fused, X, y, rng=sa, directions=k, combine=combine)
        value, g = f.forward_grad(reference, X, y, rng=sb, directions=k, combine=combine,
                                  lazy=True)
        b.step(reference, g)
        assert loss == value
        for p, q in zip(tree.leaves(fused), tree.leaves(reference)):
            assert p.dtype == q.dtype == dtype and np.array_equal(p, q)
    assert not np.array_equal(tree.leaves(fused)[0], tree.leaves(layers)[0])


def test_an_int_seed_draws_step_t_of_these_parameters():
    A = np.diag([1.0, 2.0, 3.0])
    w1, w2 = np.ones(3), np.ones(3)
    opt1, opt2 = optim.FGD(lr=0.1), optim.FGD(lr=0.1)
    sampler = DirectionSampler(5)
    for _ in range(3):
        opt1.forward_step(quadratic, w1, A, rng=5)
        opt2.forward_step(quadratic, w2, A, rng=sampler)
    np.testing.assert_array_equal(w1, w2)
    assert sampler.step == 3


def test_forward_step_descends():
    A = np.diag([1.0, 2.0, 3.0])
    w, opt = np.ones(3), optim.Adam(lr=0.05)
    first = opt.forward_step(quadratic, w, A, rng=0)
    for _ in range(300):
        last = opt.forward_step(quadratic, w, A, rng=0, directions=2)
    assert last < 0.05 * first


def writes_into(w):
    w *= 1.0
    return np.sum(w * w)


def test_bad_input_is_a_clear_error():
    opt = optim.FGD(lr=0.1)
    with pytest.raises(TypeError, match="writable float arrays"):
        opt.forward_step(square, 1.5, rng=0)
    frozen = np.ones(2)
    frozen.flags.writeable = False
    with pytest.raises(TypeError, match="writable float arrays"):
        opt.forward_step(quadratic, frozen, np.eye(2), rng=0)
    with pytest.raises(ValueError, match="int seed or a DirectionSampler"):
        opt.forward_step(quadratic, np.ones(2), np.eye(2), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="writes into its parameters"):
        opt.forward_step(writes_into, np.ones(2), rng=0)


def test_a_non_finite_loss_leaves_the_parameters_and_warns():
    w = np.array([np.inf, 1.0])
    with pytest.warns(RuntimeWarning, match="not finite"):
        optim.FGD(lr=0.1).forward_step(quadratic, w, np.eye(2), rng=0)
    assert w[1] == 1.0
