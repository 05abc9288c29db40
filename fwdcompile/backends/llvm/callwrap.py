"""CPython calling wrappers generated in LLVM IR (no C compiler, no ctypes per call).

Contract: for a kernel returning one value and one tangent from scalar
arguments,

- :func:`wrapper_ir` adds ``PyObject* <name>_py(self, args, nargs)`` with
  METH_FASTCALL semantics: it checks the argument count, converts each
  argument with ``PyFloat_AsDouble``/``PyLong_AsLongLong``/``PyObject_IsTrue``
  (propagating their errors), calls the kernel, raises ``ZeroDivisionError``
  when the kernel flagged an integer division by zero, and returns the tuple
  ``(value, tangent)``;
- :func:`entry_ir` adds ``PyObject* <name>_entry(self, args, nargs, kwnames)``
  with METH_FASTCALL|METH_KEYWORDS semantics, shaped like
  ``f.jvp(x, y, tangents=(dx, dy))``: when every argument and tangent is
  exactly a ``float`` it calls the kernel directly; any other call is passed
  unchanged (same ``args``, same ``kwnames``) to ``self[0]``, the general
  Python ``jvp``, so its checks and error messages stay the only ones.

:func:`as_builtin` turns a wrapper's address into a Python builtin whose
``__self__`` keeps the compiled code alive.  The exact-type checks read
``ob_type`` at its CPython offset; :data:`LAYOUT_OK`, checked at import,
says whether that layout holds in this interpreter (when it does not, only
the plain wrapper is used).  CPython symbols are resolved by MCJIT from the
running interpreter and checked before use (see jit.py).
"""

from __future__ import annotations

import ctypes
import sys

from llvmlite import ir

F64, I64, I32, I8P = ir.DoubleType(), ir.IntType(64), ir.IntType(32), ir.IntType(8).as_pointer()
METH_FASTCALL, METH_KEYWORDS = 0x80, 0x02
_OB_TYPE = 8  # offsetof(PyObject, ob_type) in CPython's default build


def _layout_ok():
    try:
        if getattr(sys, "_is_gil_enabled", lambda: True)() is False:
            return False  # free-threaded builds lay out PyObject differently
        ob_type = ctypes.c_void_p.from_address(id(1.5) + _OB_TYPE).value
        tp = ctypes.c_void_p.from_address(id((1,)) + _OB_TYPE).value
        return ob_type == id(float) and tp == id(tuple)
    except (ValueError, OSError):
        return False


LAYOUT_OK = _layout_ok()


class _Builder:
    """Declarations and small pieces shared by the wrappers of one kernel."""

    def __init__(self, module, kernel, fn):
        self.module, self.kernel, self.fn = module, kernel, fn
        self.b = ir.IRBuilder(fn.append_basic_block("entry"))
        self.null = ir.Constant(I8P, None)

    def declare(self, name, ret, params):
        existing = self.module.globals.get(name)
        return existing or ir.Function(self.module, ir.FunctionType(ret, params), name=name)

    def global_object(self, name):
        return self.module.globals.get(name) or ir.GlobalVariable(self.module, I8P, name)

    def cstring(self, text, label):
        data = bytearray(text.encode() + b"\0")
        kind = ir.ArrayType(ir.IntType(8), len(data))
        g = ir.GlobalVariable(self.module, kind, f"{self.fn.name}_{label}")
        g.global_constant = True
        g.initializer = ir.Constant(kind, data)
        return g.bitcast(I8P)

    def raise_block(self, exception, message, label):
        block = self.fn.append_basic_block(label)
        with self.b.goto_block(block):
            setter = self.declare("PyErr_SetString", ir.VoidType(), [I8P, I8P])
            self.b.call(setter, [self.b.load(self.global_object(exception)),
                                 self.cstring(message, label)])
            self.b.ret(self.null)
        return block

    def type_of(self, obj):
        b = self.b
        field = b.gep(obj, [ir.Constant(I64, _OB_TYPE)])
        return b.load(b.bitcast(field, I8P.as_pointer()))

    def call_and_return(self, values, value_is_int):
        """Call the kernel on LLVM values; return ``(value, tangent)`` or raise."""
        b = self.b
        with b.goto_entry_block():
            out = b.alloca(F64, size=ir.Constant(I64, 2), name="out")
            err = b.alloca(I64, name="err")
        b.store(ir.Constant(I64, 0), err)
        b.call(self.kernel, values + [out, err])
        fine = self.fn.append_basic_block("fine")
        b.cbranch(b.icmp_signed("!=", b.load(err), ir.Constant(I64, 0)),
                  self.raise_block("PyExc_ZeroDivisionError",
                                   "integer division or modulo by zero", "zero_div"), fine)
        b.position_at_end(fine)
        from_double = self.declare("PyFloat_FromDouble", I8P, [F64])
        value = b.load(b.gep(out, [ir.Constant(I64, 0)]))
        first = b.call(self.declare("PyLong_FromLongLong", I8P, [I64]),
                       [b.fptosi(value, I64)]) if value_is_int else b.call(from_double, [value])
        second = b.call(from_double, [b.load(b.gep(out, [ir.Constant(I64, 1)]))])
        result = b.call(self.declare("PyTuple_New", I8P, [I64]), [ir.Constant(I64, 2)])
        set_item = self.declare("PyTuple_SetItem", I32, [I8P, I64, I8P])
        b.call(set_item, [result, ir.Constant(I64, 0), first])  # steals the references
        b.call(set_item, [result, ir.Constant(I64, 1), second])
        b.ret(result)


def wrapper_ir(module, kernel, types, value_is_int):
    """Add ``<kernel>_py`` to ``module``; returns its name."""
    fn = ir.Function(module, ir.FunctionType(I8P, [I8P, I8P.as_pointer(), I64]),
                     name=f"{kernel.name}_py")
    w = _Builder(module, kernel, fn)
    b = w.b
    _, args, nargs = fn.args
    fail = fn.append_basic_block("fail")
    count_ok = fn.append_basic_block("count_ok")
    b.cbranch(b.icmp_signed("==", nargs, ir.Constant(I64, len(types))), count_ok,
              w.raise_block("PyExc_TypeError", f"{kernel.name} takes {len(types)} arguments",
                            "bad_count"))
    b.position_at_end(count_ok)
    occurred = w.declare("PyErr_Occurred", I8P, [])
    values = []
    for k, t in enumerate(types):
        item = b.load(b.gep(args, [ir.Constant(I64, k)]))
        if t is float:
            v = b.call(w.declare("PyFloat_AsDouble", F64, [I8P]), [item])
            maybe = b.fcmp_ordered("==", v, ir.Constant(F64, -1.0))
        elif t is int:
            v = b.call(w.declare("PyLong_AsLongLong", I64, [I8P]), [item])
            maybe = b.icmp_signed("==", v, ir.Constant(I64, -1))
        else:
            raw = b.call(w.declare("PyObject_IsTrue", I32, [I8P]), [item])
            maybe = b.icmp_signed("<", raw, ir.Constant(I32, 0))
            v = b.icmp_signed(">", raw, ir.Constant(I32, 0))
        check, ok = fn.append_basic_block(f"check{k}"), fn.append_basic_block(f"ok{k}")
        b.cbranch(maybe, check, ok)
        with b.goto_block(check):
            b.cbranch(b.icmp_unsigned("!=", b.call(occurred, []), w.null), fail, ok)
        b.position_at_end(ok)
        values.append(v)
    w.call_and_return(values, value_is_int)
    with b.goto_block(fail):
        b.ret(w.null)
    return fn.name


def entry_ir(module, kernel, arity, value_is_int):
    """Add ``<kernel>_entry`` (``f.jvp`` for all-float calls) to ``module``;
    returns its name.  The kernel takes ``arity`` floats and ``arity`` tangents."""
    fn = ir.Function(module, ir.FunctionType(I8P, [I8P, I8P.as_pointer(), I64, I8P]),
                     name=f"{kernel.name}_entry")
    w = _Builder(module, kernel, fn)
    b = w.b
    owner, args, nargs, kwnames = fn.args
    general = fn.append_basic_block("general")
    float_type = w.global_object("PyFloat_Type").bitcast(I8P)
    tuple_type = w.global_object("PyTuple_Type").bitcast(I8P)
    tuple_size = w.declare("PyTuple_Size", I64, [I8P])
    tuple_item = w.declare("PyTuple_GetItem", I8P, [I8P, I64])
    as_double = w.declare("PyFloat_AsDouble", F64, [I8P])

    def require(condition, label):
        nxt = fn.append_basic_block(label)
        b.cbranch(condition, nxt, general)
        b.position_at_end(nxt)

    require(b.and_(b.icmp_signed("==", nargs, ir.Constant(I64, arity)),
                   b.icmp_unsigned("!=", kwnames, w.null)), "has_keyword")
    require(b.icmp_signed("==", b.call(tuple_size, [kwnames]), ir.Constant(I64, 1)), "one")
    compare = w.declare("PyUnicode_CompareWithASCIIString", I32, [I8P, I8P])
    name = b.call(tuple_item, [kwnames, ir.Constant(I64, 0)])
    require(b.icmp_signed("==", b.call(compare, [name, w.cstring("tangents", "kw")]),
                          ir.Constant(I32, 0)), "is_tangents")
    tangents = b.load(b.gep(args, [ir.Constant(I64, arity)]))
    require(b.icmp_unsigned("==", w.type_of(tangents), tuple_type), "tuple")
    require(b.icmp_signed("==", b.call(tuple_size, [tangents]), ir.Constant(I64, arity)),
            "sized")
    items = [b.load(b.gep(args, [ir.Constant(I64, k)])) for k in range(arity)]
    items += [b.call(tuple_item, [tangents, ir.Constant(I64, k)]) for k in range(arity)]
    exact = ir.Constant(ir.IntType(1), 1)
    for item in items:
        exact = b.and_(exact, b.icmp_unsigned("==", w.type_of(item), float_type))
    require(exact, "floats")
    w.call_and_return([b.call(as_double, [item]) for item in items], value_is_int)
    with b.goto_block(general):  # anything else: the general jvp, same arguments
        fallback = b.call(tuple_item, [owner, ir.Constant(I64, 0)])
        vectorcall = w.declare("PyObject_Vectorcall", I8P, [I8P, I8P.as_pointer(), I64, I8P])
        b.ret(b.call(vectorcall, [fallback, args, nargs, kwnames]))
    return fn.name


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


_NEW = ctypes.pythonapi.PyCFunction_NewEx
_NEW.restype = ctypes.py_object
_NEW.argtypes = [ctypes.POINTER(_MethodDef), ctypes.py_object, ctypes.py_object]


def as_builtin(name, address, keep_alive, fallback=None, doc=None):
    """A builtin function calling the wrapper at ``address``: METH_FASTCALL,
    or METH_FASTCALL|METH_KEYWORDS with ``fallback`` as ``__self__[0]``."""
    name_bytes = name.encode()
    doc_bytes = doc.encode() if doc else None
    flags = METH_FASTCALL if fallback is None else METH_FASTCALL | METH_KEYWORDS
    method = _MethodDef(name_bytes, address, flags, doc_bytes)
    holder = (fallback, method, name_bytes, doc_bytes, keep_alive)  # owns all of it
    return _NEW(ctypes.byref(method), holder, None)
