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

from . import calling, estimators, native, pipeline, tree
from .errors import FwdcompileError

BACKENDS = ("python", "llvm")

Wrt = Union[str, int, Sequence[Union[str, int]], None]
"""Differentiated parameters: names or positions (None: every float argument)."""
Backend = Literal["python", "llvm"]


class ForwardGradient:
    """A function together with its forward-mode derivative.

    A thin front: calling (binding, ``wrt`` inference, checks, the call-plan
    cache and native kernels) is :class:`fwdcompile.calling.Calls`; drawing
    and combining directions is :mod:`fwdcompile.estimators`."""

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
        if fallback is not None:
            import warnings
            warnings.warn("forward_gradient(fallback=...) does nothing any more: "
                          "backend='llvm' runs what does not lower in numpy (see "
                          "f.llvm_placement); drop the argument", DeprecationWarning,
                          stacklevel=3)
        self.fallback = fallback  # kept for callers that read it
        self._python_reason = None  # why the last native call ran on the Python backend
        self.boundscheck = bool(boundscheck)
        self.check = check  # None: the FWDCOMPILE_CHECK environment variable decides
        functools.update_wrapper(self, fn)
        self.__fwdcompile_function__ = fn
        self.backend = backend
        self._sig = inspect.signature(fn)
        self._params = list(self._sig.parameters)
        pipeline.check(fn)  # syntax errors surface now, at decoration time (before wrt's)
        self._wrt = self._normalize_wrt(wrt)
        self._last = None
        self._calls = calling.Calls(self, fn, self._wrt)
        calling.install(self, self._calls.jvp)  # f.jvp: see calling's module docstring
        if self._wrt is not None:
            # compiled now for arrays; a parameter that receives a structure (a
            # pytree) is compiled for it at the first call, so what does not
            # compile for arrays (params.W1) is reported there
            try:
                self._last = pipeline.compile_jvp(fn, self._wrt, check=check)
            except FwdcompileError:
                if not pipeline.may_take_structures(fn, self._wrt):
                    raise
                self._last = None

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
        # instances answer f.jvp with their Calls' entry (calling.install); this
        # method is what ForwardGradient.jvp(f, ...) and help() see
        return self._calls.jvp(*args, tangents=tangents, batched=batched, **kwargs)

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
        entry = self._calls.native_kernel(wrt, types)
        if isinstance(entry, native.Refusal):
            raise entry.error("use backend='python'")
        return self

    @property
    def llvm_ir(self) -> str:
        """The optimized LLVM IR of the last native kernel compiled."""
        return self._last_kernel().llvm_ir

    @property
    def llvm_placement(self) -> str:
        """Where the last native kernel's statements run: the generated source,
        each statement marked ``native k`` (fused into kernel k) or ``numpy``
        (a matrix product, or code outside the native subset), when the
        function does not lower whole (docs/native-backend.md, "Regions")."""
        if getattr(self, "_python_reason", None):
            return f"the last call ran on the Python backend: {self._python_reason}"
        kernel = self._last_kernel()
        placement = getattr(kernel, "placement", None)
        if placement is None:
            return f"every statement of {self.__qualname__} runs in one native kernel"
        return placement()

    @property
    def llvm_asm(self) -> str:
        """The machine code (assembly) of the last native kernel compiled."""
        return self._last_kernel().asm

    @property
    def llvm_timings(self) -> dict:
        """How the last native kernel was compiled: seconds per step (``lower``,
        ``parse IR``, ``optimize``, ``codegen`` or, loaded from the disk cache,
        ``load object code``) and ``cache``: ``"hit"``, ``"miss"``, ``"off"``
        or ``"process-specific"`` (see docs/native-backend.md)."""
        kernel = self._last_kernel()
        return {**kernel.timings, "cache": kernel.cache}

    def _last_kernel(self):
        kernel = getattr(self, "_kernel", None)
        if kernel is None:
            raise AttributeError("no native kernel compiled yet: call jvp (or compile) with "
                                 "backend='llvm' first")
        return kernel

    def _batched_variant(self, wrt):
        return self._calls.batched_variant(wrt)

    def _writes_into(self, wrt):
        """Whether the function writes into a differentiated parameter; its JVP
        then updates that parameter's tangent in place (as documented for
        ``jvp``), so estimators must hand it copies of their directions."""
        return self._calls.writes_into(wrt)

    def forward_grad(self, *args: Any, rng: Any = None, directions: int = 1,
                     distribution: Literal["normal", "rademacher"] = "normal",
                     combine: Literal["mean", "project"] = "mean", lazy: bool = False,
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
        tuple otherwise.  ``rng`` is an int seed, which draws from
        ``DirectionSampler(seed)`` (compiled, counter-based: several times
        faster for large models; numpy arithmetic where llvmlite cannot
        compile it), a :class:`fwdcompile.sampling.DirectionSampler` (each
        call uses its next step), a ``numpy.random.Generator`` (its stream),
        or None (a fresh Generator).  The same seed gives the same result,
        and numpy's global random state is never used.

        ``lazy=True`` (with an int seed or a DirectionSampler) never holds
        the directions: the generated code draws each parameter's direction
        just before its first use and releases it after its last, and the
        estimate draws it again from the same key (the same numbers as
        ``lazy=False``, bit for bit, with one leaf's directions in memory at
        a time instead of all of them).
        """
        estimators.check_options(directions, distribution, combine)
        calls = self._calls
        arguments = calls.bind(args, kwargs)
        wrt = calls.wrt_for(arguments)
        if not wrt:
            raise TypeError(f"{self.__qualname__}: no parameter receives a float; nothing to "
                            "differentiate (pass floats, or name the parameters in wrt)")
        # one direction per leaf: a parameter given a structure (a pytree) has
        # several, and its directions and estimate have its structure
        leaves, per_parameter = tree.flatten_all([arguments[n] for n in wrt])
        shapes = [np.shape(leaf) for leaf in leaves]
        # directions (and g) in each leaf's precision: float32 models stay float32
        dtypes = [_other_float(leaf) for leaf in leaves]
        if lazy and not estimators.is_sampler(estimators.from_seed(rng)):
            raise ValueError(f"{self.__qualname__}: lazy=True draws the directions again from "
                             "the sampler's key: pass rng as an int seed or a "
                             "fwdcompile.sampling.DirectionSampler")
        draw = estimators.directions_from(rng, distribution, dtypes)
        structures = calling.structures_for(wrt, arguments)
        writes = calls.writes_into(wrt, structures)
        k = int(directions)

        compiled = calls.lazy_variant(wrt, structures, batched=k > 1) \
            if lazy and not writes else None
        if compiled is not None:
            value, slopes = self._lazy_jvp(compiled, args, kwargs, draw, shapes, k)
            self._check_scalar_value(value)
            prefix = (k,) if k > 1 else ()

            def elements(p):
                v = draw(prefix + shapes[p], p)
                return [v[i] for i in range(k)] if k > 1 else [v]
            if k == 1 and combine == "mean" and type(slopes[0]) is float:
                grads = per_parameter(estimators.scale_single(
                    tuple(elements(p)[0] for p in range(len(shapes))), slopes[0]))
                return value, grads[0] if len(grads) == 1 else grads
            grads = per_parameter(estimators.combine_regenerated(
                elements, np.reshape(slopes, -1), combine, shapes, dtypes))
            return value, grads[0] if len(grads) == 1 else grads
        if k == 1:
            draws = [tuple(draw(shape, i) for i, shape in enumerate(shapes))]
            given = per_parameter(calling.copies(draws[0]) if writes else draws[0])
            value, slope = self.jvp(*args, tangents=given, **kwargs)
            if type(value) is not float:
                self._check_scalar_value(value)
            if type(slope) is float and combine == "mean":  # the common scalar case, directly
                grads = per_parameter(estimators.scale_single(draws[0], slope))
                return value, grads[0] if len(grads) == 1 else grads
            slopes = [slope]
        else:  # vector mode: all K directional derivatives from one run
            stacked = tuple(draw((k,) + shape, i) for i, shape in enumerate(shapes))
            value, slopes = self.jvp(*args, tangents=per_parameter(
                calling.copies(stacked) if writes else stacked), batched=True, **kwargs)
            draws = [tuple(v[i] for v in stacked) for i in range(k)]
        self._check_scalar_value(value)
        grads = per_parameter(estimators.combine(draws, np.reshape(slopes, -1), combine,
                                                 shapes, dtypes))
        return value, grads[0] if len(grads) == 1 else grads

    def _lazy_jvp(self, compiled, args, kwargs, draw, shapes, k):
        """``(value, [slopes])`` from the lazy variant: ``direction(like, i)``
        draws leaf i's direction(s) when the generated code first needs it."""
        prefix = (k,) if k > 1 else ()

        def direction(like, offset):
            return draw(prefix + shapes[offset], offset)
        direction.k = k  # _K in vector mode
        value, tangent = compiled.fn(*args, **kwargs, **{compiled.direction_param: direction})
        if k > 1:
            return value, list(np.reshape(calling.batched_output(value, tangent, k), -1))
        tangent = calling.output_tangent(value, tangent)
        return value, [tangent if type(tangent) is float else float(np.reshape(tangent, ()))
                       if np.ndim(tangent) == 0 else tangent]

    def _check_scalar_value(self, value):
        """forward_grad estimates the gradient of a real scalar function."""
        if isinstance(value, (numbers.Real, np.ndarray)) and not isinstance(value, bool) \
                and np.ndim(value) == 0 and np.asarray(value).dtype.kind in "fiu":
            return
        what = f"shape {np.shape(value)}" if isinstance(value, np.ndarray) else \
            f"{type(value).__name__} {calling.short(value)}"
        raise ValueError(f"{self.__qualname__}: forward_grad needs a function returning "
                         f"a real scalar, but it returned {what}")

    # --------------------------------------------------------------- inspection
    @property
    def source(self) -> str:
        """The generated Python (value and tangent) of the last compiled signature."""
        if self._last is None:
            wrt = self._wrt if self._wrt is not None else self._default_wrt()
            try:
                self._last = pipeline.compile_jvp(self.__fwdcompile_function__, wrt,
                                                  check=self.check)
            except FwdcompileError:
                if not pipeline.may_take_structures(self.__fwdcompile_function__, wrt):
                    raise
                raise ValueError(f"{self.__qualname__}: reads a parameter like a structure "
                                 "(params['W'], layer.W): its code is generated for the "
                                 "structure it receives; call jvp or forward_grad once, "
                                 "then read .source") from None
        return self._last.source

    @property
    def batched_source(self) -> str:
        """The generated vector-mode Python (``jvp(..., batched=True)``, and
        ``forward_grad`` with several directions): every tangent carries K
        directions on a leading axis.  Same differentiated parameters as
        :attr:`source`; a ValueError when vector mode runs one JVP per
        direction for this function instead (tangents in lists or dicts)."""
        if self._last is not None:
            wrt, structures = self._last.wrt, self._last.structures
        elif self._calls.last_batched is not None:  # only batched calls so far
            wrt, structures = self._calls.last_batched
        else:
            wrt = self._wrt if self._wrt is not None else self._default_wrt()
            structures = ()
        compiled = self._calls.batched_variant(tuple(wrt), structures)
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


# the builtin native entry and the Calls method that instances answer f.jvp
# with carry the documented method's docstring (help(f.jvp))
calling._JVP_DOC = calling.Calls.jvp.__doc__ = ForwardGradient.jvp.__doc__


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


def _other_float(value):
    """The dtype of a floating array that is not float64 (float32, ...), else None."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.dtype != np.float64:
        return value.dtype
    return None


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
    llvmlite (float, int and bool scalars, float64 or float32 arrays of 1 to 4
    dimensions and int64 index arrays; the subset in docs/native-backend.md);
    statements outside that subset (and matrix products, which go to BLAS)
    run in numpy between native kernels (``f.llvm_placement`` shows which
    run where), and arguments it does not take (float16, 5-d arrays, pytrees)
    run on the Python backend.  ``fallback`` is deprecated and does nothing.
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
