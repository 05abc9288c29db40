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

The transform uses it to leave out ``_rt.broadcast`` where an inactive
operand cannot widen the result (``x[i] + i``), keeping scalar code readable
and fast; anything it cannot prove gets the run-time broadcast.
"""

from __future__ import annotations

import numbers
import types

import gast
import numpy as np

from . import build

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


def scalar_names(parsed):
    """The local names that hold scalars wherever they are assigned."""
    scope = parsed.scope
    stores = {}  # name -> list of value expressions (None: unknown)

    def record(target, value):
        if isinstance(target, gast.Name):
            stores.setdefault(target.id, []).append(value)
        elif isinstance(target, (gast.Tuple, gast.List)):
            for elt in target.elts:
                record(elt, None)
        elif isinstance(target, gast.Starred):
            record(target.value, None)

    for node in build.walk(parsed.node):
        if isinstance(node, (gast.Assign,)):
            for target in node.targets:
                record(target, node.value)
        elif isinstance(node, gast.AnnAssign):
            record(node.target, node.value)
        elif isinstance(node, gast.AugAssign):
            if isinstance(node.target, gast.Name):
                stores.setdefault(node.target.id, []).append(
                    gast.BinOp(left=node.target, op=node.op, right=node.value))
        elif isinstance(node, gast.For):
            is_range = isinstance(node.iter, gast.Call) and \
                scope.resolve(node.iter.func) is range
            record(node.target, _RANGE if is_range else None)
        elif isinstance(node, (gast.With, gast.comprehension, gast.NamedExpr)):
            for sub in build.walk(getattr(node, "target", None) or gast.Pass()):
                if isinstance(sub, gast.Name):
                    stores.setdefault(sub.id, []).append(None)
    params = set(parsed.params)
    names = {n for n in stores if n not in params}
    changed = True
    while changed:  # drop names with an assignment not (yet) known to be scalar
        changed = False
        for name in sorted(names):
            if not all(v is _RANGE or (v is not None and scalar_expr(v, names, scope))
                       for v in stores[name]):
                names.discard(name)
                changed = True
    return frozenset(names)


_RANGE = object()
