"""Rules for Python builtins that numeric code calls."""

import builtins

from .registry import defjvp, deflinear, defnondiff, defpower, defselect

#       function         signature   partial per argument
defjvp(builtins.abs,     "x",        "_np.sign(x)")
defpower(builtins.pow)
defselect(builtins.max, largest=True)   # max(a, b): d_a if a >= b else d_b
defselect(builtins.min, largest=False)
deflinear(builtins.sum,   "iterable, start=0", "sum", "iterable start")
deflinear(builtins.float, "x=0.0", "float")

for _fn in (builtins.int, builtins.bool, builtins.round, builtins.len, builtins.range,
            builtins.isinstance, builtins.print, builtins.enumerate, builtins.zip,
            builtins.str, builtins.divmod, builtins.hash, builtins.id, builtins.type,
            builtins.any, builtins.all, builtins.sorted, builtins.reversed):
    defnondiff(_fn)
