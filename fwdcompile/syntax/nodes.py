"""Small constructors for gast nodes.

Every node the compiler creates goes through these helpers, so that a change
in gast's node signatures (which killed Tangent when gast 0.3 replaced
``Num``/``Str`` by ``Constant``) is fixed in one place.
"""

from __future__ import annotations

import gast

import contextlib

LOAD, STORE = gast.Load(), gast.Store()

# How generated code spells numpy, math and fwdcompile.runtime.  Rules are
# written with these names; a function whose own variables use one of them
# gets different spellings for its generated code (see `aliases`).
RESERVED = ("_np", "_math", "_rt")
_ALIASES = {name: name for name in RESERVED}


@contextlib.contextmanager
def aliases(mapping):
    """Spell the reserved module aliases as ``mapping`` says while generating."""
    saved = dict(_ALIASES)
    _ALIASES.update(mapping)
    try:
        yield
    finally:
        _ALIASES.clear()
        _ALIASES.update(saved)


def alias(name):
    return _ALIASES.get(name, name)


def is_alias(ident):
    return ident in _ALIASES.values()


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
    """``"_np.linalg.solve"`` -> nested Attribute nodes."""
    head, *rest = path.split(".")
    node = name(alias(head))
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


_LOCATION = ("lineno", "col_offset", "end_lineno", "end_col_offset")


def clone(node):
    """A deep copy of an AST (several times faster than copy.deepcopy)."""
    if isinstance(node, list):
        return [clone(n) for n in node]
    if not isinstance(node, gast.AST):
        return node  # str, int, float, None: immutable leaves
    return copy_location(type(node)(**{f: clone(getattr(node, f, None))
                                       for f in node._fields}), node)


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


def structure(node):
    """A hashable key equal for structurally identical expressions."""
    if isinstance(node, list):
        return tuple(structure(n) for n in node)
    if not isinstance(node, gast.AST):
        return node if not isinstance(node, float) or node == node else "nan"
    return (type(node).__name__,) + tuple(
        structure(getattr(node, f, None)) for f in node._fields if f != "ctx")


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


def function_def(fname, params, body, kwonly=(), defaults=(), kw_defaults=None):
    args = gast.arguments(args=[param(p) for p in params], posonlyargs=[], vararg=None,
                          kwonlyargs=[param(p) for p in kwonly],
                          kw_defaults=list(kw_defaults) if kw_defaults is not None
                          else [None] * len(kwonly),
                          kwarg=None, defaults=list(defaults))
    return gast.FunctionDef(name=fname, args=args, body=list(body), decorator_list=[],
                            returns=None, type_comment=None, type_params=[])


def module(body):
    return gast.Module(body=list(body), type_ignores=[])


def is_name(node, ident=None):
    return isinstance(node, gast.Name) and (ident is None or node.id == ident)


def is_const(node, value=None):
    if not isinstance(node, gast.Constant):
        return False
    return value is None or (type(node.value) in (int, float) and node.value == value)
