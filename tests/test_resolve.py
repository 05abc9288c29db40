"""The resolve stage (frontend/resolve.py): every call classified once, stored
on the node, read back by every later stage; and the facts declared once
with a function (view_of_first_arg, fresh_result, runtime helper facts),
which the stages read instead of tables of names."""

import functools
import math
import types

import gast
import numpy as np
import numpy as xp  # a module under another name
import pytest

import fwdcompile
from fwdcompile import pipeline, runtime
from fwdcompile.frontend import activity, calls, resolve
from fwdcompile.frontend.calls import Method, RuleCall, Unknown, UserCall
from fwdcompile.frontend.lift import NestedFunction
from fwdcompile.rules import lookup, methods, registry
from fwdcompile.runtime import facts
from fwdcompile.syntax import nodes, trees


@pytest.fixture(autouse=True)
def fresh():
    pipeline.clear_cache()
    yield
    pipeline.clear_cache()


def helper(t):
    return t * t


class Model:
    def __init__(self, scale):
        self.scale = scale

    def loss(self, w):
        return self.scale * w * w


model = Model(3.0)
mylib = types.SimpleNamespace(opaque=functools.partial(np.multiply, 2.0))  # no source, no rule


def kinds(fn):
    """{source of the call's function: its resolved kind} for ``fn``'s own calls."""
    parsed = pipeline.check(fn)
    resolve.resolve(parsed)
    return {_spelled(c.func): calls.resolved(c)
            for c in trees.walk_own(parsed.node) if isinstance(c, gast.Call)}


def _spelled(func):
    if isinstance(func, gast.Name):
        return func.id
    return f"{_spelled(func.value)}.{func.attr}"


def uses_everything(x, g):
    a = np.sin(x)             # a rule, by object
    b = x.sum()               # a method of a local value
    c = helper(a)             # a user function: differentiated recursively
    d = g(x)                  # a local holding a function: unknown
    e = mylib.opaque(b)       # a global object's attribute without a rule: unknown
    f = xp.cos(c)             # numpy under another name
    return a + b + c + d + e + f + math.exp(x[0])


def test_each_kind_of_call():
    found = kinds(uses_everything)
    assert isinstance(found["np.sin"], RuleCall) and found["np.sin"].obj is np.sin
    assert found["np.sin"].rule is lookup(np.sin)
    assert isinstance(found["x.sum"], Method) and found["x.sum"].name == "sum"
    assert isinstance(found["helper"], UserCall) and found["helper"].fn is helper
    assert isinstance(found["g"], Unknown) and found["g"].obj is None
    assert isinstance(found["mylib.opaque"], Unknown)
    assert found["mylib.opaque"].obj is mylib.opaque
    assert isinstance(found["xp.cos"], RuleCall) and found["xp.cos"].obj is np.cos
    assert found["math.exp"].obj is math.exp


def bound_method(w):
    return model.loss(w)


def test_a_bound_method_on_a_global_object():
    found = kinds(bound_method)
    kind = found["model.loss"]
    assert isinstance(kind, UserCall) and kind.fn is Model.loss
    assert isinstance(kind.receiver, gast.Name) and kind.receiver.id == "model"
    y, dy = fwdcompile.jvp(bound_method, primals=(2.0,), tangents=(1.0,))
    assert (y, dy) == (12.0, 12.0)


def with_nested(x):
    def inner(t):
        return np.exp(t) + t.sum()
    return inner(x)


def test_a_nested_helper_is_resolved_in_its_own_scope():
    parsed = pipeline.check(with_nested)
    resolve.resolve(parsed)
    outer = [c for c in trees.walk_own(parsed.node) if isinstance(c, gast.Call)]
    assert len(outer) == 1
    kind = calls.resolved(outer[0])
    assert isinstance(kind, UserCall) and isinstance(kind.fn, NestedFunction)
    (nested,) = parsed.nested.values()
    inner = {_spelled(c.func): calls.resolved(c) for c in trees.walk_own(nested.node)
             if isinstance(c, gast.Call)}
    assert inner["np.exp"].obj is np.exp
    assert isinstance(inner["t.sum"], Method)  # t is the helper's own local
    x = np.array([0.5, 1.0])
    y, dy = fwdcompile.jvp(with_nested, primals=(x,), tangents=(np.ones(2),))
    np.testing.assert_allclose(dy, np.exp(x) + 2.0)


def test_a_copy_keeps_the_resolution_with_its_own_receiver():
    parsed = pipeline.check(uses_everything)
    resolve.resolve(parsed)
    (call,) = [c for c in trees.walk_own(parsed.node)
               if isinstance(c, gast.Call) and isinstance(c.func, gast.Attribute)
               and c.func.attr == "sum"]
    copy = trees.clone(call)
    kind = calls.resolved(copy)
    assert isinstance(kind, Method) and kind.receiver is copy.func.value
    substituted = trees.substitute(nodes.tup([call]), {"x": nodes.name("y")})
    assert isinstance(calls.resolved(substituted.elts[0]), Method)


def test_a_call_never_resolved_is_a_bug_not_a_second_classification():
    with pytest.raises(calls.UnresolvedCall):
        calls.resolved(nodes.call("np.sin", [nodes.name("x")]))


def with_method_and_helper(x, n):
    total = 0.0
    for i in range(n):
        total += helper(x[i]) + x.max() * np.sin(x[i])
    return total + float(len(x))


def test_every_call_is_classified_once_per_compilation(monkeypatch):
    counts = {}
    classify = calls.classify_call

    def counting(call, scope):
        counts[id(call)] = counts.get(id(call), 0) + 1
        return classify(call, scope)

    def forbidden(call, scope):
        raise AssertionError("classify_call called outside the resolve stage")

    monkeypatch.setattr(resolve, "classify_call", counting)
    monkeypatch.setattr(calls, "classify_call", forbidden)
    compiled = pipeline.compile_jvp(with_method_and_helper, ("x",))
    parsed = pipeline.check(with_method_and_helper)
    user_calls = [c for c in trees.walk_own(parsed.node) if isinstance(c, gast.Call)]
    assert all(counts.get(id(c)) == 1 for c in user_calls)  # read by several stages
    assert max(counts.values()) == 1  # the transform's own calls too, once each
    x = np.array([0.3, 0.7])
    y, dy = compiled.fn(x, 2, np.array([1.0, 0.0]))
    assert np.isfinite(dy)


def test_the_stage_runs_between_names_and_activity():
    # structures (pytree parameters) reads the resolved calls and feeds activity
    names = [s.name for s in pipeline.STAGES]
    assert names.index("names") + 1 == names.index("resolve") == names.index("structures") - 1
    assert names.index("structures") + 1 == names.index("activity")


# ---------------------------------------------------------------- facts declared once

def reshape(a, shape):  # a user function that happens to be called like numpy's
    return np.array(a).reshape(shape)


def test_only_declared_views_alias():
    def aliases(fn):
        parsed = pipeline.check(fn)
        resolve.resolve(parsed)
        (assign,) = [s for s in parsed.node.body if isinstance(s, gast.Assign)]
        return activity.may_alias(assign.value, parsed.scope)

    def user_reshape(x):
        y = reshape(x, (2,))
        return y

    def numpy_reshape(x):
        y = np.reshape(x, (2,))
        return y

    def method_view(x):
        y = x.T
        return y

    def method_copy(x):
        y = x.copy()
        return y

    assert aliases(user_reshape) == set()
    assert aliases(numpy_reshape) == {"x"}
    assert aliases(method_view) == {"x"}
    assert aliases(method_copy) == set()
    assert lookup(np.reshape).view_of_first_arg and not lookup(np.sum).view_of_first_arg
    assert methods.method_rule("reshape").view_of_first_arg
    assert not methods.method_rule("sum").view_of_first_arg


def test_method_tables_are_views_of_the_declarations():
    assert "sum" in calls.LINEAR_METHODS and calls.METHOD_FUNCTIONS["max"] is np.max
    assert "argmax" in calls.NONDIFF_METHODS and "shape" in calls.NONDIFF_ATTRIBUTES
    assert "T" in calls.LINEAR_ATTRIBUTES and "view" not in calls.LINEAR_METHODS
    try:
        methods.defmethod("fc_test_total", methods.LINEAR)
        assert "fc_test_total" in calls.LINEAR_METHODS  # seen without touching calls.py
    finally:
        del methods.METHODS["fc_test_total"]
    assert "fc_test_total" not in calls.LINEAR_METHODS


def test_runtime_helper_facts_are_declared_on_the_helpers():
    assert facts.returns_fresh_array("matmul_left") and facts.returns_fresh_array("reuse_add")
    assert not facts.returns_fresh_array("lift") and not facts.returns_fresh_array("nope")
    assert facts.updates_first_argument("inplace_batched_add")
    assert not facts.updates_first_argument("reuse_add")
    assert runtime.inplace_batched_mul in facts.UPDATES_FIRST
    assert lookup(np.where).fresh_result and not lookup(np.reshape).fresh_result


# ---------------------------------------------------------------- a function declared once

class _Softsign:
    """A callable without Python source, as a C function would be."""

    def __call__(self, x):
        return x / (1.0 + np.abs(x))


softsign = _Softsign()


class _Flipped:
    def __call__(self, a):
        return a[::-1]


flipped = _Flipped()


@pytest.fixture
def declared():
    """softsign and flipped declared once each, through the combinators, then removed."""
    registry.defjvp(softsign, "x", "1 / (1 + _np.abs(x)) ** 2", qualname="softsign")
    registry.deflinear(flipped, "a", "flipped", view_of_first_arg=True)
    yield
    for obj in (softsign, flipped):
        registry._REGISTRY.pop(obj, None)
        registry._BUILTIN.pop(obj, None)


def uses_softsign(x):
    return np.sum(softsign(x) * x)


def writes_through_view(x):
    out = np.zeros(3)
    v = flipped(out)
    v[0] = x[0] * x[1]  # writes out[2] through the view
    return out[2] + np.sum(softsign(x))


def test_a_function_declared_once_works_in_every_mode(declared):
    x = np.array([0.5, -1.5, 2.0])
    v = np.array([1.0, 0.25, -0.5])

    def exact(x, v):  # d/dt of sum(softsign(x + t v) * (x + t v))
        s = x / (1 + np.abs(x))
        return np.sum((v / (1 + np.abs(x)) ** 2) * x + s * v)

    y, dy = fwdcompile.jvp(uses_softsign, primals=(x,), tangents=(v,))
    np.testing.assert_allclose(dy, exact(x, v))
    f = fwdcompile.forward_gradient(uses_softsign)
    V = np.stack([v, 2 * v, -v])
    _, dys = f.jvp(x, tangents=(V,), batched=True)
    np.testing.assert_allclose(dys, [exact(x, w) for w in V])
    assert "batched" in pipeline.compile_jvp(uses_softsign, ("x",), batched=True).name


def test_a_declared_view_is_followed_by_the_activity_analysis(declared):
    x = np.array([0.5, -1.5, 2.0])
    v = np.array([1.0, 0.25, -0.5])
    y, dy = fwdcompile.jvp(writes_through_view, primals=(x,), tangents=(v,))
    s_dot = np.sum(v / (1 + np.abs(x)) ** 2)
    np.testing.assert_allclose(dy, v[0] * x[1] + x[0] * v[1] + s_dot)
    act = pipeline.compile_jvp(writes_through_view, ("x",))
    assert "d_out" in act.source  # out carries the tangent written through v
