"""Reductions in the native backend: sums, means, extremes and products.

Contract: :class:`ReductionLowering` (mixed into the lowering) reduces an
elementwise expression to a number (:meth:`reduce`) in fixed blocks of whole
rows (:meth:`ReductionLowering.blocked`: at least :data:`BLOCK` elements, at
most :data:`MAX_BLOCKS` blocks, chosen from the shape alone), each block in
one loop (sums reassociated so that it vectorizes) run by an outlined worker
on one thread or several (parallel.py), the blocks' results combined in
order: the bits are the same whatever the thread count or threshold (a sum
over more than one block adds in another order than numpy's pairwise sum:
docs/native-backend.md, "Threads"); or along one axis to a lazy
array whose elements each run an inner loop (:meth:`reduce_along`, with
``keepdims``; with versions for an axis of 2 or 3 positions, which spell
the positions out so that the loop over the output vectorizes: the squared
distance of 2-d or 3-d points).  ``np.max``/``np.min`` of an empty array set the ``EMPTY``
bit, as numpy raises; NaN wins, as in numpy.  ``_rt.max_jvp`` (the tangent
of a max or min) shares the derivative between ties, as runtime/rules.py does.
``np.var``/``np.std`` (ddof=0) and their tangents ``_rt.var_jvp``/``_rt.std_jvp``
take two passes, the means first (:meth:`ReductionLowering.moment`).
"""

from __future__ import annotations

import functools

import gast
from llvmlite import ir

from .arrays import Lazy
from .errors import EMPTY, LoweringError
from .numpy_names import AXIS_REDUCTIONS, MOMENTS, OPERANDS
from .parallel import ParallelLowering
from .types import F64, I1, I64


BLOCK = 8192  # elements per block of a whole reduction (whole rows), at least
SHORT = (2, 3)  # an axis reduction this long gets a loop of its own (Lazy.versions)
MAX_BLOCKS = 256  # at most this many blocks (bigger ones for a bigger array): on the stack
_START = {"sum": 0.0, "mean": 0.0, "prod": 1.0, "max": float("-inf"), "amax": float("-inf"),
          "min": float("inf"), "amin": float("inf")}


class ReductionLowering(ParallelLowering):
    """Reductions; see the module docstring."""

    def reduce(self, name, operands, node):
        b = self.builder
        if name in AXIS_REDUCTIONS and isinstance(node, gast.Call) and (
                node.keywords or len(operands) > OPERANDS.get(name, 1)):
            operands = self.reduction_spec(node)[1]  # an axis that leaves a number
        if name == "max_jvp":
            return self.extremum_tangent(operands, node)
        if name in MOMENTS:
            parts, z = self.moment_operands(name, operands, node)
            return self.moment(name, parts, z, parts[0].shape, lambda inner: inner)
        if name == "norm":  # sqrt(sum(x * x))
            return self.call_math("sqrt", [self.reduce("dot", [operands[0]] * 2, node)])
        if name == "norm_jvp":  # sum(x * dx) / norm, as runtime.norm_jvp (0/0 is NaN)
            total = self.reduce("dot", [operands[0], operands[2]], node)
            return b.fdiv(total, self.convert(self.expr(operands[1]), float))
        if name in ("dot", "vdot", "matmul"):
            lazy = self.combine(node, operands, lambda x, y: b.fmul(self.convert(x, float),
                                                                    self.convert(y, float)))
            name = "sum"
        else:
            lazy = self.lazy(operands[0])
        if name in ("max", "min", "amax", "amin"):  # numpy raises on an empty array
            self.fail_if(b.icmp_signed("==", self.size_of(lazy.shape), ir.Constant(I64, 0)),
                         EMPTY)
        result = self.blocked(name, lazy)
        if name == "mean":
            result = b.fdiv(result, b.sitofp(self.size_of(lazy.shape), F64))
        return result

    def blocked(self, name, lazy):
        """The whole reduction ``name`` (sum, mean's sum, prod, max, min) of
        ``lazy`` in fixed blocks of about :data:`BLOCK` elements (whole rows of
        the outermost dimension), each reduced alone (reassociated: the loop
        vectorizes), their partials combined in order: the blocks depend on
        the shape only, and the block loop always runs in the same outlined
        worker (parallel.py), split across threads or not, so the bits never
        depend on the thread count or the size threshold."""
        b = self.builder
        shape = lazy.shape
        one = ir.Constant(I64, 1)
        inner = self.size_of(shape[1:]) if len(shape) > 1 else one
        inner = b.select(b.icmp_signed("<", inner, one), one, inner)
        per = b.sdiv(ir.Constant(I64, BLOCK), inner)
        per = b.select(b.icmp_signed("<", per, one), one, per)  # rows per block
        rows = shape[0]
        most = ir.Constant(I64, MAX_BLOCKS)  # bigger blocks beyond: the partials stay on the stack
        spread = b.sdiv(b.add(rows, b.sub(most, one)), most)
        per = b.select(b.icmp_signed("<", per, spread), spread, per)
        blocks = b.sdiv(b.add(rows, b.sub(per, one)), per)
        with b.goto_entry_block():
            partials = b.alloca(F64, size=most, name=f"{name}.blocks")

        def block_loop(lo, hi):
            self.loop_nest((hi,), lambda k: one_block(k[0]), start=lo)

        def one_block(k):
            with b.goto_entry_block():
                acc = b.alloca(F64, name=name)
            b.store(ir.Constant(F64, _START[name]), acc)
            first = b.mul(k, per)
            last = b.add(first, per)
            last = b.select(b.icmp_signed(">", last, rows), rows, last)

            def step(x):
                b.store(self.accumulate_into(name, b.load(acc), self.convert(x, float)), acc)

            sub = (last,) + tuple(shape[1:])
            if lazy.same is None:
                self.loop_nest(sub, lambda index: step(lazy.element(index)), start=first)
            else:
                with b.if_else(lazy.same) as (unbroadcast, broadcast):
                    with unbroadcast:
                        self.loop_nest(sub, lambda index: step(lazy.fast(index)), start=first)
                    with broadcast:
                        self.loop_nest(sub, lambda index: step(lazy.element(index)),
                                       start=first)
            b.store(b.load(acc), b.gep(partials, [k]))

        if self.in_worker or not self.outline(blocks, self.size_of(shape), block_loop):
            block_loop(ir.Constant(I64, 0), blocks)  # inside a worker already: serially
        with b.goto_entry_block():
            total = b.alloca(F64, name=f"{name}.total")
        b.store(ir.Constant(F64, _START[name]), total)

        def combine(k):  # in order, not reassociated
            b.store(self.accumulate_into(name, b.load(total), b.load(b.gep(partials, [k[0]])),
                                         strict=True), total)

        self.loop_nest((blocks,), combine)
        return b.load(total)

    def accumulate_into(self, name, old, x, strict=False):
        """``old`` combined with ``x`` by the reduction ``name`` (NaN wins in
        max and min, as in numpy); sums are reassociated unless ``strict``."""
        b = self.builder
        if name in ("sum", "mean"):
            return b.fadd(old, x, flags=() if strict else ("reassoc", "contract"))
        if name == "prod":
            return b.fmul(old, x)
        return self.extreme(name, old, x)

    def extreme(self, name, x, y):
        """The larger (``name`` max, amax, maximum) or the smaller of ``x`` and
        ``y``, NaN if either is NaN, as numpy: ``llvm.maximum``/``llvm.minimum``,
        branch-free.  (Nested selects fold into one select on an ``or`` of two
        compares, which x86 lowers to a branch: on unordered data a row max of
        8 took 4.5x as long.)  Of -0.0 and +0.0 the larger is +0.0, where numpy
        returns its second operand; the two compare equal."""
        intrinsic = "llvm.maximum" if name in ("max", "amax", "maximum") else "llvm.minimum"
        fn = self.module.declare_intrinsic(intrinsic, [F64], ir.FunctionType(F64, [F64, F64]))
        return self.builder.call(fn, [x, y])

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
        spread_z = None
        if name in MOMENTS:
            parts, spread_z = self.moment_operands(name, operands, node)
            a = parts[0]
            if isinstance(spread_z, Lazy):  # std along an axis: one std per output element
                spread_z = self.align_to(spread_z, out_shape)
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

        def element(index, fixed=None):
            if name in MOMENTS:
                z_here = spread_z.element(index) if isinstance(spread_z, Lazy) else spread_z
                return self.moment(name, parts, z_here,
                                   tuple(a.shape[k] for k in axes),
                                   lambda inner: full_index(index, inner))
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
                    new = self.extreme(name, old, x)
                b.store(new, acc)

            if fixed is None:
                self.loop_nest(tuple(a.shape[k] for k in axes), step)
            else:  # the positions spelled out: straight-line code
                for j in range(fixed):
                    step([ir.Constant(I64, j)])
            result = b.load(acc)
            if name == "mean":
                result = b.fdiv(result, b.sitofp(self.size_of([a.shape[k] for k in axes]), F64))
            if name == "max_jvp":
                result = b.fdiv(result, b.load(count))
            return result

        leaves = [leaf for p in parts for leaf in p.leaves]
        out = Lazy(out_shape, element, leaves)
        if len(axes) == 1 and name not in MOMENTS:
            out.versions = (a.shape[axes[0]], {n: Lazy(out_shape, functools.partial(
                element, fixed=n), leaves) for n in SHORT})
        return out

    def extremum_tangent(self, operands, node):
        """``_rt.max_jvp(a, z, d_a)``: the mean of ``d_a`` where ``a == z``
        (ties share the derivative; NaN when ``z`` is NaN, as in runtime/rules.py)."""
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

    def moment_operands(self, name, operands, node):
        """Lazy operands of a spread: ``[a]`` for var/std, ``[a, d_a]`` for their
        tangents (``d_a`` broadcast to ``a``'s shape, as runtime/rules.py does,
        never the other way round), and std_jvp's ``z`` (a number, or a lazy
        array for an axis)."""
        a = self.lazy(operands[0])
        if name in ("var", "std"):
            return [a], None
        d = self.lazy(operands[-1])
        if d.shape is not None:
            self.require_same_shape(self.broadcast_shape([a.shape, d.shape]), a.shape)
        d = self.align_to(d, a.shape)
        z = None
        if name == "std_jvp":
            z = self.lazy(operands[1])
            if z.shape is None:  # a number: the element function ignores its index
                z = z.element([])
        return [a, d], z

    def moment(self, name, parts, z, shape, at):
        """var, std, var_jvp or std_jvp of ``parts`` over the ``shape`` of the
        reduced positions (``at(inner)``: the operands' index there), as
        runtime/rules.py computes them: the mean, then the centred sums;
        ``d var = 2 sum((a - mean a) (d - mean d)) / n``; ``d std = d var / (2
        std)``, except over one entry (``d var * std``: 0, NaN for a NaN) and
        where std is 0 (0 when ``d`` is constant over the positions, else NaN:
        the direction has no derivative there)."""
        b = self.builder
        f = functools.partial(ir.Constant, F64)
        a, d = parts[0], (parts[1] if len(parts) > 1 else None)
        with b.goto_entry_block():
            sa, sd, saa, sad = (b.alloca(F64, name=f"{name}.{k}")
                                for k in ("sa", "sd", "saa", "sad"))
            lo, hi, nan = b.alloca(F64), b.alloca(F64), b.alloca(I1)
        for acc in (sa, sd, saa, sad):
            b.store(f(0.0), acc)
        b.store(f(float("inf")), lo)
        b.store(f(float("-inf")), hi)
        b.store(ir.Constant(I1, 0), nan)
        n = b.sitofp(self.size_of(shape), F64)

        def means(inner):
            where = at(inner)
            b.store(b.fadd(b.load(sa), self.convert(a.element(where), float),
                           flags=("reassoc", "contract")), sa)
            if d is not None:
                x = self.convert(d.element(where), float)
                b.store(b.fadd(b.load(sd), x, flags=("reassoc", "contract")), sd)
                b.store(b.select(b.fcmp_ordered("<", x, b.load(lo)), x, b.load(lo)), lo)
                b.store(b.select(b.fcmp_ordered(">", x, b.load(hi)), x, b.load(hi)), hi)
                b.store(b.or_(b.load(nan), b.fcmp_unordered("uno", x, x)), nan)

        self.loop_nest(shape, means)
        mean_a = b.fdiv(b.load(sa), n)
        mean_d = b.fdiv(b.load(sd), n)

        def centred(inner):
            where = at(inner)
            da = b.fsub(self.convert(a.element(where), float), mean_a)
            if d is None:
                b.store(b.fadd(b.load(saa), b.fmul(da, da), flags=("reassoc", "contract")), saa)
            else:
                dd = b.fsub(self.convert(d.element(where), float), mean_d)
                b.store(b.fadd(b.load(sad), b.fmul(da, dd), flags=("reassoc", "contract")), sad)

        self.loop_nest(shape, centred)
        if d is None:
            var = b.fdiv(b.load(saa), n)
            return var if name == "var" else self.call_math("sqrt", [var])
        d_var = b.fdiv(b.fmul(f(2.0), b.load(sad)), n)
        if name == "var_jvp":
            return d_var
        z = self.convert(z, float)
        general = b.fdiv(d_var, b.fmul(f(2.0), z))
        # d constant over the positions: exactly, and no NaN among them
        constant = b.and_(b.fcmp_ordered("==", b.load(lo), b.load(hi)), b.not_(b.load(nan)))
        flat = b.select(constant, f(0.0), f(float("nan")))
        out = b.select(b.fcmp_ordered("==", z, f(0.0)), flat, general)
        return b.select(b.fcmp_ordered("==", n, f(1.0)), b.fmul(d_var, z), out)
