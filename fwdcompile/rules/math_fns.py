"""Rules for the ``math`` module: one line per function, one partial per argument.

``x``/``y`` are the arguments, ``z`` the result; partials use ``_math`` so
scalar code stays scalar.
"""

import math

from .registry import defjvp, deflog, defnondiff, defpower

#       function         signature  partial per argument
defjvp(math.sqrt,        "x",       "0.5 / z")
defjvp(math.exp,         "x",       "z")
defjvp(math.expm1,       "x",       "z + 1")
deflog(math.log, "_math")                     # 1 / x, or 1 / (x log b) and -z / (b log b)
defjvp(math.log1p,       "x",       "1 / (1 + x)")
defjvp(math.log2,        "x",       "1 / (x * 0.6931471805599453)")
defjvp(math.log10,       "x",       "1 / (x * 2.302585092994046)")
defpower(math.pow)
defjvp(math.sin,         "x",       "_math.cos(x)")
defjvp(math.cos,         "x",       "-_math.sin(x)")
defjvp(math.tan,         "x",       "1 + z ** 2")
defjvp(math.asin,        "x",       "1 / _math.sqrt(1 - x ** 2)")
defjvp(math.acos,        "x",       "-1 / _math.sqrt(1 - x ** 2)")
defjvp(math.atan,        "x",       "1 / (1 + x ** 2)")
defjvp(math.atan2,       "y, x",    "x / (x ** 2 + y ** 2)",       "-y / (x ** 2 + y ** 2)")
defjvp(math.sinh,        "x",       "_math.cosh(x)")
defjvp(math.cosh,        "x",       "_math.sinh(x)")
defjvp(math.tanh,        "x",       "1 - z ** 2")
defjvp(math.asinh,       "x",       "1 / _math.sqrt(x ** 2 + 1)")
defjvp(math.acosh,       "x",       "1 / _math.sqrt(x ** 2 - 1)")
defjvp(math.atanh,       "x",       "1 / (1 - x ** 2)")
defjvp(math.erf,         "x",       "1.1283791670955126 * _math.exp(-x ** 2)")
defjvp(math.erfc,        "x",       "-1.1283791670955126 * _math.exp(-x ** 2)")
defjvp(math.hypot,       "x, y",    "x / z",                       "y / z")
defjvp(math.fabs,        "x",       "_math.copysign(1.0, x)")
defjvp(math.copysign,    "x, y",    "_math.copysign(1.0, x) * _math.copysign(1.0, y)", "0")
defjvp(math.fmod,        "x, y",    "1",                           "-_math.trunc(x / y)")
defjvp(math.degrees,     "x",       "57.29577951308232")
defjvp(math.radians,     "x",       "0.017453292519943295")
defjvp(math.lgamma,      "x",       "_rt.digamma(x)")
defjvp(math.gamma,       "x",       "z * _rt.digamma(x)")

if hasattr(math, "exp2"):  # Python 3.11+
    defjvp(math.exp2,    "x",       "0.6931471805599453 * z")
    defjvp(math.cbrt,    "x",       "1 / (3 * z ** 2)")

for _fn in (math.floor, math.ceil, math.trunc, math.isnan, math.isinf, math.isfinite,
            math.factorial, math.comb, math.perm, math.gcd, math.isclose):
    defnondiff(_fn)
