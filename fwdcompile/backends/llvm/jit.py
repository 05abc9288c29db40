"""Compile lowered modules and wrap them as Python callables.

Contract: :func:`compile_kernel` takes the generated JVP's gast
``FunctionDef`` and its argument types and returns a :class:`Kernel`: calling
it with the arguments (in the generated function's parameter order) returns
``(value, tangent)`` like the Python backend.  ``Kernel.llvm_ir`` is the
optimized IR.  One LLVM target machine is created per kernel (MCJIT takes
ownership of it); every external symbol is resolved before the first call
(both in engine.py, the pipeline sampling.py uses too); compilation holds a
lock, so it is thread-safe.  The machine code is kept on disk and loaded by
later processes (engine.build_cached, disk_cache.py); ``Kernel.cache`` and
``Kernel.timings`` say whether it was and what each step took.  The call goes through
ctypes (about 2 µs plus about 2 µs per array argument), or, for kernels returning one
value and one tangent, through a METH_FASTCALL builtin generated in the same module
(``Kernel.fast``, ``Kernel.entry``: see callwrap.py; results holding arrays are
built there, results.py), which costs about as much as calling a builtin.
"""

from __future__ import annotations

import ctypes
import threading
import time

import numpy as np

from . import callwrap, engine, memory
from .callwrap import LAYOUT_OK, NDARRAY_TYPE, as_builtin, entry_ir, wrapper_ir
from .errors import LoweringError, raise_for
from .lower import lower
from .results import Layout
from .types import ArrayType, kind_rank, kind_slots

_LOCK = threading.Lock()
_CTYPES = {float: ctypes.c_double, int: ctypes.c_int64, bool: ctypes.c_bool}


_F32, _F64 = np.dtype(np.float32).str, np.dtype(np.float64).str  # native byte order


class Kernel:
    """Calls a compiled kernel with Python values: arrays are passed as a data
    pointer and their dimensions (converted to C-contiguous float64 first,
    once), and arrays the kernel returns are copied into numpy arrays."""

    fast = None  # a METH_FASTCALL builtin doing the same call, when generated
    entry = None  # address of the ``f.jvp``-shaped wrapper (callwrap.entry_ir), if any
    cache = "off"  # the disk cache's answer: "hit", "miss", "off", "process-specific"
    timings: dict = {}  # step -> seconds: lower, cache lookup, parse IR, optimize, codegen, ...

    def __init__(self, fn, engine, n_values, llvm_ir, types, value_kinds, tangent_kinds):
        self._fn = fn
        self._engine = engine  # keeps the machine code alive
        self._n_values = n_values
        # the value part's leaves come first; the tangent part may have as many
        # (a JVP) or none (``return (a, b), ()``: values only, for region code)
        self._n_value_leaves = len(value_kinds)
        self._kinds = list(value_kinds) + list(tangent_kinds)
        self.llvm_ir = llvm_ir
        self.types = types
        self.takes_arrays = any(isinstance(t, ArrayType) for t in types)
        self._slots = sum(kind_slots(k) for k in self._kinds)

    def assemble(self, address):
        """The ``(value, tangent)`` a kernel wrote into the out buffer at
        ``address`` (called by the generated entry for results holding arrays)."""
        return self._split(self._leaves((ctypes.c_double * self._slots).from_address(address)))

    def assemble_values(self, address):
        """The value part alone (for an entry returning a region's outputs)."""
        return self.assemble(address)[0]

    def _split(self, leaves):
        """``(value, tangent)`` from the leaves in out-buffer order."""
        k = self._n_value_leaves
        if self._n_values is None:
            return leaves[0], (leaves[k] if len(leaves) > k else ())
        return tuple(leaves[:k]), tuple(leaves[k:])

    def __call__(self, *args):
        if self.takes_arrays:
            args = [np.ascontiguousarray(a) if isinstance(t, ArrayType) else a
                    for a, t in zip(args, self.types)]  # alive until the call returns
            flat = self._flatten(args)
        else:
            flat = args
        out = (ctypes.c_double * self._slots)()
        err = ctypes.c_int64(0)
        self._fn(*flat, out, ctypes.byref(err))
        leaves = self._leaves(out)  # first: arrays handed over are freed even on error
        if err.value:
            raise_for(err.value)
        return self._split(leaves)

    @property
    def asm(self):
        """The kernel's machine code as assembly text."""
        with _LOCK:
            if self._machine is None:  # loaded from disk: the stored optimized IR
                self._machine = (engine.target_machine(self._opt), engine.parse(self.llvm_ir))
            tm, mod = self._machine
            return tm.emit_assembly(mod)

    def _flatten(self, args):
        flat = []
        for a, t in zip(args, self.types):
            if isinstance(t, ArrayType):
                flat += [a.ctypes.data, *a.shape]
            else:
                flat.append(a)
        return flat

    def _leaves(self, out):
        """The returned values and tangents, in order, from the out buffer
        (``_slots`` slots; types.kind_slots): numbers as Python numbers, a
        C-contiguous array in a block the kernel handed over as a numpy array
        on that block (which frees it), any other array copied into a new
        numpy array of its dtype (and its block released)."""
        leaves, slot, taken = [], 0, set()
        raw = ctypes.cast(out, ctypes.POINTER(ctypes.c_int64))
        for kind in self._kinds:
            if kind.startswith("array"):
                n = kind_rank(kind)
                owner, data = raw[slot], raw[slot + 1]
                shape = tuple(raw[slot + 2:slot + 2 + n])
                single = kind.endswith("f32")
                size = 4 if single else 8
                strides = tuple(size * s for s in raw[slot + 2 + n:slot + 2 + 2 * n])
                if owner and data not in taken and _c_contiguous(shape, strides, size):
                    taken.add(data)  # (a block returned twice is copied the second time)
                    leaves.append(np.asarray(_Block(owner, data, shape, single)))  # no copy
                else:
                    try:
                        leaves.append(_copy_out(data, shape, strides, single))
                    finally:
                        if owner:
                            _release(owner)
            else:
                leaves.append(int(out[slot]) if kind == "int" else out[slot])
            slot += kind_slots(kind)
        return leaves


def compile_kernel(fdef, types, opt=2, helpers=None, boundscheck=True, entry=None,
                   namespace=None, label=None, blas=False, values_only=False):
    """A :class:`Kernel` for the generated JVP ``fdef`` at argument ``types``.
    ``entry=(plan, binding, number of tangents)`` also builds the
    ``f.jvp(*args, tangents=(...))`` builtin (see callwrap.entry_ir; with
    None tangents, a builtin taking the kernel's own arguments), returning
    ``(value, tangent)``, or the value leaves alone when ``values_only`` (a
    region's outputs).  ``helpers``, ``namespace`` and ``label``, ``blas``:
    see lower.lower (calls are resolved by object there)."""
    entry_spec = entry
    timings: dict = {}
    with _LOCK:
        start = time.perf_counter()
        module, n_values, value_kinds, tangent_kinds = lower(fdef, types, helpers, boundscheck,
                                                              namespace, label, blas)
        wrapper = entry = None
        scalar_result = n_values is None and value_kinds and len(tangent_kinds) == 1 \
            and not (value_kinds[0] + tangent_kinds[0]).count("array")
        slots = None if scalar_result else sum(
            kind_slots(k) for k in (value_kinds or []) + (tangent_kinds or []))
        if scalar_result and not any(isinstance(t, ArrayType) for t in types):
            # one value and one tangent, all scalars: a CPython wrapper
            wrapper = wrapper_ir(module, module.get_global(fdef.name), types,
                                 value_kinds[0] == "int")
        if value_kinds and entry_spec is not None and LAYOUT_OK \
                and hasattr(ctypes.pythonapi, "PyObject_Vectorcall") \
                and (NDARRAY_TYPE or not any(isinstance(t, ArrayType) for t in types)):
            entry = entry_ir(module, module.get_global(fdef.name), entry_spec,
                             value_kinds[0] == "int", slots,
                             _layout(n_values, value_kinds, tangent_kinds, values_only))
        if wrapper is not None or entry is not None:
            # one optimized copy of the kernel, called by its wrappers: inlined into
            # each, it would be optimized two or three times
            module.get_global(fdef.name).attributes.add("noinline")
        tm = engine.target_machine(opt)
        engine.prepare(module, tm)
        text = str(module)
        timings["lower"] = time.perf_counter() - start
        # the interned names the entry compares keyword names and tangent keys with
        strings = list(callwrap._INTERNED) + ([] if entry_spec is None else
                                              list(entry_spec[1].keys))
        memory.install()  # the kernel's fwdcompile_alloc/_free resolve to it
        try:
            jitted, mod, optimized, status = engine.build_cached(text, tm, opt, strings,
                                                                 timings)
        except engine.IRRejected as exc:  # IR the verifier rejects: a lowering gap, not a crash
            raise LoweringError("LLVM rejected the lowered code "
                                f"({str(exc).splitlines()[0]})") from exc
        address = jitted.get_function_address(fdef.name)
        params = []
        for t in types:
            params += [ctypes.c_void_p] + [ctypes.c_int64] * t.ndim \
                if isinstance(t, ArrayType) else [_CTYPES[t]]
        proto = ctypes.CFUNCTYPE(None, *params, ctypes.POINTER(ctypes.c_double),
                                 ctypes.POINTER(ctypes.c_int64))
        kernel = Kernel(proto(address), jitted, n_values, optimized, types, value_kinds,
                        tangent_kinds)
        # the assembly comes from the optimized module; on a cache hit ``mod`` was
        # never optimized, so Kernel.asm parses the stored optimized IR instead
        kernel._machine = (tm, mod) if status != "hit" else None
        kernel._opt = opt
        kernel.cache = status
        kernel.timings = timings
        if wrapper is not None:
            kernel.fast = as_builtin(wrapper, jitted.get_function_address(wrapper), kernel)
        if entry is not None:
            kernel.entry = jitted.get_function_address(entry)
            kernel.entry_spec = entry_spec  # owns the objects the entry points at
        return kernel


def _layout(n_values, value_kinds, tangent_kinds, values_only):
    """How the entry nests the leaves it returns (results.Layout): like
    :meth:`Kernel._split`, or the value leaves alone."""
    k = len(value_kinds)
    if values_only:
        return Layout(value_kinds, k, "values")
    if n_values is None:
        return Layout(list(value_kinds) + list(tangent_kinds[:1]), k, "one")
    return Layout(list(value_kinds) + list(tangent_kinds), k, "tuples")


def _copy_out(address, shape, strides, single=False):
    """A C-ordered numpy copy of ``shape`` float64 (float32 when ``single``)
    elements at ``address`` (byte strides, maybe negative)."""
    if any(n == 0 for n in shape):
        return np.zeros(shape, np.float32 if single else np.float64)
    return np.array(_Memory(address, shape, strides, single), order="C")


class _Memory:
    """Float64 or float32 memory a kernel wrote, described to numpy through
    ``__array_interface__`` (half the cost of a ctypes buffer and a view)."""

    __slots__ = ("__array_interface__",)

    def __init__(self, address, shape, strides, single=False):
        self.__array_interface__ = {"data": (address, True), "shape": shape,
                                    "strides": strides, "typestr": _F32 if single else _F64,
                                    "version": 3}


def _c_contiguous(shape, strides, size):
    expected = size
    for n, stride in zip(reversed(shape), reversed(strides)):
        if n != 1 and stride != expected:
            return False
        expected *= n
    return all(n > 0 for n in shape)


class _Block:
    """A kernel's memory block handed over with one returned array: numpy
    keeps this object as the array's base, and dropping it drops the
    block's reference (the kernel's arrays are reference-counted blocks,
    arrays.py), so a result costs no copy."""

    __slots__ = ("__array_interface__", "_owner")

    def __init__(self, owner, data, shape, single):
        self._owner = owner
        self.__array_interface__ = {"data": (data, False), "shape": shape,
                                    "typestr": _F32 if single else _F64, "version": 3}

    def __del__(self):
        _release(self._owner)


def _release(owner):
    """Drop the caller's reference to a block a kernel handed over."""
    count = ctypes.c_int64.from_address(owner)
    count.value -= 1
    if count.value == 0:
        memory.release(owner)
