"""Compile lowered modules and wrap them as Python callables.

Contract: :func:`compile_kernel` takes the generated JVP's gast
``FunctionDef`` and its argument types and returns a :class:`Kernel`: calling
it with the arguments (in the generated function's parameter order) returns
``(value, tangent)`` like the Python backend.  ``Kernel.llvm_ir`` is the
optimized IR.  One LLVM target machine is created per kernel (MCJIT takes
ownership of it); every external symbol is resolved before the first call;
compilation holds a lock, so it is thread-safe.  The call goes through
ctypes (about 2 µs), or, for kernels returning one value and one tangent,
through a METH_FASTCALL builtin generated in the same module (``Kernel.fast``,
see callwrap.py), which costs about as much as calling a builtin.
"""

from __future__ import annotations

import ctypes
import threading

import llvmlite.binding as llvm

from .callwrap import as_builtin, wrapper_ir
from .lower import LoweringError, lower

_LOCK = threading.Lock()
_READY = False
_CTYPES = {float: ctypes.c_double, int: ctypes.c_int64, bool: ctypes.c_bool}


def _init():
    global _READY
    if not _READY:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _READY = True


class Kernel:
    fast = None  # a METH_FASTCALL builtin doing the same call, when generated

    def __init__(self, fn, engine, n_values, llvm_ir, types, value_kinds):
        self._fn = fn
        self._ints = [kind == "int" for kind in value_kinds]
        self._engine = engine  # keeps the machine code alive
        self._n_values = n_values
        self.llvm_ir = llvm_ir
        self.types = types
        self._slots = 2 if n_values is None else 2 * n_values

    def __call__(self, *args):
        out = (ctypes.c_double * self._slots)()
        err = ctypes.c_int64(0)
        self._fn(*args, out, ctypes.byref(err))
        if err.value:
            raise ZeroDivisionError("integer division or modulo by zero")
        if self._n_values is None:
            return (int(out[0]) if self._ints[0] else out[0]), out[1]
        k = self._n_values
        values = tuple(int(v) if is_int else v for v, is_int in zip(out[:k], self._ints))
        return values, tuple(out[k:2 * k])


def compile_kernel(fdef, types, opt=3, helpers=None):
    with _LOCK:
        _init()
        module, n_values, value_kinds = lower(fdef, types, helpers)
        wrapper = None
        if n_values is None and value_kinds:  # one value and one tangent: a CPython wrapper
            wrapper = wrapper_ir(module, module.get_global(fdef.name), types,
                                 value_kinds[0] == "int")
        triple = llvm.get_process_triple()
        module.triple = triple
        target = llvm.Target.from_triple(triple)
        tm = target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                          features=llvm.get_host_cpu_features().flatten(),
                                          opt=opt, reloc="static", codemodel="jitdefault",
                                          jit=True)
        module.data_layout = str(tm.target_data)
        try:
            mod = llvm.parse_assembly(str(module))
            mod.verify()
        except RuntimeError as exc:  # IR the verifier rejects: a lowering gap, not a crash
            raise LoweringError(f"LLVM rejected the lowered code ({str(exc).splitlines()[0]})")
        pto = llvm.create_pipeline_tuning_options(speed_level=opt)
        pb = llvm.create_pass_builder(tm, pto)
        pb.getModulePassManager().run(mod, pb)
        engine = llvm.create_mcjit_compiler(mod, tm)
        externals = [f.name for f in mod.functions
                     if f.is_declaration and not f.name.startswith("llvm.")]
        externals += [g.name for g in mod.global_variables if g.is_declaration]
        for name in externals:  # MCJIT would leave a missing symbol NULL: check first
            if not llvm.address_of_symbol(name):
                raise RuntimeError(f"fwdcompile: the native symbol {name!r} is not "
                                   "available in this process")
        engine.finalize_object()
        address = engine.get_function_address(fdef.name)
        proto = ctypes.CFUNCTYPE(None, *[_CTYPES[t] for t in types],
                                 ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_int64))
        kernel = Kernel(proto(address), engine, n_values, str(mod), types, value_kinds)
        if wrapper is not None:
            kernel.fast = as_builtin(wrapper, engine.get_function_address(wrapper), kernel)
        return kernel
