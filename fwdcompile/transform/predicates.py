"""Small syntactic predicates shared by the tangent transform's parts."""

from __future__ import annotations

import gast

from ..frontend.calls import Method, RuleCall, resolved
from ..syntax import nodes, trees

Z = "__z__"  # placeholder for the result inside a tangent expression


def call_inputs(call):
    """The receiver and arguments of a call, as one tuple expression."""
    parts = list(call.args) + [k.value for k in call.keywords]
    if isinstance(call.func, gast.Attribute):
        parts.append(call.func.value)
    return nodes.tup(parts)


def pure_key(node):
    """A structural key for a side-effect-free expression, or None."""
    for sub in trees.walk(node):
        if isinstance(sub, gast.Call):
            kind = resolved(sub)
            if not isinstance(kind, (RuleCall, Method)) or getattr(kind, "rule", None) is None \
                    and not isinstance(kind, Method):
                return None
        if isinstance(sub, (gast.IfExp, gast.ListComp, gast.GeneratorExp, gast.SetComp,
                            gast.DictComp)):
            return None
    return trees.structure(node)


def all_names(node):
    return {n.id for n in trees.walk(node) if isinstance(n, gast.Name)}


def is_docstring(stmt):
    return isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Constant) \
        and isinstance(stmt.value.value, str)


def is_none(node):
    return isinstance(node, gast.Constant) and node.value is None


def has_tangent(t):
    if isinstance(t, (list, tuple)):
        return any(has_tangent(x) for x in t)
    return t is not None


def cheap(node, budget=8):
    """Cheap to evaluate twice and side-effect free: names, constants,
    attributes and small arithmetic on them, slices."""
    count = 0
    for sub in trees.walk(node):
        count += 1
        if isinstance(sub, (gast.Call, gast.ListComp, gast.GeneratorExp, gast.SetComp,
                            gast.DictComp, gast.Dict, gast.Set, gast.List, gast.IfExp,
                            gast.BoolOp, gast.Compare, gast.Starred, gast.JoinedStr)):
            return False
    return count <= budget


def op_symbol(op):
    return {gast.BitAnd: "&", gast.BitOr: "|", gast.BitXor: "^", gast.LShift: "<<",
            gast.RShift: ">>"}.get(type(op), type(op).__name__)
