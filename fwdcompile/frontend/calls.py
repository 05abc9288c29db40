"""Classify what a call or attribute in the user's code refers to.

Contract: :func:`classify_call` maps a ``gast.Call`` to one of

* ``Method(name, receiver)``: a method of a local value (``x.sum()``);
* ``RuleCall(rule, obj)``: a function with a derivative rule (numpy, math,
  builtins, operators, ``custom_jvp``);
* ``UserCall(fn)``: a Python function with readable source, differentiated
  recursively;
* ``Unknown(obj)``: anything else (fine when no argument carries a derivative).

The method and attribute tables here say which array methods and attributes
are linear (the tangent is the same method applied to the tangent), which map
to a numpy function's rule, and which carry no derivative.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import gast
import numpy as np

from ..rules import lookup
from .lift import NestedFunction
from .parse import LOCAL

# x.<method>(...) whose tangent is d_x.<method>(...)
LINEAR_METHODS = {"sum", "mean", "cumsum", "reshape", "transpose", "ravel", "flatten", "copy",
                  "squeeze", "swapaxes", "diagonal", "trace", "conj", "conjugate", "item",
                  "take", "repeat", "tolist", "items", "values", "get"}
# x.<method>(...) differentiated with the rule of numpy.<function>(x, ...)
METHOD_FUNCTIONS = {"max": np.max, "min": np.min, "prod": np.prod, "var": np.var,
                    "std": np.std, "dot": np.dot, "clip": np.clip, "cumprod": np.cumprod}
# (x.sort() sorts in place and returns None: it is rejected as a discarded call)
# methods whose result carries no derivative
NONDIFF_METHODS = {"argmax", "argmin", "argsort", "nonzero", "any", "all", "searchsorted",
                   "count", "index", "keys", "startswith", "endswith", "bit_length",
                   "is_integer"}
LINEAR_ATTRIBUTES = {"T", "real", "imag", "mT"}
NONDIFF_ATTRIBUTES = {"shape", "ndim", "size", "dtype", "itemsize", "nbytes", "strides"}


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


def call_arguments(call, scope):
    """(positional, keyword) argument ASTs of a call to a user function, with
    the receiver first when it calls a bound method."""
    kind = classify_call(call, scope)
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
