"""Arrays in the native backend: values, memory, indexing and statements.

Contract: float64 and float32 arrays of 1 to ``MAX_RANK`` (4) dimensions
(any of them may be returned to the caller).  A float32 array's data pointer is
``float*``: its elements are widened to double when read and rounded to
float32 when written (:meth:`ArrayLowering.load_element`,
:meth:`ArrayLowering.store_element`), so arithmetic runs in double and each
stored element is the correctly rounded float32 of that double result.  A
bool array's (a mask's) is ``i8*``, one byte per element read as an ``i1``;
an int64 array's is ``double*``, reinterpreted where it is read.  During
lowering an array is an :class:`Arr` (LLVM values for its memory block, data pointer, shape and
strides in elements) or, before it is computed, a :class:`Lazy` (see
elementwise.py).  :class:`ArrayLowering`, mixed into the lowering (lower.py),
gives it

- array parameters: ``double* data, i64 n0, ..., i64 n{ndim-1}`` for a kernel
  (C-contiguous; the caller converts), whole views for a helper;
- element reads and writes with Python's negative indices and a bounds
  check (an out-of-range index sets the ``INDEX`` error bit and leaves the
  function: an ``IndexError``, never a stray write);
- gathers, scatters and masks (``x[idx]``, ``x[m] = v``: selections.py);
- views that share memory as in numpy: basic slices, rows ``A[i]``,
  columns ``A[:, j]``, ``A.T`` and new axes ``x[:, None]`` (length 1,
  stride 0, so they broadcast);
- ``np.zeros``/``np.ones``/``np.empty`` (and ``_like``), assignments,
  element and slice writes, iteration with ``for`` (also ``zip`` and
  ``enumerate``), and arrays returned to the caller.

Memory: every array made inside the function lives in a block
``[refcount, data...]`` from ``fwdcompile_alloc`` (memory.py: malloc, with
large blocks kept for reuse); a variable holding it counts as one
reference, reassignment releases the old block, and the function's single
exit releases every variable's block, so no call leaks.  A returned array's
block is handed to the caller with one reference (jit.py copies it into a
numpy array and frees it).  Arguments' memory is borrowed (no block).
"""

from __future__ import annotations

from dataclasses import dataclass

import gast
import numpy as np
from llvmlite import ir

from .errors import INDEX, SHAPE, LoweringError
from .catalogue import MISSING, root_name
from .numpy_names import MAKERS, constant_int
from .types import F32, F32P, F64, I1, I8, I64, I64P, I8P, VOID, ArrayType, data_pointer

NULL = ir.Constant(I64P, None)


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


class Lazy:
    """An elementwise expression not yet computed: its shape and a function
    emitting the element at given indices (as LLVM values).

    When operands may broadcast, ``same`` is an LLVM i1 that holds at run
    time when none does (every operand has the result's shape), and
    ``direct`` emits the element without the broadcasting index arithmetic;
    consumers loop over ``direct`` when ``same`` holds, so the common case
    vectorizes (see :meth:`ElementwiseLowering.each`).  ``flat`` says that
    ``fast(index)`` reads its leaves only through their element pointers at
    ``index`` (no index arithmetic of its own: not a matrix product or a
    reduction along an axis), so a loop over the flat index of C-contiguous
    leaves may stand for the loop nest.  ``versions``: ``(value, {n: lazy})``,
    the same elements emitted more simply when the run-time ``value`` is
    ``n`` (a reduction along an axis of ``n`` positions, spelled out); a
    consumer that loops may switch between them outside its loop."""

    versions = None

    def __init__(self, shape, element, leaves, direct=None, same=None, flat=False):
        self.shape, self.element, self.leaves = shape, element, leaves
        self.direct, self.same, self.flat = direct, same, flat

    def fast(self, index):
        return (self.direct or self.element)(index)

    def map(self, fn):
        """``fn`` applied to every element (a unary operation)."""
        direct = None if self.direct is None else (lambda index: fn(self.direct(index)))
        return Lazy(self.shape, lambda index: fn(self.element(index)), self.leaves, direct,
                    self.same, self.flat)


class ArrayLowering:
    """Array methods of the lowering; see the module docstring."""

    # ------------------------------------------------------------ parameters
    def array_abi(self, t):
        """LLVM parameter types of an array: ``data, n0, ...`` for a kernel
        (C-contiguous), the whole view ``block, data, shape, strides`` for a helper."""
        if self.is_helper:
            return [I64P, data_pointer(t)] + [I64] * (2 * t.ndim)
        return [data_pointer(t)] + [I64] * t.ndim

    def array_param(self, name, t, llargs):
        """Store an array parameter from its LLVM arguments (see :meth:`array_abi`)."""
        if self.is_helper:  # the helper's variable takes its own reference
            owner, data = llargs[0], llargs[1]
            shape, strides = tuple(llargs[2:2 + t.ndim]), tuple(llargs[2 + t.ndim:])
            self.store_array(name, Arr(owner, data, shape, strides))
            return
        data, shape = llargs[0], tuple(llargs[1:1 + t.ndim])
        self.store_array(name, Arr(NULL, data, shape, self.contiguous_strides(shape)),
                         borrowed=True)

    def contiguous_strides(self, shape):
        """The strides (in elements) of a C-contiguous array of ``shape``."""
        strides, step = [ir.Constant(I64, 1)], None
        for n in reversed(shape[1:]):
            step = n if step is None else self.builder.mul(step, n)
            strides.insert(0, step)
        return tuple(strides)

    @staticmethod
    def view_arguments(arr):
        return [arr.owner, arr.data, *arr.shape, *arr.strides]

    def returned_array(self, out, slot, t):
        """The array of type ``t`` a helper wrote at ``out[slot:slot + 2 + 2 ndim]``
        (see :meth:`return_array`)."""
        b = self.builder
        raw = b.bitcast(out, I64P)
        ndim = t.ndim
        field = [b.load(b.gep(raw, [ir.Constant(I64, slot + k)])) for k in range(2 + 2 * ndim)]
        return Arr(b.inttoptr(field[0], I64P), b.inttoptr(field[1], data_pointer(t)),
                   tuple(field[2:2 + ndim]), tuple(field[2 + ndim:]))

    # ------------------------------------------------------------ storage
    def array_slots(self, name, t):
        ndim = t.ndim
        if name not in self.slots:
            with self.builder.goto_entry_block():
                b = self.builder
                owner = b.alloca(I64P, name=f"{name}.owner")
                b.store(NULL, owner)
                slots = (owner, b.alloca(data_pointer(t), name=f"{name}.data"),
                         tuple(b.alloca(I64, name=f"{name}.n{k}") for k in range(ndim)),
                         tuple(b.alloca(I64, name=f"{name}.s{k}") for k in range(ndim)))
            self.slots[name] = slots
        return self.slots[name]

    def load_array(self, name):
        owner, data, shape, strides = self.array_slots(name, self.types[name])
        b = self.builder
        return Arr(b.load(owner), b.load(data), tuple(b.load(s) for s in shape),
                   tuple(b.load(s) for s in strides))

    def store_array(self, name, arr, borrowed=False, acquired=False):
        """Bind ``name`` to ``arr``; the variable takes a reference unless
        ``borrowed`` (an argument) or ``acquired`` (taken already: a tuple
        assignment takes every new reference before it drops any old one)."""
        t = self.types[name]
        if not isinstance(t, ArrayType) or t.ndim != arr.ndim \
                or arr.data.type != data_pointer(t):
            raise LoweringError(f"`{name}` holds arrays of different ranks or dtypes, or an "
                                "array and a scalar")
        owner, data, shape, strides = self.array_slots(name, t)
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
                b.call(self.libc("fwdcompile_free", VOID, [I64P]), [owner])

    def release_arrays(self):
        """At the function's exit: drop every array variable's reference."""
        for name, slots in self.slots.items():
            if isinstance(self.types.get(name), ArrayType):
                self.decref(self.builder.load(slots[0]))

    def libc(self, name, ret, params):
        return self.module.globals.get(name) or ir.Function(
            self.module, ir.FunctionType(ret, params), name=name)

    def allocate(self, shape, single=False, boolean=False):
        """A new C-contiguous array (one reference to be taken by its holder),
        float32 when ``single``, bool when ``boolean`` (its block is sized for
        doubles all the same)."""
        b = self.builder
        size = self.size_of(shape)
        nbytes = b.mul(b.add(size, ir.Constant(I64, 1)), ir.Constant(I64, 8))
        block = b.call(self.libc("fwdcompile_alloc", I8P, [I64]), [nbytes])
        owner = b.bitcast(block, I64P)
        b.store(ir.Constant(I64, 0), owner)
        data = b.bitcast(b.gep(owner, [ir.Constant(I64, 1)]),
                         data_pointer(ArrayType(len(shape), single=single, boolean=boolean)))
        return Arr(owner, data, tuple(shape), self.contiguous_strides(shape))

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
            if self.selection_kind(node) is not None:  # x[idx], x[mask]: selections.py
                return self.selected_array(node)
            return self.subscript(node)
        raise LoweringError("this array expression does not lower here", node)

    def subscript(self, node):
        """The view (an :class:`Arr`) or the element pointer ``node`` selects."""
        base = self.array_value(node.value)
        parts = self.index_parts(node, base.ndim)
        b = self.builder
        offset = ir.Constant(I64, 0)
        shape, strides = [], []
        k = 0  # the base's dimension the next indexing item applies to
        for part in parts:
            if self.is_new_axis(part):  # x[:, None]: length 1, stride 0 (broadcasts)
                shape.append(ir.Constant(I64, 1))
                strides.append(ir.Constant(I64, 0))
                continue
            n, s = base.shape[k], base.strides[k]
            k += 1
            if isinstance(part, gast.Slice):
                start, length, step = self.slice_bounds(part, n)
                offset = b.add(offset, b.mul(start, s))
                shape.append(length)
                strides.append(b.mul(s, step))
            else:
                offset = b.add(offset, b.mul(self.index_value(part, n), s))
        shape += base.shape[k:]
        strides += base.strides[k:]
        data = b.gep(base.data, [offset])
        if not shape:
            return data  # a pointer to one element
        return Arr(base.owner, data, tuple(shape), tuple(strides))

    def index_value(self, part, n):
        """The integer index ``part`` into ``n`` items, negative ones counted
        from the end, checked (the INDEX bit)."""
        if self.expr_type(part) not in (int, bool):
            raise LoweringError("array indices must be integers or slices", part)
        b = self.builder
        i = self.convert(self.expr(part), int)
        i = b.select(b.icmp_signed("<", i, ir.Constant(I64, 0)), b.add(i, n), i)
        if self.boundscheck:
            outside = b.or_(b.icmp_signed("<", i, ir.Constant(I64, 0)),
                            b.icmp_signed(">=", i, n))
            self.fail_if(outside, INDEX)
        return i

    def slice_bounds(self, part, n):
        """(start, length, step) of ``lo:hi:step`` over ``n`` items, clamped as in Python."""
        b = self.builder
        zero, one = ir.Constant(I64, 0), ir.Constant(I64, 1)
        step_value = 1 if part.step is None else constant_int(part.step)
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

    def load_element(self, pointer, integer=False):
        """The element at ``pointer``: data pointers are typed double* (an
        int64 array's are reinterpreted), float* (widened to double) or i8*
        (a bool array's bytes, read as i1)."""
        b = self.builder
        if integer:
            return b.load(b.bitcast(pointer, I64P))
        if pointer.type == F32P:
            return b.fpext(b.load(pointer), F64)
        if pointer.type == I8P:
            return b.icmp_unsigned("!=", b.load(pointer), ir.Constant(I8, 0))
        return b.load(pointer)

    def store_element(self, x, pointer):
        """Write the number ``x`` at ``pointer`` (rounded to float32 for a
        float32 array, a byte 0 or 1 for a bool array)."""
        b = self.builder
        if pointer.type == I8P:
            b.store(b.zext(self.convert(x, bool), I8), pointer)
            return
        x = self.convert(x, float)
        if pointer.type == F32P:
            x = b.fptrunc(x, F32)
        b.store(x, pointer)

    def element_pointer(self, arr, index):
        offset = ir.Constant(I64, 0)
        for i, s in zip(index, arr.strides):
            offset = self.builder.add(offset, self.builder.mul(i, s))
        return self.builder.gep(arr.data, [offset])

    # ------------------------------------------------------------ loops
    def loop_nest(self, shape, body, start=None, vectorize=False):
        """Emit ``for i0 in range(shape[0]): for i1 ...: body([i0, i1])``
        (``range(start, shape[0])`` for the outermost when ``start`` is given:
        a worker's chunk, parallel.py).  ``vectorize``: the innermost loop is
        vectorized however short it is (:meth:`vectorize_hint`)."""
        b = self.builder
        index = []

        def level(k):
            if k == len(shape):
                body(index)
                return
            with b.goto_entry_block():
                counter = b.alloca(I64, name=f"ew{k}")
            b.store(start if k == 0 and start is not None else ir.Constant(I64, 0), counter)
            head, inner, after = (self.fn.append_basic_block(n)
                                  for n in (f"ew{k}", f"ew{k}.body", f"ew{k}.end"))
            b.branch(head)
            b.position_at_end(head)
            i = b.load(counter)
            b.cbranch(b.icmp_signed("<", i, shape[k]), inner, after)
            b.position_at_end(inner)
            index.append(i)
            blocks = len(self.fn.blocks)
            level(k + 1)
            index.pop()
            b.store(b.add(b.load(counter), ir.Constant(I64, 1)), counter)
            latch = b.branch(head)
            if vectorize and k == len(shape) - 1 and len(self.fn.blocks) == blocks \
                    and not any(isinstance(x, ir.CallInstr) and not x.callee.name.startswith(
                        "llvm.") for x in inner.instructions):
                # straight-line bodies calling intrinsics only: in a loop with a
                # loop or a branch inside (a reduction along an axis) or a call
                # LLVM cannot widen, the hint would make LLVM warn it could not
                latch.set_metadata("llvm.loop", self.vectorize_hint())
            b.position_at_end(after)

        level(0)

    def vectorize_hint(self):
        """Loop metadata asking LLVM to vectorize an elementwise loop even when
        its cost model would not: with run-time alias and stride checks it
        vectorizes a loop of unknown length only from about 20 iterations, so
        the inner loop over K = 8 components of an (N, K) array broadcast
        against an (N, 1) one ran scalar (a scalar ``exp`` per element).  A
        fresh node per loop: loop IDs are distinct, self-referential."""
        enable = self.module.add_metadata(["llvm.loop.vectorize.enable", ir.Constant(I1, 1)])
        loop = ir.values.MDValue(self.module, [], name=str(len(self.module.metadata)))
        loop.operands = (loop, enable)  # (the constructor listed it in the module)
        return loop

    # ------------------------------------------------------------ statements
    def assign_array(self, name, value):
        """``name = <array expression>``: a view shares memory, anything else is new."""
        if self.types[name].listed:
            if not (isinstance(value, gast.List) and not value.elts):
                raise LoweringError("a list lowers when made empty (`vals = []`) and "
                                    "appended to, never under a second name", value)
            self.new_list(name)
            return
        if isinstance(value, gast.Call) and not value.keywords and len(value.args) == 1 \
                and self.method_receiver(value) is None and self.call_name(value) == "asarray" \
                and isinstance(value.args[0], (gast.Name, gast.Subscript, gast.Attribute)) \
                and not self.array_expr_type(value.args[0]).listed:
            value = value.args[0]  # np.asarray of a float64 array is that array, not a copy
        if isinstance(value, (gast.Name, gast.Subscript, gast.Attribute)):
            self.store_array(name, self.array_value(value))
            return
        maker = self.make_array(value)
        if maker is None and self.types[name].boolean:  # a mask: x > 0, a & b
            maker = self.mask_value(value)
        self.store_array(name, maker if maker is not None else self.materialize(
            self.lazy(value), self.types[name].single))

    def make_array(self, node):
        """np.zeros/ones/empty(_like) as a new array, or None for other calls."""
        if not isinstance(node, gast.Call) or self.method_receiver(node) is not None \
                or self.is_helper_call(node):
            return None
        name = self.call_name(node)
        if name not in MAKERS or name == "copy":
            return None
        if name.endswith("_like"):
            if not self.array_expr_type(node.args[0]).floating:
                raise LoweringError(f"np.{name} of a non-float array does not lower", node)
            like = node.args[0]  # only its shape: an expression's is known without computing it
            shape = self.array_value(like).shape if isinstance(
                like, (gast.Name, gast.Subscript, gast.Attribute)) else self.lazy(like).shape
        else:
            spec = node.args[0]
            items = spec.elts if isinstance(spec, gast.Tuple) else [spec]
            shape = tuple(self.convert(self.expr(s), int) for s in items)
            negative = ir.Constant(I1, 0)
            for n in shape:
                negative = self.builder.or_(negative, self.builder.icmp_signed(
                    "<", n, ir.Constant(I64, 0)))
            self.fail_if(negative, SHAPE)
        extra = [k.arg for k in node.keywords if not (k.arg == "dtype"
                                                       and self.is_float64_dtype(k.value))]
        if extra or len(node.args) > 1:
            raise LoweringError(f"np.{name} with options other than dtype=float does not "
                                "lower", node)
        out = self.allocate(shape, self.array_expr_type(node).single)
        if not name.startswith("empty"):
            fill = ir.Constant(F64, 1.0 if name.startswith("ones") else 0.0)
            self.loop_nest(shape, lambda index: self.store_element(
                fill, self.element_pointer(out, index)))
        return out

    def is_float64_dtype(self, node):
        """``dtype=float`` or ``dtype=np.float64`` (resolved, not spelled)."""
        if root_name(node) is None or root_name(node) in self.local_names:
            return False
        dtype = self.namespace.resolve(node)
        return dtype is not MISSING and (dtype is float or dtype is np.float64)

    def assign_subscript(self, target, value, op=None):
        """``a[...] = value`` or ``a[...] op= value``."""
        if not self.array_expr_type(target.value).floating:
            raise LoweringError("writing into an integer or bool array does not lower", target)
        kind = self.selection_kind(target)
        if kind is not None:  # x[mask] = ..., x[idx] = ...: selections.py
            (self.assign_masked if kind == "mask" else self.assign_gathered)(target, value, op)
            return
        where = self.subscript(target)
        if isinstance(where, Arr):
            source = self.lazy(value)
            if op is not None:
                current = Lazy(where.shape, lambda index: self.load_element(
                    self.element_pointer(where, index)), [where])
                rhs = source
                source = Lazy(where.shape, lambda index: self.float_binop(
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
            x = self.float_binop(op, self.load_element(where), x, target)
        self.store_element(x, where)

    def array_iteration(self, stmt):
        """``for x in a``, ``for x, y in zip(a, b)``, ``for i, x in enumerate(a)``:
        (length, bind(index)) or None when ``stmt.iter`` is not over arrays."""
        it = stmt.iter
        sources, enumerated = None, False
        if isinstance(it, gast.Call) and self.call_name(it) == "zip" and not it.keywords:
            sources = it.args
        elif isinstance(it, gast.Call) and self.call_name(it) == "enumerate" and len(it.args) == 1:
            sources, enumerated = [it.args[0]], True
        elif isinstance(self.array_expr_type(it), ArrayType):
            sources = [it]
        if sources is None or not all(isinstance(self.array_expr_type(s), ArrayType)
                                      for s in sources):
            return None
        if any(isinstance(s, gast.Name) and self.appends_to(stmt.body, s.id) for s in sources):
            raise LoweringError("appending to a list inside a loop over it does not lower", stmt)
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

        integer = [self.array_expr_type(s).integer for s in sources]

        def bind(i):
            names = [t.id for t in targets]
            if enumerated:
                self.store(names.pop(0), i)
            for name, a, is_int in zip(names, arrays, integer):
                if a.ndim == 1:
                    self.store(name, self.load_element(b.gep(a.data, [b.mul(i, a.strides[0])]),
                                                       is_int))
                else:
                    row = b.gep(a.data, [b.mul(i, a.strides[0])])
                    self.store_array(name, Arr(a.owner, row, a.shape[1:], a.strides[1:]))

        return length, bind

    def iteration_types(self, stmt):
        """Types of a loop's targets when it iterates over arrays, else None."""
        it = stmt.iter
        sources, enumerated = None, False
        if isinstance(it, gast.Call) and self.call_name(it) == "zip":
            sources = it.args
        elif isinstance(it, gast.Call) and self.call_name(it) == "enumerate" and len(it.args) == 1:
            sources, enumerated = [it.args[0]], True
        else:
            sources = [it]
        types = [self.array_expr_type(s) for s in sources]
        if not all(isinstance(t, ArrayType) for t in types):
            return None
        targets = stmt.target.elts if isinstance(stmt.target, gast.Tuple) else [stmt.target]
        items = ([int] if enumerated else []) + [
            (int if t.integer else bool if t.boolean else float) if t.ndim == 1
            else t.with_ndim(t.ndim - 1)
            for t in types]
        return [(t.id, ty) for t, ty in zip(targets, items) if isinstance(t, gast.Name)]

    # ------------------------------------------------------------ returns
    def return_array(self, arr, slot):
        """Hand an array to the caller: ``2 + 2 ndim`` slots (block, data, the
        shape, the strides in elements; types.kind_slots)."""
        b = self.builder
        self.incref(arr.owner)
        out = b.bitcast(self.out, I64P)
        fields = [b.ptrtoint(arr.owner, I64), b.ptrtoint(arr.data, I64)]
        fields += list(arr.shape) + list(arr.strides)
        for k, v in enumerate(fields):
            b.store(v, b.gep(out, [ir.Constant(I64, slot + k)]))
