"""The fence: unsupported constructs are rejected with a located, readable
error; jvp rejects malformed tangents with a ValueError naming the parameter."""

import contextlib
import inspect
import math

import numpy as np
import pytest

fwdcompile = pytest.importorskip("fwdcompile")
from fwdcompile import FwdcompileError, UnsupportedSyntax, forward_gradient  # noqa: E402

COUNTER = 0


class Point:
    def __init__(self, x):
        self.x = x


# --------------------------------------------------------------------------
# functions outside the supported subset; the marker comment is on the line
# the error must point to
# --------------------------------------------------------------------------

def with_class(x):
    y = x * 2.0
    class Inner:  # <- here
        scale = 2.0
    return y * Inner.scale


def with_lambda(x):
    pair = sorted([x, 1.0], key=lambda t: -t)  # <- here
    return pair[0] * x


def with_try(x):
    y = x + 1.0
    try:  # <- here
        y = math.log(x)
    except ValueError:
        y = 0.0
    return y


def with_global(x):
    global COUNTER  # <- here
    COUNTER += 1
    return x * 2.0


def with_yield(x):
    for i in range(3):
        yield x * i  # <- here


def with_nested_def(x):
    if x > 0:
        def inner(t):  # <- here
            return t * x
        return inner(x) + 1.0
    return x


def with_with(x):
    y = x * x
    with contextlib.suppress(FloatingPointError):  # <- here
        y = np.log(y)
    return y


def with_eigvals(A):
    B = A @ A.T
    w = np.linalg.eigvals(B)  # <- here (general eigenvalues: no rule; eigh has one)
    return np.sum(w * w)


def with_comprehension(x):
    n = len(x)
    ys = [x[0]] if n < 2 else [x[i] * x[i] for i in range(n)]  # <- here
    return np.sum(np.array(ys))


def with_async_style_del(x):
    y = x * 2.0
    del y  # <- here
    return x


def with_import(x):
    import cmath  # <- here
    return x * cmath.pi


def with_walrus(x):
    if (y := x * 2.0) > 1.0:  # <- here
        return y
    return x


def with_attribute_store(x):
    p = Point(1.0)
    p.x = x * 2.0  # <- here
    return x


def with_star_args(*xs):  # <- here
    return xs[0] * 2.0


def with_for_else(x):
    s = 0.0
    for i in range(3):  # <- here
        s += x * i
    else:
        s += 1.0
    return s


def with_match(x, n):
    match n:  # <- here
        case 1:
            return x
        case _:
            return 2.0 * x


def _marked_line(fn, marker="# <- here"):
    lines, start = inspect.getsourcelines(fn)
    hits = [i for i, line in enumerate(lines) if marker in line]
    assert len(hits) == 1
    return start + hits[0], lines[hits[0]]


def _check_location(exc, fn, keyword):
    lineno, line = _marked_line(fn)
    assert exc.lineno == lineno, f"lineno {exc.lineno}, expected {lineno}"
    assert exc.filename is not None and exc.filename.endswith("test_errors.py")
    assert exc.source_line is not None
    assert exc.source_line.strip() == line.rstrip("\n").strip()
    # col points at the construct (0-based, like ast.col_offset)
    assert exc.col is not None
    assert keyword in exc.source_line[exc.col:].split("#")[0], \
        f"col {exc.col} does not point at {keyword!r} in {exc.source_line!r}"
    text = str(exc)
    assert line.split("#")[0].strip() in text
    assert "^" in text
    # the caret is under the construct in the rendered line
    rendered = text.splitlines()
    for i, row in enumerate(rendered[:-1]):
        if row.strip() == exc.source_line.strip() and rendered[i + 1].strip() == "^":
            caret = rendered[i + 1].index("^")
            assert keyword in row[caret:], f"caret under {row[caret:]!r}, expected {keyword!r}"
            break
    else:
        pytest.fail(f"no caret line under the source line in:\n{text}")


FENCE = [
    # function, error type, words one of which the message must contain, token at col
    (with_class, UnsupportedSyntax, ("class",), "class"),
    (with_lambda, UnsupportedSyntax, ("lambda",), "lambda"),
    (with_try, UnsupportedSyntax, ("try",), "try"),
    (with_global, UnsupportedSyntax, ("global",), "global"),
    (with_yield, UnsupportedSyntax, ("yield", "generator"), "yield"),
    (with_nested_def, UnsupportedSyntax, ("nested", "def"), "def"),
    (with_with, UnsupportedSyntax, ("with",), "with"),
    (with_async_style_del, UnsupportedSyntax, ("del",), "del"),
    (with_import, UnsupportedSyntax, ("import",), "import"),
    (with_walrus, UnsupportedSyntax, (":=", "assignment expression"), "y :="),
    (with_attribute_store, UnsupportedSyntax, ("attribute",), "p.x"),
    (with_for_else, UnsupportedSyntax, ("else",), "for"),
    (with_match, UnsupportedSyntax, ("match",), "match"),
]


@pytest.mark.parametrize("fn, error, words, token", FENCE, ids=[f[0].__name__ for f in FENCE])
def test_fence_rejects_at_decoration(fn, error, words, token):
    with pytest.raises(error) as info:
        forward_gradient(fn)
    exc = info.value
    assert isinstance(exc, FwdcompileError)
    message = str(exc).lower()
    assert any(w in message for w in words), f"message does not mention {words}: {exc}"
    _check_location(exc, fn, token)
    assert isinstance(exc.hint, (str, type(None)))


@pytest.mark.parametrize("fn", [f[0] for f in FENCE if f[0] is not with_match],
                         ids=[f[0].__name__ for f in FENCE if f[0] is not with_match])
def test_fence_rejects_with_explicit_wrt_too(fn):
    with pytest.raises(UnsupportedSyntax):
        forward_gradient(wrt=(0,))(fn)


def test_main_constructs_have_hints():
    for fn in (with_class, with_lambda, with_try, with_global, with_yield, with_nested_def,
               with_with):
        with pytest.raises(UnsupportedSyntax) as info:
            forward_gradient(fn)
        assert isinstance(info.value.hint, str) and info.value.hint.strip(), fn.__name__
        assert "hint" in str(info.value).lower()


def test_star_args_rejected():
    with pytest.raises(UnsupportedSyntax) as info:
        forward_gradient(with_star_args)
    exc = info.value
    lineno, _ = _marked_line(with_star_args)
    assert exc.lineno == lineno
    assert "*" in str(exc) and "^" in str(exc)


def test_no_rule_rejected_at_decoration_with_explicit_wrt():
    with pytest.raises(FwdcompileError) as info:
        forward_gradient(wrt=("A",))(with_eigvals)
    exc = info.value
    assert "eigvals" in str(exc)
    _check_location(exc, with_eigvals, "np.linalg.eigvals")


def test_no_rule_rejected_at_first_jvp_with_implicit_wrt():
    try:
        f = forward_gradient(with_eigvals)
    except FwdcompileError as exc:  # rejecting early is allowed too
        assert "eigvals" in str(exc)
        _check_location(exc, with_eigvals, "np.linalg.eigvals")
        return
    A = np.eye(3) + 0.1 * np.arange(9.0).reshape(3, 3)
    assert f(A) == with_eigvals(A)  # the primal still works
    with pytest.raises(FwdcompileError) as info:
        f.jvp(A, tangents=(np.ones((3, 3)),))
    assert "eigvals" in str(info.value)
    _check_location(info.value, with_eigvals, "np.linalg.eigvals")


def test_comprehension_carrying_derivatives_rejected():
    # in a branch of `a if c else b` it cannot move before its statement (it
    # may not run), so a comprehension that computes a derivative there is an error
    x = np.array([1.0, 2.0, 3.0])
    try:
        f = forward_gradient(with_comprehension)
        f.jvp(x, tangents=(np.ones(3),))
    except FwdcompileError as exc:
        assert "comprehension" in str(exc).lower()
        assert "statement of its own" in str(exc)
        _check_location(exc, with_comprehension, "[x[i]")
    else:
        pytest.fail("a list comprehension over differentiable values must be rejected")


def test_errors_are_picklable():
    import pickle
    with pytest.raises(UnsupportedSyntax) as info:
        forward_gradient(with_lambda)
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is UnsupportedSyntax
    assert (again.lineno, again.col, again.source_line) == \
        (info.value.lineno, info.value.col, info.value.source_line)
    assert str(again) == str(info.value)


# --------------------------------------------------------------------------
# jvp input errors
# --------------------------------------------------------------------------

def scaled_sum(weights, x, n):
    return np.sum(weights * np.sin(x)) * n


def _args():
    return np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.2, 0.3]), 2


@pytest.mark.parametrize("warm", [False, True], ids=["first_call", "after_a_good_call"])
def test_tangent_shape_mismatch_names_parameter(warm):
    f = forward_gradient(scaled_sum)
    w, x, n = _args()
    if warm:
        f.jvp(w, x, n, tangents=(np.ones(3), np.ones(3)))
    with pytest.raises(ValueError, match=r"\bx\b") as info:
        f.jvp(w, x, n, tangents=(np.ones(3), np.ones(4)))
    assert "shape" in str(info.value)
    with pytest.raises(ValueError, match=r"\bweights\b"):
        f.jvp(w, x, n, tangents=(np.ones((3, 1)), np.ones(3)))
    with pytest.raises(ValueError, match=r"\bweights\b"):
        f.jvp(w, x, n, tangents=(1.0, np.ones(3)))


@pytest.mark.parametrize("warm", [False, True], ids=["first_call", "after_a_good_call"])
def test_integer_tangent_array_names_parameter(warm):
    f = forward_gradient(scaled_sum)
    w, x, n = _args()
    if warm:
        f.jvp(w, x, n, tangents=(np.ones(3), np.ones(3)))
    with pytest.raises(ValueError, match=r"\bx\b"):
        f.jvp(w, x, n, tangents=(np.ones(3), np.array([1, 0, 0])))
    with pytest.raises(ValueError, match=r"\bweights\b"):
        f.jvp(w, x, n, tangents=(np.array([1, 2, 3], dtype=np.int32), np.ones(3)))


@pytest.mark.parametrize("warm", [False, True], ids=["first_call", "after_a_good_call"])
def test_wrong_number_of_tangents(warm):
    f = forward_gradient(scaled_sum)
    w, x, n = _args()
    if warm:
        f.jvp(w, x, n, tangents=(np.ones(3), np.ones(3)))
    with pytest.raises(ValueError):
        f.jvp(w, x, n, tangents=(np.ones(3),))
    with pytest.raises(ValueError):
        f.jvp(w, x, n, tangents=(np.ones(3), np.ones(3), np.ones(3)))


def scalar_pair(x, y):
    return x * math.exp(y)


@pytest.mark.parametrize("warm", [False, True], ids=["first_call", "after_a_good_call"])
def test_scalar_argument_with_array_tangent(warm):
    f = forward_gradient(scalar_pair)
    if warm:
        f.jvp(1.0, 2.0, tangents=(1.0, 0.0))
    with pytest.raises(ValueError, match=r"\by\b"):
        f.jvp(1.0, 2.0, tangents=(1.0, np.ones(2)))
    with pytest.raises(ValueError):
        f.jvp(1.0, 2.0, tangents=(1.0,))


def test_explicit_wrt_errors():
    f = forward_gradient(wrt=("x",))(scaled_sum)
    w, x, n = _args()
    with pytest.raises(ValueError, match=r"\bx\b"):
        f.jvp(w, x, n, tangents=(np.ones(2),))
    with pytest.raises(ValueError):
        f.jvp(w, x, n, tangents=(np.ones(3), np.ones(3)))
    with pytest.raises((ValueError, TypeError)):
        forward_gradient(wrt=("nope",))(scaled_sum)


# --------------------------------------------------------------------------
# custom_jvp: rules for functions without source
# --------------------------------------------------------------------------

@fwdcompile.custom_jvp(np.linalg.eigvalsh)
def _eigvalsh_rule(primals, tangents):
    (A,), (dA,) = primals, tangents
    w, V = np.linalg.eigh(A)
    return w, np.einsum("ji,jk,ki->i", V, dA, V)


def top_eigenvalue(A, s):
    S = 0.5 * (A + A.T)
    w = np.linalg.eigvalsh(S)
    return w[-1] * s + np.sum(w ** 2)


def test_custom_jvp_rule_is_used():
    import oracle
    rng = np.random.default_rng(3)
    A = np.diag([1.0, 2.0, 3.5]) + 0.1 * rng.standard_normal((3, 3))
    dA, ds = rng.standard_normal((3, 3)), 0.7
    f = forward_gradient(top_eigenvalue)
    val, dval = f.jvp(A, 1.5, tangents=(dA, ds))
    assert val == pytest.approx(top_eigenvalue(A, 1.5), rel=1e-14)
    ref, _ = oracle.jvp_reference(top_eigenvalue, (A, 1.5), [0, 1], (dA, ds))
    assert dval == pytest.approx(ref, rel=1e-7, abs=1e-7)


CALLS = []


@fwdcompile.custom_jvp(math.dist)
def _dist_rule(primals, tangents):
    p, q = primals
    dp, dq = tangents
    CALLS.append([np.array(t, dtype=float) for t in tangents])
    z = math.dist(p, q)
    diff = np.asarray(p, dtype=float) - np.asarray(q, dtype=float)
    return z, float(diff @ (np.asarray(dp, dtype=float) - np.asarray(dq, dtype=float))) / z


def distance_to(p, q):
    return math.dist(p, q) * 2.0


def test_custom_jvp_inactive_argument_gets_zero_tangent():
    p, q = np.array([1.0, 2.0]), np.array([4.0, 6.0])
    f = forward_gradient(wrt=("p",))(distance_to)
    CALLS.clear()
    val, dval = f.jvp(p, q, tangents=(np.array([1.0, 0.0]),))
    assert val == pytest.approx(10.0)
    assert dval == pytest.approx(2.0 * (-3.0 / 5.0))
    assert CALLS, "the custom rule was not called"
    np.testing.assert_array_equal(CALLS[-1][1], 0.0)


# --------------------------------------------------------------------------
# locations in less simple places
# --------------------------------------------------------------------------

def _helper_with_try(x):
    y = x * 2.0
    try:  # <- here
        y = y + 1.0
    except ZeroDivisionError:
        pass
    return y


def calls_bad_helper(x):
    return _helper_with_try(x) + x


def _unused_decorator(*a, **k):
    return lambda fn: fn


@_unused_decorator(
    "several",
    lines=True,
)
def decorated_then_bad(x):
    y = x + 1.0
    ys = sorted([y, 2.0], key=lambda t: t)  # <- here
    return ys[0]


def with_generator_expression(x):
    n = len(x)
    terms = (x[i] ** 2 for i in range(n))  # <- here
    return sum(terms)


def test_error_inside_a_helper_points_into_the_helper():
    x = 0.5
    try:
        f = forward_gradient(calls_bad_helper)
        f.jvp(x, tangents=(1.0,))
    except UnsupportedSyntax as exc:
        assert "try" in str(exc).lower()
        _check_location(exc, _helper_with_try, "try")
    else:
        pytest.fail("the helper's try/except must be rejected")


def test_error_inside_a_helper_with_explicit_wrt_at_decoration():
    with pytest.raises(UnsupportedSyntax) as info:
        forward_gradient(wrt=("x",))(calls_bad_helper)
    _check_location(info.value, _helper_with_try, "try")


def test_lineno_is_right_below_a_multiline_decorator():
    with pytest.raises(UnsupportedSyntax) as info:
        forward_gradient(decorated_then_bad)
    _check_location(info.value, decorated_then_bad, "lambda")


def test_generator_expression_carrying_derivatives():
    x = np.array([1.0, 2.0])
    try:
        f = forward_gradient(with_generator_expression)
        f.jvp(x, tangents=(np.ones(2),))
    except FwdcompileError as exc:
        # a generator kept in a variable is not made a list (it could be consumed twice)
        _check_location(exc, with_generator_expression, "(x[i]")
    else:
        pytest.fail("a generator expression over differentiated values must be rejected")


def test_lambda_object_is_differentiated():
    f = forward_gradient(lambda x: x * x)
    assert f.jvp(1.5, tangents=(1.0,)) == (2.25, 3.0)


_twins = (lambda x: x * x, lambda x: 2.0 * x)  # two candidates on one line


def test_ambiguous_lambda_is_rejected():
    with pytest.raises(FwdcompileError, match="lambda"):
        forward_gradient(_twins[0])


class Holder:
    @staticmethod
    def indented_bad(x):
        for _ in range(2):
            with contextlib.suppress(FloatingPointError):  # <- here
                x = x * 2.0
        return x


def test_location_in_an_indented_definition():
    with pytest.raises(UnsupportedSyntax) as info:
        forward_gradient(Holder.indented_bad)
    _check_location(info.value, Holder.indented_bad, "with")


def test_function_defined_inside_a_function_is_fine():
    scale = 3.0

    def local_fn(x):
        return math.sin(x) * scale

    val, dval = forward_gradient(local_fn).jvp(0.3, tangents=(1.0,))
    assert val == local_fn(0.3)
    assert dval == pytest.approx(math.cos(0.3) * scale, rel=1e-14)


class Model:
    def __init__(self, X, y):
        self.X, self.y = X, y

    def loss(self, w):
        r = self.X @ w - self.y
        return 0.5 * r @ r


def test_bound_method():
    rng = np.random.default_rng(0)
    m = Model(rng.standard_normal((5, 3)), rng.standard_normal(5))
    w, dw = rng.standard_normal(3), rng.standard_normal(3)
    f = forward_gradient(m.loss)
    val, dval = f.jvp(w, tangents=(dw,))
    assert val == pytest.approx(m.loss(w), rel=1e-14)
    assert dval == pytest.approx((m.X @ w - m.y) @ (m.X @ dw), rel=1e-12)


class DecoratedModel:
    def __init__(self, X, y):
        self.X, self.y = X, y

    @forward_gradient(wrt=("w",))
    def loss(self, w):
        r = self.X @ w - self.y
        return 0.5 * r @ r


def test_decorated_method():
    rng = np.random.default_rng(1)
    m = DecoratedModel(rng.standard_normal((5, 3)), rng.standard_normal(5))
    w, dw = rng.standard_normal(3), rng.standard_normal(3)
    assert m.loss(w) == pytest.approx(0.5 * np.sum((m.X @ w - m.y) ** 2), rel=1e-14)
    val, dval = m.loss.jvp(w, tangents=(dw,))
    assert dval == pytest.approx((m.X @ w - m.y) @ (m.X @ dw), rel=1e-12)


def _mul2(a, b):
    return a * b


def _star_name_call(x, y):
    pair = [x, y]  # a list may change length (a tuple literal is spelled out: test_language)
    return _mul2(*pair)


def _double_star_name_call(x, y):
    kw = {"a": x, "b": y}
    return _mul2(**kw)


@pytest.mark.parametrize("fn, text", [(_star_name_call, "*args"),
                                      (_double_star_name_call, "**kwargs")])
def test_unpacking_a_variable_into_a_call_is_a_located_error(fn, text):
    f = forward_gradient(fn)
    with pytest.raises(UnsupportedSyntax) as info:
        f.jvp(0.5, 0.7, tangents=(1.0, 0.0))
    lines, start = inspect.getsourcelines(fn)
    assert info.value.lineno == start + 2
    assert text in str(info.value) and "^" in str(info.value)


# helpers defined inside the function are lifted and differentiated


def with_local_helpers(theta, y0):
    rhs = lambda y: -theta * y
    def step(y, h):
        return y + h * rhs(y)
    y = y0
    for _ in range(5):
        y = step(y, 0.1)
    return y


def test_local_helpers_are_differentiated():
    f = forward_gradient(with_local_helpers)
    val, dval = f.jvp(0.7, 1.3, tangents=(1.0, 0.5))
    assert val == pytest.approx(with_local_helpers(0.7, 1.3), rel=1e-14)
    h = 1e-6
    fd = (with_local_helpers(0.7 + h, 1.3 + 0.5 * h)
          - with_local_helpers(0.7 - h, 1.3 - 0.5 * h)) / (2 * h)
    assert dval == pytest.approx(fd, rel=1e-7)
    assert "def rhs_jvp(y, theta" in f.source


def _local_helper_as_value(x):
    def g(t):
        return t * x
    return list(map(g, [x]))[0]  # <- here


def test_local_helper_used_as_a_value_is_rejected():
    with pytest.raises(UnsupportedSyntax) as info:
        forward_gradient(_local_helper_as_value)
    lines, start = inspect.getsourcelines(_local_helper_as_value)
    assert info.value.lineno == start + 3
    assert "used as a value" in str(info.value)


def _writes_half(u, v):
    u += v / 2.0
    return 0.0


def _writing_helper_inside_an_expression(a, b):
    t = 1.0 + _writes_half(b, a)  # noqa: F841  # <- here
    return b * 2.0


def test_a_writing_helper_inside_an_expression_is_a_located_error():
    # its result is not differentiated but what it writes into b is: the helper's
    # JVP must run, which the transform does for a call standing alone
    f = forward_gradient(_writing_helper_inside_an_expression)
    with pytest.raises(UnsupportedSyntax) as info:
        f.jvp(np.ones(2), np.ones(2), tangents=(np.ones(2), np.ones(2)))
    _check_location(info.value, _writing_helper_inside_an_expression, "_writes_half")
    assert "its own statement" in str(info.value)
