"""Vector mode: K directions in one run equal K single JVPs, for every corpus case."""

import numpy as np
import pytest

import harness
import oracle

fwdcompile = pytest.importorskip("fwdcompile")

K = 3
CASES = harness.CASES
IDS = harness.CASE_IDS

# cases whose tangents are containers (lists being appended to, dicts,
# tuple-valued intermediates): vector mode falls back to one JVP per direction
# slogdet_unpacked: a tuple-valued rule; redteam_ml adds tiny_rnn and two slogdets;
# redteam_science adds implicit_euler_stiff, two_link_arm_jacobian and
# rotate_points (np.array of a list of differentiated scalars); language adds
# the seven comprehension cases (a comprehension becomes a list being appended to)
EXPECTED_FALLBACKS = 22
# (list append), mvn_loglik_slogdet and gp_marginal_likelihood_slogdet (slogdet)


def _batched_tangents(case, args, active):
    rng = np.random.default_rng([harness.seed_of(case.name), 7])
    return tuple(rng.standard_normal((K,) + np.shape(args[i])) for i in active)


def _single(value, k, arg):
    t = value[k]
    return float(t) if isinstance(arg, float) else (type(arg)(t) if isinstance(arg, np.generic)
                                                     else t)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_batched_equals_single_directions(case):
    args = harness.make_args(case)
    active = harness.active_positions(case, args)
    if not active:
        pytest.skip("no differentiated argument")
    f = harness.compiled(case)
    tangents = _batched_tangents(case, args, active)
    val, dval = f.jvp(*harness.fresh(args), tangents=harness.fresh(tangents), batched=True,
                      **case.kwargs)
    for k in range(K):
        single = tuple(_single(t, k, args[i]) for t, i in zip(tangents, active))
        val_k, dval_k = f.jvp(*harness.fresh(args), tangents=single, **case.kwargs)
        harness.assert_same_structure_equal(val, val_k, exact=False, rtol=1e-12)
        for d_batched, d_one in zip(oracle.leaves(dval), oracle.leaves(dval_k)):
            d_batched = np.asarray(d_batched)
            assert d_batched.shape == (K,) + np.shape(d_one)
            np.testing.assert_allclose(d_batched[k], d_one, rtol=1e-10, atol=1e-12)


def test_most_cases_run_in_one_batched_pass():
    fallbacks = []
    for case in CASES:
        args = harness.make_args(case)
        active = harness.active_positions(case, args)
        if not active:
            continue
        f = harness.compiled(case)
        names = harness.param_names(case.fn)
        wrt = tuple(names[i] for i in active)
        if f._batched_variant(wrt) is None:
            fallbacks.append(case.name)
    assert len(fallbacks) <= EXPECTED_FALLBACKS, fallbacks


def test_batched_tangent_shapes_are_checked():
    f = fwdcompile.forward_gradient(harness.CASES[0].fn)
    args = harness.make_args(harness.CASES[0])
    active = harness.active_positions(harness.CASES[0], args)
    bad = tuple(np.ones((2,) + np.shape(args[i]) + (1,)) for i in active)
    with pytest.raises(ValueError, match="batched tangent"):
        f.jvp(*args, tangents=bad, batched=True)
