"""Regression tests: calls that used to return a silently zero (or NaN, or a
late ValueError) tangent.  Each function is checked against finite
differences (Ridders) or the complex step, for each parameter alone and for
all of them, in single and vector mode."""

import inspect

import numpy as np
import pytest

import oracle

fwdcompile = pytest.importorskip("fwdcompile")
from fwdcompile import FwdcompileError, NoDerivativeRule, forward_gradient  # noqa: E402

IDX = np.array([0, 2, 2, 4, 1])
IDX2 = np.array([1, 1, 3])
K = 3


# --------------------------------------------------------------------------
# differentiable calls that had no (or a wrong) rule
# --------------------------------------------------------------------------

def bincount_weights(x, s):
    counts = np.bincount(IDX, weights=x * s, minlength=6)
    return np.sum(counts ** 2) + np.sum(np.bincount(IDX, x))


def bincount_is_active_inside_an_expression(x, s):
    return np.sum(np.bincount(IDX, weights=x) ** 2) * s


def r_pieces(x, s):
    v = np.r_[x, 2 * x * s, s]
    return np.sum(v ** 2) + np.r_[0:3, x][4] * s + np.sum(np.r_[x] * np.r_[0.5:1:5j])


def c_columns(x, s):
    m = np.c_[x, x ** 2 * s]
    return np.sum(m @ np.array([1.0, -2.0]) ** 3) + np.sum(np.c_[0:5, x] ** 2)


def add_at(x, s):
    a = np.zeros(5)
    np.add.at(a, IDX, x * s)
    np.subtract.at(a, IDX2, s * x[:3])
    return np.sum(a ** 2) + a[2] * s


def add_at_into_a_parameter(x, s):
    np.add.at(x, IDX2, s)
    return np.sum(np.sin(x))


def std_var_single_entry(x, s):
    one = x[:1] * s
    m = np.reshape(x * s, (1, 5))
    return (np.std(one) + np.var(one) + np.sum(np.std(m, axis=0)) + np.sum(np.var(m, axis=0))
            + one.std() + np.std(x * s))


def norm_orders(x, s):
    m = np.reshape(x * s, (5, 1)) @ np.reshape(x, (1, 5)) + np.diag(x)
    return (np.linalg.norm(x * s, ord=3) + np.linalg.norm(x, 0.5) + np.linalg.norm(x * s, -1.5)
            + np.linalg.norm(x * s, np.inf) + np.linalg.norm(x, -np.inf)
            + np.linalg.norm(x * s, 1) + np.linalg.norm(x * s, 0)
            + np.linalg.norm(m, "nuc") + np.linalg.norm(m, 2) + np.linalg.norm(m, -2)
            + np.linalg.norm(m, 1) + np.linalg.norm(m, -1) + np.linalg.norm(m, np.inf)
            + np.linalg.norm(m, -np.inf) + np.linalg.norm(m, "fro")
            + np.sum(np.linalg.norm(m, ord=3, axis=1)) + np.sum(np.linalg.norm(m, 4, axis=0,
                                                                               keepdims=True)))


def heaviside_second_argument(x, s):
    zero_at_two = np.where(IDX == 2, 0.0, x)
    return np.sum(np.heaviside(zero_at_two, x * s) * x)


CASES = [
    (bincount_weights, False),
    (bincount_is_active_inside_an_expression, False),
    (r_pieces, True),
    (c_columns, True),
    (add_at, False),
    (add_at_into_a_parameter, False),
    (std_var_single_entry, False),
    (norm_orders, False),
    (heaviside_second_argument, False),
]


def _args():
    rng = np.random.default_rng(3)
    # distinct magnitudes: no ties in max/min, distinct singular values
    x = np.array([0.7, -1.3, 2.1, 1.6, -0.4]) + 0.01 * rng.standard_normal(5)
    return [x, 1.3]


def _reference(fn, args, positions, tangents, complex_ok):
    ref, _ = oracle.jvp_reference(fn, args, positions, tangents, complex_ok=complex_ok)
    return ref


@pytest.mark.parametrize("wrt", [("x",), ("s",), ("x", "s")], ids="-".join)
@pytest.mark.parametrize("fn,complex_ok", CASES, ids=[c[0].__name__ for c in CASES])
def test_tangent_matches_reference(fn, complex_ok, wrt):
    names = list(inspect.signature(fn).parameters)
    positions = [names.index(w) for w in wrt]
    args = _args()
    rng = np.random.default_rng(11)
    tangents = tuple(rng.standard_normal(np.shape(args[i])) if np.ndim(args[i])
                     else float(rng.standard_normal()) for i in positions)
    f = forward_gradient(fn, wrt=wrt)
    ref = _reference(fn, args, positions, tangents, complex_ok)
    # (a function writing into x updates x's tangent in place, as it does x: pass copies)
    value, tangent = f.jvp(*[np.copy(a) if np.ndim(a) else a for a in args],
                           tangents=tuple(np.copy(t) if np.ndim(t) else t for t in tangents))
    ok, worst = oracle.close(tangent, ref, rtol=1e-6)
    assert ok, worst
    assert np.any(np.asarray(ref) != 0)  # the checks are not vacuous
    # vector mode: K directions at once, each against the reference
    batched = tuple(np.stack([np.asarray(t) * (k + 1.0) + k for k in range(K)])
                    for t in tangents)
    value_b, tangent_b = f.jvp(*[np.copy(a) if np.ndim(a) else a for a in args],
                               tangents=tuple(np.copy(t) for t in batched), batched=True)
    for k in range(K):
        one = tuple(t[k] if np.ndim(a) else float(t[k]) for t, a in
                    zip(batched, [args[i] for i in positions]))
        ref_k = _reference(fn, args, positions, one, complex_ok)
        ok, worst = oracle.close(np.asarray(tangent_b)[k], ref_k, rtol=1e-6)
        assert ok, f"direction {k}: {worst}"


# --------------------------------------------------------------------------
# calls with no rule: a located error, never a zero tangent
# --------------------------------------------------------------------------

def histogram_of_x(x, s):
    counts, edges = np.histogram(x * s)  # <- here
    return np.sum(edges)


def unique_of_x(x, s):
    return np.sum(np.unique(x) * s)  # <- here


def sorted_builtin(x, s):
    total = 0.0
    for v in sorted(x):  # <- here
        total = total + v * s
    return total


def divmod_builtin(x, s):
    q, r = divmod(x[0], s)  # <- here
    return r


def zip_not_unpacked(x, s):
    total = 0.0
    for pair in zip(x, x):  # <- here
        total = total + pair[0] * s
    return total


def ogrid_with_x(x, s):
    return np.sum(np.ogrid[0:s])  # <- here


def s_with_x(x, s):
    return np.sum(x[np.s_[0:2]]) + np.s_[s]  # <- here


def r_directive(x, s):
    return np.sum(np.r_['0,2', x, x * s])  # <- here


def norm_bad_literal_order(x, s):
    return np.linalg.norm(x * s, ord="max")  # <- here


def norm_bad_matrix_order(x, s):
    return np.linalg.norm(np.outer(x, x), ord=3, axis=(0, 1)) * s  # <- here


def call_without_rule(x, s):
    return np.sum(np.nancumsum(x) * s)  # <- here


def multiply_at(x, s):
    a = np.ones(5)
    np.multiply.at(a, IDX, x)  # <- here
    return np.sum(a) * s


REJECTED = [histogram_of_x, unique_of_x, sorted_builtin, divmod_builtin, zip_not_unpacked,
            ogrid_with_x, s_with_x, r_directive, norm_bad_literal_order, norm_bad_matrix_order,
            call_without_rule, multiply_at]


def _marked_line(fn):
    lines, start = inspect.getsourcelines(fn)
    return start + next(i for i, line in enumerate(lines) if "# <- here" in line)


@pytest.mark.parametrize("fn", REJECTED, ids=[f.__name__ for f in REJECTED])
def test_no_rule_is_a_located_error(fn):
    with pytest.raises(FwdcompileError) as info:  # at decoration or at the first call
        f = forward_gradient(fn, wrt=("x", "s"))
        f.jvp(np.array([0.7, -1.3, 2.1, 1.6, -0.4]), 3.0, tangents=(np.ones(5), 1.0))
    assert info.value.lineno == _marked_line(fn), str(info.value)
    assert info.value.filename == __file__


def test_bincount_differentiates_only_its_weights():
    def weights_only(x, s):  # noqa: ARG001  (idx carries the derivative here)
        return np.sum(np.bincount(np.array([0, 1]), weights=x[:2]) * s)

    assert forward_gradient(weights_only, wrt=("x",)).jvp(
        np.ones(5), 2.0, tangents=(np.ones(5),))[1] == pytest.approx(4.0)


def test_norm_order_errors_are_no_derivative_rule():
    with pytest.raises(NoDerivativeRule, match="ord='max'"):
        f = forward_gradient(norm_bad_literal_order, wrt=("x",))
        f.jvp(np.ones(5), 1.0, tangents=(np.ones(5),))


def test_std_of_one_entry_has_a_zero_tangent_and_constant_data_a_nan_one():
    def std_of(x):
        return np.std(x)

    f = forward_gradient(std_of)
    assert f.jvp(np.array([2.0]), tangents=(np.array([1.0]),))[1] == 0.0
    with np.errstate(invalid="ignore"):
        assert np.isnan(f.jvp(np.array([2.0, 2.0]), tangents=(np.array([1.0, 0.0]),))[1])


# --------------------------------------------------------------------------
# strings and sets made from differentiated values
# --------------------------------------------------------------------------

def label_is_measured(x):
    label = f"{x:.3f}"
    print(f"x = {x}", "%.2f" % x, str(x))
    return x * 2.0 + len(label) * 0.0


def float_of_string(x):
    return x * float(str(x))


def float_of_label(x):
    label = "%r" % x
    return x * float(label)


def format_method(x):
    y = float("{}".format(x))
    return x * y


def set_of_values(x):
    return max({x, -5.0}) * x


def test_a_string_of_a_value_may_be_printed_and_measured(capsys):
    value, tangent = forward_gradient(label_is_measured).jvp(1.5, tangents=(1.0,))
    assert (value, tangent) == (3.0, 2.0)
    assert "x = 1.5" in capsys.readouterr().out


@pytest.mark.parametrize("fn", [float_of_string, float_of_label, format_method, set_of_values])
def test_a_string_or_set_of_a_value_used_as_a_number_is_a_located_error(fn):
    with pytest.raises(FwdcompileError) as info:
        forward_gradient(fn).jvp(1.5, tangents=(1.0,))
    error = info.value
    first = fn.__code__.co_firstlineno
    assert error.filename == inspect.getsourcefile(fn)
    assert first < error.lineno <= first + 3 and error.hint


def std_of_a_constant(p, q):
    t1 = p - p                      # identically zero: std is constant, derivative 0
    return np.sum(np.std(t1, axis=0)) + np.std(q - q) + np.sum(q)


def test_std_of_an_identically_zero_array_has_derivative_zero():
    f = forward_gradient(std_of_a_constant)
    p, q = np.ones((3, 2)), np.array([0.5, 1.0])
    _, tangent = f.jvp(p, q, tangents=(np.arange(6.0).reshape(3, 2), np.array([1.0, -2.0])))
    assert tangent == -1.0
    _, batched = f.jvp(p, q, tangents=(np.ones((2, 3, 2)), np.ones((2, 2))), batched=True)
    np.testing.assert_array_equal(batched, [2.0, 2.0])


def std_at_a_kink(x):
    return np.std(x)


def test_std_where_all_entries_are_equal_is_nan_not_a_guess():
    f = forward_gradient(std_at_a_kink)
    _, tangent = f.jvp(np.ones(3), tangents=(np.array([1.0, 0.0, -1.0]),))
    assert np.isnan(tangent)  # |t| std(d): no derivative along a non-constant d
    _, tangent = f.jvp(np.ones(3), tangents=(np.ones(3),))
    assert tangent == 0.0     # along a constant direction std stays 0


def nan_to_num_in_place(x):
    y = x * np.log(x)
    y = np.nan_to_num(y, copy=False)
    return np.sum(y)


def test_nan_to_num_writing_into_a_differentiated_argument_is_an_error():
    # copy=False writes into y, whose own tangent would stay stale where a value was replaced
    f = forward_gradient(nan_to_num_in_place)
    with pytest.raises(NoDerivativeRule, match="copy=False"):
        f.jvp(np.array([0.0, 0.5, 2.0]), tangents=(np.ones(3),))
