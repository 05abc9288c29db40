"""Shared helpers for the corpus-driven tests: argument and tangent
construction, activity, and a cache of compiled functions."""

from __future__ import annotations

import copy
import inspect
import zlib

import numpy as np

import corpus

CASES = corpus.load_all()
CASE_IDS = [c.name for c in CASES]


def seed_of(name):
    return zlib.crc32(name.encode())


def make_args(case):
    return tuple(case.make_args(np.random.default_rng([seed_of(case.name), 0])))


def is_float_arg(value):
    """The default activity rule: Python float, numpy floating scalar, floating array."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, np.ndarray):
        return np.issubdtype(value.dtype, np.floating)
    return isinstance(value, (float, np.floating))


def param_names(fn):
    return list(inspect.signature(fn).parameters)


def active_positions(case, args):
    """Positions of the arguments that get a tangent, in signature order."""
    if case.wrt is None:
        return [i for i, a in enumerate(args) if is_float_arg(a)]
    names = param_names(case.fn)
    wrt = (case.wrt,) if isinstance(case.wrt, (str, int)) else case.wrt
    return sorted(names.index(w) if isinstance(w, str) else int(w) for w in wrt)


def make_tangent(rng, value):
    if isinstance(value, np.ndarray):
        return rng.standard_normal(value.shape)
    if isinstance(value, np.generic):
        return type(value)(rng.standard_normal())
    return float(rng.standard_normal())


def make_tangents(case, args, active=None):
    active = active_positions(case, args) if active is None else active
    rng = np.random.default_rng([seed_of(case.name), 1])
    return tuple(make_tangent(rng, args[i]) for i in active)


def fresh(args):
    """A deep copy, so a function that mutates its inputs cannot corrupt later calls."""
    return copy.deepcopy(args)


_COMPILED = {}


def compiled(case):
    """``forward_gradient`` applied to the case's function (cached)."""
    if case.name not in _COMPILED:
        from fwdcompile import forward_gradient
        if case.wrt is None:
            _COMPILED[case.name] = forward_gradient(case.fn)
        else:
            _COMPILED[case.name] = forward_gradient(wrt=case.wrt)(case.fn)
    return _COMPILED[case.name]


def assert_same_structure_equal(actual, expected, exact=True, rtol=1e-13):
    """Leafwise equality of two outputs (tuples of scalars / arrays)."""
    import oracle
    a_leaves, e_leaves = oracle.leaves(actual), oracle.leaves(expected)
    assert len(a_leaves) == len(e_leaves), f"{len(a_leaves)} outputs vs {len(e_leaves)}"
    if isinstance(expected, (tuple, list)):
        assert isinstance(actual, (tuple, list)), f"expected a tuple, got {type(actual)}"
    for k, (a, e) in enumerate(zip(a_leaves, e_leaves)):
        assert np.shape(a) == np.shape(e), f"output {k}: shape {np.shape(a)} vs {np.shape(e)}"
        if exact:
            np.testing.assert_array_equal(a, e, err_msg=f"output {k}")
        else:
            np.testing.assert_allclose(a, e, rtol=rtol, atol=1e-300, err_msg=f"output {k}")
