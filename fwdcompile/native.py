"""The bridge between the API and the native backend (backends/llvm).

Contract: :func:`compile_native` turns a decorated function, its
differentiated parameters and a native signature into
``(kernel, parameter order, tangent parameter names)``, or a
:class:`Refusal` saying why that signature cannot run natively: an argument
type the backend does not take (a ``TypeError``), or a construct outside the
native subset (an ``UnsupportedSyntax`` located at the user's statement,
with the generated line that could not be lowered).  The helpers below map
Python values and explicit signature entries to native types.
"""

from __future__ import annotations

import copy
import re
import sys

import gast
import numpy as np

from . import pipeline
from .errors import UnsupportedSyntax

_SIGNATURE_NAMES = {"float": float, "float64": float, "int": int, "int64": int, "bool": bool}


class Refusal:
    """Why a signature cannot run on the native backend (remembered per signature)."""

    def __init__(self, kind, message, location=None):
        self.kind, self.message, self.location = kind, message, location or {}

    def error(self, hint):
        """A fresh exception to raise (one per call, so tracebacks do not pile up)."""
        if self.kind is TypeError:
            return TypeError(self.message)
        return UnsupportedSyntax(self.message, **self.location, hint=hint)


def native_type(value):
    """float, int or bool for a scalar, an ArrayType for an array the native
    backend takes (float64, float32, int64 or bool, 1 to 4 dimensions), else a
    description of what the value is."""
    if isinstance(value, (bool, np.bool_)):
        return bool
    if isinstance(value, (int, np.integer)):
        return int
    if isinstance(value, (float, np.floating)):
        return float
    if isinstance(value, np.ndarray):
        from .backends.llvm.types import MAX_RANK, ArrayType
        if value.dtype not in (np.float64, np.float32, np.int64, np.bool_):
            return (f"an array of dtype {value.dtype} (convert it with "
                    "np.asarray(x, dtype=np.float64), or np.int64 for indices)")
        if not 1 <= value.ndim <= MAX_RANK:
            return (f"an array with {value.ndim} dimension(s) (the native backend takes "
                    f"1 to {MAX_RANK})")
        return ArrayType(value.ndim, value.dtype == np.int64, value.dtype == np.float32,
                         value.dtype == np.bool_)
    return f"a {type(value).__name__}"


def region_type(value):
    """:func:`native_type` for a value crossing into a region (regions.py):
    numpy's float32 (or int32, ...) scalars keep their own arithmetic there,
    so they stay in numpy."""
    if isinstance(value, np.generic) and not isinstance(value, (np.float64, np.int64,
                                                                np.bool_)):
        return f"a numpy {value.dtype} scalar"
    return native_type(value)


def scalar_refusal(qualname, params, values, types):
    """A :class:`Refusal` for a numpy scalar passed with float32 arrays (numpy
    promotes ``float32 array * np.float64(c)`` to float64, and keeps
    ``np.float32(c) * 2.0`` a float32: the kernel treats every number as a
    Python number, which numpy 2 does not promote, NEP 50), else None."""
    if not any(getattr(t, "single", False) for t in types):
        return None
    for name in params:
        value = values.get(name)
        if isinstance(value, np.generic) and not isinstance(value, np.bool_):
            return Refusal(TypeError, f"{qualname}: backend='llvm' takes Python numbers "
                                      f"with float32 arrays; argument {name!r} is a numpy "
                                      f"{value.dtype} scalar (pass float({name}) or "
                                      f"int({name}))")
    return None


def signature_type(qualname, name, spec):
    """The native type for one entry of an explicit signature."""
    if spec in (float, int, bool):
        return spec
    if isinstance(spec, str):
        text = spec.replace(" ", "")
        if text in _SIGNATURE_NAMES:
            return _SIGNATURE_NAMES[text]
        from .backends.llvm.types import MAX_RANK, ArrayType
        match = re.fullmatch(r"(float64|float32|int64|bool)\[(:(?:,:)*)\]", text)
        if match and match.group(2).count(":") <= MAX_RANK:
            return ArrayType(match.group(2).count(":"), match.group(1) == "int64",
                             match.group(1) == "float32", match.group(1) == "bool")
    raise TypeError(f"{qualname}: the signature entry for {name!r} is {spec!r}; "
                    "expected float, int, bool, or an array type: 'float64[:]', "
                    f"'float64[:, :]', ... up to {MAX_RANK} dimensions (float32, or int64 "
                    "for index arrays, bool for masks)")


class EntryBinding:
    """How the native ``f.jvp`` entry binds a call (see callwrap.entry_ir):
    ``params`` lists ``(name, may be positional, may be a keyword)`` in
    signature order; ``defaults`` maps a parameter's index to the scalar
    that fills it when left out; only the parameters in ``passable`` may be
    passed; ``wrt`` names the tangents (the keys of a dict of tangents).
    Made by ``calling.Calls``, which knows the signature and the wrt mode."""

    def __init__(self, params, defaults, passable, wrt):
        self.params, self.defaults, self.passable, self.wrt = params, defaults, passable, wrt
        # the dict keys the entry looks tangents up by: interned str objects,
        # kept alive with the kernel (the entry holds their addresses)
        self.keys = tuple(sys.intern(str(n)) for n in wrt)

    @classmethod
    def positional(cls, params, wrt):
        """Every argument by position, nothing left out."""
        return cls([(p, True, False) for p in params], {}, set(range(len(params))), tuple(wrt))


def native_array(qualname, name, tangent, t):
    """The tangent for an array parameter, checked against its primal's rank
    (and for a float32 parameter its dtype: numpy would promote a float64
    tangent, so the float32 kernel is not its)."""
    if t.single:
        if np.asarray(tangent).dtype != np.float32:
            raise TypeError(f"{qualname}: the tangent for {name!r} has dtype "
                            f"{np.asarray(tangent).dtype}; its argument is float32 (pass a "
                            "float32 tangent, or use backend='python')")
        tangent = np.ascontiguousarray(tangent)
    tangent = np.asarray(tangent, dtype=np.float32 if t.single else np.float64)
    if tangent.ndim != t.ndim:
        raise ValueError(f"{qualname}: the tangent for {name!r} has "
                         f"{tangent.ndim} dimension(s); its argument has {t.ndim}")
    return tangent


def compile_native(fn, qualname, params, wrt, types, boundscheck=True, binding=None):
    """``(kernel, order, tangent names)`` or a :class:`Refusal` (see the module doc).
    Holds the compiler's lock: CPython's AST constructors are not safe to run
    from several threads at once (3.11 raises "AST constructor recursion depth
    mismatch")."""
    with pipeline.LOCK:
        return _compile_native(fn, qualname, params, wrt, types, boundscheck, binding)


def _compile_native(fn, qualname, params, wrt, types, boundscheck, binding=None):
    bad = [(n, t) for n, t in zip(params, types) if isinstance(t, str)]
    arrays = [(n, t) for n, t in zip(params, types) if hasattr(t, "ndim")]
    if bad:
        from .backends.llvm.types import MAX_RANK
        return Refusal(TypeError, f"{qualname}: backend='llvm' takes float, int and bool "
                                  "scalars and float64 or float32 (or int64 index, or bool) "
                                  "arrays of "
                                  f"1 to {MAX_RANK} dimensions; argument {bad[0][0]!r} is "
                                  f"{bad[0][1]}")
    try:
        from .backends.llvm.jit import compile_kernel
        from .backends.llvm.lower import LoweringError
    except ImportError as exc:
        return Refusal(UnsupportedSyntax, f"the native backend needs llvmlite: {exc}")
    from .backends.llvm.catalogue import Namespace
    compiled = pipeline.compile_jvp(fn, wrt, check=False)  # checks do not lower
    fdef = gast.parse(compiled.own_source).body[0]
    order = [a.id for a in fdef.args.args + fdef.args.kwonlyargs]
    type_of = dict(zip(params, types))
    type_of.update({d: type_of[n] for n, d in zip(wrt, compiled.tangent_params)})
    # every generated helper it calls, by the function object its caller's
    # namespace binds (calls are resolved by object: catalogue.py)
    helpers, generated, pending = {}, {compiled.fn: compiled}, list(compiled.helpers)
    while pending:
        helper = pending.pop()
        if id(helper.fn) not in helpers:
            helpers[id(helper.fn)] = (helper.fn, gast.parse(helper.own_source).body[0],
                                      Namespace.of(helper.fn))
            generated[helper.fn] = helper
            pending.extend(helper.helpers)
    plan = []  # where f.jvp(*args, tangents=...) finds each kernel argument
    for name in order:
        if name in params:
            plan.append(("arg", params.index(name), type_of[name]))
        else:
            j = list(compiled.tangent_params).index(name)
            plan.append(("tangent", j, (type_of[name], params.index(wrt[j]))))
    kernel_types = tuple(type_of.get(name, float) for name in order)
    entry = (plan, binding or EntryBinding.positional(params, wrt), len(wrt))
    try:
        kernel = compile_kernel(fdef, kernel_types, helpers=helpers, boundscheck=boundscheck,
                                entry=entry, namespace=Namespace.of(compiled.fn),
                                label=compiled.fn, blas=True)
    except LoweringError as exc:
        # runs as native regions joined by numpy (regions.py), never refused
        from .backends.llvm.regions import HybridKernel
        kernel = HybridKernel(compiled, helpers, Namespace.of(compiled.fn), boundscheck,
                              _lowering_failure(exc, generated), region_type,
                              EntryBinding.positional)
        if getattr(exc, "blas", False) and kernel.loops:
            # matrix products in a Python loop around regions: BLAS for large operands,
            # but for small ones (an RNN's 32 x 32 weights) one kernel with the products
            # as loops is far faster than the loop calling regions
            single = any(t.single for _, t in arrays)
            positional = None if single else (  # float32 kernels have no entry
                [("arg", i, t) for i, t in enumerate(kernel_types)],
                EntryBinding.positional(order, ()), None)
            try:
                whole = compile_kernel(copy.deepcopy(fdef), kernel_types, helpers=helpers,
                                       boundscheck=boundscheck, entry=positional,
                                       namespace=Namespace.of(compiled.fn), label=compiled.fn)
            except LoweringError:
                whole = None
            if whole is not None:
                kernel = BySize(SingleKernel(whole) if single else whole, kernel)
        return kernel, order, compiled.tangent_params
    if any(t.single for _, t in arrays):
        kernel = SingleKernel(kernel)
    return kernel, order, compiled.tangent_params


def _lowering_failure(exc, generated):
    """Why a generated function does not lower whole, with the generated line."""
    source = generated.get(exc.function)
    lineno = getattr(exc.node, "lineno", 0) if exc.node is not None else 0
    if source is not None and 0 < lineno <= len(source.own_source.splitlines()):
        return f"{exc}: `{source.own_source.splitlines()[lineno - 1].strip()}`"
    return str(exc)


class BySize:
    """A function whose regions run in a Python loop, with matrix products,
    compiled twice: ``small`` (one kernel, the products as loops) runs calls
    whose arrays all hold at most :attr:`limit` elements, ``large`` (regions,
    the products through BLAS) the others.  Both compute what the Python
    backend does; they differ only by rounding (docs/native-backend.md,
    "Regions").  Without a loop the regions run once each and win at every
    size (the whole kernel's products are scalar loops): no BySize then."""

    # each iteration pays a few microseconds of region calls and numpy
    # products: the whole kernel wins up to about 512 x 512 (an RNN's weights)
    limit = 1 << 18
    fast = None
    entry = None
    takes_arrays = True

    def __init__(self, small, large):
        self.large = large
        self.small = small if getattr(small, "entry", None) is None else _positional(small)

    def __call__(self, *args):
        limit = self.limit
        for a in args:
            if type(a) is np.ndarray and a.size > limit:
                return self.large(*args)
        return self.small(*args)

    def __getattr__(self, name):  # llvm_ir, placement, timings, ...: the regions'
        return getattr(self.large, name)


def _positional(kernel):
    """``kernel`` called through its entry taking its own arguments (jit.compile_kernel):
    no ctypes per call; other calls fall through to ``kernel`` itself."""
    from .backends.llvm.callwrap import as_builtin
    return as_builtin("kernel", kernel.entry, kernel, kernel, None, kernel.assemble)


class SingleKernel:
    """A kernel taking float32 arrays: the numbers numpy would hold as float32
    scalars (kind "float32", see lower.kind) come back as ``np.float32``.  It
    has no native ``f.jvp`` entry (that boxes Python floats): calls go through
    the plans of calling.py, which call this."""

    entry = None
    fast = None

    def __init__(self, kernel):
        self._kernel = kernel
        self._single = [k == "float32" for k in kernel._kinds]

    def __getattr__(self, name):
        return getattr(self._kernel, name)

    def __call__(self, *args):
        value, tangent = self._kernel(*args)
        if isinstance(value, tuple):
            flat = list(value) + list(tangent)
        else:  # one value, and one tangent or none (``()``: values only)
            flat = [value] + ([] if isinstance(tangent, tuple) else [tangent])
        flat = [np.float32(v) if single else v for v, single in zip(flat, self._single)]
        if isinstance(value, tuple):
            k = len(value)  # the tangent part may be empty
            return tuple(flat[:k]), tuple(flat[k:])
        return flat[0], (flat[1] if len(flat) > 1 else ())


def jvp_entry(kernel, general, doc):
    """``f.jvp`` as a builtin generated with the kernel (callwrap.entry_ir):
    all-float calls go straight to native code, any other call to ``general``
    with the same arguments.  None when the kernel has no such entry."""
    if kernel.entry is None:
        return None
    from .backends.llvm.callwrap import as_builtin
    return as_builtin("jvp", kernel.entry, kernel, general, doc, kernel.assemble)
