"""examples/cnn_digits.py: the paper's CNN, at a tiny size.

The model function (four 3x3 convolutions, two 2x2 max poolings, two dense
layers; parameters a dict) is differentiated with respect to the whole
dict, for each of the three ways the example writes a convolution (im2col +
matmul; sliding_window_view + tensordot or einsum), in one direction and in
vector mode, in checking mode, against central differences computed here.
PyTorch's gradient is used when torch is importable (skipped otherwise);
the script itself runs with ``--quick`` when scikit-learn and matplotlib are
installed.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
import pytest

from fwdcompile import forward_gradient

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
import cnn_digits as cd  # noqa: E402


def _tiny(rng, size=16):
    """16x16 images: 14 -> 12 -> pool 6 -> 4 -> 2 -> pool 1; nonzero biases and
    random images, so no ReLU or max sits at a tie."""
    p = cd.init_cnn(rng, channels=3, hidden=5, size=size, dtype=np.float64)
    p = {k: a + 0.1 * rng.standard_normal(a.shape) for k, a in p.items()}
    X, y = rng.random((3, size, size)), rng.integers(0, 10, 3)
    return p, X, y


def _central(loss, p, v, X, y, h=1e-6):
    plus = {k: p[k] + h * v[k] for k in p}
    minus = {k: p[k] - h * v[k] for k in p}
    return (loss(plus, X, y) - loss(minus, X, y)) / (2 * h)


def test_tiny_model_shapes():
    p, X, y = _tiny(np.random.default_rng(0))
    assert p["W1"].shape == (3, 5) and p["k2"].shape == (3, 3, 3, 3)
    assert cd.cnn_logits(p, X, cd.conv3x3).shape == (3, 10)
    full = cd.init_cnn(np.random.default_rng(0))
    assert cd.n_params(full) == 1_171_274   # the paper's CNN


@pytest.mark.parametrize("conv", sorted(cd.LOSSES))
def test_convolutions_agree(conv):
    p, X, y = _tiny(np.random.default_rng(1))
    np.testing.assert_allclose(cd.LOSSES[conv](p, X, y), cd.cnn_loss(p, X, y), rtol=1e-12)


@pytest.mark.parametrize("conv", sorted(cd.LOSSES))
def test_jvp_matches_central_differences(conv):
    rng = np.random.default_rng(2)
    loss = cd.LOSSES[conv]
    p, X, y = _tiny(rng)
    f = forward_gradient(loss, wrt="p", check=True)
    vs = [{k: rng.standard_normal(a.shape) for k, a in p.items()} for _ in range(3)]
    value, slope = f.jvp(p, X, y, tangents=vs[0])
    assert value == loss(p, X, y)
    np.testing.assert_allclose(slope, _central(loss, p, vs[0], X, y), rtol=1e-6, atol=1e-9)
    stacked = {k: np.stack([v[k] for v in vs]) for k in p}
    _, slopes = f.jvp(p, X, y, tangents=stacked, batched=True)
    expected = [float(f.jvp(p, X, y, tangents=v)[1]) for v in vs]
    np.testing.assert_allclose(slopes, expected, rtol=1e-10, atol=1e-12)


def test_forward_grad_and_minimize_step():
    rng = np.random.default_rng(3)
    p, X, y = _tiny(rng)
    f = forward_gradient(cd.cnn_loss, wrt="p")
    value, g = f.forward_grad(p, X, y, rng=0, directions=4, combine="project")
    assert set(g) == set(p) and all(g[k].shape == p[k].shape for k in p)
    assert np.isfinite(value)


def test_jvp_matches_torch():
    pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    p, X, y = _tiny(rng)
    worst, name, single, batched, ref = cd.check_jvp(cd.cnn_loss, p, X, y, True, rng)
    assert name.startswith("PyTorch")
    assert worst < 1e-10


@pytest.mark.skipif(not (importlib.util.find_spec("sklearn")
                         and importlib.util.find_spec("matplotlib")),
                    reason="the script needs scikit-learn and matplotlib")
def test_script_quick(tmp_path, capsys):
    cd.main(["--quick", "--no-torch", "--out", str(tmp_path), "--test-size", "50"])
    out = capsys.readouterr().out
    assert "worst relative error" in out and "FG, K=8 project" in out
    assert (tmp_path / "cnn_digits.png").exists()
