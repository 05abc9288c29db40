"""Every differentiable rule's declared batching, checked in vector mode.

Each rule declares how its tangent batches over K directions (``rule.batching``,
see ``fwdcompile.rules.registry.BATCHING``); the transform's vector mode reads
nothing else.  For every rule in the registry (the calls and inputs of
``test_rule_sweep.TABLE``), one batched run with K = 3 random directions, in
checking mode (every tangent's shape is asserted as it is computed), must give
the three single-direction JVPs, with tangents of shape ``(3,) + value.shape``;
and only rules declared ``"unsupported"`` may make the function fall back to
one run per direction.  A wrong declaration fails here: ``"elementwise"`` on a
reduction misaligns axes, ``"reduction"`` on anything but a linear reduction
gives other numbers.  K = 3 matches an axis of the swept matrices, so a
direction axis mistaken for a value axis does not go unnoticed.
"""

from __future__ import annotations

import numpy as np
import pytest

import oracle
import test_rule_sweep as sweep

fwdcompile = pytest.importorskip("fwdcompile")
from fwdcompile.rules.registry import _REGISTRY, BATCHING  # noqa: E402

K = 3


@pytest.fixture(scope="module")
def batching_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("batching")


def test_every_declaration_is_known():
    for rule in sweep._builtin_rules().values():
        assert rule.batching in BATCHING, (rule.name, rule.batching)


@pytest.mark.parametrize("name", sweep._rules())
def test_rule_batches_as_declared(name, batching_dir, monkeypatch):
    if name in sweep.SKIP:
        pytest.skip(sweep.SKIP[name])
    rule = None
    for key, candidate in sweep._builtin_rules().items():
        if candidate.name == name:  # the built-in rule, even if a test replaced it
            monkeypatch.setitem(_REGISTRY, key, candidate)
            rule = candidate
    spec = sweep.TABLE[name]
    module = sweep._module(batching_dir, name, spec)
    params = spec.params()
    for v in range(spec.variants):
        rng = np.random.default_rng([v, K, sum(map(ord, name))])
        args = spec.make(rng, v)
        fn = getattr(module, f"f{v}")
        for wrt in sweep._wrt_sets(spec.diff):
            label = f"{name} ({rule.batching}) variant {v} `{spec.expression(v)}` wrt {wrt}"
            with np.errstate(all="ignore"):
                _check(fn, args, params, wrt, rule, rng, label, spec)


def _check(fn, args, params, wrt, rule, rng, label, spec):
    positions = [params.index(w) for w in wrt]
    f = fwdcompile.forward_gradient(fn, wrt=wrt, check=True)
    batched = f._batched_variant(tuple(wrt))
    if rule.batching == "unsupported" or set(wrt) & set(spec.in_tuple.split()):
        # declared so, or a differentiated argument passed inside a tuple
        # (cho_solve((c, lower), b)): its tangent is a tuple, and vector mode
        # runs once per direction (the sweep checks the result)
        assert batched is None, f"{label}: declared unsupported, but vector mode ran"
        return
    assert batched is not None, f"{label}: vector mode fell back to one run per direction"
    directions = [tuple(sweep._tangent_like(rng, args[i]) for i in positions) for _ in range(K)]
    stacked = tuple(np.stack([np.asarray(d[j], dtype=float) for d in directions])
                    for j in range(len(positions)))
    value, tangent = f.jvp(*[np.copy(a) for a in args], tangents=stacked, batched=True)
    for leaf_value, leaf in zip(oracle.leaves(value), oracle.leaves(tangent)):
        assert np.shape(leaf) == (K,) + np.shape(leaf_value), \
            f"{label}: tangent shape {np.shape(leaf)} for a value of shape {np.shape(leaf_value)}"
    for k in range(K):
        _, want = f.jvp(*[np.copy(a) for a in args],
                        tangents=tuple(sweep._single(t, args[i])
                                       for t, i in zip(directions[k], positions)))
        got = [np.asarray(leaf)[k] for leaf in oracle.leaves(tangent)]
        ok, worst = oracle.close(got, oracle.leaves(want), rtol=1e-9)
        assert ok, f"{label}, direction {k}: {worst}"
