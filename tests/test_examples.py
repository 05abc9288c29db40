"""The functions the examples differentiate, checked as the corpus is.

The example scripts need matplotlib (and scikit-learn for the digits data),
which the test environment does not install; their differentiated functions
need neither, so they are imported and checked here: every subset of their
float parameters as ``wrt``, single and batched mode, in checking mode
(every tangent's shape and dtype asserted), against Ridders' differences
from tests/oracle.py.  The examples themselves are run by hand (docs).
"""

from __future__ import annotations

import importlib
import itertools
import os
import sys

import numpy as np
import pytest

from fwdcompile import forward_gradient
from oracle import jvp_reference

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))


def _digits_args(rng, sizes):
    X, y = rng.standard_normal((16, sizes[0])), rng.integers(0, sizes[-1], 16)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params += [0.5 * rng.standard_normal((a, b)), 0.1 * rng.standard_normal(b)]
    return tuple(params) + (X, y)


def _cases():
    rng = np.random.default_rng(0)
    u0 = np.sin(np.linspace(0.0, np.pi, 12))
    data = np.cos(np.linspace(0.0, 3.0, 200))
    X = rng.standard_normal((20, 4))
    return [
        ("digits", "logreg", _digits_args(rng, (5, 3)), 6),
        ("digits", "mlp", _digits_args(rng, (5, 4, 4, 3)), 6),
        ("heat_stencil", "heat", (0.2, u0, 20), 2),
        ("newton_sqrt", "newton_sqrt", (2.5,), 1),
        ("ode_fit", "simulate", (0.4,), 1),
        ("ode_fit", "misfit", (0.4, data), 2),
        ("paper_test_functions", "beale", (1.1, 0.3), 2),
        ("paper_test_functions", "rosenbrock", (0.3, -0.2), 2),
        ("softmax_regression", "loss", (rng.standard_normal((4, 3)), rng.standard_normal(3),
                                        X, rng.integers(0, 3, 20)), 2),
    ]


def _float_positions(args, limit):
    return [i for i, a in enumerate(args[:limit])
            if isinstance(a, float) or (isinstance(a, np.ndarray) and a.dtype.kind == "f")]


CASES = []
for module, name, args, limit in _cases():
    positions = _float_positions(args, limit)
    subsets = [s for k in range(1, len(positions) + 1)
               for s in itertools.combinations(positions, k)]
    for subset in subsets[:12] if len(subsets) > 12 else subsets:
        CASES.append(pytest.param(module, name, args, subset,
                                  id=f"{name}-{'+'.join(map(str, subset))}"))


def _function(module, name):
    fn = getattr(importlib.import_module(module), name)
    return getattr(fn, "__fwdcompile_function__", fn)


@pytest.mark.parametrize("module, name, args, wrt", CASES)
def test_example_function(module, name, args, wrt):
    fn = _function(module, name)
    rng = np.random.default_rng(1)
    tangents = tuple(rng.standard_normal(np.shape(args[i])) if np.ndim(args[i])
                     else float(rng.standard_normal()) for i in wrt)
    f = forward_gradient(fn, wrt=wrt, check=True)
    value, tangent = f.jvp(*args, tangents=tangents)
    np.testing.assert_allclose(value, fn(*args), rtol=1e-12)
    expected, error = jvp_reference(fn, args, list(wrt), tangents, scale=1e-3)  # ReLU kinks
    np.testing.assert_allclose(tangent, expected, rtol=1e-6, atol=1e-8 + 10 * np.max(error))
    K = 3
    batched = tuple(np.stack([t * (j + 1) for j in range(K)]) if np.ndim(t)
                    else np.array([t * (j + 1) for j in range(K)]) for t in tangents)
    _, tangents_k = f.jvp(*args, tangents=batched, batched=True)
    for j in range(K):
        np.testing.assert_allclose(tangents_k[j], (j + 1) * np.asarray(tangent), rtol=1e-9,
                                   atol=1e-12)
