"""Region lowering: a generated JVP runs natively where it lowers and in numpy where it does not.

Contract: :class:`HybridKernel` takes a generated JVP that does not lower
whole (a BLAS product, ``np.linalg``, a call the catalogue does not know, a
construct outside the subset) and behaves like a :class:`~.jit.Kernel`:
called with the generated function's arguments, it returns ``(value,
tangent)``.  It partitions the function's statements (:func:`partition`):
maximal runs of statements that may lower become *regions*, each a small
function ``region(live-ins) -> live-outs`` compiled to one native kernel per
argument types at its first call; every other statement (and the control
flow around a region that could not lower whole) stays Python, in a *glue*
function that calls the regions.  Arrays cross a boundary by pointer: a
region reads its C-contiguous inputs in place (a non-contiguous one is
copied; a region that writes into an input it would have to copy runs in
Python instead, so the write is not lost).

Statements a region may hold are decided before any types are known (no
BLAS products, only calls the catalogue knows or generated helpers, no
``return``/``break`` leaving the region).  When a region then fails to lower
for the types it meets, it runs in Python for that call and the statement
that failed is refused: the next call uses a glue with that statement in
Python and the rest of its region still native.  So every function the
Python backend runs also runs here, and results differ from the Python
backend's only by the native backend's documented rounding (reassociated
sums, FMA contraction, libm).

Which statement runs where is :meth:`HybridKernel.placement` (the generated
source, each line marked ``native k`` or ``numpy``), shown by ``f.llvm_ir``
and ``fwdcompile show --backend llvm``.
"""

from __future__ import annotations

import copy
import ctypes
import threading

import gast
import numpy as np

from ...codegen.load import load
from ...syntax.source import to_source
from .catalogue import MISSING, lookup, root_name
from .errors import LoweringError, raise_for
from .schedule import prepare
from .types import ArrayType

# calls that run through numpy's BLAS/LAPACK rather than as scalar loops
_BLAS = tuple(getattr(np, n) for n in ("dot", "matmul", "einsum", "tensordot", "inner",
                                       "outer", "kron", "vdot") if hasattr(np, n))
_STATEMENTS = (gast.Assign, gast.AugAssign, gast.If, gast.For, gast.While, gast.Pass,
               gast.Delete)
_LOOPS = (gast.For, gast.While)


def _key(stmt):
    """A statement's identity across parses of the same generated source
    (statements :func:`prepare` adds share their origin's line: their target
    tells them apart)."""
    target = stmt.targets[0] if isinstance(stmt, gast.Assign) else None
    return (stmt.lineno, stmt.col_offset, type(stmt).__name__,
            target.id if isinstance(target, gast.Name) else "")


def _is_blas(obj):
    if any(obj is b for b in _BLAS):
        return True
    return (getattr(obj, "__module__", None) or "").startswith(("numpy.linalg", "scipy.linalg"))


# ---------------------------------------------------------------- names
def _stores(node):
    """Names a statement (or statements) binds."""
    nodes = node if isinstance(node, list) else [node]
    return {n.id for s in nodes for n in gast.walk(s)
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}


def _loads(node):
    """Names a node needs bound: loads, an augmented target, and deletions
    (a region's Python version deletes only what it was given)."""
    found = set()
    for n in gast.walk(node):
        if isinstance(n, gast.Name) and isinstance(n.ctx, (gast.Load, gast.Del)):
            found.add(n.id)
        elif isinstance(n, gast.AugAssign) and isinstance(n.target, gast.Name):
            found.add(n.target.id)
    return found


def _mutated(stmts):
    """Names whose array a statement may write into (``x[i] = ...``, ``x += ...``,
    or passed to a generated helper, which may write into its arguments)."""
    found = set()
    for s in stmts:
        for n in gast.walk(s):
            if isinstance(n, gast.Call) and isinstance(n.func, gast.Name):
                found.update(a.id for a in n.args if isinstance(a, gast.Name))
                found.update(k.value.id for k in n.keywords if isinstance(k.value, gast.Name))
            targets = n.targets if isinstance(n, gast.Assign) else \
                [n.target] if isinstance(n, gast.AugAssign) else []
            for t in targets:
                if isinstance(t, gast.Name) and isinstance(n, gast.AugAssign):
                    found.add(t.id)  # numpy adds into the array in place
                while isinstance(t, gast.Subscript):
                    t = t.value
                    if isinstance(t, gast.Name):
                        found.add(t.id)
    return found


def _definite(stmt, defined):
    """``defined`` after ``stmt``: the names certainly bound when it completes."""
    if isinstance(stmt, gast.Assign):
        return defined | {n.id for t in stmt.targets for n in gast.walk(t)
                          if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
    if isinstance(stmt, gast.AugAssign):
        return defined
    if isinstance(stmt, gast.Delete):
        return defined - {t.id for t in stmt.targets if isinstance(t, gast.Name)}
    if isinstance(stmt, gast.If):
        return _definite_block(stmt.body, defined) & _definite_block(stmt.orelse, defined)
    return defined  # a loop may run no times


def _definite_block(stmts, defined):
    for s in stmts:
        defined = _definite(s, defined)
    return defined


def _exposed(stmts, defined, local):
    """Locals ``stmts`` may read before binding them, given ``defined`` bound on entry."""
    exposed = set()
    for s in stmts:
        if isinstance(s, gast.If):
            exposed |= _loads(s.test) - defined
            exposed |= _exposed(s.body, defined, local) | _exposed(s.orelse, defined, local)
        elif isinstance(s, gast.For):
            exposed |= _loads(s.iter) - defined
            exposed |= _exposed(s.body, defined | _stores(s.target), local)
        elif isinstance(s, gast.While):
            exposed |= _loads(s.test) - defined
            exposed |= _exposed(s.body, defined, local)
        else:
            exposed |= _loads(s) - defined
        defined = _definite(s, defined)
    return exposed & local


# ---------------------------------------------------------------- candidates
class _Candidates:
    """Which statements may go into a region (decided without types)."""

    def __init__(self, namespace, helpers, refused, local):
        self.namespace, self.helpers, self.refused, self.local = \
            namespace, helpers, refused, local

    def __call__(self, stmt):
        if _key(stmt) in self.refused or not isinstance(stmt, _STATEMENTS):
            return False
        return self.allowed(stmt, isinstance(stmt, _LOOPS))

    def allowed(self, node, in_loop):
        """Whether everything below ``node`` may lower (``in_loop``: a break
        or continue there stays inside the region)."""
        for child in gast.iter_child_nodes(node):
            if isinstance(child, (gast.Break, gast.Continue)):
                if not in_loop:
                    return False
            elif isinstance(child, gast.stmt) and not isinstance(child, _STATEMENTS):
                return False  # return, def, try, with, raise, expression statements
            if isinstance(child, (gast.Lambda, gast.Yield, gast.Starred)):
                return False
            if isinstance(child, gast.BinOp) and isinstance(child.op, gast.MatMult):
                return False  # BLAS, through numpy
            if isinstance(child, gast.Call) and not self.callable(child):
                return False
            if not self.allowed(child, in_loop or isinstance(child, _LOOPS)):
                return False
        return True

    def is_blas(self, node):
        """Whether ``node`` is a matrix product (``@``, ``np.dot``, ``np.linalg``...)."""
        if isinstance(node, gast.BinOp) and isinstance(node.op, gast.MatMult):
            return True
        if not isinstance(node, gast.Call) or root_name(node.func) in self.local:
            return False
        obj = self.namespace.resolve(node.func)
        return obj is not MISSING and _is_blas(obj)

    def is_einsum(self, call):
        obj = self.namespace.resolve(call.func)
        return obj is np.einsum

    def pure(self, node):
        """Whether every call below ``node`` is a catalogue function or a
        product: nothing that could write into an array."""
        for n in gast.walk(node):
            if isinstance(n, gast.Call) and not self.is_blas(n):
                if root_name(n.func) is None or root_name(n.func) in self.local:
                    return False
                obj = self.namespace.resolve(n.func)
                if obj is MISSING or lookup(obj) is None:
                    return False
        return True

    def callable(self, call):
        root = root_name(call.func)
        if root is None:
            return False
        if root in self.local:  # a method of a value the function computes: the lowering decides
            return isinstance(call.func, gast.Attribute)
        obj = self.namespace.resolve(call.func)
        if obj is MISSING or _is_blas(obj):
            return False
        if isinstance(call.func, gast.Name) and id(obj) in self.helpers:
            return True
        return lookup(obj) is not None


# ---------------------------------------------------------------- partition
class RegionSpec:
    """One run of statements lowered together: its live-ins, live-outs, the
    live-ins it releases, and the keys of its statements."""

    def __init__(self, index, stmts, ins, outs, released):
        self.index, self.stmts, self.ins, self.outs, self.released = \
            index, stmts, ins, outs, released
        self.keys = [_key(s) for s in stmts]
        self.lines = set()
        for s in stmts:
            self.lines.update(range(s.lineno, (s.end_lineno or s.lineno) + 1))


def _work(stmts):
    """Whether a run does any computation worth a native call."""
    for s in stmts:
        if isinstance(s, (gast.Pass, gast.Delete)):
            continue
        if isinstance(s, gast.Assign) and isinstance(s.value, (gast.Name, gast.Constant)):
            continue
        return True
    return False


class _Partition:
    def __init__(self, fdef, candidates, local):
        self.fdef, self.candidates, self.local = fdef, candidates, local
        self.regions = []
        self.refuse = set()  # statement keys found unsuitable while partitioning
        # preorder positions: every statement's (first, last) index, every read's index
        self.span, self.reads = {}, []
        self.number(fdef.body)

    def number(self, stmts):
        for s in stmts:
            first = len(self.span)
            self.span[id(s)] = (first, first)
            if isinstance(s, gast.If) or isinstance(s, gast.While):
                heads = [s.test]
            elif isinstance(s, gast.For):
                heads = [s.iter]
            else:
                heads = [s]
            for head in heads:  # a `del` is not a use: it does not keep a value live
                self.reads.extend((name, first) for name in _loads(head)
                                  if not isinstance(s, gast.Delete))
            for field in ("body", "orelse"):
                inner = getattr(s, field, None)
                if isinstance(inner, list):
                    self.number(inner)
            self.span[id(s)] = (first, len(self.span) - 1)

    def live_after(self, stmts, enclosing):
        """Names read after the run, or anywhere in a loop around it."""
        end = max(self.span[id(s)][1] for s in stmts)
        ranges = [self.span[id(loop)] for loop in enclosing]
        return {name for name, at in self.reads
                if at > end or any(lo <= at <= hi for lo, hi in ranges)}

    def block(self, stmts, defined, enclosing):
        """The glue statements for ``stmts`` (``defined``: names bound on entry)."""
        out, run = [], []

        def flush():
            if run:
                out.extend(self.region(list(run), run_defined, enclosing))
                run.clear()

        run_defined = defined
        for s in stmts:
            if self.candidates(s) and _key(s) not in self.refuse:
                if not run:
                    run_defined = defined
                run.append(s)
            else:
                flush()
                out.append(self.descend(s, defined, enclosing))
            defined = _definite(s, defined)
        flush()
        return out

    def descend(self, s, defined, enclosing):
        """A statement kept in Python, with its bodies partitioned."""
        if isinstance(s, gast.If):
            s.body = self.block(s.body, defined, enclosing) or [gast.Pass()]
            s.orelse = self.block(s.orelse, defined, enclosing)
        elif isinstance(s, gast.For):
            s.body = self.block(s.body, defined | _stores(s.target), enclosing + [s]) \
                or [gast.Pass()]
            s.orelse = self.block(s.orelse, defined, enclosing)
        elif isinstance(s, gast.While):
            s.body = self.block(s.body, defined, enclosing + [s]) or [gast.Pass()]
            s.orelse = self.block(s.orelse, defined, enclosing)
        return s

    def region(self, stmts, defined, enclosing):
        """The glue for one run: a call to its region, or (when the run
        cannot be a region as it stands) its statements partitioned again
        with the offending ones refused."""
        if not _work(stmts):
            out = []
            for s in stmts:
                out.append(self.descend(s, defined, enclosing))
                defined = _definite(s, defined)
            return out
        # a run's own `del`s move to the glue, after the call: a region frees its
        # temporaries when it returns, and taking a value in only to drop it costs a pass
        deleted = {t.id for s in stmts if isinstance(s, gast.Delete)
                   for t in s.targets if isinstance(t, gast.Name)}
        stmts = [s for s in stmts if not isinstance(s, gast.Delete)]
        bad = []
        ins = set()
        inner = set()
        for s in stmts:  # each exposed read must be bound when the region starts
            exposed = _exposed([s], inner, self.local) - inner
            if exposed - defined:
                bad.append(s)
            ins |= exposed & defined
            inner = _definite(s, inner)
        written = _stores(stmts) & self.local
        released = sorted(deleted & defined - written)
        outs = written & self.live_after(stmts, enclosing)
        for name in sorted(outs - inner):  # bound on some paths only: needs its old value
            if name in defined:
                ins.add(name)
            else:
                bad.extend(s for s in stmts if name in _stores(s))
        if bad:
            self.refuse.update(_key(s) for s in bad)
            return self.block(stmts, defined, enclosing) + _delete(released)
        spec = RegionSpec(len(self.regions) + 1, stmts, sorted(ins), sorted(outs), released)
        self.regions.append(spec)
        call = gast.Call(func=_name(f"_region_{spec.index}"),
                         args=[_name(n) for n in spec.ins], keywords=[])
        if spec.outs:
            target = gast.Tuple(elts=[_name(n, gast.Store()) for n in spec.outs],
                                ctx=gast.Store())
            glue = [gast.Assign(targets=[target], value=call, type_comment=None)]
        else:
            glue = [gast.Expr(value=call)]
        return glue + _delete(spec.released)


def _delete(names):
    return [gast.Delete(targets=[_name(n, gast.Del()) for n in names])] if names else []


def _name(name, ctx=None):
    return gast.Name(id=name, ctx=ctx or gast.Load(), annotation=None, type_comment=None)


def partition(fdef, candidates, local):
    """``(glue FunctionDef, [RegionSpec])`` for the generated JVP ``fdef``
    (changed in place: pass a fresh parse)."""
    params = {a.id for a in fdef.args.args + fdef.args.kwonlyargs}
    work = _Partition(fdef, candidates, local)
    fdef.body = work.block(fdef.body, params, [])
    # a name a region binds and keeps to itself is never bound in the glue: no `del` there
    hidden = set()
    for spec in work.regions:
        hidden |= (_stores(spec.stmts) & local) - set(spec.outs)
    _drop_deletes(fdef.body, hidden)
    return fdef, work.regions


def _drop_deletes(stmts, hidden):
    for s in list(stmts):
        for field in ("body", "orelse"):
            inner = getattr(s, field, None)
            if isinstance(inner, list):
                _drop_deletes(inner, hidden)
                if field == "body" and not inner:
                    inner.append(gast.Pass())
        if isinstance(s, gast.Delete):
            s.targets = [t for t in s.targets
                         if not (isinstance(t, gast.Name) and t.id in hidden)]
            if not s.targets:
                stmts.remove(s)


# ---------------------------------------------------------------- running
class Region:
    """One region: its Python function, and its native kernel per argument types.

    The glue calls ``fast`` once there is one: the builtin entry generated
    with the last kernel compiled (callwrap.entry_ir, taking the kernel's
    own arguments).  It checks every argument's exact type, C-contiguity and
    alignment in native code, so nothing is copied and a write into an
    argument reaches the caller's array, and builds the results there
    (results.py); any other call falls through to :meth:`general`, which
    picks (or compiles) the kernel for the arguments' types, copies
    non-contiguous inputs, or runs the region in Python."""

    fast = None

    def __init__(self, owner, spec, python, fdef):
        self.owner, self.spec, self.python, self.fdef = owner, spec, python, fdef
        self.kernels = {}  # types -> Kernel, or a reason string for Python
        self.n = len(spec.outs)
        self.mutated = [i for i, name in enumerate(spec.ins) if name in _mutated(spec.stmts)]

    def __call__(self, *args):
        fast = self.fast
        return fast(*args) if fast is not None else self.general(*args)

    def general(self, *args):
        """The region's results for any arguments (the fast entry's fallback)."""
        types = tuple(self.owner.native_type(a) for a in args)
        kernel = self.kernels.get(types)
        if kernel is None:
            kernel = self.kernels[types] = self.compile(types)
        if isinstance(kernel, str):
            return self.python(*args)
        given = args
        args = [np.ascontiguousarray(a) if isinstance(t, ArrayType) else a
                for a, t in zip(args, types)]
        if any(args[i] is not given[i] for i in self.mutated):
            return self.python(*given)  # a copy would not carry the write back
        out = (ctypes.c_double * kernel._slots)()
        err = ctypes.c_int64(0)
        kernel._fn(*kernel._flatten(args), out, ctypes.byref(err))
        leaves = kernel._leaves(out)
        if err.value:
            raise_for(err.value)
        # numpy scalars where numpy's promotion needs their dtype (promotion.py)
        return tuple(np.float32(v) if kind == "float32" else np.float64(v) if kind == "float64"
                     else v for v, kind in zip(leaves[:self.n], kernel._kinds))

    def compile(self, types):
        """The kernel for ``types``, or why this region runs in Python for them."""
        from .callwrap import as_builtin
        from .jit import compile_kernel

        what = [(name, t) for name, t in zip(self.spec.ins, types) if isinstance(t, str)]
        if what:  # the statements reading it run in numpy from the next call on
            self.owner.refuse_readers(self, {name for name, _ in what})
            return f"`{what[0][0]}` is {what[0][1]}"
        single = any(getattr(t, "single", False) for t in types)
        entry = None if single else (  # float32 kernels have no entry (numpy scalars)
            [("arg", i, t) for i, t in enumerate(types)],
            self.owner.positional(self.spec.ins, ()), None)
        try:
            kernel = compile_kernel(copy.deepcopy(self.fdef), types,
                                    helpers=self.owner.helpers,
                                    boundscheck=self.owner.boundscheck, entry=entry,
                                    namespace=self.owner.namespace, label=self.fdef.name,
                                    blas=True, values_only=True)
        except LoweringError as exc:
            self.owner.refine(self, exc)
            return str(exc)
        self.owner.compiled_kernels.append(kernel)
        # the entry builds Python floats: numpy scalars (float32, or float64 where
        # numpy's promotion needs the dtype) come through general()
        if kernel.entry is not None and not {"float32", "float64"} & set(kernel._kinds):
            self.fast = as_builtin("region", kernel.entry, kernel, self.general, None,
                                   kernel.assemble_values)
            self.owner.bind(self)
        return kernel


def _unshared(result, arrays):
    """``result`` with arrays sharing an argument's memory copied, and numpy
    float64 scalars as Python floats (what a kernel returns, whether the
    statement computing it ran natively or, while the partition settles, in
    numpy)."""
    if isinstance(result, tuple):
        return tuple(_unshared(r, arrays) for r in result)
    if type(result) is np.float64:
        return float(result)
    if isinstance(result, np.ndarray) and any(np.may_share_memory(result, a) for a in arrays):
        return result.copy()
    return result


class HybridKernel:
    """A generated JVP run as native regions joined by Python (module doc)."""

    fast = None
    entry = None
    takes_arrays = True

    def __init__(self, compiled, helpers, namespace, boundscheck, reason, native_type,
                 positional):
        """``native_type(value)``: a value's native type, or a string saying why
        it has none; ``positional(names, wrt)``: the binding of a generated
        entry taking ``names`` by position (both from fwdcompile/native.py)."""
        self.compiled, self.helpers, self.namespace = compiled, helpers, namespace
        self.positional = positional
        self.native_type = native_type
        self.boundscheck = boundscheck
        self.reason = reason  # why the function does not lower whole
        self.refused = set()
        self.compiled_kernels = []
        self._regions = {}  # region source -> Region (kept across rebuilds)
        self._lock = threading.Lock()
        self._glue = None
        self.specs = []
        self.glue = None
        self._build()

    def __call__(self, *args):
        glue = self._glue
        if glue is None:
            glue = self._build()
        value, tangent = glue(*args)
        if type(value) is float and type(tangent) is float:  # a loss and its derivative
            return value, tangent
        # like a kernel's, the results are the caller's own: never an argument's memory
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        return _unshared(value, arrays), _unshared(tangent, arrays)

    # ------------------------------------------------------------ building
    def _build(self):
        with self._lock:
            fdef = gast.parse(self.compiled.own_source).body[0]
            # called like a kernel: every parameter by position, defaults already applied
            fdef.args.args += fdef.args.kwonlyargs
            fdef.args.kwonlyargs, fdef.args.kw_defaults, fdef.args.defaults = [], [], []
            local = {a.id for a in fdef.args.args} | _stores(fdef.body)
            candidates = _Candidates(self.namespace, self.helpers, self.refused, local)
            prepare(fdef, candidates, local)
            glue, specs = partition(fdef, candidates, local)
            bindings = dict(self.namespace.cells)
            for spec in specs:
                region = self._region(fdef.name, spec)
                bindings[f"_region_{spec.index}"] = region.fast or region
            self.specs, self.glue = specs, glue
            # a Python loop around regions pays their call overhead every iteration
            self.loops = any(isinstance(n, (gast.For, gast.While)) for n in gast.walk(glue))
            name = fdef.name
            source = to_source(glue)
            self.glue_source = source
            fn = load(source, name, f"<fwdcompile glue {name}>", self.namespace.globals,
                      bindings)
            self._cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))
            self._glue = fn
            return fn

    def bind(self, region):
        """Let the glue call ``region``'s new fast entry directly (no Python in between)."""
        with self._lock:
            if any(spec is region.spec for spec in self.specs):  # it is in this glue
                self._cells[f"_region_{region.spec.index}"].cell_contents = region.fast

    def _region(self, name, spec):
        header = f"def {name}__region{spec.index}({', '.join(spec.ins)}):\n"
        body = "".join("    " + line + "\n" for s in spec.stmts
                       for line in to_source(s).splitlines())
        outs = "".join(f"{n}, " for n in spec.outs)
        text = spec.source = header + body
        region = self._regions.get(text)
        if region is None:
            native = gast.parse(text + f"    return ({outs}), 0.0\n").body[0]
            python = load(text + f"    return ({outs})\n", native.name,
                          f"<fwdcompile region {native.name}>", self.namespace.globals,
                          dict(self.namespace.cells))
            region = self._regions[text] = Region(self, spec, python, native)
        region.spec = spec
        return region

    def refuse_readers(self, region, names):
        """``names`` hold values no kernel takes: refuse the statements reading them."""
        self.refused.update(_key(s) for s in region.spec.stmts if _loads(s) & names)
        self._glue = None

    def refine(self, region, exc):
        """``region`` failed to lower: refuse the statement that failed (or,
        when the error does not point into the region, all of them), so the
        next call partitions around it."""
        stmts = region.spec.stmts
        body = region.fdef.body
        if exc.function == region.fdef.name:
            line = getattr(exc.node, "lineno", None)
            hit = [s for s, b in zip(stmts, body)
                   if line is not None and b.lineno <= line <= (b.end_lineno or b.lineno)]
        else:  # inside a helper: the statements calling helpers
            hit = [s for s in stmts if any(
                isinstance(n, gast.Call) and isinstance(n.func, gast.Name)
                and id(self.namespace.lookup(n.func.id)) in self.helpers for n in gast.walk(s))]
        self.refused.update(_key(s) for s in (hit or stmts))
        self._glue = None

    # ------------------------------------------------------------ reading
    def where(self):
        """Generated line -> where its statement runs: ``native k`` (region
        k), ``numpy``, or both for a statement whose product was hoisted."""
        if self._glue is None:  # a region failed since: show the partition the next call uses
            self._build()
        marks = {}
        for spec in self.specs:
            region = self._regions[spec.source]
            ran = list(region.kernels.values())
            native = not ran or any(not isinstance(k, str) for k in ran)
            for line in spec.lines:
                marks.setdefault(line, []).append(f"native {spec.index}" if native else "numpy")

        def visit(stmts):
            for s in stmts:
                call = s.value if isinstance(s, (gast.Assign, gast.Expr)) else None
                if isinstance(s, gast.Delete) or isinstance(call, gast.Call) and \
                        isinstance(call.func, gast.Name) and call.func.id.startswith("_region_"):
                    continue
                if isinstance(s, gast.Return) and all(
                        isinstance(n, (gast.Name, gast.Constant, gast.Tuple, gast.Load))
                        for n in gast.walk(s.value)):
                    continue  # returns what the regions computed
                if getattr(s, "lineno", None) is not None:
                    marks.setdefault(s.lineno, []).append("numpy")
                for field in ("body", "orelse"):
                    inner = getattr(s, field, None)
                    if isinstance(inner, list):
                        visit(inner)

        visit(self.glue.body)
        return {line: " + ".join(dict.fromkeys(m)) for line, m in marks.items()}

    def numpy_origins(self):
        """``(file, line)`` of the user's statements with work that runs in numpy."""
        found = set()
        for line, mark in self.where().items():
            origin = self.compiled.origins.get(line)
            if "numpy" in mark and origin:
                found.add((origin["filename"], origin["lineno"]))
        return found

    def placement(self):
        """The generated source, each statement marked with where it runs."""
        where = self.where()
        lines = self.compiled.own_source.splitlines()
        width = max(len(line) for line in lines)
        return "\n".join(f"{line.ljust(width)}  | {where[n]}" if n in where else line
                         for n, line in enumerate(lines, 1))

    @property
    def timings(self):
        """Seconds per compilation step, summed over the regions' kernels."""
        total = {}
        for k in self.compiled_kernels:
            for step, seconds in k.timings.items():
                total[step] = total.get(step, 0.0) + seconds
        return total

    @property
    def cache(self):
        answers = {k.cache for k in self.compiled_kernels}
        return answers.pop() if len(answers) == 1 else ", ".join(sorted(answers)) or "off"

    @property
    def llvm_ir(self):
        head = ["; region lowering: this function does not lower whole "
                f"({self.reason}); its statements run where marked:"]
        if not self.compiled_kernels:
            head.append("; (no region has run yet: each compiles at its first call, for the "
                        "types it meets; call f.jvp once to see their IR and the settled "
                        "placement)")
        head += ["; " + line for line in self.placement().splitlines()]
        return "\n".join(head) + "\n" + "\n".join(k.llvm_ir for k in self.compiled_kernels)

    @property
    def asm(self):
        return "\n".join(k.asm for k in self.compiled_kernels)
