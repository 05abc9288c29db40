"""A CPython calling wrapper generated in LLVM IR (no C compiler, no ctypes per call).

Contract: :func:`wrapper_ir` adds to a kernel's module a function
``PyObject* <name>_py(PyObject* self, PyObject* const* args, i64 nargs)``
with METH_FASTCALL semantics: it checks the argument count, converts each
argument with ``PyFloat_AsDouble``/``PyLong_AsLongLong``/``PyObject_IsTrue``
(propagating their errors), calls the kernel, raises ``ZeroDivisionError``
when the kernel flagged an integer division by zero, and returns the tuple
``(value, tangent)``.  :func:`as_builtin` turns its address into a Python
builtin function whose ``__self__`` keeps the compiled code alive.

Only kernels returning one value and one tangent get a wrapper; the others
keep the ctypes path.  The CPython symbols are resolved from the running
interpreter by MCJIT and checked before use (see jit.py).
"""

from __future__ import annotations

import ctypes

from llvmlite import ir

F64, I64, I32, I8P = ir.DoubleType(), ir.IntType(64), ir.IntType(32), ir.IntType(8).as_pointer()
METH_FASTCALL = 0x80


def wrapper_ir(module, kernel, types, value_is_int):
    """Add ``<kernel>_py`` to ``module``; returns its name."""
    obj = I8P  # PyObject*
    fnty = ir.FunctionType(obj, [obj, obj.as_pointer(), I64])
    fn = ir.Function(module, fnty, name=f"{kernel.name}_py")
    _, args, nargs = fn.args

    def declare(name, ret, params):
        existing = module.globals.get(name)
        return existing or ir.Function(module, ir.FunctionType(ret, params), name=name)

    as_double = declare("PyFloat_AsDouble", F64, [obj])
    as_long = declare("PyLong_AsLongLong", I64, [obj])
    is_true = declare("PyObject_IsTrue", I32, [obj])
    occurred = declare("PyErr_Occurred", obj, [])
    set_string = declare("PyErr_SetString", ir.VoidType(), [obj, I8P])
    from_double = declare("PyFloat_FromDouble", obj, [F64])
    from_long = declare("PyLong_FromLongLong", obj, [I64])
    tuple_new = declare("PyTuple_New", obj, [I64])
    tuple_set = declare("PyTuple_SetItem", I32, [obj, I64, obj])
    exc_type = module.globals.get("PyExc_TypeError") or ir.GlobalVariable(module, obj,
                                                                         "PyExc_TypeError")
    exc_zero = module.globals.get("PyExc_ZeroDivisionError") or ir.GlobalVariable(
        module, obj, "PyExc_ZeroDivisionError")

    def cstring(text, label):
        data = bytearray(text.encode() + b"\0")
        g = ir.GlobalVariable(module, ir.ArrayType(ir.IntType(8), len(data)),
                              f"{kernel.name}_{label}")
        g.global_constant = True
        g.initializer = ir.Constant(ir.ArrayType(ir.IntType(8), len(data)), data)
        return g.bitcast(I8P)

    b = ir.IRBuilder(fn.append_basic_block("entry"))
    fail = fn.append_basic_block("fail")
    null = ir.Constant(obj, None)

    def raise_(exc_global, message, label):
        block = fn.append_basic_block(label)
        with b.goto_block(block):
            b.call(set_string, [b.load(exc_global), cstring(message, label)])
            b.ret(null)
        return block

    count_ok = fn.append_basic_block("count_ok")
    b.cbranch(b.icmp_signed("==", nargs, I64(len(types))), count_ok,
              raise_(exc_type, f"{kernel.name} takes {len(types)} arguments", "bad_count"))
    b.position_at_end(count_ok)
    values = []
    for k, t in enumerate(types):
        item = b.load(b.gep(args, [I64(k)]))
        if t is float:
            v = b.call(as_double, [item])
            maybe = b.fcmp_ordered("==", v, ir.Constant(F64, -1.0))
        elif t is int:
            v = b.call(as_long, [item])
            maybe = b.icmp_signed("==", v, I64(-1))
        else:
            raw = b.call(is_true, [item])
            maybe = b.icmp_signed("<", raw, I32(0))
            v = b.icmp_signed(">", raw, I32(0))
        check, ok = fn.append_basic_block(f"check{k}"), fn.append_basic_block(f"ok{k}")
        b.cbranch(maybe, check, ok)
        with b.goto_block(check):
            error = b.icmp_unsigned("!=", b.call(occurred, []), null)
            b.cbranch(error, fail, ok)
        b.position_at_end(ok)
        values.append(v)
    with b.goto_entry_block():
        out = b.alloca(F64, size=I64(2), name="out")
        err = b.alloca(I64, name="err")
    b.store(I64(0), err)
    b.call(kernel, values + [out, err])
    fine = fn.append_basic_block("fine")
    b.cbranch(b.icmp_signed("!=", b.load(err), I64(0)),
              raise_(exc_zero, "integer division or modulo by zero", "zero_div"), fine)
    b.position_at_end(fine)
    value = b.load(b.gep(out, [I64(0)]))
    first = b.call(from_long, [b.fptosi(value, I64)]) if value_is_int \
        else b.call(from_double, [value])
    second = b.call(from_double, [b.load(b.gep(out, [I64(1)]))])
    result = b.call(tuple_new, [I64(2)])
    b.call(tuple_set, [result, I64(0), first])  # steals the references
    b.call(tuple_set, [result, I64(1), second])
    b.ret(result)
    with b.goto_block(fail):
        b.ret(null)
    return fn.name


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


_NEW = ctypes.pythonapi.PyCFunction_NewEx
_NEW.restype = ctypes.py_object
_NEW.argtypes = [ctypes.POINTER(_MethodDef), ctypes.py_object, ctypes.py_object]


def as_builtin(name, address, keep_alive):
    """A builtin function calling the wrapper at ``address``."""
    name_bytes = name.encode()
    method = _MethodDef(name_bytes, address, METH_FASTCALL, None)
    holder = [method, name_bytes, keep_alive]  # the builtin's __self__: owns all of it
    return _NEW(ctypes.byref(method), holder, None)
