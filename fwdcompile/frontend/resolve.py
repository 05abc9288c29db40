"""The resolve stage: what every call of the user's function refers to, once.

Contract: :func:`resolve` classifies every ``gast.Call`` of a parsed function
and of the helpers defined inside it (each with its own scope) with
:func:`.calls.classify_call`, and stores the result on the node (the
attribute ``syntax.nodes.RESOLVED``).  Every later stage (the activity
analysis, helper linking, the transform, forward substitution) reads it back
through :func:`.calls.resolved`, which never classifies again, so one call is
classified once per compilation, however many stages ask.  Copies of a call
(``syntax.trees.clone``, ``substitute``) keep the annotation.

It runs first among the stages that know ``wrt`` (pipeline.py), not with the
front end at decoration time, because a ``custom_jvp`` registered after the
decorator still applies to the functions compiled afterwards.

Calls the transform builds itself are not the user's: the ones on the
reserved aliases (``_np.cos(x)``, ``_rt.lift(...)``) are never asked about;
the others (a helper's JVP, ``zip(...)`` over tangents, a rebuilt method
call) are resolved by :func:`resolve_built` before forward substitution, the
one stage that asks about generated code.
"""

from __future__ import annotations

import gast

from ..rules.registry import CustomRule
from ..syntax import nodes, trees
from .calls import RuleCall, UserCall, classify_call, resolved


def resolve(parsed):
    """Annotate every call of ``parsed`` and of the helpers lifted out of it."""
    _annotate(trees.walk_own(parsed.node), parsed.scope)
    for nested in parsed.nested.values():
        _annotate(trees.walk_own(nested.node), nested.scope)


def resolve_built(tree, scope):
    """Annotate the calls in generated code that have no annotation and are not
    calls of a reserved alias: those the transform built (see the module doc)."""
    _annotate((n for n in trees.walk(tree) if type(n) is gast.Call
               and not hasattr(n, nodes.RESOLVED) and not trees.alias_call(n)), scope)


def _annotate(found, scope):
    for node in found:
        if type(node) is gast.Call:
            setattr(node, nodes.RESOLVED, classify_call(node, scope))


def global_dependencies(parsed):
    """``(name, object)`` for every call by a bare global name that resolved to
    one of the user's functions or to a ``custom_jvp`` rule: the objects the
    generated code was derived from.  The generated code reads those globals
    when it runs, so rebinding one (a notebook cell defining the helper again)
    must compile again, or the value would come from the new function and
    the tangent from the old one (pipeline.compile_jvp checks; so do the
    call plans)."""
    found = {}
    for node in trees.walk_own(parsed.node):
        if type(node) is not gast.Call or not isinstance(node.func, gast.Name) \
                or not hasattr(node, nodes.RESOLVED):
            continue
        ident = node.func.id
        if ident in parsed.local_names or ident in parsed.scope.nested \
                or ident in parsed.scope.closure or ident not in parsed.scope.globals:
            continue
        kind = resolved(node)
        if isinstance(kind, UserCall) or (isinstance(kind, RuleCall)
                                          and isinstance(kind.rule, CustomRule)):
            found[ident] = parsed.scope.globals[ident]
    return tuple(sorted(found.items()))
