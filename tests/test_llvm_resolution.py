"""The native backend resolves every call by the object it calls, never by
its spelling: a user's ``def exp``, ``mylib.sin``, ``stats.sum`` or a libm
name bound to something else is refused (a located ``UnsupportedSyntax``;
``fallback='python'`` then gives the right answer), while ``import math as
m; m.floor`` keeps its meaning, and numeric constants from outside the
function (``math.pi``, ``np.pi``, a module global, a closure variable) fold
into the kernel.  Answers are checked against central finite differences of
the plain function, for a subset of the parameters and for all of them."""

import inspect
import re
import math
import math as m
import types

import numpy as np
import pytest

pytest.importorskip("llvmlite")
from fwdcompile import forward_gradient  # noqa: E402
from usercode.same_names import h as other_modules_h  # noqa: E402

G = 6.674e-11  # module constants folded at compile time
N_TERMS = 4


def exp(x):  # a user function spelled like math.exp
    return x + 1.0


def sin(x):  # and one spelled like math.sin
    return x * x


class _Lib:
    sin = staticmethod(lambda x: 2.0 * x)


mylib = _Lib()
nslib = types.SimpleNamespace(sin=lambda x: 2.0 * x, cos=lambda x: 3.0 - x)


class _Stats:
    def sum(self, a):
        return 3.0 * a

    def max(self, a, b):
        return a + b


stats = _Stats()


class _Acc:
    def sum(self, a):  # a number from an array, like ndarray.sum, but not a sum
        return 3.0 * a[0]


acc = _Acc()


def user_named_like_libm(x, k):
    c = exp(float(k))
    s = mylib.sin(float(k))
    return x * c + s


def namespace_object(x, k):
    return x * nslib.sin(k) + nslib.cos(k)


def user_methods(x, y):
    return x * stats.sum(y) + stats.max(y, 2.0)


def user_max_method(x, y):
    return x * stats.max(y, 2.0)


def user_sum_method_of_array(x, a):
    return x * acc.sum(a) + a[1]


def user_sum_of_array(x, a):
    return x * np.sum(stats.sum(a))


def libm_named_helper(x, y):
    return sin(x) * y + sin(y)


def math_alias_floor(x, y):
    n = m.floor(y)
    return x * n + y, n


def constants(x, y):
    return math.pi * x * x + np.pi * y + G * 1e10 * x * y + math.e ** y


def constants_np(x, y):
    s = 0.0
    for k in range(N_TERMS):
        s += k * x
    return min(x, np.inf) * y + (1.0 if y < math.inf else 0.0) + s


def shadowed_aliases(x, y):
    _np = 2.0  # generated code then spells numpy _np_2, math _math_2, runtime _rt_2
    _math = 3.0
    _rt = 0.5
    return np.exp(x) * _np + math.sin(y) * _math + x ** y * _rt


def _closure(scale):
    def closure_constant(x, y):
        return scale * x * y + y
    return closure_constant


closure_constant = _closure(2.5)

def g(x):  # same_names.h calls its own g: both JVPs are named g_jvp
    return x * x


def same_helper_names(x, y):
    return g(x) * y + other_modules_h(x)


ARR = np.array([1.0, -2.0, 0.5])

# (function, arguments, wrt, the text of the call refused, or None: it lowers)
CASES = [
    (user_named_like_libm, (1.5, 2.0), ("x",), "exp(float(k))"),
    (user_named_like_libm, (1.5, 2.0), ("k",), None),  # both calls become helper JVPs
    (user_named_like_libm, (1.5, 2.0), None, None),
    (namespace_object, (1.5, 2.0), ("x",), "nslib.sin(k)"),
    (user_methods, (1.5, 2.0), ("x",), "stats.sum(y)"),
    (user_methods, (1.5, 2.0), ("y",), "stats.sum(y)"),
    (user_methods, (1.5, 2.0), None, "stats.sum(y)"),
    (user_max_method, (1.5, 2.0), ("x",), "stats.max(y, 2.0)"),
    (user_max_method, (1.5, 2.0), None, "stats.max(y, 2.0)"),
    (user_sum_method_of_array, (1.5, ARR), ("x",), "acc.sum(a)"),
    (user_sum_method_of_array, (1.5, ARR), None, "acc.sum(a)"),
    (user_sum_of_array, (1.5, ARR), ("x",), "stats.sum(a)"),
    (user_sum_of_array, (1.5, ARR), ("a",), "stats.sum(a)"),
    (user_sum_of_array, (1.5, ARR), None, "stats.sum(a)"),
    (libm_named_helper, (1.5, 2.0), ("x",), "sin(y)"),  # inactive: the user's sin itself
    (libm_named_helper, (1.5, 2.0), ("y",), "sin(x)"),
    (libm_named_helper, (1.5, 2.0), None, None),  # both active: helper JVPs
    (math_alias_floor, (1.5, 2.7), ("x",), None),
    (math_alias_floor, (1.5, 2.7), ("y",), None),
    (math_alias_floor, (1.5, 2.7), None, None),
    (constants, (1.5, 0.5), ("x",), None),
    (constants, (1.5, 0.5), ("y",), None),
    (constants, (1.5, 0.5), None, None),
    (constants_np, (1.5, 0.5), ("x",), None),
    (constants_np, (1.5, 0.5), ("y",), None),
    (constants_np, (1.5, 0.5), None, None),
    (same_helper_names, (1.5, 0.5), ("x",), None),  # each helper is found by object
    (same_helper_names, (1.5, 0.5), None, None),
    (shadowed_aliases, (1.5, 0.7), ("y",), None),
    (shadowed_aliases, (1.5, 0.7), None, None),
    (closure_constant, (1.5, 0.5), ("y",), None),
    (closure_constant, (1.5, 0.5), None, None),
]


def _ids(case):
    fn, _, wrt, _ = case
    return f"{fn.__name__}-{'+'.join(wrt) if wrt else 'all'}"


def _tangents(fn, args, wrt):
    params = list(inspect.signature(fn).parameters)
    names = wrt or params
    rng = np.random.default_rng(len(names))
    return names, tuple(rng.uniform(0.5, 1.5, np.shape(args[params.index(n)])) if
                        isinstance(args[params.index(n)], np.ndarray) else
                        float(rng.uniform(0.5, 1.5)) for n in names)


def _finite_difference(fn, args, names, tangents, h=1e-6):
    """Central differences of the plain function along the tangents."""
    params = list(inspect.signature(fn).parameters)

    def at(step):
        moved = list(args)
        for n, t in zip(names, tangents):
            i = params.index(n)
            moved[i] = args[i] + step * h * t
        out = fn(*moved)
        return out if isinstance(out, tuple) else (out,)

    return [(float(a) - float(b)) / (2 * h) for a, b in zip(at(1), at(-1))]


def _check(fn, args, names, result):
    value, tangent = result
    expected = fn(*args)
    values = value if isinstance(value, tuple) else (value,)
    tangents_out = tangent if isinstance(tangent, tuple) else (tangent,)
    for got, want in zip(values, expected if isinstance(expected, tuple) else (expected,)):
        assert type(got) is type(want) or isinstance(want, (float, np.floating)), (got, want)
        assert got == pytest.approx(want, rel=1e-13)
    fd = _finite_difference(fn, args, names, _tangents(fn, args, names)[1])
    for got, want in zip(tangents_out, fd):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-6)


def _line_of(fn, text):
    lines, start = inspect.getsourcelines(fn)
    return next(start + k for k, line in enumerate(lines) if text in line)


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_calls_lower_by_object_or_run_in_numpy_where_they_are(case):
    fn, args, wrt, refused = case
    names, tangents = _tangents(fn, args, wrt)
    native = forward_gradient(fn, wrt=wrt, backend="llvm")
    _check(fn, args, names, native.jvp(*args, tangents=tangents))
    if refused is None:
        assert "runs in one native kernel" in native.llvm_placement
        return
    # the call that is not what its name suggests runs in numpy (regions.py),
    # and the placement points at the user's line (settled after a first call)
    _check(fn, args, names, native.jvp(*args, tangents=tangents))
    kernel = native._last_kernel()
    assert (inspect.getsourcefile(fn), _line_of(fn, refused)) in kernel.numpy_origins()


def test_the_placement_names_what_the_call_resolved_to():
    native = forward_gradient(user_named_like_libm, wrt=("x",), backend="llvm")
    native.jvp(1.5, 2.0, tangents=(1.0,))
    assert re.search(r"`exp` \(which is .*\.exp\)", native.llvm_ir)


def test_math_floor_through_an_alias_is_an_int():
    value, _ = forward_gradient(math_alias_floor, backend="llvm").jvp(1.5, 2.7,
                                                                     tangents=(1.0, 1.0))
    assert value == (1.5 * 2 + 2.7, 2) and type(value[1]) is int


def test_module_constants_are_read_when_the_kernel_is_compiled():
    global G
    native = forward_gradient(constants, backend="llvm")
    first = native.jvp(1.5, 0.5, tangents=(1.0, 0.0))
    old, G = G, 2 * G
    try:
        assert native.jvp(1.5, 0.5, tangents=(1.0, 0.0)) == first  # documented snapshot
    finally:
        G = old


def test_a_constant_that_is_not_a_number_runs_in_numpy():
    def uses_an_array_global(x):
        return x * np.sum(ARR)

    f = forward_gradient(uses_an_array_global, backend="llvm")
    assert f.jvp(1.0, tangents=(1.0,)) == pytest.approx((np.sum(ARR), np.sum(ARR)), rel=1e-15)
    assert "`ARR` is a ndarray" in f.llvm_ir


def test_min_max_of_numpy_on_numbers_is_not_the_builtin():
    def numpy_max_with_an_axis(x, y):
        return np.max(x, 0) * y

    # np.max(x, 0) means axis=0: never the builtin max (which would give max(x, 0))
    args = (-1.5, 2.0)
    native = forward_gradient(numpy_max_with_an_axis, backend="llvm")
    assert native.jvp(*args, tangents=(1.0, 1.0)) == \
        forward_gradient(numpy_max_with_an_axis).jvp(*args, tangents=(1.0, 1.0))
    assert native.jvp(*args, tangents=(1.0, 1.0))[0] == -3.0


