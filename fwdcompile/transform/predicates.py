"""Small syntactic predicates shared by the tangent transform's parts."""

from __future__ import annotations

import gast

from ..frontend.calls import Method, RuleCall, classify_call
from . import build

Z = "__z__"  # placeholder for the result inside a tangent expression

def _is_rt_call(node, name):
    func = node.func
    return isinstance(func, gast.Attribute) and func.attr == name \
        and isinstance(func.value, gast.Name) and build.is_alias(func.value.id)


def _call_inputs(call):
    """The receiver and arguments of a call, as one tuple expression."""
    parts = list(call.args) + [k.value for k in call.keywords]
    if isinstance(call.func, gast.Attribute):
        parts.append(call.func.value)
    return build.tup(parts)


def _pure_key(node, scope):
    """A structural key for a side-effect-free expression, or None."""
    for sub in build.walk(node):
        if isinstance(sub, gast.Call):
            kind = classify_call(sub, scope)
            if not isinstance(kind, (RuleCall, Method)) or getattr(kind, "rule", None) is None \
                    and not isinstance(kind, Method):
                return None
        if isinstance(sub, (gast.IfExp, gast.ListComp, gast.GeneratorExp, gast.SetComp,
                            gast.DictComp)):
            return None
    return build.structure(node)


def _all_names(node):
    return {n.id for n in build.walk(node) if isinstance(n, gast.Name)}


def _is_docstring(stmt):
    return isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Constant) \
        and isinstance(stmt.value.value, str)


def _base(target):
    while isinstance(target, gast.Subscript):
        target = target.value
    return target.id if isinstance(target, gast.Name) else None


def _leaf_targets(target):
    if isinstance(target, (gast.Tuple, gast.List)):
        return [leaf for elt in target.elts for leaf in _leaf_targets(elt)]
    return [target]


def _is_number(node):
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, (gast.USub, gast.UAdd)):
        node = node.operand
    return isinstance(node, gast.Constant) and isinstance(node.value, (int, float, complex)) \
        and not isinstance(node.value, bool)


def _is_none(node):
    return isinstance(node, gast.Constant) and node.value is None


def _has_tangent(t):
    if isinstance(t, (list, tuple)):
        return any(_has_tangent(x) for x in t)
    return t is not None


def _cheap(node, budget=8):
    """Cheap to evaluate twice and side-effect free: names, constants,
    attributes and small arithmetic on them, slices."""
    count = 0
    for sub in build.walk(node):
        count += 1
        if isinstance(sub, (gast.Call, gast.ListComp, gast.GeneratorExp, gast.SetComp,
                            gast.DictComp, gast.Dict, gast.Set, gast.List, gast.IfExp,
                            gast.BoolOp, gast.Compare, gast.Starred, gast.JoinedStr)):
            return False
    return count <= budget


def _op_symbol(op):
    return {gast.BitAnd: "&", gast.BitOr: "|", gast.BitXor: "^", gast.LShift: "<<",
            gast.RShift: ">>"}.get(type(op), type(op).__name__)
