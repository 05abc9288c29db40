"""Shape a generated JVP for region lowering (regions.py) before it is partitioned.

Contract: :func:`prepare` rewrites a freshly parsed generated JVP in place,
without changing what it computes, so that more of it lands in few native
regions:

* ``return (e_value, e_tangent)`` becomes assignments of each expression to
  a new name and a return of the names, so the expressions can lower;
* a two-operand ``np.einsum`` that is a matrix product (``"id,jd->ij"``)
  becomes ``@`` with transposes (numpy's einsum does not call BLAS unless
  ``optimize=`` is given: 5-7x slower on an attention block);
* in a simple statement, each matrix product (``@``, ``np.dot``,
  ``np.einsum``, ``np.linalg``, ...) is hoisted into its own assignment just
  before the statement (``blas_1 = X @ W1``), leaving the elementwise work
  around it (bias, activation, their tangents) lowerable;
* in each run of products and lowerable assignments, statements are
  reordered (dependences kept) so that products run in as few groups as
  possible: the products of a layer's value and tangent then run back to
  back in numpy, and the elementwise statements between groups join one
  region.

Only what cannot change a result moves: products are hoisted only from
statements that call nothing but catalogue functions and products, never
out of a conditional expression (``a if c else b``, ``and``/``or``), and
reordering happens only among assignments to names that call nothing else
either (so no array is written in place in between: name dependences are
all the dependences there are).  New statements carry their origin's line, for placement.
"""

from __future__ import annotations

import gast


def prepare(fdef, candidates, local):
    """Rewrite ``fdef`` (see the module doc); ``candidates`` decides what lowers."""
    names = _Names(local)
    _einsum_products(fdef, candidates)
    _split_returns(fdef.body, names)
    _hoist_block(fdef.body, candidates, names)
    _schedule_block(fdef.body, candidates)
    local |= names.made


class _Names:
    """Fresh local names, ``blas_1``, ``value_1``, ... never clashing with the function's."""

    def __init__(self, local):
        self.taken = set(local)
        self.made = set()
        self.counts = {}

    def __call__(self, base):
        while True:
            self.counts[base] = self.counts.get(base, 0) + 1
            name = f"{base}_{self.counts[base]}"
            if name not in self.taken:
                self.taken.add(name)
                self.made.add(name)
                return name


def _name(name, store=False):
    return gast.Name(id=name, ctx=gast.Store() if store else gast.Load(), annotation=None,
                     type_comment=None)


def _assign(name, value, origin):
    stmt = gast.Assign(targets=[_name(name, store=True)], value=value, type_comment=None)
    return gast.copy_location(stmt, origin)


def _bodies(stmt):
    return [getattr(stmt, f) for f in ("body", "orelse")
            if isinstance(getattr(stmt, f, None), list)]


# ---------------------------------------------------------------- einsum
def matmul_form(spec):
    """``(transpose a, transpose b, transpose the result)`` when the einsum
    ``spec`` of two operands is a matrix, matrix-vector or vector product
    written with ``@`` and transposes, else None."""
    spec = spec.replace(" ", "")
    if spec.count("->") != 1 or "." in spec:
        return None
    inputs, out = spec.split("->")
    parts = inputs.split(",")
    if len(parts) != 2 or any(len(set(x)) != len(x) for x in (*parts, out)):
        return None
    a, b = parts
    shared = set(a) & set(b)
    if len(shared) != 1 or shared & set(out) or set(out) != (set(a) | set(b)) - shared:
        return None
    c = shared.pop()
    if len(a) == 2 and len(b) == 2:
        i, k = (set(a) - {c}).pop(), (set(b) - {c}).pop()
        if out in (i + k, k + i):
            return a != i + c, b != c + k, out == k + i
    elif len(a) == 2 and len(b) == 1:
        return (a[1] != c, False, False) if out == a.replace(c, "") else None
    elif len(a) == 1 and len(b) == 2:
        return (False, b[0] != c, False) if out == b.replace(c, "") else None
    elif len(a) == 1 and len(b) == 1:
        return False, False, False
    return None


def _einsum_products(fdef, candidates):
    for node in gast.walk(fdef):
        for field, value in gast.iter_fields(node):
            items = value if isinstance(value, list) else [value]
            for i, item in enumerate(items):
                product = _as_matmul(item, candidates)
                if product is None:
                    continue
                if isinstance(value, list):
                    value[i] = product
                else:
                    setattr(node, field, product)


def _as_matmul(node, candidates):
    if not (isinstance(node, gast.Call) and len(node.args) == 3 and not node.keywords
            and isinstance(node.args[0], gast.Constant) and isinstance(node.args[0].value, str)
            and candidates.is_einsum(node)):
        return None
    form = matmul_form(node.args[0].value)
    if form is None:
        return None
    a, b = (_transposed(x) if t else x for x, t in zip(node.args[1:], form))
    product = gast.BinOp(left=a, op=gast.MatMult(), right=b)
    return _transposed(product) if form[2] else product


def _transposed(node):
    return gast.Attribute(value=node, attr="T", ctx=gast.Load())


# ---------------------------------------------------------------- returns
def _split_returns(stmts, names):
    i = 0
    while i < len(stmts):
        s = stmts[i]
        for body in _bodies(s):
            _split_returns(body, names)
        if isinstance(s, gast.Return) and isinstance(s.value, gast.Tuple):
            before = []
            for part in s.value.elts:
                leaves = part.elts if isinstance(part, gast.Tuple) else [part]
                holder = part.elts if isinstance(part, gast.Tuple) else s.value.elts
                for leaf in leaves:
                    if isinstance(leaf, (gast.Name, gast.Constant)):
                        continue
                    name = names("value" if part is s.value.elts[0] else "tangent")
                    before.append(_assign(name, leaf, s))
                    holder[holder.index(leaf)] = _name(name)
            stmts[i:i] = before
            i += len(before)
        i += 1


# ---------------------------------------------------------------- hoisting
def _hoist_block(stmts, candidates, names):
    i = 0
    while i < len(stmts):
        s = stmts[i]
        for body in _bodies(s):
            _hoist_block(body, candidates, names)
        before = []
        # only from statements calling nothing impure: a product evaluated before
        # the rest of its statement must not miss (or see) a write the rest makes
        if isinstance(s, (gast.Assign, gast.AugAssign)) and not candidates(s) \
                and not _blocking(s.value, candidates) and candidates.pure(s):
            s.value = _hoist(s.value, candidates, names, before, s)
        stmts[i:i] = before
        i += len(before) + 1


def _blocking(node, candidates):
    """Whether ``node`` is a product (hoisted whole)."""
    return candidates.is_blas(node)


def _hoist(node, candidates, names, before, origin):
    if _blocking(node, candidates):
        name = names("blas")
        before.append(_assign(name, node, origin))
        return _name(name)
    if isinstance(node, (gast.IfExp, gast.BoolOp, gast.Lambda)):
        return node  # evaluated conditionally: hoisting would evaluate it always
    for field, value in gast.iter_fields(node):
        if isinstance(value, gast.expr):
            setattr(node, field, _hoist(value, candidates, names, before, origin))
        elif isinstance(value, list):
            setattr(node, field, [_hoist(v, candidates, names, before, origin)
                                  if isinstance(v, gast.expr) else v for v in value])
    return node


# ---------------------------------------------------------------- scheduling
def _schedule_block(stmts, candidates):
    for s in stmts:
        for body in _bodies(s):
            _schedule_block(body, candidates)
    start = 0
    while start < len(stmts):
        end = start
        while end < len(stmts) and _passable(stmts[end], candidates):
            end += 1
        if end > start:
            stmts[start:end] = _schedule(stmts[start:end], candidates)
        start = end + 1


def _schedule(segment, candidates):
    """``segment`` (products and lowerable assignments) in as few alternations
    of numpy products and native statements as its dependences allow: each
    statement's level is the number of product groups that must run before
    it, and the order is by level, products first within a level, then as
    written.  A ``del`` goes to the end of the segment (unless the name is
    bound again after it: then the segment keeps its order)."""
    deletes = [s for s in segment if isinstance(s, gast.Delete)]
    body = [s for s in segment if not isinstance(s, gast.Delete)]
    for d in deletes:
        after = segment[segment.index(d) + 1:]
        if any(_bound(s) & _bound(d) for s in after if s is not d):
            return segment
    level, kinds = [], []
    for i, s in enumerate(body):
        blas = _movable(s, candidates)
        reads, binds = _read(s), _bound(s)
        lv = 0
        for j in range(i):
            t = body[j]
            if _bound(t) & (reads | binds) or _read(t) & binds:
                lv = max(lv, level[j] + (1 if blas and not kinds[j] else 0))
        level.append(lv)
        kinds.append(blas)
    order = sorted(range(len(body)), key=lambda i: (level[i], not kinds[i], i))
    return [body[i] for i in order] + deletes


def _movable(s, candidates):
    """A product assigned to a name: pure, so it may run earlier."""
    return isinstance(s, gast.Assign) and len(s.targets) == 1 \
        and isinstance(s.targets[0], gast.Name) and _blocking(s.value, candidates) \
        and all(_plain_read(a) for a in _operands(s.value))


def _plain_read(node):
    """A name, a constant, or an index or attribute of one (``xs[t]``, ``W.T``):
    reading it computes nothing and calls nothing."""
    return all(isinstance(n, (gast.Name, gast.Constant, gast.Subscript, gast.Attribute,
                              gast.Slice, gast.Tuple, gast.Load, gast.expr_context))
               for n in gast.walk(node))


def _operands(node):
    if isinstance(node, gast.BinOp):
        return [node.left, node.right]
    return list(node.args) + [k.value for k in node.keywords]


def _passable(s, candidates):
    """A statement a product may move above: it writes no array in place."""
    if isinstance(s, gast.Delete):
        return True
    if not (isinstance(s, gast.Assign) and all(isinstance(t, (gast.Name, gast.Tuple))
                                               for t in s.targets)):
        return False
    return candidates.pure(s) and (candidates(s) or _movable(s, candidates))


def _bound(s):
    return {n.id for n in gast.walk(s) if isinstance(n, gast.Name)
            and isinstance(n.ctx, (gast.Store, gast.Del))}


def _read(s):
    return {n.id for n in gast.walk(s) if isinstance(n, gast.Name)
            and isinstance(n.ctx, gast.Load)}

