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
  ``f.jvp(x, y, tangents=(dx, dy))``: it binds positional and keyword
  arguments, fills scalar defaults, and when every value has the kernel's
  type (floats, numpy scalars, ints, arrays: see the function) it calls the
  kernel directly; any other call is passed unchanged (same ``args``, same
  ``kwnames``) to ``self[0]``, the general Python ``jvp``
  (``fwdcompile.calling``), so its checks and error messages stay the only
  ones.  Results holding arrays are built in the entry too (results.py).
  The same entry without keywords or tangents, taking exactly the kernel's
  arguments by position, is what the glue of region lowering calls
  (regions.py) and what ``native.BySize`` calls its whole kernel through.

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

from . import results
from .errors import MESSAGES
from .types import F64, I32, I64, I8P, data_pointer

METH_FASTCALL, METH_KEYWORDS = 0x80, 0x02
_OB_TYPE = 8  # offsetof(PyObject, ob_type) in CPython's default build
_OB_FVAL = 16  # offsetof(PyFloatObject, ob_fval) (checked by _layout_ok)
_INTERNED: dict = {}  # keyword names the entries compare by address, kept alive here


def _interned(name):
    return _INTERNED.setdefault(name, sys.intern(name))


def _layout_ok():
    try:
        if getattr(sys, "_is_gil_enabled", lambda: True)() is False:
            return False  # free-threaded builds lay out PyObject differently
        ob_type = ctypes.c_void_p.from_address(id(1.5) + _OB_TYPE).value
        tp = ctypes.c_void_p.from_address(id((1,)) + _OB_TYPE).value
        value = ctypes.c_double.from_address(id(1.5) + _OB_FVAL).value
        return ob_type == id(float) and tp == id(tuple) and value == 1.5
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

    def raise_block(self, exception, message, label, drop=None):
        block = self.fn.append_basic_block(label)
        with self.b.goto_block(block):
            if drop is not None:  # a result built already: release it
                self.b.call(self.declare("Py_DecRef", ir.VoidType(), [I8P]), [drop])
            setter = self.declare("PyErr_SetString", ir.VoidType(), [I8P, I8P])
            self.b.call(setter, [self.b.load(self.global_object(exception)),
                                 self.cstring(message, label)])
            self.b.ret(self.null)
        return block

    def type_of(self, obj):
        b = self.b
        field = b.gep(obj, [ir.Constant(I64, _OB_TYPE)])
        return b.load(b.bitcast(field, I8P.as_pointer()))

    def call_and_return(self, values, value_is_int, slots=None, owner=None, layout=None):
        """Call the kernel on LLVM values; return ``(value, tangent)`` or raise.
        With ``slots`` (the size of the kernel's out buffer), the result is
        built from the buffer as ``layout`` (results.Layout) says: in native
        code when results.emit can, else in Python by ``owner[1]``
        (Kernel.assemble) from the buffer's address."""
        b = self.b
        with b.goto_entry_block():
            out = b.alloca(F64, size=ir.Constant(I64, slots or 2), name="out")
            err = b.alloca(I64, name="err")
        b.store(ir.Constant(I64, 0), err)
        if slots is not None:
            # zeroed: a kernel leaving on an error writes no (or only some) returned
            # arrays, and Kernel.assemble reads every slot to release what was handed
            # over; a zero slot is "no block, no elements", never a stale pointer
            for k in range(slots):
                b.store(ir.Constant(F64, 0.0), b.gep(out, [ir.Constant(I64, k)]))
        b.call(self.kernel, values + [out, err])
        assembled = None
        if slots is not None:  # first: arrays handed over are released even on error
            if layout is not None and results.AVAILABLE and layout.supported():
                python = self.fn.append_basic_block("assemble_in_python")
                results.emit(self, out, err, layout, python)
                b.position_at_end(python)
            tuple_item = self.declare("PyTuple_GetItem", I8P, [I8P, I64])
            assemble = b.call(tuple_item, [owner, ir.Constant(I64, 1)])
            address = b.call(self.declare("PyLong_FromVoidPtr", I8P, [I8P]),
                             [b.bitcast(out, I8P)])
            assembled = b.call(self.declare("PyObject_CallOneArg", I8P, [I8P, I8P]),
                               [assemble, address])
            b.call(self.declare("Py_DecRef", ir.VoidType(), [I8P]), [address])
            failed = self.fn.append_basic_block("assemble_failed")
            ok = self.fn.append_basic_block("assembled")
            b.cbranch(b.icmp_unsigned("==", assembled, self.null), failed, ok)
            with b.goto_block(failed):
                b.ret(self.null)
            b.position_at_end(ok)
        for bit, (kind, message) in MESSAGES.items():  # the lowest bit set is raised
            fine = self.fn.append_basic_block(f"no_error_{bit}")
            flagged = b.icmp_unsigned("!=", b.and_(b.load(err), ir.Constant(I64, bit)),
                                      ir.Constant(I64, 0))
            b.cbranch(flagged, self.raise_block(f"PyExc_{kind.__name__}", message,
                                                f"error_{bit}", drop=assembled), fine)
            b.position_at_end(fine)
        if assembled is not None:
            b.ret(assembled)
            return
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


def entry_ir(module, kernel, spec, value_is_int, slots=None, layout=None):
    """Add ``<kernel>_entry``, ``f.jvp(*args, tangents=(...))`` as a builtin, to
    ``module``; returns its name.  ``spec`` is ``(plan, binding, number of
    tangents)``; a number of tangents of None makes an entry taking exactly
    the kernel's arguments, by position (a region's: regions.py).  ``plan``
    says, for each kernel argument in order,
    ``(source, position, type)``: ``source`` is ``"arg"`` (the parameter at
    index position) or ``"tangent"`` (the position-th tangent, whose primal
    is the parameter at index ``type[1]``), and type is float, int, bool or
    an ArrayType.  ``binding`` (``native.EntryBinding``) says how a call
    binds: each parameter's name and whether it may be passed by position
    and by keyword, the scalar defaults that may fill a parameter left out,
    the parameters that may be passed at all, and the ``wrt`` names (the
    keys of a dict of tangents).

    The entry binds positional and keyword arguments and ``tangents`` (a
    tuple, a list, or a dict keyed by the ``wrt`` names) the way Python
    would, then checks every value's type: exact float or a numpy float
    scalar for a float, exact int or a numpy integer scalar for an int
    (fitting in 64 bits), exact bool; exactly a C-contiguous, aligned
    float64 or int64 ndarray of that rank, tangents of their primal's shape;
    a scalar tangent may also be an exact int.  A call that binds otherwise
    or holds anything else goes to ``self[0]``, the general ``jvp``,
    unchanged, so its checks and error messages stay the only ones.  With
    ``slots`` the result (holding arrays) is built from the kernel's out
    buffer as ``layout`` says (see :meth:`_Builder.call_and_return`)."""
    plan, binding, n_tangents = spec
    params = binding.params
    n = len(params)
    n_positional = sum(1 for _, positional, _ in params if positional)
    fn = ir.Function(module, ir.FunctionType(I8P, [I8P, I8P.as_pointer(), I64, I8P]),
                     name=f"{kernel.name}_entry")
    w = _Builder(module, kernel, fn)
    b = w.b
    owner, args, nargs, kwnames = fn.args
    general = fn.append_basic_block("general")
    tuple_size = w.declare("PyTuple_Size", I64, [I8P])
    tuple_item = w.declare("PyTuple_GetItem", I8P, [I8P, I64])
    occurred = w.declare("PyErr_Occurred", I8P, [])
    clear = w.declare("PyErr_Clear", ir.VoidType(), [])
    types = {name: w.global_object(name).bitcast(I8P)
             for name in ("PyFloat_Type", "PyLong_Type", "PyBool_Type", "PyTuple_Type",
                          "PyList_Type", "PyDict_Type")}
    ndarray = ir.Constant(I64, NDARRAY_TYPE).inttoptr(I8P) if NDARRAY_TYPE else None

    def constant_type(address):
        return ir.Constant(I64, address).inttoptr(I8P)

    float_types = [types["PyFloat_Type"]] + [constant_type(a) for a in NUMPY_FLOATS]
    int_types = [types["PyLong_Type"]] + [constant_type(a) for a in NUMPY_INTS]

    def i64(value):
        return ir.Constant(I64, value)

    def require(condition, label):
        nxt = fn.append_basic_block(label)
        b.cbranch(condition, nxt, general)
        b.position_at_end(nxt)

    def field(obj, offset, kind):
        return b.load(b.bitcast(b.gep(obj, [i64(offset)]), kind.as_pointer()))

    def one_of(kind, candidates):
        same = b.icmp_unsigned("==", kind, candidates[0])
        for c in candidates[1:]:
            same = b.or_(same, b.icmp_unsigned("==", kind, c))
        return same

    def no_error(failed_value, label):
        """After a conversion returning ``failed_value`` on error: an error
        (cleared) sends the call to the general path, which raises it."""
        suspect = fn.append_basic_block(f"{label}_suspect")
        fine = fn.append_basic_block(f"{label}_fine")
        b.cbranch(failed_value, suspect, fine)
        with b.goto_block(suspect):
            errored = fn.append_basic_block(f"{label}_errored")
            b.cbranch(b.icmp_unsigned("!=", b.call(occurred, []), w.null), errored, fine)
            with b.goto_block(errored):
                b.call(clear, [])
                b.branch(general)
        b.position_at_end(fine)

    def bind_call():
        """Bind positional and keyword arguments and read the tangents."""
        counter = b.alloca(I64, name="kw")
        require(b.icmp_signed("<=", nargs, i64(n_positional)), "few_enough")
        for i in range(n_positional):
            given, after = fn.append_basic_block(f"given{i}"), fn.append_basic_block(f"after{i}")
            b.cbranch(b.icmp_signed("<", i64(i), nargs), given, after)
            with b.goto_block(given):
                b.store(b.load(b.gep(args, [i64(i)])), b.gep(slot, [i64(i)]))
                b.branch(after)
            b.position_at_end(after)
        kw_start, kw_head = fn.append_basic_block("kw_start"), fn.append_basic_block("kw_head")
        kw_body, kw_done = fn.append_basic_block("kw_body"), fn.append_basic_block("kw_done")
        b.cbranch(b.icmp_unsigned("!=", kwnames, w.null), kw_start, kw_done)
        b.position_at_end(kw_start)
        n_kw = b.call(tuple_size, [kwnames])
        b.store(i64(0), counter)
        b.branch(kw_head)
        b.position_at_end(kw_head)
        j = b.load(counter)
        b.cbranch(b.icmp_signed("<", j, n_kw), kw_body, kw_done)
        b.position_at_end(kw_body)
        name = b.call(tuple_item, [kwnames, j])
        value = b.load(b.gep(args, [b.add(nargs, j)]))
        compare = w.declare("PyUnicode_CompareWithASCIIString", I32, [I8P, I8P])
        # `tangents` first: every call passes it by keyword
        candidates = [(n, "tangents")]
        candidates += [(i, pname) for i, (pname, _, keyword) in enumerate(params) if keyword]
        matches = {}
        for i, _ in candidates:
            matches[i] = fn.append_basic_block(f"kw_is_{i}")
            with b.goto_block(matches[i]):
                target = b.gep(slot, [i64(i)])
                require(b.icmp_unsigned("==", b.load(target), w.null), f"kw_once_{i}")
                b.store(value, target)
                b.store(b.add(j, i64(1)), counter)
                b.branch(kw_head)
        # keyword names written in the caller's source are interned strings: one
        # pointer compare each; any other str equal to a name is compared as text
        for i, pname in candidates:
            other = fn.append_basic_block(f"kw_not_same_{i}")
            b.cbranch(b.icmp_unsigned("==", name, constant_type(id(_interned(pname)))),
                      matches[i], other)
            b.position_at_end(other)
        for i, pname in candidates:
            other = fn.append_basic_block(f"kw_not_{i}")
            b.cbranch(b.icmp_signed("==", b.call(compare, [name, w.cstring(pname, f"name{i}")]),
                                    ir.Constant(I32, 0)), matches[i], other)
            b.position_at_end(other)
        b.branch(general)  # an unknown keyword (batched=..., a typo): the general path
        b.position_at_end(kw_done)

        # ---- the tangents: a tuple, a list or a dict, of the right size
        tangents = b.load(b.gep(slot, [i64(n)]))
        require(b.icmp_unsigned("!=", tangents, w.null), "has_tangents")
        kind = w.type_of(tangents)
        got = fn.append_basic_block("tangents_read")
        containers = [("PyTuple_Type", "PyTuple_Size", "PyTuple_GetItem"),
                      ("PyList_Type", "PyList_Size", "PyList_GetItem"), ("PyDict_Type", None, None)]
        for tname, size_name, item_name in containers:
            this = fn.append_basic_block(f"is_{tname}")
            other = fn.append_basic_block(f"not_{tname}")
            b.cbranch(b.icmp_unsigned("==", kind, types[tname]), this, other)
            b.position_at_end(this)
            size = w.declare(size_name or "PyDict_Size", I64, [I8P])
            require(b.icmp_signed("==", b.call(size, [tangents]), i64(n_tangents)),
                    f"{tname}_sized")
            for k in range(n_tangents):
                if item_name is not None:
                    item = b.call(w.declare(item_name, I8P, [I8P, I64]), [tangents, i64(k)])
                else:  # by wrt name; a borrowed reference, NULL when absent (no error set)
                    get = w.declare("PyDict_GetItem", I8P, [I8P, I8P])
                    item = b.call(get, [tangents, constant_type(id(binding.keys[k]))])
                    require(b.icmp_unsigned("!=", item, w.null), f"has_key{k}")
                b.store(item, b.gep(titem, [i64(k)]))
            b.branch(got)
            b.position_at_end(other)
        b.branch(general)
        b.position_at_end(got)

    # ---- bind: slot[i] is parameter i's argument (NULL: not passed), slot[n] the tangents
    slot = b.alloca(I8P, size=i64(n + 1), name="slot")
    titem = b.alloca(I8P, size=i64(max(n_tangents or 0, 1)), name="titem")
    for i in range(n + 1):
        b.store(w.null, b.gep(slot, [i64(i)]))
    if n_tangents is None:  # the kernel's own arguments, by position only
        require(b.and_(b.icmp_signed("==", nargs, i64(n)),
                       b.icmp_unsigned("==", kwnames, w.null)), "positional")
        for i in range(n):
            b.store(b.load(b.gep(args, [i64(i)])), b.gep(slot, [i64(i)]))
    else:
        bind_call()

    # ---- every value: its type, then converted for the kernel
    values, dims = [], {}
    for step, (source, position, t) in enumerate(plan):
        default = None
        if source == "arg":
            item = b.load(b.gep(slot, [i64(position)]))
            default = binding.defaults.get(position)
            if position not in binding.passable:
                require(b.icmp_unsigned("==", item, w.null), f"not_passed{step}")
            elif default is None:
                require(b.icmp_unsigned("!=", item, w.null), f"passed{step}")
        else:
            item = b.load(b.gep(titem, [i64(position)]))
            t, primal = t
        if default is not None:  # a scalar left out: its default
            kind_ir = {float: F64, int: I64, bool: ir.IntType(1)}[t]
            with b.goto_entry_block():
                cell = b.alloca(kind_ir)
            b.store(ir.Constant(kind_ir, int(default) if t is not float else float(default)),
                    cell)
            passed, done = fn.append_basic_block(f"passed{step}"), \
                fn.append_basic_block(f"value{step}")
            b.cbranch(b.icmp_unsigned("==", item, w.null), done, passed)
            b.position_at_end(passed)
        if t is float:
            accepted = float_types + ([types["PyLong_Type"]] if source == "tangent" else [])
            item_type = w.type_of(item)
            exact, converted = fn.append_basic_block(f"exact_float{step}"), \
                fn.append_basic_block(f"convert{step}")
            read = fn.append_basic_block(f"float_read{step}")
            b.cbranch(b.icmp_unsigned("==", item_type, types["PyFloat_Type"]), exact, converted)
            b.position_at_end(exact)  # a Python float: its value, read in place
            fval = field(item, _OB_FVAL, F64)
            b.branch(read)
            b.position_at_end(converted)  # a numpy float scalar, an int tangent
            require(one_of(item_type, accepted), f"float{step}")
            as_double = b.call(w.declare("PyFloat_AsDouble", F64, [I8P]), [item])
            no_error(b.fcmp_ordered("==", as_double, ir.Constant(F64, -1.0)), f"float{step}")
            came_from = b.block
            b.branch(read)
            b.position_at_end(read)
            v = b.phi(F64)
            v.add_incoming(fval, exact)
            v.add_incoming(as_double, came_from)
        elif t is bool:
            require(b.icmp_unsigned("==", w.type_of(item), types["PyBool_Type"]), f"bool{step}")
            true = w.global_object("_Py_TrueStruct").bitcast(I8P)
            v = b.icmp_unsigned("==", item, true)
        elif t is int:
            require(one_of(w.type_of(item), int_types), f"int{step}")
            with b.goto_entry_block():
                overflow = b.alloca(I32)
            as_long = w.declare("PyLong_AsLongLongAndOverflow", I64, [I8P, I32.as_pointer()])
            v = b.call(as_long, [item, overflow])
            require(b.icmp_signed("==", b.load(overflow), ir.Constant(I32, 0)), f"fits{step}")
            no_error(b.icmp_signed("==", v, i64(-1)), f"int{step}")
        else:  # an ndarray: exact type, the dtype, the rank, C-contiguous and aligned
            require(b.icmp_unsigned("==", w.type_of(item), ndarray), f"ndarray{step}")
            require(b.icmp_signed("==", field(item, _ND, I32), ir.Constant(I32, t.ndim)),
                    f"rank{step}")
            descr = field(item, _DESCR, I8P)
            type_num = _NPY_INT64 if t.integer else _NPY_FLOAT if t.single else \
                _NPY_BOOL if t.boolean else _NPY_DOUBLE
            require(b.icmp_signed("==", field(descr, _TYPE_NUM, I32),
                                  ir.Constant(I32, type_num)), f"dtype{step}")
            flags = b.and_(field(item, _FLAGS, I32), ir.Constant(I32, _CONTIGUOUS_ALIGNED))
            require(b.icmp_signed("==", flags, ir.Constant(I32, _CONTIGUOUS_ALIGNED)),
                    f"contiguous{step}")
            shape_ptr = field(item, _DIMS, I64.as_pointer())
            shape = [b.load(b.gep(shape_ptr, [i64(k)])) for k in range(t.ndim)]
            if source == "arg":
                dims[position] = shape
            else:  # a tangent has its argument's shape
                same = ir.Constant(ir.IntType(1), 1)
                for d, m in zip(shape, dims[primal]):
                    same = b.and_(same, b.icmp_signed("==", d, m))
                require(same, f"shape{step}")
            values.append(b.bitcast(field(item, _DATA, I8P), data_pointer(t)))
            values.extend(shape)
            continue
        if default is not None:
            b.store(v, cell)
            b.branch(done)
            b.position_at_end(done)
            v = b.load(cell)
        values.append(v)
    w.call_and_return(values, value_is_int, slots, owner, layout)
    with b.goto_block(general):  # anything else: the general jvp, same arguments
        fallback = b.call(tuple_item, [owner, i64(0)])
        vectorcall = w.declare("PyObject_Vectorcall", I8P, [I8P, I8P.as_pointer(), I64, I8P])
        b.ret(b.call(vectorcall, [fallback, args, nargs, kwnames]))
    return fn.name


# numpy's PyArrayObject and PyArray_Descr fields (stable since numpy 1.7, and
# kept by numpy 2 for ABI compatibility); checked at import (NUMPY_LAYOUT_OK)
_DATA, _ND, _DIMS, _DESCR, _FLAGS = 16, 24, 32, 56, 64
_TYPE_NUM = 28
_NPY_DOUBLE = 12
_NPY_FLOAT = 11  # float32
_NPY_INT64 = 7  # NPY_LONG: int64 on LP64 platforms (checked by _numpy_layout)
_NPY_BOOL = 0
_CONTIGUOUS_ALIGNED = 0x0001 | 0x0100  # NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED


def _numpy_layout():
    """``id(numpy.ndarray)`` when the fields above are where numpy keeps them, else 0."""
    try:
        import numpy as np

        def at(obj, offset, kind):
            return kind.from_address(id(obj) + offset).value

        a = np.zeros((3, 5))
        view = a[:, 1]
        dims = ctypes.cast(at(a, _DIMS, ctypes.c_void_p), ctypes.POINTER(ctypes.c_int64))
        ok = (at(a, _DATA, ctypes.c_void_p) == a.ctypes.data and at(a, _ND, ctypes.c_int) == 2
              and (dims[0], dims[1]) == (3, 5)
              and at(a, _DESCR, ctypes.c_void_p) == id(a.dtype)
              and at(a.dtype, _TYPE_NUM, ctypes.c_int) == _NPY_DOUBLE
              and at(np.zeros(2, np.int64).dtype, _TYPE_NUM, ctypes.c_int) == _NPY_INT64
              and at(a, _FLAGS, ctypes.c_int) & _CONTIGUOUS_ALIGNED == _CONTIGUOUS_ALIGNED
              and at(view, _FLAGS, ctypes.c_int) & 0x0001 == 0)
        return id(np.ndarray) if ok and LAYOUT_OK else 0
    except (ValueError, OSError, AttributeError):
        return 0


NDARRAY_TYPE = _numpy_layout()


def _numpy_scalars():
    """Addresses of the numpy scalar types the entry converts like float and int
    (PyFloat_AsDouble and PyLong_AsLongLongAndOverflow call their __float__
    and __index__); empty without the object layout."""
    try:
        import numpy as np
    except ImportError:
        return (), ()
    if not LAYOUT_OK:
        return (), ()
    floats = tuple(id(t) for t in (np.float64, np.float32, np.float16))
    ints = tuple(id(t) for t in (np.int64, np.int32, np.int16, np.int8,
                                 np.uint64, np.uint32, np.uint16, np.uint8))
    return floats, ints


NUMPY_FLOATS, NUMPY_INTS = _numpy_scalars()


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


_NEW = ctypes.pythonapi.PyCFunction_NewEx
_NEW.restype = ctypes.py_object
_NEW.argtypes = [ctypes.POINTER(_MethodDef), ctypes.py_object, ctypes.py_object]


def as_builtin(name, address, keep_alive, fallback=None, doc=None, assemble=None):
    """A builtin function calling the wrapper at ``address``: METH_FASTCALL,
    or METH_FASTCALL|METH_KEYWORDS with ``fallback`` as ``__self__[0]`` and
    ``assemble`` (results holding arrays) as ``__self__[1]``."""
    name_bytes = name.encode()
    doc_bytes = doc.encode() if doc else None
    flags = METH_FASTCALL if fallback is None else METH_FASTCALL | METH_KEYWORDS
    method = _MethodDef(name_bytes, address, flags, doc_bytes)
    holder = (fallback, assemble, method, name_bytes, doc_bytes, keep_alive)  # owns all
    return _NEW(ctypes.byref(method), holder, None)
