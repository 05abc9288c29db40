"""Results holding arrays, built by the generated entry (callwrap.py) in native code.

Contract: :func:`emit` adds to an entry the IR that turns a kernel's out
buffer into the Python result :class:`~.jit.Kernel` would return (its
:class:`Layout`): each number a float or int, each returned array a numpy
array on the block the kernel handed over, without a copy (``PyArray_New``
on the block's data, its base a capsule whose destructor drops the block's
reference).  It does so when the kernel flagged no error and every returned
array is C-contiguous, non-empty, in a block, and not returned twice; any
other out buffer goes to the Python path (``Kernel.assemble``), which copies
or releases as it always did, and raises the kernel's error.  A failure to
allocate a Python object releases every block and returns NULL with the
error set.

numpy's C API is reached through the ``_ARRAY_API`` capsule of
``numpy._core._multiarray_umath``: the addresses of the two functions used are
bound to named symbols (``fwdc.numpy.PyArray_New``, ...), and so are the
block-releasing functions, compiled once per process into an engine that is
never freed (a kernel's engine may go while arrays it returned live on).  So
kernel IR names no process-specific address (the disk cache keeps it).
:data:`AVAILABLE` says whether the capsule was found and its table looks
like numpy's (``PyArray_Type`` where ``numpy.ndarray`` is); if not, every
result takes the Python path.
"""

from __future__ import annotations

import ctypes
import threading

from llvmlite import ir

from .types import F64, I32, I64, I64P, I8P

# indices into numpy's C-API table (the same in numpy 1.x and 2.x)
_API = {"PyArray_Type": 2, "PyArray_New": 93, "PyArray_SetBaseObject": 282}
_NPY = {"": 12, "f32": 11}  # NPY_DOUBLE, NPY_FLOAT by the kind's suffix
_CARRAY = 0x0001 | 0x0100 | 0x0400  # C_CONTIGUOUS | ALIGNED | WRITEABLE
_LOCK = threading.Lock()
_ENGINE: list = []  # the engine holding the release functions, kept for the process


class Layout:
    """What a kernel returns: its leaves' ``kinds`` in out-buffer order, how
    many belong to the value, and how :meth:`~.jit.Kernel._split` nests them:
    ``"one"`` (``(value leaf, tangent leaf or ())``), ``"tuples"``
    (``(value leaves, tangent leaves)``) or ``"values"`` (the value leaves
    alone: a region's outputs)."""

    def __init__(self, kinds, n_value_leaves, nesting):
        self.kinds, self.n_value_leaves, self.nesting = list(kinds), n_value_leaves, nesting

    def supported(self):
        return all(k in ("float", "int") or k.startswith("array") for k in self.kinds)


def _api_table():
    """``{name: address}`` of the numpy C-API entries used, or None."""
    try:
        import numpy as np
        try:
            from numpy._core import _multiarray_umath as umath
        except ImportError:  # numpy 1.x
            from numpy.core import _multiarray_umath as umath
        get = ctypes.pythonapi.PyCapsule_GetPointer
        get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
        table = ctypes.cast(get(umath._ARRAY_API, None), ctypes.POINTER(ctypes.c_void_p))
        found = {name: table[i] for name, i in _API.items()}
        return found if found["PyArray_Type"] == id(np.ndarray) else None
    except (ImportError, AttributeError, ValueError, TypeError):
        return None


_TABLE = _api_table()
AVAILABLE = _TABLE is not None


def _release_module():
    """IR of ``release_block(owner)`` (drop one reference of a kernel's block,
    freeing it at zero; arrays.py) and ``release_capsule(capsule)`` (the same
    for the block a capsule holds: the destructor of a result's base)."""
    module = ir.Module("fwdc_release")
    free = ir.Function(module, ir.FunctionType(ir.VoidType(), [I8P]), "fwdcompile_free")
    get = ir.Function(module, ir.FunctionType(I8P, [I8P, I8P]), "PyCapsule_GetPointer")
    block = ir.Function(module, ir.FunctionType(ir.VoidType(), [I64P]), "release_block")
    b = ir.IRBuilder(block.append_basic_block("entry"))
    count = b.sub(b.load(block.args[0]), ir.Constant(I64, 1))
    b.store(count, block.args[0])
    with b.if_then(b.icmp_signed("==", count, ir.Constant(I64, 0))):
        b.call(free, [b.bitcast(block.args[0], I8P)])
    b.ret_void()
    capsule = ir.Function(module, ir.FunctionType(ir.VoidType(), [I8P]), "release_capsule")
    b = ir.IRBuilder(capsule.append_basic_block("entry"))
    b.call(block, [b.bitcast(b.call(get, [capsule.args[0], ir.Constant(I8P, None)]), I64P)])
    b.ret_void()
    return module


def _bind_symbols():
    """Bind the ``fwdc.numpy.*`` and ``fwdc.release_*`` symbols (once per process)."""
    import llvmlite.binding as llvm

    from . import engine, memory
    with _LOCK:
        if _ENGINE:
            return
        memory.install()  # blocks go back through fwdcompile_free
        tm = engine.target_machine(2)
        module = _release_module()
        engine.prepare(module, tm)
        jitted, _ = engine.build(str(module), tm, 2)
        for name in ("release_block", "release_capsule"):
            llvm.add_symbol(f"fwdc.{name}", jitted.get_function_address(name))
        for name, address in _TABLE.items():
            llvm.add_symbol(f"fwdc.numpy.{name}", address)
        _ENGINE.append(jitted)


def emit(w, out, err, layout, python):
    """At the builder's position, after the kernel wrote ``out`` and ``err``:
    return the result built natively, or branch to block ``python`` (see the
    module doc).  ``w`` is callwrap's ``_Builder``."""
    b = w.b
    _bind_symbols()
    i64 = lambda v: ir.Constant(I64, v)  # noqa: E731
    raw = b.bitcast(out, I64P)

    def slot(k):
        return b.load(b.gep(raw, [i64(k)]))

    arrays, at = [], 0  # (first slot, rank, dtype suffix) of each returned array
    for kind in layout.kinds:
        if kind.startswith("array"):
            arrays.append((at, int(kind[5]), kind[6:]))
            at += 2 + 2 * int(kind[5])
        else:
            at += 1
    ok = b.icmp_signed("==", b.load(err), i64(0))
    for n, (first, rank, _) in enumerate(arrays):
        ok = b.and_(ok, b.icmp_unsigned("!=", slot(first), i64(0)))
        expected = i64(1)
        for k in reversed(range(rank)):  # C-contiguous in elements, every dimension > 0
            size, stride = slot(first + 2 + k), slot(first + 2 + rank + k)
            ok = b.and_(ok, b.icmp_signed(">", size, i64(0)))
            ok = b.and_(ok, b.or_(b.icmp_signed("==", size, i64(1)),
                                  b.icmp_signed("==", stride, expected)))
            expected = b.mul(expected, size)
        for other, _, _ in arrays[:n]:  # the same memory twice: the second is copied
            ok = b.and_(ok, b.icmp_unsigned("!=", slot(first + 1), slot(other + 1)))
    native = w.fn.append_basic_block("build_result")
    b.cbranch(ok, native, python)
    b.position_at_end(native)

    decref = w.declare("Py_DecRef", ir.VoidType(), [I8P])
    with b.goto_entry_block():
        objects = b.alloca(I8P, size=i64(len(layout.kinds)), name="leaves")
        done = b.alloca(I64, name="wrapped")  # array leaves before it are in Python objects
        dims = b.alloca(I64, size=i64(max([r for _, r, _ in arrays] or [1])), name="dims")
    for leaf in range(len(layout.kinds)):
        b.store(w.null, b.gep(objects, [i64(leaf)]))
    b.store(i64(0), done)
    failed = w.fn.append_basic_block("build_failed")
    capsule_new = w.declare("PyCapsule_New", I8P, [I8P, I8P, I8P])
    release_capsule = w.declare("fwdc.release_capsule", ir.VoidType(), [I8P])
    array_new = w.declare("fwdc.numpy.PyArray_New", I8P,
                          [I8P, I32, I64P, I32, I64P, I8P, I32, I32, I8P])
    set_base = w.declare("fwdc.numpy.PyArray_SetBaseObject", I32, [I8P, I8P])
    ndarray_type = w.global_object("fwdc.numpy.PyArray_Type")
    release_block = w.declare("fwdc.release_block", ir.VoidType(), [I64P])

    def made(obj, leaf):
        b.store(obj, b.gep(objects, [i64(leaf)]))
        fine = w.fn.append_basic_block(f"made{leaf}")
        b.cbranch(b.icmp_unsigned("==", obj, w.null), failed, fine)
        b.position_at_end(fine)

    at, n = 0, 0
    for leaf, kind in enumerate(layout.kinds):
        if not kind.startswith("array"):
            value = b.load(b.gep(out, [i64(at)]))
            if kind == "int":
                obj = b.call(w.declare("PyLong_FromLongLong", I8P, [I64]), [b.fptosi(value, I64)])
            else:
                obj = b.call(w.declare("PyFloat_FromDouble", I8P, [F64]), [value])
            made(obj, leaf)
            at += 1
            continue
        first, rank, suffix = arrays[n]
        owner = b.inttoptr(slot(first), I8P)
        capsule = b.call(capsule_new, [owner, w.null, b.bitcast(release_capsule, I8P)])
        b.store(i64(n + 1), done)  # from here, the capsule (or the failure) releases the block
        lost, kept = (w.fn.append_basic_block(f"{label}{leaf}") for label in ("lost", "kept"))
        b.cbranch(b.icmp_unsigned("==", capsule, w.null), lost, kept)
        with b.goto_block(lost):
            b.call(release_block, [b.bitcast(owner, I64P)])
            b.branch(failed)
        b.position_at_end(kept)
        for k in range(rank):
            b.store(slot(first + 2 + k), b.gep(dims, [i64(k)]))
        obj = b.call(array_new, [b.bitcast(ndarray_type, I8P), ir.Constant(I32, rank), dims,
                                 ir.Constant(I32, _NPY[suffix]), ir.Constant(I64P, None),
                                 b.inttoptr(slot(first + 1), I8P), ir.Constant(I32, 0),
                                 ir.Constant(I32, _CARRAY), w.null])
        with b.if_then(b.icmp_unsigned("==", obj, w.null)):
            b.call(decref, [capsule])
        made(obj, leaf)
        # steals the capsule, and drops it on failure; the array then drops nothing of ours
        status = b.call(set_base, [obj, capsule])
        fine = w.fn.append_basic_block(f"based{leaf}")
        b.cbranch(b.icmp_signed("==", status, ir.Constant(I32, 0)), fine, failed)
        b.position_at_end(fine)
        at += 2 + 2 * rank
        n += 1
    b.ret(_nest(w, objects, layout, failed, decref))

    with b.goto_block(failed):  # drop what was made, release the blocks not yet wrapped
        for leaf in range(len(layout.kinds)):
            obj = b.load(b.gep(objects, [i64(leaf)]))
            with b.if_then(b.icmp_unsigned("!=", obj, w.null)):
                b.call(decref, [obj])
        for n, (first, _, _) in enumerate(arrays):
            with b.if_then(b.icmp_signed("<=", b.load(done), i64(n))):
                b.call(release_block, [b.inttoptr(slot(first), I64P)])
        b.ret(w.null)


def _nest(w, objects, layout, failed, decref):
    """The result: the leaves in ``objects`` in tuples nested as ``layout``
    says.  Every tuple is made before any leaf moves into one, so a failure
    drops the tuples made and leaves the leaves to ``failed``."""
    b = w.b
    i64 = lambda v: ir.Constant(I64, v)  # noqa: E731
    n, k = len(layout.kinds), layout.n_value_leaves
    if layout.nesting == "values":
        tree = list(range(n))
    elif layout.nesting == "tuples":
        tree = [list(range(k)), list(range(k, n))]
    else:
        tree = [0, k if n > k else []]
    made = []

    def make(node):
        t = b.call(w.declare("PyTuple_New", I8P, [I64]), [i64(len(node))])
        fine, bad = (w.fn.append_basic_block(f"{label}{len(made)}")
                     for label in ("tuple", "no_tuple"))
        b.cbranch(b.icmp_unsigned("==", t, w.null), bad, fine)
        with b.goto_block(bad):
            for earlier in made:
                b.call(decref, [earlier])
            b.branch(failed)
        b.position_at_end(fine)
        made.append(t)
        return t, [make(c) if isinstance(c, list) else c for c in node]

    def fill(made_node):
        t, children = made_node
        for i, child in enumerate(children):  # SetItem steals the reference
            item = fill(child) if isinstance(child, tuple) else \
                b.load(b.gep(objects, [i64(child)]))
            b.call(w.declare("PyTuple_SetItem", I32, [I8P, I64, I8P]), [t, i64(i), item])
        return t

    return fill(make(tree))
