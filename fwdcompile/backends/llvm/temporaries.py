"""Which array temporaries the native backend never stores.

Contract: :func:`inlinable_temporaries` returns the array variables assigned
once from an elementwise expression and read only inside other elementwise
expressions and reductions of the same block, with nothing they read
reassigned or written in between.  The lowering does not store those: each
use recomputes the expression inside its consumer's loop, which is what turns
``d = x[1:] - x[:-1] ** 2; np.sum(d * d_d)`` into one loop with no
allocation.  Broadcast tangents (``_rt.broadcast(d, z)``) are
such expressions too.  Expressions with transcendental calls or matrix products are
chosen only when used once (and not inside a product), so work is never
repeated where it costs more than memory.
"""

from __future__ import annotations

import gast

from .numpy_names import CHEAP, MOMENTS, REDUCTIONS, UFUNCS
from .types import ArrayType


def inlinable_temporaries(fdef, types, calls):
    """``{name: its Assign}`` for the array temporaries that need no storage
    (see the module docstring).  ``calls`` (the lowering) says what a call
    calls: ``calls.call_name(call, strict=False)`` is the catalogue's name of
    its target (None for anything else) and ``calls.method_receiver(call)``
    the value whose method it is."""
    defs, parents, stores, loads = {}, {}, {}, {}  # one walk gathers all of them
    for node in gast.walk(fdef):
        for child in gast.iter_child_nodes(node):
            parents[child] = node
        # ``del`` (the release stage's, after the last use) is nothing in a kernel
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
            stores[node.id] = stores.get(node.id, 0) + 1
        if isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load):
            loads.setdefault(node.id, []).append(node)
        if isinstance(node, gast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], gast.Name) \
                and isinstance(types.get(node.targets[0].id), ArrayType) \
                and isinstance(node.value, (gast.BinOp, gast.UnaryOp, gast.Call)):
            defs[node.targets[0].id] = node
    chosen, reads_of = {}, {}  # reads_of: every name a chosen temporary depends on
    for name, stmt in defs.items():
        if stores.get(name) != 1 or not _elementwise_only(stmt.value, calls):
            continue
        block = _block_of(stmt, parents, fdef)
        position = block.index(stmt)
        uses = loads.get(name, [])
        if not uses or any(not _consumed_elementwise(u, parents, calls) for u in uses):
            continue
        last = position
        for u in uses:
            top = _statement_in(u, block, parents)
            if top is None or block.index(top) <= position:
                last = None
                break
            last = max(last, block.index(top))
        if last is None:
            continue
        expensive = any(isinstance(n, gast.Call) and _name(calls, n) not in CHEAP
                        and not _widening(n, calls)
                        or isinstance(n, gast.BinOp) and isinstance(n.op, gast.MatMult)
                        for n in gast.walk(stmt.value))
        if expensive and (len(uses) > 1 or any(_in_product(u, parents, calls) for u in uses)):
            continue  # recomputing would repeat costly work: store it
        reads = {n.id for n in gast.walk(stmt.value) if isinstance(n, gast.Name)}
        for read in list(reads):  # a chosen temporary it reads is recomputed here too
            reads |= reads_of.get(read, set())
        between = block[position + 1:last + 1]
        if any(_writes(s, reads, calls) for s in between):
            continue
        chosen[name] = stmt
        reads_of[name] = reads
    return chosen


def _name(calls, call):
    return calls.call_name(call, strict=False)


def _elementwise_only(node, calls):
    for n in gast.walk(node):
        if isinstance(n, gast.Call) and _name(calls, n) not in UFUNCS and not _widening(n, calls):
            return False
        if isinstance(n, gast.Call) and calls.method_receiver(n) is not None:
            return False  # a method call
        if isinstance(n, (gast.Lambda, gast.IfExp, gast.BoolOp, gast.NamedExpr)):
            return False
    return True


def _widening(call, calls):
    """``_rt.broadcast(d, z)``: ``d`` read at ``z``'s shape (a broadcast
    tangent; stored, it would be a full array of repeated values)."""
    return _name(calls, call) == "broadcast" and len(call.args) == 2 and not call.keywords


def _consumed_elementwise(use, parents, calls):
    parent = parents.get(use)
    if isinstance(parent, (gast.BinOp, gast.UnaryOp, gast.Compare)):
        return True
    if isinstance(parent, gast.Call) and use in parent.args and not parent.keywords:
        if _widening(parent, calls):  # d read elementwise, z for its shape alone
            return True
        name = _name(calls, parent) if calls.method_receiver(parent) is None else None
        return name in UFUNCS or name in REDUCTIONS and name != "max_jvp" \
            and name not in MOMENTS or name == "matmul"  # a spread reads its operand twice
    return False


def _in_product(use, parents, calls):
    """Is ``use`` an operand of ``@`` or np.dot (each element read many times)?"""
    parent = parents.get(use)
    return isinstance(parent, gast.BinOp) and isinstance(parent.op, gast.MatMult) or \
        isinstance(parent, gast.Call) and _name(calls, parent) in ("dot", "matmul")


def _block_of(stmt, parents, fdef):
    parent = parents.get(stmt, fdef)
    for field in ("body", "orelse", "finalbody"):
        block = getattr(parent, field, None)
        if isinstance(block, list) and any(s is stmt for s in block):
            return block
    return [stmt]


def _statement_in(node, block, parents):
    """The statement of ``block`` that contains ``node``, or None."""
    while node is not None:
        if any(node is s for s in block):
            return node
        node = parents.get(node)
    return None


def _writes(stmt, names, calls):
    for n in gast.walk(stmt):
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store) and n.id in names:
            return True
        if isinstance(n, (gast.Subscript, gast.Attribute)) and isinstance(n.ctx, gast.Store):
            return True
        if isinstance(n, gast.AugAssign):
            return True
        if isinstance(n, gast.Call) and not _elementwise_call(n, calls):
            return True  # a helper might write into an array it is given
    return False


def _elementwise_call(call, calls):
    name = _name(calls, call)
    return name in UFUNCS or name in REDUCTIONS or name in ("len", "range", "float", "int",
                                                              "abs", "min", "max", "broadcast")
