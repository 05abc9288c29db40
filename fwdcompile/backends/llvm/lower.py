"""Lower a generated JVP function (scalars, arrays, control flow) to LLVM IR.

Contract: :func:`lower` takes the gast ``FunctionDef`` the Python backend
generated (``f_jvp(args..., d_args...)`` returning ``(value, tangent)``,
each a number, an array or a tuple of them) and the types of its parameters
(``float``, ``int``, ``bool``, or :class:`~.types.ArrayType` for float64,
float32 and int64 arrays of 1 to 4 dimensions), and returns an
``llvmlite.ir.Module`` holding ``void <name>(<args>, double* out, i64* err)``
(plus the helpers it calls, lowered into the same module).  A number argument
is a ``double``, ``i64`` or ``i1``; an array is ``double* data, i64 n0, ...``
(``float*`` for float32), C-contiguous (arrays.py).  Results are written into
``out``: one slot per number, ``2 + 2 ndim`` per array (its memory block,
data pointer, shape and strides: types.kind_slots; jit.py copies it out and
frees the block).  The value part may hold several results and the tangent
part none (``return (a, b), ()``: a region of a function run natively for
its values only).  ``err`` is a bit field (errors.py: integer division by
zero, index out of bounds, shape mismatch, empty reduction, int64 overflow,
zero range step): the kernel sets a bit and leaves by its
single exit, and the caller raises the exception Python would have raised.

This module holds the driver (:class:`_Lowering`: type inference, calls,
storage, statements, scalar expressions); its mixins lower arrays
(arrays.py), array types (array_types.py), elementwise expressions
(elementwise.py), reductions (reductions.py), gathers and masks
(selections.py), numpy's dtypes (promotion.py) and lists (lists.py).  Calls are resolved by the
object they reach in the generated function's namespace (catalogue.py),
never by their spelling; runtime helpers lower as declared in
fwdcompile/runtime (``@lowered_natively``): by hand-written IR, or, for those
with a number twin (``_rt.pow_dx``, ``_rt.pow_dy``), by lowering the twin's
own expression (:meth:`_Lowering.inline_number`).  Outside float/int/bool
names fold as constants read at compile time.  Anything else raises
:class:`LoweringError` naming the construct; the API turns that into a
located ``UnsupportedSyntax`` or falls back to Python.  Semantics that differ
from Python are documented in docs/native-backend.md: a ``math`` domain
error gives NaN instead of raising, and float division by zero gives
inf/NaN as in numpy.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import textwrap

import gast
from llvmlite import ir

from .array_types import ArrayTyping
from .arrays import Arr, ArrayLowering
from .elementwise import ElementwiseLowering
from .reductions import ReductionLowering
from .selections import SelectionLowering
from .promotion import Promotion
from .lists import ListLowering
from .catalogue import BUILTIN, MISSING, Namespace, Native, lookup, root_name, spelling, \
    constant_value, unknown_callee
from ...syntax import trees
from .numpy_names import REDUCTION_METHODS, constant_int
from .temporaries import inlinable_temporaries
from .errors import OVERFLOW, ZERO_DIVISION, ZERO_STEP, LoweringError
from .types import F32P, F64, F64P, I1, I64, I64P, VOID, ArrayType, kind_rank, kind_slots, ll

# math operations (catalogue.py names): name -> LLVM intrinsic, or libm symbol -> arity.
# Intrinsics wherever LLVM has one (the trigonometric and hyperbolic ones since
# LLVM 19-20): they lower to the same libm calls, but a bare libm call keeps a loop
# scalar, and vecmath.py tags the calls with their libmvec vector versions
_INTRINSICS = {name: f"llvm.{name}" for name in (
    "sqrt", "exp", "log", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh",
    "cosh", "tanh", "floor", "ceil", "trunc", "log2", "log10", "pow", "copysign", "exp2")}
_INTRINSICS["fabs"] = "llvm.fabs"
_BINARY = ("pow", "copysign", "atan2")
_LIBM = {"asinh": 1, "acosh": 1, "atanh": 1, "expm1": 1, "log1p": 1, "erf": 1,
         "erfc": 1, "hypot": 2, "fmod": 2, "cbrt": 1}


def kind_type(kind):
    """The type of a returned value of ``kind``: "int", "float", "float32" or
    "float64" (a number numpy holds as a float32 or float64 scalar, told apart
    from a Python float where float32 values are about: promotion.py),
    "array<n>" or "array<n>f32"."""
    if kind.startswith("array"):
        return ArrayType(kind_rank(kind), single=kind.endswith("f32"))
    return int if kind == "int" else float


METHOD = "method"  # call_target of ``v.sum()``: a method of a value the function computes


class _Helper:
    """A helper lowered into the module: its function, parameter types and
    the kinds of the values and tangents it returns."""

    def __init__(self, fn, types, kinds, tangent_kinds):
        self.fn, self.types, self.kinds, self.tangent_kinds = fn, types, kinds, tangent_kinds


class _Lowering(ArrayLowering, ArrayTyping, ElementwiseLowering, ReductionLowering,
                SelectionLowering, Promotion, ListLowering):
    def __init__(self, fdef, arg_types, helpers=None, module=None, cache=None, name=None,
                 boundscheck=True, constants=None, namespace=None, blas=False):
        """``name`` set: a helper, whose array parameters arrive as whole views
        (block, data, shape, strides) instead of a contiguous buffer.
        ``namespace``: where the function's other names lead (catalogue.py);
        ``helpers``: id(generated helper function) -> (that function, its
        FunctionDef, its Namespace)."""
        self.fdef = fdef
        self.boundscheck = boundscheck
        self.blas = blas  # matrix products refused: they run through numpy (regions.py)
        self.constants = constants or {}  # parameters known to be these integers
        self.helpers = helpers or {}
        self.namespace = namespace or Namespace()
        self.targets = {}  # id(call) -> (call, what it calls), see call_target
        self.inlined_numbers = []  # expressions lowered from the runtime (inline_number)
        self.scan_sites = {}  # hidden array variable (scan.<k>, ...) -> the expression it holds
        self.cache = cache if cache is not None else {}  # (helper, types) -> lowered helper
        self.module = module or ir.Module(name=f"fwdcompile_{fdef.name}")
        params = [a.id for a in fdef.args.args + fdef.args.kwonlyargs]
        self.params = params  # defaults are applied by the caller, before the native call
        # the function's own variables; every other name is resolved in the namespace
        self.local_names = set(params) | {n.id for n in gast.walk(fdef)
                                          if isinstance(n, gast.Name)
                                          and not isinstance(n.ctx, gast.Load)}
        self.types = dict(zip(params, arg_types))
        self.known_types = None
        self.infer_types()
        self.known_types = {}  # id(node) -> (node, type), once every variable's type is fixed
        self.inlined = inlinable_temporaries(fdef, self.types, self)  # name -> its Assign
        self.is_helper = name is not None
        ll_args = []
        given = dict(zip(params, arg_types))
        for p in params:
            t = self.types[p]
            if isinstance(t, ArrayType):
                ll_args += self.array_abi(t)
            else:  # the caller's type (an int parameter the body makes a float is stored converted)
                ll_args.append(self.ll(given[p]))
        ll_args += [F64P, I64P]
        self.fn = ir.Function(self.module, ir.FunctionType(VOID, ll_args),
                              name=name or fdef.name)
        self.out, self.err = self.fn.args[-2], self.fn.args[-1]
        self.builder = ir.IRBuilder(self.fn.append_basic_block("entry"))
        self.exit = self.fn.append_basic_block("exit")  # every return and error leaves here
        self.slots = {}
        llargs = list(self.fn.args)
        for p in params:
            t = self.types[p]
            if isinstance(t, ArrayType):
                k = len(self.array_abi(t))
                self.array_param(p, t, llargs[:k])
                del llargs[:k]
            else:
                self.store(p, llargs.pop(0))
        self.loops = []  # (continue block, break block)
        self.out_size = None
        self.value_kinds = None  # "int", "float", "float32", "array<n>[f32]" per value
        self.tangent_kinds = None  # the same per returned tangent

    # ------------------------------------------------------------ types
    ll = staticmethod(ll)

    def infer_types(self):
        """One type per variable: int unless some assignment makes it float;
        with them numbers' numpy dtypes, on which arrays' dtypes depend (promotion.py)."""
        changed = True
        while changed:
            changed = False
            for node in gast.walk(self.fdef):
                targets, value = None, None
                if isinstance(node, gast.Assign):
                    targets, value = node.targets, node.value
                elif isinstance(node, gast.AugAssign):
                    targets, value = [node.target], node
                elif isinstance(node, gast.For):
                    targets, value = [node.target], None
                if targets is None:
                    continue
                for target in targets:
                    pairs = self.iteration_types(node) if isinstance(node, gast.For) else None
                    for name, t in pairs if pairs is not None else \
                            self.target_types(target, value):
                        old = self.types.get(name)
                        new = t if old is None else self.join(old, t)
                        if new != old:
                            self.types[name] = new
                            changed = True
            if not changed:  # arrays' dtypes depend on numbers' (promotion.py)
                changed = self.settle_number_dtypes()

    def target_types(self, target, value):
        if isinstance(target, gast.Name):
            if value is None:
                return [(target.id, int)]  # a range loop counter
            if isinstance(value, gast.AugAssign):
                return [(target.id, self.join(self.types.get(target.id, int),
                                              self.expr_type(value.value)))]
            return [(target.id, self.expr_type(value))]
        if isinstance(target, gast.Tuple) and isinstance(value, gast.Tuple) \
                and len(value.elts) == len(target.elts):
            return [pair for t, v in zip(target.elts, value.elts)
                    for pair in self.target_types(t, v)]
        if isinstance(target, gast.Subscript):
            return []  # a write into an array
        if isinstance(target, gast.Tuple) and isinstance(value, gast.Attribute) \
                and value.attr == "shape":
            return [(t.id, int) for t in target.elts if isinstance(t, gast.Name)]
        if isinstance(target, gast.Tuple) and self.is_helper_call(value):
            lowered = self.helper(value)
            names = self.joint_targets(target, len(lowered.kinds))
            types = [kind_type(k) for k in lowered.kinds + lowered.tangent_kinds]
            return [(n, t) for n, t in zip(names, types) if n is not None]
        if isinstance(target, gast.Name) or target is None:
            return []
        raise LoweringError("only assignments to names (or tuples of names from tuples) "
                            "lower to native code", target)

    # ------------------------------------------------------------ what calls call
    def call_target(self, node):
        """What the call ``node`` calls: a catalogue entry (:class:`Native`),
        :data:`METHOD` for a method of a value the function computes, or the
        generated helper function.  Resolved by object in the namespace the
        generated function runs in; anything else raises LoweringError."""
        found = self.targets.get(id(node))
        if found is None:
            found = self.targets[id(node)] = (node, self.find_target(node))
        return found[1]

    def find_target(self, node):
        if self.method_receiver(node) is not None:
            return METHOD
        func = node.func
        root = root_name(func)
        if root is None:
            raise LoweringError("calls through expressions do not lower", node)
        if root in self.local_names:
            raise LoweringError(f"calling `{spelling(func)}`, a variable of the function, "
                                "does not lower", node)
        obj = self.namespace.resolve(func)
        if obj is MISSING:
            raise LoweringError(f"`{spelling(func)}` is not defined where the function runs",
                                node)
        if isinstance(func, gast.Name) and self.helper_unit(obj) is not None:
            return obj
        entry = lookup(obj)
        if entry is None:
            raise unknown_callee(func, obj, node)
        return entry

    def call_name(self, node, strict=True):
        """The catalogue's name of the operation ``node`` calls (``"exp"`` for
        ``math.exp`` and ``np.exp``), the attribute for a method of a computed
        value, None for a generated helper; with ``strict=False`` also None
        for calls that do not lower (instead of raising)."""
        try:
            target = self.call_target(node)
        except LoweringError:
            if strict:
                raise
            return None
        if target is METHOD:
            return node.func.attr
        return target.name if isinstance(target, Native) else None

    def helper_unit(self, obj):
        """(function, FunctionDef, Namespace) when ``obj`` is a generated helper."""
        found = self.helpers.get(id(obj))
        return found if found is not None and found[0] is obj else None

    # ------------------------------------------------------------ helper calls
    def is_helper_call(self, node):
        if not (isinstance(node, gast.Call) and isinstance(node.func, gast.Name)) \
                or node.func.id in self.local_names:
            return False
        return self.helper_unit(self.namespace.lookup(node.func.id)) is not None

    def helper_target(self, call):
        return self.helper_unit(self.namespace.lookup(call.func.id))

    def helper_arguments(self, call):
        """The call's argument nodes in the helper's parameter order."""
        fdef = self.helper_target(call)[1]
        params = [a.id for a in fdef.args.args + fdef.args.kwonlyargs]
        bound = dict(zip(params, call.args))
        bound.update({k.arg: k.value for k in call.keywords})
        positional = [a.id for a in fdef.args.args]
        defaults = dict(zip(positional[len(positional) - len(fdef.args.defaults):],
                            fdef.args.defaults))
        defaults.update({a.id: d for a, d in zip(fdef.args.kwonlyargs, fdef.args.kw_defaults)
                         if d is not None})
        for p in params:  # constant defaults (numbers, axes) are filled in
            if p not in bound and trees.constant_value(defaults.get(p)) is not None:
                bound[p] = defaults[p]
        missing = [p for p in params if p not in bound]
        if missing:
            raise LoweringError(f"a call leaving {missing} to defaults does not lower", call)
        return [bound[p] for p in params]

    def helper(self, call):
        """The lowered helper (a :class:`_Helper`) for a call, per argument types."""
        args = self.helper_arguments(call)
        types = tuple(self.expr_type(a) for a in args)
        if any(getattr(t, "listed", False) for t in types):
            raise LoweringError("passing a list to a function does not lower", call)
        fn, fdef, namespace = self.helper_target(call)
        params = [a.id for a in fdef.args.args + fdef.args.kwonlyargs]
        # integer constants passed (axes, sizes) are known inside: one specialisation each
        constants = tuple((p, constant_int(a)) for p, a in zip(params, args)
                          if constant_int(a) is not None)
        key = (id(fn), types, constants)
        if key not in self.cache:
            self.cache[key] = None  # being lowered (recursion is rejected earlier anyway)
            with _attributed(fn):
                sub = _Lowering(fdef, types, self.helpers, self.module,
                                self.cache, name=f"{fdef.name}__{len(self.cache)}",
                                boundscheck=self.boundscheck, constants=dict(constants),
                                namespace=namespace, blas=self.blas)
                _, _, kinds, tangent_kinds = sub.run()
            self.cache[key] = _Helper(sub.fn, types, kinds, tangent_kinds)
        if self.cache[key] is None:
            raise LoweringError("recursive helpers do not lower", call)
        return self.cache[key]

    def call_helper(self, target, call):
        """``v, d_v = helper(...)``: arrays go in as views (a temporary for an
        expression), come back with one reference each for their new holder."""
        lowered = self.helper(call)
        b = self.builder
        values, temporaries = [], []
        for node, t in zip(self.helper_arguments(call), lowered.types):
            if isinstance(t, ArrayType):
                arr = self.tuple_item(node)
                if not isinstance(node, (gast.Name, gast.Subscript, gast.Attribute)):
                    self.incref(arr.owner)  # a fresh temporary: ours until the call returns
                    temporaries.append(arr)
                values += self.view_arguments(arr)
            else:
                values.append(self.convert(self.expr(node), t))
        kinds = lowered.kinds + lowered.tangent_kinds
        size = sum(kind_slots(k) for k in kinds)
        with b.goto_entry_block():
            out = b.alloca(F64, size=ir.Constant(I64, size))
        b.call(lowered.fn, values + [out, self.err])
        for arr in temporaries:
            self.decref(arr.owner)
        # an index, shape or empty-reduction error inside: leave now, as Python would
        self.fail_if(b.icmp_unsigned(">", b.load(self.err), ir.Constant(I64, 1)), 0)
        names = self.joint_targets(target, len(lowered.kinds))
        slot = 0
        for name, kind in zip(names, kinds):
            if kind.startswith("array"):
                arr = self.returned_array(out, slot, kind_type(kind))
                if name is None:
                    self.decref(arr.owner)
                else:
                    self.store_array(name, arr, acquired=True)
            elif name is not None:
                self.store(name, b.load(b.gep(out, [ir.Constant(I64, slot)])))
            slot += kind_slots(kind)

    @staticmethod
    def joint_targets(target, n):
        """Names bound by ``v, d_v = helper(...)`` or ``(a, b), (d_a, d_b) = ...``;
        None for `_` and for targets that are not names."""
        parts = target.elts
        if len(parts) != 2:
            raise LoweringError("a helper call must be unpacked into (value, tangent)", target)
        out = []
        for part in parts:
            leaves = part.elts if isinstance(part, gast.Tuple) else [part]
            if len(leaves) != n:
                raise LoweringError("this unpacking of a helper's result does not lower", target)
            for leaf in leaves:
                if not isinstance(leaf, gast.Name):
                    raise LoweringError("this unpacking of a helper's result does not lower",
                                        target)
                out.append(None if leaf.id == "_" else leaf.id)
        return out

    @staticmethod
    def join(a, b):
        if isinstance(a, ArrayType) or isinstance(b, ArrayType):
            if isinstance(a, ArrayType) and isinstance(b, ArrayType) and a.ndim == b.ndim \
                    and a.floating and b.floating and a != b and not (a.listed or b.listed):
                # float32, then float64 once promoted
                return ArrayType(a.ndim, single=a.single and b.single)
            if a != b:
                raise LoweringError(f"a variable holding both {a!r} and {b!r} does not lower")
            return a
        if a is float or b is float:
            return float
        if a is int or b is int:
            return int
        return bool

    def expr_type(self, node):
        if self.known_types is None:  # still inferring: variables' types may change
            return self.infer_expr_type(node)
        entry = self.known_types.get(id(node))
        if entry is None:
            entry = self.known_types[id(node)] = (node, self.infer_expr_type(node))
        return entry[1]

    def infer_expr_type(self, node):
        t = self.array_expr_type(node)
        if t is not None:
            return t
        if isinstance(node, gast.Constant):
            if isinstance(node.value, bool):
                return bool
            if isinstance(node.value, int):
                return int
            if isinstance(node.value, float):
                return float
            raise LoweringError(f"the constant {node.value!r} does not lower", node)
        if isinstance(node, gast.Name):
            if node.id not in self.local_names:
                return type(self.folded_constant(node))
            return self.types.get(node.id, int)
        if isinstance(node, gast.Attribute) and root_name(node) is not None \
                and root_name(node) not in self.local_names:
            return type(self.folded_constant(node))
        if isinstance(node, gast.BinOp):
            left, right = self.expr_type(node.left), self.expr_type(node.right)
            if isinstance(node.op, (gast.Div,)) or isinstance(node.op, gast.Pow) and (
                    left is float or right is float):
                return float
            if isinstance(node.op, gast.Pow):
                return float  # int ** negative int is a float in Python
            return self.join(self.join(left, right), int)
        if isinstance(node, gast.UnaryOp):
            if isinstance(node.op, gast.Not):
                return bool
            return self.join(self.expr_type(node.operand), int)
        if isinstance(node, gast.Compare):
            return bool
        if isinstance(node, gast.BoolOp):  # the value of the operand that decides
            t = bool
            for v in node.values:
                t = self.join(t, self.expr_type(v))
            return t
        if isinstance(node, gast.IfExp):
            return self.join(self.expr_type(node.body), self.expr_type(node.orelse))
        if isinstance(node, gast.Call):
            if self.is_helper_call(node):
                return float  # a helper's result is unpacked (expr_Call refuses it here)
            target = self.call_target(node)
            if target is METHOD:
                return float  # of an array: array_expr_type answered; of a number: refused
            name = target.name
            if name in ("int", "len") or target.returns_int:
                return int
            if name in ("abs", "min", "max"):
                t = int
                for a in node.args:
                    t = self.join(t, self.expr_type(a))
                return t
            return float
        raise LoweringError(f"`{type(node).__name__}` does not lower to native code", node)

    # ------------------------------------------------------------ storage
    def slot(self, name):
        if isinstance(self.types[name], ArrayType):
            raise LoweringError(f"the array `{name}` is used where a number is expected")
        if name not in self.slots:
            with self.builder.goto_entry_block():
                self.slots[name] = self.builder.alloca(self.ll(self.types[name]), name=name)
        return self.slots[name]

    def store(self, name, value):
        self.builder.store(self.convert(value, self.types[name]), self.slot(name))

    def convert(self, value, t):
        b = self.builder
        if value.type == self.ll(t):
            return value
        if t is float:
            return b.sitofp(value, F64) if value.type == I64 else b.uitofp(value, F64)
        if t is int:
            if value.type == I1:
                return b.zext(value, I64)
            # int(x) of a float beyond 2**63 (or NaN) is no int64: flag it
            outside = b.fcmp_unordered(">=", self.call_math("fabs", [value]),
                                       ir.Constant(F64, 2.0 ** 63))
            self.flag(outside, OVERFLOW)
            return b.fptosi(b.select(outside, ir.Constant(F64, 0.0), value), I64)
        if t is bool:
            if value.type == F64:
                return b.fcmp_unordered("!=", value, ir.Constant(F64, 0.0))  # NaN is true
            return b.icmp_signed("!=", value, ir.Constant(value.type, 0))
        raise LoweringError("unsupported conversion")

    # ------------------------------------------------------------ statements
    def run(self):
        self.block(self.fdef.body)
        if not self.builder.block.is_terminated:
            raise LoweringError("the function can end without returning a value", self.fdef)
        self.builder.position_at_end(self.exit)
        self.release_arrays()
        self.builder.ret_void()
        return self.module, self.out_size, self.value_kinds, self.tangent_kinds

    def block(self, stmts):
        for stmt in stmts:
            if self.builder.block.is_terminated:
                return
            method = getattr(self, "stmt_" + type(stmt).__name__, None)
            if method is None:
                raise LoweringError(f"`{type(stmt).__name__}` statements do not lower", stmt)
            method(stmt)

    def stmt_Expr(self, stmt):
        if isinstance(stmt.value, gast.Constant):
            return  # a docstring or a stray constant
        if self.is_append(stmt.value):
            self.append(stmt.value)
            return
        raise LoweringError("expression statements (calls for their effects) do not lower",
                            stmt)

    def stmt_Delete(self, stmt):
        """``del a, d_a`` (the release stage): values the Python backend frees
        early; a kernel's locals need nothing."""

    def stmt_Pass(self, stmt):
        pass

    def stmt_FunctionDef(self, stmt):
        pass  # a helper defined inside: its JVP is lowered where it is called

    def stmt_Assign(self, stmt):
        if len(stmt.targets) != 1:
            raise LoweringError("chained assignment does not lower", stmt)
        target, value = stmt.targets[0], stmt.value
        if isinstance(target, gast.Name) and self.inlined.get(target.id) is stmt:
            return  # recomputed where it is used (temporaries.py)
        if isinstance(target, gast.Name) and isinstance(self.types[target.id], ArrayType):
            self.assign_array(target.id, value)
        elif isinstance(target, gast.Name) and self.types[target.id] is float \
                and isinstance(value, gast.BinOp) and isinstance(value.op, (gast.Add, gast.Sub)) \
                and isinstance(value.left, gast.Name) and value.left.id == target.id:
            self.accumulate(target.id, value.op, value.right)  # s = s + x
        elif isinstance(target, gast.Name):
            self.store(target.id, self.expr(value))
        elif isinstance(target, gast.Subscript):
            self.assign_subscript(target, value)
        elif isinstance(target, gast.Tuple) and isinstance(value, gast.Attribute) \
                and value.attr == "shape":
            arr = self.array_value(value.value)
            if len(target.elts) != arr.ndim:
                raise LoweringError("unpacking a shape into the wrong number of names", stmt)
            for t, n in zip(target.elts, arr.shape):
                self.store(t.id, n)
        elif isinstance(target, gast.Tuple) and self.is_helper_call(value):
            self.call_helper(target, value)
        elif isinstance(target, gast.Tuple) and isinstance(value, gast.Tuple):
            values = [self.tuple_item(v) for v in value.elts]  # all read before any write
            for v in values:
                if isinstance(v, Arr):
                    self.incref(v.owner)
            for t, v in zip(target.elts, values):
                if not isinstance(t, gast.Name):
                    raise LoweringError("nested tuple targets do not lower", t)
                if isinstance(v, Arr):
                    self.store_array(t.id, v, acquired=True)
                else:
                    self.store(t.id, v)
        else:
            raise LoweringError("this assignment does not lower (arrays and tuples of "
                                "values are not in the native subset yet)", stmt)

    def tuple_item(self, node):
        t = self.expr_type(node)
        if not isinstance(t, ArrayType):
            return self.expr(node)
        if t.listed:
            raise LoweringError("a list passed on, returned or put in a tuple does not lower "
                                "(it would have two names)", node)
        if isinstance(node, (gast.Name, gast.Subscript, gast.Attribute)):
            return self.array_value(node)
        made = self.make_array(node)  # the zero tangent of an inactive array returned
        if made is not None:
            return made
        return self.materialize(self.lazy(node), t.single)  # in its own dtype


    def stmt_AugAssign(self, stmt):
        if isinstance(stmt.target, gast.Subscript):
            self.assign_subscript(stmt.target, stmt.value, stmt.op)
            return
        if isinstance(self.types.get(stmt.target.id), ArrayType):  # in place, as numpy does
            load = gast.Name(id=stmt.target.id, ctx=gast.Load(), annotation=None,
                             type_comment=None)
            self.write_into(self.load_array(stmt.target.id),
                            self.lazy(gast.BinOp(left=load, op=stmt.op, right=stmt.value)), stmt)
            return
        name = stmt.target.id
        if self.types[name] is float and isinstance(stmt.op, (gast.Add, gast.Sub)):
            self.accumulate(name, stmt.op, stmt.value)
            return
        load = gast.Name(id=name, ctx=gast.Load(), annotation=None, type_comment=None)
        self.store(name, self.expr(gast.BinOp(left=load, op=stmt.op, right=stmt.value)))

    def accumulate(self, name, op, value):
        """``s += x`` on a float: a sum LLVM may reassociate, so that loops
        accumulating into ``s`` vectorize (documented: last-bit differences
        from Python's left-to-right order, as with numpy's pairwise sums)."""
        b = self.builder
        x = self.convert(self.expr(value), float)
        s = b.load(self.slot(name))
        combine = b.fadd if isinstance(op, gast.Add) else b.fsub
        self.store(name, combine(s, x, flags=("reassoc", "contract")))

    def stmt_Return(self, stmt):
        value = stmt.value
        if not (isinstance(value, gast.Tuple) and len(value.elts) == 2):
            raise LoweringError("the generated function must return (value, tangent)", stmt)
        leaves = []
        for part in value.elts:
            items = part.elts if isinstance(part, gast.Tuple) else [part]
            leaves.extend(items)
        if self.out_size is None:
            self.out_size = (len(value.elts[0].elts) if isinstance(value.elts[0], gast.Tuple)
                             else None)
        elif self.out_size != (len(value.elts[0].elts) if isinstance(value.elts[0], gast.Tuple)
                               else None):
            raise LoweringError("return statements of different shapes do not lower", stmt)
        values = value.elts[0].elts if isinstance(value.elts[0], gast.Tuple) else [value.elts[0]]
        kinds = [self.kind(v) for v in values]
        tangent_kinds = [self.kind(v) for v in leaves[len(values):]]
        if self.value_kinds is None:
            self.value_kinds, self.tangent_kinds = kinds, tangent_kinds
        elif self.value_kinds != kinds or self.tangent_kinds != tangent_kinds:
            if any(k.startswith("array") for k in
                   kinds + tangent_kinds + self.value_kinds + self.tangent_kinds):
                raise LoweringError("returns mixing arrays and numbers do not lower", stmt)
            if "float32" in kinds + tangent_kinds + self.value_kinds + self.tangent_kinds:
                raise LoweringError("returns mixing float32 and other numbers do not lower",
                                    stmt)
            self.value_kinds = ["float"] * len(kinds)  # returns disagree: floats, like numpy
        slot = 0
        for leaf in leaves:
            if self.kind(leaf).startswith("array"):
                arr = self.tuple_item(leaf)
                if (arr.data.type == F32P) != self.kind(leaf).endswith("f32"):
                    raise LoweringError("an array returned in another dtype than its type "
                                        "(a lowering gap)", leaf)
                self.return_array(arr, slot)
            else:
                v = self.convert(self.expr(leaf), float)
                self.builder.store(v, self.builder.gep(self.out, [ir.Constant(I64, slot)]))
            slot += kind_slots(self.kind(leaf))
        self.builder.branch(self.exit)

    def kind(self, node):
        t = self.expr_type(node)
        if isinstance(t, ArrayType):
            if not t.floating:
                raise LoweringError(f"returning a {t.dtype} array does not lower", node)
            # every rank an array can have here (1 to MAX_RANK) is returned, float32
            # ones as float32 (jit._copy_out reads the kind's dtype)
            return f"array{t.ndim}" + ("f32" if t.single else "")
        if t in (int, bool):
            return "int"
        dtype = self.number_dtype(node)
        if dtype == "float32" or dtype == "float64" and self.has_float32():
            return dtype  # numpy scalars that promote (promotion.py)
        return "float"


    def stmt_If(self, stmt):
        b = self.builder
        then, other, after = (self.fn.append_basic_block(n) for n in ("then", "else", "endif"))
        b.cbranch(self.truth(stmt.test), then, other)
        reached = False
        for block, body in ((then, stmt.body), (other, stmt.orelse)):
            b.position_at_end(block)
            self.block(body)
            if not b.block.is_terminated:
                b.branch(after)
                reached = True
        b.position_at_end(after)
        if not reached:  # every branch returned: nothing follows the if
            b.unreachable()

    def stmt_While(self, stmt):
        b = self.builder
        head, body, after = (self.fn.append_basic_block(n) for n in ("while", "body", "endwhile"))
        b.branch(head)
        b.position_at_end(head)
        b.cbranch(self.truth(stmt.test), body, after)
        b.position_at_end(body)
        self.loops.append((head, after))
        self.block(stmt.body)
        self.loops.pop()
        if not b.block.is_terminated:
            b.branch(head)
        b.position_at_end(after)

    def stmt_For(self, stmt):
        it = stmt.iter
        over_arrays = self.array_iteration(stmt)
        if over_arrays is not None:
            length, bind = over_arrays
            self.counted_loop(ir.Constant(I64, 0), length, ir.Constant(I64, 1), bind,
                              stmt.body)
            return
        if not (isinstance(it, gast.Call) and self.call_name(it) == "range"
                and isinstance(stmt.target, gast.Name) and 1 <= len(it.args) <= 3):
            raise LoweringError("only `for name in range(...)` loops lower", stmt)
        args = [self.convert(self.expr(a), int) for a in it.args]
        start, stop, step = (ir.Constant(I64, 0), args[0], ir.Constant(I64, 1)) \
            if len(args) == 1 else (args[0], args[1], args[2] if len(args) == 3
                                    else ir.Constant(I64, 1))
        self.counted_loop(start, stop, step, lambda i: self.store(stmt.target.id, i),
                          stmt.body)

    def counted_loop(self, start, stop, step, bind, body_stmts):
        b = self.builder
        if not (isinstance(step, ir.Constant) and step.constant):  # range(a, b, 0) raises
            self.fail_if(b.icmp_signed("==", step, ir.Constant(I64, 0)), ZERO_STEP)
        with b.goto_entry_block():
            counter = b.alloca(I64, name="range_i")
        b.store(start, counter)
        head, body, step_block, after = (self.fn.append_basic_block(n)
                                         for n in ("for", "forbody", "forstep", "endfor"))
        b.branch(head)
        b.position_at_end(head)
        i = b.load(counter)
        positive = b.icmp_signed(">", step, ir.Constant(I64, 0))
        going = b.select(positive, b.icmp_signed("<", i, stop), b.icmp_signed(">", i, stop))
        b.cbranch(going, body, after)
        b.position_at_end(body)
        bind(i)
        self.loops.append((step_block, after))
        self.block(body_stmts)
        self.loops.pop()
        if not b.block.is_terminated:
            b.branch(step_block)
        b.position_at_end(step_block)
        b.store(b.add(b.load(counter), step), counter)
        b.branch(head)
        b.position_at_end(after)

    def stmt_Break(self, stmt):
        self.builder.branch(self.loops[-1][1])

    def stmt_Continue(self, stmt):
        self.builder.branch(self.loops[-1][0])

    # ------------------------------------------------------------ expressions
    def truth(self, node):
        return self.convert(self.expr(node), bool)

    def expr(self, node):
        method = getattr(self, "expr_" + type(node).__name__, None)
        if method is None:
            raise LoweringError(f"`{type(node).__name__}` does not lower to native code", node)
        return method(node)

    def expr_Constant(self, node):
        t = self.expr_type(node)
        return ir.Constant(self.ll(t), node.value)

    def folded_constant(self, node):
        """The value of a name (or ``a.b``) that is not one of the function's
        variables: a float, int or bool read now, when the kernel is compiled
        (catalogue.constant_value), else LoweringError."""
        value = self.namespace.resolve(node)
        if value is MISSING:
            raise LoweringError(f"`{spelling(node)}` is not defined where the function runs",
                                node)
        folded = constant_value(value)
        if folded is None:
            raise LoweringError(f"`{spelling(node)}` is a {type(value).__name__}: only float, "
                                "int and bool values from outside the function fold into "
                                "native code (arrays and objects do not)", node)
        return folded

    def folded(self, node):
        value = self.folded_constant(node)
        return ir.Constant(self.ll(type(value)), value)

    def expr_Name(self, node):
        if node.id not in self.local_names:
            return self.folded(node)
        if node.id not in self.types:
            raise LoweringError(f"the name `{node.id}` is not a local scalar", node)
        return self.builder.load(self.slot(node.id))

    def expr_BinOp(self, node):
        if isinstance(self.expr_type(node), ArrayType):
            raise LoweringError("an array is used where a number is expected", node)
        if isinstance(node.op, gast.MatMult):  # vector @ vector
            return self.reduce("dot", [node.left, node.right], node)
        return self.binop(node.op, self.expr(node.left), self.expr(node.right),
                          self.expr_type(node), node)

    def float_binop(self, op, left, right, node):
        return self.binop(op, left, right, float, node)

    def binop(self, op, left, right, t, node):
        b = self.builder
        logical = {gast.BitAnd: b.and_, gast.BitOr: b.or_, gast.BitXor: b.xor}.get(type(op))
        if logical is not None and left.type == right.type == I1:  # masks: a & b
            return logical(left, right)
        if isinstance(op, gast.Pow):
            n = getattr(right, "constant", None) if isinstance(right, ir.Constant) else None
            if n is None and isinstance(node, gast.BinOp):  # arrays: the exponent arrives
                n = trees.constant_value(node.right)  # converted, no longer an ir.Constant
            if type(n) in (int, float) and n in (2, 3, 4, -2, -3, -4):
                return self.small_power(self.convert(left, float), int(n))
            return self.call_math("pow", [self.convert(left, float), self.convert(right, float)])
        if t is float or isinstance(op, gast.Div):
            x, y = self.convert(left, float), self.convert(right, float)
            if isinstance(op, gast.Add):
                return b.fadd(x, y)
            if isinstance(op, gast.Sub):
                return b.fsub(x, y)
            if isinstance(op, gast.Mult):
                return b.fmul(x, y)
            if isinstance(op, gast.Div):
                return b.fdiv(x, y)
            if isinstance(op, (gast.FloorDiv, gast.Mod)):
                return self.float_divmod(x, y)[0 if isinstance(op, gast.FloorDiv) else 1]
        else:
            x, y = self.convert(left, int), self.convert(right, int)
            checked = {gast.Add: b.sadd_with_overflow, gast.Sub: b.ssub_with_overflow,
                       gast.Mult: b.smul_with_overflow}.get(type(op))
            if checked is not None:  # Python's ints do not wrap: flag it (OverflowError)
                pair = checked(x, y)
                self.flag(b.extract_value(pair, 1), OVERFLOW)
                return b.extract_value(pair, 0)
            if isinstance(op, (gast.FloorDiv, gast.Mod)):
                # x // 0 is ZeroDivisionError in Python and undefined in LLVM: flag
                # it (the caller raises) and divide by 1 instead
                zero = b.icmp_signed("==", y, ir.Constant(I64, 0))
                self.flag(zero, ZERO_DIVISION)
                y = b.select(zero, ir.Constant(I64, 1), y)
                q = b.sdiv(x, y)
                r = b.srem(x, y)
                fix = b.and_(b.icmp_signed("!=", r, ir.Constant(I64, 0)),
                             b.icmp_signed("!=", b.icmp_signed("<", r, ir.Constant(I64, 0)),
                                           b.icmp_signed("<", y, ir.Constant(I64, 0))))
                if isinstance(op, gast.FloorDiv):
                    return b.select(fix, b.sub(q, ir.Constant(I64, 1)), q)
                return b.select(fix, b.add(r, y), r)
        raise LoweringError(f"the operator {type(op).__name__} does not lower", node)

    def small_power(self, x, n):
        """``x ** n`` for a constant integer ``2 <= |n| <= 4`` by multiplication
        (a libm ``pow`` call costs ~14 ns and stops the loop vectorizing): exact
        for ``n = 2`` (numpy squares too), within an ulp or two otherwise."""
        b = self.builder
        square = b.fmul(x, x)
        power = {2: square, 3: b.fmul(square, x), 4: b.fmul(square, square)}[abs(n)]
        return power if n > 0 else b.fdiv(ir.Constant(F64, 1.0), power)

    def flag(self, condition, bit):
        """Set ``bit`` in *err when ``condition`` holds, and go on: the caller
        raises once the kernel returns (the values computed meanwhile are
        thrown away)."""
        b = self.builder
        b.store(b.or_(b.load(self.err), b.select(condition, ir.Constant(I64, bit),
                                                 ir.Constant(I64, 0))), self.err)

    def float_divmod(self, x, y):
        """``(x // y, x % y)`` for floats, computed as CPython's float_divmod
        does (fmod, then the divisor's sign, then a rounded quotient): exact
        where ``x - y * floor(x / y)`` is not (``7.3 % 0.1``, ``5.0 % inf``)."""
        b = self.builder
        zero, one, half = (ir.Constant(F64, v) for v in (0.0, 1.0, 0.5))
        mod = self.call_math("fmod", [x, y])
        div = b.fdiv(b.fsub(x, mod), y)
        nonzero = b.fcmp_unordered("!=", mod, zero)
        flip = b.and_(nonzero, b.xor(b.fcmp_ordered("<", y, zero),
                                     b.fcmp_ordered("<", mod, zero)))
        mod = b.select(flip, b.fadd(mod, y), mod)
        div = b.select(flip, b.fsub(div, one), div)
        mod = b.select(nonzero, mod, self.call_math("copysign", [zero, y]))
        floor = self.call_math("floor", [div])
        floor = b.select(b.fcmp_ordered(">", b.fsub(div, floor), half),
                         b.fadd(floor, one), floor)
        quotient = b.select(b.fcmp_unordered("!=", div, zero), floor,
                            self.call_math("copysign", [zero, b.fdiv(x, y)]))
        return quotient, mod

    def expr_UnaryOp(self, node):
        value = self.expr(node.operand)
        if isinstance(node.op, gast.Not):
            return self.builder.not_(self.convert(value, bool))
        if isinstance(node.op, gast.UAdd):
            return value
        if isinstance(node.op, gast.USub):
            return self.builder.fneg(value) if value.type == F64 else self.builder.neg(value)
        raise LoweringError("`~` does not lower", node)

    def expr_Compare(self, node):
        if isinstance(self.expr_type(node), ArrayType):
            raise LoweringError("an array of comparisons is used where a bool is expected", node)
        b = self.builder
        left = self.expr(node.left)
        if len(node.ops) == 1:
            return self.compare_values(node.ops[0], left, self.expr(node.comparators[0]), node)
        # a < b < c: c is evaluated only when a < b holds, as in Python
        with b.goto_entry_block():
            result = b.alloca(I1, name="chain")
        after = self.fn.append_basic_block("chain.end")
        for k, (op, comparator) in enumerate(zip(node.ops, node.comparators)):
            right = self.expr(comparator)
            cmp = self.compare_values(op, left, right, node)
            b.store(cmp, result)
            if k == len(node.ops) - 1:
                b.branch(after)
            else:
                nxt = self.fn.append_basic_block("chain.next")
                b.cbranch(cmp, nxt, after)
                b.position_at_end(nxt)
            left = right
        b.position_at_end(after)
        return b.load(result)

    def compare_values(self, op, left, right, node):
        b = self.builder
        symbol = {gast.Lt: "<", gast.LtE: "<=", gast.Gt: ">", gast.GtE: ">=",
                  gast.Eq: "==", gast.NotEq: "!="}.get(type(op))
        if symbol is None:
            raise LoweringError(f"the comparison {type(op).__name__} does not lower", node)
        if left.type == F64 or right.type == F64:
            x, y = self.convert(left, float), self.convert(right, float)
            return b.fcmp_unordered(symbol, x, y) if symbol == "!=" else \
                b.fcmp_ordered(symbol, x, y)
        return b.icmp_signed(symbol, self.convert(left, int), self.convert(right, int))

    def expr_Subscript(self, node):
        base = node.value
        if isinstance(base, gast.Attribute) and base.attr == "shape":
            arr = self.array_value(base.value)
            k = node.slice
            if not (isinstance(k, gast.Constant) and isinstance(k.value, int)
                    and -arr.ndim <= k.value < arr.ndim):
                raise LoweringError("`.shape[k]` lowers for a constant k within the rank",
                                    node)
            return arr.shape[k.value]
        where = self.subscript(node)
        if isinstance(where, Arr):
            raise LoweringError("an array is used where a number is expected", node)
        return self.load_element(where, self.expr_type(node) is int)

    def expr_Attribute(self, node):
        if root_name(node) is not None and root_name(node) not in self.local_names:
            return self.folded(node)  # math.pi, a module's constant
        arr = self.array_value(node.value)
        if node.attr == "size":
            return self.size_of(arr.shape)
        if node.attr == "ndim":
            return ir.Constant(I64, arr.ndim)
        raise LoweringError(f"`.{node.attr}` does not lower here", node)

    def expr_BoolOp(self, node):
        """``a and b`` / ``a or b`` as Python runs them: short-circuit (``i < n
        and x[i] > 0`` never reads ``x[n]``), the value of the deciding operand."""
        b = self.builder
        t = self.expr_type(node)
        with b.goto_entry_block():
            result = b.alloca(self.ll(t), name="boolop")
        after = self.fn.append_basic_block("boolop.end")
        for k, operand in enumerate(node.values):
            value = self.expr(operand)
            b.store(self.convert(value, t), result)
            if k == len(node.values) - 1:
                b.branch(after)
                break
            decided = self.convert(value, bool)
            if isinstance(node.op, gast.And):
                decided = b.not_(decided)
            nxt = self.fn.append_basic_block("boolop.next")
            b.cbranch(decided, after, nxt)
            b.position_at_end(nxt)
        b.position_at_end(after)
        return b.load(result)

    def expr_IfExp(self, node):
        t = self.expr_type(node)
        b = self.builder
        then, other, after = (self.fn.append_basic_block(n) for n in ("ifx", "elsex", "endifx"))
        b.cbranch(self.truth(node.test), then, other)
        b.position_at_end(then)
        x = self.convert(self.expr(node.body), t)
        then_end = b.block
        b.branch(after)
        b.position_at_end(other)
        y = self.convert(self.expr(node.orelse), t)
        other_end = b.block
        b.branch(after)
        b.position_at_end(after)
        phi = b.phi(self.ll(t))
        phi.add_incoming(x, then_end)
        phi.add_incoming(y, other_end)
        return phi

    def expr_Call(self, node):
        receiver = self.method_receiver(node)
        if receiver is not None:
            if not isinstance(self.expr_type(receiver), ArrayType):
                raise LoweringError(f"the method `.{node.func.attr}()` of a number does not "
                                    "lower", node)
            if node.func.attr not in REDUCTION_METHODS:
                raise LoweringError(f"the array method `.{node.func.attr}()` does not lower "
                                    "here", node)
            if isinstance(self.expr_type(node), ArrayType):
                raise LoweringError("an array is used where a number is expected", node)
            return self.reduce(node.func.attr, [receiver], node)
        if self.is_helper_call(node):
            raise LoweringError("a helper's result must be unpacked into (value, tangent)", node)
        target = self.call_target(node)
        name = target.name
        if name == "broadcast":  # _rt.broadcast(d, z) of a scalar: d itself
            if isinstance(self.expr_type(node), ArrayType):  # arrays go through elementwise.py
                raise LoweringError(f"`{spelling(node.func)}` of an array does not lower", node)
            return self.convert(self.expr(node.args[0]), float)
        if any(isinstance(self.expr_type(a), ArrayType) for a in node.args):
            if isinstance(self.expr_type(node), ArrayType):
                raise LoweringError("an array is used where a number is expected", node)
            if name == "len":
                return self.array_value(node.args[0]).shape[0]
            return self.reduce(name, node.args, node)
        if node.keywords:
            raise LoweringError("keyword arguments do not lower", node)
        args = [self.expr(a) for a in node.args]
        if target.number is not None:  # _rt.pow_dx: the runtime's own expression
            return self.convert(self.inline_number(target.number, args, node),
                                self.expr_type(node))
        b = self.builder
        if name == "float":
            return self.convert(args[0], float)
        if name == "zeros_like" and len(args) == 1:  # a scalar's zero tangent
            return ir.Constant(F64, 0.0)
        if name == "copy" and len(args) == 1:  # scalars are values: nothing to copy
            return args[0]
        if name == "int":
            return self.convert(args[0], int)
        if name in ("abs", "fabs", "sign") and len(args) == 1:
            x = args[0]
            if name == "sign":
                x = self.convert(x, float)
                pos = b.uitofp(b.fcmp_ordered(">", x, ir.Constant(F64, 0.0)), F64)
                neg = b.uitofp(b.fcmp_ordered("<", x, ir.Constant(F64, 0.0)), F64)
                return b.fsub(pos, neg)
            if x.type == F64 or name == "fabs":
                return self.call_math("fabs", [self.convert(x, float)])
            return b.select(b.icmp_signed("<", x, ir.Constant(I64, 0)), b.neg(x), x)
        if name in ("min", "max") and target.origin == BUILTIN and len(args) >= 2:
            t = self.expr_type(node)
            out = self.convert(args[0], t)
            for a in args[1:]:
                a = self.convert(a, t)
                symbol = ">" if name == "max" else "<"
                better = b.fcmp_ordered(symbol, a, out) if t is float else \
                    b.icmp_signed(symbol, a, out)
                out = b.select(better, a, out)
            return out
        if target.returns_int and len(args) == 1:  # math.floor/ceil/trunc return ints
            return self.convert(self.call_math(name, [self.convert(args[0], float)]), int)
        if name in _INTRINSICS or name in _LIBM:
            return self.call_math(name, [self.convert(a, float) for a in args])
        raise LoweringError(f"the call to `{spelling(node.func)}` does not lower to native "
                            "code", node)

    def inline_number(self, fn, args, node):
        """The value of ``fn(*args)`` for a runtime helper's number twin ``fn``
        (runtime/lowered.py: one ``return <expression>``), lowered from its
        source: each argument, already computed, is bound to a fresh local
        named ``<fn>.<parameter>`` (no user name has a dot), and the other
        names of the expression resolve where ``fn`` is defined."""
        params, expression = _number_expression(fn)
        if len(args) != len(params):
            raise LoweringError(f"`{spelling(node.func)}` with {len(args)} arguments does not "
                                "lower", node)
        names = {p: f"{fn.__name__}.{p}.{len(self.inlined_numbers)}" for p in params}
        for p, value in zip(params, args):
            self.types[names[p]] = {F64: float, I64: int, I1: bool}[value.type]
            self.store(names[p], value)
        self.local_names |= set(names.values())
        body = copy.deepcopy(expression)  # fresh nodes: types and targets are kept per node
        for n in gast.walk(body):
            if isinstance(n, gast.Name) and n.id in names:
                n.id = names[n.id]
        self.inlined_numbers.append(body)  # alive as long as the caches keyed by id(node)
        outer, self.namespace = self.namespace, Namespace.of(fn)
        try:
            return self.expr(body)
        finally:
            self.namespace = outer

    def call_math(self, name, args):
        arity = 2 if name in _BINARY else _LIBM.get(name, 1)
        if len(args) != arity:
            if name == "log" and len(args) == 2:  # math.log(x, base)
                return self.builder.fdiv(self.call_math("log", args[:1]),
                                         self.call_math("log", args[1:]))
            raise LoweringError(f"`{name}` with {len(args)} arguments does not lower")
        if name in _INTRINSICS:
            fn = self.module.declare_intrinsic(_INTRINSICS[name], [F64],
                                               ir.FunctionType(F64, [F64] * arity))
        else:
            fn = self.module.globals.get(name) or ir.Function(
                self.module, ir.FunctionType(F64, [F64] * len(args)), name=name)
        return self.builder.call(fn, args)


@functools.lru_cache(maxsize=None)
def _number_expression(fn):
    """(parameter names, the gast expression ``fn`` returns) for a number twin."""
    try:
        fdef = gast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
    except (OSError, TypeError) as exc:  # installed without its sources
        raise LoweringError(f"the source of {fn.__name__} is not available") from exc
    body = [stmt for stmt in fdef.body
            if not (isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Constant))]
    if len(body) != 1 or not isinstance(body[0], gast.Return) or body[0].value is None:
        raise LoweringError(f"{fn.__name__} is not one `return <expression>`")
    return tuple(a.id for a in fdef.args.args), body[0].value


def lower(fdef, arg_types, helpers=None, boundscheck=True, namespace=None, label=None,
          blas=False):
    """(module, number of values or None for a scalar, "int"/"float" per value).
    ``namespace`` (a catalogue.Namespace) is where the generated function
    runs: every call and outside name is resolved there, by object.
    ``helpers`` maps id(generated helper JVP) to ``(function, FunctionDef,
    Namespace)``; the helpers called are lowered into the same module.  A
    LoweringError's ``function`` is ``label`` (default: ``fdef.name``) or
    the helper function it comes from.  ``blas``: refuse matrix products
    (region lowering runs them in numpy instead)."""
    with _attributed(fdef.name if label is None else label):
        return _Lowering(fdef, arg_types, helpers, boundscheck=boundscheck,
                         namespace=namespace, blas=blas).run()


@contextlib.contextmanager
def _attributed(function):
    """Name the generated function a LoweringError raised inside comes from."""
    try:
        yield
    except LoweringError as exc:
        if exc.function is None:
            exc.function = function
        raise
