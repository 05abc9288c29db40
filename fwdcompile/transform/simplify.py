"""Simplification so generated code reads like hand-written code.

Contract:

* :func:`fold` rewrites one tangent expression: constant arithmetic
  (``2 - 1`` -> ``1``), identities (``x ** 1``, ``1 * e``, ``e * 1``,
  ``e / 1``, ``--e``), and ``a + -b`` -> ``a - b``.  It never changes what an
  expression computes for finite values, and never drops a term that is not
  a literal zero (``0 * x`` is kept: it is NaN for an infinite ``x``).  With
  ``safe=True`` an identity is dropped only where arithmetic reads the
  result, so no expression folds into an existing object (an alias).
* :func:`forward_substitute` inlines temporaries read exactly once, then
  folds (safely) the tangent expressions that received them; the user's own
  computation is never folded.
* :func:`remove_dead` deletes assignments to tangent variables and compiler
  temporaries that nothing reads, until none is left.  User variables are
  never removed: their assignments may be what the user wants to see.

Zero tangents need no pass here: the transform treats them as compile-time
facts and never emits them.
"""

from __future__ import annotations


import gast

from ..runtime.facts import updates_first_argument
from ..syntax import nodes, trees


_FOLD = {gast.Add: lambda a, b: a + b, gast.Sub: lambda a, b: a - b,
         gast.Mult: lambda a, b: a * b}


def _fold_unary(node):
    if isinstance(node.op, gast.USub) and isinstance(node.operand, gast.UnaryOp) \
            and isinstance(node.operand.op, gast.USub):
        return node.operand.operand
    return node


def _fold_binop(node):
    left, right = trees.constant_value(node.left), trees.constant_value(node.right)
    op = type(node.op)
    if left is not None and right is not None and op in _FOLD:
        return nodes.const(_FOLD[op](left, right))
    if op is gast.Pow and right == 1:
        return node.left
    if op is gast.Mult and left == 1:
        return node.right
    if op is gast.Mult and right == 1:
        return node.left
    if op is gast.Div and right == 1:
        return node.left
    if op is gast.Mult and left == -1:
        return nodes.neg(node.right)
    if op is gast.Mult and left is not None:
        inner = _leftmost_factor(node.right)
        if inner is not None:  # a * (b * e) -> (a * b) * e: one pass less over arrays
            inner[0].left = nodes.const(left * inner[1])
            return node.right
    if op is gast.Mult and _is_neg(node.right):
        return nodes.neg(nodes.binop(node.left, gast.Mult(), node.right.operand))
    if op is gast.Mult and _is_neg(node.left):
        return nodes.neg(nodes.binop(node.left.operand, gast.Mult(), node.right))
    if op is gast.Add and _is_neg(node.left) and not _is_neg(node.right):
        return nodes.binop(node.right, gast.Sub(), node.left.operand)
    if op is gast.Add and isinstance(node.right, gast.UnaryOp) \
            and isinstance(node.right.op, gast.USub):
        return nodes.binop(node.left, gast.Sub(), node.right.operand)
    if op is gast.Sub and isinstance(node.right, gast.UnaryOp) \
            and isinstance(node.right.op, gast.USub):
        return nodes.binop(node.left, gast.Add(), node.right.operand)
    return node


def _is_neg(node):
    return isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub) \
        and trees.constant_value(node) is None


def _leftmost_factor(node):
    """(the Mult node holding it, value) for the numeric left end of a product chain."""
    while isinstance(node, gast.BinOp) and isinstance(node.op, gast.Mult):
        value = trees.constant_value(node.left)
        if value is not None:
            return node, value
        node = node.left
    return None


def fold(node, safe=False):
    """Fold ``node`` bottom-up (a plain recursion: ``ast.NodeTransformer``'s
    generic visit made this a tenth of the transform's time).

    With ``safe``, an identity (``--e``, ``1 * e``, ``e / 1``, ...) is dropped
    only where an arithmetic operation reads the result, so an expression
    never folds into one of its operands where the object itself is kept:
    ``d_t = -(-d_x)`` folded to ``d_t = d_x`` would make ``d_t`` an alias, and
    an in-place write to it would reach the caller's array.  (The transform
    folds each tangent before it decides whether that tangent needs a private
    copy; folding after inlining, in :func:`forward_substitute`, is safe.)"""
    return _fold(node, safe, not safe)


_READS = (gast.BinOp, gast.UnaryOp, gast.Compare)  # arithmetic that copies its operands


def _fold(node, safe, may_alias):
    kind = type(node)
    if kind is gast.Name or kind is gast.Constant:
        return node
    inner = not safe or kind in _READS
    for field in node._fields:
        value = getattr(node, field, None)
        if type(value) is list:
            for i, item in enumerate(value):
                if isinstance(item, gast.AST):
                    value[i] = _fold(item, safe, inner)
        elif isinstance(value, gast.AST):
            setattr(node, field, _fold(value, safe, inner))
    if kind is gast.BinOp:
        folded = _fold_binop(node)
    elif kind is gast.UnaryOp:
        folded = _fold_unary(node)
    else:
        return node
    if may_alias or type(folded) in (gast.BinOp, gast.UnaryOp, gast.Constant):
        return folded
    return node  # an identity would leave an operand (an existing object) here


def remove_dead(fdef, removable):
    """Drop assignments whose single target is in ``removable`` and never read."""
    while True:
        read = set()
        for n in trees.walk(fdef):
            kind = type(n)
            if kind is gast.Name and isinstance(n.ctx, gast.Load):
                read.add(n.id)
            elif kind is gast.AugAssign and type(n.target) is gast.Name:
                read.add(n.target.id)  # `x += y` reads x, and may write through an alias
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
    return all(trees.alias_call(sub) for sub in trees.walk(node) if type(sub) is gast.Call)


def forward_substitute(fdef, candidates, is_pure_call, tangents=frozenset()):
    """Inline each compiler temporary that is assigned once and read once, later
    in the same block, with nothing in between that could change what it reads.
    Tangent expressions that received an inlined value are folded again
    (``fold(..., safe=True)``); the user's own computation never is: an
    identity such as ``k / 1 -> k`` changes an integer array's dtype, and
    ``-(-a) -> a`` makes a new array an alias of ``a``.

    This turns one-operation-per-line code back into expressions where a value
    is used once, which reads better and, for large arrays, keeps fewer
    temporaries alive at once (numpy then reuses their memory instead of
    asking the OS for fresh pages)."""
    uses = {}
    for n in trees.walk(fdef):
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load):
            uses[n.id] = uses.get(n.id, 0) + 1
    # Moving an expression keeps every other name's count, so `uses` stays
    # valid; and an inlining never enables an earlier one (uses, writes and
    # loop nesting are unchanged, sizes only grow), so one pass is enough.
    _substitute_block(fdef, "body", candidates, uses, is_pure_call, tangents)
    return fdef


def _substitute_block(node, field, candidates, uses, is_pure_call, tangents):
    block = getattr(node, field, None)
    if not isinstance(block, list):
        return False
    changed = False
    facts = {}  # id(stmt) -> (names it reads, names it writes), computed once
    i = 0
    while i < len(block):
        stmt = block[i]
        if isinstance(stmt, (gast.If, gast.For, gast.While, gast.With)):
            for sub in ("body", "orelse"):
                changed |= _substitute_block(stmt, sub, candidates, uses, is_pure_call,
                                             tangents)
            i += 1
            continue
        if _inline_one(block, i, candidates, uses, is_pure_call, facts, tangents):
            changed = True
            continue  # the next statement moved into position i
        i += 1
    return changed


def _scan(node, is_pure_call):
    """(names read, names written or "*", size estimate, pure) in one walk."""
    loads, writes, size, pure = set(), set(), 0, True
    for n in trees.walk(node):
        kind = type(n)
        if kind is gast.Name:
            size += len(n.id) + 1
            if isinstance(n.ctx, gast.Load):
                loads.add(n.id)
            elif isinstance(n.ctx, gast.Store):
                writes.add(n.id)
        elif kind is gast.Constant:
            size += len(repr(n.value))
        elif kind is gast.Attribute:
            size += len(n.attr) + 1
        elif kind is gast.Call:
            size += 4
            if not (trees.alias_call(n) or is_pure_call(n)):
                writes.add("*")
                pure = False
            elif _writes_in_place(n):
                writes.add("*")
        elif kind in (gast.BinOp, gast.Compare, gast.keyword):
            size += 4
        elif kind in (gast.IfExp, gast.BoolOp):
            pure = False
        elif kind is gast.AugAssign or (kind is gast.Subscript and isinstance(n.ctx, gast.Store)):
            writes.add("*")
    return loads, writes, size, pure


def _facts(stmt, is_pure_call, facts):
    key = id(stmt)
    if key not in facts:
        facts[key] = (stmt,) + _scan(stmt, is_pure_call)[:3]
    return facts[key][1], facts[key][2], facts[key][3]


def _inline_one(block, i, candidates, uses, is_pure_call, facts, tangents):
    stmt = block[i]
    if not (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], gast.Name)):
        return False
    ident = stmt.targets[0].id
    if ident not in candidates or uses.get(ident) != 1 or getattr(stmt, "fc_named", False):
        return False  # (fc_named: the transform keeps this intermediate tangent's name)
    reads, _, value_size, pure = _scan(stmt.value, is_pure_call)
    if not pure:
        return False
    for j in range(i + 1, len(block)):
        later = block[j]
        loads, writes, size = _facts(later, is_pure_call, facts)
        if ident not in loads:
            if writes & (reads | {"*"}):
                return False
            continue
        if isinstance(later, (gast.If, gast.For, gast.While, gast.With)):
            return False  # never move work into a loop, a branch or a header
        if size + value_size > _MAX_SIZE:
            return False
        trees.substitute(later, {ident: stmt.value}, copy=False)
        _fold_tangent_part(later, tangents)
        facts.pop(id(later), None)
        uses[ident] = 0
        del block[i]
        return True
    return False


def _fold_tangent_part(stmt, tangents):
    """Fold what ``stmt`` computes for tangents: the value of ``d_x = ...``,
    the tangent half of ``return (value, tangent)``."""
    if isinstance(stmt, gast.Assign) and all(
            type(t) is gast.Name and t.id in tangents for t in stmt.targets):
        stmt.value = fold(stmt.value, safe=True)
    elif isinstance(stmt, gast.Return) and type(stmt.value) is gast.Tuple \
            and len(stmt.value.elts) == 2:
        stmt.value.elts[1] = fold(stmt.value.elts[1], safe=True)


_MAX_SIZE = 120  # an estimate calibrated to about 100 characters of source


def _writes_in_place(call):
    """``_rt.inplace_batched_add(d, v, x)`` and friends (vector mode) update ``d`` in
    place: the helpers declared ``@updates_first`` (runtime/facts.py)."""
    return type(call.func) is gast.Attribute and trees.alias_call(call, "_rt", (call.func.attr,)) \
        and updates_first_argument(call.func.attr)
