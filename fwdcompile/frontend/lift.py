"""Lambda lifting: helpers defined inside the differentiated function.

Contract: :func:`lift_nested` rewrites, in place, every helper defined at the
top level of a function body, ``def rhs(y): return -theta * y`` or
``rhs = lambda y: -theta * y``, so that the outer variables it reads become
parameters (``def rhs(y, theta)``) and every call passes them
(``rhs(y, theta)``).  Calls then see the values those variables have at the
call, exactly as a closure does, and the helper can be differentiated like
any other function.  It returns one :class:`NestedFunction` per helper, a
stand-in for the function object that the rest of the pipeline keys its
caches on.

Only helpers that are called are lifted: a helper that is passed around,
returned, decorated, has default values or ``*args``, or that rebinds an
outer variable, is reported with a located error.
"""

from __future__ import annotations

import inspect

import gast

from ..errors import UnsupportedSyntax
from ..syntax import nodes, trees


class NestedFunction:
    """What the pipeline needs of a function object, for a lifted helper."""

    def __init__(self, outer, node, params):
        self.__name__ = node.name
        self.__qualname__ = f"{outer.__qualname__}.<locals>.{node.name}"
        self.__module__ = outer.__module__
        self.__globals__ = outer.__globals__
        self.__defaults__ = None
        self.__kwdefaults__ = None
        self.__signature__ = inspect.Signature(
            [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in params])
        self.outer = outer
        self.node = node

    def __repr__(self):
        return f"<nested function {self.__qualname__}>"

    def __call__(self, *args, **kwargs):  # only its signature is used
        raise TypeError(f"{self.__qualname__} is a lifted helper; call the outer function")


def _as_def(stmt):
    """``name = lambda args: body`` as a FunctionDef, else None."""
    if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 \
            and isinstance(stmt.targets[0], gast.Name) and isinstance(stmt.value, gast.Lambda):
        return nodes.lambda_to_def(stmt.value, stmt.targets[0].id, at=stmt)
    return None


def lift_nested(fdef, loc, outer_fn):
    """Lift the helpers defined in ``fdef``'s body (see the module docstring)."""
    for i, stmt in enumerate(fdef.body):
        converted = _as_def(stmt)
        if converted is not None:
            fdef.body[i] = converted
    helpers = [s for s in fdef.body if isinstance(s, gast.FunctionDef)]
    if not helpers:
        return {}
    names = {h.name for h in helpers}
    outer_vars = trees.local_stores(fdef) - names
    free, calls = {}, {}
    for node in helpers:
        _check_liftable(node, loc)
        reads = {n.id for n in trees.walk(node) if isinstance(n, gast.Name)
                 and isinstance(n.ctx, gast.Load)}
        free[node.name] = (reads - trees.local_stores(node)) & outer_vars
        calls[node.name] = reads & names
    changed = True
    while changed:  # a helper calling another one passes that one's variables on
        changed = False
        for name in names:
            for callee in calls[name]:
                if not free[callee] <= free[name]:
                    free[name] |= free[callee]
                    changed = True
    for node in helpers:  # a variable passed on must not be hidden by the caller's own
        for callee in sorted(calls[node.name]):
            hidden = sorted(free[callee] & trees.local_stores(node))
            if hidden:
                raise UnsupportedSyntax(
                    f"`{node.name}` calls `{callee}`, which reads the outer variable "
                    f"`{hidden[0]}`, but `{node.name}` has its own `{hidden[0]}`",
                    **loc.of(node), hint=f"rename `{hidden[0]}` in `{node.name}`")
    lifted = {}
    for node in helpers:
        extra = sorted(free[node.name])
        node.args.args.extend(nodes.param(e) for e in extra)
        params = [a.id for a in node.args.args]
        lifted[node.name] = (NestedFunction(outer_fn, node, params), extra)
    _rewrite_uses(fdef, lifted, loc)
    return {name: fn for name, (fn, _) in lifted.items()}


def _check_liftable(node, loc):
    args = node.args
    problem = None
    if node.decorator_list:
        problem = "a decorated function defined inside the function"
    elif args.defaults or args.kw_defaults and any(args.kw_defaults):
        problem = "default values of a function defined inside the function"
    elif args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs:
        problem = "*args, **kwargs or keyword-only parameters of a function defined inside"
    if problem:
        raise UnsupportedSyntax(f"{problem} are not supported", **loc.of(node),
                                hint="define the helper at module level")


def _rewrite_uses(fdef, lifted, loc):
    """Pass the lifted variables at every call; any other use is an error."""
    calls = set()
    for n in trees.walk(fdef):
        if isinstance(n, gast.Call) and isinstance(n.func, gast.Name) and n.func.id in lifted:
            n.args.extend(nodes.name(e) for e in lifted[n.func.id][1])
            calls.add(id(n.func))
    for n in trees.walk(fdef):
        if isinstance(n, gast.Name) and n.id in lifted and id(n) not in calls:
            raise UnsupportedSyntax(
                f"the local function `{n.id}` is used as a value here; only calls to it are "
                "supported", **loc.of(n), hint="define the helper at module level")
