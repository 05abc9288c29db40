"""Lazy directions: ``forward_grad(..., lazy=True)``.

The generated code draws each leaf's direction just before it is first
needed (transform/lazy.py) and the estimate draws it again from the same
sampler key, so the result must equal the stored-direction path bit for
bit: plain parameters, scalars, structures, one and several directions,
both combinations, float32.  Code that passes a tangent structure on to a
helper falls back to stored directions (the same numbers).
"""

from __future__ import annotations

import numpy as np
import pytest

import fwdcompile
from fwdcompile import tree
from fwdcompile.sampling import DirectionSampler

from test_pytrees import CASES


def plain(W, b, s, X):
    return np.sum(np.tanh(X @ W + b) * s)


def _same(a, b):
    return a[0] == b[0] and all(np.array_equal(x, y) and np.asarray(x).dtype == np.asarray(y)
                                .dtype for x, y in zip(tree.leaves(a[1]), tree.leaves(b[1])))


@pytest.mark.parametrize("name", ["dict_mlp", "pairs", "frozen_dataclass", "nested_alias",
                                  "sub_structure", "regularized"])
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("combine", ["mean", "project"])
def test_lazy_equals_stored_bit_for_bit(name, k, combine):
    fn, make = CASES[name]
    args = make()
    f = fwdcompile.forward_gradient(fn, wrt=0)
    stored = f.forward_grad(*args, rng=7, directions=k, combine=combine)
    lazy = f.forward_grad(*args, rng=7, directions=k, combine=combine, lazy=True)
    assert _same(stored, lazy)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_plain_parameters_and_a_sampler_stepping(dtype):
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(3, 2)).astype(dtype), rng.normal(size=2).astype(dtype)
    X = rng.normal(size=(4, 3)).astype(dtype)
    f = fwdcompile.forward_gradient(plain, wrt=("W", "b", "s"))
    s1, s2 = DirectionSampler(5), DirectionSampler(5)
    for _ in range(3):  # each call its next step, the same in both
        assert _same(f.forward_grad(W, b, 0.5, X, rng=s1, directions=2),
                     f.forward_grad(W, b, 0.5, X, rng=s2, directions=2, lazy=True))


def test_the_lazy_code_draws_each_direction_where_it_is_used():
    fn, make = CASES["pairs"]
    args = make()
    f = fwdcompile.forward_gradient(fn, wrt="layers")
    f.forward_grad(*args, rng=0, directions=2, lazy=True)
    variant = f._calls.lazy_variant(("layers",), fwdcompile.calling.structures_for(
        ("layers",), {"layers": args[0]}), batched=True)
    source = variant.source
    assert "*, direction)" in source and "_K = direction.k" in source
    assert "d_layers[" not in source
    # the second layer's directions are drawn after the first layer's code
    assert source.index("direction(layers[1][0], 2)") > source.index("np.tanh(total)")


def test_lazy_needs_a_counter_based_sampler():
    f = fwdcompile.forward_gradient(plain, wrt=("W",))
    with pytest.raises(ValueError, match="int seed or a"):
        f.forward_grad(np.ones((3, 2)), np.ones(2), 1.0, np.ones((4, 3)),
                       rng=np.random.default_rng(0), lazy=True)


def _layers_loss(layers, X, y):
    h = X
    for W, b in layers:
        h = np.tanh(h @ W + b)
    return np.mean((h[:, 0] - y) ** 2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("combine", ["mean", "project"])
@pytest.mark.parametrize("make", ["FGD", "Momentum", "Adam"])
def test_minimize_lazy_equals_stored_bit_for_bit(dtype, k, combine, make):
    # lazy=True updates each leaf in place from its regenerated directions
    # (no estimate, no new parameters held): the same numbers as the stored path
    from fwdcompile import optim

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 3)).astype(dtype), np.sin(rng.normal(size=50)).astype(dtype)
    layers = [(rng.normal(size=(3, 6)).astype(dtype), np.zeros(6, dtype)),
              (rng.normal(size=(6, 1)).astype(dtype), np.zeros(1, dtype))]
    optimizer = getattr(optim, make)(lr=0.01)
    runs = [optim.minimize(_layers_loss, layers, args=(X, y), optimizer=optimizer,
                           rng=3, steps=20, directions=k, combine=combine, progress=False,
                           lazy=lazy) for lazy in (False, True)]
    assert runs[0].history == runs[1].history
    for a, b in zip(tree.leaves(runs[0].x), tree.leaves(runs[1].x)):
        assert a.dtype == b.dtype == dtype and np.array_equal(a, b)
    # and a run resumed from its state continues as the stored path does
    more = [optim.minimize(_layers_loss, run.x, args=(X, y), optimizer=optimizer, steps=5,
                           directions=k, combine=combine, progress=False, state=run.state,
                           lazy=lazy) for run, lazy in zip(runs, (False, True))]
    for a, b in zip(tree.leaves(more[0].x), tree.leaves(more[1].x)):
        assert np.array_equal(a, b)
    assert not np.array_equal(tree.leaves(more[1].x)[0], tree.leaves(runs[1].x)[0])


def test_minimize_lazy_needs_a_sampler():
    from fwdcompile import optim

    with pytest.raises(ValueError, match="int seed or a DirectionSampler"):
        optim.minimize(_layers_loss, [(np.ones((3, 1)), np.zeros(1))],
                       args=(np.ones((4, 3)), np.ones(4)), steps=1, progress=False,
                       rng=np.random.default_rng(0), lazy=True)
