"""Small constructors for gast nodes.

Every node the compiler creates goes through these helpers, so that a change
in gast's node signatures (which killed Tangent when gast 0.3 replaced
``Num``/``Str`` by ``Constant``) is fixed in one place.

Generated code reaches numpy, math and fwdcompile.runtime through the
reserved aliases ``_np``, ``_math`` and ``_rt``.  The compiler always builds
them in this canonical spelling, as Name nodes *marked* as aliases
(:func:`alias`, and :func:`dotted` for a path that starts with one); a
function whose own variables use one of these names gets them renamed at the
end (:func:`alias_spelling`, :func:`fwdcompile.syntax.trees.spell_aliases`).
Whether a name is an alias is read from the mark, never from the spelling,
so no global state says how aliases are spelled.
"""

from __future__ import annotations

import gast

LOAD, STORE = gast.Load(), gast.Store()

RESERVED = ("_np", "_math", "_rt")  # numpy, math, fwdcompile.runtime
ALIAS = "fc_alias"  # the attribute marking a Name as a reserved alias: its canonical name
# the attribute on a Call holding what it calls, set once by frontend/resolve.py (the
# foundation only carries it along: clone and substitute keep it)
RESOLVED = "fc_call"
# the attribute on a Name, Subscript or Attribute reading a parameter passed as a
# structure (a pytree): that structure, a fwdcompile.tree.PyTreeDef, set by
# frontend/structures.py; the transform reads the tangent container with plain reads
STRUCTURE = "fc_structure"
# the attribute marking a statement the front end generated whose original statement
# already has its comment in the generated code (frontend/desugar.py)
QUIET = "fc_quiet"


def alias(canonical):
    """A Name reading the reserved alias ``canonical`` (``"_np"``), marked as one."""
    node = name(canonical)
    setattr(node, ALIAS, canonical)
    return node


def alias_of(node):
    """The canonical name of the reserved alias ``node`` reads, or None."""
    return getattr(node, ALIAS, None) if type(node) is gast.Name else None


def mark_aliases(tree):
    """Mark, in place, the Name nodes of ``tree`` spelled as a reserved alias
    (for rule templates written as text, ``"_np.cos(x)"``).  Returns ``tree``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if type(node) is gast.Name and node.id in RESERVED:
            setattr(node, ALIAS, node.id)
        for child in gast.iter_child_nodes(node):
            stack.append(child)
    return tree


def alias_spelling(used):
    """``{canonical: spelling}`` for a function whose own names are ``used``:
    ``_np`` stays ``_np`` unless the function has a variable of that name,
    then it becomes ``_np_2`` (or ``_np_3``, ...)."""
    spelled = {}
    for reserved in RESERVED:
        spelled[reserved] = reserved
        k = 1
        while spelled[reserved] in used:  # the user's own variable is called _np
            k += 1
            spelled[reserved] = f"{reserved}_{k}"
    return spelled


def name(ident, store=False):
    return gast.Name(id=ident, ctx=gast.Store() if store else gast.Load(),
                     annotation=None, type_comment=None)


def param(ident):
    return gast.Name(id=ident, ctx=gast.Param(), annotation=None, type_comment=None)


def const(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return gast.UnaryOp(op=gast.USub(), operand=gast.Constant(value=-value, kind=None))
    return gast.Constant(value=value, kind=None)


def attr(value, attribute):
    if isinstance(value, str):
        value = name(value)
    return gast.Attribute(value=value, attr=attribute, ctx=gast.Load())


def dotted(path):
    """``"_np.linalg.solve"`` -> nested Attribute nodes (a reserved alias at
    the head is marked as one)."""
    head, *rest = path.split(".")
    node = alias(head) if head in RESERVED else name(head)
    for part in rest:
        node = attr(node, part)
    return node


def call(func, args=(), keywords=()):
    if isinstance(func, str):
        func = dotted(func)
    kws = [k if isinstance(k, gast.keyword) else gast.keyword(arg=k[0], value=k[1])
           for k in (keywords.items() if isinstance(keywords, dict) else keywords)]
    return gast.Call(func=func, args=list(args), keywords=kws)


def binop(left, op, right):
    return gast.BinOp(left=left, op=op, right=right)


def neg(operand):
    return gast.UnaryOp(op=gast.USub(), operand=operand)


def tup(elts, store=False):
    return gast.Tuple(elts=list(elts), ctx=gast.Store() if store else gast.Load())


def assign(targets, value):
    if not isinstance(targets, list):
        targets = [targets]
    return gast.Assign(targets=targets, value=value, type_comment=None)


def aug_assign(target, op, value):
    return gast.AugAssign(target=target, op=op, value=value)


def ret(value):
    return gast.Return(value=value)


def subscript(value, index, store=False):
    return gast.Subscript(value=value, slice=index,
                          ctx=gast.Store() if store else gast.Load())


def ifexp(test, body, orelse):
    return gast.IfExp(test=test, body=body, orelse=orelse)


def if_(test, body, orelse=()):
    return gast.If(test=test, body=list(body), orelse=list(orelse))


def expr_stmt(value):
    return gast.Expr(value=value)


def lambda_to_def(lam, fname, at=None):
    """``def <fname>(<lam's parameters>): return <lam's body>``, located at
    ``at`` (default: the lambda); the body is located at the lambda's body."""
    body = gast.copy_location(gast.Return(value=lam.body), lam.body)
    fdef = gast.FunctionDef(name=fname, args=lam.args, body=[body], decorator_list=[],
                            returns=None, type_comment=None, type_params=[])
    return gast.copy_location(fdef, lam if at is None else at)
