"""The release stage: ``del`` after the last use of each intermediate.

The stage runs on every compiled function (every test executes its code);
here: that it frees what it should (peak memory by tracemalloc, which
counts numpy's allocations, with and without the stage), and that it never
deletes a name that may be unbound or read later.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import fwdcompile
from fwdcompile import pipeline


def deep(layers, x):
    h = x
    for W, b in layers:
        h = np.tanh(h @ W + b)
    return np.sum(h ** 2)


def _peak(fn):
    fn()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("batched", [False, True])
def test_peak_memory_stays_flat_with_depth(monkeypatch, batched):
    rng = np.random.default_rng(0)
    layers = [(rng.normal(size=(64, 64)) / 8, np.zeros(64)) for _ in range(16)]
    x = rng.normal(size=(256, 64))
    t = [(np.ones((3, 64, 64)), np.ones((3, 64))) if batched else (np.ones((64, 64)), np.ones(64))
         for _ in layers]
    peaks = {}
    for release in (True, False):
        fwdcompile.clear_cache()
        if not release:
            monkeypatch.setattr(pipeline, "BACK",
                                tuple(s for s in pipeline.BACK if s.name != "release"))
        f = fwdcompile.forward_gradient(deep, wrt="layers")
        peaks[release] = _peak(lambda: f.jvp(layers, x, tangents=t, batched=batched))
    fwdcompile.clear_cache()
    # 16 layers of (256, 64) activations and tangents: without release all stay alive
    assert peaks[True] < 0.3 * peaks[False], peaks


def conditional(x, c):
    y = x * 2.0
    if c:
        z = np.sin(y)
        w = z * 3.0
    else:
        w = y
    v = [t * t for t in (w, y)]
    return v[0] + v[1]


def test_names_bound_in_a_branch_or_a_comprehension_are_never_deleted():
    f = fwdcompile.forward_gradient(conditional, wrt="x")
    for c in (True, False):
        value, tangent = f.jvp(np.ones(3), c, tangents=np.ones(3))
        h = 1e-6
        fd = (conditional(np.ones(3) + h, c) - conditional(np.ones(3) - h, c)) / (2 * h)
        assert tangent == pytest.approx(fd, rel=1e-6)
    source = f.source
    assert "del z" not in source and "del t" not in source
