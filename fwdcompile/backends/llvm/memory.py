"""The memory of native arrays: ``malloc`` with a small cache of large blocks.

Contract: every array block a kernel allocates comes from
``fwdcompile_alloc(nbytes)`` (grows with ``fwdcompile_realloc``: lists.py)
and goes back through ``fwdcompile_free(block)`` (arrays.py; jit.py and
results.py for blocks handed to numpy),
two native functions compiled once per process by :func:`install`, which
registers them as symbols before any kernel is loaded.  Blocks of at least
``MIN_CACHED`` bytes are kept, when freed, in a table of ``SLOTS`` slots
(at most ``FWDCOMPILE_BLOCK_CACHE_MB`` megabytes in all, read at install;
0 turns the cache off) and handed out again to a request that fits
(capacity between the request and twice it).  :func:`trim` returns every
cached block to ``malloc``.  The slots are taken and filled with atomic
exchanges, so kernels running at once on several threads share the table
safely.

Why: glibc serves large requests from fresh pages (``mmap``, or the top of a
heap it trims when they are freed), so a kernel whose temporaries are
megabytes pays a page fault per 4 KiB on every call: measured, an (N, K, 2)
kernel with N = 1e5, K = 8 returning two arrays took 37 ms through
``malloc``/``free`` and 11 ms with the pages reused (two temporaries of
12.8 MB each).
XLA and PyTorch keep their own allocators for the same reason.

A block is ``[capacity, refcount, data...]`` in memory; kernels see the
pointer to the refcount word (arrays.py's block layout), the capacity word
before it is this module's.
"""

from __future__ import annotations

import ctypes
import os
import threading

import llvmlite.binding as llvm
from llvmlite import ir

from . import engine

SLOTS = 16
MIN_CACHED = 1 << 16  # smaller blocks: malloc's own free lists reuse them without faults
DEFAULT_LIMIT_MB = 256

_I8P = ir.IntType(8).as_pointer()
_I64 = ir.IntType(64)
_I64P = _I64.as_pointer()
_LOCK = threading.Lock()
_INSTALLED = None  # (engine, addresses) once compiled


def limit_bytes():
    """The cache's limit from ``FWDCOMPILE_BLOCK_CACHE_MB`` (megabytes; 0: off)."""
    raw = os.environ.get("FWDCOMPILE_BLOCK_CACHE_MB", "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_LIMIT_MB
    except ValueError:
        mb = DEFAULT_LIMIT_MB
    return max(0, int(mb * 2 ** 20))


def _module(limit):
    module = ir.Module(name="fwdcompile.memory")
    slots = ir.GlobalVariable(module, ir.ArrayType(_I8P, SLOTS), "fwdcompile.slots")
    slots.initializer = ir.Constant(ir.ArrayType(_I8P, SLOTS), None)
    cached = ir.GlobalVariable(module, _I64, "fwdcompile.cached")
    cached.initializer = ir.Constant(_I64, 0)
    malloc = ir.Function(module, ir.FunctionType(_I8P, [_I64]), "malloc")
    free = ir.Function(module, ir.FunctionType(ir.VoidType(), [_I8P]), "free")
    zero, null = ir.Constant(_I64, 0), ir.Constant(_I8P, None)

    def slot(b, i):
        return b.gep(slots, [ir.Constant(ir.IntType(32), 0), i])

    def capacity(b, raw):
        return b.load(b.bitcast(raw, _I64P))

    def counted_loop(fn, b, body):
        """``for i in range(SLOTS): body(b, i, next_block)``; returns the block after it."""
        head, step, done = (fn.append_basic_block(n) for n in ("slot", "next", "done"))
        entry = b.block
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(_I64)
        i.add_incoming(zero, entry)
        body(b, i, step)
        b.position_at_end(step)
        i_next = b.add(i, ir.Constant(_I64, 1))
        i.add_incoming(i_next, step)
        b.cbranch(b.icmp_unsigned("<", i_next, ir.Constant(_I64, SLOTS)), head, done)
        b.position_at_end(done)

    # fwdcompile_alloc(nbytes) -> block (the refcount word)
    alloc = ir.Function(module, ir.FunctionType(_I8P, [_I64]), "fwdcompile_alloc")
    nbytes = alloc.args[0]
    b = ir.IRBuilder(alloc.append_basic_block("entry"))

    def fresh(b):
        raw = b.call(malloc, [b.add(nbytes, ir.Constant(_I64, 8))])
        with b.if_then(b.icmp_unsigned("!=", raw, null)):  # NULL stays NULL
            b.store(nbytes, b.bitcast(raw, _I64P))
        b.ret(b.select(b.icmp_unsigned("==", raw, null), null,
                       b.gep(raw, [ir.Constant(_I64, 8)])))

    small = alloc.append_basic_block("small")
    search = alloc.append_basic_block("search")
    b.cbranch(b.icmp_unsigned("<", nbytes, ir.Constant(_I64, MIN_CACHED)), small, search)
    b.position_at_end(small)
    fresh(b)
    b.position_at_end(search)

    def take(b, i, step):
        raw = b.atomic_rmw("xchg", slot(b, i), null, "acq_rel")
        got = alloc.append_basic_block("got")
        b.cbranch(b.icmp_unsigned("==", raw, null), step, got)
        b.position_at_end(got)
        cap = capacity(b, raw)
        fits = b.and_(b.icmp_unsigned(">=", cap, nbytes),
                      b.icmp_unsigned("<=", cap, b.shl(nbytes, ir.Constant(_I64, 1))))
        use, back = alloc.append_basic_block("use"), alloc.append_basic_block("back")
        b.cbranch(fits, use, back)
        b.position_at_end(use)
        b.atomic_rmw("sub", cached, cap, "monotonic")
        b.ret(b.gep(raw, [ir.Constant(_I64, 8)]))
        b.position_at_end(back)  # not this one: into the slot again, or freed if taken
        put = b.cmpxchg(slot(b, i), null, raw, "acq_rel", "monotonic")
        with b.if_then(b.not_(b.extract_value(put, 1))):
            b.atomic_rmw("sub", cached, cap, "monotonic")
            b.call(free, [raw])
        b.branch(step)

    counted_loop(alloc, b, take)
    fresh(b)

    # fwdcompile_free(block)
    release = ir.Function(module, ir.FunctionType(ir.VoidType(), [_I8P]), "fwdcompile_free")
    b = ir.IRBuilder(release.append_basic_block("entry"))
    raw = b.gep(release.args[0], [ir.Constant(_I64, -8)])
    cap = capacity(b, raw)
    give_back = release.append_basic_block("free")
    keep = release.append_basic_block("keep")
    b.cbranch(b.icmp_unsigned("<", cap, ir.Constant(_I64, MIN_CACHED)), give_back, keep)
    b.position_at_end(give_back)
    b.call(free, [raw])
    b.ret_void()
    b.position_at_end(keep)
    total = b.add(b.atomic_rmw("add", cached, cap, "monotonic"), cap)
    over = release.append_basic_block("over")
    search = release.append_basic_block("search")
    b.cbranch(b.icmp_unsigned(">", total, ir.Constant(_I64, limit)), over, search)
    b.position_at_end(over)
    b.atomic_rmw("sub", cached, cap, "monotonic")
    b.branch(give_back)
    b.position_at_end(search)

    def place(b, i, step):
        put = b.cmpxchg(slot(b, i), null, raw, "acq_rel", "monotonic")
        done = release.append_basic_block("placed")
        b.cbranch(b.extract_value(put, 1), done, step)
        b.position_at_end(done)
        b.ret_void()

    counted_loop(release, b, place)
    b.branch(over)  # every slot taken

    # fwdcompile_realloc(block, nbytes) -> block: a list's block grows (lists.py)
    grow = ir.Function(module, ir.FunctionType(_I8P, [_I8P, _I64]), "fwdcompile_realloc")
    realloc = ir.Function(module, ir.FunctionType(_I8P, [_I8P, _I64]), "realloc")
    b = ir.IRBuilder(grow.append_basic_block("entry"))
    nbytes = grow.args[1]
    raw = b.call(realloc, [b.gep(grow.args[0], [ir.Constant(_I64, -8)]),
                           b.add(nbytes, ir.Constant(_I64, 8))])
    with b.if_then(b.icmp_unsigned("!=", raw, null)):
        b.store(nbytes, b.bitcast(raw, _I64P))
    b.ret(b.select(b.icmp_unsigned("==", raw, null), null, b.gep(raw, [ir.Constant(_I64, 8)])))

    # fwdcompile_trim(): every cached block back to malloc
    trim = ir.Function(module, ir.FunctionType(ir.VoidType(), []), "fwdcompile_trim")
    b = ir.IRBuilder(trim.append_basic_block("entry"))

    def drop(b, i, step):
        raw = b.atomic_rmw("xchg", slot(b, i), null, "acq_rel")
        with b.if_then(b.icmp_unsigned("!=", raw, null)):
            b.atomic_rmw("sub", cached, capacity(b, raw), "monotonic")
            b.call(free, [raw])
        b.branch(step)

    counted_loop(trim, b, drop)
    b.ret_void()
    return module


def install():
    """Compile the allocator (once per process) and register its symbols;
    returns ``{name: address}``."""
    global _INSTALLED
    if _INSTALLED is None:
        with _LOCK:
            if _INSTALLED is None:
                tm = engine.target_machine(2)
                module = _module(limit_bytes())
                engine.prepare(module, tm)
                mod = engine.parse(str(module))
                engine.optimize(mod, tm, 2)
                ee = engine.load(mod, tm)
                names = ("fwdcompile_alloc", "fwdcompile_free", "fwdcompile_realloc",
                         "fwdcompile_trim")
                addresses = {n: ee.get_function_address(n) for n in names}
                for n, address in addresses.items():
                    llvm.add_symbol(n, address)
                _INSTALLED = (ee, addresses)
    return _INSTALLED[1]


def _function(name, restype, argtypes):
    return ctypes.CFUNCTYPE(restype, *argtypes)(install()[name])


def release(block):
    """Give ``block`` (an address from ``fwdcompile_alloc``) back."""
    _free()(block)


_FREE = None


def _free():
    global _FREE
    if _FREE is None:
        _FREE = _function("fwdcompile_free", None, [ctypes.c_void_p])
    return _FREE


def trim():
    """Return every block the cache holds to ``malloc`` (which may return
    them to the system).  Kernels keep working; their next large
    temporaries come from fresh memory."""
    _function("fwdcompile_trim", None, [])()


def cached_bytes():
    """How many bytes the cache holds now."""
    install()
    ee = _INSTALLED[0]
    return ctypes.c_int64.from_address(ee.get_global_value_address("fwdcompile.cached")).value
