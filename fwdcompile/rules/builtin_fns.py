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

# piecewise constant in every argument (or no numeric result): zero tangents are right
for _fn in (builtins.int, builtins.bool, builtins.round, builtins.len, builtins.range,
            builtins.isinstance, builtins.print, builtins.hash, builtins.id,
            builtins.type, builtins.any, builtins.all):
    defnondiff(_fn)
# their results hold the arguments' values: a differentiated argument is an error
# (for-loops over zip/enumerate are split by the transform and never reach these)
for _fn, _instead in ((builtins.sorted, "np.sort"), (builtins.reversed, "x[::-1]"),
                      (builtins.divmod, "x // y and x % y"),
                      (builtins.zip, "`for a, b in zip(x, y)` (unpacked in the loop)"),
                      (builtins.enumerate, "`for i, v in enumerate(x)` (unpacked in the loop)")):
    defnondiff(_fn, zero_derivative=False,
               reason=f"its result holds their values and it has no derivative rule; "
                      f"use {_instead}")
# a string of a differentiated value drops its derivative (float(str(x)) would
# silently be a constant); print(f"{x}") and friends stay fine: print takes
# anything
for _fn in (builtins.str, builtins.repr, builtins.format, builtins.ascii):
    defnondiff(_fn, zero_derivative=False,
               reason="a string made from a differentiated value drops its derivative; "
                      "format it inside print(...), or format a value that is data")
