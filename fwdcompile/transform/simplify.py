"""Simplification so generated code reads like hand-written code.

Contract:

* :func:`fold` rewrites one tangent expression: constant arithmetic
  (``2 - 1`` -> ``1``), identities (``x ** 1``, ``1 * e``, ``e * 1``,
  ``e / 1``, ``--e``), and ``a + -b`` -> ``a - b``.  It never changes what an
  expression computes for finite values, and never drops a term that is not
  a literal zero (``0 * x`` is kept: it is NaN for an infinite ``x``).
* :func:`remove_dead` deletes assignments to tangent variables and compiler
  temporaries that nothing reads, until none is left.  User variables are
  never removed: their assignments may be what the user wants to see.

Zero tangents need no pass here: the transform treats them as compile-time
facts and never emits them.
"""

from __future__ import annotations

import gast

from . import build


def _number(node):
    if isinstance(node, gast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    return None


_FOLD = {gast.Add: lambda a, b: a + b, gast.Sub: lambda a, b: a - b,
         gast.Mult: lambda a, b: a * b}


class _Folder(gast.NodeTransformer):
    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, gast.USub) and isinstance(node.operand, gast.UnaryOp) \
                and isinstance(node.operand.op, gast.USub):
            return node.operand.operand
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        left, right = _number(node.left), _number(node.right)
        op = type(node.op)
        if left is not None and right is not None and op in _FOLD:
            return build.const(_FOLD[op](left, right))
        if op is gast.Pow and right == 1:
            return node.left
        if op is gast.Mult and left == 1:
            return node.right
        if op is gast.Mult and right == 1:
            return node.left
        if op is gast.Div and right == 1:
            return node.left
        if op is gast.Mult and left == -1:
            return build.neg(node.right)
        if op is gast.Add and isinstance(node.right, gast.UnaryOp) \
                and isinstance(node.right.op, gast.USub):
            return build.binop(node.left, gast.Sub(), node.right.operand)
        if op is gast.Sub and isinstance(node.right, gast.UnaryOp) \
                and isinstance(node.right.op, gast.USub):
            return build.binop(node.left, gast.Add(), node.right.operand)
        return node


def fold(node):
    return _Folder().visit(node)


def remove_dead(fdef, removable):
    """Drop assignments whose single target is in ``removable`` and never read."""
    while True:
        read = {n.id for n in gast.walk(fdef) if isinstance(n, gast.Name)
                and isinstance(n.ctx, gast.Load)}
        # `x += y` reads x, and may write through an alias: never dead
        read |= {n.target.id for n in gast.walk(fdef) if isinstance(n, gast.AugAssign)
                 and isinstance(n.target, gast.Name)}
        dead = {n for n in removable if n not in read}
        changed = _strip(fdef, dead)
        if not changed:
            return fdef


def _strip(node, dead):
    changed = False
    for field in ("body", "orelse"):
        block = getattr(node, field, None)
        if not isinstance(block, list):
            continue
        kept = []
        for stmt in block:
            if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 \
                    and isinstance(stmt.targets[0], gast.Name) and stmt.targets[0].id in dead \
                    and _pure(stmt.value):
                changed = True
                continue
            changed |= _strip(stmt, dead)
            kept.append(stmt)
        if not kept and field == "body" and block:
            kept = [gast.Pass()]
        setattr(node, field, kept)
    return changed


def _pure(node):
    """No call to a user function (whose side effects must stay)."""
    for sub in gast.walk(node):
        if isinstance(sub, gast.Call):
            func = sub.func
            root = func
            while isinstance(root, gast.Attribute):
                root = root.value
            if not (isinstance(root, gast.Name) and root.id in ("_np", "_math", "_rt")):
                return False
    return True
