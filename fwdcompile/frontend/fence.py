"""The language fence: a whitelist of the Python fwdcompile understands.

Contract: :func:`check` walks a parsed function and raises
:class:`UnsupportedSyntax` at the first node whose type is not listed below,
with its location and a hint.  It runs at decoration time and depends only on
syntax; constructs whose support depends on what carries a derivative (a list
comprehension over differentiable values, a call with no rule) are rejected
later by :mod:`fwdcompile.transform.jvp`, with the same kind of message.
"""

from __future__ import annotations

import builtins
import warnings

import gast
import numpy as np

from ..errors import UnsupportedSyntax
from .specialise import LOCATION

STATEMENTS = (gast.Assign, gast.AugAssign, gast.AnnAssign, gast.Expr, gast.Return, gast.If,
              gast.While, gast.For, gast.Break, gast.Continue, gast.Pass, gast.Assert,
              gast.Raise)

EXPRESSIONS = (gast.BoolOp, gast.BinOp, gast.UnaryOp, gast.IfExp, gast.Compare, gast.Call,
               gast.Constant, gast.Attribute, gast.Subscript, gast.Name, gast.List, gast.Tuple,
               gast.Slice, gast.Dict, gast.Set, gast.JoinedStr, gast.FormattedValue,
               gast.ListComp, gast.GeneratorExp, gast.SetComp, gast.DictComp, gast.Starred)

# what to say about the constructs people most often reach for
REJECTED = {
    gast.ClassDef: ("class definitions inside a differentiated function are not supported",
                    "define the class at module level"),
    gast.FunctionDef: ("nested function definitions inside loops, branches or other local "
                       "functions are not supported",
                       "define the helper at the top of the function, or at module level"),
    gast.AsyncFunctionDef: ("async functions are not supported",
                            "define a plain `def` helper at module level"),
    gast.Lambda: ("lambda expressions are not supported here",
                  "assign the lambda to a name at the top of the function (f = lambda x: ...),"
                  " or use `def`"),
    gast.Try: ("try/except is not supported",
               "validate inputs before calling, or move the try block to the caller"),
    gast.With: ("`with` blocks are not supported here, other than `with np.errstate(...)` and "
                "`with warnings.catch_warnings()`",
                "move the `with` block to the caller; a class or a helper that needs a context "
                "manager can be called from inside one there"),
    gast.Global: ("`global` statements are not supported",
                  "pass the value as an argument and return the new value"),
    gast.Nonlocal: ("`nonlocal` statements are not supported",
                    "pass the value as an argument and return the new value"),
    gast.Yield: ("generators (`yield`) are not supported", "return an array or a tuple"),
    gast.YieldFrom: ("generators (`yield from`) are not supported", "return an array or a tuple"),
    gast.Await: ("`await` is not supported", "await in the caller and pass the result in"),
    gast.AsyncFor: ("`async for` is not supported", "use a plain `for` loop"),
    gast.AsyncWith: ("`async with` is not supported", "move the block to the caller"),
    gast.NamedExpr: ("assignment expressions (`:=`) are not supported",
                     "assign the value in its own statement"),
    gast.Delete: ("`del` is not supported", "rebind the name instead"),
    gast.Import: ("imports inside a differentiated function are not supported",
                  "import at module level"),
    gast.ImportFrom: ("imports inside a differentiated function are not supported",
                      "import at module level"),
    gast.Match: ("`match` statements are not supported", "use if/elif/else"),
}


# context managers whose block is differentiated as it stands: they change how
# warnings and floating-point errors are reported, never a value
CONTEXTS = (np.errstate, warnings.catch_warnings)


def allowed_with(node, scope):
    """Whether ``with`` statement ``node`` only enters :data:`CONTEXTS`."""
    return scope is not None and all(
        isinstance(item.context_expr, gast.Call)
        and scope.resolve(item.context_expr.func) in CONTEXTS
        and (item.optional_vars is None or isinstance(item.optional_vars, gast.Name))
        for item in node.items)


# builtins that see or run code by name: in the generated function the names
# are other variables (d_x, temporaries) and derivatives would be lost silently
INTROSPECTION = {"eval": "eval()", "exec": "exec()", "locals": "locals()",
                 "globals": "globals()", "vars": "vars()", "compile": "compile()"}


def _reject(loc, node, message, hint):
    raise UnsupportedSyntax(message, **loc.of(node), hint=hint)


def check(parsed):
    """Raise UnsupportedSyntax for the first construct outside the whitelist."""
    fdef, loc = parsed.node, parsed.loc
    args = fdef.args
    if args.vararg is not None:
        _reject(loc, args.vararg, "`*args` parameters of the differentiated function are "
                "not supported (wrt and tangents need named parameters)",
                "list the parameters explicitly (`def f(x, w)`), or pass a tuple/array; a "
                "helper it calls may take `*args` (`def fwd(*args): return g(*args)`)")
    if args.kwarg is not None:
        _reject(loc, args.kwarg, "`**kwargs` parameters are not supported",
                "list the parameters explicitly")
    for stmt in fdef.body:
        if isinstance(stmt, gast.FunctionDef):  # a helper lifted by frontend/lift.py
            for inner in stmt.body:  # a helper's copy (desugar.py) is in its own file
                _check_node(getattr(stmt, LOCATION, loc), inner, parsed.scope)
            continue
        _check_node(loc, stmt, parsed.scope)


def _check_node(loc, node, scope=None):
    for sub in gast.walk(node):
        if scope is not None and isinstance(sub, gast.Call) and isinstance(sub.func, gast.Name) \
                and sub.func.id in INTROSPECTION \
                and scope.resolve(sub.func) is getattr(builtins, sub.func.id):
            _reject(loc, sub, f"{INTROSPECTION[sub.func.id]} is not supported in a "
                              "differentiated function (the generated code has other "
                              "variables, and derivatives cannot flow through code in a "
                              "string)", "write the expression out, or call it in the caller")
        if isinstance(sub, gast.With) and allowed_with(sub, scope):
            continue
        if isinstance(sub, tuple(REJECTED)):
            message, hint = REJECTED[type(sub)]
            _reject(loc, sub, message, hint)
        if isinstance(sub, gast.stmt) and not isinstance(sub, STATEMENTS):
            _reject(loc, sub, f"`{type(sub).__name__}` statements are not supported",
                    "rewrite it with the supported statements (see docs/errors.md)")
        if isinstance(sub, gast.expr) and not isinstance(sub, EXPRESSIONS):
            _reject(loc, sub, f"`{type(sub).__name__}` expressions are not supported",
                    "rewrite it with the supported expressions (see docs/errors.md)")
        if isinstance(sub, (gast.For, gast.While)) and sub.orelse:
            _reject(loc, sub, f"`{type(sub).__name__.lower()} ... else` is not supported",
                    "use a flag variable set before `break`")
        if isinstance(sub, gast.AnnAssign) and sub.value is None:
            _reject(loc, sub, "a bare annotation without a value is not supported",
                    "assign a value, or remove the line")
        if isinstance(sub, (gast.Assign, gast.AugAssign, gast.AnnAssign, gast.For)):
            targets = sub.targets if isinstance(sub, gast.Assign) else [sub.target]
            for target in targets:
                _check_target(loc, target)


def _check_target(loc, target):
    if isinstance(target, gast.Name):
        return
    if isinstance(target, (gast.Tuple, gast.List)):
        for elt in target.elts:
            _check_target(loc, elt)
        return
    if isinstance(target, gast.Subscript):
        base = target.value
        while isinstance(base, gast.Subscript):
            base = base.value
        if isinstance(base, gast.Name):
            return
    if isinstance(target, gast.Starred):
        _reject(loc, target, "starred assignment targets (`a, *rest = ...`) are not supported",
                "index the sequence explicitly")
    if isinstance(target, gast.Attribute):
        _reject(loc, target, "assigning to an attribute is not supported",
                "keep the value in a local variable and return it")
    _reject(loc, target, "this assignment target is not supported",
            "assign to a name, a tuple of names, or a subscript of a local array")
