"""Rules for Python builtins that numeric code calls."""

import builtins

from .registry import defjvp, defpower, deflinear, defnondiff, deftemplate

#       function         signature   partial per argument
defjvp(builtins.abs,     "x",        "_np.sign(x)")
defpower(builtins.pow)
deftemplate(builtins.max, "x, y",    "d_x if x >= y else d_y", "x y")
deftemplate(builtins.min, "x, y",    "d_x if x <= y else d_y", "x y")
deflinear(builtins.sum,   "iterable, start=0", "sum", "iterable start")
deflinear(builtins.float, "x=0.0", "float")

for _fn in (builtins.int, builtins.bool, builtins.round, builtins.len, builtins.range,
            builtins.isinstance, builtins.print, builtins.enumerate, builtins.zip,
            builtins.str, builtins.divmod, builtins.hash, builtins.id, builtins.type,
            builtins.any, builtins.all, builtins.sorted, builtins.reversed):
    defnondiff(_fn)
