"""Property tests for the native backend: the random programs of
test_properties.py (straight-line code and branches over scalars or arrays,
loops with in-place writes and swaps), run on both backends.  Wherever the
native backend lowers a program and the Python backend runs it without an
exception, the two give the same value and tangent."""

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from test_properties import (EXAMPLES, SETTINGS, _load, floats, loop_programs, programs,
                             tangent_floats)

pytest.importorskip("llvmlite")
from fwdcompile import UnsupportedSyntax, forward_gradient  # noqa: E402


def _copies(values):
    return tuple(v.copy() if isinstance(v, np.ndarray) else v for v in values)


def _leaves(x):
    if isinstance(x, tuple):
        return [leaf for item in x for leaf in _leaves(item)]
    return [np.asarray(x, dtype=float)]


def _same_on_both_backends(source_fn, source_probe, args, tangents):
    module = _load(source_fn, source_probe)
    with np.errstate(all="ignore"):
        try:
            first, second = module.probe(*_copies(args))
        except Exception:  # noqa: BLE001  (a program Python itself rejects)
            first, second = 1.0, 1.0
    # a branch decided by a sum that the native backend adds in another order
    assume(abs(float(first)) > 1e-9 and abs(float(second)) > 1e-9)
    try:
        with np.errstate(all="ignore"):
            want = forward_gradient(module.f).jvp(*_copies(args), tangents=_copies(tangents))
    except Exception:  # noqa: BLE001  (math domain or division errors: documented to differ)
        event("the Python backend raises")
        return
    try:
        got = forward_gradient(module.f, backend="llvm").jvp(*_copies(args),
                                                             tangents=_copies(tangents))
    except UnsupportedSyntax:
        event("outside the native subset")
        return
    event("compared")
    # reassociated sums differ in the last bits, which a division by a small
    # sum can amplify: a loose tolerance still catches any wrong derivative
    for a, b in zip(_leaves(got[0]) + _leaves(got[1]), _leaves(want[0]) + _leaves(want[1])):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9, equal_nan=True)


@SETTINGS
@given(prog=programs(), xs=st.lists(floats, min_size=3, max_size=3),
       vs=st.lists(tangent_floats, min_size=3, max_size=3))
def test_random_scalar_programs_agree(prog, xs, vs):
    nargs, source_fn, source_probe = prog
    _same_on_both_backends(source_fn, source_probe, tuple(xs[:nargs]), tuple(vs[:nargs]))


@settings(SETTINGS, max_examples=3 * EXAMPLES)  # array code has the most to get wrong natively
@given(prog=programs(arrays=True), seed=st.integers(0, 2 ** 32 - 1))
def test_random_array_programs_agree(prog, seed):
    nargs, source_fn, source_probe = prog
    rng = np.random.default_rng(seed)
    args = tuple(rng.uniform(-1.5, 1.5, 3) for _ in range(nargs))
    tangents = tuple(rng.uniform(-1.0, 1.0, 3) for _ in range(nargs))
    _same_on_both_backends(source_fn, source_probe, args, tangents)


@SETTINGS
@given(prog=loop_programs(), xs=st.lists(floats, min_size=3, max_size=3),
       vs=st.lists(tangent_floats, min_size=3, max_size=3))
def test_random_loop_programs_agree(prog, xs, vs):
    nargs, source_fn, source_probe = prog
    _same_on_both_backends(source_fn, source_probe, tuple(xs[:nargs]), tuple(vs[:nargs]))
