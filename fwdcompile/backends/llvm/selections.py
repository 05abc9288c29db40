"""Array indices in the native backend: gathers, scatters and masks.

Contract: :class:`SelectionLowering` (mixed into the lowering) lowers numpy's
advanced indexing of float arrays, with numpy's semantics:

- gathers ``x[idx]``, ``x[idx, j]``, ``x[rows, cols]``, ``x[:, idx]``: int64
  index arrays broadcast together (integers among them count as 0-d
  arrays); the result's dimensions from the index arrays stand where those
  indices stand when they are adjacent, first otherwise; negative indices
  count from the end.  Every index is checked before any element is read
  (an out-of-range one sets the ``INDEX`` bit: an ``IndexError``, never a
  stray read).  Inside an expression a gather is read in the consumer's
  loop (:meth:`SelectionLowering.gather`); where an array is needed it is
  copied into a new one.
- scatters ``x[idx] = v`` in index order (a repeated index keeps the last
  value, as numpy does); ``x[idx] op= v`` computes ``x[idx] op v`` in full
  before writing, as numpy does (so a repeated index does not accumulate).
- masks: ``x[mask]`` with a bool array over the first dimensions of ``x``
  (its shape checked: the ``MASK_SHAPE`` bit) is a new array of the
  selected elements (or rows), counted, allocated, then filled in C order;
  ``x[mask] = v`` and ``x[mask] op= v`` write them (``v`` a number, or an
  array broadcasting to the selection: else the ``MASK_VALUES`` bit).

A value written that reads arrays is computed into an array of its own
first, so a write never changes what it is still reading.
"""

from __future__ import annotations

import gast
from llvmlite import ir

from .arrays import Lazy
from .errors import INDEX, INDEX_SHAPE, MASK_SHAPE, MASK_VALUES, SHAPE, LoweringError
from .types import F32P, I1, I64, I64P, VOID, ArrayType


class SelectionLowering:
    """Advanced indexing; see the module docstring."""

    def selection_kind(self, node):
        """"gather" or "mask" for a subscript with an array index, else None."""
        t = self.array_expr_type(node.value)
        if not isinstance(t, ArrayType):
            return None
        for part in self.index_parts(node, t.ndim):
            index = self.array_expr_type(part)
            if isinstance(index, ArrayType):
                return "mask" if index.boolean else "gather"
        return None

    def selected_array(self, node):
        """A new array holding ``x[idx]`` or ``x[mask]`` (held like a temporary)."""
        single = self.array_expr_type(node).single
        if self.selection_kind(node) == "mask":
            return self.hold(node, "mask", self.masked(node))
        return self.hold(node, "gather", self.materialize(self.gather(node), single))

    # ------------------------------------------------------------ gathers
    def gather(self, node):
        """A :class:`Lazy` reading ``x[idx, ...]`` in place."""
        shape, pointer, base = self.gathered(node)
        return Lazy(shape, lambda index: self.load_element(pointer(index)), [base])

    def gathered(self, node):
        """``(shape, pointer(index), base)`` of a gather, every index checked."""
        base = self.array_value(node.value)
        parts = self.index_parts(node, base.ndim)
        b = self.builder
        fixed, arrays, slices = {}, {}, {}
        for k, part in enumerate(parts):
            n = base.shape[k]
            if isinstance(part, gast.Slice):
                slices[k] = self.slice_bounds(part, n)
            elif isinstance(self.array_expr_type(part), ArrayType):
                arrays[k] = self.array_value(part)
                self.check_indices(arrays[k], n)
            else:
                fixed[k] = self.index_value(part, n)
        index_shape = self.broadcast_shape([a.shape for a in arrays.values()], INDEX_SHAPE)
        advanced = sorted(set(fixed) | set(arrays))
        adjacent = advanced == list(range(advanced[0], advanced[-1] + 1))
        lead = [k for k in sorted(slices) if adjacent and k < advanced[0]]
        trail = [k for k in sorted(slices) if k not in lead] + list(range(len(parts),
                                                                        base.ndim))
        shape = tuple([slices[k][1] for k in lead] + list(index_shape)
                      + [slices[k][1] if k in slices else base.shape[k] for k in trail])
        indices = {k: self.align_to(Lazy(a.shape, lambda i, a=a: self.load_element(
            self.element_pointer(a, i), integer=True), [a]), index_shape)
            for k, a in arrays.items()}  # broadcast to the index shape, before the loop
        zero = ir.Constant(I64, 0)

        def pointer(index):
            inner = index[len(lead):len(lead) + len(index_shape)]
            outer = index[:len(lead)] + index[len(lead) + len(index_shape):]
            at = dict(fixed)
            for k, i in zip(lead + trail, outer):
                if k in slices:
                    start, _, step = slices[k]
                    i = b.add(start, b.mul(i, step))
                at[k] = i
            for k, read in indices.items():
                v = read.element(inner)
                at[k] = b.select(b.icmp_signed("<", v, zero), b.add(v, base.shape[k]), v)
            return self.element_pointer(base, [at[k] for k in range(base.ndim)])

        return shape, pointer, base

    def check_indices(self, arr, n):
        """Set the INDEX bit and leave unless every index in ``arr`` is in
        ``[-n, n)`` (one pass that vectorizes, before anything is read)."""
        if not self.boundscheck:
            return
        b = self.builder
        with b.goto_entry_block():
            bad = b.alloca(I1, name="outside")
        b.store(ir.Constant(I1, 0), bad)

        def check(index):
            v = self.load_element(self.element_pointer(arr, index), integer=True)
            outside = b.or_(b.icmp_signed("<", v, b.neg(n)), b.icmp_signed(">=", v, n))
            b.store(b.or_(b.load(bad), outside), bad)

        self.loop_nest(arr.shape, check)
        self.fail_if(b.load(bad), INDEX)

    def assign_gathered(self, target, value, op):
        """``x[idx] = value`` or ``x[idx] op= value`` (see the module docstring)."""
        shape, pointer, base = self.gathered(target)
        source = self.written_value(self.lazy(value), shape, value, SHAPE)
        if op is not None:
            rhs = source
            source = Lazy(shape, lambda index: self.float_binop(
                op, self.load_element(pointer(index)), rhs.element(index), target), [base])
        source, temporary = self.computed_first(source)
        self.loop_nest(shape, lambda index: self.store_element(source.element(index),
                                                               pointer(index)))
        self.release(temporary)

    def written_value(self, source, shape, node, bit):
        """``source`` read at the indices of ``shape``: a number, or an array
        broadcasting to it (else ``bit``)."""
        if source.shape is None:
            return source
        if len(source.shape) > len(shape):
            raise LoweringError("assigning an array of higher rank does not lower", node)
        b = self.builder
        bad = ir.Constant(I1, 0)
        for n, m in zip(source.shape, shape[len(shape) - len(source.shape):]):
            bad = b.or_(bad, b.and_(b.icmp_signed("!=", n, m),
                                    b.icmp_signed("!=", n, ir.Constant(I64, 1))))
        self.fail_if(bad, bit)
        return self.align_to(source, shape)

    def computed_first(self, source):
        """``(source, temporary)``: a value that reads arrays is computed into
        a temporary (in double: it is rounded once, where it is written) so
        writing cannot change what it reads; release the temporary after."""
        if not source.leaves:
            return source, None
        temporary = self.materialize(source)
        return Lazy(temporary.shape, lambda index: self.load_element(
            self.element_pointer(temporary, index)), []), temporary

    def release(self, temporary):
        if temporary is not None:
            self.builder.call(self.libc("fwdcompile_free", VOID, [I64P]), [temporary.owner])

    # ------------------------------------------------------------ masks
    def mask_positions(self, node):
        """``(base, mask, count)`` for ``x[mask]``, the mask's shape checked."""
        base = self.array_value(node.value)
        mask = self.mask_value(node.slice)
        b = self.builder
        bad = ir.Constant(I1, 0)
        for n, m in zip(base.shape, mask.shape):
            bad = b.or_(bad, b.icmp_signed("!=", n, m))
        self.fail_if(bad, MASK_SHAPE)
        with b.goto_entry_block():
            count = b.alloca(I64, name="mask.count")
        b.store(ir.Constant(I64, 0), count)
        self.loop_nest(mask.shape, lambda index: b.store(b.add(b.load(count), b.zext(
            self.load_element(self.element_pointer(mask, index)), I64)), count))
        return base, mask, b.load(count)

    def mask_value(self, node):
        """The bool array ``node`` holds or computes (``x[x > 0]``)."""
        if isinstance(node, (gast.Name, gast.Subscript, gast.Attribute)):
            return self.array_value(node)
        lazy = self.lazy(node)
        mask = self.allocate(lazy.shape, boolean=True)
        self.each(lazy, lazy.shape, lambda x, index: self.store_element(
            x, self.element_pointer(mask, index)))
        return self.hold(node, "mask", mask)

    def each_selected(self, base, mask, body):
        """``body(j, rest, pointer)`` for every element of ``base`` the mask
        selects: ``j`` numbers the selected positions in C order, ``rest``
        indexes the dimensions after the mask's."""
        b = self.builder
        with b.goto_entry_block():
            counter = b.alloca(I64, name="mask.j")
        b.store(ir.Constant(I64, 0), counter)

        def visit(index):
            with b.if_then(self.load_element(self.element_pointer(mask, index))):
                j = b.load(counter)
                self.loop_nest(base.shape[mask.ndim:], lambda rest: body(
                    j, list(rest), self.element_pointer(base, list(index) + list(rest))))
                b.store(b.add(j, ir.Constant(I64, 1)), counter)

        self.loop_nest(mask.shape, visit)

    def masked(self, node):
        """``x[mask]`` as a new array."""
        base, mask, count = self.mask_positions(node)
        out = self.allocate((count,) + base.shape[mask.ndim:], base.data.type == F32P)
        self.each_selected(base, mask, lambda j, rest, at: self.store_element(
            self.load_element(at), self.element_pointer(out, [j] + rest)))
        return out

    def assign_masked(self, target, value, op):
        """``x[mask] = value`` or ``x[mask] op= value``."""
        base, mask, count = self.mask_positions(target)
        shape = (count,) + base.shape[mask.ndim:]
        source, temporary = self.computed_first(
            self.written_value(self.lazy(value), shape, value, MASK_VALUES))

        def write(j, rest, at):
            x = source.element([j] + rest)
            if op is not None:
                x = self.float_binop(op, self.load_element(at), x, target)
            self.store_element(x, at)

        self.each_selected(base, mask, write)
        self.release(temporary)
