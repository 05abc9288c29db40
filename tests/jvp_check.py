"""Check a function's JVPs against finite differences (tests/oracle.py):
single direction and vector mode (K = 1, 3 and K equal to an argument's
first dimension), for each differentiated parameter alone and for all of
them; the tangents passed in must come back unchanged."""

from __future__ import annotations

import copy
import inspect

import numpy as np

import fwdcompile
import oracle


def _copy(args):
    return tuple(copy.deepcopy(a) for a in args)


def _close(actual, expected, what):
    for a, e in zip(oracle.leaves(actual), oracle.leaves(expected)):
        a, e = np.asarray(a, dtype=float), np.asarray(e, dtype=float)
        assert a.shape == e.shape, f"{what}: shape {a.shape}, expected {e.shape}"
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-6, err_msg=what)


def _unchanged(given, saved, what):
    for t, s in zip(given, saved):
        np.testing.assert_array_equal(t, s, err_msg=f"{what}: the caller's tangent was changed")


def wrt_choices(names):
    """Each differentiated parameter alone, and all of them."""
    choices = [(n,) for n in names]
    if len(names) > 1:
        choices.append(tuple(names))
    return choices


def check(fn, args, float_params, seed=0, batched_only=False):
    """Compare fwdcompile's JVPs of ``fn`` at ``args`` with finite differences."""
    names = list(inspect.signature(fn).parameters)
    rng = np.random.default_rng(seed)
    for wrt in wrt_choices(float_params):
        active = [names.index(n) for n in wrt]
        f = fwdcompile.forward_gradient(fn, wrt=wrt)
        if not batched_only:
            tangents = tuple(rng.standard_normal(np.shape(args[i])) for i in active)
            saved = _copy(tangents)
            value, tangent = f.jvp(*_copy(args), tangents=tangents)
            _unchanged(tangents, saved, f"{fn.__name__} wrt {wrt}")
            ref, _ = oracle.jvp_reference(fn, _copy(args), active, tangents)
            _close(tangent, ref, f"{fn.__name__} wrt {wrt}, one direction")
        assert f._batched_variant(tuple(wrt)) is not None, \
            f"{fn.__name__}: vector mode fell back to one JVP per direction"
        dims = {np.shape(args[i])[0] for i in active if np.ndim(args[i])}
        for k in sorted({1, 3} | dims):
            tangents = tuple(rng.standard_normal((k,) + np.shape(args[i])) for i in active)
            saved = _copy(tangents)
            value, tangent = f.jvp(*_copy(args), tangents=tangents, batched=True)
            _unchanged(tangents, saved, f"{fn.__name__} wrt {wrt}, K = {k}")
            for leaf, v in zip(oracle.leaves(tangent), oracle.leaves(value)):
                assert np.shape(leaf) == (k,) + np.shape(v), \
                    f"{fn.__name__} wrt {wrt}: tangent {np.shape(leaf)} for value {np.shape(v)}"
            for j in range(k):
                ref, _ = oracle.jvp_reference(fn, _copy(args), active,
                                              tuple(t[j] for t in tangents))
                got = tuple(leaf[j] for leaf in oracle.leaves(tangent))
                _close(got, tuple(oracle.leaves(ref)), f"{fn.__name__} wrt {wrt}, K = {k}, "
                                                       f"direction {j}")
