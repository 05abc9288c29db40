"""``check_grads``: compare a function's JVPs with an independent reference.

The reference is the directional derivative of ``t -> f(args + t v)`` at
``t = 0`` computed without fwdcompile: Ridders' extrapolated central
differences (Numerical Recipes ``dfridr``: a Neville tableau of central
differences, good to about 1e-10 for smooth functions, with an error
estimate per element), or the complex step ``Im f(x + i h v) / h`` (exact
to rounding) when the function accepts complex input and the two agree.
``fwdcompile check`` (the command line) and the test suite's oracle use the
same code.
"""

from __future__ import annotations

import copy
import inspect
import numbers
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from . import tree
from .api import Backend, Wrt
from .jacobian import Differentiated, as_forward_gradient, output_leaves

__all__ = ["check_grads", "CheckReport", "ridders", "complex_step", "directional_reference"]

COMPLEX_STEP = 1e-30
RIDDERS_H = 1e-2
RIDDERS_CON = 1.4
RIDDERS_NTAB = 10
RIDDERS_SAFE = 2.0

Method = Literal["auto", "ridders", "complex"]


def ridders(g: Callable[[float], Any], h: float = RIDDERS_H, con: float = RIDDERS_CON,
            ntab: int = RIDDERS_NTAB, safe: float = RIDDERS_SAFE) -> tuple[Any, Any]:
    """Ridders' method for ``g: float -> 1-D float array``, elementwise.

    Returns ``(derivative, error_estimate)``, both arrays.  Follows
    Numerical Recipes ``dfridr``: a Neville tableau of central differences
    with the step divided by ``con`` each row; every element keeps the
    entry with the smallest error estimate and stops improving once the
    higher orders start to diverge (by ``safe``).
    """
    if h == 0:
        raise ValueError("h must be nonzero")
    con2 = con * con

    def central(step):
        return (np.asarray(g(step), dtype=float) - np.asarray(g(-step), dtype=float)) / (2 * step)

    prev = [central(h)]
    ans = prev[0].copy()
    err = np.full(ans.shape, np.inf)
    done = np.zeros(ans.shape, dtype=bool)
    for i in range(1, ntab):
        h /= con
        row = [central(h)]
        fac = con2
        for j in range(1, i + 1):
            row.append((row[j - 1] * fac - prev[j - 1]) / (fac - 1.0))
            fac *= con2
            errt = np.maximum(np.abs(row[j] - row[j - 1]), np.abs(row[j] - prev[j - 1]))
            better = (errt <= err) & ~done
            err = np.where(better, errt, err)
            ans = np.where(better, row[j], ans)
        done |= np.abs(row[i] - prev[i - 1]) >= safe * err
        prev = row
        if done.all():
            break
    return ans, err


def complex_step(g: Callable[[complex], Any], h: float = COMPLEX_STEP) -> Any:
    """``Im g(i h) / h`` for ``g: complex -> 1-D complex array``."""
    return np.imag(np.asarray(g(1j * h), dtype=complex)) / h


def _raveled(value: Any) -> np.ndarray:
    leaves = tree.leaves(value)
    if not leaves:
        return np.zeros(0)
    return np.concatenate([np.ravel(np.asarray(leaf)) for leaf in leaves])


def directional_reference(fn: Callable[..., Any], point: Callable[[Any], tuple[tuple, dict]],
                          method: Method = "auto") -> tuple[np.ndarray, np.ndarray, str]:
    """The derivative at ``t = 0`` of ``fn(*args(t), **kwargs(t))``, every output
    leaf raveled and concatenated: ``(derivative, error estimate, method used)``.

    ``point(t)`` returns ``(args, kwargs)`` moved by ``t`` along the direction.
    ``method="auto"`` uses the complex step where it works and agrees with
    Ridders' differences (within their error estimate), else Ridders."""
    def g(t):
        args, kwargs = point(t)
        return _raveled(fn(*args, **kwargs))

    if method not in ("auto", "ridders", "complex"):
        raise ValueError(f"method must be 'auto', 'ridders' or 'complex', got {method!r}")
    if method == "complex":
        d = complex_step(g)
        return d, np.zeros_like(d), "complex step"
    d, err = ridders(g)
    if method == "auto":
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ComplexWarning: imaginary parts dropped
                cs = complex_step(g)
        except Exception:  # noqa: BLE001 (no complex input: Ridders alone)
            return d, err, "Ridders"
        if cs.shape == d.shape and np.all(np.isfinite(cs)) and \
                np.all(np.abs(cs - d) <= 10 * err + 1e-6 * np.maximum(1.0, np.abs(d))):
            return cs, np.zeros_like(cs), "complex step"
    return d, err, "Ridders"


@dataclass
class CheckReport:
    """What :func:`check_grads` compared: the worst error found per parameter
    (``|jvp - reference| / (atol + rtol |reference|)``, at most 1 on success)."""

    function: str
    parameters: tuple[str, ...]
    directions: int
    method: str
    worst: dict[str, float] = field(default_factory=dict)
    max_relative_error: float = 0.0

    def add(self, worst: float, compared: tuple[float, float]) -> float:
        self.max_relative_error = max(self.max_relative_error, compared[1])
        return max(worst, compared[0])

    def __str__(self) -> str:
        worst = ", ".join(f"{k}: {v:.2g}" for k, v in self.worst.items())
        return (f"check_grads({self.function}): {self.directions} direction(s) per parameter "
                f"against {self.method}, worst error / tolerance: {worst}")


def _default_tolerance(dtypes: Sequence[np.dtype]) -> float:
    return 2e-3 if any(np.dtype(d).itemsize < 8 for d in dtypes) else 1e-6


def _compare(what: str, got: Any, expected: np.ndarray, err: np.ndarray, atol: float,
             rtol: float, value: Any) -> tuple[float, float]:
    """The worst ``|got - expected| / tolerance`` and the largest relative error
    ``|got - expected| / max(1, |expected|)``; AssertionError when the first is above 1."""
    got_flat = _raveled(got).astype(float)
    if got_flat.shape != expected.shape:
        raise AssertionError(f"{what}: the JVP has {got_flat.size} elements, the function's "
                             f"value {expected.size}")
    tolerance = atol + rtol * np.abs(expected) + 10 * err
    diff = np.abs(got_flat - expected)
    ratio = np.where(np.isfinite(diff), diff / tolerance, np.inf)
    worst = float(ratio.max()) if ratio.size else 0.0
    relative = float(np.max(diff / np.maximum(1.0, np.abs(expected)))) if diff.size else 0.0
    if not worst <= 1.0:
        i = int(np.argmax(ratio))
        where = _output_position(value, i)
        raise AssertionError(
            f"{what}: the JVP disagrees with the reference at {where}: got "
            f"{got_flat[i]:.10g}, expected {expected[i]:.10g} (|error| {diff[i]:.3g}, "
            f"tolerance {tolerance[i]:.3g} = atol {atol:g} + rtol {rtol:g} * |expected|"
            f"{' + 10 * difference error' if err[i] else ''})")
    return worst, relative


def _output_position(value: Any, flat_index: int) -> str:
    """``output[2, 1]`` / ``output[1][0]``: where element ``flat_index`` is."""
    items, _ = tree.leaf_paths(value, root="output")
    for path, leaf in items:
        size = int(np.size(leaf))
        if flat_index < size:
            if np.ndim(leaf) == 0:
                return path
            index = np.unravel_index(flat_index, np.shape(leaf))
            return f"{path}[{', '.join(str(int(i)) for i in index)}]"
        flat_index -= size
    return "output"


def _moved(params: Differentiated, arguments: dict[str, Any], leaf_directions: list[Any]
           ) -> Callable[[Any], dict[str, Any]]:
    """``t -> arguments`` with every differentiated leaf moved by ``t * direction``."""
    def at(t):
        # the reference runs in double precision (float32 differences are noise)
        moved = [_double(leaf) + t * v for leaf, v in zip(params.leaves, leaf_directions)]
        out = copy.deepcopy(arguments)
        out.update(zip(params.names, params.per_parameter(moved)))
        return out
    return at


def _double(leaf: Any) -> Any:
    if isinstance(leaf, np.ndarray) or isinstance(leaf, np.floating):
        return np.asarray(leaf, dtype=np.result_type(leaf, np.float64))
    return leaf


def check_grads(fn: Callable[..., Any], args: Sequence[Any], wrt: Wrt = None, order: int = 1,
                atol: float | None = None, rtol: float | None = None,
                directions: int | Sequence[Any] = 3, kwargs: dict[str, Any] | None = None,
                seed: int = 0, method: Method = "auto", backend: Backend | None = None,
                modes: Sequence[str] = ("fwd",)) -> CheckReport:
    """Check ``fn``'s forward-mode derivatives at ``args``, as ``jax.test_util.check_grads``.

    For each differentiated parameter (``wrt``: names or indices; by default
    every parameter passed a float, a float array or a pytree of them) and
    each of ``directions`` random directions (normal, one per leaf of the
    parameter, the other parameters held fixed), compares

    * the single-direction JVP ``fn.jvp(*args, tangents=...)`` and
    * the vector-mode JVP (all directions in one ``batched=True`` run)

    with an independent reference: Ridders' extrapolated central differences,
    or the complex step where ``fn`` takes complex input and the two agree
    (``method="auto"``; or force ``"ridders"`` / ``"complex"``).  An element
    passes when ``|jvp - reference| <= atol + rtol * |reference|`` (plus ten
    times the differences' own error estimate); ``atol`` and ``rtol`` default
    to 1e-6, or 2e-3 when a parameter is float32.

    ``directions`` may also be a list of explicit directions, each what
    ``fn.jvp`` takes as ``tangents`` (one entry per parameter, its structure);
    they are then checked together, all parameters moving at once.

    Raises ``AssertionError`` naming the parameter, the direction and the
    output element where they disagree, with the error and the tolerance;
    returns a :class:`CheckReport` otherwise.  Only first order (``order=1``)
    and forward mode (``modes=("fwd",)``) exist: fwdcompile has no reverse mode.
    """
    if order != 1:
        raise ValueError(f"check_grads: order={order!r} is not supported; fwdcompile "
                         "checks first derivatives (order=1)")
    if tuple(modes) not in (("fwd",), ("fwd", "rev"), ("rev", "fwd")):
        raise ValueError(f"check_grads: modes={modes!r}; fwdcompile has forward mode only")
    if isinstance(args, (str, bytes)) or not isinstance(args, (tuple, list)):
        raise TypeError("check_grads: args must be a tuple (or list) of the function's "
                        f"positional arguments, got {type(args).__name__}")
    kwargs = dict(kwargs or {})
    f = as_forward_gradient(fn, wrt, backend, "check_grads")
    plain = f.__fwdcompile_function__
    args = tuple(args)
    params = Differentiated(f, args, kwargs, "check_grads")
    arguments = f._calls.bind(args, kwargs)
    tol = _default_tolerance(params.dtypes)
    atol = tol if atol is None else float(atol)
    rtol = tol if rtol is None else float(rtol)
    value = plain(*copy.deepcopy(args), **copy.deepcopy(kwargs))
    output_leaves(value, "check_grads", f.__qualname__)
    rng = np.random.default_rng(seed)
    if isinstance(directions, bool) or isinstance(directions, numbers.Integral) \
            and directions < 1 or not isinstance(directions, numbers.Integral) \
            and (isinstance(directions, (str, bytes)) or not isinstance(directions, Sequence)
                 or len(directions) == 0):
        raise ValueError(f"check_grads: directions must be a positive int or a list "
                         f"of directions, got {directions!r}")
    if not isinstance(directions, numbers.Integral):
        given = [_leaf_directions(f.__qualname__, params, t) for t in directions]
        groups = [("parameters " + ", ".join(map(repr, params.names)), given)]
    else:
        count = int(directions)
        groups = []
        for leaf_i, path in enumerate(params.paths):  # one leaf moves, the others stay
            name = params.parameter_of(leaf_i)
            draws = [[np.asarray(rng.standard_normal(shape), dtype=dtype) if i == leaf_i
                      else np.zeros(shape, dtype)
                      for i, (shape, dtype) in enumerate(zip(params.shapes, params.dtypes))]
                     for _ in range(count)]
            groups.append((f"parameter {name!r}" if path == name else
                           f"parameter {name!r} at {path}", draws))
    report = CheckReport(f.__qualname__, params.names, len(groups[0][1]), "")
    methods = set()
    for label, draws in groups:
        worst = 0.0
        refs = []
        for j, leaf_dirs in enumerate(draws):
            moved = _moved(params, arguments, leaf_dirs)
            ref, err, used = directional_reference(
                plain, lambda t: _split(f, moved(t)), method)
            methods.add(used)
            refs.append((ref, err))
            _, tangent = f.jvp(*copy.deepcopy(args),
                               tangents=params.per_parameter(_copies(leaf_dirs)),
                               **copy.deepcopy(kwargs))
            worst = report.add(worst, _compare(
                f"check_grads({f.__qualname__}), {label}, direction {j} (single direction)",
                tangent, ref, err, atol, rtol, value))
        stacked = [np.stack([d[i] for d in draws]) for i in range(len(params.leaves))]
        _, batched = f.jvp(*copy.deepcopy(args), tangents=params.per_parameter(stacked),
                           batched=True, **copy.deepcopy(kwargs))
        for j, (ref, err) in enumerate(refs):
            got = tree.map(lambda leaf, j=j: np.asarray(leaf)[j], batched)
            worst = report.add(worst, _compare(
                f"check_grads({f.__qualname__}), {label}, direction {j} (vector mode, "
                f"{len(draws)} directions)", got, ref, err, atol, rtol, value))
        report.worst[label] = worst
    report.method = " and ".join(sorted(methods))
    return report


def _copies(leaves: list[Any]) -> list[Any]:
    return [np.array(v) for v in leaves]


def _split(f: Any, arguments: dict[str, Any]) -> tuple[tuple, dict]:
    """Bound arguments back to ``(args, kwargs)`` for a call."""
    bound = inspect.BoundArguments(f._sig, arguments)
    return bound.args, bound.kwargs


def _leaf_directions(qualname: str, params: Differentiated, tangents: Any) -> list[Any]:
    """One explicit direction (``f.jvp``'s tangents) as one array per leaf."""
    if len(params.names) == 1 and not isinstance(tangents, (tuple, list)) or \
            len(params.names) == 1 and tree.structure(tangents) == params.structures[0]:
        tangents = (tangents,)
    if len(tangents) != len(params.names):
        raise ValueError(f"check_grads({qualname}): a direction needs one tangent per "
                         f"differentiated parameter {params.names}, got {len(tangents)}")
    leaves: list[Any] = []
    for name, structure, t in zip(params.names, params.structures, tangents):
        t_leaves, t_def = tree.flatten(t)
        if t_def != structure:
            raise ValueError(f"check_grads({qualname}): the direction for {name!r} has "
                             f"structure {t_def}, the parameter {structure}")
        leaves += [np.asarray(v, dtype=float) for v in t_leaves]
    for leaf, shape, path in zip(leaves, params.shapes, params.paths):
        if leaf.shape != shape:
            raise ValueError(f"check_grads({qualname}): the direction for {path} has shape "
                             f"{leaf.shape}, the argument {shape}")
    return leaves
