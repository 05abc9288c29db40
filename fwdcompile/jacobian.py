"""``jacfwd``: the forward-mode Jacobian, from vector mode over basis directions.

``jacfwd(f, wrt="x")(x, y)`` runs ``f.jvp(..., batched=True)`` once per chunk
of basis vectors of the differentiated parameters (``chunk`` directions per
run, by default ``min(n, 64)`` for ``n`` scalar inputs) and lays the
directional derivatives out as JAX does: for an output of shape ``S`` and a
parameter of shape ``P`` the Jacobian has shape ``S + P``.

The helpers here (:func:`as_forward_gradient`, :class:`Differentiated`) are
shared with :mod:`fwdcompile.gradcheck`: both take a function or a decorated
:class:`~fwdcompile.api.ForwardGradient`, bind a call's arguments and take
the differentiated parameters apart into float leaves.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import tree
from .calling import short
from .api import Backend, ForwardGradient, Wrt

__all__ = ["jacfwd"]

DEFAULT_CHUNK = 64


def as_forward_gradient(fn: Callable[..., Any], wrt: Wrt, backend: Backend | None,
                        who: str) -> ForwardGradient:
    """``fn`` decorated for ``wrt`` (reusing ``fn`` itself when it is a
    ForwardGradient with those settings)."""
    if not callable(fn):
        raise TypeError(f"{who} needs a function, got {fn!r}")
    if isinstance(fn, ForwardGradient):
        if backend is None:
            backend = fn.backend
        if wrt is None and backend == fn.backend:
            return fn
    return ForwardGradient(fn, wrt=wrt, backend=backend or "python")


def is_real_float(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (float, np.floating)):
        return True
    return isinstance(value, np.ndarray) and value.dtype.kind == "f"


class Differentiated:
    """The differentiated parameters of one call, taken apart into leaves.

    ``names``: the parameters in signature order; ``paths``, ``leaves``: every
    float leaf (``x``, ``params['W']``) in order; ``structures``: one
    PyTreeDef per parameter."""

    def __init__(self, f: ForwardGradient, args: Sequence[Any], kwargs: dict[str, Any],
                 who: str) -> None:
        calls = f._calls
        arguments = calls.bind(tuple(args), kwargs)
        names = calls.wrt_for(arguments)
        if not names:
            raise TypeError(f"{who}: no parameter of {f.__qualname__} receives a float; "
                            "nothing to differentiate (pass floats, or name the parameters "
                            "in wrt)")
        self.names: tuple[str, ...] = tuple(names)
        self.paths: list[str] = []
        self.leaves: list[Any] = []
        self.structures: list[tree.PyTreeDef] = []
        self.counts: list[int] = []
        for name in self.names:
            items, structure = tree.leaf_paths(arguments[name], root=name)
            for path, leaf in items:
                if not is_real_float(leaf):
                    raise TypeError(f"{who}: {path} is {type(leaf).__name__} "
                                    f"{short(leaf)}; derivatives are taken with respect to "
                                    "real floating values (a float or a float array)")
            self.paths += [p for p, _ in items]
            self.leaves += [leaf for _, leaf in items]
            self.structures.append(structure)
            self.counts.append(len(items))
        self.shapes = [np.shape(leaf) for leaf in self.leaves]
        self.dtypes = [np.result_type(leaf) for leaf in self.leaves]

    def per_parameter(self, per_leaf: Sequence[Any]) -> tuple[Any, ...]:
        """Leaf values regrouped into one structure per parameter (``f.jvp``'s tangents)."""
        out, i = [], 0
        for structure, count in zip(self.structures, self.counts):
            out.append(structure.unflatten(list(per_leaf[i:i + count])))
            i += count
        return tuple(out)

    def parameter_of(self, leaf_index: int) -> str:
        i = 0
        for name, count in zip(self.names, self.counts):
            if leaf_index < i + count:
                return name
            i += count
        raise IndexError(leaf_index)


def _float_dtype(value: Any) -> np.dtype:
    dtype = np.result_type(value)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def output_leaves(value: Any, who: str, qualname: str) -> tuple[list[Any], tree.PyTreeDef]:
    """The float leaves of a function's output, or a clear TypeError."""
    leaves, structure = tree.flatten(value)
    for leaf in leaves:
        if not (is_real_float(leaf) or isinstance(leaf, (int, np.integer))
                and not isinstance(leaf, (bool, np.bool_))) or \
                isinstance(leaf, np.ndarray) and leaf.dtype.kind not in "fiu":
            raise TypeError(f"{who}: {qualname} returned {type(leaf).__name__} "
                            f"{short(leaf)}; it needs a function returning floats or float "
                            "arrays (or tuples, lists or dicts of them)")
    return leaves, structure


def jacfwd(fn: Callable[..., Any], wrt: Wrt = None, chunk: int | None = None,
           backend: Backend | None = None) -> Callable[..., Any]:
    """The Jacobian of ``fn`` by forward mode, as a function of ``fn``'s arguments.

    ``jacfwd(f, wrt="x")(x, y)`` is the array ``J`` of shape
    ``out.shape + x.shape`` with ``J[i..., j...] = d out[i...] / d x[j...]``
    (JAX's layout).  ``wrt`` names one parameter or index, or a sequence of
    them: the result is then a tuple with one Jacobian per parameter.  By
    default it is the ``wrt`` of a decorated ``fn`` (a tuple when that names
    several parameters), else ``0``, the first parameter, as in
    ``jax.jacfwd``.  A parameter that is a pytree (dict, list, tuple,
    NamedTuple, dataclass of float arrays) gives a Jacobian with its
    structure, one block ``out.shape + leaf.shape`` per leaf.  A function
    returning a tuple, list or dict gives that structure of Jacobians (the
    output's structure outside, the parameter's inside, as in JAX).

    ``fn`` is a plain function or a :class:`~fwdcompile.ForwardGradient`
    (``backend`` defaults to its own).  ``chunk`` is the number of basis
    directions per vector-mode run (default ``min(n, 64)`` for ``n`` scalar
    inputs); each run is one ``fn.jvp(..., batched=True)`` on copies of the
    arguments (a function writing into its arguments sees the caller's
    values in every run).  A block has the precision of the output and the
    parameter: float32 parameters and results give a float32 Jacobian.

    Raises ``ValueError`` for a ``wrt`` that names no parameter or a bad
    ``chunk``, and ``TypeError`` when a differentiated argument is not a
    real float (or pytree of them) or ``fn`` returns something other than
    numbers and arrays.
    """
    if chunk is not None and (not isinstance(chunk, numbers.Integral)
                              or isinstance(chunk, bool) or chunk < 1):
        raise ValueError(f"jacfwd: chunk must be a positive int or None, got {chunk!r}")
    if wrt is None and isinstance(fn, ForwardGradient) and fn._wrt is not None:
        single = len(fn._wrt) == 1  # the decorated function's own wrt
    else:
        wrt = 0 if wrt is None else wrt
        single = isinstance(wrt, (str, numbers.Integral))
    f = as_forward_gradient(fn, wrt, backend, "jacfwd")

    def jacobian(*args: Any, **kwargs: Any) -> Any:
        params = Differentiated(f, args, kwargs, "jacfwd")
        sizes = [int(np.prod(shape, dtype=int)) for shape in params.shapes]
        starts = np.cumsum([0] + sizes)
        n = int(starts[-1])
        step = min(n, DEFAULT_CHUNK) if chunk is None else int(chunk)
        columns: list[list[Any]] = []  # per output leaf: the (k,) + out.shape blocks
        out_def = None
        if n == 0:  # nothing to perturb (empty arrays): zero blocks
            out_leaves, out_def = output_leaves(f(*copy.deepcopy(args), **copy.deepcopy(kwargs)),
                                                "jacfwd", f.__qualname__)
            columns = [[np.zeros((0,) + np.shape(out))] for out in out_leaves]
        for begin in range(0, n, step if n else 1):
            end = min(begin + step, n)
            k = end - begin
            basis = []
            for leaf_i, (shape, dtype) in enumerate(zip(params.shapes, params.dtypes)):
                t = np.zeros((k, sizes[leaf_i]), dtype=dtype)
                lo, hi = max(begin, starts[leaf_i]), min(end, starts[leaf_i + 1])
                for j in range(lo, hi):
                    t[j - begin, j - starts[leaf_i]] = 1.0
                basis.append(t.reshape((k,) + shape))
            # every run starts from the caller's arguments: a function writing
            # into them (x *= 2) would otherwise move the next chunk's point
            value, d_value = f.jvp(*copy.deepcopy(args), tangents=params.per_parameter(basis),
                                   batched=True, **copy.deepcopy(kwargs))
            out_leaves, out_def = output_leaves(value, "jacfwd", f.__qualname__)
            d_leaves, d_def = tree.flatten(d_value)
            if d_def != out_def:
                raise ValueError(f"jacfwd: the tangent of {f.__qualname__}'s result has the "
                                 f"structure {d_def}, its value {out_def}")
            if not columns:
                columns = [[] for _ in out_leaves]
            for col, out, d in zip(columns, out_leaves, d_leaves):
                d = np.asarray(d)
                if d.shape != (k,) + np.shape(out):
                    if d.ndim:  # never broadcast a wrong shape into a Jacobian
                        raise ValueError(f"jacfwd: vector mode gave {f.__qualname__}'s result "
                                         f"of shape {np.shape(out)} tangents of shape "
                                         f"{d.shape}, expected {(k,) + np.shape(out)}")
                    d = np.broadcast_to(d, (k,) + np.shape(out))
                col.append(d)
        assert out_def is not None
        blocks = []
        for col, out in zip(columns, out_leaves):
            full = np.concatenate(col, axis=0)  # (n,) + out.shape
            out_shape = np.shape(out)
            per_leaf = []
            for leaf_i, shape in enumerate(params.shapes):
                part = full[starts[leaf_i]:starts[leaf_i + 1]]
                part = part.reshape(shape + out_shape)
                # out.shape + leaf.shape (JAX layout)
                part = np.moveaxis(part, tuple(range(len(shape))),
                                   tuple(range(len(out_shape), len(out_shape) + len(shape))))
                # the precision of the value and the parameter: float32 stays float32
                dtype = np.result_type(_float_dtype(out), params.dtypes[leaf_i])
                per_leaf.append(np.array(part, dtype=dtype, order="C"))  # 0-d stays 0-d
            per_param = params.per_parameter(per_leaf)
            blocks.append(per_param[0] if single else per_param)
        return out_def.unflatten(blocks)

    jacobian.__name__ = f"jacfwd_{getattr(f, '__name__', 'f')}"
    jacobian.__qualname__ = f"jacfwd({f.__qualname__})"
    jacobian.__doc__ = f"The Jacobian of {f.__qualname__} with respect to {wrt!r}."
    return jacobian
