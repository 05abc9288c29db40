"""Desugared constructs (frontend/desugar.py) and ``with np.errstate``: what
moves, what stays, what the backends say.  Derivatives of the corpus cases in
tests/corpus/language.py are checked against finite differences by
test_corpus, test_wrt_subsets and test_vector_mode; these tests pin the rest."""

import functools

import numpy as np
import pytest

import oracle

fwdcompile = pytest.importorskip("fwdcompile")
from fwdcompile import FwdcompileError, UnsupportedSyntax, forward_gradient  # noqa: E402

X = np.array([[0.3, -0.7, 1.1], [0.5, 0.2, -0.4]])


def _fd_check(fn, args, wrt):
    names = list(fn.__code__.co_varnames[:fn.__code__.co_argcount])
    active = [names.index(w) for w in wrt]
    rng = np.random.default_rng(1)
    tangents = tuple(rng.standard_normal(np.shape(args[i])) for i in active)
    f = forward_gradient(fn, wrt=wrt)
    value, tangent = f.jvp(*args, tangents=tangents)
    np.testing.assert_allclose(value, fn(*args), rtol=1e-12)
    ref, _ = oracle.jvp_reference(fn, args, active, tangents)
    ok, worst = oracle.close(tangent, ref, rtol=1e-7)
    assert ok, worst
    # vector mode: falls back to one JVP per direction, with the same numbers
    k_tangents = tuple(np.stack([t, 2.0 * t, -t]) for t in tangents)
    _, batched = f.jvp(*args, tangents=k_tangents, batched=True)
    for j, scale in enumerate((1.0, 2.0, -1.0)):
        np.testing.assert_allclose(batched[j], scale * np.asarray(tangent), rtol=1e-12,
                                   atol=1e-14)
    return f


def loop_variable_reused(X, x):
    a = [np.sin(x) * 2.0 for x in X]  # x is the parameter outside, a row inside
    return np.sum(np.stack(a)) * np.sum(x)


def nested_same_name(X):
    rows = [[v * v for v in row] + [np.sum(row) ** 2 for row in [row]] for row in X]
    return sum(sum(r) for r in rows)


def multiple_generators(X, w):
    return sum(w * a * b for a in X[0] for b in X[1] if a > b)


def comprehension_in_if_test(X, w):
    if sum(v for v in X[0]) > 0:
        return w * sum([np.cos(v) for v in X[1]])
    return w


def static_comprehension_in_while(X, w):
    i = 0
    total = 0.0
    while i < len([v for v in X[0] if v > 0]):  # evaluated at every test: stays
        total = total + w * X[0, i]
        i += 1
    return total


def reads_itself(X, w):
    terms = [w * r for r in X]
    terms = [t * t for t in terms]
    return np.sum(np.stack(terms))


@pytest.mark.parametrize("fn, args, wrt", [
    (loop_variable_reused, (X, 0.4), ("X",)),
    (loop_variable_reused, (X, 0.4), ("x",)),
    (loop_variable_reused, (X, 0.4), ("X", "x")),
    (nested_same_name, (X,), ("X",)),
    (multiple_generators, (X, 1.5), ("X",)),
    (multiple_generators, (X, 1.5), ("w",)),
    (comprehension_in_if_test, (X, 1.5), ("X", "w")),
    (static_comprehension_in_while, (X, 1.5), ("X", "w")),
    (reads_itself, (X, 1.5), ("X", "w")),
])
def test_against_finite_differences(fn, args, wrt):
    _fd_check(fn, args, wrt)


def test_loop_variables_do_not_leak():
    source = forward_gradient(loop_variable_reused).source
    assert "for x_0, d_x_0 in zip(X, d_X)" in source
    assert "_np.sum(x)" in source or "np.sum(x)" in source


def test_comprehension_in_while_test_stays():
    source = forward_gradient(static_comprehension_in_while).source
    assert "while i < len([v for v in X[0] if v > 0])" in source


def test_one_comment_per_statement():
    source = forward_gradient(multiple_generators).source
    assert source.count("# return sum(w * a * b") == 1


def test_native_backend_runs_desugared_code():
    from corpus.language import comp_sum_generator, errstate_log
    for fn, args in ((comp_sum_generator, (X, 1.5)), (errstate_log, (np.ones(3), 1.5))):
        tangents = tuple(np.ones_like(np.asarray(a)) for a in args)
        got = forward_gradient(fn, backend="llvm").jvp(*args, tangents=tangents)
        want = forward_gradient(fn).jvp(*args, tangents=tangents)
        np.testing.assert_allclose(got, want, rtol=1e-12)


def other_with(x):
    import_free = open  # noqa: F841 (the with below is what matters)
    with open("/dev/null") as fh:
        y = x * 2.0 + len(fh.name)
    return y


def test_other_with_blocks_are_rejected():
    with pytest.raises(UnsupportedSyntax) as info:
        forward_gradient(other_with)
    assert "np.errstate" in str(info.value)
    assert info.value.source_line.strip().startswith("with open")


def generator_after_or(x, flag):
    return flag or sum(v * v for v in x)


def test_generator_on_the_right_of_or_is_not_moved():
    # moving it would run it when `flag` is true; it computes a derivative, so
    # the transform says what to write instead
    with pytest.raises(FwdcompileError) as info:
        f = forward_gradient(generator_after_or, wrt=("x",))
        f.jvp(np.ones(2), 0.0, tangents=(np.ones(2),))
    assert "statement of its own" in str(info.value) or "and`/`or" in str(info.value)


# ---------------------------------------------------------------- functools.partial, f(*xs)

def scaled_sum(x, shift, scale=1.0):
    return np.sum(np.tanh(x * scale + shift))


@fwdcompile.forward_gradient
def decorated_scaled(x, scale=1.0):
    return np.sin(x) * scale


GLOBAL_PARTIAL = functools.partial(scaled_sum, shift=np.array([0.1, -0.2, 0.3]), scale=1.5)
GLOBAL_DECORATED = functools.partial(decorated_scaled, scale=-2.0)


def local_partial(x, w):
    g = functools.partial(scaled_sum, w, scale=2.0)  # w is a differentiated argument
    h = functools.partial(decorated_scaled, scale=w)
    w = w * 3.0  # the partial keeps the value w had when it was made
    return g(x) + g(x * x, scale=0.5) + np.sum(h(x)) * w


def global_partials(x, w):
    return GLOBAL_PARTIAL(x * w) + np.sum(GLOBAL_DECORATED(x))


def star_tuple(x, w):
    args = (x, w)
    return scaled_sum(*args) * scaled_sum(*args, scale=w)


V = np.array([0.3, -0.5, 0.8])


@pytest.mark.parametrize("fn, wrt", [
    (local_partial, ("x",)), (local_partial, ("w",)), (local_partial, ("x", "w")),
    (global_partials, ("x",)), (global_partials, ("x", "w")),
    (star_tuple, ("w",)), (star_tuple, ("x", "w")),
])
def test_partial_and_star_against_finite_differences(fn, wrt):
    _fd_check(fn, (V, 0.7), wrt)


def test_partial_source_reads_like_the_call():
    source = forward_gradient(local_partial).source
    assert "g_scale" not in source  # a constant stays inline
    assert "h_scale = w" in source  # the value w had when the partial was made
    assert "g_x = w" in source


def partial_as_value(x):
    g = functools.partial(scaled_sum, shift=0.0)
    return sum(map(g, [x]))


def test_partial_used_as_a_value_is_located():
    with pytest.raises(UnsupportedSyntax) as info:
        forward_gradient(partial_as_value)
    assert "used as a value" in str(info.value)
    assert "map(g" in info.value.source_line


# ---------------------------------------------------------------- functions passed to helpers

def _square(z):
    return z * z


def apply(f, x, scale=2.0):
    return scale * f(x)


def apply_twice(g, x):
    return apply(g, x) + g(x)  # passes the function on


def with_lambda_argument(x, w):
    return np.sum(apply(lambda z: z * w, x) + apply_twice(lambda z: np.sin(z) * w, x))


def with_named_functions(x, w):
    g = lambda z: z * w
    def h(z):
        return np.cos(z) * w
    return np.sum(apply(g, x) + apply(h, x, scale=w) + apply(np.tanh, x) + apply(_square, x))


@pytest.mark.parametrize("fn, wrt", [
    (with_lambda_argument, ("x",)), (with_lambda_argument, ("w",)),
    (with_lambda_argument, ("x", "w")),
    (with_named_functions, ("x",)), (with_named_functions, ("w",)),
    (with_named_functions, ("x", "w")),
])
def test_function_arguments_against_finite_differences(fn, wrt):
    _fd_check(fn, (V, 0.7), wrt)


def test_the_helper_is_compiled_for_the_function_it_receives():
    source = forward_gradient(with_named_functions).source
    assert "def apply_tanh(x_" in source and "np.tanh(x_" in source
    assert "def apply_g(" in source


def calls_other_module(x):
    return apply_elsewhere(np.sin, x)  # noqa: F821 (bound by the test below)


def test_helper_of_another_module_receiving_a_function_is_a_clear_error():
    import usercode.higher_order as other
    globals()["apply_elsewhere"] = other.apply_elsewhere
    f = forward_gradient(calls_other_module)
    with pytest.raises(UnsupportedSyntax) as info:
        f.jvp(V, tangents=(V,))
    assert "holds a function" in str(info.value)
    assert info.value.hint and "same module" in info.value.hint


def hidden_outer_variable(x, w):
    def g(z):
        return z * w
    def h(w):
        return g(w)  # g reads the outer w, but h has its own
    return h(x)


def test_a_helper_hiding_an_outer_variable_its_callee_reads_is_located():
    with pytest.raises(UnsupportedSyntax) as info:
        forward_gradient(hidden_outer_variable)
    assert "has its own `w`" in str(info.value)
    assert "def h(w)" in info.value.source_line


class Dense:
    """A layer whose methods are plain numeric code."""
    scale = 0.5

    def __init__(self, W, b, gain=1.0):
        self.W = W
        self.b = b * gain

    def __call__(self, x):
        return np.tanh(self.pre(x)) * self.scale

    def pre(self, x):
        return self.W @ x + self.b


def with_layers(W, b, x):
    layer = Dense(W, b)
    other = Dense(W.T, b, gain=2.0)
    return np.sum(other(layer(x))) + np.sum(layer.W) + np.sum(layer.pre(x))


RNG = np.random.default_rng(3)
W3, B3 = RNG.standard_normal((3, 3)), RNG.standard_normal(3)


@pytest.mark.parametrize("wrt", [("W",), ("b",), ("x",), ("W", "b", "x")])
def test_objects_made_inside_against_finite_differences(wrt):
    _fd_check(with_layers, (W3, B3, V), wrt)


def test_methods_are_compiled_with_the_attributes_as_parameters():
    source = forward_gradient(with_layers).source
    assert "def Dense_call(x_" in source and "self_W, self_b)" in source
    assert "* 0.5" in source  # the class attribute, a number


class Checked:
    def __init__(self, W):
        if W.ndim != 2:  # __init__ does more than set attributes: a located error
            raise ValueError("W must be a matrix")
        self.W = W

    def __call__(self, x):
        return self.W @ x


def makes_an_object(W, b, x):
    layer = Checked(W)
    return np.sum(layer(x))


def keeps_the_object(W, b, x):
    layer = Dense(W, b)
    return np.sum(layer(x)), layer
def test_class_made_inside_has_a_hint():
    with pytest.raises(UnsupportedSyntax) as info:  # compiled when decorated, wrt given
        f = forward_gradient(makes_an_object, wrt=("W",))
        f.jvp(np.eye(3), V, V, tangents=(np.eye(3),))
    assert "Checked" in str(info.value) and "module level" in info.value.hint
    assert "Checked(W)" in info.value.source_line


def test_an_object_used_as_a_value_is_located():
    with pytest.raises(UnsupportedSyntax) as info:
        forward_gradient(keeps_the_object)
    assert "other than by reading its attributes" in str(info.value)
    assert "return np.sum(layer(x)), layer" in info.value.source_line


# ---------------------------------------------------------------- *args forwarding

def _scaled(x, scale=1.0):
    return np.sin(x) * scale


def forward_args(*args):
    return _scaled(*args)


def sum_of_squares(*xs):
    s = 0.0
    for v in xs:
        s = s + np.sum(v ** 2)
    return s * len(xs)


def with_star_args_helpers(x, w):
    pair = (x, w)
    return np.sum(forward_args(x, w) + forward_args(x)) + sum_of_squares(x, w * x, 3.0) \
        + np.sum(forward_args(*pair))


@pytest.mark.parametrize("wrt", [("x",), ("w",), ("x", "w")])
def test_star_args_helpers_against_finite_differences(wrt):
    _fd_check(with_star_args_helpers, (V, 0.7), wrt)


def test_star_args_helper_copies_are_named_by_arity():
    source = forward_gradient(with_star_args_helpers).source
    assert "def forward_args_2(args_0, args_1)" in source
    assert "def forward_args_1(args_0)" in source


def star_args_entry(*args):
    return args[0] * 2.0


def test_star_args_of_the_differentiated_function_say_what_to_write():
    with pytest.raises(UnsupportedSyntax) as info:
        forward_gradient(star_args_entry)
    assert "def fwd(*args)" in info.value.hint


def keeps_the_function(f, x):
    return (f, x)


def lambda_kept_as_a_value(x):
    pair = keeps_the_function(lambda z: z * 2.0, x)
    return pair[1]


def test_a_lambda_kept_by_the_helper_is_located_at_the_call():
    with pytest.raises(UnsupportedSyntax) as info:
        forward_gradient(lambda_kept_as_a_value)
    assert "other than by calling it" in str(info.value)
    assert "keeps_the_function(lambda" in info.value.source_line


def _with_try(f, x):
    try:
        return f(x)
    except ValueError:
        return x


def passes_to_a_helper_with_try(x):
    return _with_try(np.sin, x)


def test_errors_in_a_helpers_copy_point_into_the_helper():
    with pytest.raises(UnsupportedSyntax) as info:
        forward_gradient(passes_to_a_helper_with_try)
    assert info.value.source_line.strip() == "try:"


def _native_cases():
    return [(with_named_functions, (V, 0.7)), (local_partial, (V, 0.7)),
            (global_partials, (V, 0.7)), (with_layers, (W3, B3, V)),
            (with_star_args_helpers, (V, 0.7))]


@pytest.mark.parametrize("index", range(5))
def test_native_backend_gives_the_python_backends_numbers_or_refuses(index):
    pytest.importorskip("llvmlite")
    fn, args = _native_cases()[index]
    tangents = tuple(np.full(np.shape(a), 0.3) for a in args)
    expected = forward_gradient(fn).jvp(*args, tangents=tangents)
    try:
        native = forward_gradient(fn, backend="llvm")
        got = native.jvp(*args, tangents=tangents)
    except FwdcompileError as exc:  # refusing is allowed, with a location
        assert exc.lineno is not None and "native" in str(exc)
        return
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def _weighted(f, v):
    t = sum(f(v) * u for v in range(1, 3) for u in (1.0, 2.0))  # this v hides the parameter
    return t * np.sum(v)


def comprehension_in_a_helpers_copy(x):
    return _weighted(np.sin, x)


def test_comprehension_in_a_helpers_copy_keeps_its_variables_apart():
    _fd_check(comprehension_in_a_helpers_copy, (V,), ("x",))


def partial_name_reused_inside(x):
    g = functools.partial(scaled_sum, shift=0.5)
    inner = lambda g: g * 2.0  # noqa: E731 (this g is the lambda's own)
    return g(x) + inner(np.sum(x))


def test_a_name_bound_again_inside_is_not_taken_for_the_partial():
    # conservative: the partial is not spelled out, and the call says so
    with pytest.raises(UnsupportedSyntax) as info:
        forward_gradient(partial_name_reused_inside).jvp(V, tangents=(V,))
    assert "`g` holds a function" in str(info.value)
    assert "return g(x)" in info.value.source_line
