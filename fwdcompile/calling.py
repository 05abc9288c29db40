"""Calling a decorated function's JVP: binding, ``wrt`` inference, tangent
checks and one call-plan cache, for both backends.

Contract:

* :func:`check_tangents` (with :meth:`Calls.bind` and :meth:`Calls.wrt_for`)
  is the one reference implementation of argument validation.  Every error a
  caller can see for a bad call (wrong shape, dtype, a missing or ``None``
  tangent, a non-float ``wrt`` argument) is raised from there.
* :meth:`Calls.jvp` is ``f.jvp``.  A call first looks up a *plan* by its
  *call shape*: the type of every positional argument, the
  names and value types of the keyword arguments, and the type of the
  ``tangents`` container (the backend, the ``wrt`` mode and the check mode
  are fixed per :class:`Calls`).  A plan is a small function generated
  (``exec``) for that shape: it re-checks, inline, only what types do not
  decide (tangent types, array shapes and dtypes), then calls the generated
  Python function or the native kernel directly, with defaults filled in.
  Anything a plan does not accept returns :data:`MISS` and takes the
  reference path, which validates, computes and records a plan for the next
  call of that shape (remade from a later call once a plan has turned away
  :data:`REPLAN_AFTER` calls, so an unusual first call does not stick).
  So positional calls, keywords, defaults left out, numpy scalars, Python
  ints for int parameters, inferred ``wrt`` and tangents given as a tuple,
  a list, a dict or one bare value all cost one dict lookup and one call on
  top of the compiled code.
* The one place ``f.jvp`` is rebound, :func:`install`: a
  :class:`~fwdcompile.api.ForwardGradient` gets its :class:`Calls`' bound
  ``jvp`` as the instance attribute ``jvp`` when it is created (one call
  less than a method delegating), and on the native backend the first
  kernel built with a CPython entry (``backends/llvm/callwrap.entry_ir``)
  replaces it with that builtin, which binds positional and keyword
  arguments, fills defaults and checks types in native code and hands any
  other call, unchanged, to :meth:`Calls.jvp`.  ``ForwardGradient.jvp`` on
  the class stays the documented method.

The property tests in ``tests/test_calling.py`` check the plans and the
native entry against the reference path: same results, same error types.
"""

from __future__ import annotations

import inspect
import numbers
from typing import Any

import numpy as np

from . import native, pipeline, tree
from .errors import BatchUnsupported, LazyUnsupported

REPLAN_AFTER = 4
"""Calls a plan may turn away before the next valid call of its shape remakes it."""

MISS = object()
"""What a plan returns for a call it does not accept (the reference path takes it)."""

_NDARRAY = np.ndarray
# scalar tangent types a plan converts with float() (as check_tangents does)
_REAL_TANGENTS = (float, int, np.float64, np.float32, np.float16, np.int64, np.int32)


# ------------------------------------------------------------------ reference checks

def is_float_value(value):
    """Whether ``value`` is differentiated when ``wrt`` is inferred."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (float, complex, np.floating, np.complexfloating)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "fc"
    if value is not None and tree.is_container(value):  # a pytree of floats
        leaves = tree.leaves(value)
        if type(value) in (list, tuple) and not any(type(v) is np.ndarray for v in leaves):
            # a list of plain numbers (time points, coefficients) stays data
            # unless wrt names it, as it was before structures were differentiated
            return False
        return bool(leaves) and all(is_float_value(leaf) for leaf in leaves)
    return False


def structures_for(wrt, arguments):
    """``(parameter, PyTreeDef)`` for the ``wrt`` parameters given containers."""
    return tuple((n, tree.structure(arguments[n])) for n in wrt
                 if tree.is_container(arguments[n]))


def short(value):
    text = repr(value)
    return text if len(text) < 40 else text[:37] + "..."


def tangent_sequence(qualname, wrt, tangents, what="tangent(s)", arguments=None):
    """The tangents as a sequence in ``wrt`` order, from a dict keyed by
    parameter name, a tuple or list, or one value (for one parameter given a
    structure: its tangent structure, bare); raises ``ValueError`` for
    unknown names or the wrong count."""
    if arguments is not None and len(wrt) == 1 and tree.is_container(arguments[wrt[0]]) \
            and tree.structure(tangents) == tree.structure(arguments[wrt[0]]):
        return (tangents,)
    if isinstance(tangents, dict):
        unknown = set(tangents) - set(wrt)
        if unknown:
            raise ValueError(f"{qualname}: tangents given for {sorted(unknown)}, which are not "
                             f"differentiated parameters {list(wrt)}")
        tangents = tuple(tangents.get(n) for n in wrt)
    elif not isinstance(tangents, (tuple, list)):
        tangents = (tangents,)
    if len(tangents) != len(wrt):
        raise ValueError(f"{qualname}: expected {len(wrt)} {what}, one per differentiated "
                         f"parameter {list(wrt)}, got {len(tangents)}")
    return tangents


def check_tangents(qualname, wrt, arguments, tangents):
    """The tangent values for ``wrt`` (one per parameter, in order), checked
    against their arguments; raises ``ValueError`` naming the parameter."""
    tangents = tangent_sequence(qualname, wrt, tangents, arguments=arguments)
    out = []
    for name, t in zip(wrt, tangents):
        arg = arguments[name]
        if tree.is_container(arg) and t is not None:
            a_leaves, structure = tree.flatten(arg)
            t_leaves = _tangent_leaves(qualname, "tangent", name, t, structure)
            checked = []
            for j, (a, tl) in enumerate(zip(a_leaves, t_leaves)):
                if not (type(tl) is _NDARRAY and type(a) is _NDARRAY
                        and tl.shape == a.shape and tl.dtype.kind in "fc"):
                    path = tree.leaf_paths(arg, name)[0][j][0]  # named only when it is wrong
                    tl = _checked_tangent(qualname, path, a, tl)
                checked.append(tl)
            out.append(structure.unflatten(checked))
        else:
            out.append(_checked_tangent(qualname, f"parameter {name!r}", arg, t))
    return out


def _tangent_leaves(qualname, what, name, tangent, structure):
    """The leaves of ``tangent``, which must have the argument's ``structure``."""
    leaves, t_structure = tree.flatten(tangent)
    if t_structure != structure:
        raise ValueError(f"{qualname}: the {what} for parameter {name!r} has structure "
                         f"{t_structure} but the argument has structure {structure}")
    return leaves


def _checked_tangent(qualname, what, arg, t):
    """The tangent ``t`` of ``arg`` checked (and a real scalar made a float)."""
    if t is None:
        raise ValueError(f"{qualname}: the tangent for {what} is None")
    if isinstance(t, (bool, np.bool_)) or (isinstance(t, np.ndarray) and t.dtype.kind == "b"):
        raise ValueError(f"{qualname}: the tangent for {what} is boolean; "
                         "tangents must be floating point")
    if not isinstance(t, (np.ndarray, numbers.Number)):  # a list, or something else
        kind = dtype_kind(t)
        if kind not in "fciu":
            raise ValueError(f"{qualname}: the tangent for {what} is "
                             f"{type(t).__name__} {short(t)}; tangents must be floats or "
                             "arrays of floats with the argument's shape")
    if isinstance(t, np.ndarray) and t.dtype.kind not in "fc":
        raise ValueError(f"{qualname}: the tangent for {what} has dtype "
                         f"{t.dtype}; tangents must be floating point like the argument "
                         f"({np.asarray(arg).dtype})")
    if np.shape(t) != np.shape(arg):
        raise ValueError(f"{qualname}: the tangent for {what} has shape "
                         f"{np.shape(t)} but the argument has shape {np.shape(arg)}")
    if not isinstance(t, np.ndarray):
        if not isinstance(t, numbers.Number):
            t = np.asarray(t, dtype=float)
            if np.ndim(arg) == 0:
                t = float(t)
        elif np.ndim(arg) == 0 and not isinstance(t, complex):
            t = float(t)
    return t


def dtype_kind(value):
    """The numpy dtype kind ``value`` converts to ("O" when it does not)."""
    try:
        return np.asarray(value).dtype.kind
    except (TypeError, ValueError):  # ragged lists
        return "O"


def unshared(tangent, given):
    """The output tangent, with every array that shares memory with a tangent
    the caller passed copied: for ``f(x) = x * 1.0`` the generated code
    returns ``d_x`` itself, and the caller scaling the result in place must
    not change the direction it passed in."""
    inputs = [t for t in tree.leaves(list(given)) if type(t) is np.ndarray]
    if not inputs:
        return tangent
    if type(tangent) is tuple:
        return tuple(unshared(t, inputs) for t in tangent)
    if type(tangent) is np.ndarray and any(np.may_share_memory(tangent, t) for t in inputs):
        return tangent.copy()
    return tangent


def output_tangent(value, tangent, out_activity=True):
    """Give statically zero tangents the shape of their value."""
    if isinstance(value, tuple) and isinstance(tangent, tuple):
        return tuple(output_tangent(v, t) for v, t in zip(value, tangent))
    if value is None:
        return None
    if tangent is None:
        tangent = 0.0
    if isinstance(value, np.ndarray) and np.shape(tangent) != value.shape:
        return np.broadcast_to(tangent, value.shape).astype(float)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return 0.0 if not isinstance(tangent, np.ndarray) else tangent
    return tangent


def separate(values, tangents):
    """For a function writing into its parameters: one array passed as the
    tangent of two parameters whose values are separate arrays is copied, so
    that a write into one parameter's tangent does not reach the other's."""
    out = list(tangents)
    for j in range(len(out)):
        for i in range(j):
            if isinstance(out[i], np.ndarray) and isinstance(out[j], np.ndarray) \
                    and np.may_share_memory(out[i], out[j]) \
                    and not (isinstance(values[i], np.ndarray) and
                             isinstance(values[j], np.ndarray) and
                             np.may_share_memory(values[i], values[j])):
                out[j] = out[j].copy()
    return tuple(out)


def copies(tangents):
    return tuple(t.copy() if isinstance(t, np.ndarray) else t for t in tangents)


def unbatch(t, arg):
    return float(t) if np.ndim(arg) == 0 and isinstance(arg, float) else t


def stack_tangents(tangents):
    if isinstance(tangents[0], tuple):
        return tuple(stack_tangents(list(col)) for col in zip(*tangents))
    if isinstance(tangents[0], list):
        return [stack_tangents(list(col)) for col in zip(*tangents)]
    if isinstance(tangents[0], dict):
        return {key: stack_tangents([t[key] for t in tangents]) for key in tangents[0]}
    if tangents[0] is None:
        return None
    return np.stack([np.asarray(t, dtype=float) for t in tangents])


def batched_output(value, tangent, k):
    """Give statically zero or lower-rank tangents the shape (K,) + value shape."""
    if isinstance(value, tuple) and isinstance(tangent, tuple):
        return tuple(batched_output(v, t, k) for v, t in zip(value, tangent))
    if isinstance(value, list) and isinstance(tangent, list):
        return [batched_output(v, t, k) for v, t in zip(value, tangent)]
    if isinstance(value, dict) and isinstance(tangent, dict):
        return {key: batched_output(v, tangent.get(key), k) for key, v in value.items()}
    if value is None:
        return None
    shape = (k,) + np.shape(value)
    tangent = np.asarray(0.0 if tangent is None else tangent)
    if tangent.shape != shape:
        tangent = np.broadcast_to(tangent.reshape(tangent.shape[:1] + (1,) * (
            len(shape) - tangent.ndim) + tangent.shape[1:]) if tangent.ndim else tangent,
            shape)
    # the value's precision (float32 stays float32); integers' tangents are float64
    kind = np.asarray(value).dtype
    return np.array(tangent, dtype=np.result_type(tangent.dtype,
                                                  kind if kind.kind in "fc" else np.float64))


def _check_structure(qualname, name, value):
    """A parameter given a container differentiates its leaves: floats or float arrays."""
    leaves, _ = tree.flatten(value)
    if not leaves:
        raise TypeError(f"{qualname}: parameter {name!r} is in wrt but received an empty "
                        f"{type(value).__name__}; there is nothing to differentiate")
    if all(is_float_value(leaf) for leaf in leaves):  # leaves: no containers left
        return
    for path, leaf in tree.leaf_paths(value, name)[0]:
        if not is_float_value(leaf):
            raise TypeError(f"{qualname}: parameter {name!r} is in wrt, but its leaf {path} is "
                            f"{type(leaf).__name__} {short(leaf)}; the leaves of a "
                            "differentiated structure must be floats or float arrays (pass "
                            "other values as separate arguments)")


# ------------------------------------------------------------------ the per-function state

class Calls:
    """Everything about calling one decorated function: its signature,
    ``wrt``, the plan cache, native kernels and vector-mode variants."""

    def __init__(self, owner, fn, wrt):
        self.owner = owner  # the ForwardGradient: qualname, backend, check, fallback
        self.fn = fn
        self.sig = inspect.signature(fn)
        self.params = list(self.sig.parameters)
        self.wrt = wrt  # a tuple of names, or None: inferred from each call's arguments
        self.qualname = owner.__qualname__
        self.plans: dict[Any, Any] = {}  # call shape -> plan
        # call shape -> calls its plan turned away since it was made: a plan made
        # from an unusual first call (a complex tangent, a float32 array) is
        # remade from a later call after REPLAN_AFTER misses
        self.misses: dict[Any, int] = {}
        self.kernels: dict[Any, Any] = {}  # (wrt, native types) -> entry or Refusal
        self.variants: dict[Any, Any] = {}  # ("batched", wrt) / ("writes", wrt) -> ...
        self.entry_installed = False
        self.last_batched = None  # (wrt, structures) of the last batched call
        kinds = [p.kind for p in self.sig.parameters.values()]
        self.simple = all(k in (inspect.Parameter.POSITIONAL_ONLY,
                                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                inspect.Parameter.KEYWORD_ONLY) for k in kinds)
        # every parameter may be passed by position: a full positional call binds by zip
        self.all_positional = self.simple and inspect.Parameter.KEYWORD_ONLY not in kinds

    # -------------------------------------------------------------- f.jvp
    def jvp(self, *args, tangents, batched=False, **kwargs):
        if kwargs:
            key = (*map(type, args), *kwargs, *map(type, kwargs.values()), type(tangents))
        else:
            key = (*map(type, args), type(tangents))
        plan = self.plans.get(key)
        if plan is not None and not batched:
            result = plan(args, kwargs, tangents)
            if result is not MISS:
                return result
            self.misses[key] = self.misses.get(key, 0) + 1
        if batched:
            return self.jvp_batched(args, kwargs, tangents)
        return self.reference(args, kwargs, tangents, key)

    # -------------------------------------------------------------- binding
    def bind(self, args, kwargs):
        """The arguments the caller passed, by parameter name (defaults not applied)."""
        if not kwargs and len(args) == len(self.params) and self.all_positional:
            return dict(zip(self.params, args))  # every argument, in order
        try:
            bound = self.sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.qualname}(): {exc}") from None
        return bound.arguments

    def with_defaults(self, arguments):
        values = dict(arguments)
        for name, p in self.sig.parameters.items():
            if name not in values and p.default is not inspect.Parameter.empty:
                values[name] = p.default
        return values

    def wrt_for(self, arguments):
        """``wrt`` for a call: fixed (and checked), or the parameters passed floats."""
        if self.wrt is not None:
            for name in self.wrt:
                if name not in arguments:
                    raise TypeError(f"{self.qualname}: parameter {name!r} is in wrt but was "
                                    "not passed; pass it explicitly")
                value = arguments[name]
                if value is not None and tree.is_container(value):
                    _check_structure(self.qualname, name, value)
                elif not is_float_value(value):
                    raise TypeError(
                        f"{self.qualname}: parameter {name!r} is in wrt but received "
                        f"{type(value).__name__} {short(value)}; derivatives are taken with "
                        "respect to floating values (pass a float or a float array)")
            return self.wrt
        return tuple(n for n in self.params if n in arguments
                     and is_float_value(arguments[n]))

    # -------------------------------------------------------------- the reference path
    def reference(self, args, kwargs, tangents, key=None):
        """The validated call: every check, then the compiled code; records a
        plan for ``key`` when the call can be planned."""
        if self.owner.backend == "llvm":
            result = self._reference_native(args, kwargs, tangents, key)
            if result is not MISS:
                return result
        return self._reference_python(args, kwargs, tangents, key)

    def replan(self, key):
        """Whether the reference path should make a plan for ``key`` from this call."""
        if key is None:
            return False
        if key not in self.plans or self.misses.get(key, 0) >= REPLAN_AFTER:
            self.misses.pop(key, None)
            return True
        return False

    def _reference_python(self, args, kwargs, tangents, key):
        arguments = self.bind(args, kwargs)
        wrt = self.wrt_for(arguments)
        tangent_values = check_tangents(self.qualname, wrt, arguments, tangents)
        compiled = pipeline.compile_jvp(self.fn, wrt, check=self.owner.check,
                                        structures=structures_for(wrt, arguments))
        if compiled.writes:
            tangent_values = separate([arguments[n] for n in wrt], tangent_values)
        self.owner._last = compiled
        if self.replan(key):
            self.plans[key] = _python_plan(self, args, kwargs, tangents, wrt, compiled) or _NO_PLAN
            if not self.entry_installed and not kwargs and self.plans[key] is not _NO_PLAN \
                    and self.owner.backend == "python":
                install(self.owner, _python_entry(self, key, self.plans[key]))
                self.entry_installed = True
        tangent_kwargs = dict(zip(compiled.tangent_params, tangent_values))
        value, tangent = compiled.fn(*args, **kwargs, **tangent_kwargs)
        return value, unshared(output_tangent(value, tangent), tangent_values)

    def _reference_native(self, args, kwargs, tangents, key):
        """The JVP on the native backend, or MISS to take the Python path
        (arguments the native backend does not take: float16, 5-d, mixed
        float32 and float64, structures; ``f.llvm_placement`` says so)."""
        arguments = self.bind(args, kwargs)
        values = self.with_defaults(arguments)
        wrt = self.wrt_for(arguments)
        tangent_values = check_tangents(self.qualname, wrt, arguments, tangents)
        types = tuple(native.native_type(values.get(n)) for n in self.params)
        entry = native.scalar_refusal(self.qualname, self.params, values, types) \
            or self.native_kernel(wrt, types)
        if isinstance(entry, native.Refusal):
            if entry.kind is TypeError:  # arguments the native code does not take: numpy does
                self.owner._python_reason = entry.message
                return MISS
            raise entry.error("use backend='python'")
        kernel, order, tangent_names = entry
        if kernel.entry is not None and not self.entry_installed:
            install(self.owner, native.jvp_entry(kernel, self.jvp, _JVP_DOC))
            self.entry_installed = True
        # converted (and checked: a float32 argument's tangent) before any plan is recorded
        tangent_values = [float(t) if types[self.params.index(n)] in (float, int, bool)
                          else native.native_array(self.qualname, n, t,
                                                   types[self.params.index(n)])
                          for n, t in zip(wrt, tangent_values)]
        if self.replan(key):
            self.plans[key] = _native_plan(self, args, kwargs, tangents, wrt, types, values,
                                           entry) or _NO_PLAN
        pool = {**values, **dict(zip(tangent_names, tangent_values))}
        return kernel(*[pool[name] for name in order])

    # -------------------------------------------------------------- native kernels
    def native_kernel(self, wrt, types):
        """(kernel, parameter order, tangent names) or a Refusal, cached per signature."""
        key = (wrt, types)
        entry = self.kernels.get(key)
        if entry is None:
            entry = self.kernels[key] = self._compile_native(wrt, types)
        return entry

    def _compile_native(self, wrt, types):
        entry = native.compile_native(self.fn, self.qualname, self.params, wrt, types,
                                      self.owner.boundscheck, binding=self._binding(wrt, types))
        if not isinstance(entry, native.Refusal):
            self.owner._kernel = entry[0]
            self.owner._python_reason = None
        return entry

    def _binding(self, wrt, types):
        """How the native entry binds a call for this signature
        (:class:`native.EntryBinding`), or None when it should not try."""
        if not self.simple or any(isinstance(t, str) for t in types):
            return None
        params, defaults, passable = [], {}, set()
        for i, (name, p) in enumerate(self.sig.parameters.items()):
            params.append((name, p.kind is not inspect.Parameter.KEYWORD_ONLY,
                           p.kind is not inspect.Parameter.POSITIONAL_ONLY and name.isascii()))
            t = types[i]
            differentiable = t is float or (not isinstance(t, type) and t.floating)
            # with wrt inferred, passing a float to a parameter outside wrt
            # would put it in wrt: that call needs another kernel
            if name in wrt or self.wrt is not None or not differentiable:
                passable.add(i)
            d = p.default
            if name not in wrt and d is not inspect.Parameter.empty \
                    and type(d) in (float, int, bool) and native.native_type(d) is t:
                defaults[i] = d
        return native.EntryBinding(params, defaults, passable, tuple(wrt))

    # -------------------------------------------------------------- vector mode
    def batched_variant(self, wrt, structures=()):
        """The vector-mode JVP for ``wrt``, or None when the code needs the
        one-direction-at-a-time path (lists or dicts of tangents, ...)."""
        key = ("batched", wrt, structures)
        if key not in self.variants:
            try:
                self.variants[key] = pipeline.compile_jvp(self.fn, wrt, batched=True,
                                                          check=self.owner.check,
                                                          structures=structures)
            except BatchUnsupported:
                self.variants[key] = None
        return self.variants[key]

    def lazy_variant(self, wrt, structures=(), batched=False):
        """The JVP for ``wrt`` drawing its directions where they are used
        (transform/lazy.py), or None when the code passes a tangent on whole."""
        key = ("lazy", wrt, structures, batched)
        if key not in self.variants:
            try:
                self.variants[key] = pipeline.compile_jvp(
                    self.fn, wrt, batched=batched, check=self.owner.check,
                    structures=structures, lazy=True)
            except (LazyUnsupported, BatchUnsupported):
                self.variants[key] = None
        return self.variants[key]

    def writes_into(self, wrt, structures=()):
        """Whether the function writes into a differentiated parameter."""
        key = ("writes", tuple(wrt), structures)
        if key not in self.variants:
            compiled = pipeline.compile_jvp(self.fn, tuple(wrt), check=self.owner.check,
                                            structures=structures)
            self.variants[key] = bool(set(compiled.writes) & set(wrt))
        return self.variants[key]

    def jvp_batched(self, args, kwargs, tangents):
        arguments = self.bind(args, kwargs)
        wrt = self.wrt_for(arguments)
        qualname = self.qualname
        tangents = tangent_sequence(qualname, wrt, tangents, "batched tangent(s)", arguments)
        stacked, k = [], None
        for name, t in zip(wrt, tangents):
            arg = arguments[name]
            if t is None:
                raise ValueError(f"{qualname}: the batched tangent for parameter "
                                 f"{name!r} is None")
            paths, structure = tree.leaf_paths(arg, f"parameter {name!r}" if
                                               not tree.is_container(arg) else name)
            t_leaves = _tangent_leaves(qualname, "batched tangent", name, t, structure)
            checked = []
            for (what, leaf), tl in zip(paths, t_leaves):
                tl = np.asarray(tl)
                shape = np.shape(leaf)
                if tl.dtype.kind not in "fc" or tl.shape[1:] != shape \
                        or tl.ndim != len(shape) + 1:
                    raise ValueError(f"{qualname}: the batched tangent for {what} has shape "
                                     f"{tl.shape} and dtype {tl.dtype}; expected floating "
                                     f"values of shape (K,) + {shape}")
                if k is not None and tl.shape[0] != k:
                    raise ValueError(f"{qualname}: batched tangents disagree on the number "
                                     f"of directions ({k} and {tl.shape[0]} for {what})")
                k = tl.shape[0]
                checked.append(tl)
            stacked.append(structure.unflatten(checked))
        structures = structures_for(wrt, arguments)
        self.last_batched = (wrt, structures)  # what batched_source shows before any jvp
        compiled = self.batched_variant(wrt, structures)
        if compiled is not None and compiled.writes:
            stacked = list(separate([arguments[n] for n in wrt], stacked))
        if compiled is None:  # the vector-mode transform declined: one JVP per direction
            results = [self.owner.jvp(*args, tangents=tuple(
                tree.map(lambda tl, leaf: unbatch(tl[i], leaf), t, arguments[n])
                for t, n in zip(stacked, wrt)), **kwargs)
                for i in range(k)]
            value = results[0][0]
            return value, stack_tangents([r[1] for r in results])
        tangent_kwargs = dict(zip(compiled.tangent_params, stacked))
        value, tangent = compiled.fn(*args, **kwargs, **tangent_kwargs)
        return value, batched_output(value, tangent, k)


# a call without ``tangents`` reports "ForwardGradient.jvp() missing 1 required
# keyword-only argument", the method the user sees, not this class
Calls.jvp.__qualname__ = "ForwardGradient.jvp"


def install(owner, entry):
    """Make ``entry`` the instance's ``jvp`` (the one place ``f.jvp`` is rebound;
    see the module docstring).  ``entry`` None leaves it as it is."""
    if entry is not None:
        owner.__dict__["jvp"] = entry


def _no_plan(args, kwargs, tangents):
    return MISS


_NO_PLAN = _no_plan  # a call shape seen before that no plan serves: straight to the reference
_JVP_DOC: str | None = None  # set by api.py: the docstring of the native builtin f.jvp


# ------------------------------------------------------------------ plans

class _Locator:
    """Where a call finds each parameter's value: ``args[i]``, ``kwargs[name]``
    or nothing (left out)."""

    def __init__(self, calls, args, kwargs):
        self.positional = {}
        bound = calls.bind(args, kwargs)
        names = list(bound)
        for i in range(len(args)):
            self.positional[names[i]] = i
        self.keywords = set(kwargs)
        self.n_args = len(args)

    def expr(self, name):
        if name in self.positional:
            return f"args[{self.positional[name]}]"
        if name in self.keywords:
            return f"kwargs[{name!r}]"
        return None


def _tangent_reads(tangents, wrt):
    """Source lines reading the tangents into t0, t1, ...; None when the
    container is not one a plan reads."""
    n = len(wrt)
    names = [f"t{j}" for j in range(n)]
    if type(tangents) in (tuple, list):
        if n == 0:
            return ["if len(tangents) != 0:", "    return MISS"]
        return ["if len(tangents) != %d:" % n, "    return MISS",
                f"{', '.join(names)}, = tangents"]
    if type(tangents) is dict:
        lines = [f"if len(tangents) != {n}:", "    return MISS"]
        lines += [f"t{j} = tangents.get({name!r})" for j, name in enumerate(wrt)]
        return lines
    if n == 1 and isinstance(tangents, (numbers.Number, np.ndarray)):
        return ["t0 = tangents"]
    return None


def _tangent_guards(tangents, wrt, arguments, where, native_types=None):
    """Guard and conversion lines for each tangent (None: not plannable)."""
    if isinstance(tangents, dict):
        given = [tangents.get(n) for n in wrt]
    elif isinstance(tangents, (tuple, list)):
        given = list(tangents)
    else:
        given = [tangents]
    lines, scope = [], {}
    for j, (name, t) in enumerate(zip(wrt, given)):
        arg = arguments[name]
        a = where(name)
        if a is None:
            return None
        if type(arg) is not np.ndarray and isinstance(arg, (float, np.floating)) \
                and type(t) in _REAL_TANGENTS:
            # any real scalar converts with float(), as check_tangents does
            lines += [f"if type(t{j}) is not float:",
                      f"    if type(t{j}) not in REAL_TANGENTS:", "        return MISS",
                      f"    t{j} = float(t{j})"]
        elif type(arg) is np.ndarray and arg.ndim >= 1 and type(t) is np.ndarray \
                and t.dtype.kind in "fc" and t.shape == arg.shape:
            if native_types is not None:  # the kernel takes tangents of its argument's
                # precision: float32 for a float32 array (native_type), else float64
                want = "F32" if arg.dtype == np.float32 else "F64"
                if t.dtype != (np.float32 if want == "F32" else np.float64):
                    return None
                lines += [f"if type(t{j}) is not ndarray or t{j}.dtype is not {want} "
                          f"or t{j}.shape != {a}.shape:", "    return MISS"]
            else:
                lines += [f"if type(t{j}) is not ndarray or t{j}.dtype.kind not in 'fc' "
                          f"or t{j}.shape != {a}.shape:", "    return MISS"]
        else:
            return None
    return lines, scope


def _array_guards(args, kwargs, calls, native_types=False):
    """Guards on the arrays among the arguments: what their types do not say
    (dtype, and for the native backend the rank) decides wrt and the kernel."""
    lines, scope = [], {}
    items = [(f"args[{i}]", a) for i, a in enumerate(args)] + \
            [(f"kwargs[{k!r}]", v) for k, v in kwargs.items()]
    for n, (expr, a) in enumerate(items):
        if type(a) is np.ndarray:
            scope[f"D{n}"] = a.dtype
            test = f"{expr}.dtype is not D{n}"
            if native_types:
                test += f" or {expr}.ndim != {a.ndim}"
            lines += [f"if {test}:", "    return MISS"]
            if a.dtype is not np.dtype(a.dtype.str):  # a dtype object that is not canonical
                return None
    return lines, scope


def _build(name, lines, scope):
    text = f"def {name}(args, kwargs, tangents):\n" + "".join(f"    {line}\n" for line in lines)
    scope = {"MISS": MISS, "ndarray": np.ndarray, "F64": np.dtype(np.float64),
             "F32": np.dtype(np.float32),
             "REAL_TANGENTS": _REAL_TANGENTS, **scope}
    exec(compile(text, f"<fwdcompile call plan {name}>", "exec"), scope)
    plan = scope[name]
    plan.text, plan.lines, plan.scope = text, lines, scope
    return plan


def _python_entry(calls, key, plan):
    """``f.jvp`` on the Python backend once a positional call has a plan: the
    plan's lines inlined behind a test of the call shape it serves, so the
    call shape seen first (scalar code calls one way, in a loop) costs one
    Python call before the generated function, as the native builtin does;
    any other call (``batched=True`` included: it comes as a keyword), or one
    the plan turns away, goes to :meth:`Calls.jvp`."""
    *arg_types, tangents_type = key
    names = [f"a{i}" for i in range(len(arg_types))]
    tests = [f"len(args) == {len(names)}", "not kwargs", "type(tangents) is TT"]
    general = "return general(*args, tangents=tangents, **kwargs)"
    body = [f"{', '.join(names)}, = args"] if names else []
    body += [line.replace("return MISS", general).replace("gen(*args", f"gen({', '.join(names)}")
             for line in plan.lines]
    test_types = " and ".join(f"type({n}) is A{i}" for i, n in enumerate(names))
    if test_types:  # after the unpacking: test the names, not args[i]
        body.insert(1, f"if not ({test_types}):")
        body.insert(2, f"    {general}")
    text = ("def jvp(*args, tangents, **kwargs):\n"
            f"    if {' and '.join(tests)}:\n" + "".join(f"        {line}\n" for line in body)
            + f"    {general}\n")
    scope = {**plan.scope, "general": calls.jvp, "TT": tangents_type,
             **{f"A{i}": t for i, t in enumerate(arg_types)}}
    exec(compile(text, f"<fwdcompile jvp entry of {calls.qualname}>", "exec"), scope)
    entry = scope["jvp"]
    entry.__doc__ = _JVP_DOC
    entry.__qualname__ = "ForwardGradient.jvp"  # what a call without tangents names
    entry.text = text
    return entry


def _current_guards(compiled, scope):
    """Lines turning a call away once a global the code was derived from is
    rebound (pipeline.is_current): the reference path compiles again."""
    lines = []
    for i, (g, name, obj) in enumerate(compiled.depends):
        scope[f"G{i}"], scope[f"O{i}"] = g, obj
        lines += [f"if G{i}.get({name!r}) is not O{i}:", "    return MISS"]
    return lines


def _python_plan(calls, args, kwargs, tangents, wrt, compiled):
    """A plan calling the generated Python function for this call shape, or None."""
    if compiled.writes or not calls.simple:
        return None
    arguments = calls.bind(args, kwargs)
    where = _Locator(calls, args, kwargs).expr
    reads = _tangent_reads(tangents, wrt)
    guards = _tangent_guards(tangents, wrt, arguments, where)
    arrays = _array_guards(args, kwargs, calls)
    if reads is None or guards is None or arrays is None:
        return None
    lines = reads + guards[0] + arrays[0] + _current_guards(compiled, guards[1])
    ts = [f"t{j}" for j in range(len(wrt))]
    if compiled.positional_tangents and not kwargs and len(args) == len(calls.params):
        call = f"gen(*args, {', '.join(ts)})" if ts else "gen(*args)"
    else:
        tk = ", ".join(f"{p}={t}" for p, t in zip(compiled.tangent_params, ts))
        call = "gen(*args" + (", **kwargs" if kwargs else "") + (f", {tk}" if tk else "") + ")"
    lines.append(f"value, tangent = {call}")
    given = f"({', '.join(ts)},)" if ts else "()"
    lines += ["if type(value) is float and type(tangent) is float:",
              "    return value, tangent",
              f"return value, unshared(output_tangent(value, tangent), {given})"]
    return _build("python_plan", lines, {"gen": compiled.fn, "unshared": unshared,
                                          "output_tangent": output_tangent, **guards[1],
                                          **arrays[1]})


def _native_plan(calls, args, kwargs, tangents, wrt, types, values, entry):
    """A plan calling the native kernel for this call shape, or None."""
    kernel, order, tangent_names = entry
    if not calls.simple:
        return None
    arguments = calls.bind(args, kwargs)
    where = _Locator(calls, args, kwargs).expr
    reads = _tangent_reads(tangents, wrt)
    guards = _tangent_guards(tangents, wrt, arguments, where, native_types=types)
    arrays = _array_guards(args, kwargs, calls, native_types=True)
    if reads is None or guards is None or arrays is None:
        return None
    scope = {**guards[1], **arrays[1]}
    lines = reads + guards[0] + arrays[0]
    operands = []
    for name in order:
        if name in tangent_names:
            operands.append(f"t{list(tangent_names).index(name)}")
        elif where(name) is not None:
            operands.append(where(name))
        else:  # left out: the default, as the reference path fills it in
            scope[f"V_{name}"] = values[name]
            operands.append(f"V_{name}")
    fast = kernel.fast if kernel.fast is not None and not kernel.takes_arrays else kernel
    lines.append(f"return kernel({', '.join(operands)})")
    return _build("native_plan", lines, {"kernel": fast, **scope})

