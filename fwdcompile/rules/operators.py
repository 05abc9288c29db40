"""Rules for Python operators, keyed by gast operator class.

``x`` is the left operand, ``y`` the right one, ``z`` the result.
"""

import gast

from .registry import defjvp, defpower, defmultilinear, defnondiff

#       operator        signature  d/dx                     d/dy
defjvp(gast.Add,        "x, y",    "1",                     "1")
defjvp(gast.Sub,        "x, y",    "1",                     "-1")
defjvp(gast.Div,        "x, y",    "1 / y",                 "-z / y")
defpower(gast.Pow)                   # y * x ** (y - 1), z * log(x)
defjvp(gast.Mod,        "x, y",    "1",                     "-(x // y)")
defmultilinear(gast.Mult,    "x, y", None, batching="elementwise")  # d_x * y + x * d_y
defmultilinear(gast.MatMult, "x, y", None, batching="matmul")
defnondiff(gast.FloorDiv, "x, y")          # piecewise constant

#       unary operator  signature  d/dx
defjvp(gast.USub,       "x",       "-1")
defjvp(gast.UAdd,       "x",       "1")
defnondiff(gast.Not, "x")
defnondiff(gast.Invert, "x")
