"""Desugaring: comprehensions become loops; calls are spelled out (specialise.py).

Contract: :func:`desugar` rewrites a parsed ``FunctionDef`` in place, before
helpers are lifted, into code the rest of the pipeline already
differentiates:

* a list comprehension, a dict comprehension, and a generator expression
  passed straight to a call (``sum(w * x for x in xs)``,
  ``np.stack([f(r) for r in rows])``) becomes a ``for`` loop filling a fresh
  list (``.append``) or dict (``d[k] = v``), placed just before the statement
  that uses it, which then reads the list (``sum(comp0)``).  Generators,
  filters (``if``) and nesting keep their order.  ``name = [...]`` fills
  ``name`` directly.  Loop variables that would clash with another use of
  the name in the function are renamed (``x`` -> ``x_0``), so nothing leaks.
* the calls of :mod:`.specialise` are spelled out first: ``dict(a=...)``,
  ``functools.partial``, objects of module-level classes, functions and
  ``*args`` passed to helpers.

A comprehension is moved only where it is evaluated exactly once, when its
statement starts: not in a ``while`` condition, an ``assert`` message, a
lambda, the right of ``and``/``or`` nor a branch of ``a if c else b``.  Those
stay comprehensions (still fine when they compute no derivative; the
transform reports the ones that do, saying what to write instead).  The
numeric code fwdcompile differentiates has no side effects in expressions, so
computing the comprehension before the rest of its statement gives the same
values.  The generated statements are located at the original statement; the
first carries its comment, the others are marked ``fc_quiet``.
"""

from __future__ import annotations

import gast

from ..syntax import nodes, trees
from .specialise import QUIET, Names, spell_calls

__all__ = ["desugar", "QUIET"]

COMPREHENSIONS = (gast.ListComp, gast.DictComp, gast.GeneratorExp, gast.SetComp)
_LOOP_VARS = "fc_comp_targets"  # on a generated loop: the variables it binds
_LAZY_CONSUMERS = {"next", "iter"}  # a generator they receive stays a generator


def desugar(fdef, fn, loc, read):
    """Rewrite ``fdef`` (the definition of ``fn``, found at ``loc``) in place;
    see the module docstring.  ``read(f)`` is ``(f, FunctionDef, Location)``
    of a helper's source (frontend/parse.py ``read_function``)."""
    names = Names(fdef, fn, loc)
    spell_calls(fdef, names, read)
    comprehensions = _Comprehensions(fdef, names)
    fdef.body = comprehensions.block(fdef.body, frozenset())
    for stmt in fdef.body:
        if isinstance(stmt, gast.FunctionDef):  # helpers defined at the top, and copies
            inner = _outside_names(stmt)  # a copy's names are not among the function's
            comprehensions.outside |= inner
            names.taken |= inner
            stmt.body = comprehensions.block(stmt.body, frozenset())


class _Comprehensions:
    """Moves the comprehensions of one function's statements into loops."""

    def __init__(self, fdef, names):
        self.names = names
        self.outside = _outside_names(fdef)

    def fresh(self, base):
        return self.names.fresh(base)

    def block(self, stmts, enclosing):
        out = []
        for stmt in stmts:
            out.extend(self.statement(stmt, enclosing))
        return out

    def statement(self, stmt, enclosing):
        inner = enclosing | getattr(stmt, _LOOP_VARS, frozenset())
        for field in ("body", "orelse"):
            if isinstance(stmt, (gast.If, gast.For, gast.While, gast.With)) \
                    and hasattr(stmt, field):
                setattr(stmt, field, self.block(getattr(stmt, field), inner))
        found = _first_hoistable(stmt)
        if found is None:
            return [stmt]
        comp, holder, field, index = found
        direct = None
        if isinstance(stmt, gast.Assign) and stmt.value is comp and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], gast.Name) \
                and not isinstance(comp, gast.GeneratorExp) \
                and not trees.mentions(comp, stmt.targets[0].id):
            direct = stmt.targets[0].id
        summed = direct is None and self.is_sum(holder, field, index)
        result = direct or self.fresh("total" if summed else "comp")
        loops = self.loops(comp, result, enclosing, summed)
        for node in loops:
            trees.copy_location(node, stmt)
        for node in loops[0 if getattr(stmt, QUIET, False) else 1:]:
            setattr(node, QUIET, True)  # the statement's comment comes once, first
        if direct is None:
            if summed:  # sum(<comprehension>) is the accumulated total itself
                stmt = _replaced(stmt, holder, nodes.name(result))
            elif index is None:
                setattr(holder, field, nodes.name(result))
            else:
                getattr(holder, field)[index] = nodes.name(result)
            setattr(stmt, QUIET, True)
            loops.append(stmt)
        return self.block(loops, enclosing)

    def is_sum(self, holder, field, index):
        """Whether the comprehension is the one argument of the builtin ``sum``
        (then it is accumulated, ``total = total + x``, without a list: a
        list of tangents would keep vector mode from batching)."""
        return isinstance(holder, gast.Call) and field == "args" and index == 0 \
            and isinstance(holder.func, gast.Name) and holder.func.id == "sum" \
            and len(holder.args) == 1 and not holder.keywords \
            and "sum" not in self.names.local

    def loops(self, comp, result, enclosing, summed=False):
        """``result = []`` and the loops filling it (``result = 0`` and the
        loops adding to it when ``summed``), the loop variables renamed where
        they would clash."""
        renames = {}
        for gen in comp.generators:
            for target in trees.walk(gen.target):
                if isinstance(target, gast.Name) and \
                        (target.id in self.outside or target.id in enclosing):
                    renames.setdefault(target.id, self.fresh(f"{target.id}_"))
        if renames:
            _rename(comp, renames)
        is_dict = isinstance(comp, gast.DictComp)
        if is_dict:
            fill = nodes.assign(nodes.subscript(nodes.name(result), comp.key, store=True),
                                comp.value)
        elif summed:
            fill = nodes.assign(nodes.name(result, True),
                                nodes.binop(nodes.name(result), gast.Add(), comp.elt))
        else:
            fill = nodes.expr_stmt(nodes.call(nodes.attr(result, "append"), [comp.elt]))
        body = [fill]
        for gen in reversed(comp.generators):
            if gen.ifs:
                test = gen.ifs[0] if len(gen.ifs) == 1 else \
                    gast.BoolOp(op=gast.And(), values=list(gen.ifs))
                body = [nodes.if_(test, body)]
            loop = gast.For(target=gen.target, iter=gen.iter, body=body, orelse=[],
                            type_comment=None)
            setattr(loop, _LOOP_VARS, frozenset(
                n.id for n in trees.walk(gen.target) if isinstance(n, gast.Name)))
            body = [loop]
        start = nodes.assign(nodes.name(result, True),
                             gast.Dict(keys=[], values=[]) if is_dict
                             else nodes.const(0) if summed
                             else gast.List(elts=[], ctx=gast.Load()))
        return [start] + body


def _replaced(root, old, new):
    """``root`` with the node ``old`` (somewhere below it) replaced by ``new``."""
    for node in trees.walk(root):
        for field, value in gast.iter_fields(node):
            if value is old:
                setattr(node, field, new)
                return root
            if isinstance(value, list) and any(v is old for v in value):
                setattr(node, field, [new if v is old else v for v in value])
                return root
    return root


def _rename(comp, renames):
    """Rename the loop variables of ``comp`` in it, but not in its first
    iterable (evaluated outside) nor in comprehensions inside that bind them again."""
    first_iter = comp.generators[0].iter

    def visit(node, names):
        if node is first_iter:
            return
        if isinstance(node, gast.Name) and node.id in names:
            node.id = names[node.id]
            return
        if isinstance(node, COMPREHENSIONS) and node is not comp:
            bound = {n.id for g in node.generators for n in trees.walk(g.target)
                     if isinstance(n, gast.Name)}
            names = {k: v for k, v in names.items() if k not in bound}
        for child in gast.iter_child_nodes(node):
            visit(child, names)

    visit(comp, renames)


def _outside_names(fdef):
    """Names used in ``fdef`` where no comprehension binds them."""
    out = set()

    def visit(node, bound):
        if isinstance(node, COMPREHENSIONS):
            inner = set(bound)
            for gen in node.generators:
                visit(gen.iter, inner)
                inner |= {n.id for n in trees.walk(gen.target) if isinstance(n, gast.Name)}
                for cond in gen.ifs:
                    visit(cond, inner)
            for elt in ([node.key, node.value] if isinstance(node, gast.DictComp)
                        else [node.elt]):
                visit(elt, inner)
            return
        if isinstance(node, gast.Name) and node.id not in bound:
            out.add(node.id)
        for child in gast.iter_child_nodes(node):
            visit(child, bound)

    visit(fdef, frozenset())
    return out


def _eager_fields(stmt):
    """``(field, index)`` of the expressions of ``stmt`` evaluated once, when it starts."""
    if isinstance(stmt, gast.Assign):
        return [("value", None)] + [("targets", i) for i, t in enumerate(stmt.targets)
                                    if not isinstance(t, gast.Name)]
    if isinstance(stmt, (gast.AugAssign, gast.AnnAssign)):
        return [("value", None), ("target", None)] if stmt.value is not None else []
    fields = {gast.Expr: "value", gast.Return: "value", gast.If: "test", gast.For: "iter",
              gast.Assert: "test"}
    field = fields.get(type(stmt))
    return [] if field is None or getattr(stmt, field) is None else [(field, None)]


def _first_hoistable(stmt):
    """``(comprehension, holder, field, index)``: the first comprehension of
    ``stmt`` that may move before it, and where it sits; or None."""
    for field, index in _eager_fields(stmt):
        root = getattr(stmt, field) if index is None else getattr(stmt, field)[index]
        found = _search(root, stmt, field, index, None)
        if found is not None:
            return found
    return None


def _search(node, holder, field, index, consumer):
    if isinstance(node, (gast.ListComp, gast.DictComp)) or (
            isinstance(node, gast.GeneratorExp) and consumer is not None
            and consumer not in _LAZY_CONSUMERS):
        return node, holder, field, index
    if isinstance(node, (gast.Lambda,) + COMPREHENSIONS):
        return None  # evaluated later, or once per element
    for name, value in gast.iter_fields(node):
        if isinstance(node, gast.BoolOp) and name == "values":
            value = value[:1]  # the others may not run
        if isinstance(node, gast.IfExp) and name in ("body", "orelse"):
            continue
        if isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, gast.AST):
                    found = _search(item, node, name, i, _consumer(node, name))
                    if found is not None:
                        return found
        elif isinstance(value, gast.AST):
            found = _search(value, node, name, None, _consumer(node, name))
            if found is not None:
                return found
    return None


def _consumer(node, field):
    """What consumes an argument of ``node`` right away: a call's name (its
    last attribute), "" for other calls; None when nothing does."""
    if isinstance(node, gast.Call) and field == "args":
        func = node.func
        return func.id if isinstance(func, gast.Name) else \
            func.attr if isinstance(func, gast.Attribute) else ""
    return None
