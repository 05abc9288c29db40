"""The native backend (llvmlite): same answers as the Python backend on the
scalar corpus, located errors outside its subset, Python semantics kept."""

import math
import warnings

import numpy as np
import pytest

import harness
import oracle

pytest.importorskip("llvmlite")
from fwdcompile import UnsupportedSyntax, forward_gradient  # noqa: E402

SCALAR = [c for c in harness.CASES if not c.kwargs and c.wrt is None and all(
    isinstance(a, (float, int)) and not isinstance(a, bool) for a in harness.make_args(c))
    and any(isinstance(a, float) for a in harness.make_args(c))]


def _native(case):
    return forward_gradient(case.fn, backend="llvm")


def test_most_scalar_cases_lower():
    lowered = []
    for case in SCALAR:
        args = harness.make_args(case)
        tangents = harness.make_tangents(case, args)
        try:
            _native(case).jvp(*args, tangents=tangents)
            lowered.append(case.name)
        except UnsupportedSyntax:
            pass
    # 91 scalar cases; those left use helpers, tuples of values or builtins the
    # native subset does not have yet (see docs/native-backend.md)
    assert len(lowered) >= 60, (len(lowered), len(SCALAR))


@pytest.mark.parametrize("case", SCALAR, ids=[c.name for c in SCALAR])
def test_same_answer_as_the_python_backend(case):
    args = harness.make_args(case)
    tangents = harness.make_tangents(case, args)
    try:
        val, dval = _native(case).jvp(*args, tangents=tangents)
    except UnsupportedSyntax as exc:
        assert "native backend" in str(exc)
        pytest.skip("outside the native subset")
    ref_val, ref_dval = forward_gradient(case.fn).jvp(*args, tangents=tangents)
    for a, b in zip(oracle.leaves(val), oracle.leaves(ref_val)):
        assert type(a) is type(b) or isinstance(b, (float, np.floating))
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300)
    for a, b in zip(oracle.leaves(dval), oracle.leaves(ref_dval)):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


def rosen2(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def loop_and_branches(x, n):
    s = 0.0
    k = 0
    while s < 10.0 and k < n:
        if k % 3 == 0:
            s += math.sin(x) ** 2 + 1.0
        elif k % 3 == 1:
            s = s + abs(x - 1.5) * x
        else:
            continue_here = x if x > 0 else -x
            s += continue_here
        k += 1
    for i in range(n, 0, -2):
        if i == 3:
            break
        s -= 0.01 * i * x
    return s, k


def test_loops_branches_and_int_results():
    native = forward_gradient(loop_and_branches, backend="llvm")
    python = forward_gradient(loop_and_branches)
    for x in (0.3, 1.7, -0.4):
        a = native.jvp(x, 9, tangents=(1.0,))
        b = python.jvp(x, 9, tangents=(1.0,))
        assert a[0][1] == b[0][1] and isinstance(a[0][1], int)
        np.testing.assert_allclose(a[0][0], b[0][0], rtol=1e-13)
        np.testing.assert_allclose(a[1][0], b[1][0], rtol=1e-12)


def test_integer_floor_division_and_modulo_follow_python():
    def f(x, n):
        return x * (n // 3) + x * (n % 3) + x * (-n // 4) + x * (-n % 4)

    native = forward_gradient(f, backend="llvm")
    for n in (-7, -1, 0, 5, 11):
        assert native.jvp(1.0, n, tangents=(1.0,))[0] == f(1.0, n)


def float_mod_floordiv(x, y):
    return x % y, x // y


@pytest.mark.parametrize("x, y", [(7.3, 0.1), (5.0, math.inf), (-5.0, math.inf), (-7.5, 2.0),
                                  (1e17 + 3, 3.0), (0.3, 0.1), (-0.0, 2.0), (2.0, -0.7),
                                  (-2.0, -0.7), (1e300, 1e-300), (0.0, -3.0), (math.nan, 2.0)])
def test_float_floor_division_and_modulo_are_pythons_bit_for_bit(x, y):
    native = forward_gradient(float_mod_floordiv, backend="llvm")
    (mod, div), (d_mod, d_div) = native.jvp(x, y, tangents=(1.0, 0.5))
    for got, want in ((mod, x % y), (div, x // y)):  # x - y * floor(x / y) is not
        assert got == want or (math.isnan(got) and math.isnan(want))
        assert math.copysign(1.0, got) == math.copysign(1.0, want)
    python = forward_gradient(float_mod_floordiv).jvp(x, y, tangents=(1.0, 0.5))[1]
    np.testing.assert_allclose((d_mod, d_div), python, rtol=1e-15, equal_nan=True)


def with_array(x):
    return np.sum(x)


def test_arguments_native_code_does_not_take_run_on_the_python_backend():
    f = forward_gradient(with_array, backend="llvm")
    x = np.ones(2, np.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = f.jvp(x, tangents=(x,))
    assert got == forward_gradient(with_array).jvp(x, tangents=(x,))
    assert got[1].dtype == np.float16
    assert "Python backend" in f.llvm_placement and "float16" in f.llvm_placement
    with pytest.warns(DeprecationWarning, match="fallback"):
        g = forward_gradient(with_array, backend="llvm", fallback="python")
    assert g.jvp(x, tangents=(x,)) == got


def _helper(x):
    return x * x


def uses_helper(x):
    return _helper(x) + 1.0


def uses_list(x):
    v = [x, 2.0]
    return v[0] * v[1]


def test_outside_the_subset_runs_in_numpy_located_in_the_users_code():
    import inspect

    f = forward_gradient(uses_list, backend="llvm")
    assert f.jvp(0.5, tangents=(1.0,)) == forward_gradient(uses_list).jvp(0.5, tangents=(1.0,))
    assert f.jvp(0.5, tangents=(1.0,)) == (1.0, 2.0)
    lines, first = inspect.getsourcelines(uses_list)
    assert (__file__, first + 1) in f._last_kernel().numpy_origins()  # `v = [x, 2.0]`
    assert "v = [x, 2.0]" in f.llvm_ir  # why it does not lower whole


def test_helpers_are_lowered_into_the_same_module():
    native = forward_gradient(uses_helper, backend="llvm")
    assert native.jvp(0.5, tangents=(1.0,)) == forward_gradient(uses_helper).jvp(
        0.5, tangents=(1.0,))
    assert "_helper_jvp" in native.llvm_ir


def _scaled_quotient(a, n):
    return a * (7 // n)


def uses_int_helper(x, n):
    y = _scaled_quotient(x, n)
    return y * x


def test_an_error_inside_a_helper_reaches_the_caller():
    native = forward_gradient(uses_int_helper, wrt=("x",), backend="llvm")
    assert native.jvp(2.0, 3, tangents=(1.0,)) == (8.0, 8.0)
    with pytest.raises(ZeroDivisionError):
        native.jvp(2.0, 0, tangents=(1.0,))


def test_llvm_ir_is_shown():
    f = forward_gradient(rosen2, backend="llvm")
    with pytest.raises(AttributeError, match="no native kernel"):
        _ = f.llvm_ir
    f.jvp(0.5, 0.2, tangents=(1.0, 0.0))
    assert "define" in f.llvm_ir and "rosen2_jvp" in f.llvm_ir


def test_nan_and_inf_propagate():
    f = forward_gradient(rosen2, backend="llvm")
    val, dval = f.jvp(float("nan"), 0.2, tangents=(1.0, 0.0))
    assert math.isnan(val) and math.isnan(dval)
    val, _ = f.jvp(float("inf"), 0.2, tangents=(1.0, 0.0))
    assert val == float("inf")


def test_integer_division_by_zero_raises_like_python():
    def f(x, n):
        return x * (7 // n)

    native = forward_gradient(f, backend="llvm")
    assert native.jvp(2.0, 2, tangents=(1.0,)) == (6.0, 3.0)
    with pytest.raises(ZeroDivisionError):
        native.jvp(2.0, 0, tangents=(1.0,))


def test_float_division_by_zero_follows_numpy():
    def f(x, y):
        return x / y

    native = forward_gradient(f, backend="llvm")
    val, _ = native.jvp(1.0, 0.0, tangents=(1.0, 0.0))
    assert val == float("inf")  # documented: Python would raise ZeroDivisionError


def test_fastcall_wrapper_matches_and_checks_its_arguments():
    import gast

    from fwdcompile.backends.llvm.jit import compile_kernel

    python = forward_gradient(rosen2)
    python.jvp(0.5, 0.2, tangents=(1.0, 0.0))
    fdef = gast.parse(python._last.own_source).body[0]
    kernel = compile_kernel(fdef, (float, float, float, float))
    assert kernel.fast is not None
    assert kernel.fast(0.5, 0.2, 1.0, 0.0) == kernel(0.5, 0.2, 1.0, 0.0)
    assert kernel.fast(1, 0.2, 1.0, 0.0) == kernel(1.0, 0.2, 1.0, 0.0)  # ints convert
    with pytest.raises(TypeError):
        kernel.fast(0.5, "no", 1.0, 0.0)
    with pytest.raises(TypeError, match="takes 4 arguments"):
        kernel.fast(0.5)
    for _ in range(1000):  # references: the tuples returned are owned by the caller
        result = kernel.fast(0.5, 0.2, 1.0, 0.0)
    import sys
    assert sys.getrefcount(result) == 2


def test_fastcall_wrapper_raises_zero_division_and_returns_ints():
    def f(x, n):
        return n // 2 + 0 * x if n > 100 else x * (7 // n)

    native = forward_gradient(f, backend="llvm")
    assert native.jvp(2.0, 2, tangents=(1.0,)) == (6.0, 3.0)
    with pytest.raises(ZeroDivisionError):
        native.jvp(2.0, 0, tangents=(1.0,))


def safe_ratio(x, y):
    return x / y + 7 // int(y)


def test_jvp_becomes_a_native_entry_that_hands_anything_else_to_the_general_path():
    import sys

    native, python = forward_gradient(rosen2, backend="llvm"), forward_gradient(rosen2)
    first = native.jvp(0.5, 0.2, tangents=(1.0, 0.0))
    assert type(native.jvp).__name__ == "builtin_function_or_method"  # the native entry
    assert native.jvp(0.5, 0.2, tangents=(1.0, 0.0)) == first
    calls = [((0.5, 0.2), dict(tangents=(1.0, 0.0))),
             ((np.float64(0.5), 0.2), dict(tangents=(1.0, 0.0))),
             ((0.5, 0.2), dict(tangents=[1.0, 0.0])),
             ((0.5, 0.2), dict(tangents=(1, 0.0))),
             ((), dict(x=0.5, y=0.2, tangents=(1.0, 0.0))),
             ((0.5,), dict(y=0.2, tangents=(1.0, 0.0)))]
    for args, kwargs in calls:
        assert native.jvp(*args, **kwargs) == pytest.approx(python.jvp(*args, **kwargs),
                                                            rel=1e-15), (args, kwargs)
    with pytest.raises(ValueError, match="expected 2 tangent"):
        native.jvp(0.5, 0.2, tangents=(1.0,))
    with pytest.raises(TypeError, match="tangents"):
        native.jvp(0.5, 0.2)
    x, y, t = 0.5, 0.2, (1.0, 0.0)
    before = [sys.getrefcount(o) for o in (x, y, t)]
    for _ in range(1000):
        result = native.jvp(x, y, tangents=t)
    assert [sys.getrefcount(o) for o in (x, y, t)] == before
    assert sys.getrefcount(result) == 2


def test_the_native_entry_raises_what_the_kernel_flags():
    native = forward_gradient(safe_ratio, backend="llvm")
    assert native.jvp(1.0, 2.0, tangents=(1.0, 0.0)) == (3.5, 0.5)
    with pytest.raises(ZeroDivisionError):
        native.jvp(1.0, 0.5, tangents=(1.0, 0.0))  # 7 // int(0.5)


def test_without_the_layout_check_jvp_stays_a_python_function(monkeypatch):
    from fwdcompile.backends.llvm import jit

    monkeypatch.setattr(jit, "LAYOUT_OK", False)  # as on an interpreter with another layout
    native = forward_gradient(rosen2, backend="llvm")
    first = native.jvp(0.5, 0.2, tangents=(1.0, 0.0))
    assert type(native.jvp).__name__ != "builtin_function_or_method"
    assert native.jvp(0.5, 0.2, tangents=(1.0, 0.0)) == first
    assert first == forward_gradient(rosen2).jvp(0.5, 0.2, tangents=(1.0, 0.0))


def _series(x, n):
    s = 0.0
    for k in range(1, n):
        s += math.sin(k * x) / k
    return s


def test_compiling_from_several_threads_gives_one_answer_each():
    import threading

    results, errors = {}, []

    def work(i):
        try:
            f = forward_gradient(_series, backend="llvm")
            results[i] = f.jvp(0.1 * i, 50 + i, tangents=(1.0,))
        except Exception as exc:  # reported below with the thread's index
            errors.append((i, exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i, got in results.items():
        want = forward_gradient(_series).jvp(0.1 * i, 50 + i, tangents=(1.0,))
        assert got == pytest.approx(want, rel=1e-12)


def test_a_million_native_calls_do_not_grow_memory():
    import os

    if not os.path.exists("/proc/self/statm"):
        pytest.skip("needs /proc to read the resident set")

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    native = forward_gradient(rosen2, backend="llvm")
    jvp = native.jvp
    jvp(0.5, 0.2, tangents=(1.0, 0.0))
    jvp = native.jvp  # now the generated entry
    t = (1.0, 0.0)
    for _ in range(10000):
        jvp(0.5, 0.2, tangents=t)
    before = rss()
    for _ in range(1_000_000):  # a leaked float or tuple per call would be 50+ MB
        jvp(0.5, 0.2, tangents=t)
    assert rss() - before < 4 * 2 ** 20


def factorial_scaled(x, n):
    p = 1
    for k in range(1, n + 1):
        p = p * k
    return x * p


def scaled_by_int(x, s):
    return x * int(s)


def test_integers_leaving_64_bits_are_an_overflow_error_not_a_wrapped_value():
    f = forward_gradient(factorial_scaled, wrt=("x",), backend="llvm")
    assert f.jvp(1.0, 20, tangents=(1.0,)) == (float(math.factorial(20)),) * 2
    with pytest.raises(OverflowError, match="64-bit"):
        f.jvp(1.0, 21, tangents=(1.0,))  # Python's ints would go on: 21! > 2**63
    g = forward_gradient(scaled_by_int, wrt=("x",), backend="llvm")
    assert g.jvp(2.0, -3.7, tangents=(1.0,)) == (-6.0, -3.0)
    with pytest.raises(OverflowError):
        g.jvp(2.0, 1e300, tangents=(1.0,))


def guarded_reads(x, i, n):
    s = 0.0
    if i < len(x) and x[i] > 0:  # x[i] is read only when i is in range
        s += x[i]
    if n != 0 and 10 // n > 2:  # 10 // n only when n is not 0
        s += 1.0
    k = n or 5  # the deciding operand's value, not a bool
    m = n and 7
    return s * k + m * x[0]


def truth_of(x, y):
    return 1.0 * x if y else 2.0 * x


def test_and_or_short_circuit_and_give_operands_and_nan_is_true():
    native = forward_gradient(guarded_reads, wrt=("x",), backend="llvm")
    python = forward_gradient(guarded_reads, wrt=("x",))
    x = np.array([0.5, -1.0, 2.0])
    for i, n in [(0, 0), (3, 0), (2, 3), (5, 2), (1, -1)]:
        assert native.jvp(x, i, n, tangents=(np.ones(3),)) == \
            python.jvp(x, i, n, tangents=(np.ones(3),))
    truth = forward_gradient(truth_of, wrt=("x",), backend="llvm")
    assert truth.jvp(3.0, math.nan, tangents=(1.0,)) == (3.0, 1.0)  # bool(nan) is True
    assert truth.jvp(3.0, 0.0, tangents=(1.0,)) == (6.0, 2.0)


def stepped_sum(x, a, b, s):
    t = 0.0
    for i in range(a, b, s):
        t += x * i
    return t


def zero_step(x):
    t = 0.0
    for _ in range(3, 0, 0):
        t += x
    return t


def test_a_zero_range_step_is_a_value_error_not_an_endless_loop():
    f = forward_gradient(stepped_sum, wrt=("x",), backend="llvm")
    assert f.jvp(1.0, 10, 0, -4, tangents=(1.0,)) == (18.0, 18.0)
    with pytest.raises(ValueError, match="must not be zero"):
        f.jvp(1.0, 5, 0, 0, tangents=(1.0,))
    with pytest.raises(ValueError, match="must not be zero"):
        forward_gradient(zero_step, backend="llvm").jvp(1.0, tangents=(1.0,))


def chained_guard(x, i):
    return 1.0 * x[0] if -1 < i < len(x) > x[i] else 2.0 * x[0]  # x[i] last, only if in range


def test_chained_comparisons_short_circuit():
    native = forward_gradient(chained_guard, wrt=("x",), backend="llvm")
    x = np.array([0.5, 9.0])
    for i in (0, 1, 2, 7, -3):
        assert native.jvp(x, i, tangents=(np.ones(2),)) == \
            forward_gradient(chained_guard, wrt=("x",)).jvp(x, i, tangents=(np.ones(2),))


def floor_index(x, t):
    k = math.floor(t)
    return x[k] * math.ceil(t) + np.floor(t) * x[0], k


def test_math_floor_and_ceil_are_ints_as_in_python():
    x = np.arange(1.0, 6.0)
    native = forward_gradient(floor_index, wrt=("x",), backend="llvm").jvp(
        x, 2.5, tangents=(np.ones(5),))
    assert native == forward_gradient(floor_index, wrt=("x",)).jvp(x, 2.5,
                                                                   tangents=(np.ones(5),))
    assert type(native[0][1]) is int


def _drag_coefficient(re):
    if re < 1.0:
        return 24.0 / re
    elif re < 1000.0:
        return 24.0 / re * (1.0 + 0.15 * re ** 0.687)
    else:
        return 0.44


def falling_drag(v):
    return _drag_coefficient(v * 10.0) * v


def mixed_ranks(x, gamma, beta):
    h = x.copy()
    h += beta
    h *= gamma
    return np.sum(np.tanh(h))


def test_helper_returning_from_every_branch_runs_natively():
    native = forward_gradient(falling_drag, backend="llvm")
    python = forward_gradient(falling_drag)
    for v in (0.05, 0.5, 500.5):
        value, tangent = native.jvp(v, tangents=(1.0,))
        assert (value, tangent) == pytest.approx(python.jvp(v, tangents=(1.0,)), rel=1e-12)
        h = 1e-6
        assert tangent == pytest.approx((falling_drag(v + h) - falling_drag(v - h)) / (2 * h),
                                        rel=1e-6)


def test_a_function_that_does_not_lower_whole_runs_in_regions():
    f = forward_gradient(mixed_ranks, wrt=("beta",), backend="llvm")
    args = (np.linspace(0.1, 0.6, 6).reshape(3, 2), np.array([0.5, 1.5]), np.array([0.2, -0.1]))
    want = forward_gradient(mixed_ranks, wrt=("beta",)).jvp(*args, tangents=(np.ones(2),))
    for _ in range(2):  # the first call settles the partition, the second runs it
        got = f.jvp(*args, tangents=(np.ones(2),))
        assert got == pytest.approx(want, rel=1e-13)


