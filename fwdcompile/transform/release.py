"""Releasing values after their last use: ``del`` in the generated code.

Contract: :func:`release` inserts, after a top-level statement of the
generated function, one ``del a, d_a, ...`` naming the locals that
statement is the last to read (or that it binds and nothing reads), so an
intermediate array and its tangent are freed when they are dead, not when
the function returns.  A JVP's peak memory is then that of the values alive
at once, as in the primal function, instead of every intermediate of the
function together; in vector mode each tangent is K times its value.

What is released, conservatively:

* only names bound by a top-level simple statement before the ``del`` (a
  name bound only inside an ``if`` or a loop may be unbound there);
* not a name read anywhere later (inside loops and branches included), nor
  a parameter (the caller holds it anyway), nor a name known to hold a
  scalar (``keep``: nothing to gain, one more line to read);
* nothing inside loops or branches: a name rebound there frees its old
  value anyway.

The statements and their order are unchanged; only ``del`` lines are added.
"""

from __future__ import annotations

import gast

from ..syntax import trees

_COMMENT = "__fc_comment_"  # the transform's comment markers (transform/jvp.py)


def release(fdef, keep=frozenset()):
    """Add the ``del`` statements to ``fdef`` in place (see the module doc)."""
    args = fdef.args
    params = {a.id for a in args.posonlyargs + args.args + args.kwonlyargs}
    for extra in (args.vararg, args.kwarg):
        if extra is not None:
            params.add(extra.id)
    body = fdef.body
    read_later = [set() for _ in body]
    later = set()
    for i in range(len(body) - 1, -1, -1):
        read_later[i] = set(later)
        later |= _reads(body[i])
    skip = params | set(keep) | _aliases(fdef, params)
    out, bound, dying = [], set(), []

    def flush():
        line: list = []
        for name in sorted(set(dying)):  # lines of about 80 characters
            if line and sum(len(n) + 2 for n in line) + len(name) > 72:
                out.append(_delete(line))
                line = []
            line.append(name)
        if line:
            out.append(_delete(line))
        dying.clear()

    for i, stmt in enumerate(body):
        if _is_comment(stmt):  # the next statement of the user's: release what died before it
            if i + 1 < len(body) and isinstance(body[i + 1], gast.Return):
                dying.clear()  # returning frees them anyway
            flush()
        out.append(stmt)
        if isinstance(stmt, (gast.Assign, gast.AugAssign, gast.AnnAssign)):
            bound |= _names(stmt, gast.Store)
        if isinstance(stmt, (gast.Return, gast.Raise)):
            dying.clear()
            continue
        used = _names(stmt, gast.Load) | _names(stmt, gast.Store)
        dead = (used & bound) - read_later[i] - skip
        dying.extend(dead)
        bound -= dead
        if not isinstance(stmt, (gast.Assign, gast.AugAssign, gast.AnnAssign, gast.Expr)):
            flush()  # after a loop or a branch, at once
    flush()
    fdef.body = out


def _delete(names):
    return gast.Delete(targets=[gast.Name(id=n, ctx=gast.Del(), annotation=None,
                                          type_comment=None) for n in names])


def _is_comment(stmt):
    return isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Name) \
        and stmt.value.id.startswith(_COMMENT)


def _aliases(fdef, params):
    """Names only ever bound to a parameter or a part of one (``W = layers_0_0``,
    ``params_W1 = params['W1']``, ``x0 = x[0]``): releasing them frees nothing."""
    binds = {}
    for node in trees.walk(fdef):
        if isinstance(node, (gast.Assign, gast.AugAssign, gast.AnnAssign, gast.For)):
            targets = [node.target] if not isinstance(node, gast.Assign) else node.targets
            value = None if isinstance(node, (gast.AugAssign, gast.For)) else node.value
            for target in targets:
                for name, part in _pairs(target, value):
                    binds.setdefault(name, []).append(part)
    aliases = set(params)
    changed = True
    while changed:
        changed = False
        for name, values in binds.items():
            if name not in aliases and all(_reads_part(v, aliases) for v in values):
                aliases.add(name)
                changed = True
    return aliases - set(params)


def _pairs(target, value):
    """(name, the expression it is bound to, or None when unknown) for a target."""
    if isinstance(target, gast.Name):
        return [(target.id, value)]
    if isinstance(target, (gast.Tuple, gast.List)):
        if isinstance(value, (gast.Tuple, gast.List)) and len(value.elts) == len(target.elts):
            return [p for t, v in zip(target.elts, value.elts) for p in _pairs(t, v)]
        return [p for t in target.elts for p in _pairs(t, None)]
    return []


def _reads_part(value, aliases):
    """Whether ``value`` is an alias or a constant-key read of one."""
    while isinstance(value, (gast.Subscript, gast.Attribute)):
        if isinstance(value, gast.Subscript) and not (
                isinstance(value.slice, gast.Constant)
                and type(value.slice.value) in (int, str)):
            return False
        value = value.value
    return isinstance(value, gast.Name) and value.id in aliases


def _reads(stmt):
    """The names ``stmt`` reads: loads, and the targets of ``x += ...`` (which
    read ``x`` and update it in place when it is an array)."""
    augmented = {n.target.id for n in trees.walk(stmt)
                 if isinstance(n, gast.AugAssign) and isinstance(n.target, gast.Name)}
    return _names(stmt, gast.Load) | augmented


def _names(stmt, ctx):
    """The local names ``stmt`` reads (or binds) in its own scope: not the
    variables of a comprehension inside it (``[d_k.copy() for d_k in d]``)."""
    found = {n.id for n in trees.walk(stmt) if isinstance(n, gast.Name)
             and isinstance(n.ctx, ctx) and not n.id.startswith(_COMMENT)}
    inner = {t.id for c in trees.walk(stmt) if isinstance(c, _COMPREHENSIONS)
             for g in c.generators for t in trees.walk(g.target) if isinstance(t, gast.Name)}
    return found - inner


_COMPREHENSIONS = (gast.ListComp, gast.SetComp, gast.DictComp, gast.GeneratorExp)
