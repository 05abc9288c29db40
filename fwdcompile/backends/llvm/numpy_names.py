"""Which numpy, math and builtin calls the native backend knows, by name.

One table per kind of call, like the rule tables of the Python backend:
elementwise functions (and the scalar operation each lowers to),
reductions, array makers, and the module aliases generated code uses.
"""

from __future__ import annotations

import gast

from .errors import LoweringError

# numpy elementwise function -> math name the scalar lowering knows
UFUNCS = {"exp": "exp", "log": "log", "sin": "sin", "cos": "cos", "tan": "tan",
           "tanh": "tanh", "sinh": "sinh", "cosh": "cosh", "sqrt": "sqrt", "abs": "fabs",
           "absolute": "fabs", "fabs": "fabs", "log1p": "log1p", "expm1": "expm1",
           "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh",
           "arccosh": "acosh", "arctanh": "atanh", "log2": "log2", "log10": "log10",
           "exp2": "exp2", "floor": "floor", "ceil": "ceil", "sign": "sign",
           "cbrt": "cbrt", "square": "square", "arctan2": "atan2", "hypot": "hypot",
           "maximum": "maximum", "minimum": "minimum", "power": "pow", "where": "where"}
REDUCTIONS = ("sum", "mean", "max", "min", "amax", "amin", "dot", "vdot", "prod", "max_jvp")
MAKERS = ("zeros", "ones", "empty", "zeros_like", "ones_like", "empty_like", "copy")
MODULES = {"math", "_math", "_np", "np", "numpy", "_rt"}
# elementwise functions cheap enough to recompute at every use (temporaries.py)
CHEAP = {"fabs", "abs", "absolute", "sign", "where", "maximum", "minimum", "square", "floor",
         "ceil", "sqrt"}


def constant_number(node, kinds=(int, float)):
    """The value of ``3``, ``-3`` or ``0.5`` as written, else None."""
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        inner = constant_number(node.operand, kinds)
        return None if inner is None else -inner
    if isinstance(node, gast.Constant) and type(node.value) in kinds:
        return node.value
    return None


def constant_int(node):
    """The value of ``3`` or ``-3`` as written, else None."""
    return constant_number(node, (int,))


def name_of(node):
    """``np.exp`` -> "exp", ``x.sum`` -> "sum", ``abs`` -> "abs"."""
    func = node.func
    if isinstance(func, gast.Name):
        return func.id
    if isinstance(func, gast.Attribute):
        return func.attr
    raise LoweringError("calls through expressions do not lower", node)


