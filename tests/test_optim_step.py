"""``optimizer.step(params, grads)``: the optimizers' update in place.

Checked against ``update`` (the functional form ``minimize`` uses) bit for
bit, step after step, for every optimizer, float64 and float32, on a
structure of parameters; and the errors a hand-written loop can meet.
"""

from __future__ import annotations

import numpy as np
import pytest

import fwdcompile
from fwdcompile import optim, tree
from fwdcompile.sampling import DirectionSampler

OPTIMIZERS = [optim.FGD(lr=0.1, decay=0.01), optim.Momentum(lr=0.05, beta=0.8),
              optim.Adam(lr=0.01, decay=0.001)]


@pytest.mark.parametrize("opt", OPTIMIZERS, ids=lambda o: type(o).__name__)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_step_is_update_bit_for_bit(opt, dtype):
    rng = np.random.default_rng(0)
    params = {"W": rng.normal(size=(3, 2)).astype(dtype), "layers": [rng.normal(size=2)
                                                                   .astype(dtype)]}
    functional = tuple(leaf.copy() for leaf in tree.leaves(params))
    state = opt.init(functional)
    opt.reset()
    for _ in range(25):
        grads = tree.map(lambda a: rng.normal(size=a.shape).astype(dtype), params)
        functional, state = opt.update(functional, tuple(tree.leaves(grads)), state)
        before = [id(leaf) for leaf in tree.leaves(params)]
        opt.step(params, grads)
        assert [id(leaf) for leaf in tree.leaves(params)] == before  # the same arrays
    for a, b in zip(functional, tree.leaves(params)):
        assert a.dtype == b.dtype == dtype
        assert np.array_equal(a, b)


def test_each_params_object_has_its_own_state_until_reset():
    opt = optim.Momentum(lr=0.1)
    a, b = np.zeros(2), np.zeros(2)
    g = np.ones(2)
    opt.step(a, g)
    opt.step(a, g)      # momentum builds up: 0.1, then 0.1 * 1.9
    opt.step(b, g)      # a fresh state for b
    assert a == pytest.approx([-0.29, -0.29]) and b == pytest.approx([-0.1, -0.1])
    opt.reset()
    opt.step(a, g)
    assert a == pytest.approx([-0.39, -0.39])


def test_step_errors_say_what_to_write():
    opt = optim.FGD(lr=0.1)
    with pytest.raises(TypeError, match=r"params\['b'\] is float"):
        opt.step({"w": np.zeros(2), "b": 0.5}, {"w": np.ones(2), "b": 1.0})
    frozen = np.zeros(2)
    frozen.flags.writeable = False
    with pytest.raises(TypeError, match="writable float arrays"):
        opt.step(frozen, np.ones(2))
    with pytest.raises(ValueError, match="structure"):
        opt.step({"w": np.zeros(2)}, {"v": np.ones(2)})


def test_a_hand_written_forward_gradient_loop_trains():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 3))
    y = X @ np.array([1.0, -2.0, 0.5])

    @fwdcompile.forward_gradient(wrt="params")
    def loss(params, X, y):
        return np.mean((X @ params["w"] + params["b"] - y) ** 2)

    params = {"w": np.zeros(3), "b": np.zeros(())}
    opt, sampler = optim.Adam(lr=0.05), DirectionSampler(0)
    start = loss(params, X, y)
    for _ in range(400):
        _, g = loss.forward_grad(params, X, y, rng=sampler, directions=4)
        opt.step(params, g)
    assert loss(params, X, y) < 1e-3 * start
