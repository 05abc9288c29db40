"""Classify what a call or attribute in the user's code refers to.

Contract: :func:`classify_call` maps a ``gast.Call`` to one of

* ``Method(name, receiver)``: a method of a local value (``x.sum()``);
* ``RuleCall(rule, obj)``: a function with a derivative rule (numpy, math,
  builtins, operators, ``custom_jvp``);
* ``UserCall(fn)``: a Python function with readable source, differentiated
  recursively;
* ``Unknown(obj)``: anything else (fine when no argument carries a derivative).

It runs once per call, in the resolve stage (frontend/resolve.py), which
stores the result on the node; every later reader asks :func:`resolved`,
which reads it back (and fails loudly for a call that was never resolved:
it never classifies again).

What is known about array methods and attributes (linear, a numpy
function's rule, no derivative, a view of the receiver) is declared in
rules/methods.py; the names below are live views of those declarations.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass

import gast
import numpy as np

from ..rules import lookup
from ..rules import methods
from ..rules.registry import CustomRule
from ..syntax.nodes import RESOLVED
from .lift import NestedFunction
from .parse import LOCAL

# live views of rules/methods.py (read by the transform, transform/expressions.py)
LINEAR_METHODS = methods.names_of_kind(methods.LINEAR)
METHOD_FUNCTIONS = methods.functions_of_methods()
NONDIFF_METHODS = methods.names_of_kind(methods.NONDIFF)
LINEAR_ATTRIBUTES = methods.names_of_kind(methods.LINEAR, attributes=True)
NONDIFF_ATTRIBUTES = methods.names_of_kind(methods.NONDIFF, attributes=True)


@dataclass
class Method:
    name: str
    receiver: object  # the receiver AST


@dataclass
class RuleCall:
    rule: object
    obj: object


@dataclass
class UserCall:
    fn: object
    receiver: object = None  # the object AST when calling a bound method: model.loss(w)


@dataclass
class Unknown:
    obj: object


def user_function(obj):
    """The plain Python function behind ``obj`` if fwdcompile should read its
    source, else None (numpy/math internals are never differentiated through)."""
    inner = getattr(obj, "__fwdcompile_function__", None)
    if inner is not None:
        obj = inner
    if isinstance(obj, NestedFunction):
        return obj
    if not inspect.isfunction(obj):
        return None
    module = getattr(obj, "__module__", "") or ""
    if module.split(".")[0] in ("numpy", "math", "builtins", "fwdcompile", "scipy"):
        return None
    return obj


def classify_call(call, scope):
    func = call.func
    target = scope.resolve(func)
    if isinstance(func, gast.Attribute) and (target is LOCAL or target is None):
        return Method(func.attr, func.value)  # x.sum(), (a + b).reshape(...)
    if target is LOCAL or target is None:
        return Unknown(None)  # a local variable holding a function, or a call result
    rule = lookup(target)
    if rule is not None:
        return RuleCall(rule, target)
    if inspect.ismethod(target) and isinstance(func, gast.Attribute) \
            and user_function(target.__func__) is not None:
        return UserCall(target.__func__, func.value)  # obj.method(...) on a global obj
    fn = user_function(target)
    if fn is not None:
        rule = lookup(fn)
        return RuleCall(rule, fn) if rule is not None else UserCall(fn)
    return Unknown(target)


class UnresolvedCall(AssertionError):
    """A stage asked what a call refers to, but the resolve stage never saw
    it: a bug in fwdcompile (the pipeline reports it as an InternalError)."""


def resolved(call):
    """What ``call`` refers to (a ``Method``, ``RuleCall``, ``UserCall`` or
    ``Unknown``), as the resolve stage found it (frontend/resolve.py)."""
    kind = getattr(call, RESOLVED, None)
    if kind is None:
        raise UnresolvedCall(f"the call at line {getattr(call, 'lineno', '?')} was never "
                             "resolved (frontend/resolve.py): a call built after that stage "
                             "must not be classified")
    receiver = getattr(kind, "receiver", None)
    if receiver is not None and receiver is not call.func.value:
        # a copy of the call (syntax/trees.clone): its own receiver node
        kind = dataclasses.replace(kind, receiver=call.func.value)
    return kind


def is_pure_call(call):
    """Whether ``call`` has no effect but its result, so forward substitution
    (transform/simplify.py) may move it: the methods declared ``pure`` in
    rules/methods.py and calls with a built-in rule never write; a method
    declared nowhere (``lst.pop()``), a ``custom_jvp`` function or a user
    function might."""
    kind = resolved(call)
    if isinstance(kind, Method):
        rule = methods.method_rule(kind.name)
        return rule is not None and rule.pure
    return isinstance(kind, RuleCall) and not isinstance(kind.rule, CustomRule)


def call_arguments(call):
    """(positional, keyword) argument ASTs of a call to a user function, with
    the receiver first when it calls a bound method."""
    kind = resolved(call)
    args = list(call.args)
    if isinstance(kind, UserCall) and kind.receiver is not None:
        args = [kind.receiver] + args
    return args, {k.arg: k.value for k in call.keywords if k.arg is not None}


_DATA = (np.ndarray, np.generic, list, tuple, dict, str, bytes, int, float, complex)


def is_index_object(node, scope):
    """Whether ``node`` (a Subscript) indexes a global object that is not a
    container of values: an index trick (``np.r_``) or a class."""
    obj = scope.resolve(node.value)
    return obj is not None and obj is not LOCAL and not isinstance(obj, _DATA) \
        and hasattr(type(obj), "__getitem__")
