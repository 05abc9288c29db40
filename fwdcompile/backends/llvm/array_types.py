"""Types of array expressions in the native backend.

Contract: :class:`ArrayTyping` (mixed into the lowering) answers
``array_expr_type(node)``: an :class:`ArrayType` for an array-valued
expression, ``float``/``int`` for an array-derived number (an element, a
reduction, ``len``, ``.shape[k]``), or None when the expression involves no
array.  Shapes follow numpy (broadcasting, reductions with ``axis`` and
``keepdims``, ``@``); constructs outside the native subset raise
:class:`LoweringError` here, before any code is emitted.
"""

from __future__ import annotations

import gast

from .errors import LoweringError
from .catalogue import BUILTIN, MATH, RUNTIME, root_name
from .numpy_names import AXIS_REDUCTIONS, MOMENTS, OPERANDS, REDUCTIONS, SCANS, UFUNCS, \
    constant_int
from .types import ArrayType

# what takes a list as numpy takes an array (the rest is refused: lists.py)
_OF_LISTS = ("len", "zip", "enumerate", "sum", "min", "max", "mean", "prod", "array",
             "asarray")


class ArrayTyping:
    """Type inference for array expressions; see the module docstring."""

    def array_expr_type(self, node):
        """The type of an array-valued or array-derived expression, or None
        when ``node`` does not involve arrays."""
        if isinstance(node, gast.Name):
            t = self.types.get(node.id)
            return t if isinstance(t, ArrayType) else None
        if isinstance(node, gast.List):  # vals = []: lists.py
            if node.elts:
                raise LoweringError("list displays with items do not lower (start with [] "
                                    "and append)", node)
            return ArrayType(1, listed=True)
        if isinstance(node, gast.Subscript):
            base = node.value
            if isinstance(base, gast.Attribute) and base.attr == "shape":
                return int
            t = self.array_expr_type(base)
            if not isinstance(t, ArrayType):
                return None
            parts = self.index_parts(node, t.ndim)
            if t.listed and (len(parts) != 1 or self.expr_type(parts[0]) not in (int, bool)):
                raise LoweringError("a list lowers indexed by an integer only", node)
            selected = self.selection_type(node, t, parts)
            if selected is not None:
                return selected
            indexing = [p for p in parts if not self.is_new_axis(p)]
            # each slice keeps its dimension, each new axis adds one, integers drop one
            kept = t.ndim - len(indexing) + sum(isinstance(p, gast.Slice) for p in indexing) \
                + (len(parts) - len(indexing))
            if kept == 0:
                return int if t.integer else float
            return ArrayType(kept, t.integer, t.single)
        if isinstance(node, gast.Attribute):
            t = self.array_expr_type(node.value)
            if t is None:
                return None
            if t.listed:
                raise LoweringError(f"a list has no `.{node.attr}`", node)
            if node.attr == "T":
                return t
            if node.attr in ("size", "ndim"):
                return int
            raise LoweringError(f"the array attribute `.{node.attr}` does not lower", node)
        if isinstance(node, gast.BinOp):
            left, right = self.array_expr_type(node.left), self.array_expr_type(node.right)
            _only_indexed(node, left, right)
            if isinstance(node.op, gast.MatMult):
                return self.matmul_type(left, right, node)
            if isinstance(left, ArrayType) or isinstance(right, ArrayType):
                if isinstance(node.op, (gast.BitAnd, gast.BitOr, gast.BitXor)):
                    return self.logical_type(node, left, right)
                return self.elementwise_type(node, [node.left, node.right])
            return None
        if isinstance(node, gast.UnaryOp):
            t = self.array_expr_type(node.operand)
            _only_indexed(node, t)
            if isinstance(t, ArrayType) and t.boolean:
                raise LoweringError("`-`, `+` and `~` of a bool array do not lower", node)
            return t if isinstance(t, ArrayType) else None
        if isinstance(node, gast.Compare):
            types = [self.array_expr_type(v) for v in [node.left] + node.comparators]
            _only_indexed(node, *types)
            arrays = [t for t in types if isinstance(t, ArrayType)]
            if arrays:
                return ArrayType(max(t.ndim for t in arrays), boolean=True)
            return None
        if isinstance(node, gast.Call):
            return self.call_array_type(node)
        return None

    def reduction_spec(self, node):
        """``(name, operands, axis or None, keepdims)`` of ``np.sum(a, axis=...)``,
        ``a.sum(axis=...)`` or ``_rt.max_jvp(a, z, d_a, axis=..., keepdims=...)``."""
        receiver = self.method_receiver(node)
        name = self.call_name(node)
        operands = [receiver] if receiver is not None else list(node.args)
        extra = list(node.args) if receiver is not None else []
        count = OPERANDS.get(name, 1)
        extra += operands[count:]
        operands = operands[:count]
        options = {k.arg: k.value for k in node.keywords}
        if name in MOMENTS and "ddof" in options and constant_int(options["ddof"]) == 0:
            del options["ddof"]  # the default; any other ddof is refused below
        if extra:
            if len(extra) > 1 or "axis" in options:
                raise LoweringError(f"`{name}` with these arguments does not lower", node)
            options["axis"] = extra[0]
        unknown = set(options) - {"axis", "keepdims"}
        if unknown:
            raise LoweringError(f"`{name}` with {sorted(unknown)} does not lower", node)
        axis = options.get("axis")
        if isinstance(axis, gast.Name) and axis.id in self.constants:
            axis = self.constants[axis.id]  # a helper's parameter, passed as a constant
        elif isinstance(axis, gast.Tuple):  # every axis: the same as none
            rank = getattr(self.array_expr_type(operands[0]), "ndim", 0)
            if sorted(constant_int(e) % max(rank, 1) if constant_int(e) is not None else -1
                      for e in axis.elts) != list(range(rank)):
                raise LoweringError("a reduction over some of several axes does not lower", node)
            axis = None
        elif axis is not None and not (isinstance(axis, gast.Constant) and axis.value is None):
            axis = constant_int(axis)
            if axis is None:
                raise LoweringError("a reduction's axis must be an integer constant", node)
        else:
            axis = None
        keep = options.get("keepdims")
        if keep is not None and not (isinstance(keep, gast.Constant)
                                     and isinstance(keep.value, bool)):
            raise LoweringError("keepdims must be True or False", node)
        return name, operands, axis, bool(keep is not None and keep.value)

    def reduction_type(self, node):
        name, operands, axis, keep = self.reduction_spec(node)
        t = self.array_expr_type(operands[0])
        if not isinstance(t, ArrayType):
            return None
        if t.boolean:
            raise LoweringError(f"`{name}` of a bool array does not lower (numpy counts in "
                                "integers)", node)
        if axis is not None and not -t.ndim <= axis < t.ndim:
            raise LoweringError(f"axis {axis} is out of range for a {t.ndim}-D array", node)
        if keep:
            return t
        rank = 0 if axis is None else t.ndim - 1
        return float if rank == 0 else ArrayType(rank, single=t.single)

    def eye_type(self, node):
        """``np.eye(N)``, ``np.eye(N, M)``, ``k=``, ``dtype=float``: a float64 matrix."""
        options = {k.arg for k in node.keywords} - {"M", "k", "dtype"}
        dtype = [k.value for k in node.keywords if k.arg == "dtype"]
        if options or not 1 <= len(node.args) <= 3 or dtype and not self.is_float64_dtype(
                dtype[0]):
            raise LoweringError("np.eye lowers with N, M, k and dtype=float only", node)
        for a in list(node.args) + [k.value for k in node.keywords if k.arg != "dtype"]:
            if self.expr_type(a) is not int:
                raise LoweringError("np.eye's sizes and k must be ints", node)
        return ArrayType(2)

    def matmul_type(self, a, b, node):
        if not (isinstance(a, ArrayType) and isinstance(b, ArrayType)):
            raise LoweringError("`@` / np.dot with a scalar operand does not lower", node)
        if a.boolean or b.boolean:
            raise LoweringError("`@` / np.dot of bool arrays does not lower", node)
        if self.blas and (a.ndim >= 2 or b.ndim >= 2):
            # numpy's BLAS beats scalar loops: region lowering runs this in numpy
            exc = LoweringError("a matrix product runs through numpy's BLAS", node)
            exc.blas = True  # native.py may also compile the function whole, for small sizes
            raise exc
        if a.ndim > 2 or b.ndim > 2:
            raise LoweringError("`@` / np.dot of arrays of 3 or more dimensions does not "
                                "lower (vectors and matrices only)", node)
        rank = {(1, 1): 0, (2, 1): 1, (1, 2): 1, (2, 2): 2}[(a.ndim, b.ndim)]
        return ArrayType(rank, single=a.single and b.single) if rank else float

    @staticmethod
    def logical_type(node, *types):
        """``a & b``, ``a | b``, ``a ^ b``: bool arrays (or bools) only."""
        if not all(t is bool or isinstance(t, ArrayType) and t.boolean for t in types):
            raise LoweringError("`&`, `|` and `^` lower on bool arrays only", node)
        return ArrayType(max(t.ndim for t in types if isinstance(t, ArrayType)), boolean=True)

    def selection_type(self, node, t, parts):
        """The type of ``x[mask]`` (a bool array over the first dimensions:
        a vector of the elements where it holds, or rows of them) or of a
        gather (``x[idx]``, ``x[idx, j]``, ``x[rows, cols]``, ``x[:, idx]``:
        int64 index arrays broadcast together, numpy's advanced indexing);
        None for basic indexing."""
        arrays = [self.array_expr_type(p) for p in parts]
        arrays = [a for a in arrays if isinstance(a, ArrayType)]
        if not arrays:
            return None
        if not t.floating:
            raise LoweringError(f"selecting from a {t.dtype} array with an array index does "
                                "not lower", node)
        if any(a.boolean for a in arrays):
            if len(parts) != 1:
                raise LoweringError("a mask lowers as the only index (`x[mask]`)", node)
            if arrays[0].ndim > t.ndim:
                raise LoweringError("the mask has more dimensions than the array", node)
            return t.with_ndim(t.ndim - arrays[0].ndim + 1)
        if not all(a.integer for a in arrays):
            raise LoweringError("array indices must be int64 (or bool masks)", node)
        if any(self.is_new_axis(p) for p in parts):
            raise LoweringError("new axes with array indices do not lower", node)
        slices = sum(isinstance(p, gast.Slice) for p in parts)
        return t.with_ndim(max(a.ndim for a in arrays) + slices + t.ndim - len(parts))

    def where_type(self, node, arg_types):
        """``np.where(mask, a, b)``: the shape of all three, the dtype of the
        branches (promotion.py)."""
        if len(node.args) != 3 or node.keywords:
            raise LoweringError("np.where lowers with three arguments", node)
        rank = max(t.ndim for t in arg_types if isinstance(t, ArrayType))
        return self.elementwise_type(node, node.args[1:]).with_ndim(rank)

    def clip_type(self, node, name, arg_types):
        """``np.clip(a, lo, hi)`` (the dtype of all three) and
        ``_rt.clip_jvp(a, lo, hi, d_a, d_lo, d_hi)`` (the dtype of the
        tangents), both with finite bounds given (None runs in numpy)."""
        arity = 3 if name == "clip" else 6
        if len(node.args) != arity or node.keywords or any(
                isinstance(a, gast.Constant) and a.value is None for a in node.args):
            raise LoweringError(f"`{name}` lowers with {arity} arguments and both bounds", node)
        rank = max(t.ndim for t in arg_types if isinstance(t, ArrayType))
        if name == "clip":
            return self.elementwise_type(node, node.args).with_ndim(rank)
        # the runtime adds np.where(inside, d_a, 0.0), np.where(below, d_lo, 0.0), ...:
        # a tangent given as a Python float makes a float64 array there
        tangents = node.args[3:]
        if any(not isinstance(t, ArrayType) and self.number_dtype(a) != "float32"
               for a, t in zip(tangents, arg_types[3:])):
            return ArrayType(rank)
        if not any(isinstance(t, ArrayType) for t in arg_types[3:]):
            return ArrayType(rank, single=True)
        return self.elementwise_type(node, tangents).with_ndim(rank)

    def call_array_type(self, node):
        func = node.func
        receiver = self.method_receiver(node)
        if receiver is not None:  # x.copy(), x.sum(), ...
            t = self.array_expr_type(receiver)
            if t is None:
                return None
            _only_indexed(node, t)
            if func.attr == "copy":
                return t
            if func.attr in REDUCTIONS:
                return self.reduction_type(node)
            raise LoweringError(f"the array method `.{func.attr}()` does not lower", node)
        if self.is_helper_call(node):
            return None  # unpacked by call_helper
        target = self.call_target(node)
        name = target.name
        arg_types = [self.array_expr_type(a) for a in node.args]
        if any(isinstance(t, ArrayType) and t.listed for t in arg_types):
            if name not in _OF_LISTS:
                raise LoweringError(f"`{name}` of a list does not lower", node)
        elif name not in ("len", "range", "zip", "enumerate"):
            _only_indexed(node, *arg_types)
        arrays = [t for t in arg_types if isinstance(t, ArrayType)]
        if arrays and target.origin == MATH:
            raise LoweringError(f"the math function `{name}` of an array does not lower "
                                "(Python raises unless it has one element)", node)
        if arrays and target.origin == BUILTIN and name in ("sum", "min", "max") \
                and (len(node.args) != 1 or arrays[0].ndim != 1):
            raise LoweringError(f"the builtin `{name}` lowers for one vector only", node)
        if name in ("zeros", "ones", "empty"):
            shape = node.args[0] if node.args else None
            return ArrayType(len(shape.elts) if isinstance(shape, gast.Tuple) else 1)
        if name == "eye":
            return self.eye_type(node)
        if not any(isinstance(t, ArrayType) for t in arg_types):
            return None
        if any(isinstance(t, ArrayType) and t.boolean for t in arg_types) \
                and name not in ("len", "where", "copy", "array", "asarray") + tuple(UFUNCS):
            raise LoweringError(f"`{name}` of a bool array does not lower (numpy counts in "
                                "integers)", node)
        if name in ("zeros_like", "ones_like", "empty_like", "copy", "array", "asarray"):
            if name == "zeros_like" and target.origin == RUNTIME:  # float64, whatever the dtype
                return ArrayType(arg_types[0].ndim)
            return arg_types[0].with_ndim(arg_types[0].ndim)  # an array, also of a list
        if name == "broadcast":  # _rt.broadcast(d, z): d widened to z's shape
            return arg_types[1]
        if name in ("dot", "matmul") and len(node.args) == 2 and not node.keywords:
            return self.matmul_type(*arg_types, node)
        if name in ("norm", "norm_jvp"):  # the 2-norm (Frobenius for a matrix) and its tangent
            if node.keywords or len(node.args) != (1 if name == "norm" else 3):
                raise LoweringError("np.linalg.norm with ord or axis does not lower", node)
            return float
        if name in AXIS_REDUCTIONS and name != "sum" \
                or name == "sum" and (len(node.args) > 1 or node.keywords):
            return self.reduction_type(node)
        if name in REDUCTIONS or name == "len":
            arity = {"dot": 2, "vdot": 2}.get(name, 1)
            if node.keywords or len(node.args) > arity:
                raise LoweringError(f"`{name}` with options does not lower", node)
            if name == "vdot" and any(not isinstance(t, ArrayType) or t.ndim != 1
                                      for t in arg_types):
                raise LoweringError("np.vdot lowers for two vectors only", node)
            return int if name == "len" else float
        if name in SCANS:
            _, operands, axis, keep = self.reduction_spec(node)
            t = self.array_expr_type(operands[0])
            if keep or not isinstance(t, ArrayType):
                raise LoweringError(f"`{name}` with these arguments does not lower", node)
            if axis is None and t.ndim > 1:
                raise LoweringError(f"`{name}` of a {t.ndim}-D array lowers with an axis= "
                                    "only (without one numpy flattens it)", node)
            if axis is not None and not -t.ndim <= axis < t.ndim:
                raise LoweringError(f"axis {axis} is out of range for a {t.ndim}-D array", node)
            return t
        if name == "where":
            return self.where_type(node, arg_types)
        if name in ("clip", "clip_jvp"):
            return self.clip_type(node, name, arg_types)
        if name in UFUNCS:
            if any(isinstance(t, ArrayType) and t.boolean for t in arg_types):
                raise LoweringError(f"`{name}` of a bool array does not lower", node)
            return self.elementwise_type(node, node.args)
        if name == "sum" and len(node.args) == 1:  # builtin sum over a vector
            return float
        raise LoweringError(f"the call to `{name}` on arrays does not lower", node)

    def method_receiver(self, node):
        """``x`` for ``x.sum()`` or ``(a + b).sum()``, a method of a value the
        function computes; None for ``np.sum(x)``, ``np.linalg.norm(x)`` or
        ``mylib.sin(x)``, whose callee is resolved by object (catalogue.py)."""
        func = node.func
        if not isinstance(func, gast.Attribute):
            return None
        root = root_name(func.value)
        if root is not None and root not in self.local_names:
            return None
        return func.value

    def index_parts(self, node, ndim):
        """The index items of ``a[...]``, with ``...`` expanded into full slices
        (as many as the dimensions the other items leave; new axes take none:
        :meth:`is_new_axis`)."""
        index = node.slice
        parts = list(index.elts) if isinstance(index, gast.Tuple) else [index]
        indexing = sum(1 for p in parts if not self.is_new_axis(p)
                       and not (isinstance(p, gast.Constant) and p.value is Ellipsis))
        for k, p in enumerate(parts):
            if isinstance(p, gast.Constant) and p.value is Ellipsis:
                full = gast.Slice(lower=None, upper=None, step=None)
                parts[k:k + 1] = [full] * max(ndim - indexing, 0)
                break
        if sum(1 for p in parts if not self.is_new_axis(p)) > ndim:
            raise LoweringError("too many indices for the array", node)
        return parts

    def is_new_axis(self, part):
        """Whether an index item adds an axis of length 1: ``None``, or a name
        from outside the function that is None when the kernel is compiled
        (``np.newaxis``, resolved by object like every outside name)."""
        if isinstance(part, gast.Constant):
            return part.value is None
        root = root_name(part) if isinstance(part, (gast.Name, gast.Attribute)) else None
        if root is None or root in self.local_names:
            return False
        return self.namespace.resolve(part) is None


def _only_indexed(node, *types):
    """Integer arrays are index data here: read element by element only; lists
    are built and read (lists.py), never computed with."""
    if any(isinstance(t, ArrayType) and t.listed for t in types):
        raise LoweringError("a list lowers through append, len, sum, np.array, indexing and "
                            "loops only (`*` and `+` repeat and join lists)", node)
    if any(isinstance(t, ArrayType) and t.integer for t in types):
        raise LoweringError("integer arrays only lower as index data, read element by "
                            "element (`idx[i]`); convert them to float64 for arithmetic", node)
