"""Names that provably hold scalars, so they cannot broadcast a tangent.

Contract: :func:`scalar_names` takes a parsed function and its scope and
returns the local names every assignment of which gives a Python or numpy
*scalar*: loop indices over ``range``, numbers, ``len``/``int``/``float``/
``round``/``abs`` results, ``math.*`` results, numeric constants of modules
(``math.pi``), and arithmetic on those.  Attributes of the user's objects
(``x.shape[0]``, ``cfg.size``) and module globals do not count: they are read
at run time and could hold arrays.  The
analysis is flow-insensitive (a name assigned an array anywhere is not a
scalar) and conservative: parameters are never scalars here, since the same
compiled code serves every argument type.

:func:`bindings` and :func:`names_holding` (every value bound to a name,
and the largest set of names whose values all pass a test) also give vector
mode its integer names (``batch.int_names``).

The transform uses it to leave out ``_rt.broadcast`` where an inactive
operand cannot widen the result (``x[i] + i``), keeping scalar code readable
and fast; anything it cannot prove gets the run-time broadcast.
"""

from __future__ import annotations

import numbers
import types

import gast
import numpy as np

from ..syntax import trees

_SCALAR_BUILTINS = ("len", "int", "float", "round", "abs", "min", "max", "bool")


def _is_number_object(value):
    return isinstance(value, (numbers.Number, np.generic)) and not isinstance(value, np.ndarray)


def scalar_expr(node, names, scope):
    """Whether ``node`` always evaluates to a scalar, given the scalar ``names``."""
    if isinstance(node, gast.Constant):
        return isinstance(node.value, (int, float, complex, bool))
    if isinstance(node, gast.Name):
        # a module global read at run time may be rebound to an array later
        return node.id in names
    if isinstance(node, gast.Attribute):
        base = scope.resolve(node.value)  # math.pi, np.pi: constants of modules
        return isinstance(base, types.ModuleType) and _is_number_object(scope.resolve(node))
    if isinstance(node, gast.UnaryOp):
        return scalar_expr(node.operand, names, scope)
    if isinstance(node, gast.BinOp):
        return scalar_expr(node.left, names, scope) and scalar_expr(node.right, names, scope)
    if isinstance(node, gast.Call):
        target = scope.resolve(node.func)
        module, name = getattr(target, "__module__", None), getattr(target, "__name__", None)
        if module == "math":
            return True
        if module == "builtins" and name in _SCALAR_BUILTINS:
            # abs(a), min(a, b) of arrays are arrays
            return name not in ("abs", "min", "max") or \
                all(scalar_expr(a, names, scope) for a in node.args)
        return False
    return False


COUNTER = object()  # bound by `for i in range(...)` or as enumerate's counter: an int


def bindings(fdef, scope=None):
    """``name -> [value, ...]``: every value bound to each local name anywhere
    in ``fdef`` (flow-insensitive); ``COUNTER`` for a loop counter over
    ``range`` or ``enumerate``, ``None`` where the value is unknown (tuple
    targets, other loops, comprehensions, ``with``)."""
    found = {}

    def bind(target, value):
        if isinstance(target, gast.Name):
            found.setdefault(target.id, []).append(value)
        elif target is not None:
            for sub in trees.walk(target):
                if isinstance(sub, gast.Name) and isinstance(sub.ctx, gast.Store):
                    found.setdefault(sub.id, []).append(None)

    def is_builtin(func, builtin):
        if scope is not None:
            return scope.resolve(func) is builtin
        return isinstance(func, gast.Name) and func.id == builtin.__name__

    for node in trees.walk(fdef):
        if isinstance(node, gast.Assign):
            for target in node.targets:
                bind(target, node.value)
        elif isinstance(node, gast.AnnAssign):
            bind(node.target, node.value)
        elif isinstance(node, gast.AugAssign):
            bind(node.target, gast.BinOp(left=node.target, op=node.op, right=node.value)
                 if isinstance(node.target, gast.Name) else None)
        elif isinstance(node, gast.For):
            it, target = node.iter, node.target
            counted = isinstance(it, gast.Call)
            if counted and is_builtin(it.func, range) and isinstance(target, gast.Name):
                bind(target, COUNTER)
            elif counted and is_builtin(it.func, enumerate) \
                    and isinstance(target, gast.Tuple) and len(target.elts) == 2 \
                    and isinstance(target.elts[0], gast.Name):
                bind(target.elts[0], COUNTER)
                bind(target.elts[1], None)
            else:
                bind(target, None)
        elif isinstance(node, gast.comprehension):
            bind(node.target, None)
        elif isinstance(node, gast.withitem):
            bind(node.optional_vars, None)
        elif isinstance(node, gast.NamedExpr):
            bind(node.target, None)
    return found


def names_holding(fdef, params, test, scope=None):
    """The local names (never parameters) every value bound to which passes
    ``test(value, names)`` given the names found so far: the largest such set,
    so ``i = 0 ... i += 1`` qualifies."""
    bound = bindings(fdef, scope)
    names = {n for n in bound if n not in set(params)}
    changed = True
    while changed:
        changed = False
        for name in sorted(names):
            if not all(v is COUNTER or (v is not None and test(v, names))
                       for v in bound[name]):
                names.discard(name)
                changed = True
    return frozenset(names)


def scalar_names(parsed):
    """The local names that hold scalars wherever they are assigned."""
    scope = parsed.scope
    return names_holding(parsed.node, parsed.params,
                         lambda value, names: scalar_expr(value, names, scope), scope)
