"""What the native backend can call, keyed by the Python object called.

Contract: a call in the generated JVP lowers only when the object its
callee expression evaluates to, in the namespace the generated function
really runs in (:class:`Namespace`: its closure cells, then its module's
globals, then builtins), is an entry of :data:`CATALOGUE` (``math.exp``,
``np.exp``, ``runtime.pow_dx``, ``len``, ...) or a generated helper JVP.
The runtime helpers in it are those declared ``@lowered_natively`` in
fwdcompile/runtime (``runtime.NATIVE``), never a list kept here.
Each entry names the operation the lowering emits (the names of
numpy_names.py's tables) and where it comes from, so that ``math.floor``
(an int) and ``np.floor`` (a float) stay apart.  A user's ``def exp(x)`` or
``mylib.sin`` is not in the catalogue, whatever it is called, so it raises
:class:`LoweringError` instead of lowering as ``llvm.exp``: the same design
as numba's ``@lower(math.exp, ...)``.

Names that are not the function's own variables and resolve to a plain
float, int or bool (``math.pi``, ``np.inf``, a module's ``G = 6.674e-11``, a
closure variable) are constants: their value is read once, when the kernel
is compiled (:func:`constant_value`), as numba does.
"""

from __future__ import annotations

import builtins
import math
from dataclasses import dataclass

import gast
import numpy as np

from ... import runtime
from ...codegen.load import base_namespace
from .errors import LoweringError
from .numpy_names import MAKERS, REDUCTIONS, SCANS, UFUNCS

BUILTIN, MATH, NUMPY, RUNTIME = "builtin", "math", "numpy", "runtime"


@dataclass(frozen=True)
class Native:
    """A catalogue entry: the operation ``name`` the lowering emits for the
    object, where the object comes from, and whether it returns an int for
    a float argument (``math.floor``)."""
    name: str
    origin: str
    returns_int: bool = False
    number: object = None  # a runtime helper's one-expression twin (runtime/lowered.py)


class _ByIdentity:
    """A mapping keyed by object identity (numpy ufuncs, builtins and user
    objects alike; unhashable objects and objects with a loose ``__eq__``
    cannot match an entry by accident)."""

    def __init__(self):
        self._entries = {}

    def add(self, obj, entry):
        self._entries[id(obj)] = (obj, entry)

    def get(self, obj):
        found = self._entries.get(id(obj))
        return found[1] if found is not None and found[0] is obj else None


CATALOGUE = _ByIdentity()


def _add(obj, name, origin, returns_int=False, number=None):
    CATALOGUE.add(obj, Native(name, origin, returns_int, number))


# the math functions lower.py emits as an LLVM intrinsic or a libm call
_MATH = ("sqrt", "exp", "log", "sin", "cos", "fabs", "log2", "log10", "pow", "copysign",
         "exp2", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh",
         "acosh", "atanh", "expm1", "log1p", "erf", "erfc", "hypot", "fmod", "cbrt")
for _name in _MATH:
    if hasattr(math, _name):  # math.exp2 and math.cbrt are new in Python 3.11
        _add(getattr(math, _name), _name, MATH)
for _name in ("floor", "ceil", "trunc"):  # ints in Python
    _add(getattr(math, _name), _name, MATH, returns_int=True)

for _name in ("abs", "min", "max", "float", "int", "len", "range", "zip", "enumerate", "sum",
              "pow"):  # pow(x, y) lowers as x ** y does (pow(x, y, m) is refused)
    _add(getattr(builtins, _name), _name, BUILTIN)

for _name in (*UFUNCS, *REDUCTIONS, *MAKERS, *SCANS, "array", "asarray", "matmul", "eye",
              "clip"):
    if hasattr(np, _name):
        _add(getattr(np, _name), _name, NUMPY)
_add(np.abs, "abs", NUMPY)  # np.abs is np.absolute
_add(np.linalg.norm, "norm", NUMPY)

# runtime helpers with an IR twin: declared once, on the helper itself
# (``@lowered_natively`` in fwdcompile/runtime; listed in runtime.NATIVE)
for _helper, _lowering in runtime.NATIVE.items():
    _add(_helper, _lowering.op, RUNTIME, number=_lowering.number)


def lookup(obj):
    """The catalogue entry for ``obj``, or None."""
    return CATALOGUE.get(obj)


MISSING = object()


class Namespace:
    """The names a generated function reads that are not its own variables,
    resolved as Python resolves them when it runs: closure cells first, then
    its module's globals, then builtins."""

    def __init__(self, cells=None, globals_=None):
        self.cells = cells if cells is not None else base_namespace()
        self.globals = globals_ if globals_ is not None else {}
        found = self.globals.get("__builtins__", builtins)
        self.builtins = found if isinstance(found, dict) else vars(found)

    @classmethod
    def of(cls, fn):
        """The namespace of the loaded generated function ``fn``."""
        cells = {}
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
            try:
                cells[name] = cell.cell_contents
            except ValueError:  # an empty cell: reading it would raise NameError
                pass
        return cls(cells, fn.__globals__)

    def lookup(self, name):
        for scope in (self.cells, self.globals, self.builtins):
            if name in scope:
                return scope[name]
        return MISSING

    def resolve(self, node):
        """The object ``node`` (a name or ``a.b.c`` rooted at a name that is not
        one of the function's variables) evaluates to, or MISSING."""
        if isinstance(node, gast.Name):
            return self.lookup(node.id)
        if isinstance(node, gast.Attribute):
            base = self.resolve(node.value)
            if base is MISSING:
                return MISSING
            try:
                return getattr(base, node.attr)
            except Exception:  # an attribute the object does not have (or a failing property)
                return MISSING
        return MISSING


def root_name(node):
    """``a`` for ``a``, ``a.b`` and ``a.b.c``; None when the chain does not start at a name."""
    while isinstance(node, gast.Attribute):
        node = node.value
    return node.id if isinstance(node, gast.Name) else None


def spelling(node):
    """``mylib.sin`` as written, for messages."""
    if isinstance(node, gast.Name):
        return node.id
    if isinstance(node, gast.Attribute):
        return f"{spelling(node.value)}.{node.attr}"
    return type(node).__name__


def constant_value(value):
    """``value`` as a native constant (float, int or bool), or None when it is
    not a plain Python or float64/int64 numpy scalar (float32 and int32 have
    their own arithmetic, so they do not fold)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if type(value) in (int, np.int64):
        value = int(value)
        return value if -2 ** 63 <= value < 2 ** 63 else None
    if type(value) in (float, np.float64):
        return float(value)
    return None


def unknown_callee(func, target, node):
    """The LoweringError for a call to something outside the catalogue."""
    what = getattr(target, "__qualname__", None) or getattr(target, "__name__", None) \
        or type(target).__name__
    module = getattr(target, "__module__", None)
    if module and module != "builtins":
        what = f"{module}.{what}"
    return LoweringError(f"the call to `{spelling(func)}` (which is {what}) does not lower to "
                         "native code: only the math, numpy and builtin functions the native "
                         "backend knows do", node)
