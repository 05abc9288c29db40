"""Elementwise array expressions in the native backend, as fused loops.

Contract: :class:`ElementwiseLowering` (mixed into the lowering) turns an
array expression into a :class:`Lazy`: its shape and a function emitting one
element inside a consumer's loop, so that ``x[1:] - x[:-1] ** 2`` inside
``np.sum`` is one loop with no temporary.  Operands broadcast as in numpy
(checked at run time: the ``SHAPE`` bit); consumers (:meth:`materialize`,
:meth:`write_into`, reductions) loop through :meth:`each`, which runs a
second copy of the loop without the broadcasting index arithmetic when no
operand broadcasts, so the common case vectorizes.  ``view[...] = expr``
goes through a temporary when the two overlap in memory, as numpy's
semantics require.  ``@`` with a matrix is a lazy array of inner products.
``np.cumsum``/``np.cumprod`` (and cumprod's tangent) are not elementwise:
:meth:`ElementwiseLowering.scan` computes them into an array first, which
the expression around them then reads.
"""

from __future__ import annotations

import functools

import gast
from llvmlite import ir

from .arrays import Lazy
from .errors import SHAPE, LoweringError
from .numpy_names import REDUCTIONS, SCANS, UFUNCS
from .types import F32P, F64, I1, I64, I64P, VOID, ArrayType


class ElementwiseLowering:
    """Elementwise expressions and matrix products; see the module docstring."""

    def lazy(self, node):
        """A :class:`Lazy` for an elementwise expression (scalars hoisted)."""
        if isinstance(node, gast.Name) and node.id in self.inlined:
            return self.lazy(self.inlined[node.id].value)
        t = self.array_expr_type(node)
        if not isinstance(t, ArrayType):
            value = self.convert(self.expr(node), float) if self.expr_type(node) is not bool \
                else self.expr(node)
            return Lazy(None, lambda index: value, [], flat=True)
        if isinstance(node, gast.Subscript) and self.selection_kind(node) == "gather":
            return self.gather(node)  # read in place: no copy
        if isinstance(node, (gast.Name, gast.Subscript, gast.Attribute)):
            arr = self.array_value(node)
            return self.read(arr)
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
            name = self.call_name(node)
            receiver = self.method_receiver(node)
            if receiver is not None and node.func.attr == "copy" or name in (
                    "copy", "array", "asarray"):
                return self.lazy(receiver if receiver is not None else node.args[0])
            if name in ("zeros_like", "ones_like") and len(node.args) == 1:
                fill = ir.Constant(F64, 1.0 if name == "ones_like" else 0.0)
                return Lazy(self.lazy(node.args[0]).shape, lambda index: fill, [])
            if name == "broadcast" and len(node.args) >= 2:  # _rt.broadcast(d, z)
                # d read at z's shape: z's elements are never computed (its
                # shape is all this needs), so the loop reads d's arrays only
                d = self.broadcast_operand(node.args[0], node)
                z = self.lazy(node.args[1])
                if d.shape is None or z.shape is None:  # a number widened
                    return self.combine(node, node.args[:2], lambda d, z: d)
                return self.align_to(d, self.broadcast_shape([d.shape, z.shape]))
            if name in ("dot", "matmul") and len(node.args) == 2:
                return self.matmul(node.args[0], node.args[1], node)
            if name == "eye":
                return self.eye(node)
            if name == "clip":  # numpy: minimum(maximum(a, lo), hi), NaN from any
                return self.combine(node, node.args, lambda x, lo, hi: self.ufunc(
                    "minimum", [self.ufunc("maximum", [x, lo], node), hi], node))
            if name == "clip_jvp":
                return self.combine(node, node.args, self.clip_tangent)
            if name in REDUCTIONS:
                # computed once into an array of its own: read lazily, a keepdims
                # reduction broadcast against its operand (x - np.max(x, axis=1,
                # keepdims=True)) would run its inner loop again for every element
                return self.read(self.hold(node, "reduce", self.materialize(
                    self.reduce_along(node), self.array_expr_type(node).single)))
            if name in SCANS:
                return self.read(self.scan(name, node))
            if name not in UFUNCS or node.keywords:
                raise LoweringError(f"`{name}` on arrays does not lower", node)
            return self.combine(node, node.args, lambda *xs: self.ufunc(name, xs, node))
        raise LoweringError(f"`{type(node).__name__}` on arrays does not lower", node)

    def combine(self, node, operands, op):
        parts = [self.broadcast_operand(a, node) for a in operands]
        shape = self.broadcast_shape([p.shape for p in parts])
        parts = [self.align_to(p, shape) for p in parts]
        leaves = [leaf for p in parts for leaf in p.leaves]
        same = self.all_of([p.same for p in parts])
        direct = None if same is None else (lambda index: op(*[p.fast(index) for p in parts]))
        return Lazy(shape, lambda index: op(*[p.element(index) for p in parts]), leaves,
                    direct, same, all(p.flat for p in parts))

    def read(self, arr):
        """The elements of the array ``arr``, as a Lazy."""
        return Lazy(arr.shape, lambda index: self.load_element(
            self.element_pointer(arr, index)), [arr], flat=True)

    def broadcast_operand(self, operand, node):
        """``operand`` of the elementwise ``node`` as a Lazy.  An operand of
        lower rank that computes something (``np.exp(-2.0 * log_sigma)`` against
        an (N, K) array) is computed once into an array of its own: read
        lazily, it would be computed again for every element it broadcasts to."""
        t, result = self.array_expr_type(operand), self.array_expr_type(node)
        plain = isinstance(operand, (gast.Name, gast.Subscript, gast.Attribute)) and not (
            isinstance(operand, gast.Name) and operand.id in self.inlined)
        if plain or not (isinstance(t, ArrayType) and isinstance(result, ArrayType)
                         and t.ndim < result.ndim):
            return self.lazy(operand)
        return self.read(self.hold(operand, "bcast",
                                   self.materialize(self.lazy(operand), t.single)))

    def align_to(self, part, shape):
        """``part`` read at the indices of the broadcast ``shape``."""
        if part.shape is None or part.shape is shape:
            return part
        b = self.builder
        equal = ir.Constant(I1, int(len(part.shape) == len(shape)))
        if len(part.shape) == len(shape):
            for n, m in zip(part.shape, shape):
                equal = b.and_(equal, b.icmp_signed("==", n, m))
        # 1 where the part has the dimension, 0 where it stretches: computed here,
        # before the consumer's loop, so an index times it is affine in the loop
        # (a select per element would make every read a gather)
        keep = [b.zext(b.icmp_signed("!=", n, ir.Constant(I64, 1)), I64) for n in part.shape]
        offset = len(shape) - len(part.shape)
        return Lazy(shape, lambda index: part.element(
            [b.mul(index[offset + j], k) for j, k in enumerate(keep)]), part.leaves,
                    part.fast, self.all_of([equal, part.same]), part.flat)

    def all_of(self, flags):
        flags = [f for f in flags if f is not None]
        if not flags:
            return None
        out = flags[0]
        for f in flags[1:]:
            out = self.builder.and_(out, f)
        return out

    def each(self, lazy, shape, body, writes=(), parallel=False):
        """``body(element, index)`` over ``shape``: one loop reading ``lazy``
        directly when no operand broadcasts, another when one does.  A body
        uses ``index`` only for element pointers into the arrays ``writes``
        (or not at all).  When ``lazy`` is flat (see :class:`Lazy`) and every
        leaf and written array is C-contiguous at run time, a single loop over
        the flat index runs instead of the nest: an (N, K, 2) expression is one
        loop of 2NK elements, which vectorizes, not N K loops of two.
        ``parallel``: each index is written once, so the loops may be split
        across threads (parallel.py)."""
        nest = functools.partial(self.parallel_nest if parallel else self.loop_nest,
                                 vectorize=True)

        def fast():
            nest(shape, lambda index: body(lazy.fast(index), index))

        def broadcasting():
            nest(shape, lambda index: body(lazy.element(index), index))

        if lazy.flat and shape is not None and len(shape) > 1:
            contiguous = self.all_of([self.contiguous(a, shape)
                                      for a in list(lazy.leaves) + list(writes)])
            zeros = [ir.Constant(I64, 0)] * (len(shape) - 1)

            def flat():
                nest((self.size_of(shape),),
                     lambda i: body(lazy.fast(zeros + i), zeros + i))

            if contiguous is not None:
                slow = fast
                fast = lambda: self.branches(contiguous, flat, slow)  # noqa: E731
            else:
                fast = flat
        if lazy.same is None:
            (fast if lazy.flat else broadcasting)()
            return
        self.branches(lazy.same, fast, broadcasting)

    def branches(self, condition, then, otherwise):
        with self.builder.if_else(condition) as (yes, no):
            with yes:
                then()
            with no:
                otherwise()

    def contiguous(self, arr, shape):
        """Whether ``arr`` (of ``shape``) is C-contiguous: the element at an
        index is at ``data + flat index`` (None: known to be)."""
        b = self.builder
        one = ir.Constant(I64, 1)
        if len(arr.strides) != len(shape):
            return ir.Constant(I1, 0)
        ok, expected = None, one
        for k in reversed(range(len(shape))):
            s = arr.strides[k]
            if not (isinstance(s, ir.Constant) and isinstance(expected, ir.Constant)
                    and s.constant == expected.constant):
                here = b.icmp_signed("==", s, expected)
                if k < len(shape) - 1:  # a length-1 dimension's stride is never used
                    here = b.or_(here, b.icmp_signed("==", arr.shape[k], one))
                ok = here if ok is None else b.and_(ok, here)
            expected = b.mul(expected, arr.shape[k]) if k else expected
        return ok

    def broadcast_shape(self, shapes, bit=SHAPE):
        """The shape operands of ``shapes`` broadcast to, by numpy's rules
        (right-aligned; a dimension of 1 stretches), checked at run time
        (``bit``: the error a mismatch raises)."""
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
        self.fail_if(bad, bit)
        return tuple(out)

    def eye(self, node):
        """``np.eye(N, M, k)`` as a lazy array: 1.0 where ``j == i + k``, never stored."""
        b = self.builder
        given = dict(zip(("N", "M", "k"), node.args))
        given.update((k.arg, k.value) for k in node.keywords if k.arg != "dtype")
        n = self.convert(self.expr(given["N"]), int)
        m = self.convert(self.expr(given["M"]), int) if "M" in given else n
        k = self.convert(self.expr(given["k"]), int) if "k" in given else ir.Constant(I64, 0)
        zero = ir.Constant(I64, 0)
        self.fail_if(b.or_(b.icmp_signed("<", n, zero), b.icmp_signed("<", m, zero)), SHAPE)
        one, nought = ir.Constant(F64, 1.0), ir.Constant(F64, 0.0)
        return Lazy((n, m), lambda index: b.select(
            b.icmp_signed("==", b.add(index[0], k), index[1]), one, nought), [])

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

        return Lazy(shape, element, a.leaves + c.leaves)

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
        if name in ("maximum", "minimum"):  # NaN from either side, as numpy
            return self.extreme(name, *fl)
        if name == "sign":
            x = fl[0]
            pos = b.uitofp(b.fcmp_ordered(">", x, ir.Constant(F64, 0.0)), F64)
            neg = b.uitofp(b.fcmp_ordered("<", x, ir.Constant(F64, 0.0)), F64)
            nan = b.fcmp_unordered("uno", x, x)
            return b.select(nan, x, b.fsub(pos, neg))
        return self.call_math(UFUNCS[name], fl)

    def clip_tangent(self, x, lo, hi, d, d_lo, d_hi):
        """runtime.clip_jvp elementwise, in its order: ``where(inside, d, 0) +
        where(below, d_lo, 0) + where(above, d_hi, 0)`` (NaN is inside)."""
        b = self.builder
        x, lo, hi, d, d_lo, d_hi = (self.convert(v, float) for v in (x, lo, hi, d, d_lo, d_hi))
        below, above = b.fcmp_ordered("<", x, lo), b.fcmp_ordered(">", x, hi)
        zero = ir.Constant(F64, 0.0)
        inside = b.select(b.or_(below, above), zero, d)
        return b.fadd(b.fadd(inside, b.select(below, d_lo, zero)), b.select(above, d_hi, zero))

    def hold(self, node, kind, out):
        """``out``, a new array computed for the expression ``node``, held by a
        hidden variable of this place in the code (``scan.<k>``, ``reduce.<k>``:
        no user name has a dot), so it is released when the code runs again
        (a loop) or the kernel returns, like any variable's array."""
        # one variable per place the lowering emits this (an inlined temporary's
        # expression is emitted at each of its uses: each holds its own array)
        hidden = f"{kind}.{len(self.scan_sites)}"
        self.scan_sites[hidden] = node
        self.types[hidden] = self.array_expr_type(node)
        self.local_names.add(hidden)
        self.store_array(hidden, out)
        return out

    def materialize(self, lazy, single=False):
        out = self.allocate(lazy.shape, single)

        def fill(source):
            self.each(source, lazy.shape, lambda x, index: self.store_element(
                x, self.element_pointer(out, index)), writes=(out,), parallel=True)

        if lazy.versions is None:
            fill(lazy)
            return out
        value, versions = lazy.versions  # one loop per version, chosen before looping
        b = self.builder
        done = self.fn.append_basic_block("versions.end")
        general = self.fn.append_basic_block("versions.other")
        switch = b.switch(value, general)
        for n, version in versions.items():
            case = self.fn.append_basic_block(f"versions.{n}")
            switch.add_case(ir.Constant(value.type, n), case)
            b.position_at_end(case)
            fill(version)
            b.branch(done)
        b.position_at_end(general)
        fill(lazy)
        b.branch(done)
        b.position_at_end(done)
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
            self.each(source, target.shape, lambda x, index: self.store_element(
                x, self.element_pointer(target, index)), writes=(target,), parallel=True)

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
                copy(Lazy(temp.shape, lambda index: b.load(self.element_pointer(temp, index)),
                           []))
                b.call(self.libc("fwdcompile_free", VOID, [I64P]), [temp.owner])
            with direct:
                copy(lazy)

    def extent(self, arr):
        """The byte range ``[lo, hi)`` an array's elements may occupy (an over-
        approximation for negative strides: the whole span either way)."""
        b = self.builder
        base = b.ptrtoint(arr.data, I64)
        lo, hi = base, base
        size = ir.Constant(I64, 4 if arr.data.type == F32P else 8)
        for n, s in zip(arr.shape, arr.strides):
            reach = b.mul(b.mul(b.sub(n, ir.Constant(I64, 1)), s), size)
            positive = b.icmp_signed(">", reach, ir.Constant(I64, 0))
            hi = b.add(hi, b.select(positive, reach, ir.Constant(I64, 0)))
            lo = b.add(lo, b.select(positive, ir.Constant(I64, 0), reach))
        return lo, b.add(hi, size)

    def scan(self, name, node):
        """``np.cumsum``/``np.cumprod`` (or ``_rt.cumprod_jvp(a, z, d_a)``, the
        product rule along the axis, as runtime/rules.py computes it) into a new
        array, element after element in numpy's order (so the sums are exact
        numpy sums, not reassociated).  The array is held by a hidden variable
        of this call site (``scan.<k>``: no user name has a dot), so it is
        released when the site runs again or the kernel returns, like any
        variable's array, wherever the expression around it reads it."""
        _, operands, axis, _ = self.reduction_spec(node)
        b = self.builder
        t = self.array_expr_type(node)
        a = self.lazy(operands[0])
        d = None
        if name == "cumprod_jvp":
            d = self.lazy(operands[2])
            if d.shape is not None:
                self.require_same_shape(self.broadcast_shape([a.shape, d.shape]), a.shape)
            d = self.align_to(d, a.shape)
        k = 0 if axis is None else axis % len(a.shape)
        out = self.hold(node, "scan", self.allocate(a.shape, t.single))
        outer_shape = a.shape[:k] + a.shape[k + 1:]

        def line(outer):
            with b.goto_entry_block():
                acc, tan = b.alloca(F64, name=name), b.alloca(F64, name=f"{name}.d")
            b.store(ir.Constant(F64, 0.0 if name == "cumsum" else 1.0), acc)
            b.store(ir.Constant(F64, 0.0), tan)

            def step(inner):
                where = list(outer[:k]) + [inner[0]] + list(outer[k:])
                x = self.convert(a.element(where), float)
                if name == "cumprod_jvp":  # acc_tan * a + acc_val * d, then acc_val * a
                    dx = self.convert(d.element(where), float)
                    value = b.fadd(b.fmul(b.load(tan), x), b.fmul(b.load(acc), dx))
                    b.store(value, tan)
                    b.store(b.fmul(b.load(acc), x), acc)
                else:
                    value = (b.fadd if name == "cumsum" else b.fmul)(b.load(acc), x)
                    b.store(value, acc)
                self.store_element(value, self.element_pointer(out, where))

            self.loop_nest((a.shape[k],), step)

        self.loop_nest(outer_shape, line)
        return out
