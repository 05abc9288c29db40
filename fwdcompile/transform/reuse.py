"""Buffer reuse in vector mode: arithmetic on a dead tangent runs in its memory.

Contract: :func:`reuse_buffers` rewrites the top level of a generated batched
function.  Where a statement computes ``A + E``, ``A - E``, ``A * E``, ``A / E``,
``E + A``, ``E * A`` or ``_np.where(c, A, 0.0)``, and ``A`` (possibly wrapped in
``_rt.lift``/``_rt.fit``) is

* an expression that builds a new array from tangents (arithmetic, a matrix
  product, an earlier reuse), or
* a tangent variable owned by the compiler whose value was built by such an
  expression in a top-level statement, that is read nowhere after this
  statement, and that was read before it only by expressions that copy it
  (arithmetic, comparisons, reductions, matrix products),

the operation becomes ``_rt.reuse_add(A, E)`` (``reuse_sub``, ``reuse_mul``,
``reuse_div``, ``reuse_where``).  At run time these write the result into
``A``'s memory when ``A`` is a large enough array with the result's shape and
dtype, and otherwise compute the operation as written.  No other name and no
view can see ``A``, so the rewrite never changes a value; the soundness tests
run every corpus case with the size threshold at zero.

Why: a batched tangent is K times the size of its value.  Allocating a fresh
one per operation makes glibc grow and trim its heap on every call, and the
new pages fault in at a cost several times that of the arithmetic.  Vector
mode only: in a one-direction JVP most tangents are scalars, and a helper call
would cost more than the allocation it saves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gast
import numpy as np

from ..rules import lookup
from ..runtime.facts import returns_fresh_array
from ..syntax import nodes, trees

_WRAPPERS = ("lift", "fit")  # _rt.lift(x, z) / _rt.fit(x, z): x, a view of it, or a copy
_REUSE = {gast.Add: "reuse_add", gast.Sub: "reuse_sub", gast.Mult: "reuse_mul",
          gast.Div: "reuse_div"}
_COMMUTATIVE = (gast.Add, gast.Mult)
_SCOPES = (gast.Lambda, gast.ListComp, gast.SetComp, gast.DictComp, gast.GeneratorExp,
           gast.FunctionDef)


@dataclass
class _Use:
    stmt: gast.AST
    operand: gast.AST  # the name, or the lift/fit call around it
    parent: gast.AST | None  # what reads the operand (None: a nested scope or a statement)


@dataclass
class _Def:
    fresh: bool
    uses: list = field(default_factory=list)


def reuse_buffers(fdef, owned, tangents):
    """Rewrite ``fdef`` in place (see module doc); ``owned`` are the tangent
    variables nobody outside the generated function can hold, ``tangents``
    all tangent variables (parameters included)."""
    eligible = _top_level_names(fdef, owned)
    plan = {}  # id(BinOp or where call) -> which operand lends its memory
    defs = []
    current = {}
    for stmt in fdef.body:
        parents = _parents(stmt)
        simple = isinstance(stmt, (gast.Assign, gast.Return, gast.Expr))
        for node in trees.walk(stmt):
            if type(node) is gast.Name and isinstance(node.ctx, gast.Load) \
                    and node.id in current:
                operand = _unwrap_up(node, parents)
                scoped = not simple or _in_scope(operand, parents)
                current[node.id].uses.append(
                    _Use(stmt, operand, None if scoped else parents.get(id(operand))))
            elif simple and type(node) is gast.BinOp and type(node.op) in _REUSE \
                    and _fresh(node.left, tangents) and not _in_scope(node, parents):
                plan[id(node)] = "left"  # the left operand is a new array
        if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 \
                and type(stmt.targets[0]) is gast.Name and stmt.targets[0].id in eligible:
            definition = _Def(_fresh(stmt.value, tangents))
            current[stmt.targets[0].id] = definition
            defs.append(definition)
    for definition in defs:
        if not definition.fresh or not definition.uses:
            continue
        *earlier, last = definition.uses
        if last.parent is None or any(u.stmt is last.stmt for u in earlier) \
                or not all(_copies(u) for u in earlier):
            continue
        side = _reuse_side(last)
        if side is not None and id(last.parent) not in plan:
            plan[id(last.parent)] = side
    _Rewrite(plan).visit(fdef)
    return fdef


def _top_level_names(fdef, owned):
    """Owned names whose every store is a top-level ``name = value``."""
    top = {id(s.targets[0]) for s in fdef.body if isinstance(s, gast.Assign)
           and len(s.targets) == 1 and type(s.targets[0]) is gast.Name}
    stored_elsewhere = {n.id for n in trees.walk(fdef) if type(n) is gast.Name
                        and isinstance(n.ctx, (gast.Store, gast.Del)) and id(n) not in top}
    return set(owned) - stored_elsewhere


def _parents(stmt):
    out = {}
    for node in trees.walk(stmt):
        for child in gast.iter_child_nodes(node):
            out[id(child)] = node
    return out


def _unwrap_up(node, parents):
    """Climb from a name through the lift/fit calls that pass it on."""
    while True:
        parent = parents.get(id(node))
        if trees.alias_call(parent, "_rt", _WRAPPERS) and parent.args and parent.args[0] is node:
            node = parent
        else:
            return node


def _unwrap_down(node):
    while trees.alias_call(node, "_rt", _WRAPPERS) and node.args:
        node = node.args[0]
    return node


def _in_scope(node, parents):
    """Inside a lambda or comprehension: it may run later, or many times."""
    node = parents.get(id(node))
    while node is not None:
        if isinstance(node, _SCOPES):
            return True
        node = parents.get(id(node))
    return False


def _fresh(node, tangents):
    """Builds a new array out of tangents (a value nobody else holds).  Arithmetic
    on values alone is fresh too, but lacks the K axis: no use trying."""
    core = _unwrap_down(node)
    if type(core) is gast.BinOp or (type(core) is gast.UnaryOp
                                    and type(core.op) in (gast.USub, gast.UAdd)):
        return any(type(n) is gast.Name and n.id in tangents for n in trees.walk(core))
    return _fresh_call(core)


def _fresh_call(node):
    """A call of a runtime helper declared ``@returns_fresh`` (runtime/facts.py),
    or of a numpy function whose rule says ``fresh_result``: its result never
    shares memory with an argument."""
    if not trees.alias_call(node) or type(node.func) is not gast.Attribute:
        return False
    if trees.alias_call(node, "_rt", (node.func.attr,)):
        return returns_fresh_array(node.func.attr)
    if trees.alias_call(node, "_np", (node.func.attr,)):
        rule = lookup(getattr(np, node.func.attr, None))
        return rule is not None and rule.fresh_result
    return False


def _copies(use):
    """The reader copies the value: it keeps no reference to its memory."""
    parent = use.parent
    if type(parent) in (gast.BinOp, gast.UnaryOp, gast.Compare):
        return True
    if _fresh_call(parent):
        return any(arg is use.operand for arg in parent.args)
    return False


def _reuse_side(use):
    """Which operand of its reader the last use can lend its memory to, if any."""
    parent = use.parent
    if type(parent) is gast.BinOp and type(parent.op) in _REUSE:
        if parent.left is use.operand:
            return "left"
        if parent.right is use.operand and type(parent.op) in _COMMUTATIVE:
            return "right"
    if trees.alias_call(parent, "_np", ("where",)) and len(parent.args) == 3 \
            and not parent.keywords and parent.args[1] is use.operand \
            and type(parent.args[2]) is gast.Constant and trees.constant_value(parent.args[2]) == 0:
        return "where"
    return None


class _Rewrite(gast.NodeTransformer):
    def __init__(self, plan):
        self.plan = plan

    def generic_visit(self, node):
        side = self.plan.get(id(node))
        node = super().generic_visit(node)
        if side is None:
            return node
        if side == "where":
            return nodes.call(nodes.dotted("_rt.reuse_where"), node.args)
        buffer, other = (node.left, node.right) if side == "left" else (node.right, node.left)
        return nodes.call(nodes.dotted(f"_rt.{_REUSE[type(node.op)]}"),
                          [buffer, other])
