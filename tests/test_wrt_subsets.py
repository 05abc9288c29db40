"""Every corpus case differentiated with respect to every subset of its float
parameters, in single mode, in vector mode (K = 1, 3 and K equal to a
dimension of an argument) and on the native backend, against the
dual-number reference of tests/dual.py (which shares no code with
fwdcompile).

test_corpus.py differentiates with respect to every float parameter at once,
so a tangent that has the shape of one differentiated operand instead of the
result (``Z = X + b`` with only ``b`` active: ``d_Z = d_b``) passes there and
is caught here.  Besides the tangent, every call checks that the value is the
primal, that every tangent leaf has its value's shape (with the leading K in
vector mode) and a float dtype, and that jvp leaves the arrays the caller
passed as the function itself would (tangents untouched).

Subsets: every non-empty subset of the float parameters, in every mode
(about 3 minutes on 2 cores).  ``WRT_SUBSETS_MAX=7`` caps them per case for a
quick local run (chosen deterministically, always including every singleton
and the full set), and ``WRT_SUBSETS_NATIVE=singletons`` limits the native
backend, slow to compile, to one parameter at a time.  When
the dual-number evaluator cannot run a case (it raises rather than drop a
tangent), the reference falls back to tests/oracle.py and the test says so
with a warning; ``FALLBACK`` records which.
"""

import itertools
import os
import warnings
import zlib

import numpy as np
import pytest

import dual
import harness
import oracle

fwdcompile = pytest.importorskip("fwdcompile")

RTOL = 1e-7
# subsets per case: all by default; WRT_SUBSETS_MAX=7 for a quick local run
MAX_SUBSETS = int(os.environ.get("WRT_SUBSETS_MAX", str(2 ** 20)))
# the native backend compiles slowly: WRT_SUBSETS_NATIVE=singletons runs it on
# one parameter at a time only
NATIVE_ALL = os.environ.get("WRT_SUBSETS_NATIVE", "all") == "all"
FALLBACK = {}  # (case, wrt) -> why the dual-number evaluator could not be used


def _subsets(n_float, name):
    full = tuple(range(n_float))
    every = [s for r in range(1, n_float + 1) for s in itertools.combinations(full, r)]
    if len(every) <= MAX_SUBSETS:
        return every
    chosen = [(i,) for i in full] + [full]
    rest = [s for s in every if s not in chosen]
    rng = np.random.default_rng([zlib.crc32(name.encode()), 5])
    picks = rng.choice(len(rest), MAX_SUBSETS - len(chosen), replace=False)
    return chosen + [rest[i] for i in sorted(picks)]


def _params(native=False):
    out = []
    for case in harness.CASES:
        args = harness.make_args(case)
        floats = [i for i, a in enumerate(args) if harness.is_float_arg(a)]
        names = harness.param_names(case.fn)
        subsets = _subsets(len(floats), case.name)
        if native and not NATIVE_ALL:
            subsets = [s for s in subsets if len(s) == 1 and len(floats) > 1]
        for sub in subsets:
            active = tuple(floats[j] for j in sub)
            wrt = tuple(names[i] for i in active)
            out.append(pytest.param(case, active, wrt, id=f"{case.name}[{','.join(wrt)}]"))
    return out


PARAMS = _params()
NATIVE_PARAMS = _params(native=True)

_COMPILED = {}


def _compiled(case, wrt, backend="python"):
    key = (case.name, wrt, backend)
    if key not in _COMPILED:
        try:
            _COMPILED[key] = fwdcompile.forward_gradient(case.fn, wrt=wrt, backend=backend)
        except fwdcompile.NoDerivativeRule as exc:
            _skip_if_refused(case, wrt, exc)
    return _COMPILED[key]


def _skip_if_refused(case, wrt, exc):
    """A parameter the case does not differentiate may reach an argument no
    rule differentiates (np.interp's xp): a located refusal is the contract."""
    declared = _declared(case)
    if declared is not None and not set(wrt) <= declared and exc.lineno is not None \
            and exc.hint:
        pytest.skip(f"refused with a located error: {exc.message}")
    raise exc


def _rng(case, wrt, salt):
    return np.random.default_rng([harness.seed_of(case.name), zlib.crc32(",".join(wrt).encode()),
                                  salt])


def _single_tangents(case, wrt, args, active):
    rng = _rng(case, wrt, 1)
    return tuple(harness.make_tangent(rng, args[i]) for i in active)


def _batched_tangents(case, wrt, args, active, k):
    rng = _rng(case, wrt, 100 + k)
    return tuple(rng.standard_normal((k,) + np.shape(args[i])) for i in active)


def _k_from_dimension(args, active):
    """K equal to a dimension of an argument (a differentiated one first),
    other than 1 and 3 (tested anyway); None when every argument is a scalar."""
    dims = [n for i in list(active) + list(range(len(args)))
            if isinstance(args[i], np.ndarray) for n in args[i].shape]
    for n in dims:
        if n not in (1, 3):
            return n
    return None


def _reference(case, args, active, tangents, batched):
    """The dual-number tangent, or the oracle's when dual.py cannot run the case."""
    try:
        value, tangent = dual.jvp(case.fn, args, active, tangents, case.kwargs, batched=batched)
        expected = case.fn(*harness.fresh(args), **case.kwargs)
        harness.assert_same_structure_equal(value, expected, exact=False, rtol=1e-10)
        return tangent
    except Exception as exc:  # noqa: BLE001  (anything: fall back, and say so)
        names = harness.param_names(case.fn)
        why = f"{type(exc).__name__}: {exc}"
        FALLBACK[(case.name, tuple(names[i] for i in active))] = why
        warnings.warn(f"{case.name}: dual-number reference unavailable ({why}); "
                      "using the finite-difference oracle", stacklevel=2)
    if not batched:
        ref, _ = oracle.jvp_reference(case.fn, args, active, tangents, case.kwargs,
                                      complex_ok=case.complex_ok, scale=case.fd_scale)
        return ref
    k = np.shape(tangents[0])[0]
    per = []
    for j in range(k):
        one = tuple(float(t[j]) if np.ndim(args[i]) == 0 else t[j]
                    for t, i in zip(tangents, active))
        ref, _ = oracle.jvp_reference(case.fn, args, active, one, case.kwargs,
                                      complex_ok=case.complex_ok, scale=case.fd_scale)
        per.append(ref)
    return _stack_leaves(per)


def _stack_leaves(items):
    if isinstance(items[0], (tuple, list)):
        return tuple(_stack_leaves([it[i] for it in items]) for i in range(len(items[0])))
    return np.stack([np.asarray(it, dtype=float) for it in items])


def _check_value_and_shapes(val, dval, expected, k=None, rtol=1e-12):
    harness.assert_same_structure_equal(val, expected, exact=False, rtol=rtol)
    if isinstance(expected, tuple):
        assert isinstance(dval, tuple) and len(dval) == len(expected), \
            "a tuple-returning function needs a tuple of tangents of the same length"
    v_leaves, d_leaves = oracle.leaves(val), oracle.leaves(dval)
    assert len(v_leaves) == len(d_leaves), f"{len(d_leaves)} tangent leaves, {len(v_leaves)} values"
    for j, (v, d) in enumerate(zip(v_leaves, d_leaves)):
        want = np.shape(v) if k is None else (k,) + np.shape(v)
        assert np.shape(d) == want, f"tangent {j} has shape {np.shape(d)}, expected {want}"
        assert isinstance(d, float) or np.asarray(d).dtype.kind == "f", \
            f"tangent {j} has type {type(d).__name__} / dtype {np.asarray(d).dtype}"


def _check_inputs(given, called, given_t, tangents, original):
    for j, (a, b) in enumerate(zip(given, called)):
        np.testing.assert_array_equal(a, b, err_msg=f"argument {j} after jvp differs from "
                                                    "what the function itself leaves there")
    mutates = any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(
        oracle.leaves(tuple(called)), oracle.leaves(tuple(original))))
    if mutates:  # documented: a function updating an argument updates its tangent too
        return
    for j, (a, b) in enumerate(zip(given_t, tangents)):
        np.testing.assert_array_equal(a, b, err_msg=f"jvp modified the caller's tangent {j}")


def _declared(case):
    if case.wrt is None:
        return None
    names = harness.param_names(case.fn)
    wrt = (case.wrt,) if isinstance(case.wrt, (str, int)) else case.wrt
    return {w if isinstance(w, str) else names[int(w)] for w in wrt}


def _run(f, case, args, tangents, **options):
    given, given_t = harness.fresh(args), harness.fresh(tangents)
    try:
        val, dval = f.jvp(*given, tangents=given_t, **options, **case.kwargs)
    except fwdcompile.NoDerivativeRule as exc:
        _skip_if_refused(case, tuple(f._wrt or ()), exc)
        raise
    called = harness.fresh(args)
    expected = case.fn(*called, **case.kwargs)
    _check_inputs(given, called, given_t, tangents, args)
    return val, dval, expected


@pytest.mark.parametrize("case, active, wrt", PARAMS)
def test_single_direction(case, active, wrt):
    args = harness.make_args(case)
    tangents = _single_tangents(case, wrt, args, active)
    val, dval, expected = _run(_compiled(case, wrt), case, args, tangents)
    _check_value_and_shapes(val, dval, expected)
    ref = _reference(case, args, active, tangents, batched=False)
    ok, worst = oracle.close(dval, ref, rtol=RTOL)
    assert ok, f"wrt={wrt}: tangent differs from the reference: {worst}"


@pytest.mark.parametrize("case, active, wrt", PARAMS)
def test_batched(case, active, wrt):
    args = harness.make_args(case)
    f = _compiled(case, wrt)
    ks = [1, 3]
    k_dim = _k_from_dimension(args, active)
    if k_dim is not None:
        ks.append(k_dim)
    for k in ks:
        tangents = _batched_tangents(case, wrt, args, active, k)
        val, dval, expected = _run(f, case, args, tangents, batched=True)
        _check_value_and_shapes(val, dval, expected, k=k)
        ref = _reference(case, args, active, tangents, batched=True)
        for j in range(k):
            ok, worst = oracle.close(tuple(np.asarray(d)[j] for d in oracle.leaves(dval)),
                                     tuple(np.asarray(r)[j] for r in oracle.leaves(ref)),
                                     rtol=RTOL)
            assert ok, f"wrt={wrt}, K={k}, direction {j}: tangent differs: {worst}"


def _native_ok(case, args):
    return all(isinstance(a, (float, int, bool)) or
               (isinstance(a, np.ndarray) and a.dtype in (np.float64, np.int64)
                and 1 <= a.ndim <= 4) for a in args)


_REFUSED = {}


@pytest.mark.parametrize("case, active, wrt", NATIVE_PARAMS)
def test_native(case, active, wrt):
    pytest.importorskip("llvmlite")
    args = harness.make_args(case)
    if not _native_ok(case, args):
        pytest.skip("argument types outside the native backend (documented TypeError)")
    if case.name in _REFUSED:  # lowering depends on the syntax, not on wrt
        pytest.skip(_REFUSED[case.name])
    tangents = _single_tangents(case, wrt, args, active)
    f = _compiled(case, wrt, backend="llvm")
    try:
        val, dval, expected = _run(f, case, args, tangents)
    except fwdcompile.UnsupportedSyntax as exc:
        if "native backend" not in str(exc):
            raise
        _REFUSED[case.name] = f"outside the native subset: {str(exc).splitlines()[0][:120]}"
        pytest.skip(_REFUSED[case.name])
    _check_value_and_shapes(val, dval, expected, rtol=1e-9)
    ref = _reference(case, args, active, tangents, batched=False)
    ok, worst = oracle.close(dval, ref, rtol=RTOL)
    assert ok, f"wrt={wrt}, backend=llvm: tangent differs from the reference: {worst}"


def test_dual_reference_runs_every_case():
    """The dual-number evaluator itself: every corpus case (all float
    parameters active) runs without falling back and agrees with the oracle."""
    failures = []
    for case in harness.CASES:
        args = harness.make_args(case)
        active = [i for i, a in enumerate(args) if harness.is_float_arg(a)]
        if not active:
            continue
        tangents = harness.make_tangents(case, args, active)
        try:
            value, tangent = dual.jvp(case.fn, args, active, tangents, case.kwargs)
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{case.name}: {type(exc).__name__}: {exc}")
            continue
        ref, _ = oracle.jvp_reference(case.fn, args, active, tangents, case.kwargs,
                                      complex_ok=case.complex_ok, scale=case.fd_scale)
        ok, worst = oracle.close(tangent, ref, rtol=1e-6)
        if not ok:
            failures.append(f"{case.name}: {worst}")
    assert not failures, "\n".join(failures)
