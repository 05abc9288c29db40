"""Directions drawn where they are used: the lazy variant of a JVP.

Contract: :func:`lazy_tangents` rewrites a generated ``<name>_jvp`` so that
it takes no tangents but one keyword parameter, ``direction``: a callable
``direction(like, offset)`` returning the direction of the differentiated
leaf number ``offset`` (``like`` is that leaf, for the reader), drawn from a
counter-based sampler keyed by ``(seed, step, offset)``.  Each tangent is
drawn just before the first statement that reads it, and the release stage
deletes it after its last use, so no direction is held for longer than the
code needs it; the caller regenerates the same numbers from the same key to
form the gradient estimate.  ``_K``, the number of directions in vector
mode, is ``direction.k``.

Offsets follow :mod:`fwdcompile.tree`'s flattening order over the ``wrt``
parameters (a plain parameter is one leaf), the order in which
``forward_grad`` draws stored directions, so both give the same numbers.
A tangent of a structure used otherwise than by reading its leaves (passed
whole to a helper) raises :class:`~fwdcompile.errors.LazyUnsupported`.
"""

from __future__ import annotations

import gast

from ..errors import LazyUnsupported
from ..syntax import nodes, trees


def lazy_tangents(fdef, wrt, tangent_params, structures, param):
    """Rewrite ``fdef`` in place (see the module doc); ``param`` names the new parameter."""
    structures = dict(structures)
    offsets, t = {}, 0
    for p, tangent in zip(wrt, tangent_params):
        offsets[tangent] = (p, t)
        t += structures[p].num_leaves if p in structures else 1
    drawn = set()
    body = []
    for stmt in fdef.body:
        if _is_batch_size(stmt):
            stmt.value = nodes.attr(nodes.name(param), "k")
            body.append(stmt)
            continue
        leaf = _leaf_read(stmt, offsets, structures, param)
        if leaf is not None:
            body.append(leaf)
            continue
        read = {n.id for n in trees.walk(stmt) if isinstance(n, gast.Name)
                and n.id in offsets and isinstance(n.ctx, gast.Load)}
        for tangent in sorted(read - drawn):
            p, offset = offsets[tangent]
            if p in structures:
                raise LazyUnsupported(f"the tangent of {p} is used whole")
            body.append(trees.copy_location(nodes.assign(
                nodes.name(tangent, True),
                nodes.call(nodes.name(param), [nodes.name(p), nodes.const(offset)])), stmt))
            drawn.add(tangent)
        body.append(stmt)
    fdef.body = _just_in_time(body, param)
    args = fdef.args
    args.args = [a for a in args.args if a.id not in offsets]
    keep = [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if a.id not in offsets]
    args.kwonlyargs = [a for a, _ in keep] + [nodes.param(param)]
    args.kw_defaults = [d for _, d in keep] + [None]


def _just_in_time(body, param):
    """Each ``d = direction(...)`` moved down to just before the first
    statement that reads ``d`` (the structures stage reads every leaf at the
    top; drawn there, every direction would be alive at once)."""
    out, waiting = [], {}
    for stmt in body:
        if isinstance(stmt, gast.Assign) and isinstance(stmt.value, gast.Call) \
                and isinstance(stmt.value.func, gast.Name) and stmt.value.func.id == param \
                and len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Name):
            waiting[stmt.targets[0].id] = stmt
            continue
        read = {n.id for n in trees.walk(stmt) if isinstance(n, gast.Name)}
        for name in [n for n in waiting if n in read]:
            out.append(waiting.pop(name))
        out.append(stmt)
    return out + list(waiting.values())


def _is_batch_size(stmt):
    return isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 \
        and isinstance(stmt.targets[0], gast.Name) and stmt.targets[0].id == "_K" \
        and isinstance(stmt.value, gast.Call) \
        and trees.alias_call(stmt.value, "_rt", ("batch_size",))


def _leaf_read(stmt, offsets, structures, param):
    """``d_params_W1 = d_params['W1']`` made ``d_params_W1 = direction(params['W1'], 3)``."""
    if not (isinstance(stmt, gast.Assign) and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], gast.Name)):
        return None
    steps, node = [], stmt.value
    while isinstance(node, (gast.Subscript, gast.Attribute)):
        if isinstance(node, gast.Subscript):
            if not isinstance(node.slice, gast.Constant):
                return None
            steps.append(("item", node.slice.value))
        else:
            steps.append(("attr", node.attr))
        node = node.value
    if not steps or not isinstance(node, gast.Name) or node.id not in offsets:
        return None
    p, base = offsets[node.id]
    if p not in structures:
        return None
    index = _leaf_index(structures[p], list(reversed(steps)))
    if index is None:
        raise LazyUnsupported(f"a part of the tangent of {p} that is not a leaf is read")
    like = trees.clone(stmt.value)
    inner = like
    while isinstance(inner.value, (gast.Subscript, gast.Attribute)):
        inner = inner.value
    inner.value = nodes.name(p)
    stmt.value = nodes.call(nodes.name(param), [like, nodes.const(base + index)])
    return stmt


def _leaf_index(tdef, steps):
    """The flattening index of the leaf ``steps`` reach in ``tdef``, or None."""
    index = 0
    for kind, key in steps:
        if tdef.is_leaf:
            return None
        if tdef.kind == "dict":
            position = tdef.meta.index(key) if key in tdef.meta else None
        elif isinstance(tdef.kind, type):
            names = tdef.meta
            position = names.index(key) if kind == "attr" and key in names else \
                key if kind == "item" and type(key) is int else None
        else:
            position = key if type(key) is int else None
        if position is None or not 0 <= position < len(tdef.children):
            return None
        index += sum(c.num_leaves for c in tdef.children[:position])
        tdef = tdef.children[position]
    return index if tdef.is_leaf else None
