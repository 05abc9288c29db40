"""Every corpus function through fwdcompile: primal, jvp value, jvp tangent
against the oracle."""

import inspect
import math

import numpy as np
import pytest

import harness
import oracle

fwdcompile = pytest.importorskip("fwdcompile")

RTOL = 1e-7

CASES = harness.CASES
IDS = harness.CASE_IDS


def _jvp(case, args, tangents):
    f = harness.compiled(case)
    return f.jvp(*harness.fresh(args), tangents=harness.fresh(tangents), **case.kwargs)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_primal_unchanged(case):
    args = harness.make_args(case)
    f = harness.compiled(case)
    expected = case.fn(*harness.fresh(args), **case.kwargs)
    actual = f(*harness.fresh(args), **case.kwargs)
    harness.assert_same_structure_equal(actual, expected, exact=True)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jvp(case):
    args = harness.make_args(case)
    active = harness.active_positions(case, args)
    tangents = harness.make_tangents(case, args, active)
    given = harness.fresh(args)
    val, dval = harness.compiled(case).jvp(*given, tangents=harness.fresh(tangents),
                                           **case.kwargs)
    called = harness.fresh(args)
    expected = case.fn(*called, **case.kwargs)
    harness.assert_same_structure_equal(val, expected, exact=False, rtol=1e-12)
    if isinstance(expected, tuple):
        assert isinstance(dval, tuple) and len(dval) == len(expected), \
            "a tuple-returning function needs a tuple of tangents of the same length"
    for k, (v, d) in enumerate(zip(oracle.leaves(val), oracle.leaves(dval))):
        assert np.shape(d) == np.shape(v), \
            f"tangent {k} has shape {np.shape(d)}, value {np.shape(v)}"

    ref, _ = oracle.jvp_reference(case.fn, args, active, tangents, case.kwargs,
                                  complex_ok=case.complex_ok, scale=case.fd_scale)
    ok, worst = oracle.close(dval, ref, rtol=RTOL)
    assert ok, f"tangent differs from the oracle: {worst}"
    # jvp writes into its arguments exactly what the function writes (most
    # write nothing; tricky.py has helpers that fill an argument in place)
    for a, b in zip(given, called):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jvp_is_linear_in_the_tangent(case):
    """jvp(2 v) == 2 jvp(v) and jvp(0) == 0: tangents are not mixed with primals."""
    args = harness.make_args(case)
    tangents = harness.make_tangents(case, args)
    _, d1 = _jvp(case, args, tangents)
    _, d2 = _jvp(case, args, tuple(2.0 * t if isinstance(t, np.ndarray) else type(t)(2.0 * t)
                                   for t in tangents))
    doubled = tuple(2.0 * np.asarray(l) for l in oracle.leaves(d1))
    for a, b in zip(oracle.leaves(d2), doubled):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300)
    zeros = tuple(np.zeros_like(t) if isinstance(t, np.ndarray) else type(t)(0.0)
                  for t in tangents)
    _, d0 = _jvp(case, args, zeros)
    for leaf in oracle.leaves(d0):
        assert np.all(np.asarray(leaf) == 0.0)


def _all_float_cases():
    out = []
    for case in CASES:
        args = harness.make_args(case)
        if case.wrt is None and not case.kwargs and all(harness.is_float_arg(a) for a in args):
            out.append(case)
    return out


FUNCTIONAL = _all_float_cases()[::4]


@pytest.mark.parametrize("case", FUNCTIONAL, ids=[c.name for c in FUNCTIONAL])
def test_functional_jvp_matches_method(case):
    args = harness.make_args(case)
    tangents = harness.make_tangents(case, args)
    val, dval = fwdcompile.jvp(case.fn, primals=harness.fresh(args),
                               tangents=harness.fresh(tangents))
    val2, dval2 = _jvp(case, args, tangents)
    harness.assert_same_structure_equal(val, val2, exact=False, rtol=1e-14)
    for a, b in zip(oracle.leaves(dval), oracle.leaves(dval2)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-300)


INT_CASES = [c for c in CASES if c.wrt is None
             and any(isinstance(a, (int, np.integer)) or
                     (isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.integer))
                     for a in harness.make_args(c))]


def test_there_are_cases_with_integer_arguments():
    assert len(INT_CASES) >= 5


@pytest.mark.parametrize("case", INT_CASES, ids=[c.name for c in INT_CASES])
def test_integer_arguments_get_no_tangent(case):
    args = harness.make_args(case)
    active = harness.active_positions(case, args)
    assert len(active) < len(args)
    tangents = harness.make_tangents(case, args, active)
    # only float tangents: works
    _jvp(case, args, tangents)
    # one tangent too many (as if the integer argument had one): ValueError
    with pytest.raises(ValueError):
        _jvp(case, args, tangents + (1.0,))


# --------------------------------------------------------------------------
# decorator forms and wrt spellings
# --------------------------------------------------------------------------

def _two_args(x, y):
    return math.sin(x) * y + y ** 2


def test_decorator_forms_agree():
    f1 = fwdcompile.forward_gradient(_two_args)
    f2 = fwdcompile.forward_gradient(wrt=("x", "y"))(_two_args)
    f3 = fwdcompile.forward_gradient(wrt=(0, 1))(_two_args)
    x, y, dx, dy = 0.4, 1.3, 0.7, -0.2
    expected = math.cos(x) * y * dx + (math.sin(x) + 2 * y) * dy
    for f in (f1, f2, f3):
        val, dval = f.jvp(x, y, tangents=(dx, dy))
        assert val == _two_args(x, y)
        assert dval == pytest.approx(expected, rel=1e-13)


def test_wrt_subset_gets_one_tangent():
    f = fwdcompile.forward_gradient(wrt=("y",))(_two_args)
    x, y, dy = 0.4, 1.3, -0.2
    val, dval = f.jvp(x, y, tangents=(dy,))
    assert dval == pytest.approx((math.sin(x) + 2 * y) * dy, rel=1e-13)
    f = fwdcompile.forward_gradient(wrt=(0,))(_two_args)
    _, dval = f.jvp(x, y, tangents=(1.0,))
    assert dval == pytest.approx(math.cos(x) * y, rel=1e-13)


def test_keyword_arguments_to_jvp():
    f = fwdcompile.forward_gradient(_two_args)
    val, dval = f.jvp(0.4, y=1.3, tangents=(1.0, 0.0))
    assert val == _two_args(0.4, 1.3)
    assert dval == pytest.approx(math.cos(0.4) * 1.3, rel=1e-13)


def test_source_is_python_text():
    f = fwdcompile.forward_gradient(_two_args)
    assert isinstance(f.source, str)
    compile(f.source, "<generated>", "exec")


def test_wrapped_function_keeps_its_name():
    f = fwdcompile.forward_gradient(_two_args)
    assert getattr(f, "__name__", "_two_args") == "_two_args"
    assert inspect.signature(f) == inspect.signature(_two_args)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_source_is_valid_python(case):
    args = harness.make_args(case)
    tangents = harness.make_tangents(case, args)
    f = harness.compiled(case)
    f.jvp(*harness.fresh(args), tangents=harness.fresh(tangents), **case.kwargs)
    source = f.source
    assert isinstance(source, str) and "def " in source
    compile(source, f"<source of {case.name}>", "exec")
