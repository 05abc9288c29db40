"""The oracle checked on its own: known derivatives, a wrong derivative is
rejected, and every corpus case is a valid finite-difference problem.

None of these tests need fwdcompile."""

import ast
import math
import pathlib

import numpy as np
import pytest

import corpus
import harness
import oracle


# --------------------------------------------------------------------------
# known derivatives
# --------------------------------------------------------------------------

@pytest.mark.parametrize("x", [-1.3, 0.0, 0.4, 2.2])
def test_ridders_sin(x):
    d, err = oracle.ridders(lambda t: np.array([math.sin(x + t)]))
    assert abs(d[0] - math.cos(x)) <= 1e-11
    assert err[0] < 1e-9


def test_ridders_exp_polynomial_vector():
    x = np.array([-1.0, 0.5, 2.0])
    g = lambda t: np.concatenate([np.exp(x + t), (x + t) ** 5 - 3 * (x + t)])
    d, err = oracle.ridders(g)
    expected = np.concatenate([np.exp(x), 5 * x ** 4 - 3])
    np.testing.assert_allclose(d, expected, rtol=1e-10, atol=1e-12)
    assert np.all(err <= 1e-8 * np.maximum(1, np.abs(expected)))


def test_ridders_error_estimate_flags_a_kink():
    # |t| has no derivative at 0: the central differences are all 0 there, but
    # at 1e-3 the one-sided slopes disagree and the error estimate must be large
    d, err = oracle.ridders(lambda t: np.array([abs(t + 1e-3)]))
    assert not (abs(d[0] - 1.0) < 1e-7 and err[0] < 1e-8)


def test_complex_step_exact():
    x = 0.7
    d = oracle.complex_step(lambda t: np.array([np.exp(x + t) * np.sin(x + t)]))
    assert d[0] == pytest.approx(math.exp(x) * (math.sin(x) + math.cos(x)), rel=1e-15)


def test_jvp_reference_matvec_both_methods():
    rng = np.random.default_rng(0)
    A, x = rng.standard_normal((3, 4)), rng.standard_normal(4)
    dA, dx = rng.standard_normal((3, 4)), rng.standard_normal(4)
    expected = dA @ x + A @ dx
    for complex_ok in (True, False):
        d, err = oracle.jvp_reference(lambda A, x: A @ x, (A, x), [0, 1], (dA, dx),
                                      complex_ok=complex_ok)
        np.testing.assert_allclose(d, expected, rtol=1e-10, atol=1e-12)


def test_jvp_reference_tuple_output_and_inactive_args():
    def f(x, n, y):
        return x ** n * y, (math.sin(x), np.array([x, y]))

    d, err = oracle.jvp_reference(f, (0.3, 3, 2.0), [0, 2], (1.5, -0.5))
    x, y, dx, dy = 0.3, 2.0, 1.5, -0.5
    assert isinstance(d, tuple) and len(d) == 2 and isinstance(d[1], tuple)
    assert d[0] == pytest.approx(3 * x ** 2 * y * dx + x ** 3 * dy, rel=1e-10)
    assert d[1][0] == pytest.approx(math.cos(x) * dx, rel=1e-10)
    np.testing.assert_allclose(d[1][1], [dx, dy], rtol=1e-10)


def test_jvp_reference_does_not_see_input_mutation():
    def f(x):
        x[0] = 5.0
        return np.sum(x ** 2)

    x = np.array([1.0, 2.0])
    d, _ = oracle.jvp_reference(f, (x,), [0], (np.array([1.0, 1.0]),))
    assert d == pytest.approx(4.0, rel=1e-10)  # only x[1] survives: d = 2 * 2
    assert x[0] == 1.0


def test_close_rejects_wrong_values():
    ok, _ = oracle.close(1.0 + 1e-9, 1.0)
    assert ok
    ok, msg = oracle.close(1.0 + 1e-5, 1.0)
    assert not ok and "expected" in msg
    ok, _ = oracle.close((np.array([1.0, 2.0]), 3.0), (np.array([1.0, 2.0]), 3.0))
    assert ok
    ok, _ = oracle.close((np.array([1.0, 2.0]), 3.0), (np.array([1.0, 2.1]), 3.0))
    assert not ok
    ok, _ = oracle.close(np.array([np.nan]), np.array([1.0]))
    assert not ok
    ok, _ = oracle.close(np.zeros(3), np.zeros((3, 1)))
    assert not ok
    ok, _ = oracle.close((1.0,), (1.0, 2.0))
    assert not ok
    # relative for large values, absolute near zero
    assert oracle.close(1e9 + 10.0, 1e9)[0]
    assert not oracle.close(1e-3, 0.0)[0]


def test_oracle_rejects_a_wrong_derivative_rule():
    # the sort of mistake a compiler makes: d tan = 1 + tan instead of 1 + tan**2
    x, v = 0.9, 1.0
    ref, _ = oracle.jvp_reference(math.tan, (x,), [0], (v,))
    wrong = (1 + math.tan(x)) * v
    right = (1 + math.tan(x) ** 2) * v
    assert oracle.close(right, ref)[0]
    assert not oracle.close(wrong, ref)[0]


# --------------------------------------------------------------------------
# the corpus itself
# --------------------------------------------------------------------------

def test_corpus_size_and_unique_names():
    assert len(harness.CASES) >= 130
    assert len(set(harness.CASE_IDS)) == len(harness.CASE_IDS)


def test_corpus_is_plain_user_code():
    root = pathlib.Path(corpus.__file__).parent
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.split(".")[0] == "fwdcompile" for n in names), \
                f"{path.name}:{node.lineno} imports fwdcompile"


@pytest.mark.parametrize("case", harness.CASES, ids=harness.CASE_IDS)
def test_corpus_case_is_a_valid_fd_problem(case):
    args = harness.make_args(case)
    active = harness.active_positions(case, args)
    assert active, "a case needs at least one active argument"
    tangents = harness.make_tangents(case, args, active)
    with np.errstate(all="raise"):
        out = case.fn(*harness.fresh(args), **case.kwargs)
    assert all(np.all(np.isfinite(leaf)) for leaf in oracle.leaves(out))
    # deterministic
    again = case.fn(*harness.fresh(args), **case.kwargs)
    harness.assert_same_structure_equal(again, out)
    ref, err = oracle.jvp_reference(case.fn, args, active, tangents, case.kwargs,
                                    complex_ok=False, scale=case.fd_scale)
    for r, e in zip(oracle.leaves(ref), oracle.leaves(err)):
        r, e = np.asarray(r), np.asarray(e)
        assert np.all(np.isfinite(r))
        assert np.all(e <= 1e-9 * np.maximum(1.0, np.abs(r))), \
            f"Ridders' error estimate too large: {np.max(e / np.maximum(1.0, np.abs(r))):.3g}"
    if case.complex_ok:
        cs, _ = oracle.jvp_reference(case.fn, args, active, tangents, case.kwargs,
                                     complex_ok=True)
        ok, worst = oracle.close(cs, ref, rtol=1e-8)
        assert ok, f"complex step and Ridders disagree: {worst}"
