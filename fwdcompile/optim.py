"""Optimizers driven by forward gradients, and a small training loop.

Contract:

* An optimizer (:class:`FGD`, :class:`Momentum`, :class:`Adam`) is a value
  object with ``init(params) -> state`` and
  ``update(params, grads, state) -> (new_params, new_state)``.  ``params`` and
  ``grads`` are tuples with one float or float array per differentiated
  parameter; nothing the caller holds is modified.  Every optimizer takes the
  paper's schedule ``lr_i = lr * exp(-decay * i)`` (``decay=0``: constant).
* ``step(params, grads)`` is the same update done in place, for a
  hand-written loop: ``params`` (an array, or any structure of arrays) is
  updated where it is, the optimizer keeping its state (moments, step count)
  for that ``params`` object and scratch buffers, so a step allocates
  nothing; the numbers are those of ``update``, bit for bit.
* :func:`minimize` trains ``f`` with forward gradients: each step draws K
  directions ``v``, gets the K directional derivatives ``grad f . v`` from one
  (batched) JVP, optionally clips each to ``[-clip, clip]`` (reproductions of
  the paper needed this to keep deep networks stable), combines them into an
  estimate of the gradient (``mean``: the average of ``(grad f . v) v``;
  ``project``: the projection onto the directions' span) and takes an
  optimizer step.  It returns a :class:`MinimizeResult` whose ``state`` can be
  passed back to continue exactly where it stopped (optimizer state, step
  count and random generator state included).  A callback returning True,
  Ctrl-C, or a non-finite loss stops the loop cleanly with the last good
  parameters; a non-finite loss also warns, naming the step.
* Only the parameters ``x0`` gives are differentiated; ``data`` (an iterable
  of per-step argument tuples, e.g. :class:`minibatches`, or a callable
  ``step -> tuple``) and ``args`` are passed after them, without tangents.
"""

from __future__ import annotations

import copy
import csv
import math
import numbers
import itertools
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from . import calling, estimators, tree
from .api import BoundForwardGradient, ForwardGradient, forward_gradient

__all__ = ["FGD", "Momentum", "Adam", "minimize", "minibatches", "MinimizeResult"]


def _check_lr(lr, decay):
    if not isinstance(lr, numbers.Real) or not lr > 0 or not math.isfinite(lr):
        raise ValueError(f"the learning rate must be a positive finite number, got {lr!r}")
    if not isinstance(decay, numbers.Real) or decay < 0 or not math.isfinite(decay):
        raise ValueError(f"decay must be a finite number >= 0, got {decay!r}")


class _InPlace:
    """``step(params, grads)``: the optimizer's update, in place (see the module doc)."""

    _steps: dict

    def step(self, params: Any, grads: Any) -> None:
        """Update the arrays of ``params`` in place by ``grads`` (the same
        structure, e.g. what ``forward_grad`` returns): the numbers of
        :meth:`update`, bit for bit, without allocating.  The state (moments,
        step count) is kept for this ``params`` object; :meth:`reset` forgets it."""
        leaves, structure = tree.flatten(params)
        g_leaves, g_structure = tree.flatten(grads)
        if g_structure != structure:
            raise ValueError(f"step: grads have structure {g_structure} but params have "
                             f"{structure}")
        for path, leaf in tree.leaf_paths(params, "params")[0]:
            if not (isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f"
                    and leaf.flags.writeable):
                raise TypeError(f"step updates arrays in place, but {path} is "
                                f"{type(leaf).__name__}"
                                + (f" of dtype {leaf.dtype}" if isinstance(leaf, np.ndarray)
                                   else "")
                                + "; keep parameters in writable float arrays (a scalar as "
                                "np.array(0.5)), or use update()")
        entry = self._steps.get(id(params))
        if entry is None or entry[0] is not params:
            entry = self._steps[id(params)] = (params, self.init(tuple(leaves)),
                                               [np.empty_like(p) for p in leaves],
                                               [np.empty_like(p) for p in leaves])
        _, state, scratch, scratch2 = entry
        lr = self.rate(state["step"])
        for i, (p, g, s, s2) in enumerate(zip(leaves, g_leaves, scratch, scratch2)):
            self._leaf_update(state, i, p, g, s, s2, lr)
        state["step"] += 1

    def reset(self) -> None:
        """Forget the state :meth:`step` and :meth:`forward_step` kept (start
        again from step 0)."""
        self._steps.clear()

    def forward_step(self, f: Any, *args: Any, rng: Any, directions: int = 1,
                     distribution: Literal["normal", "rademacher"] = "normal",
                     combine: Literal["mean", "project"] = "mean", clip: float | None = None,
                     **kwargs: Any) -> float:
        """One forward-gradient step on ``f`` at ``args``, in place; returns the loss.

        The same update as ``g = f.forward_grad(*args, rng=..., lazy=True)``
        then ``self.step(params, g)``, bit for bit, at inference memory: the
        directions are drawn where the loss uses them, and each parameter is
        then moved from its directions drawn again, one parameter at a time,
        so no parameter-sized copy (directions, estimate, new parameters) is
        ever held.  The differentiated arguments (``f``'s ``wrt``: arrays, or
        structures of arrays) must be writable float arrays; the optimizer
        keeps its state for them, as :meth:`step` does.  ``rng`` is a
        :class:`fwdcompile.sampling.DirectionSampler` (each call uses its
        next step) or an int seed (step t of these parameters draws from
        ``(seed, t)``).  ``clip`` clips each directional derivative to
        ``[-clip, clip]`` as :func:`minimize` does; a non-finite loss or
        derivative leaves the parameters unchanged and warns.
        """
        f = f if isinstance(f, (ForwardGradient, BoundForwardGradient)) else forward_gradient(f)
        estimators.check_options(directions, distribution, combine)
        calls = f._calls
        arguments = calls.bind(args, kwargs)
        wrt = calls.wrt_for(arguments)
        if not wrt:
            raise TypeError(f"forward_step: no parameter of {f.__qualname__} receives a float")
        leaves, _ = tree.flatten_all([arguments[n] for n in wrt])
        for name in wrt:
            for path, leaf in tree.leaf_paths(arguments[name], name)[0]:
                if not (isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f"
                        and leaf.flags.writeable):
                    raise TypeError(f"forward_step updates arrays in place, but {path} is "
                                    f"{type(leaf).__name__}; keep parameters in writable "
                                    "float arrays (a scalar as np.array(0.5))")
        structures = calling.structures_for(wrt, arguments)
        if calls.writes_into(wrt, structures):
            raise ValueError(f"forward_step: {f.__qualname__} writes into its parameters, so "
                             "its directions must be held: use forward_grad and step")
        key = tuple(id(leaf) for leaf in leaves)
        entry = self._steps.get(key)
        if entry is None or any(a is not b for a, b in zip(entry[0], leaves)):
            entry = self._steps[key] = (tuple(leaves), self.init(tuple(leaves)),
                                        _LeafScratch(leaves, self._scratch))
        _, state, scratch = entry
        sampler = estimators.from_seed(rng)
        if not estimators.is_sampler(sampler):
            raise ValueError("forward_step draws the directions again from the sampler's key: "
                             "pass rng as an int seed or a DirectionSampler")
        if sampler is not rng:  # an int seed: this optimizer's step on these parameters
            sampler.step = state["step"]
        k = int(directions)
        shapes = [leaf.shape for leaf in leaves]
        dtypes = [leaf.dtype for leaf in leaves]
        # forward_grad(lazy=True)'s draws and arithmetic, leaf by leaf
        draw = estimators.directions_from(sampler, distribution,
                                          [d if d != np.float64 else None for d in dtypes])
        value, slopes = f._lazy_jvp(calls.lazy_variant(wrt, structures, batched=k > 1),
                                    args, kwargs, draw, shapes, k)
        f._check_scalar_value(value)
        loss = float(value)
        slopes = np.reshape(slopes, -1)
        if not (np.isfinite(loss) and np.all(np.isfinite(slopes))):
            warnings.warn(f"forward_step: the loss or its derivative is not finite "
                          f"(loss={loss}); the parameters were not changed", RuntimeWarning,
                          stacklevel=2)
            return loss
        if clip is not None:
            slopes = np.clip(slopes, -clip, clip)
        prefix = (k,) if k > 1 else ()

        def elements(p):
            v = draw(prefix + shapes[p], p)
            return [v[i] for i in range(k)] if k > 1 else [v]
        single = k == 1 and combine == "mean"
        w = None if single else estimators.elements_weights(elements, slopes, combine,
                                                            len(leaves))
        lr = self.rate(state["step"])
        for p, leaf in enumerate(leaves):
            e = elements(p)
            if single:  # forward_grad's estimate for one direction: v * slope, in place
                g = estimators.scale_single(tuple(e), float(slopes[0]))[0]
            else:
                g = estimators.elements_estimate(e, w, shapes[p], dtypes[p])
            del e
            s, s2 = scratch.views(leaf, 2)  # g is ours: FGD and Momentum use it as scratch
            self._leaf_update(state, p, leaf, g, g if s is None else s, s2, lr)
            del g
        state["step"] += 1
        return loss

    # what each optimizer defines (declared for the type checker):
    # _leaf_update(state, i, p, g, s, s2, lr) moves leaf i (the array p) by its
    # gradient g in place, with scratch arrays s and s2 of its shape, as update does
    init: Callable[[Sequence[Any]], dict[str, Any]]
    rate: Callable[[int], float]
    _leaf_update: Callable[..., None]
    _scratch: int


def _state_field() -> Any:
    return field(default_factory=dict, init=False, repr=False, compare=False, hash=False)


@dataclass(frozen=True)
class FGD(_InPlace):
    """Forward gradient descent: ``p <- p - lr_i g`` (Baydin et al. 2022, Algorithm 1)."""

    lr: float
    decay: float = 0.0
    _steps: dict = _state_field()

    def __post_init__(self) -> None:
        _check_lr(self.lr, self.decay)

    def rate(self, step: int) -> float:
        return self.lr * math.exp(-self.decay * step)

    def init(self, params: Sequence[Any]) -> dict[str, Any]:
        return {"step": 0}

    _scratch = 0  # buffers _leaf_update needs besides g (which it may overwrite)

    def _leaf_update(self, state, i, p, g, s, s2, lr):
        np.add(np.multiply(g, -lr, out=s), p, out=p)  # (-lr) * g + p, as update

    def update(self, params: Sequence[Any], grads: Sequence[Any],
               state: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        lr = self.rate(state["step"])
        # (-lr) * g + p is p - lr * g bit for bit, and numpy adds p into the
        # temporary (-lr) * g instead of allocating a second large array
        new = tuple((-lr) * g + p for p, g in zip(params, grads))
        return new, {"step": state["step"] + 1}


@dataclass(frozen=True)
class Momentum(_InPlace):
    """Heavy-ball momentum: ``m <- beta m + g``, ``p <- p - lr_i m``."""

    lr: float
    beta: float = 0.9
    decay: float = 0.0
    _steps: dict = _state_field()

    def __post_init__(self) -> None:
        _check_lr(self.lr, self.decay)
        if not 0 <= self.beta < 1:
            raise ValueError(f"beta must be in [0, 1), got {self.beta!r}")

    def rate(self, step: int) -> float:
        return self.lr * math.exp(-self.decay * step)

    def init(self, params: Sequence[Any]) -> dict[str, Any]:
        return {"step": 0, "m": tuple(_zeros(p) for p in params)}

    def update(self, params: Sequence[Any], grads: Sequence[Any],
               state: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        lr = self.rate(state["step"])
        m = tuple(self.beta * mi + g for mi, g in zip(state["m"], grads))
        new = tuple(_like(p, (-lr) * mi + p) for p, mi in zip(params, m))
        return new, {"step": state["step"] + 1, "m": m}

    _scratch = 0  # s may be g: g is read before s is written

    def _leaf_update(self, state, i, p, g, s, s2, lr):
        m = state["m"][i]
        np.add(np.multiply(m, self.beta, out=m), g, out=m)
        np.add(np.multiply(m, -lr, out=s), p, out=p)


@dataclass(frozen=True)
class Adam(_InPlace):
    """Adam (Kingma and Ba 2015) on forward-gradient estimates."""

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    decay: float = 0.0
    _steps: dict = _state_field()

    def __post_init__(self) -> None:
        _check_lr(self.lr, self.decay)
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError("beta1 and beta2 must be in [0, 1)")

    def rate(self, step: int) -> float:
        return self.lr * math.exp(-self.decay * step)

    def init(self, params: Sequence[Any]) -> dict[str, Any]:
        zeros = tuple(_zeros(p) for p in params)
        return {"step": 0, "m": zeros, "v": tuple(_zeros(p) for p in params)}

    def update(self, params: Sequence[Any], grads: Sequence[Any],
               state: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        t = state["step"] + 1
        lr = self.rate(state["step"])
        m = tuple(self.beta1 * mi + (1 - self.beta1) * g for mi, g in zip(state["m"], grads))
        v = tuple(self.beta2 * vi + (1 - self.beta2) * g * g for vi, g in zip(state["v"], grads))
        c1, c2 = 1 - self.beta1 ** t, 1 - self.beta2 ** t
        new = tuple(_like(p, p - lr * (mi / c1) / (np.sqrt(vi / c2) + self.eps))
                    for p, mi, vi in zip(params, m, v))
        return new, {"step": t, "m": m, "v": v}

    _scratch = 2  # s and s2, both apart from g (read twice)

    def _leaf_update(self, state, i, p, g, s, s2, lr):
        t = state["step"] + 1
        c1, c2 = 1 - self.beta1 ** t, 1 - self.beta2 ** t
        m, v = state["m"][i], state["v"][i]
        # the operations of update(), in its order, into buffers
        np.add(np.multiply(m, self.beta1, out=m),
               np.multiply(g, 1 - self.beta1, out=s), out=m)
        np.multiply(np.multiply(g, 1 - self.beta2, out=s), g, out=s)
        np.add(np.multiply(v, self.beta2, out=v), s, out=v)
        np.multiply(np.divide(m, c1, out=s), lr, out=s)          # lr * (m / c1)
        np.add(np.sqrt(np.divide(v, c2, out=s2), out=s2), self.eps, out=s2)
        np.subtract(p, np.divide(s, s2, out=s), out=p)


class _LeafScratch:
    """``count`` flat buffers per dtype, as large as the largest leaf of that
    dtype, for one leaf at a time (``views`` pads with None past ``count``)."""

    def __init__(self, leaves, count):
        sizes = {}
        for leaf in leaves:
            sizes[leaf.dtype] = max(sizes.get(leaf.dtype, 0), leaf.size)
        self.buffers = {d: [np.empty(n, dtype=d) for _ in range(count)]
                        for d, n in sizes.items()}

    def views(self, leaf, n=3):
        found = [b[:leaf.size].reshape(leaf.shape) for b in self.buffers[leaf.dtype]]
        return found + [None] * (n - len(found))


def _like(template, value):
    return float(value) if isinstance(template, float) else value


@dataclass
class MinimizeResult:
    x: object                      # the parameters, shaped like x0
    fun: float                     # the last finite loss
    history: list = field(default_factory=list)   # loss at every step taken
    stopped: str = "steps"         # "steps", "data", "callback", "interrupted", "non-finite"
    state: dict = field(default_factory=dict)     # pass back as minimize(..., state=...)

    @property
    def nit(self) -> int:
        return len(self.history)


def _as_params(x0):
    """``(single, params)``: ``x0`` as a tuple of parameters.  A tuple (or a
    list holding arrays) is several parameters; a list of numbers (nested
    lists for more dimensions) is one float64 array, as scipy.optimize.minimize
    reads it.  A dict, NamedTuple, dataclass or a list holding containers
    (``[(W1, b1), (W2, b2)]``) is one parameter with that structure (a
    pytree), and so is any such item of a tuple.  Ints and int arrays are
    promoted to float64; float arrays keep their dtype (float32 parameters
    are trained in float32)."""
    if isinstance(x0, list) and _numbers_only(x0):
        x0 = np.array(x0, dtype=float)
    structured = x0 is not None and tree.is_container(x0) and (
        type(x0) not in (tuple, list) or
        (type(x0) is list and any(tree.is_container(p) for p in x0)))
    single = structured or not isinstance(x0, (tuple, list))
    params = (x0,) if single else tuple(x0)
    out = []
    for i, p in enumerate(params):
        if p is not None and tree.is_container(p) and not (isinstance(p, list)
                                                           and _numbers_only(p)):
            paths, structure = tree.leaf_paths(p, f"parameter {i}")
            if not paths:
                raise TypeError(f"parameter {i} is an empty {type(p).__name__}: there is "
                                "nothing to optimize")
            out.append(structure.unflatten([_as_leaf(path, leaf) for path, leaf in paths]))
        else:
            out.append(_as_leaf(f"parameter {i}", p))
    return single, tuple(out)


def _as_leaf(what, p):
    """One array or float to optimize: a copy, ints promoted to float64."""
    if isinstance(p, list) and _numbers_only(p):
        p = np.array(p, dtype=float)
    if isinstance(p, (bool, np.bool_)) or not (
            isinstance(p, (numbers.Real, np.floating, np.integer)) or
            (isinstance(p, np.ndarray) and p.dtype.kind in "fiu")):
        raise TypeError(f"{what} must be a number or an array of numbers (floats "
                        "are trained as they are, ints promoted to float64), got "
                        f"{type(p).__name__}"
                        + (f" of dtype {p.dtype}" if isinstance(p, np.ndarray) else ""))
    if np.ndim(p) == 0:
        return float(p)
    if p.dtype.kind == "f":
        return np.array(p)  # a copy in the parameter's own precision
    return np.array(p, dtype=float)


def _lazy_step(fn, rng, distribution, shapes, dtypes, k, call_args, call_kwargs=None):
    """``(loss, slopes, leaf_directions)`` of one step with lazy directions:
    ``leaf_directions(p)`` draws leaf p's K directions again, in its dtype
    (what ``draw_into`` and the rounding give the stored path)."""
    draw = rng.stream(distribution)

    def leaf_directions(p):
        d = draw((k,) + shapes[p], p)
        return d if dtypes[p] == np.float64 else d.astype(dtypes[p])

    def direction(like, offset):
        d = leaf_directions(offset)
        if k > 1:
            return d
        return float(d[0]) if shapes[offset] == () else d[0]
    direction.k = k
    loss, tangent = fn.fn(*call_args, **(call_kwargs or {}), **{fn.direction_param: direction})
    slopes = np.asarray(tangent, dtype=float).reshape(-1)
    return loss, slopes, leaf_directions


def _rounded(drawn, out):
    np.copyto(out, drawn, casting="same_kind")
    return out


def _numbers_only(items):
    """A (nested) list of plain numbers, no arrays: scipy's array-like x0."""
    return all(_numbers_only(v) if isinstance(v, list) else
               isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
               for v in items) and len(items) > 0


def _zeros(p):
    """Optimizer state for ``p``, in ``p``'s precision (float64 for floats)."""
    if isinstance(p, np.ndarray) and p.dtype.kind == "f":
        return np.zeros_like(p)
    return np.zeros_like(np.asarray(p, dtype=float))


def _optimized(f, n):
    """``f`` differentiated with respect to its first ``n`` parameters (the
    ones ``minimize`` optimizes) and nothing else: data in ``args`` never gets
    a tangent.  A decorated ``f`` keeps its options (backend, checks); an
    explicit ``wrt`` naming anything else is an error."""
    if isinstance(f, BoundForwardGradient):
        raise TypeError("minimize: pass a function, not a decorated method bound to an "
                        "instance (wrap it: lambda *a: obj.method(*a))")
    if not isinstance(f, ForwardGradient):
        return forward_gradient(f, wrt=tuple(range(n)))
    params = f._params
    optimized = tuple(params[:n])
    if len(optimized) < n:
        raise TypeError(f"minimize: x0 has {n} parameters but {f.__qualname__} takes "
                        f"only {len(params)}")
    if f._wrt is not None:
        if tuple(f._wrt) != optimized:
            raise ValueError(
                f"minimize: {f.__qualname__} is decorated with wrt={list(f._wrt)}, but "
                f"minimize optimizes (and differentiates) exactly its first {n} "
                f"parameter(s) {list(optimized)}, the ones x0 gives; data passed in args "
                "gets no tangent.  Decorate without wrt, or with "
                f"wrt={tuple(optimized)!r}")
        return f
    cache = f.__dict__.setdefault("_minimize_variants", {})
    if n not in cache:
        cache[n] = ForwardGradient(f.__fwdcompile_function__, wrt=optimized,
                                   backend=f.backend,
                                   boundscheck=f.boundscheck, check=f.check)
    return cache[n]


def _progress(total, enabled):
    """A tqdm bar counting steps (its rate is the throughput, steps/s; the
    loss and samples/s are in the postfix), or None."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="step", disable=not sys.stderr.isatty(), leave=False)


def _batches(data):
    """``next_batch(step) -> tuple`` for ``data`` (a callable of the step
    number, or an iterable), raising StopIteration when an iterable ends,
    and the number of batches the iterable holds (None: unknown or a callable)."""
    if _is_step_function(data):
        return (lambda step: _as_args(data(step))), None
    try:
        it = iter(data)
    except TypeError:
        raise TypeError("data must be an iterable of per-step argument tuples or a "
                        f"callable step -> tuple, got {type(data).__name__}") from None
    try:
        count = len(data)
    except TypeError:
        count = None
    return (lambda step: _as_args(next(it))), count


def _is_step_function(data):
    return callable(data) and not hasattr(data, "__iter__")


def _as_args(batch):
    return tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)


def _samples(batch):
    """The number of samples in a batch: the leading length of its first array."""
    for value in batch:
        if isinstance(value, np.ndarray) and value.ndim:
            return len(value)
    return None


class minibatches:  # noqa: N801 (used like a function: optim.minibatches(X, y, ...))
    """Shuffled minibatches of ``arrays`` (equal leading lengths), for
    ``minimize(..., data=minibatches(X, y, batch_size=32, rng=0, epochs=10))``.

    Iterating yields tuples ``(X[idx], y[idx])``; every epoch is a fresh
    permutation from ``rng`` (an int seed or a ``numpy.random.Generator``;
    ``shuffle=False`` keeps the order), and the last batch of an epoch may
    be smaller (``drop_last=True`` drops it).  ``epochs=None`` repeats
    forever (``minimize`` then stops at ``steps``).  ``len()`` is the number
    of batches when ``epochs`` is given; :attr:`per_epoch` the batches per epoch.
    """

    def __init__(self, *arrays: Any, batch_size: int, rng: Any = None,
                 epochs: int | None = None, shuffle: bool = True,
                 drop_last: bool = False) -> None:
        if not arrays:
            raise TypeError("minibatches needs at least one array")
        self.arrays = tuple(np.asarray(a) for a in arrays)
        n = len(self.arrays[0])
        if any(a.ndim == 0 or len(a) != n for a in self.arrays):
            raise ValueError("minibatches: the arrays must have the same leading length, got "
                             f"{[np.shape(a) for a in self.arrays]}")
        if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if epochs is not None and (not isinstance(epochs, numbers.Integral) or epochs < 0):
            raise ValueError(f"epochs must be a non-negative integer or None, got {epochs!r}")
        self.n: int = n
        self.batch_size: int = int(batch_size)
        self.epochs: int | None = epochs
        self.shuffle, self.drop_last = shuffle, drop_last
        self.rng = estimators.generator(rng)
        self.per_epoch: int = n // self.batch_size if drop_last else -(-n // self.batch_size)

    def __len__(self) -> int:
        if self.epochs is None:
            raise TypeError("minibatches with epochs=None is endless: it has no len()")
        return self.epochs * self.per_epoch

    def __iter__(self):
        epoch = 0
        while self.epochs is None or epoch < self.epochs:
            order = self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
            for b in range(self.per_epoch):
                idx = order[b * self.batch_size:(b + 1) * self.batch_size]
                yield tuple(a[idx] for a in self.arrays)
            epoch += 1


def minimize(f: Callable[..., Any], x0: Any, *, args: Sequence[Any] = (),
             data: Any = None, steps: int | None = None,
             optimizer: FGD | Momentum | Adam | None = None, rng: Any = None,
             directions: int = 1, distribution: Literal["normal", "rademacher"] = "normal",
             combine: Literal["mean", "project"] = "mean", clip: float | None = None,
             callback: Callable[[int, float, Any], Any] | None = None, progress: bool = True,
             log: str | None = None, state: dict[str, Any] | None = None,
             lazy: bool = False) -> MinimizeResult:
    """Train ``f(*x, *args)`` with forward gradients; see the module docstring.

    ``x0`` is one float or array, or a tuple of them (the first parameters of
    ``f``); only they are differentiated (``args``, the data, get no
    tangent; a decorated ``f`` whose ``wrt`` names other parameters is a
    ValueError).  Ints and lists of numbers are promoted to float64 (a list
    of numbers is one array, as in scipy); float32 arrays stay float32.
    ``optimizer`` defaults to ``FGD(lr=1e-3)``.  ``rng`` is an int seed
    (directions from the compiled counter-based
    ``fwdcompile.sampling.DirectionSampler(seed)``: fast and reproducible), a
    ``DirectionSampler``, a ``numpy.random.Generator`` (its stream, as
    before), or None (a fresh Generator: not reproducible).
    ``data`` gives minibatches: an iterable yielding one tuple of extra
    arguments per step (``(X_batch, y_batch)``; see :class:`minibatches`), or a
    callable ``step -> tuple``; each step calls ``f(*x, *batch, *args)``.
    ``steps`` defaults to 1000, or with an iterable ``data`` to running until
    it ends; the run stops at ``steps`` or when the iterable ends, whichever
    comes first (``stopped == "data"``).
    ``callback(step, loss, x)`` may return True to stop.  ``log`` is a CSV
    path receiving ``step,loss,lr``; pass the returned ``state`` back to
    resume.
    ``lazy=True`` (with an int seed or a DirectionSampler) holds no
    directions: each step's JVP draws each parameter's directions where the
    loss uses them and the estimate draws them again, leaf by leaf, from the
    same key; the same numbers as ``lazy=False``, bit for bit, without the
    ``directions`` x parameters buffers.
    """
    next_batch, count = (None, None) if data is None else _batches(data)
    if steps is None:  # an iterable runs until it ends
        steps = 1000 if data is None or _is_step_function(data) else None
    if steps is not None and (not isinstance(steps, numbers.Integral) or steps < 0):
        raise ValueError(f"steps must be a non-negative integer or None, got {steps!r}")
    if not isinstance(directions, numbers.Integral) or directions < 1:
        raise ValueError(f"directions must be a positive integer, got {directions!r}")
    estimators.check_combine(combine)
    if clip is not None and not (isinstance(clip, numbers.Real) and clip > 0):
        raise ValueError(f"clip must be a positive number or None, got {clip!r}")
    optimizer = optimizer if optimizer is not None else FGD(lr=1e-3)
    single, structured = _as_params(x0)
    n = len(structured)
    f = _optimized(f, n)
    # the optimizer works on the leaves (one array or float each); f and the
    # callback see them in the parameters' structures
    leaves, rebuild = tree.flatten_all(structured)
    params = tuple(leaves)
    if rng is None and state is not None and "seed" in state:
        rng = state["seed"]  # resuming a run whose directions came from the sampler
    rng = estimators.from_seed(rng)
    sampler = estimators.is_sampler(rng)
    if not sampler:
        rng = estimators.generator(rng)
    if state is not None:
        opt_state = copy.deepcopy(state["optimizer"])
        if sampler != isinstance(state["rng"], numbers.Integral):
            raise ValueError(
                "minimize: state comes from a run whose directions came from "
                + ("a numpy Generator" if sampler else "the counter-based sampler (an int "
                   "seed or a DirectionSampler)")
                + f", but rng is {type(rng).__name__}; pass the same kind of rng to resume")
        if sampler:
            rng.step = state["rng"]
        else:
            rng.bit_generator.state = copy.deepcopy(state["rng"])
        start = state["step"]
    else:
        opt_state = optimizer.init(params)
        start = 0
    shapes = [np.shape(p) for p in params]
    # directions and gradient estimates live in buffers reused every step;
    # the optimizers never keep the grads they are given
    # in each parameter's precision (float32 stays float32); directions are
    # drawn in float64 and rounded, as forward_grad draws them
    dtypes = [p.dtype if isinstance(p, np.ndarray) else np.dtype(float) for p in params]
    wrt = tuple(f._params[:n])
    structures = calling.structures_for(wrt, dict(zip(wrt, structured)))
    writes = f._calls.writes_into(wrt, structures)
    lazy_fn = None
    if lazy:
        if not sampler:
            raise ValueError("minimize: lazy=True draws the directions again from the "
                             "sampler's key: pass rng as an int seed or a DirectionSampler")
        if not writes:  # a loss writing into its parameters needs its directions held
            lazy_fn = f._calls.lazy_variant(wrt, structures, batched=directions > 1)
    if lazy_fn is None:
        v_out = [np.empty((directions,) + s, dtype=d) for s, d in zip(shapes, dtypes)]
        v_draw = [o if d == np.float64 else np.empty(o.shape) for o, d in zip(v_out, dtypes)]
    # lazy directions and array parameters: each leaf's estimate is formed in
    # one scratch buffer and applied in place before the next leaf's is drawn,
    # so a step holds no parameter-sized copy (the estimate, new parameters)
    fused = lazy_fn is not None and all(isinstance(p, np.ndarray) for p in params)
    if fused:
        params = tuple(params)  # our copies (_as_params): updated in place
        scratch = _LeafScratch(params, 1 + optimizer._scratch)
    else:
        g_out = [np.empty(s, dtype=d) for s, d in zip(shapes, dtypes)]
    history, stopped, last_loss = [], "steps", math.nan
    total = count if steps is None else steps if count is None else min(steps, count)
    bar = _progress(total, progress)
    samples, clock = 0, time.perf_counter()
    writer = None
    log_file = open(log, "a", newline="") if log is not None else None
    if log_file is not None:
        writer = csv.writer(log_file)
        if log_file.tell() == 0:
            writer.writerow(["step", "loss", "lr"])
    # (a loss writing into its parameters updates their tangents in place too:
    # the directions the update uses must stay as drawn, hence `writes` above)
    try:
        for i in itertools.count(start) if steps is None else range(start, start + steps):
            if next_batch is None:
                step_args = args
            else:
                try:
                    batch = next_batch(i)
                except StopIteration:
                    stopped = "data"
                    break
                step_args = (*batch, *args)
                samples += _samples(batch) or 0
            if lazy_fn is not None:
                loss, slopes, leaf_directions = _lazy_step(
                    lazy_fn, rng, distribution, shapes, dtypes, directions,
                    (*rebuild(params), *step_args))
                v = None
            else:
                v = estimators.draw_into(rng, shapes, directions, distribution, v_draw)
                v = tuple(d if d.dtype == o.dtype else _rounded(d, o) for d, o in zip(v, v_out))
                given = tuple(t.copy() for t in v) if writes else v
                if directions == 1:
                    loss, slope = f.jvp(*rebuild(params), *step_args, tangents=rebuild(tuple(
                        float(t[0]) if isinstance(p, float) else t[0]
                        for t, p in zip(given, params))))
                    slopes = np.array([float(slope)])
                else:
                    loss, slopes = f.jvp(*rebuild(params), *step_args, tangents=rebuild(given),
                                         batched=True)
                    slopes = np.asarray(slopes, dtype=float).reshape(-1)
            loss = float(loss)
            if not (math.isfinite(loss) and np.all(np.isfinite(slopes))):
                warnings.warn(f"minimize: the loss or its derivative is not finite at step {i} "
                              f"(loss={loss}); stopping with the last finite parameters",
                              RuntimeWarning, stacklevel=2)
                stopped = "non-finite"
                break
            if clip is not None:
                slopes = np.clip(slopes, -clip, clip)
            history.append(loss)
            last_loss = loss
            if writer is not None:
                writer.writerow([i, repr(loss), repr(optimizer.rate(opt_state["step"]))])
            if fused:
                w = estimators.regenerated_weights(leaf_directions, slopes, combine, len(params))
                lr = optimizer.rate(opt_state["step"])
                for p, leaf in enumerate(params):
                    g, s, s2 = scratch.views(leaf)
                    estimators.leaf_estimate(leaf_directions(p), w, g)
                    optimizer._leaf_update(opt_state, p, leaf, g, g if s is None else s, s2,
                                           lr)
                opt_state["step"] += 1
            else:
                grads = estimators.combine_into(v, slopes, combine, g_out) if v is not None \
                    else estimators.combine_into_regenerated(leaf_directions, slopes, combine,
                                                             g_out)
                grads = tuple(float(g) if isinstance(p, float) else g
                              for g, p in zip(grads, params))
                params, opt_state = optimizer.update(params, grads, opt_state)
            if bar is not None:
                bar.update(1)
                if samples:
                    rate = samples / max(time.perf_counter() - clock, 1e-9)
                    bar.set_postfix(loss=f"{loss:.4g}", samples_per_s=f"{rate:.3g}",
                                    refresh=False)
                else:
                    bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
            if callback is not None and callback(i, loss, rebuild(params)[0] if single
                                                 else rebuild(params)):
                stopped = "callback"
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
    finally:
        if bar is not None:
            bar.close()
        if log_file is not None:
            log_file.close()
    state = {"step": start + len(history), "optimizer": opt_state,
             "rng": rng.step if sampler else copy.deepcopy(rng.bit_generator.state)}
    if sampler:
        state["seed"] = rng.seed
    x = rebuild(params)
    return MinimizeResult(x[0] if single else x, last_loss, history, stopped, state)
