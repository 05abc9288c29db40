"""Arrays in the native backend: float64 arrays of 1 and 2 dimensions.

Contract: :class:`ArrayLowering` is mixed into the scalar lowering
(lower.py) and gives it

- array parameters, passed as ``double* data, i64 n0[, i64 n1]``
  (C-contiguous; the caller converts);
- element reads and writes with Python's negative indices and a bounds
  check (an out-of-range index sets the ``INDEX`` error bit and leaves the
  function: an ``IndexError``, never a stray write);
- views that share memory as in numpy: basic slices, rows ``A[i]``,
  columns ``A[:, j]`` and ``A.T``;
- elementwise expressions over arrays, views and scalars, lowered to one
  fused loop: materialized into a new array when assigned to a name, written
  straight into the target for ``view[...] = expr`` (through a temporary
  when the two overlap in memory, as numpy's semantics require), and reduced
  without any temporary under ``np.sum``/``np.dot``/``np.mean``/``np.max``/
  ``np.min``;
- ``np.zeros``/``np.ones``/``np.empty`` (and ``_like``), ``.copy()``,
  ``len``, ``.shape``, ``.size``, iteration with ``for`` (also ``zip`` and
  ``enumerate``), and arrays returned to the caller.

Temporaries: an array variable assigned once from an elementwise expression
and read only inside other elementwise expressions and reductions of the
same block, with nothing it reads reassigned or written in between, is not
stored at all: each use recomputes it inside the consumer's loop
(:func:`inlinable_temporaries`).  That is what turns
``d = x[1:] - x[:-1] ** 2; np.sum(d * d_d)`` into one loop with no
allocation.  Expressions with transcendental calls are inlined only when
used once, so work is never repeated where it costs more than memory.

Memory: every array made inside the function lives in a block
``[refcount, data...]`` from ``malloc``; a variable holding it counts as one
reference, reassignment releases the old block, and the function's single
exit releases every variable's block, so no call leaks.  A returned array's
block is handed to the caller with one reference (jit.py copies it into a
numpy array and frees it).  Arguments' memory is borrowed (no block).
Shapes that differ where numpy would broadcast are not lowered beyond
"equal shapes or a scalar": a mismatch at run time sets the ``SHAPE`` bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import gast
from llvmlite import ir

from .errors import EMPTY, INDEX, SHAPE, LoweringError

F64, I64, I1 = ir.DoubleType(), ir.IntType(64), ir.IntType(1)
F64P, I64P = F64.as_pointer(), I64.as_pointer()
NULL = ir.Constant(I64P, None)



@dataclass(frozen=True)
class ArrayType:
    """The type of a float64 array variable of ``ndim`` dimensions."""
    ndim: int

    def __repr__(self):
        return f"float64[{', '.join(':' * self.ndim)}]"


@dataclass
class Arr:
    """An array value during lowering: LLVM values for its block (or null),
    data pointer, shape and strides (in elements)."""
    owner: ir.Value
    data: ir.Value
    shape: tuple
    strides: tuple

    @property
    def ndim(self):
        return len(self.shape)


class _Lazy:
    """An elementwise expression not yet computed: its shape and a function
    emitting the element at given indices (as LLVM values).

    When operands may broadcast, ``same`` is an LLVM i1 that holds at run
    time when none does (every operand has the result's shape), and
    ``direct`` emits the element without the broadcasting index arithmetic;
    consumers loop over ``direct`` when ``same`` holds, so the common case
    vectorizes (see :meth:`ArrayLowering.each`)."""

    def __init__(self, shape, element, leaves, direct=None, same=None):
        self.shape, self.element, self.leaves = shape, element, leaves
        self.direct, self.same = direct, same

    def fast(self, index):
        return (self.direct or self.element)(index)

    def map(self, fn):
        """``fn`` applied to every element (a unary operation)."""
        direct = None if self.direct is None else (lambda index: fn(self.direct(index)))
        return _Lazy(self.shape, lambda index: fn(self.element(index)), self.leaves, direct,
                     self.same)


# numpy elementwise function -> math name the scalar lowering knows
_UFUNCS = {"exp": "exp", "log": "log", "sin": "sin", "cos": "cos", "tan": "tan",
           "tanh": "tanh", "sinh": "sinh", "cosh": "cosh", "sqrt": "sqrt", "abs": "fabs",
           "absolute": "fabs", "fabs": "fabs", "log1p": "log1p", "expm1": "expm1",
           "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh",
           "arccosh": "acosh", "arctanh": "atanh", "log2": "log2", "log10": "log10",
           "exp2": "exp2", "floor": "floor", "ceil": "ceil", "sign": "sign",
           "cbrt": "cbrt", "square": "square", "arctan2": "atan2", "hypot": "hypot",
           "maximum": "maximum", "minimum": "minimum", "power": "pow", "where": "where"}
_REDUCTIONS = ("sum", "mean", "max", "min", "amax", "amin", "dot", "vdot", "prod", "max_jvp")
_MAKERS = ("zeros", "ones", "empty", "zeros_like", "ones_like", "empty_like", "copy")


class ArrayLowering:
    """Array methods of the lowering; see the module docstring."""

    # ------------------------------------------------------------ types
    def array_abi(self, t):
        """LLVM parameter types of an array: ``data, n0[, n1]`` for a kernel
        (C-contiguous), the whole view ``block, data, shape, strides`` for a helper."""
        if self.is_helper:
            return [I64P, F64P] + [I64] * (2 * t.ndim)
        return [F64P] + [I64] * t.ndim

    def array_param(self, name, t, llargs):
        """Store an array parameter from its LLVM arguments (see :meth:`array_abi`)."""
        if self.is_helper:  # the helper's variable takes its own reference
            owner, data = llargs[0], llargs[1]
            shape, strides = tuple(llargs[2:2 + t.ndim]), tuple(llargs[2 + t.ndim:])
            self.store_array(name, Arr(owner, data, shape, strides))
            return
        data, shape = llargs[0], tuple(llargs[1:1 + t.ndim])
        strides = (ir.Constant(I64, 1),) if t.ndim == 1 else (shape[1], ir.Constant(I64, 1))
        self.store_array(name, Arr(NULL, data, shape, strides), borrowed=True)

    @staticmethod
    def view_arguments(arr):
        return [arr.owner, arr.data, *arr.shape, *arr.strides]

    def returned_array(self, out, slot, ndim):
        """The array a helper wrote at ``out[slot:slot + 6]`` (see :meth:`return_array`)."""
        b = self.builder
        raw = b.bitcast(out, I64P)
        field = [b.load(b.gep(raw, [ir.Constant(I64, slot + k)])) for k in range(6)]
        return Arr(b.inttoptr(field[0], I64P), b.inttoptr(field[1], F64P),
                   tuple(field[2:2 + ndim]), tuple(field[4:4 + ndim]))

    def array_expr_type(self, node):
        """The type of an array-valued or array-derived expression, or None
        when ``node`` does not involve arrays."""
        if isinstance(node, gast.Name):
            t = self.types.get(node.id)
            return t if isinstance(t, ArrayType) else None
        if isinstance(node, gast.Subscript):
            base = node.value
            if isinstance(base, gast.Attribute) and base.attr == "shape":
                return int
            t = self.array_expr_type(base)
            if not isinstance(t, ArrayType):
                return None
            parts = self.index_parts(node, t.ndim)
            kept = t.ndim - len(parts) + sum(isinstance(p, gast.Slice) for p in parts)
            return float if kept == 0 else ArrayType(kept)
        if isinstance(node, gast.Attribute):
            t = self.array_expr_type(node.value)
            if t is None:
                return None
            if node.attr == "T":
                return t
            if node.attr in ("size", "ndim"):
                return int
            raise LoweringError(f"the array attribute `.{node.attr}` does not lower", node)
        if isinstance(node, gast.BinOp):
            left, right = self.array_expr_type(node.left), self.array_expr_type(node.right)
            if isinstance(node.op, gast.MatMult):
                return self.matmul_type(left, right, node)
            if isinstance(left, ArrayType) or isinstance(right, ArrayType):
                return self.broadcast_type(left, right, node)
            return None
        if isinstance(node, gast.UnaryOp):
            t = self.array_expr_type(node.operand)
            return t if isinstance(t, ArrayType) else None
        if isinstance(node, gast.Compare):
            types = [self.array_expr_type(v) for v in [node.left] + node.comparators]
            if any(isinstance(t, ArrayType) for t in types):
                return ArrayType(max(t.ndim for t in types if isinstance(t, ArrayType)))
            return None
        if isinstance(node, gast.Call):
            return self.call_array_type(node)
        return None

    def reduction_spec(self, node):
        """``(name, operands, axis or None, keepdims)`` of ``np.sum(a, axis=...)``,
        ``a.sum(axis=...)`` or ``_rt.max_jvp(a, z, d_a, axis=..., keepdims=...)``."""
        receiver = self.method_receiver(node)
        name = node.func.attr if isinstance(node.func, gast.Attribute) else _name_of(node)
        operands = [receiver] if receiver is not None else list(node.args)
        extra = list(node.args) if receiver is not None else []
        count = 3 if name == "max_jvp" else 1
        extra += operands[count:]
        operands = operands[:count]
        options = {k.arg: k.value for k in node.keywords}
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
            if sorted(_constant_int(e) % max(rank, 1) if _constant_int(e) is not None else -1
                      for e in axis.elts) != list(range(rank)):
                raise LoweringError("a reduction over some of several axes does not lower", node)
            axis = None
        elif axis is not None and not (isinstance(axis, gast.Constant) and axis.value is None):
            axis = _constant_int(axis)
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
        if axis is not None and not -t.ndim <= axis < t.ndim:
            raise LoweringError(f"axis {axis} is out of range for a {t.ndim}-D array", node)
        if keep:
            return t
        rank = 0 if axis is None else t.ndim - 1
        return float if rank == 0 else ArrayType(rank)

    @staticmethod
    def matmul_type(a, b, node):
        if not (isinstance(a, ArrayType) and isinstance(b, ArrayType)):
            raise LoweringError("`@` / np.dot with a scalar operand does not lower", node)
        return {(1, 1): float, (2, 1): ArrayType(1), (1, 2): ArrayType(1),
                (2, 2): ArrayType(2)}[(a.ndim, b.ndim)]

    @staticmethod
    def broadcast_type(a, b, node):
        return ArrayType(max(t.ndim for t in (a, b) if isinstance(t, ArrayType)))

    def call_array_type(self, node):
        func = node.func
        receiver = self.method_receiver(node)
        if receiver is not None:  # x.copy(), x.sum(), ...
            t = self.array_expr_type(receiver)
            if t is None:
                return None
            if func.attr == "copy":
                return t
            if func.attr in _REDUCTIONS:
                return self.reduction_type(node)
            raise LoweringError(f"the array method `.{func.attr}()` does not lower", node)
        name = _name_of(node)
        arg_types = [self.array_expr_type(a) for a in node.args]
        if name in ("zeros", "ones", "empty"):
            shape = node.args[0] if node.args else None
            return ArrayType(len(shape.elts) if isinstance(shape, gast.Tuple) else 1)
        if not any(isinstance(t, ArrayType) for t in arg_types):
            return None
        if name in ("zeros_like", "ones_like", "empty_like", "copy", "array", "asarray"):
            return arg_types[0]
        if name in ("dot", "matmul") and len(node.args) == 2 and not node.keywords:
            return self.matmul_type(*arg_types, node)
        if name in ("sum", "mean", "max", "min", "amax", "amin", "prod", "max_jvp") \
                and name != "sum" or name == "sum" and (len(node.args) > 1 or node.keywords):
            return self.reduction_type(node)
        if name in _REDUCTIONS or name == "len":
            arity = {"dot": 2, "vdot": 2}.get(name, 1)
            if node.keywords or len(node.args) > arity:
                raise LoweringError(f"`{name}` with options does not lower", node)
            if name == "vdot" and any(not isinstance(t, ArrayType) or t.ndim != 1
                                      for t in arg_types):
                raise LoweringError("np.vdot lowers for two vectors only", node)
            return int if name == "len" else float
        if name in _UFUNCS:
            t = None
            for a in arg_types:
                if isinstance(a, ArrayType):
                    t = a if t is None else self.broadcast_type(t, a, node)
            return t
        if name == "sum" and len(node.args) == 1:  # builtin sum over a vector
            return float
        raise LoweringError(f"the call to `{name}` on arrays does not lower", node)

    @staticmethod
    def method_receiver(node):
        func = node.func
        if isinstance(func, gast.Attribute) and not (
                isinstance(func.value, gast.Name) and func.value.id in _MODULES):
            return func.value
        return None

    @staticmethod
    def index_parts(node, ndim):
        """The index items of ``a[...]``, with ``...`` expanded into full slices."""
        index = node.slice
        parts = list(index.elts) if isinstance(index, gast.Tuple) else [index]
        for k, p in enumerate(parts):
            if isinstance(p, gast.Constant) and p.value is Ellipsis:
                full = gast.Slice(lower=None, upper=None, step=None)
                parts[k:k + 1] = [full] * (ndim - len(parts) + 1)
                break
        for p in parts:
            if isinstance(p, gast.Constant) and p.value is None:
                raise LoweringError("new axes (`None` in an index) do not lower", node)
        if len(parts) > ndim:
            raise LoweringError("too many indices for the array", node)
        return parts

    # ------------------------------------------------------------ storage
    def array_slots(self, name, ndim):
        if name not in self.slots:
            with self.builder.goto_entry_block():
                b = self.builder
                owner = b.alloca(I64P, name=f"{name}.owner")
                b.store(NULL, owner)
                slots = (owner, b.alloca(F64P, name=f"{name}.data"),
                         tuple(b.alloca(I64, name=f"{name}.n{k}") for k in range(ndim)),
                         tuple(b.alloca(I64, name=f"{name}.s{k}") for k in range(ndim)))
            self.slots[name] = slots
        return self.slots[name]

    def load_array(self, name):
        owner, data, shape, strides = self.array_slots(name, self.types[name].ndim)
        b = self.builder
        return Arr(b.load(owner), b.load(data), tuple(b.load(s) for s in shape),
                   tuple(b.load(s) for s in strides))

    def store_array(self, name, arr, borrowed=False, acquired=False):
        """Bind ``name`` to ``arr``; the variable takes a reference unless
        ``borrowed`` (an argument) or ``acquired`` (taken already: a tuple
        assignment takes every new reference before it drops any old one)."""
        t = self.types[name]
        if not isinstance(t, ArrayType) or t.ndim != arr.ndim:
            raise LoweringError(f"`{name}` holds arrays of different ranks, or an array "
                                "and a scalar")
        owner, data, shape, strides = self.array_slots(name, t.ndim)
        b = self.builder
        if not borrowed:
            if not acquired:
                self.incref(arr.owner)
            self.decref(b.load(owner))
        b.store(arr.owner, owner)
        b.store(arr.data, data)
        for slot, v in zip(shape + strides, arr.shape + arr.strides):
            b.store(v, slot)

    def incref(self, owner):
        b = self.builder
        with b.if_then(b.icmp_unsigned("!=", owner, NULL)):
            b.store(b.add(b.load(owner), ir.Constant(I64, 1)), owner)

    def decref(self, owner):
        b = self.builder
        with b.if_then(b.icmp_unsigned("!=", owner, NULL)):
            count = b.sub(b.load(owner), ir.Constant(I64, 1))
            b.store(count, owner)
            with b.if_then(b.icmp_signed("==", count, ir.Constant(I64, 0))):
                b.call(self.libc("free", ir.VoidType(), [I64P]), [owner])

    def release_arrays(self):
        """At the function's exit: drop every array variable's reference."""
        for name, slots in self.slots.items():
            if isinstance(self.types.get(name), ArrayType):
                self.decref(self.builder.load(slots[0]))

    def libc(self, name, ret, params):
        return self.module.globals.get(name) or ir.Function(
            self.module, ir.FunctionType(ret, params), name=name)

    def allocate(self, shape):
        """A new C-contiguous array (one reference to be taken by its holder)."""
        b = self.builder
        size = self.size_of(shape)
        nbytes = b.mul(b.add(size, ir.Constant(I64, 1)), ir.Constant(I64, 8))
        block = b.call(self.libc("malloc", ir.IntType(8).as_pointer(), [I64]), [nbytes])
        owner = b.bitcast(block, I64P)
        b.store(ir.Constant(I64, 0), owner)
        data = b.bitcast(b.gep(owner, [ir.Constant(I64, 1)]), F64P)
        strides = (ir.Constant(I64, 1),) if len(shape) == 1 else (shape[1], ir.Constant(I64, 1))
        return Arr(owner, data, tuple(shape), strides)

    def size_of(self, shape):
        size = shape[0]
        for n in shape[1:]:
            size = self.builder.mul(size, n)
        return size

    # ------------------------------------------------------------ errors
    def fail_if(self, condition, bit):
        """Set ``bit`` in *err and leave the function when ``condition`` holds."""
        b = self.builder
        with b.if_then(condition, likely=False):
            if bit:
                b.store(b.or_(b.load(self.err), ir.Constant(I64, bit)), self.err)
            b.branch(self.exit)
        # if_then's merge block needs a live predecessor: the false edge

    # ------------------------------------------------------------ indexing
    def array_value(self, node):
        """An :class:`Arr` for an array-valued name, view or attribute."""
        if isinstance(node, gast.Name):
            return self.load_array(node.id)
        if isinstance(node, gast.Attribute) and node.attr == "T":
            a = self.array_value(node.value)
            return Arr(a.owner, a.data, a.shape[::-1], a.strides[::-1])
        if isinstance(node, gast.Subscript):
            return self.subscript(node)
        raise LoweringError("this array expression does not lower here", node)

    def subscript(self, node):
        """The view (an :class:`Arr`) or the element pointer ``node`` selects."""
        base = self.array_value(node.value)
        parts = self.index_parts(node, base.ndim)
        b = self.builder
        offset = ir.Constant(I64, 0)
        shape, strides = [], []
        for k, part in enumerate(parts):
            n, s = base.shape[k], base.strides[k]
            if isinstance(part, gast.Slice):
                start, length, step = self.slice_bounds(part, n)
                offset = b.add(offset, b.mul(start, s))
                shape.append(length)
                strides.append(b.mul(s, step))
            else:
                if self.expr_type(part) not in (int, bool):
                    raise LoweringError("array indices must be integers or slices", part)
                i = self.convert(self.expr(part), int)
                i = b.select(b.icmp_signed("<", i, ir.Constant(I64, 0)), b.add(i, n), i)
                if self.boundscheck:
                    outside = b.or_(b.icmp_signed("<", i, ir.Constant(I64, 0)),
                                    b.icmp_signed(">=", i, n))
                    self.fail_if(outside, INDEX)
                offset = b.add(offset, b.mul(i, s))
        shape += base.shape[len(parts):]
        strides += base.strides[len(parts):]
        data = b.gep(base.data, [offset])
        if not shape:
            return data  # a pointer to one element
        return Arr(base.owner, data, tuple(shape), tuple(strides))

    def slice_bounds(self, part, n):
        """(start, length, step) of ``lo:hi:step`` over ``n`` items, clamped as in Python."""
        b = self.builder
        zero, one = ir.Constant(I64, 0), ir.Constant(I64, 1)
        step_value = 1 if part.step is None else _constant_int(part.step)
        if not step_value:
            raise LoweringError("slice steps must be nonzero integer constants", part)
        step = ir.Constant(I64, step_value)
        forward = step_value > 0

        def bound(node, default):
            if node is None:
                return default
            v = self.convert(self.expr(node), int)
            v = b.select(b.icmp_signed("<", v, zero), b.add(v, n), v)
            if forward:  # clamp into [0, n]
                v = b.select(b.icmp_signed("<", v, zero), zero, v)
                return b.select(b.icmp_signed(">", v, n), n, v)
            minus = ir.Constant(I64, -1)  # clamp into [-1, n - 1]
            v = b.select(b.icmp_signed("<", v, minus), minus, v)
            last = b.sub(n, one)
            return b.select(b.icmp_signed(">", v, last), last, v)

        if forward:
            lo, hi = bound(part.lower, zero), bound(part.upper, n)
            span = b.sub(hi, lo)
            length = b.sdiv(b.add(span, b.sub(step, one)), step)
        else:
            lo, hi = bound(part.lower, b.sub(n, one)), bound(part.upper, ir.Constant(I64, -1))
            span = b.sub(lo, hi)
            length = b.sdiv(b.add(span, b.sub(b.neg(step), one)), b.neg(step))
        length = b.select(b.icmp_signed("<", length, zero), zero, length)
        return lo, length, step

    def element_pointer(self, arr, index):
        offset = ir.Constant(I64, 0)
        for i, s in zip(index, arr.strides):
            offset = self.builder.add(offset, self.builder.mul(i, s))
        return self.builder.gep(arr.data, [offset])

    # ------------------------------------------------------------ loops
    def loop_nest(self, shape, body):
        """Emit ``for i0 in range(shape[0]): for i1 ...: body([i0, i1])``."""
        b = self.builder
        index = []

        def level(k):
            if k == len(shape):
                body(index)
                return
            with b.goto_entry_block():
                counter = b.alloca(I64, name=f"ew{k}")
            b.store(ir.Constant(I64, 0), counter)
            head, inner, after = (self.fn.append_basic_block(n)
                                  for n in (f"ew{k}", f"ew{k}.body", f"ew{k}.end"))
            b.branch(head)
            b.position_at_end(head)
            i = b.load(counter)
            b.cbranch(b.icmp_signed("<", i, shape[k]), inner, after)
            b.position_at_end(inner)
            index.append(i)
            level(k + 1)
            index.pop()
            b.store(b.add(b.load(counter), ir.Constant(I64, 1)), counter)
            b.branch(head)
            b.position_at_end(after)

        level(0)

    # ------------------------------------------------------------ elementwise
    def lazy(self, node):
        """A :class:`_Lazy` for an elementwise expression (scalars hoisted)."""
        if isinstance(node, gast.Name) and node.id in self.inlined:
            return self.lazy(self.inlined[node.id].value)
        t = self.array_expr_type(node)
        if not isinstance(t, ArrayType):
            value = self.convert(self.expr(node), float) if self.expr_type(node) is not bool \
                else self.expr(node)
            return _Lazy(None, lambda index: value, [])
        if isinstance(node, (gast.Name, gast.Subscript, gast.Attribute)):
            arr = self.array_value(node)
            return _Lazy(arr.shape, lambda index: self.builder.load(
                self.element_pointer(arr, index)), [arr])
        if isinstance(node, gast.BinOp) and isinstance(node.op, gast.MatMult):
            return self.matmul(node.left, node.right, node)
        if isinstance(node, gast.BinOp):
            return self.combine(node, [node.left, node.right],
                                lambda x, y: self.float_binop(node.op, x, y, node))
        if isinstance(node, gast.UnaryOp):
            if not isinstance(node.op, (gast.USub, gast.UAdd)):
                raise LoweringError("this unary operator on arrays does not lower", node)
            inner = self.lazy(node.operand)
            if isinstance(node.op, gast.USub):
                return inner.map(self.builder.fneg)
            return inner
        if isinstance(node, gast.Compare):
            if len(node.ops) != 1:
                raise LoweringError("chained comparisons of arrays do not lower", node)
            return self.combine(node, [node.left, node.comparators[0]],
                                lambda x, y: self.compare_values(node.ops[0], x, y, node))
        if isinstance(node, gast.Call):
            name = _name_of(node)
            receiver = self.method_receiver(node)
            if receiver is not None and node.func.attr == "copy" or name in (
                    "copy", "array", "asarray"):
                return self.lazy(receiver if receiver is not None else node.args[0])
            if name in ("dot", "matmul") and len(node.args) == 2:
                return self.matmul(node.args[0], node.args[1], node)
            if name in _REDUCTIONS:
                return self.reduce_along(node)
            if name not in _UFUNCS or node.keywords:
                raise LoweringError(f"`{name}` on arrays does not lower", node)
            return self.combine(node, node.args, lambda *xs: self.ufunc(name, xs, node))
        raise LoweringError(f"`{type(node).__name__}` on arrays does not lower", node)

    def combine(self, node, operands, op):
        parts = [self.lazy(a) for a in operands]
        shape = self.broadcast_shape([p.shape for p in parts])
        parts = [self.align_to(p, shape) for p in parts]
        leaves = [leaf for p in parts for leaf in p.leaves]
        same = self.all_of([p.same for p in parts])
        direct = None if same is None else (lambda index: op(*[p.fast(index) for p in parts]))
        return _Lazy(shape, lambda index: op(*[p.element(index) for p in parts]), leaves,
                     direct, same)

    def align_to(self, part, shape):
        """``part`` read at the indices of the broadcast ``shape``."""
        if part.shape is None or part.shape is shape:
            return part
        b = self.builder
        equal = ir.Constant(I1, int(len(part.shape) == len(shape)))
        if len(part.shape) == len(shape):
            for n, m in zip(part.shape, shape):
                equal = b.and_(equal, b.icmp_signed("==", n, m))
        return _Lazy(shape, lambda index: self.aligned(part, shape, index), part.leaves,
                     part.fast, self.all_of([equal, part.same]))

    def all_of(self, flags):
        flags = [f for f in flags if f is not None]
        if not flags:
            return None
        out = flags[0]
        for f in flags[1:]:
            out = self.builder.and_(out, f)
        return out

    def each(self, lazy, shape, body):
        """``body(element, index)`` over ``shape``: one loop reading ``lazy``
        directly when no operand broadcasts, another when one does."""
        if lazy.same is None:
            self.loop_nest(shape, lambda index: body(lazy.element(index), index))
            return
        with self.builder.if_else(lazy.same) as (unbroadcast, broadcast):
            with unbroadcast:
                self.loop_nest(shape, lambda index: body(lazy.fast(index), index))
            with broadcast:
                self.loop_nest(shape, lambda index: body(lazy.element(index), index))

    def broadcast_shape(self, shapes):
        """The shape operands of ``shapes`` broadcast to, by numpy's rules
        (right-aligned; a dimension of 1 stretches), checked at run time."""
        ranked = [s for s in shapes if s is not None]
        if not ranked:
            return None
        if all(s is ranked[0] for s in ranked):
            return ranked[0]
        b = self.builder
        one = ir.Constant(I64, 1)
        rank = max(len(s) for s in ranked)
        out, bad = [], ir.Constant(I1, 0)
        for k in range(rank):
            size = None
            for s in ranked:
                j = k - (rank - len(s))
                if j < 0:
                    continue
                n = s[j]
                if size is None:
                    size = n
                    continue
                size_one, n_one = b.icmp_signed("==", size, one), b.icmp_signed("==", n, one)
                differ = b.icmp_signed("!=", size, n)
                bad = b.or_(bad, b.and_(differ, b.not_(b.or_(size_one, n_one))))
                size = b.select(size_one, n, size)
            out.append(size)
        self.fail_if(bad, SHAPE)
        return tuple(out)

    def aligned(self, part, shape, index):
        """``part``'s element at ``index`` of the broadcast ``shape``."""
        if part.shape is None or part.shape is shape:
            return part.element(index)
        b = self.builder
        offset = len(shape) - len(part.shape)
        own = [b.select(b.icmp_signed("==", n, ir.Constant(I64, 1)), ir.Constant(I64, 0),
                        index[offset + j]) for j, n in enumerate(part.shape)]
        return part.element(own)

    def matmul(self, left, right, node):
        """``left @ right`` with a matrix on either side, as a lazy array whose
        elements are inner products (each its own loop, summed in order)."""
        a, c = self.lazy(left), self.lazy(right)
        b = self.builder
        inner_a, inner_c = a.shape[-1], c.shape[0]
        self.fail_if(b.icmp_signed("!=", inner_a, inner_c), SHAPE)
        shape = a.shape[:-1] + c.shape[1:]

        def element(index):
            outer_a, outer_c = index[:len(a.shape) - 1], index[len(a.shape) - 1:]
            with b.goto_entry_block():
                acc = b.alloca(F64, name="inner")
            b.store(ir.Constant(F64, 0.0), acc)

            def step(k):
                term = b.fmul(self.convert(a.element(outer_a + [k[0]]), float),
                              self.convert(c.element([k[0]] + outer_c), float))
                b.store(b.fadd(b.load(acc), term, flags=("reassoc", "contract")), acc)

            self.loop_nest((inner_a,), step)
            return b.load(acc)

        return _Lazy(shape, element, a.leaves + c.leaves)

    def require_same_shape(self, a, b):
        bad = ir.Constant(I1, 0)
        for x, y in zip(a, b):
            bad = self.builder.or_(bad, self.builder.icmp_signed("!=", x, y))
        self.fail_if(bad, SHAPE)

    def ufunc(self, name, xs, node):
        b = self.builder
        fl = [self.convert(x, float) if x.type != I1 else x for x in xs]
        if name == "where":
            cond = self.convert(xs[0], bool)
            return b.select(cond, self.convert(xs[1], float), self.convert(xs[2], float))
        if name == "square":
            return b.fmul(fl[0], fl[0])
        if name in ("maximum", "minimum"):  # numpy propagates NaN from either side
            x, y = fl
            pick = b.fcmp_ordered(">=" if name == "maximum" else "<=", x, y)
            nan = b.fcmp_unordered("uno", x, x)
            return b.select(nan, x, b.select(pick, x, y))
        if name == "sign":
            x = fl[0]
            pos = b.uitofp(b.fcmp_ordered(">", x, ir.Constant(F64, 0.0)), F64)
            neg = b.uitofp(b.fcmp_ordered("<", x, ir.Constant(F64, 0.0)), F64)
            nan = b.fcmp_unordered("uno", x, x)
            return b.select(nan, x, b.fsub(pos, neg))
        return self.call_math(_UFUNCS[name], fl)

    def materialize(self, lazy):
        out = self.allocate(lazy.shape)
        self.each(lazy, lazy.shape, lambda x, index: self.builder.store(
            self.convert(x, float), self.element_pointer(out, index)))
        return out

    def write_into(self, target, lazy, node):
        """``target[...] = lazy`` elementwise, as numpy does it: the right side
        is computed in full first when it overlaps the target in memory."""
        if lazy.shape is not None:
            if len(lazy.shape) > target.ndim:
                raise LoweringError("assigning an array of higher rank does not lower", node)
            b = self.builder
            bad = ir.Constant(I1, 0)  # each dimension equal to the target's, or 1
            for n, m in zip(lazy.shape, target.shape[target.ndim - len(lazy.shape):]):
                bad = b.or_(bad, b.and_(b.icmp_signed("!=", n, m),
                                        b.icmp_signed("!=", n, ir.Constant(I64, 1))))
            self.fail_if(bad, SHAPE)
            lazy = self.align_to(lazy, target.shape)

        def copy(source):
            self.each(source, target.shape, lambda x, index: self.builder.store(
                self.convert(x, float), self.element_pointer(target, index)))

        if not lazy.leaves:
            copy(lazy)
            return
        b = self.builder
        overlap = ir.Constant(I1, 0)
        lo, hi = self.extent(target)
        for leaf in lazy.leaves:
            l_lo, l_hi = self.extent(leaf)
            overlap = b.or_(overlap, b.and_(b.icmp_unsigned("<", l_lo, hi),
                                            b.icmp_unsigned("<", lo, l_hi)))
        with b.if_else(overlap, likely=False) as (through_temp, direct):
            with through_temp:
                temp = self.materialize(lazy)
                copy(_Lazy(temp.shape, lambda index: b.load(self.element_pointer(temp, index)),
                           []))
                b.call(self.libc("free", ir.VoidType(), [I64P]), [temp.owner])
            with direct:
                copy(lazy)

    def extent(self, arr):
        """The byte range ``[lo, hi)`` an array's elements may occupy (an over-
        approximation for negative strides: the whole span either way)."""
        b = self.builder
        base = b.ptrtoint(arr.data, I64)
        lo, hi = base, base
        for n, s in zip(arr.shape, arr.strides):
            reach = b.mul(b.mul(b.sub(n, ir.Constant(I64, 1)), s), ir.Constant(I64, 8))
            positive = b.icmp_signed(">", reach, ir.Constant(I64, 0))
            hi = b.add(hi, b.select(positive, reach, ir.Constant(I64, 0)))
            lo = b.add(lo, b.select(positive, ir.Constant(I64, 0), reach))
        return lo, b.add(hi, ir.Constant(I64, 8))

    # ------------------------------------------------------------ reductions
    def reduce(self, name, operands, node):
        b = self.builder
        if name in ("sum", "mean", "max", "min", "amax", "amin", "prod", "max_jvp") \
                and isinstance(node, gast.Call) and (node.keywords or len(operands) > (
                    3 if name == "max_jvp" else 1)):
            operands = self.reduction_spec(node)[1]  # an axis that leaves a number
        if name == "max_jvp":
            return self.extremum_tangent(operands, node)
        if name in ("dot", "vdot", "matmul"):
            lazy = self.combine(node, operands, lambda x, y: b.fmul(self.convert(x, float),
                                                                    self.convert(y, float)))
            name = "sum"
        else:
            lazy = self.lazy(operands[0])
        with b.goto_entry_block():
            acc = b.alloca(F64, name=name)
        start = {"sum": 0.0, "mean": 0.0, "prod": 1.0}.get(name)
        if start is None:  # max/min: numpy raises on an empty array
            self.fail_if(b.icmp_signed("==", self.size_of(lazy.shape), ir.Constant(I64, 0)),
                         EMPTY)
            b.store(ir.Constant(F64, float("-inf") if name in ("max", "amax") else float("inf")),
                    acc)
        else:
            b.store(ir.Constant(F64, start), acc)

        def step(x, index):
            x = self.convert(x, float)
            old = b.load(acc)
            if name in ("sum", "mean"):  # reassociated: the loop vectorizes
                new = b.fadd(old, x, flags=("reassoc", "contract"))
            elif name == "prod":
                new = b.fmul(old, x)
            else:  # NaN wins, as in numpy
                better = b.fcmp_unordered(">" if name in ("max", "amax") else "<", x, old)
                new = b.select(b.fcmp_unordered("uno", old, old), old, b.select(better, x, old))
            b.store(new, acc)

        self.each(lazy, lazy.shape, step)
        result = b.load(acc)
        if name == "mean":
            result = b.fdiv(result, b.sitofp(self.size_of(lazy.shape), F64))
        return result

    def reduce_along(self, node):
        """A reduction whose result is an array (an axis, or keepdims), as a
        lazy array whose elements each run an inner loop along the axis."""
        name, operands, axis, keep = self.reduction_spec(node)
        b = self.builder
        parts = [self.lazy(o) for o in operands]
        a = parts[0]
        rank = len(a.shape)
        axes = list(range(rank)) if axis is None else [axis % rank]
        if axis is None:  # keepdims over everything: shape (1, ..., 1)
            out_shape = tuple(ir.Constant(I64, 1) for _ in a.shape)
        else:
            k = axis % rank
            out_shape = a.shape[:k] + ((ir.Constant(I64, 1),) if keep else ()) + a.shape[k + 1:]
        if name == "max_jvp":
            self.require_same_shape(a.shape, parts[2].shape)
            extremes = self.align_to(parts[1], out_shape)
        elif name in ("max", "min", "amax", "amin"):
            for k in axes:
                self.fail_if(b.icmp_signed("==", a.shape[k], ir.Constant(I64, 0)), EMPTY)

        def full_index(index, inner):
            """The operand index for output ``index`` and position ``inner`` on the axes."""
            if axis is None:
                return list(inner)
            k = axis % rank
            outer = list(index)
            if keep:
                outer[k] = inner[0]
                return outer
            return outer[:k] + [inner[0]] + outer[k:]

        def element(index):
            with b.goto_entry_block():
                acc, count = b.alloca(F64, name=name), b.alloca(F64, name="count")
            start = {"sum": 0.0, "mean": 0.0, "prod": 1.0, "max_jvp": 0.0}.get(
                name, float("-inf") if name in ("max", "amax") else float("inf"))
            b.store(ir.Constant(F64, start), acc)
            b.store(ir.Constant(F64, 0.0), count)
            z = self.convert(extremes.element(index), float) if name == "max_jvp" else None

            def step(inner):
                where = full_index(index, inner)
                x = self.convert(a.element(where), float)
                old = b.load(acc)
                if name == "max_jvp":  # ties share the derivative, as in runtime.max_jvp
                    hit = b.fcmp_ordered("==", x, z)
                    d = self.convert(parts[2].element(where), float)
                    b.store(b.fadd(old, b.select(hit, d, ir.Constant(F64, 0.0))), acc)
                    b.store(b.fadd(b.load(count), b.uitofp(hit, F64)), count)
                    return
                if name in ("sum", "mean"):
                    new = b.fadd(old, x, flags=("reassoc", "contract"))
                elif name == "prod":
                    new = b.fmul(old, x)
                else:
                    better = b.fcmp_unordered(">" if name in ("max", "amax") else "<", x, old)
                    new = b.select(b.fcmp_unordered("uno", old, old), old,
                                   b.select(better, x, old))
                b.store(new, acc)

            self.loop_nest(tuple(a.shape[k] for k in axes), step)
            result = b.load(acc)
            if name == "mean":
                result = b.fdiv(result, b.sitofp(self.size_of([a.shape[k] for k in axes]), F64))
            if name == "max_jvp":
                result = b.fdiv(result, b.load(count))
            return result

        return _Lazy(out_shape, element, [leaf for p in parts for leaf in p.leaves])

    def extremum_tangent(self, operands, node):
        """``_rt.max_jvp(a, z, d_a)``: the mean of ``d_a`` where ``a == z``
        (ties share the derivative; NaN when ``z`` is NaN, as in runtime.py)."""
        if len(operands) != 3:
            raise LoweringError("this max/min tangent does not lower", node)
        b = self.builder
        a, d_a = self.lazy(operands[0]), self.lazy(operands[2])
        z = self.convert(self.expr(operands[1]), float)
        self.require_same_shape(a.shape, d_a.shape)
        with b.goto_entry_block():
            total, count = b.alloca(F64, name="tie_sum"), b.alloca(F64, name="ties")
        b.store(ir.Constant(F64, 0.0), total)
        b.store(ir.Constant(F64, 0.0), count)

        def step(index):
            hit = b.fcmp_ordered("==", a.element(index), z)
            b.store(b.fadd(b.load(total), b.select(hit, d_a.element(index),
                                                   ir.Constant(F64, 0.0))), total)
            b.store(b.fadd(b.load(count), b.uitofp(hit, F64)), count)

        self.loop_nest(a.shape, step)
        return b.fdiv(b.load(total), b.load(count))

    # ------------------------------------------------------------ statements
    def assign_array(self, name, value):
        """``name = <array expression>``: a view shares memory, anything else is new."""
        if isinstance(value, (gast.Name, gast.Subscript, gast.Attribute)):
            self.store_array(name, self.array_value(value))
            return
        maker = self.make_array(value)
        self.store_array(name, maker if maker is not None else self.materialize(self.lazy(value)))

    def make_array(self, node):
        """np.zeros/ones/empty(_like) as a new array, or None for other calls."""
        if not isinstance(node, gast.Call) or self.method_receiver(node) is not None:
            return None
        name = _name_of(node)
        if name not in _MAKERS or name == "copy":
            return None
        if name.endswith("_like"):
            like = self.array_value(node.args[0])
            shape = like.shape
        else:
            spec = node.args[0]
            items = spec.elts if isinstance(spec, gast.Tuple) else [spec]
            shape = tuple(self.convert(self.expr(s), int) for s in items)
            negative = ir.Constant(I1, 0)
            for n in shape:
                negative = self.builder.or_(negative, self.builder.icmp_signed(
                    "<", n, ir.Constant(I64, 0)))
            self.fail_if(negative, SHAPE)
        extra = [k.arg for k in node.keywords if not (
            k.arg == "dtype" and isinstance(k.value, (gast.Name, gast.Attribute))
            and getattr(k.value, "id", getattr(k.value, "attr", None)) in ("float", "float64"))]
        if extra or len(node.args) > 1:
            raise LoweringError(f"np.{name} with options other than dtype=float does not "
                                "lower", node)
        out = self.allocate(shape)
        if not name.startswith("empty"):
            fill = ir.Constant(F64, 1.0 if name.startswith("ones") else 0.0)
            self.loop_nest(shape, lambda index: self.builder.store(
                fill, self.element_pointer(out, index)))
        return out

    def assign_subscript(self, target, value, op=None):
        """``a[...] = value`` or ``a[...] op= value``."""
        where = self.subscript(target)
        if isinstance(where, Arr):
            source = self.lazy(value)
            if op is not None:
                current = _Lazy(where.shape, lambda index: self.builder.load(
                    self.element_pointer(where, index)), [where])
                rhs = source
                source = _Lazy(where.shape, lambda index: self.float_binop(
                    op, current.element(index), rhs.element(index), target),
                    [where] + rhs.leaves)
                if rhs.shape is not None:
                    self.require_same_shape(where.shape, rhs.shape)
            self.write_into(where, source, target)
            return
        if self.array_expr_type(value) is not None and isinstance(
                self.array_expr_type(value), ArrayType):
            raise LoweringError("assigning an array to one element does not lower", target)
        x = self.convert(self.expr(value), float)
        if op is not None:
            x = self.float_binop(op, self.builder.load(where), x, target)
        self.builder.store(x, where)

    def array_iteration(self, stmt):
        """``for x in a``, ``for x, y in zip(a, b)``, ``for i, x in enumerate(a)``:
        (length, bind(index)) or None when ``stmt.iter`` is not over arrays."""
        it = stmt.iter
        sources, enumerated = None, False
        if isinstance(it, gast.Call) and _name_of(it) == "zip" and not it.keywords:
            sources = it.args
        elif isinstance(it, gast.Call) and _name_of(it) == "enumerate" and len(it.args) == 1:
            sources, enumerated = [it.args[0]], True
        elif isinstance(self.array_expr_type(it), ArrayType):
            sources = [it]
        if sources is None or not all(isinstance(self.array_expr_type(s), ArrayType)
                                      for s in sources):
            return None
        arrays = [self.array_value(s) for s in sources]
        b = self.builder
        length = arrays[0].shape[0]
        for a in arrays[1:]:
            length = b.select(b.icmp_signed("<", a.shape[0], length), a.shape[0], length)
        targets = stmt.target.elts if isinstance(stmt.target, gast.Tuple) else [stmt.target]
        if len(sources) > 1 or enumerated:
            if len(targets) != len(sources) + enumerated:
                raise LoweringError("this loop's unpacking does not lower", stmt)
        elif len(targets) != 1:
            raise LoweringError("unpacking array items does not lower", stmt)
        if not all(isinstance(t, gast.Name) for t in targets):
            raise LoweringError("loop targets must be names", stmt)

        def bind(i):
            names = [t.id for t in targets]
            if enumerated:
                self.store(names.pop(0), i)
            for name, a in zip(names, arrays):
                if a.ndim == 1:
                    self.store(name, b.load(b.gep(a.data, [b.mul(i, a.strides[0])])))
                else:
                    row = b.gep(a.data, [b.mul(i, a.strides[0])])
                    self.store_array(name, Arr(a.owner, row, a.shape[1:], a.strides[1:]))

        return length, bind

    def iteration_types(self, stmt):
        """Types of a loop's targets when it iterates over arrays, else None."""
        it = stmt.iter
        sources, enumerated = None, False
        if isinstance(it, gast.Call) and _name_of(it) == "zip":
            sources = it.args
        elif isinstance(it, gast.Call) and _name_of(it) == "enumerate" and len(it.args) == 1:
            sources, enumerated = [it.args[0]], True
        else:
            sources = [it]
        types = [self.array_expr_type(s) for s in sources]
        if not all(isinstance(t, ArrayType) for t in types):
            return None
        targets = stmt.target.elts if isinstance(stmt.target, gast.Tuple) else [stmt.target]
        items = ([int] if enumerated else []) + [
            float if t.ndim == 1 else ArrayType(t.ndim - 1) for t in types]
        return [(t.id, ty) for t, ty in zip(targets, items) if isinstance(t, gast.Name)]

    # ------------------------------------------------------------ returns
    def return_array(self, arr, slot):
        """Hand an array to the caller: 6 slots (block, data, shape, strides)."""
        b = self.builder
        self.incref(arr.owner)
        out = b.bitcast(self.out, I64P)
        fields = [b.ptrtoint(arr.owner, I64), b.ptrtoint(arr.data, I64)]
        fields += list(arr.shape) + [ir.Constant(I64, 1)] * (2 - arr.ndim)
        fields += list(arr.strides) + [ir.Constant(I64, 0)] * (2 - arr.ndim)
        for k, v in enumerate(fields):
            b.store(v, b.gep(out, [ir.Constant(I64, slot + k)]))


_CHEAP = {"fabs", "abs", "absolute", "sign", "where", "maximum", "minimum", "square", "floor",
          "ceil", "sqrt"}


def inlinable_temporaries(fdef, types):
    """``{name: its Assign}`` for the array temporaries that need no storage
    (see the module docstring)."""
    defs, parents = {}, {}
    for node in gast.walk(fdef):
        for child in gast.iter_child_nodes(node):
            parents[child] = node
    stores = {}
    for node in gast.walk(fdef):
        if isinstance(node, gast.Name) and isinstance(node.ctx, (gast.Store, gast.Del)):
            stores[node.id] = stores.get(node.id, 0) + 1
        if isinstance(node, gast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], gast.Name) \
                and isinstance(types.get(node.targets[0].id), ArrayType) \
                and isinstance(node.value, (gast.BinOp, gast.UnaryOp, gast.Call)):
            defs[node.targets[0].id] = node
    chosen = {}
    for name, stmt in defs.items():
        if stores.get(name) != 1 or not _elementwise_only(stmt.value):
            continue
        block = _block_of(stmt, parents, fdef)
        position = block.index(stmt)
        uses = [n for n in gast.walk(fdef) if isinstance(n, gast.Name) and n.id == name
                and isinstance(n.ctx, gast.Load)]
        if not uses or any(not _consumed_elementwise(u, parents) for u in uses):
            continue
        last = position
        for u in uses:
            top = _statement_in(u, block, parents)
            if top is None or block.index(top) <= position:
                last = None
                break
            last = max(last, block.index(top))
        if last is None:
            continue
        expensive = any(isinstance(n, gast.Call) and _name_of(n) not in _CHEAP
                        or isinstance(n, gast.BinOp) and isinstance(n.op, gast.MatMult)
                        for n in gast.walk(stmt.value))
        if expensive and (len(uses) > 1 or any(_in_product(u, parents) for u in uses)):
            continue  # recomputing would repeat costly work: store it
        reads = {n.id for n in gast.walk(stmt.value) if isinstance(n, gast.Name)}
        between = block[position + 1:last + 1]
        if any(_writes(s, reads) for s in between):
            continue
        chosen[name] = stmt
    return chosen


def _elementwise_only(node):
    for n in gast.walk(node):
        if isinstance(n, gast.Call) and _name_of(n) not in _UFUNCS:
            return False
        if isinstance(n, gast.Call) and isinstance(n.func, gast.Attribute) and not (
                isinstance(n.func.value, gast.Name) and n.func.value.id in _MODULES):
            return False  # a method call
        if isinstance(n, (gast.Lambda, gast.IfExp, gast.BoolOp, gast.NamedExpr)):
            return False
    return True


def _consumed_elementwise(use, parents):
    parent = parents.get(use)
    if isinstance(parent, (gast.BinOp, gast.UnaryOp, gast.Compare)):
        return True
    if isinstance(parent, gast.Call) and use in parent.args and not parent.keywords:
        name = _name_of(parent) if not isinstance(parent.func, gast.Attribute) or (
            isinstance(parent.func.value, gast.Name)
            and parent.func.value.id in _MODULES) else None
        return name in _UFUNCS or name in ("sum", "mean", "dot", "vdot", "matmul", "prod", "max",
                                           "min", "amax", "amin")
    return False


def _in_product(use, parents):
    """Is ``use`` an operand of ``@`` or np.dot (each element read many times)?"""
    parent = parents.get(use)
    return isinstance(parent, gast.BinOp) and isinstance(parent.op, gast.MatMult) or \
        isinstance(parent, gast.Call) and _name_of(parent) in ("dot", "matmul")


def _block_of(stmt, parents, fdef):
    parent = parents.get(stmt, fdef)
    for field in ("body", "orelse", "finalbody"):
        block = getattr(parent, field, None)
        if isinstance(block, list) and any(s is stmt for s in block):
            return block
    return [stmt]


def _statement_in(node, block, parents):
    """The statement of ``block`` that contains ``node``, or None."""
    while node is not None:
        if any(node is s for s in block):
            return node
        node = parents.get(node)
    return None


def _writes(stmt, names):
    for n in gast.walk(stmt):
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store) and n.id in names:
            return True
        if isinstance(n, (gast.Subscript, gast.Attribute)) and isinstance(n.ctx, gast.Store):
            return True
        if isinstance(n, gast.AugAssign):
            return True
        if isinstance(n, gast.Call) and not _elementwise_call(n):
            return True  # a helper might write into an array it is given
    return False


def _elementwise_call(call):
    try:
        name = _name_of(call)
    except LoweringError:
        return False
    return name in _UFUNCS or name in _REDUCTIONS or name in ("len", "range", "float", "int",
                                                              "abs", "min", "max")


def _constant_int(node):
    """The value of ``3`` or ``-3`` as written, else None."""
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        inner = _constant_int(node.operand)
        return None if inner is None else -inner
    if isinstance(node, gast.Constant) and type(node.value) is int:
        return node.value
    return None


def _name_of(node):
    func = node.func
    if isinstance(func, gast.Name):
        return func.id
    if isinstance(func, gast.Attribute):
        return func.attr
    raise LoweringError("calls through expressions do not lower", node)


_MODULES = {"math", "_math", "_np", "np", "numpy", "_rt"}
