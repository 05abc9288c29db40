"""numpy's dtypes in the native backend: float32 and float64 mixed (NEP 50).

Contract: :class:`Promotion` (mixed into the lowering) gives every number
the dtype numpy holds it in, :meth:`Promotion.number_dtype`: None for a
Python number (a constant, ``float()``, a ``math`` function, ``len``, a
range counter), which does not promote an array (``x32 * 2.0`` stays
float32), or ``"float32"``, ``"float64"``, ``"int64"`` for a numpy scalar
(an element of an array, a reduction, a numpy function of numbers), which
does (``x32 * np.sum(y64)`` is float64, ``x32 * idx[0]`` too).  Variables
take the dtypes of everything assigned to them (:meth:`settle_number_dtypes`,
run to a fixed point with the variables' types).  :meth:`elementwise_type`
is the type of an elementwise result: the highest rank of its operands, the
dtype numpy's promotion gives their arrays and numpy scalars (a bool array
counts as 0 and 1; Python numbers only make a bool array float64).  Every
array keeps its own dtype; arithmetic runs in double (arrays.py), so each
float32 result is the correctly rounded float32 of the double result.
"""

from __future__ import annotations

import gast

from .catalogue import MATH, NUMPY, RUNTIME
from .errors import LoweringError
from .types import ArrayType

_PYTHON_NUMBERS = ("float", "int", "len", "range", "bool")
_ROUNDS = 50  # each round settles at least one more link of a chain of assignments


def promote(*dtypes):
    """numpy's result dtype of numpy scalars or arrays of ``dtypes`` (None: a
    Python number, which takes no part)."""
    found = {d for d in dtypes if d is not None}
    if not found:
        return None
    if found == {"int64"}:
        return "int64"
    return "float32" if found == {"float32"} else "float64"


class Promotion:
    """numpy's dtypes of numbers and elementwise results; see the module docstring."""

    number_dtypes = None  # variable -> its numpy scalar dtype (None: a Python number)

    def settle_number_dtypes(self):
        """Each number variable's dtype: the promotion of everything assigned
        to it, recomputed from the others' until none changes (a Python
        number in one round, ``s += x32[i]``, is a float32 in the next);
        whether the result differs from the last time.  Without float32
        values a numpy scalar computes as a Python number does: skipped."""
        if not self.has_float32():
            return False
        last, self.number_dtypes = self.number_dtypes, {}
        for _ in range(_ROUNDS):
            found = {}
            for node in gast.walk(self.fdef):
                for name, dtype in self.assigned_dtypes(node):
                    if not isinstance(self.types.get(name), ArrayType):
                        found[name] = promote(found.get(name), dtype)
            if found == self.number_dtypes:
                return found != last
            self.number_dtypes = found
        raise LoweringError("numpy's dtypes of the function's numbers do not settle")

    def assigned_dtypes(self, node):
        """``(name, dtype)`` for the numbers an assignment or loop binds."""
        if isinstance(node, gast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            if isinstance(target, gast.Tuple) and self.is_helper_call(value):
                lowered = self.helper(value)
                names = self.joint_targets(target, len(lowered.kinds))
                return [(n, {"float32": "float32", "float64": "float64"}.get(k))
                        for n, k in zip(names, lowered.kinds + lowered.tangent_kinds)
                        if n is not None]
            if isinstance(target, gast.Tuple) and isinstance(value, gast.Tuple):
                return [(t.id, self.number_dtype(v)) for t, v in zip(target.elts, value.elts)
                        if isinstance(t, gast.Name)]
            if isinstance(target, gast.Name):
                return [(target.id, self.number_dtype(value))]
        if isinstance(node, gast.AugAssign) and isinstance(node.target, gast.Name):
            return [(node.target.id, self.number_dtype(node.value))]
        if isinstance(node, gast.For):
            it = node.iter
            sources = it.args if isinstance(it, gast.Call) and self.call_name(
                it, strict=False) in ("zip", "enumerate") else [it]
            targets = node.target.elts if isinstance(node.target, gast.Tuple) else [node.target]
            if len(targets) == len(sources) + 1:  # enumerate: an int counter first
                targets = targets[1:]
            return [(t.id, self.element_dtype(self.array_expr_type(s)))
                    for t, s in zip(targets, sources) if isinstance(t, gast.Name)]
        return []

    @staticmethod
    def element_dtype(t):
        """The dtype of a numpy scalar read from an array of type ``t``."""
        return t.dtype if isinstance(t, ArrayType) and not t.boolean else None

    def number_dtype(self, node):
        """numpy's dtype of the number ``node`` (see the module docstring)."""
        if isinstance(node, gast.Name):
            return self.number_dtypes.get(node.id) if self.number_dtypes else None
        if isinstance(node, gast.Subscript):
            base = node.value
            if isinstance(base, gast.Attribute) and base.attr == "shape":
                return None
            return self.element_dtype(self.array_expr_type(base))
        if isinstance(node, gast.BinOp):
            return self.float_if_divided(node, promote(self.number_dtype(node.left),
                                                       self.number_dtype(node.right)))
        if isinstance(node, gast.UnaryOp) and not isinstance(node.op, gast.Not):
            return self.number_dtype(node.operand)
        if isinstance(node, gast.IfExp):
            return promote(self.number_dtype(node.body), self.number_dtype(node.orelse))
        if isinstance(node, gast.BoolOp):
            return promote(*[self.number_dtype(v) for v in node.values])
        if isinstance(node, gast.Call) and not self.is_helper_call(node):
            return self.call_dtype(node)
        return None  # constants, comparisons, .size, .ndim

    def call_dtype(self, node):
        receiver = self.method_receiver(node)
        if receiver is not None:  # x.sum(), x.max(): the array's
            return self.element_dtype(self.array_expr_type(receiver))
        target = self.call_target(node)
        if target.origin == MATH or target.name in _PYTHON_NUMBERS \
                or target.origin == RUNTIME and target.name == "zeros_like":  # 0.0
            return None
        dtype = promote(*[self.element_dtype(t) if isinstance(t, ArrayType)
                          else self.number_dtype(a)
                          for a, t in ((a, self.array_expr_type(a)) for a in node.args)])
        if dtype is None and target.origin == NUMPY and node.args:
            return "float64"  # np.exp(2.0) is a numpy float64
        return self.float_if_divided(node, dtype)

    def float_if_divided(self, node, dtype):
        """int64 numbers that make a float (``i / 2``, ``i * 0.5``) make a float64."""
        if dtype == "int64" and self.expr_type(node) is float:
            return "float64"
        return dtype

    def elementwise_type(self, node, operands):
        """The type of the elementwise ``node`` of ``operands`` (module docstring)."""
        ranks, dtypes, python_float = [], [], False
        for operand in operands:
            t = self.array_expr_type(operand)
            if isinstance(t, ArrayType):
                ranks.append(t.ndim)
                if not t.boolean:
                    dtypes.append(t.dtype)
            elif self.number_dtype(operand) is not None:
                dtypes.append(self.number_dtype(operand))
            elif self.expr_type(operand) is float:
                python_float = True
        dtype = promote(*dtypes)
        if dtype is None and python_float or dtype == "int64":
            dtype = "float64" if python_float else None
        if dtype is None:
            raise LoweringError("arithmetic on bool or integer values alone does not lower "
                                "(numpy makes bools or integers of it)", node)
        return ArrayType(max(ranks), single=dtype == "float32")

    def has_float32(self):
        """Whether any float32 value is about: only then is a numpy float64
        scalar told from a Python float (both are doubles here)."""
        return any(isinstance(t, ArrayType) and t.single for t in self.types.values()) \
            or "float32" in (self.number_dtypes or {}).values()
