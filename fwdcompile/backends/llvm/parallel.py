"""Threads in the native backend: a loop outlined into a worker and split.

Contract: :class:`ParallelLowering` (mixed into the lowering through
reductions.py) gives

- :meth:`ParallelLowering.parallel_nest` (elementwise writes: ``materialize``,
  ``write_into``): ``loop_nest`` over ``shape``, with its outermost dimension
  split into :func:`threads` fixed contiguous ranges run on that many threads
  when ``size x cost`` reaches :func:`threshold` (``cost``: a rough count of
  the body's instructions, a math call counting 8); below it the same worker
  runs the whole range on the calling thread.  The loop is outlined whatever
  the thread count (1 included): compiled inline, LLVM may choose another
  vector width or other fused multiply-adds for the same expression (measured:
  1060 of 20001 tangent elements of ``tanh(a * b + c) * a`` differed in the
  last bit), and the bits must not depend on the thread count.  Chunks of a
  1-d loop are multiples of :data:`GRAIN` elements, so an element falls in a vectorized
  body or a scalar remainder in the same way whatever the thread count (a
  libmvec ``exp`` and libm's scalar ``exp`` may differ in the last bit);
- :meth:`ParallelLowering.outline`: the mechanism.  ``work(lo, hi)`` emits
  its loop into a new function ``void worker(i8* ctx, i64 lo, i64 hi, i64*
  err)`` (``self.fn``, ``self.err``, ``self.exit`` point at the worker while it
  runs, and the lowering's one IRBuilder is moved into it, so closures holding
  it and ``goto_entry_block`` allocas land in the worker); then every operand
  that belongs to the enclosing function is replaced by a load from a context
  struct that the enclosing function fills on its stack (a value computed
  from constants alone is folded instead: ``z ** 2`` must stay ``z * z``,
  not a ``pow`` of a loaded exponent).  The worker runs
  through ``fwdc.parallel_for`` (pthread_create / pthread_join from the
  process's libc; a thread that cannot be created runs its range inline),
  each thread with its own error word, ORed into ``*err`` after the join (a
  bit other than ZERO_DIVISION then leaves the function, as ``fail_if`` does).

Refused (the caller emits its serial loop instead, always correct): a body
that stores straight into a value of the enclosing function (an accumulator,
a variable's slot, an array's reference count: a data race; array elements
are written through addresses the worker computes), creates a variable (a held
hidden array: its slot would live in the worker), or branches to a block of
the enclosing function; nesting (a parallel loop inside a worker).  Memory a
body allocates and frees itself is private to its thread (malloc is
thread-safe).  Reductions (reductions.py) outline their fixed blocks with
:meth:`outline` too, whatever the thread count, so their bits never depend on
it.  ``FWDCOMPILE_NUM_THREADS`` (default: the CPUs this process may run on;
1 = no threads) and ``FWDCOMPILE_PARALLEL_THRESHOLD`` are read when a kernel
is compiled and are constants in its IR, so the disk cache keys them.
"""

from __future__ import annotations

import os

from llvmlite import ir

from .types import I1, I8, I8P, I32, I64, I64P, VOID

GRAIN = 256  # 1-d chunks are multiples of this (any vector width x interleave divides it)
# elements x cost below which one thread runs the loop: about 3e6 elements of a
# JVP body (cost ~35), some ms of work, so that creating and joining a thread
# (0.1-0.3 ms measured here: benchmarks/results/threads.md) costs a few percent
THRESHOLD = 100_000_000
MATH_COST = 8  # a call (exp, tanh, ...) counts as this many instructions
WORKER = ir.FunctionType(VOID, [I8P, I64, I64, I64P])
TASK = ir.LiteralStructType([WORKER.as_pointer(), I8P, I64, I64, I64])


def threads():
    """Threads a parallel loop uses: ``FWDCOMPILE_NUM_THREADS``, else the CPUs
    this process may run on (1: no threads)."""
    given = os.environ.get("FWDCOMPILE_NUM_THREADS", "").strip()
    if given:
        return max(1, int(given))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def threshold():
    """Elements x cost below which a loop runs on one thread
    (``FWDCOMPILE_PARALLEL_THRESHOLD``; 0: always split)."""
    given = os.environ.get("FWDCOMPILE_PARALLEL_THRESHOLD", "").strip()
    return max(0, int(float(given))) if given else THRESHOLD


class ParallelLowering:
    """Parallel loops; see the module docstring."""

    in_worker = False

    def parallel_nest(self, shape, body, vectorize=False):
        """``loop_nest(shape, body, vectorize=...)``, split across threads
        along dimension 0 when large enough (elementwise bodies: each index
        written once)."""
        if self.in_worker or not shape:
            self.loop_nest(shape, body, vectorize=vectorize)
            return
        ok = self.outline(shape[0], self.size_of(shape), lambda lo, hi: self.loop_nest(
            (hi,) + tuple(shape[1:]), body, start=lo, vectorize=vectorize),
            GRAIN if len(shape) == 1 else 1)
        if not ok:
            self.loop_nest(shape, body, vectorize=vectorize)

    def outline(self, count, size, work, grain=1):
        """Run ``work(lo, hi)`` (emitting a loop over ``[lo, hi)``) on
        ``[0, count)`` through a worker function (see the module docstring);
        False, with nothing emitted, when the body is refused."""
        b = self.builder
        saved = (self.fn, self.err, self.exit, b.block, dict(self.slots), self.in_worker)
        name = self.module.get_unique_name(f"{saved[0].name}.worker")
        worker = ir.Function(self.module, WORKER, name=name)
        worker.linkage = "internal"
        worker.attributes.add("noinline")  # the same machine code serially and threaded
        entry, start, leave = (worker.append_basic_block(n) for n in ("entry", "body", "exit"))
        ctx_arg, lo, hi, err = worker.args
        b.position_at_end(entry)
        b.branch(start)
        b.position_at_end(leave)
        b.ret_void()
        self.fn, self.err, self.exit, self.in_worker = worker, err, leave, True
        b.position_at_end(start)
        try:
            work(lo, hi)
            if not b.block.is_terminated:
                b.branch(leave)
        finally:
            self.fn, self.err, self.exit = saved[:3]
            self.in_worker = saved[5]
            b.position_at_end(saved[3])
        captured = self._captured(worker, saved[0])
        if captured is None or set(self.slots) != set(saved[4]):
            self.slots.clear()
            self.slots.update(saved[4])
            del self.module.globals[name]
            return False
        captured = self._rematerialize(worker, captured)
        self._bind_context(worker, captured)
        self._dispatch(worker, captured, count, size, grain)
        return True

    @staticmethod
    def _captured(worker, outer):
        """The enclosing function's values the worker uses, in order of first
        use, or None when the worker may not run on threads."""
        def outside(v):
            if isinstance(v, ir.Argument):
                return v.parent is outer
            return isinstance(v, ir.Instruction) and v.parent.parent is outer

        found = {}
        for block in worker.blocks:
            for instr in block.instructions:
                ops = [v for v, _ in instr.incomings] if isinstance(instr, ir.PhiInstr) \
                    else list(instr.operands)
                if any(isinstance(v, ir.Block) and v.parent is not worker for v in ops):
                    return None  # a branch out of the loop (break, return)
                if isinstance(instr, ir.StoreInstr) and outside(instr.operands[1]):
                    # straight into a variable or a reference count of the enclosing
                    # function: every thread would write it (elements are written
                    # through an address the worker computes from its index)
                    return None
                for v in ops:
                    if outside(v):
                        found.setdefault(id(v), v)
        return list(found.values())

    def _rematerialize(self, worker, captured):
        """Emit again in the worker each captured value computed from constants
        alone (``sitofp i64 2``: the exponent of ``z ** 2``): read from the
        context, LLVM could not fold it (``pow(z, 2.0)`` is ``z * z``, a ``pow``
        of a loaded exponent a libm call).  The others, still to be passed."""
        b = self.builder
        saved = b.block
        b.position_at_start(worker.entry_basic_block)
        copies = {}
        for v in captured:
            twin = _constant_twin(v)
            if twin is not None:
                copies[id(v)] = twin
        b.position_at_end(saved)
        if copies:
            for block in worker.blocks:
                for instr in block.instructions:
                    _rewrite(instr, lambda v: copies.get(id(v), v))
        return [v for v in captured if id(v) not in copies]

    def _bind_context(self, worker, captured):
        """Replace the worker's uses of ``captured`` by loads from its context struct."""
        if not captured:
            return
        b = self.builder
        ctx_type = ir.LiteralStructType([v.type for v in captured])
        saved = b.block
        entry = worker.entry_basic_block
        b.position_at_start(entry)
        ctx = b.bitcast(worker.args[0], ctx_type.as_pointer())
        loads = {id(v): b.load(b.gep(ctx, [ir.Constant(I32, 0), ir.Constant(I32, k)]))
                 for k, v in enumerate(captured)}
        fresh = set(map(id, loads.values())) | {id(ctx)}
        for block in worker.blocks:
            for instr in block.instructions:
                if id(instr) in fresh:
                    continue
                _rewrite(instr, lambda v: loads.get(id(v), v))
        b.position_at_end(saved)

    def _dispatch(self, worker, captured, count, size, grain):
        """In the enclosing function: fill the context, run the worker over
        ``[0, count)`` on one thread or :func:`threads`, merge the error bits."""
        b = self.builder
        with b.goto_entry_block():
            ctx = b.alloca(ir.LiteralStructType([v.type for v in captured] or [I8]),
                           name="ctx")
            flags = b.alloca(I64, name="worker.err")
        for k, v in enumerate(captured):
            b.store(v, b.gep(ctx, [ir.Constant(I32, 0), ir.Constant(I32, k)]))
        b.store(ir.Constant(I64, 0), flags)
        cost = _cost(worker)
        big = b.icmp_signed(">=", b.mul(size, ir.Constant(I64, cost)),
                            ir.Constant(I64, threshold()))
        n_threads = b.select(big, ir.Constant(I64, threads()), ir.Constant(I64, 1))
        b.call(parallel_for(self.module), [worker, b.bitcast(ctx, I8P), count, n_threads,
                                           ir.Constant(I64, grain), flags])
        bits = b.load(flags)
        b.store(b.or_(b.load(self.err), bits), self.err)
        # an index, shape or empty-reduction error inside: leave now, as Python would
        self.fail_if(b.icmp_unsigned(">", bits, ir.Constant(I64, 1)), 0)


def _rewrite(instr, swap):
    """Replace each operand ``v`` of ``instr`` by ``swap(v)`` (llvmlite keeps a
    GEP's pointer and indices, and an aggregate's operands, outside ``operands``)."""
    if isinstance(instr, ir.PhiInstr):
        instr.incomings = [(swap(v), blk) for v, blk in instr.incomings]
        return
    ops = instr.operands
    instr.operands = type(ops)(swap(v) for v in ops)
    if isinstance(instr, ir.GEPInstr):
        instr.pointer, instr.indices = swap(instr.pointer), [swap(v) for v in instr.indices]
    for attr in ("aggregate", "value"):
        if isinstance(instr, (ir.ExtractValue, ir.InsertValue)) and hasattr(instr, attr):
            setattr(instr, attr, swap(getattr(instr, attr)))
    instr._clear_string_cache()


def _constant_twin(v, depth=4):
    """An ``ir.Constant`` equal to ``v`` when ``v`` is a cast or arithmetic
    instruction of constants (folded here as LLVM would), else None."""
    if isinstance(v, ir.Constant):
        return v
    if depth == 0 or not isinstance(v, ir.Instruction):
        return None
    ops = [_constant_twin(o, depth - 1) for o in v.operands]
    if any(o is None or not isinstance(o.constant, (int, float)) for o in ops):
        return None
    values = [o.constant for o in ops]
    op = v.opname
    if isinstance(v, ir.CastInstr) and op in ("sitofp", "uitofp"):
        return ir.Constant(v.type, float(values[0]))
    if isinstance(v, ir.CastInstr) and op == "fpext":
        return ir.Constant(v.type, values[0])
    arith = {"fadd": lambda x, y: x + y, "fsub": lambda x, y: x - y,
             "fmul": lambda x, y: x * y}
    if op in arith and len(values) == 2 and all(isinstance(x, float) for x in values):
        return ir.Constant(v.type, arith[op](*values))
    return None


def _cost(worker):
    """A rough per-element cost of the worker's body: its instructions, a call
    8 (not the entry block's: context loads and allocas run once)."""
    total = 0
    for block in worker.blocks[1:]:
        for instr in block.instructions:
            total += MATH_COST if isinstance(instr, ir.CallInstr) else 1
    return max(1, total)


def parallel_for(module):
    """``void fwdc.parallel_for(worker, i8* ctx, i64 n, i64 threads, i64 grain,
    i64* err)`` in ``module`` (defined once): ``[0, n)`` in ``threads``
    contiguous chunks (multiples of ``grain``), chunk 0 on the calling thread,
    the others on new threads, joined before it returns; ``*err`` gets the OR
    of every chunk's error bits.  ``threads`` 1: one direct call."""
    name = "fwdc.parallel_for"
    if name in module.globals:
        return module.globals[name]
    entry = _thread_entry(module)
    create = _declare(module, "pthread_create", I32, [I64P, I8P, entry.type, I8P])
    join = _declare(module, "pthread_join", I32, [I64, I8P.as_pointer()])
    fn = ir.Function(module, ir.FunctionType(
        VOID, [WORKER.as_pointer(), I8P, I64, I64, I64, I64P]), name=name)
    fn.linkage = "internal"
    work, ctx, n, count, grain, err = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    zero, one = ir.Constant(I64, 0), ir.Constant(I64, 1)
    with b.if_then(b.icmp_signed("<=", count, one)):
        b.call(work, [ctx, zero, n, err])
        b.ret_void()
    tasks = b.alloca(TASK, size=count, name="tasks")
    ids = b.alloca(I64, size=count, name="ids")
    started = b.alloca(I1, size=count, name="started")
    per = b.sdiv(b.add(n, b.sub(count, one)), count)
    per = b.mul(b.sdiv(b.add(per, b.sub(grain, one)), grain), grain)

    def field(t, k):
        return b.gep(tasks, [t, ir.Constant(I32, k)])

    def fill(t):
        lo = b.mul(t, per)
        lo = b.select(b.icmp_signed(">", lo, n), n, lo)
        hi = b.add(lo, per)
        hi = b.select(b.icmp_signed(">", hi, n), n, hi)
        for k, v in enumerate((work, ctx, lo, hi, zero)):
            b.store(v, field(t, k))
        b.store(ir.Constant(I1, 0), b.gep(started, [t]))

    def spawn(t):
        task = b.bitcast(b.gep(tasks, [t]), I8P)
        nonempty = b.icmp_signed("<", b.load(field(t, 2)), b.load(field(t, 3)))
        with b.if_then(nonempty):
            rc = b.call(create, [b.gep(ids, [t]), ir.Constant(I8P, None), entry, task])
            ok = b.icmp_signed("==", rc, ir.Constant(I32, 0))
            b.store(ok, b.gep(started, [t]))
            with b.if_then(b.not_(ok), likely=False):  # no thread: run it here
                b.call(entry, [task])

    def wait(t):
        with b.if_then(b.load(b.gep(started, [t]))):
            b.call(join, [b.load(b.gep(ids, [t])), ir.Constant(I8P.as_pointer(), None)])

    _count_loop(b, fn, zero, count, fill)
    _count_loop(b, fn, one, count, spawn)
    b.call(entry, [b.bitcast(tasks, I8P)])
    _count_loop(b, fn, one, count, wait)
    merged = b.alloca(I64, name="bits")
    b.store(zero, merged)
    _count_loop(b, fn, zero, count, lambda t: b.store(
        b.or_(b.load(merged), b.load(field(t, 4))), merged))
    b.store(b.or_(b.load(err), b.load(merged)), err)
    b.ret_void()
    return fn


def _thread_entry(module):
    """``i8* fwdc.thread_entry(i8* task)``: run one task's chunk (pthread's start routine)."""
    name = "fwdc.thread_entry"
    if name in module.globals:
        return module.globals[name]
    fn = ir.Function(module, ir.FunctionType(I8P, [I8P]), name=name)
    fn.linkage = "internal"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    task = b.bitcast(fn.args[0], TASK.as_pointer())
    fields = [b.gep(task, [ir.Constant(I32, 0), ir.Constant(I32, k)]) for k in range(5)]
    b.call(b.load(fields[0]), [b.load(fields[1]), b.load(fields[2]), b.load(fields[3]),
                               fields[4]])
    b.ret(ir.Constant(I8P, None))
    return fn


def _declare(module, name, ret, params):
    return module.globals.get(name) or ir.Function(module, ir.FunctionType(ret, params),
                                                   name=name)


def _count_loop(b, fn, start, stop, body):
    """``for t in range(start, stop): body(t)`` with the builder ``b`` in ``fn``."""
    counter = b.alloca(I64)
    b.store(start, counter)
    head, inner, after = (fn.append_basic_block(n) for n in ("t", "t.body", "t.end"))
    b.branch(head)
    b.position_at_end(head)
    t = b.load(counter)
    b.cbranch(b.icmp_signed("<", t, stop), inner, after)
    b.position_at_end(inner)
    body(t)
    b.store(b.add(b.load(counter), ir.Constant(I64, 1)), counter)
    b.branch(head)
    b.position_at_end(after)
