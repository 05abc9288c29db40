"""The decorated object and the functional API.

``forward_gradient(fn)`` returns a :class:`ForwardGradient`: a drop-in
replacement for ``fn`` (same call, same metadata, picklable by reference)
with ``.jvp``, ``.forward_grad`` and ``.source``.  The transformation runs
once per function and set of differentiated parameters, never per call.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Literal, Union

import numpy as np

from . import compiler, native, runtime
from .errors import BatchUnsupported

BACKENDS = ("python", "llvm")

Wrt = Union[str, int, Sequence[Union[str, int]], None]
"""Differentiated parameters: names or positions (None: every float argument)."""
Backend = Literal["python", "llvm"]


def _is_float_value(value):
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (float, complex, np.floating, np.complexfloating)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "fc"
    return False


class ForwardGradient:
    """A function together with its forward-mode derivative."""

    __fwdcompile_function__: Callable[..., Any]
    __qualname__: str  # copied from the function by functools.update_wrapper

    def __init__(self, fn: Callable[..., Any], wrt: Wrt = None, backend: Backend = "python",
                 fallback: Literal["python"] | None = None, boundscheck: bool = True,
                 check: bool | None = None) -> None:
        if isinstance(fn, ForwardGradient):
            fn = fn.__fwdcompile_function__
        if not callable(fn):
            raise TypeError(f"forward_gradient needs a function, got {fn!r}")
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
        if fallback not in (None, "python"):
            raise ValueError(f"fallback must be None or 'python', got {fallback!r}")
        self.fallback = fallback
        self.boundscheck = bool(boundscheck)
        self.check = check  # None: the FWDCOMPILE_CHECK environment variable decides
        # (wrt, argument types) -> Kernel, or the reason it cannot be
        self._native: dict[Any, Any] = {}
        # positional argument types -> (Kernel, number of tangents)
        self._native_fast: dict[Any, Any] = {}
        functools.update_wrapper(self, fn)
        self.__fwdcompile_function__ = fn
        self.backend = backend
        self._sig = inspect.signature(fn)
        self._params = list(self._sig.parameters)
        compiler.check(fn)  # syntax errors surface now, at decoration time (before wrt's)
        self._wrt = self._normalize_wrt(wrt)
        self._last = None
        self._fast: dict[Any, Any] = {}  # argument type key -> (compiled, wrt positions)
        if self._wrt is not None:
            self._last = compiler.compile_jvp(fn, self._wrt, check=check)

    # --------------------------------------------------------------- plain call
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__fwdcompile_function__(*args, **kwargs)

    def __get__(self, instance, owner=None):
        """Decorating a method: ``obj.method.jvp(x, tangents=...)`` binds ``obj``."""
        if instance is None:
            return self
        return BoundForwardGradient(self, instance)

    def __reduce__(self):
        return self.__qualname__  # pickled by reference, like the function it wraps

    def __repr__(self):
        return f"<fwdcompile.forward_gradient of {self.__qualname__}>"

    def _normalize_wrt(self, wrt):
        if wrt is None:
            return None
        if isinstance(wrt, (str, int)):
            wrt = (wrt,)
        names = []
        for item in wrt:
            if isinstance(item, numbers.Integral) and not isinstance(item, bool):
                if not 0 <= item < len(self._params):
                    raise ValueError(f"wrt index {item} is out of range for "
                                     f"{self.__qualname__}{self._sig}")
                item = self._params[item]
            if item not in self._params:
                raise ValueError(f"wrt names {item!r}, which is not a parameter of "
                                 f"{self.__qualname__}{self._sig}")
            if item not in names:
                names.append(item)
        kinds = {self._sig.parameters[n].kind for n in names}
        if inspect.Parameter.VAR_POSITIONAL in kinds or inspect.Parameter.VAR_KEYWORD in kinds:
            raise ValueError("wrt cannot name *args or **kwargs parameters")
        return tuple(sorted(names, key=self._params.index))

    # --------------------------------------------------------------- derivatives
    def _bind(self, args, kwargs):
        try:
            bound = self._sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.__qualname__}(): {exc}") from None
        return bound.arguments

    def _wrt_for(self, arguments):
        if self._wrt is not None:
            for name in self._wrt:
                if name not in arguments:
                    raise TypeError(f"{self.__qualname__}: parameter {name!r} is in wrt but was "
                                    "not passed; pass it explicitly")
                value = arguments[name]
                if not _is_float_value(value):
                    raise TypeError(
                        f"{self.__qualname__}: parameter {name!r} is in wrt but received "
                        f"{type(value).__name__} {_short(value)}; derivatives are taken with "
                        "respect to floating values (pass a float or a float array)")
            return self._wrt
        return tuple(n for n in self._params if n in arguments
                     and _is_float_value(arguments[n]))

    def jvp(self, *args: Any, tangents: Any, batched: bool = False,
            **kwargs: Any) -> tuple[Any, Any]:
        """``(value, tangent)``: the function's value and its derivative along ``tangents``.

        ``tangents`` has one entry per differentiated parameter (``wrt``, or by
        default every parameter that receives a float or float array), in
        signature order, each with the shape of its argument.  For a function
        returning a tuple the tangent is a tuple of the same length.

        With ``batched=True`` every tangent has a leading axis of K directions
        (shape ``(K,) + argument shape``) and so does the result: one run of
        the function gives K directional derivatives (vector mode).

        The returned tangent never shares memory with the tangents passed in
        (for ``x * 1.0`` it is a copy of ``d_x``), so it may be changed in place.
        """
        if batched:
            return self._jvp_batched(args, kwargs, tangents)
        if self.backend == "llvm":
            if not kwargs and type(tangents) is tuple:  # a signature seen before, positional
                fast = self._native_fast.get(tuple(map(type, args)))
                if fast is not None and len(tangents) == fast[1] \
                        and all(type(t) is float for t in tangents):
                    return fast[0](*args, *tangents)
            result = self._jvp_native(args, kwargs, tangents)
            if result is not None:
                return result
        if not kwargs and type(tangents) is tuple:
            plan = self._fast.get(tuple(map(type, args)))
            # all-float calls seen before: one type comparison, then the generated code
            if plan is not None and plan[0] is not None \
                    and tuple(map(type, tangents)) == plan[0]:
                value, tangent = plan[1](*args, *tangents)
                if type(value) is float and type(tangent) is float:
                    return value, tangent
                return value, _output_tangent(value, tangent, True)
            result = self._jvp_fast(args, tangents, plan)
            if result is not None:
                return result
        arguments = self._bind(args, kwargs)
        wrt = self._wrt_for(arguments)
        tangent_values = _check_tangents(self.__qualname__, wrt, arguments, tangents)
        compiled = compiler.compile_jvp(self.__fwdcompile_function__, wrt, check=self.check)
        if compiled.writes:
            tangent_values = _separate([arguments[n] for n in wrt], tangent_values)
        tangent_kwargs = dict(zip(compiled.tangent_params, tangent_values))
        self._last = compiled
        if not kwargs and len(args) == len(self._params):
            self._remember_fast(args, wrt, compiled)
        value, tangent = compiled.fn(*args, **kwargs, **tangent_kwargs)
        return value, _unshared(_output_tangent(value, tangent, compiled.out_activity),
                                tangent_values)

    def _jvp_batched(self, args, kwargs, tangents):
        arguments = self._bind(args, kwargs)
        wrt = self._wrt_for(arguments)
        if isinstance(tangents, dict):  # by parameter name, as for one direction
            unknown = set(tangents) - set(wrt)
            if unknown:
                raise ValueError(f"{self.__qualname__}: tangents given for {sorted(unknown)}, "
                                 f"which are not differentiated parameters {list(wrt)}")
            tangents = tuple(tangents.get(n) for n in wrt)
        if not isinstance(tangents, (tuple, list)):
            tangents = (tangents,)
        if len(tangents) != len(wrt):
            raise ValueError(f"{self.__qualname__}: expected {len(wrt)} batched tangent(s), one "
                             f"per differentiated parameter {list(wrt)}, got {len(tangents)}")
        stacked, k = [], None
        for name, t in zip(wrt, tangents):
            if t is None:
                raise ValueError(f"{self.__qualname__}: the batched tangent for parameter "
                                 f"{name!r} is None")
            t = np.asarray(t)
            shape = np.shape(arguments[name])
            if t.dtype.kind not in "fc" or t.shape[1:] != shape or t.ndim != len(shape) + 1:
                raise ValueError(f"{self.__qualname__}: the batched tangent for parameter "
                                 f"{name!r} has shape {t.shape} and dtype {t.dtype}; expected "
                                 f"floating values of shape (K,) + {shape}")
            if k is not None and t.shape[0] != k:
                raise ValueError(f"{self.__qualname__}: batched tangents disagree on the number "
                                 f"of directions ({k} and {t.shape[0]} for {name!r})")
            k = t.shape[0]
            stacked.append(t)
        compiled = self._batched_variant(wrt)
        if compiled is not None and compiled.writes:
            stacked = list(_separate([arguments[n] for n in wrt], stacked))
        if compiled is None:  # the vector-mode transform declined: one JVP per direction
            results = [self.jvp(*args, tangents=tuple(_unbatch(t[i], arguments[n])
                                                      for t, n in zip(stacked, wrt)), **kwargs)
                       for i in range(k)]
            value = results[0][0]
            return value, _stack_tangents([r[1] for r in results])
        tangent_kwargs = dict(zip(compiled.tangent_params, stacked))
        value, tangent = compiled.fn(*args, **kwargs, **tangent_kwargs)
        return value, _batched_output(value, tangent, k)

    def _jvp_native(self, args, kwargs, tangents):
        """The JVP through the native backend (backends/llvm), or None to take
        the Python path (``fallback="python"``, with one warning)."""
        if not kwargs and len(args) == len(self._params):  # every argument, in order
            arguments = values = dict(zip(self._params, args))
        else:
            try:
                bound = self._sig.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{self.__qualname__}(): {exc}") from None
            arguments = dict(bound.arguments)  # what the caller passed decides wrt
            bound.apply_defaults()
            values = dict(bound.arguments)
        wrt = self._wrt_for(arguments)
        tangent_values = _check_tangents(self.__qualname__, wrt, arguments, tangents)
        types = tuple(native.native_type(values[n]) for n in self._params)
        key = (wrt, types)
        entry = self._native.get(key)
        if entry is None:
            entry = self._native[key] = self._compile_native(wrt, types)
        if isinstance(entry, native.Refusal):
            if self.fallback == "python":
                return None
            raise entry.error("use backend='python', or forward_gradient(..., "
                              "fallback='python')")
        kernel, order, tangent_names = entry
        if not kwargs and len(args) == len(self._params) and not kernel.takes_arrays \
                and order == list(self._params) + list(tangent_names):
            self._native_fast[tuple(map(type, args))] = (kernel.fast or kernel,
                                                         len(tangent_names))
        defaults = self._trailing_defaults(len(args))
        if not kwargs and "jvp" not in self.__dict__ and (
                len(args) == len(self._params) or defaults is not None):
            entry = native.jvp_entry(kernel, self._entry_fallback(), ForwardGradient.jvp.__doc__)
            if entry is None and kernel.fast is not None and len(tangent_names) == len(args) \
                    and all(type(a) is float for a in args) \
                    and order == list(self._params) + list(tangent_names):
                entry = _scalar_entry(self, kernel.fast, len(args))
            if entry is not None:
                self.jvp = entry
        tangent_values = [float(t) if types[self._params.index(n)] in (float, int, bool)
                          else native.native_array(self.__qualname__, n, t,
                                                   types[self._params.index(n)])
                          for n, t in zip(wrt, tangent_values)]
        pool = {**values, **dict(zip(tangent_names, tangent_values))}
        return kernel(*[pool[name] for name in order])

    def _trailing_defaults(self, given):
        """The defaults of the parameters after the first ``given``, when a call
        may leave them out and still differentiate the same parameters (``wrt``
        fixed by the user); else None."""
        if self._wrt is None or given >= len(self._params):
            return None
        tail = [self._sig.parameters[n] for n in self._params[given:]]
        if any(p.default is inspect.Parameter.empty
               or p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD for p in tail):
            return None
        return tuple(p.default for p in tail)

    def _entry_fallback(self):
        """What the generated ``f.jvp`` builtin calls when a call is not exactly
        its signature: with defaults left out, the builtin again with them
        filled in; anything else, the general ``jvp``."""
        general = functools.partial(ForwardGradient.jvp, self)
        defaults_for = {}  # number of arguments given -> the defaults after them, or None

        def fallback(*args, **kwargs):
            if len(kwargs) == 1 and "tangents" in kwargs and "jvp" in self.__dict__:
                given = len(args)
                if given not in defaults_for:
                    defaults_for[given] = self._trailing_defaults(given)
                defaults = defaults_for[given]
                if defaults is not None:
                    return self.jvp(*args, *defaults, **kwargs)
            return general(*args, **kwargs)

        return fallback

    def _compile_native(self, wrt, types):
        """(kernel, parameter order, tangent names), or a :class:`native.Refusal`
        (warned about once when falling back to Python)."""
        import warnings

        entry = native.compile_native(self.__fwdcompile_function__, self.__qualname__,
                                      self._params, wrt, types, self.boundscheck)
        if isinstance(entry, native.Refusal):
            if self.fallback == "python":
                warnings.warn(f"{entry.message}; using the Python backend", RuntimeWarning,
                              stacklevel=4)
        else:
            self._kernel = entry[0]
        return entry

    def compile(self, *signature: type | str, wrt: Wrt = None) -> ForwardGradient:
        """Compile the native kernel for ``signature`` now instead of at the
        first call: one entry per parameter, ``float``, ``int``, ``bool``,
        ``"float64[:]"`` or ``"float64[:, :]"``.  ``wrt`` defaults to the
        float and array parameters.  Returns ``self``; raises
        ``UnsupportedSyntax`` (or ``TypeError``) as the first call would."""
        if self.backend != "llvm":
            raise ValueError("compile() builds native kernels: use backend='llvm'")
        if len(signature) != len(self._params):
            raise TypeError(f"{self.__qualname__} takes {len(self._params)} parameters "
                            f"{self._params}; the signature has {len(signature)} entries")
        types = tuple(native.signature_type(self.__qualname__, n, s)
                      for n, s in zip(self._params, signature))
        if wrt is None:
            wrt = self._wrt or tuple(n for n, t in zip(self._params, types)
                                     if t is float or not isinstance(t, type))
        else:
            wrt = self._normalize_wrt(wrt)
        key = (wrt, types)
        if key not in self._native:
            self._native[key] = self._compile_native(wrt, types)
        entry = self._native[key]
        if isinstance(entry, native.Refusal):
            raise entry.error("use backend='python'")
        return self

    @property
    def llvm_ir(self) -> str:
        """The optimized LLVM IR of the last native kernel compiled."""
        return self._last_kernel().llvm_ir

    @property
    def llvm_asm(self) -> str:
        """The machine code (assembly) of the last native kernel compiled."""
        return self._last_kernel().asm

    def _last_kernel(self):
        kernel = getattr(self, "_kernel", None)
        if kernel is None:
            raise AttributeError("no native kernel compiled yet: call jvp (or compile) with "
                                 "backend='llvm' first")
        return kernel

    def _batched_variant(self, wrt):
        """The vector-mode JVP for ``wrt``, or None when the code needs the
        one-direction-at-a-time path (lists or dicts of tangents, ...)."""
        key = ("batched", wrt)
        if key not in self._fast:
            try:
                self._fast[key] = compiler.compile_jvp(self.__fwdcompile_function__, wrt,
                                                       batched=True, check=self.check)
            except BatchUnsupported:
                self._fast[key] = None
        return self._fast[key]

    def _remember_fast(self, args, wrt, compiled):
        positions = tuple(self._params.index(n) for n in wrt)
        arrays = tuple((i, a.dtype) for i, a in enumerate(args) if type(a) is np.ndarray)
        scalar = None
        if not arrays and compiled.positional_tangents \
                and all(type(args[i]) is float for i in positions):
            scalar = tuple(float for _ in positions)  # tangent types, compared at once
            if all(type(a) is float for a in args) and len(positions) == len(args) \
                    and "jvp" not in self.__dict__:
                self.jvp = _scalar_entry(self, compiled.fn, len(args))
        self._fast[tuple(map(type, args))] = (scalar, compiled.fn, compiled, positions, arrays)

    def _jvp_fast(self, args, tangents, plan):
        """The per-call path for positional calls whose argument types were seen
        before; anything unusual returns None and takes the checked path."""
        if plan is None:
            return None
        _, _, compiled, checks, arrays = plan
        for i, dtype in arrays:
            if args[i].dtype != dtype:
                return None
        if len(tangents) != len(checks):
            return None
        for i, t in zip(checks, tangents):
            a = args[i]
            if type(a) is float:
                if type(t) is not float:
                    return None
            elif type(t) is not np.ndarray or t.shape != a.shape or t.dtype.kind not in "fc":
                return None
        if compiled.writes:
            tangents = _separate([args[i] for i in checks], tangents)
        if compiled.positional_tangents:
            value, tangent = compiled.fn(*args, *tangents)
        else:
            value, tangent = compiled.fn(*args, **dict(zip(compiled.tangent_params, tangents)))
        if type(value) is float and type(tangent) is float:
            return value, tangent
        return value, _unshared(_output_tangent(value, tangent, compiled.out_activity),
                                tangents)

    def forward_grad(self, *args: Any, rng: Any = None, directions: int = 1,
                     distribution: Literal["normal", "rademacher"] = "normal",
                     combine: Literal["mean", "project"] = "mean",
                     **kwargs: Any) -> tuple[Any, Any]:
        """``(value, g)``: the value and a forward-gradient estimate of the gradient.

        Each of ``directions`` random directions ``v`` (with the structure of
        the differentiated parameters) gives the directional derivative
        ``grad f . v`` from one JVP.  ``combine="mean"`` averages
        ``(grad f . v) v``, an unbiased estimate (Baydin et al. 2022);
        ``combine="project"`` returns the orthogonal projection of the gradient
        onto the span of the directions, which needs only the K directional
        derivatives and a K x K solve.  ``distribution`` is ``"normal"``
        (N(0, I)) or ``"rademacher"`` (entries +1 or -1).

        ``g`` is one array (or float) for one differentiated parameter and a
        tuple otherwise.  ``rng`` is a seed, a ``numpy.random.Generator``, or
        a :class:`fwdcompile.sampling.DirectionSampler` (compiled, counter-based:
        several times faster for large models; each call uses its next step).
        The same seed gives the same result, and numpy's global random state
        is never used.
        """
        if not isinstance(directions, numbers.Integral) or isinstance(directions, bool) \
                or directions < 1:
            raise ValueError(f"directions must be a positive integer, got {directions!r}")
        if distribution not in ("normal", "rademacher"):
            raise ValueError(f"distribution must be 'normal' or 'rademacher', got "
                             f"{distribution!r}")
        if combine not in ("mean", "project"):
            raise ValueError(f"combine must be 'mean' or 'project', got {combine!r}")
        counter_based = type(rng).__name__ == "DirectionSampler"
        if counter_based:  # fwdcompile.sampling: directions keyed by (seed, step)
            draw = rng.stream(distribution)
        else:
            rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

            def draw(shape, offset):
                return _direction(rng, shape, distribution)
        if not kwargs and len(args) == len(self._params):  # skip inspect's slower binding
            arguments = dict(zip(self._params, args))
        else:
            arguments = self._bind(args, kwargs)
        wrt = self._wrt_for(arguments)
        if not wrt:
            raise TypeError(f"{self.__qualname__}: no parameter receives a float; nothing to "
                            "differentiate (pass floats, or name the parameters in wrt)")
        shapes = [np.shape(arguments[n]) for n in wrt]
        # directions (and g) in each parameter's precision: float32 models stay float32
        dtypes = [_other_float(arguments[n]) for n in wrt]
        if any(dtypes):
            float64_draw = draw

            def draw(shape, offset):
                v = float64_draw(shape, offset)
                dtype = dtypes[offset]
                return v if dtype is None or np.ndim(v) == 0 else v.astype(dtype)
        k = int(directions)
        if k == 1:
            draws = [tuple(draw(shape, i) for i, shape in enumerate(shapes))]
            given = _copies(draws[0]) if self._writes_into(wrt) else draws[0]
            value, slope = self.jvp(*args, tangents=given, **kwargs)
            if type(value) is not float:
                self._check_scalar_value(value)
            if type(slope) is float and combine == "mean":  # the common scalar case, directly
                return value, _single_direction(draws[0], slope)
            slopes = [slope]
        else:  # vector mode: all K directional derivatives from one run
            stacked = tuple(draw((k,) + shape, i) for i, shape in enumerate(shapes))
            value, slopes = self.jvp(*args, tangents=_copies(stacked) if self._writes_into(wrt)
                                     else stacked, batched=True, **kwargs)
            draws = [tuple(v[i] for v in stacked) for i in range(k)]
        self._check_scalar_value(value)
        slopes = [float(s) for s in np.reshape(slopes, -1)]
        if combine == "mean":
            weights = np.asarray(slopes) / len(slopes)
        else:
            gram = sum(np.array([[np.vdot(a[p], b[p]) for b in draws] for a in draws])
                       for p in range(len(wrt)))
            weights = np.linalg.lstsq(gram, np.asarray(slopes), rcond=None)[0]
        grads = []
        for p, shape in enumerate(shapes):
            g = sum(w * vs[p] for w, vs in zip(weights, draws))
            grads.append(float(g) if shape == () else np.asarray(g, dtype=dtypes[p] or float))
        return value, grads[0] if len(grads) == 1 else tuple(grads)

    def _writes_into(self, wrt):
        """Whether the function writes into a differentiated parameter; its JVP
        then updates that parameter's tangent in place (as documented for
        ``jvp``), so estimators must hand it copies of their directions."""
        key = ("writes", tuple(wrt))
        if key not in self._fast:
            compiled = compiler.compile_jvp(self.__fwdcompile_function__, tuple(wrt),
                                            check=self.check)
            self._fast[key] = bool(set(compiled.writes) & set(wrt))
        return self._fast[key]

    def _check_scalar_value(self, value):
        """forward_grad estimates the gradient of a real scalar function."""
        if isinstance(value, (numbers.Real, np.ndarray)) and not isinstance(value, bool) \
                and np.ndim(value) == 0 and np.asarray(value).dtype.kind in "fiu":
            return
        what = f"shape {np.shape(value)}" if isinstance(value, np.ndarray) else \
            f"{type(value).__name__} {_short(value)}"
        raise ValueError(f"{self.__qualname__}: forward_grad needs a function returning "
                         f"a real scalar, but it returned {what}")

    # --------------------------------------------------------------- inspection
    @property
    def source(self) -> str:
        """The generated Python (value and tangent) of the last compiled signature."""
        if self._last is None:
            self._last = compiler.compile_jvp(self.__fwdcompile_function__,
                                              self._default_wrt(), check=self.check)
        return self._last.source

    @property
    def batched_source(self) -> str:
        """The generated vector-mode Python (``jvp(..., batched=True)``, and
        ``forward_grad`` with several directions): every tangent carries K
        directions on a leading axis.  Same differentiated parameters as
        :attr:`source`; a ValueError when vector mode runs one JVP per
        direction for this function instead (tangents in lists or dicts)."""
        wrt = self._last.wrt if self._last is not None else self._default_wrt()
        compiled = self._batched_variant(tuple(wrt))
        if compiled is None:
            raise ValueError(f"{self.__qualname__}: vector mode runs one JVP per direction "
                             "for this function (its tangents are held in lists, dicts or "
                             "tuples), so there is no batched source")
        return compiled.source

    def _default_wrt(self):
        """Before any call: every parameter not annotated or defaulted as an int/bool/str."""
        out = []
        for name, p in self._sig.parameters.items():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if p.annotation in (int, bool, str) or isinstance(p.default, (int, bool, str)) \
                    and not isinstance(p.default, float) or p.default is None:
                continue
            out.append(name)
        return tuple(out)


class BoundForwardGradient:
    """A decorated method bound to its instance (``self`` carries no tangent)."""

    def __init__(self, parent, instance):
        self.__func__, self.__self__ = parent, instance

    def __call__(self, *args, **kwargs):
        return self.__func__(self.__self__, *args, **kwargs)

    def jvp(self, *args, tangents, **kwargs):
        return self.__func__.jvp(self.__self__, *args, tangents=tangents, **kwargs)

    def forward_grad(self, *args, **kwargs):
        return self.__func__.forward_grad(self.__self__, *args, **kwargs)

    @property
    def source(self):
        return self.__func__.source

    @property
    def batched_source(self):
        return self.__func__.batched_source




def _scalar_entry(owner, generated, arity):
    """A ``jvp`` specialised to all-float calls, the case where per-call cost
    shows (scalar code): it checks argument types inline and calls the
    generated function directly; any other call takes the general path."""
    names = [f"a{i}" for i in range(arity)]
    args = ", ".join(names)
    tangents = ", ".join(f"t{i}" for i in range(arity))
    checks = " and ".join(f"type({n}) is float" for n in names)
    tchecks = " and ".join(f"type(t{i}) is float" for i in range(arity))
    text = (
        f"def jvp(*args, tangents, **kwargs):\n"
        f"    if not kwargs and len(args) == {arity} and type(tangents) is tuple "
        f"and len(tangents) == {arity}:\n"
        f"        {args}, = args\n"
        f"        {tangents}, = tangents\n"
        f"        if {checks} and {tchecks}:\n"
        f"            value, tangent = generated({args}, {tangents})\n"
        f"            if type(tangent) is float:\n"
        f"                return value, tangent\n"
        f"            return value, output_tangent(value, tangent, True)\n"
        f"    return general(*args, tangents=tangents, **kwargs)\n")
    scope = {"generated": generated, "output_tangent": _output_tangent,
             "general": functools.partial(ForwardGradient.jvp, owner)}
    exec(compile(text, f"<fwdcompile jvp entry of {owner.__qualname__}>", "exec"), scope)
    entry = scope["jvp"]
    entry.__doc__ = ForwardGradient.jvp.__doc__
    return entry


def _unbatch(t, arg):
    return float(t) if np.ndim(arg) == 0 and isinstance(arg, float) else t


def _separate(values, tangents):
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


def _copies(tangents):
    return tuple(t.copy() if isinstance(t, np.ndarray) else t for t in tangents)


def _stack_tangents(tangents):
    if isinstance(tangents[0], tuple):
        return tuple(_stack_tangents(list(col)) for col in zip(*tangents))
    if isinstance(tangents[0], list):
        return [_stack_tangents(list(col)) for col in zip(*tangents)]
    if isinstance(tangents[0], dict):
        return {key: _stack_tangents([t[key] for t in tangents]) for key in tangents[0]}
    if tangents[0] is None:
        return None
    return np.stack([np.asarray(t, dtype=float) for t in tangents])


def _batched_output(value, tangent, k):
    """Give statically zero or lower-rank tangents the shape (K,) + value shape."""
    if isinstance(value, tuple) and isinstance(tangent, tuple):
        return tuple(_batched_output(v, t, k) for v, t in zip(value, tangent))
    if isinstance(value, list) and isinstance(tangent, list):
        return [_batched_output(v, t, k) for v, t in zip(value, tangent)]
    if isinstance(value, dict) and isinstance(tangent, dict):
        return {key: _batched_output(v, tangent.get(key), k) for key, v in value.items()}
    if value is None:
        return None
    shape = (k,) + np.shape(value)
    tangent = np.asarray(0.0 if tangent is None else tangent)
    if tangent.shape != shape:
        tangent = np.broadcast_to(tangent.reshape(tangent.shape[:1] + (1,) * (
            len(shape) - tangent.ndim) + tangent.shape[1:]) if tangent.ndim else tangent,
            shape)
    return np.array(tangent, dtype=np.result_type(tangent.dtype, np.float64))


def _single_direction(v, slope):
    # the directions were drawn for this call alone: scale them in place
    grads = tuple(np.multiply(vi, slope, out=vi) if type(vi) is np.ndarray else slope * vi
                  for vi in v)
    return grads[0] if len(grads) == 1 else grads


def _other_float(value):
    """The dtype of a floating array that is not float64 (float32, ...), else None."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.dtype != np.float64:
        return value.dtype
    return None


def _direction(rng, shape, distribution):
    if distribution == "normal":
        if shape == ():
            return rng.standard_normal()
        v = rng.standard_normal(shape)
    else:
        v = runtime.rademacher(rng, shape)
    return float(v) if shape == () else v








def _short(value):
    text = repr(value)
    return text if len(text) < 40 else text[:37] + "..."


def _check_tangents(qualname, wrt, arguments, tangents):
    if isinstance(tangents, dict):
        unknown = set(tangents) - set(wrt)
        if unknown:
            raise ValueError(f"{qualname}: tangents given for {sorted(unknown)}, which are not "
                             f"differentiated parameters {list(wrt)}")
        tangents = tuple(tangents.get(n) for n in wrt)
    elif not isinstance(tangents, (tuple, list)):
        tangents = (tangents,)
    if len(tangents) != len(wrt):
        raise ValueError(f"{qualname}: expected {len(wrt)} tangent(s), one per differentiated "
                         f"parameter {list(wrt)}, got {len(tangents)}")
    out = []
    for name, t in zip(wrt, tangents):
        arg = arguments[name]
        if t is None:
            raise ValueError(f"{qualname}: the tangent for parameter {name!r} is None")
        if isinstance(t, (bool, np.bool_)) or (isinstance(t, np.ndarray) and t.dtype.kind == "b"):
            raise ValueError(f"{qualname}: the tangent for parameter {name!r} is boolean; "
                             "tangents must be floating point")
        if not isinstance(t, (np.ndarray, numbers.Number)):  # a list, or something else
            kind = _dtype_kind(t)
            if kind not in "fciu":
                raise ValueError(f"{qualname}: the tangent for parameter {name!r} is "
                                 f"{type(t).__name__} {_short(t)}; tangents must be floats or "
                                 "arrays of floats with the argument's shape")
        if isinstance(t, np.ndarray) and t.dtype.kind not in "fc":
            raise ValueError(f"{qualname}: the tangent for parameter {name!r} has dtype "
                             f"{t.dtype}; tangents must be floating point like the argument "
                             f"({np.asarray(arg).dtype})")
        if np.shape(t) != np.shape(arg):
            raise ValueError(f"{qualname}: the tangent for parameter {name!r} has shape "
                             f"{np.shape(t)} but the argument has shape {np.shape(arg)}")
        if not isinstance(t, np.ndarray):
            if not isinstance(t, numbers.Number):
                t = np.asarray(t, dtype=float)
                if np.ndim(arg) == 0:
                    t = float(t)
            elif np.ndim(arg) == 0 and not isinstance(t, complex):
                t = float(t)
        out.append(t)
    return out


def _dtype_kind(value):
    """The numpy dtype kind ``value`` converts to ("O" when it does not)."""
    try:
        return np.asarray(value).dtype.kind
    except (TypeError, ValueError):  # ragged lists
        return "O"


def _unshared(tangent, given):
    """The output tangent, with every array that shares memory with a tangent
    the caller passed copied: for ``f(x) = x * 1.0`` the generated code
    returns ``d_x`` itself, and the caller scaling the result in place must
    not change the direction it passed in."""
    inputs = [t for t in given if type(t) is np.ndarray]
    if not inputs:
        return tangent
    if type(tangent) is tuple:
        return tuple(_unshared(t, inputs) for t in tangent)
    if type(tangent) is np.ndarray and any(np.may_share_memory(tangent, t) for t in inputs):
        return tangent.copy()
    return tangent


def _output_tangent(value, tangent, out_activity):
    """Give statically zero tangents the shape of their value."""
    if isinstance(value, tuple) and isinstance(tangent, tuple):
        return tuple(_output_tangent(v, t, True) for v, t in zip(value, tangent))
    if value is None:
        return None
    if tangent is None:
        tangent = 0.0
    if isinstance(value, np.ndarray) and np.shape(tangent) != value.shape:
        return np.broadcast_to(tangent, value.shape).astype(float)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return 0.0 if not isinstance(tangent, np.ndarray) else tangent
    return tangent


def forward_gradient(fn: Callable[..., Any] | None = None, *, wrt: Wrt = None,
                     backend: Backend = "python", fallback: Literal["python"] | None = None,
                     boundscheck: bool = True, check: bool | None = None) -> Any:
    """Decorate a numeric function with its forward-mode derivative.

    Use bare (``@forward_gradient``) or configured
    (``@forward_gradient(wrt=("W", "b"))``).  ``wrt`` names the parameters
    (or their indices) that carry derivatives; by default every parameter
    that receives a float or a float array.  Unsupported syntax raises
    :class:`fwdcompile.UnsupportedSyntax` here, at decoration time.

    ``backend="llvm"`` runs the function as native code compiled through
    llvmlite (float, int and bool scalars, float64 arrays of 1 or 2
    dimensions and int64 index arrays; the subset in docs/native-backend.md);
    code outside that subset raises ``UnsupportedSyntax`` at the first
    ``jvp``, or with ``fallback="python"`` runs on the Python backend after
    one warning.
    ``check=True`` (or the environment variable ``FWDCOMPILE_CHECK=1``)
    generates code that asserts the shape and dtype of every tangent after
    each statement and raises :class:`fwdcompile.errors.TangentCheckFailed`
    at the user's line when one is wrong: slower, for testing and bug reports.
    ``boundscheck=False`` drops the native backend's index checks (an index
    out of range is then undefined behaviour, as in C) for loops that
    vectorize.
    """
    options: dict[str, Any] = dict(backend=backend, fallback=fallback, boundscheck=boundscheck,
                                   check=check)
    if fn is None:
        return functools.partial(forward_gradient, wrt=wrt, **options)
    if inspect.ismethod(fn):  # obj.method: differentiate the function, keep obj bound
        if isinstance(wrt, numbers.Integral) or (isinstance(wrt, (tuple, list)) and any(
                isinstance(w, numbers.Integral) for w in wrt)):
            items: Any = (wrt,) if isinstance(wrt, numbers.Integral) else wrt
            wrt = [int(w) + 1 if isinstance(w, numbers.Integral) else w for w in items]
        return BoundForwardGradient(ForwardGradient(fn.__func__, wrt=wrt, **options),
                                    fn.__self__)
    return ForwardGradient(fn, wrt=wrt, **options)


_FUNCTIONAL: weakref.WeakKeyDictionary[Callable[..., Any], dict[Any, ForwardGradient]] = \
    weakref.WeakKeyDictionary()


def jvp(fn: Callable[..., Any], primals: Sequence[Any], tangents: Any, *, wrt: Wrt = None,
        backend: Backend = "python") -> tuple[Any, Any]:
    """``(value, tangent)`` of ``fn(*primals)`` along ``tangents``, without a decorator.

    By default every primal carries a tangent (one tangent per primal), as in
    ``jax.jvp``; pass ``wrt`` to differentiate with respect to some only.
    """
    if isinstance(fn, ForwardGradient):
        fn = fn.__fwdcompile_function__
    primals = tuple(primals)
    if wrt is None:
        params = list(inspect.signature(fn).parameters)
        wrt = tuple(params[:len(primals)])
    key = (wrt, backend)
    cache = _FUNCTIONAL.setdefault(fn, {})
    if key not in cache:
        cache[key] = ForwardGradient(fn, wrt=wrt, backend=backend)
    return cache[key].jvp(*primals, tangents=tangents)
