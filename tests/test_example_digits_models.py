"""examples/digits_models.py: the MLP (parameters in a dict) and the CNN
(parameters in a frozen dataclass), differentiated with respect to the whole
parameter structure.

Their JVPs are checked against central differences computed here (the
structure is perturbed leaf by leaf by this file's own code), in one
direction and in vector mode; the example's hand-written backprop is checked
against the JVPs; ``optim.minimize`` trains both structures on random
minibatches.  None of this needs scikit-learn or matplotlib; the last test
runs the script itself (``--quick``) and is skipped without them.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys

import numpy as np
import pytest

from fwdcompile import forward_gradient, optim

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
import digits_models as dm  # noqa: E402


def _leaves(params):
    if isinstance(params, dict):
        return [params[k] for k in sorted(params)]
    return [getattr(params, f.name) for f in dataclasses.fields(params)]


def _rebuild(template, leaves):
    if isinstance(template, dict):
        return dict(zip(sorted(template), leaves))
    return type(template)(*leaves)


def _shifted(params, tangent, h):
    return _rebuild(params, [p + h * t for p, t in zip(_leaves(params), _leaves(tangent))])


def _central_difference(loss, params, tangent, X, y, h=1e-5):
    return (loss(_shifted(params, tangent, h), X, y)
            - loss(_shifted(params, tangent, -h), X, y)) / (2 * h)


def _random_like(params, rng, leading=()):
    return _rebuild(params, [rng.standard_normal(leading + np.shape(p))
                             for p in _leaves(params)])


def _model(kind, rng):
    """Small random parameters (biases nonzero, so no ReLU sits at a kink)."""
    params = dm.init_mlp(rng, hidden=5) if kind == "mlp" else dm.init_cnn(rng, channels=3)
    params = _rebuild(params, [p + 0.1 * rng.standard_normal(np.shape(p))
                               for p in _leaves(params)])
    X, y = rng.random((7, 64)), rng.integers(0, 10, 7)
    loss = dm.mlp_loss if kind == "mlp" else dm.cnn_loss
    backprop = dm.mlp_backprop if kind == "mlp" else dm.cnn_backprop
    return loss, backprop, params, X, y


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("wrt", [(0,), ("params",)], ids=["index", "name"])
def test_jvp_matches_central_differences(kind, wrt):
    rng = np.random.default_rng(3)
    loss, _, params, X, y = _model(kind, rng)
    if wrt == ("params",):
        wrt = ("params",) if kind == "mlp" else ("p",)
    f = forward_gradient(loss, wrt=wrt, check=True)
    tangent = _random_like(params, rng)
    value, slope = f.jvp(params, X, y, tangents=tangent)
    assert value == loss(params, X, y)
    np.testing.assert_allclose(slope, _central_difference(loss, params, tangent, X, y),
                               rtol=1e-6, atol=1e-9)
    K = 4
    stacked = _random_like(params, rng, leading=(K,))
    _, slopes = f.jvp(params, X, y, tangents=stacked, batched=True)
    assert np.shape(slopes) == (K,)
    for k in range(K):
        one = _rebuild(params, [t[k] for t in _leaves(stacked)])
        np.testing.assert_allclose(slopes[k], _central_difference(loss, params, one, X, y),
                                   rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_backprop_matches_jvp(kind):
    rng = np.random.default_rng(4)
    loss, backprop, params, X, y = _model(kind, rng)
    dm.check_backprop(loss, backprop, params, X, y, rng)
    grad = backprop(params, X, y)
    assert type(grad) is type(params)
    assert [np.shape(g) for g in _leaves(grad)] == [np.shape(p) for p in _leaves(params)]


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_forward_grad_keeps_the_structure(kind):
    rng = np.random.default_rng(5)
    loss, backprop, params, X, y = _model(kind, rng)
    f = forward_gradient(loss, wrt=(0,))
    n = sum(np.size(p) for p in _leaves(params))
    value, g = f.forward_grad(params, X, y, rng=0, directions=n, combine="project")
    assert type(g) is type(params)
    for exact, estimate in zip(_leaves(backprop(params, X, y)), _leaves(g)):
        np.testing.assert_allclose(estimate, exact, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_minimize_on_minibatches(kind, dtype):
    rng = np.random.default_rng(6)
    loss, _, params, _, _ = _model(kind, rng)
    params = _rebuild(params, [p.astype(dtype) for p in _leaves(params)])
    X = rng.random((40, 64)).astype(dtype)
    y = rng.integers(0, 10, 40)
    seen = []
    result = optim.minimize(loss, params,
                            data=optim.minibatches(X, y, batch_size=8, rng=0, epochs=6),
                            optimizer=optim.Adam(lr=1e-2), rng=1, directions=8,
                            callback=lambda step, value, x: seen.append(type(x)),
                            progress=False)
    assert result.stopped == "data" and len(result.history) == 30
    assert np.all(np.isfinite(result.history))
    assert seen == [type(params)] * 30
    assert type(result.x) is type(params)
    if isinstance(params, dict):
        assert sorted(result.x) == sorted(params)
    for before, after in zip(_leaves(params), _leaves(result.x)):
        assert after.shape == before.shape and after.dtype == dtype
    assert loss(result.x, X, y) < loss(params, X, y)


def test_the_numpy_log_softmax_matches_scipy():
    special = pytest.importorskip("scipy.special")
    z = np.random.default_rng(7).standard_normal((6, 10)) * 30
    np.testing.assert_allclose(dm.log_softmax_numpy(z, axis=1), special.log_softmax(z, axis=1),
                               rtol=1e-12, atol=1e-12)


def test_without_scipy(monkeypatch):
    """The example imported where scipy is missing: its numpy log_softmax.
    (A fresh module: fwdcompile caches a compiled JVP per function, with the
    rules its globals resolved to when it was compiled.)"""
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.special", None)
    spec = importlib.util.spec_from_file_location("digits_models_without_scipy", dm.__file__)
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, mod)
    spec.loader.exec_module(mod)
    assert mod.log_softmax is mod.log_softmax_numpy
    rng = np.random.default_rng(8)
    _, _, params, X, y = _model("mlp", rng)
    tangent = _random_like(params, rng)
    f = forward_gradient(mod.mlp_loss, wrt=(0,))
    _, slope = f.jvp(params, X, y, tangents=tangent)
    assert "scipy" not in f.source
    np.testing.assert_allclose(slope, _central_difference(mod.mlp_loss, params, tangent, X, y),
                               rtol=1e-6, atol=1e-9)


def test_script_quick_run(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    dm.main(["--quick", "--no-torch", "--out", str(tmp_path)])
    assert (tmp_path / "digits_models.png").stat().st_size > 0
