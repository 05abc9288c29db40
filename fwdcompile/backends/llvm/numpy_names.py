"""The operations the native backend lowers, by the catalogue's names.

One table per kind of operation, like the rule tables of the Python backend:
elementwise functions (and the scalar operation each lowers to),
reductions and array makers.  These names are what catalogue.py maps the
called *objects* to (``np.exp`` -> "exp"); a call is never dispatched by how
it is spelled in the generated code.
"""

from __future__ import annotations

from ...syntax.trees import constant_value

# numpy elementwise function -> math name the scalar lowering knows
UFUNCS = {"exp": "exp", "log": "log", "sin": "sin", "cos": "cos", "tan": "tan",
           "tanh": "tanh", "sinh": "sinh", "cosh": "cosh", "sqrt": "sqrt", "abs": "fabs",
           "absolute": "fabs", "fabs": "fabs", "log1p": "log1p", "expm1": "expm1",
           "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh",
           "arccosh": "acosh", "arctanh": "atanh", "log2": "log2", "log10": "log10",
           "exp2": "exp2", "floor": "floor", "ceil": "ceil", "sign": "sign",
           "cbrt": "cbrt", "square": "square", "arctan2": "atan2", "hypot": "hypot",
           "maximum": "maximum", "minimum": "minimum", "power": "pow", "where": "where"}
# reductions to a number, or along an ``axis=`` (with ``keepdims=``) to an array
AXIS_REDUCTIONS = ("sum", "mean", "max", "min", "amax", "amin", "prod", "max_jvp", "var", "std",
                   "var_jvp", "std_jvp")
# the spreads (ddof=0) and their tangents: two passes, the mean first (reductions.py)
MOMENTS = ("var", "std", "var_jvp", "std_jvp")
# how many array or number operands come before an axis passed by position
OPERANDS = {"max_jvp": 3, "std_jvp": 3, "var_jvp": 2, "cumprod_jvp": 3}
# running sums and products along an axis (and cumprod's tangent): computed
# into an array of their own, element after element as numpy does (elementwise.py)
SCANS = ("cumsum", "cumprod", "cumprod_jvp")
# every reduction: those, and the sums of products of two arrays
REDUCTIONS = AXIS_REDUCTIONS + ("dot", "vdot")
# the array methods lowered as their reduction (``x.sum()``; ``x.copy()`` is a maker)
REDUCTION_METHODS = ("sum", "mean", "max", "min", "prod", "var", "std")
MAKERS = ("zeros", "ones", "empty", "zeros_like", "ones_like", "empty_like", "copy")
# elementwise functions cheap enough to recompute at every use (temporaries.py)
CHEAP = {"fabs", "abs", "absolute", "sign", "where", "maximum", "minimum", "square", "floor",
         "ceil", "sqrt"}


def constant_int(node):
    """The value of ``3`` or ``-3`` as written, else None."""
    return constant_value(node, (int,))
