"""Reading, copying and rewriting gast trees.

Contract: plain functions over gast nodes, one implementation of each thing
the compiler's passes ask of a tree: every node (:func:`walk`, or only a
function's own with :func:`walk_own`, :func:`local_stores`), a copy
(:func:`clone`), a structural key (:func:`structure`), name substitution
(:func:`substitute`), whether a name is read (:func:`mentions`), the value of
a numeric literal (:func:`constant_value`, :func:`is_number`), assignment
targets (:func:`base_name`, :func:`leaves`, :func:`as_store`,
:func:`as_load`), calls of the reserved aliases (:func:`alias_call`) and their
final spelling (:func:`spell_aliases`).  Nothing here knows about derivatives.
"""

from __future__ import annotations

import gast

from .nodes import ALIAS, QUIET, RESOLVED, STRUCTURE, alias_of

_LOCATION = ("lineno", "col_offset", "end_lineno", "end_col_offset")


def clone(node):
    """A deep copy of an AST (several times faster than copy.deepcopy); a
    Name keeps its reserved-alias mark, a Call what it was resolved to."""
    if isinstance(node, list):
        return [clone(n) for n in node]
    if not isinstance(node, gast.AST):
        return node  # str, int, float, None: immutable leaves
    new = copy_location(type(node)(**{f: clone(getattr(node, f, None))
                                      for f in node._fields}), node)
    return _keep_marks(new, node)


def _keep_marks(new, node):
    """``new`` with ``node``'s marks: a Name's alias, a Call's resolved target,
    the structure a read of a structured parameter reads."""
    kind = type(node)
    if kind is gast.Name and hasattr(node, ALIAS):
        setattr(new, ALIAS, getattr(node, ALIAS))
    elif kind is gast.Call and hasattr(node, RESOLVED):
        setattr(new, RESOLVED, getattr(node, RESOLVED))
    if hasattr(node, STRUCTURE):
        setattr(new, STRUCTURE, getattr(node, STRUCTURE))
    if hasattr(node, QUIET):
        setattr(new, QUIET, getattr(node, QUIET))
    return new


def copy_location(new, node):
    """``new`` with ``node``'s line and column attributes, those it has."""
    for attr in _LOCATION:
        if hasattr(node, attr):
            setattr(new, attr, getattr(node, attr))
    return new


def walk(node):
    """Every node under ``node`` (itself included), in no particular order.
    A plain stack over ``_fields``: several times faster than ``ast.walk``."""
    out, stack = [], [node]
    ast_type = gast.AST
    pop, push, keep = stack.pop, stack.append, out.append
    while stack:
        n = pop()
        keep(n)
        for f in n._fields:
            v = getattr(n, f, None)
            if type(v) is list:
                for x in v:  # a plain loop: a generator here cost a third of walk's time
                    if isinstance(x, ast_type):
                        push(x)
            elif isinstance(v, ast_type):
                push(v)
    return out


def walk_own(fdef):
    """The nodes of a function (its parameters and body), not those of
    functions defined inside it (their FunctionDef nodes are included)."""
    out, stack = [], list(fdef.body) + [fdef.args]
    while stack:
        n = stack.pop()
        out.append(n)
        if not isinstance(n, gast.FunctionDef):
            stack.extend(gast.iter_child_nodes(n))
    return out


def local_stores(fdef):
    """Names a function binds (parameters, assignments, nested functions),
    not looking inside functions nested in it."""
    out = {a.id for a in fdef.args.posonlyargs + fdef.args.args + fdef.args.kwonlyargs}
    for n in walk_own(fdef):
        if isinstance(n, gast.FunctionDef):
            out.add(n.name)
        elif isinstance(n, gast.Name) and isinstance(n.ctx, (gast.Store, gast.Del)):
            out.add(n.id)
    return out


def structure(node):
    """A hashable key equal for structurally identical expressions (a
    reserved alias differs from a user's variable spelled the same)."""
    if isinstance(node, list):
        return tuple(structure(n) for n in node)
    if not isinstance(node, gast.AST):
        return node if not isinstance(node, float) or node == node else "nan"
    key = (type(node).__name__,) + tuple(
        structure(getattr(node, f, None)) for f in node._fields if f != "ctx")
    return key + ("alias",) if type(node) is gast.Name and hasattr(node, ALIAS) else key


def as_store(node):
    """A copy of a target expression with Store context everywhere on its spine."""
    node = clone(node)
    _set_ctx(node, gast.Store())
    return node


def as_load(node):
    node = clone(node)
    _set_ctx(node, gast.Load())
    return node


def _set_ctx(node, ctx):
    if isinstance(node, (gast.Name, gast.Attribute, gast.Subscript, gast.Starred)):
        node.ctx = type(ctx)()
    if isinstance(node, (gast.Tuple, gast.List)):
        node.ctx = type(ctx)()
        for elt in node.elts:
            _set_ctx(elt, ctx)
    elif isinstance(node, gast.Subscript):
        pass  # the subscripted value itself is read, not stored


def base_name(target):
    """``a`` for ``a``, ``a[i]``, ``a[i][j]``; None otherwise."""
    while isinstance(target, gast.Subscript):
        target = target.value
    return target.id if isinstance(target, gast.Name) else None


def leaves(target):
    """The single targets of a (nested) tuple or list target, in order."""
    if isinstance(target, (gast.Tuple, gast.List)):
        return [leaf for elt in target.elts for leaf in leaves(elt)]
    return [target]


def mentions(node, ident):
    """Whether a Name ``ident`` occurs in ``node``."""
    return any(isinstance(n, gast.Name) and n.id == ident for n in walk(node))


def constant_value(node, kinds=(int, float)):
    """The number a literal spells, ``3``, ``-3``, ``0.5`` (of a type in
    ``kinds``; never a bool), else None."""
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        inner = constant_value(node.operand, kinds)
        return None if inner is None else -inner
    if isinstance(node, gast.Constant) and type(node.value) in kinds:
        return node.value
    return None


def is_number(node):
    """A numeric literal, ``3``, ``-2.5``, ``+1j``."""
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.UAdd):
        node = node.operand
    return constant_value(node, (int, float, complex)) is not None


def substitute(node, mapping, copy=True):
    """``node`` with every Name read (Load) whose id is in ``mapping``
    replaced by a copy of its value: a copy of ``node`` (one pass), or
    ``node`` itself rewritten in place when ``copy`` is false (the result is
    then ``node``, or the replacement if ``node`` is such a Name)."""
    if copy:
        return _substituted_copy(node, mapping)
    if type(node) is gast.Name and node.id in mapping and isinstance(node.ctx, gast.Load):
        return clone(mapping[node.id])
    stack = [node]
    while stack:
        parent = stack.pop()
        for field in parent._fields:
            child = getattr(parent, field, None)
            if type(child) is list:
                for k, item in enumerate(child):
                    if type(item) is gast.Name and item.id in mapping \
                            and isinstance(item.ctx, gast.Load):
                        child[k] = clone(mapping[item.id])
                    elif isinstance(item, gast.AST):
                        stack.append(item)
            elif type(child) is gast.Name and child.id in mapping \
                    and isinstance(child.ctx, gast.Load):
                setattr(parent, field, clone(mapping[child.id]))
            elif isinstance(child, gast.AST):
                stack.append(child)
    return node


def _substituted_copy(node, mapping):
    """``clone`` and substitution in one pass (rules are instantiated a hundred
    times per function: this is on the transform's hot path)."""
    if type(node) is list:
        return [_substituted_copy(n, mapping) for n in node]
    if not isinstance(node, gast.AST):
        return node
    if type(node) is gast.Name:
        if node.id in mapping and isinstance(node.ctx, gast.Load):
            return clone(mapping[node.id])
        return clone(node)
    return _keep_marks(copy_location(type(node)(**{
        f: _substituted_copy(getattr(node, f, None), mapping)
        for f in node._fields}), node), node)


def alias_call(node, alias=None, names=None):
    """Whether ``node`` calls a function of a reserved alias: with ``names``
    (a collection of function names), ``_rt.lift(...)`` where the function
    is an attribute of the alias itself and its name is in ``names``;
    without, any attribute path on the alias, ``_np.linalg.solve(...)``.
    ``alias`` (``"_rt"``) restricts the alias; by default any counts."""
    if type(node) is not gast.Call:
        return False
    func = node.func
    if names is not None:
        if type(func) is not gast.Attribute or func.attr not in names:
            return False
        root = func.value
    else:
        root = func
        while type(root) is gast.Attribute:
            root = root.value
    canonical = alias_of(root)
    return canonical is not None and (alias is None or canonical == alias)


def spell_aliases(tree, spelling):
    """Rename, in place, the reserved aliases in ``tree`` as ``spelling``
    (``{canonical: spelled}``, see :func:`.nodes.alias_spelling`) says; a
    renamed node stays marked, so spelling twice is harmless.  Returns ``tree``."""
    for node in walk(tree):
        canonical = alias_of(node)
        if canonical is not None:
            node.id = spelling.get(canonical, canonical)
    return tree
