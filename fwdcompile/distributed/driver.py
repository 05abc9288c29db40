"""The driver of a distributed run: ``minimize``, the step loop, recovery and checks.

Contract:

* :func:`minimize` validates its input on the driver (a bad option or data of
  unequal length fails before any worker starts), builds one
  :class:`~fwdcompile.distributed.replica.Spec` per worker and runs the same
  loop over either engine.  Per step ``t`` every worker gets one call
  (apply ``t - 1``, compute ``t``); the driver averages the K scalars over
  the workers in rank order (data mode) or puts the slices together (direction
  mode), clips them, appends them to the log and sends them with the next call.
* Determinism: the average is a fixed sequence of float64 additions, and
  every worker applies the same K numbers to the same directions, so the
  replicas stay bit-identical; every ``check_every`` steps (and at the end)
  their checksums are compared and a mismatch raises :class:`ReplicaMismatch`.
* A worker that dies (answers ``DIED``) or comes back restarted (answers
  ``behind``) is sent the log to catch up and its call is repeated; the run
  goes on with the same numbers.  A worker that raises stops the run with
  :class:`WorkerError` (its rank, step and traceback); every replica is then
  whole, at the position ``WorkerError.replicas`` gives.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import math
import numbers
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .. import estimators, optim, tree
from ..sampling import DirectionSampler
from .local import DIED, LocalEngine
from .log import ScalarLog, checksum, optimizer_spec
from .replica import Spec, direction_slice

RESTART_WAIT = 120.0  # seconds the driver waits for Ray to bring a killed worker back

__all__ = ["minimize", "DistributedResult", "WorkerError", "ReplicaMismatch"]


class WorkerError(RuntimeError):
    """A worker raised: ``rank``, ``step``, the worker's ``remote_traceback``,
    and ``replicas`` (``{rank: {"position", "checksum"}}`` after the error)."""

    def __init__(self, rank: int, step: int, error: str, remote_traceback: str,
                 replicas: dict[int, Any]) -> None:
        self.rank, self.step, self.error = rank, step, error
        self.remote_traceback, self.replicas = remote_traceback, replicas
        super().__init__(f"worker {rank} failed at step {step}: {error}\n"
                         f"worker {rank}'s traceback:\n{remote_traceback}")


class ReplicaMismatch(RuntimeError):
    """The replicas' parameters differ (``checksums``: rank -> digest)."""


@dataclass
class DistributedResult:
    x: Any                       # the parameters, shaped like x0
    fun: float                   # the last finite loss (averaged over the workers)
    history: list = field(default_factory=list)   # averaged loss at every step
    stopped: str = "steps"       # "steps", "data", "callback", "non-finite"
    log: ScalarLog | None = None  # the scalars of every step: replay(x0, log) gives x
    bytes_per_step: int = 0      # payload per worker per step: scalars up and down
    parameters: int = 0          # n, the number of parameters (all-reduce: n * 8 bytes)
    workers: int = 1
    engine: str = "local"
    checksum: str = ""           # of the final replicas (all equal)
    recoveries: list = field(default_factory=list)  # (rank, step, replayed from position)
    seconds: float = 0.0

    @property
    def nit(self) -> int:
        return len(self.history)


def _fingerprint(*parts: Any) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def _rank_data(data: Callable[[int, int], Any], rank: int, step: int) -> Any:
    return data(rank, step)


def _own_copy(data: Any) -> Any:
    """A worker's own copy of its data (a minibatches object keeps a random
    state that iterating advances); an object that cannot be copied (a
    generator) is used as it is."""
    try:
        return copy.deepcopy(data)
    except TypeError:
        return data


def _shards(data: Any, workers: int, mode: str) -> list[Any]:
    """Each worker's data, checked."""
    if mode == "directions":
        if data is not None and not optim._is_step_function(data):
            optim._batches(data)  # the TypeError for a non-iterable, on the driver
        return [_own_copy(data) for _ in range(workers)]
    if data is None:
        raise ValueError("distributed.minimize: data-parallel training (mode='data') needs "
                         "data: a list of one iterable of batches per worker, or a callable "
                         "(rank, step) -> batch")
    if callable(data) and not hasattr(data, "__iter__"):
        return [functools.partial(_rank_data, data, r) for r in range(workers)]
    if not isinstance(data, (list, tuple)) or len(data) != workers:
        raise ValueError(f"distributed.minimize: data must be a list of {workers} iterables "
                         "(one per worker) or a callable (rank, step) -> batch, got "
                         + (f"a list of {len(data)}" if isinstance(data, (list, tuple))
                            else type(data).__name__))
    lengths = []
    for r, shard in enumerate(data):
        try:
            iter(shard)
        except TypeError:
            raise TypeError(f"distributed.minimize: data[{r}] must be an iterable of batches, "
                            f"got {type(shard).__name__}") from None
        try:
            lengths.append(len(shard))
        except TypeError:
            lengths.append(None)
    known = {n for n in lengths if n is not None}
    if len(known) > 1:
        raise ValueError("distributed.minimize: the workers' shards must hold the same number "
                         f"of batches (every step averages over all workers), got {lengths}")
    return [_own_copy(d) for d in data]


def _check_engine(engine: str, address: str | None) -> None:
    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
    if engine == "local" and address is not None:
        raise ValueError("address= joins a Ray cluster: use engine='ray'")


def minimize(loss: Callable[..., Any], x0: Any, *, data: Any = None, args: tuple = (),
             workers: int = 2, directions: int = 1, mode: Literal["data", "directions"] = "data",
             optimizer: Any = None, steps: int | None = None, rng: int = 0,
             distribution: Literal["normal", "rademacher"] = "normal",
             combine: Literal["mean", "project"] = "mean", clip: float | None = None,
             engine: Literal["local", "ray"] = "local", address: str | None = None,
             checkpoint: str | None = None, checkpoint_every: int = 100,
             check_every: int = 50, max_restarts: int = 3,
             callback: Callable[[int, float, Any], Any] | None = None,
             progress: bool = True) -> DistributedResult:
    """Train ``loss(*x, *batch, *args)`` with forward gradients on ``workers``
    replicas, exchanging only directional derivatives (see the package doc).

    ``mode="data"``: ``data`` is a list of one iterable of batch tuples per
    worker (shards of equal length) or a callable ``(rank, step) -> batch``;
    each worker evaluates all K ``directions`` on its batch and the K numbers
    are averaged over the workers.  ``mode="directions"``: ``data`` is what
    ``optim.minimize`` takes (an iterable of batches, a callable ``step ->
    batch``, or None with ``args``), every worker sees the same batch and
    evaluates its share of the K directions.  ``rng`` is the int seed of the
    counter-based sampler.  ``steps`` defaults as in ``optim.minimize``.

    ``engine="ray"`` runs each worker in a Ray actor (``address`` joins a
    cluster; otherwise a running instance is used or a local one started);
    ``engine="local"`` runs them in this process, the same numbers bit for bit.
    ``checkpoint`` is a path worker 0 writes its replica to every
    ``checkpoint_every`` steps, from which a restarted worker rebuilds before
    replaying the log (without it: from ``x0``).  ``check_every``: steps
    between replica checksum comparisons.  ``callback(step, loss, engine)``
    may return True to stop (``engine.handles``: the workers).
    """
    _check_engine(engine, address)
    for name, value, low in (("workers", workers, 1), ("directions", directions, 1),
                             ("checkpoint_every", checkpoint_every, 1),
                             ("check_every", check_every, 1), ("max_restarts", max_restarts, 0)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if mode not in ("data", "directions"):
        raise ValueError(f"mode must be 'data' or 'directions', got {mode!r}")
    if mode == "directions" and directions < workers:
        raise ValueError(f"mode='directions' splits the {directions} direction(s) over "
                         f"{workers} workers: give at least one direction per worker")
    if isinstance(rng, DirectionSampler):
        rng = rng.seed
    if not isinstance(rng, numbers.Integral) or isinstance(rng, bool):
        raise TypeError("distributed.minimize: rng must be an int seed (every worker "
                        "regenerates the directions from it), got " + type(rng).__name__)
    estimators.check_options(directions, distribution, combine)
    if clip is not None and not (isinstance(clip, numbers.Real) and clip > 0):
        raise ValueError(f"clip must be a positive number or None, got {clip!r}")
    if steps is None:
        steps = 1000 if data is None or optim._is_step_function(data) else None
    if steps is not None and (not isinstance(steps, numbers.Integral) or steps < 0):
        raise ValueError(f"steps must be a non-negative integer or None, got {steps!r}")
    if steps is None and mode == "data" and callable(data) and not hasattr(data, "__iter__"):
        steps = 1000
    optimizer = optimizer if optimizer is not None else optim.FGD(lr=1e-3)
    opt_spec = optimizer_spec(optimizer)
    single, structured = optim._as_params(x0)
    f = optim._optimized(loss, len(structured))  # a wrong wrt fails here, on the driver
    leaves, rebuild = tree.flatten_all(structured)
    n_params = sum(int(np.size(p)) for p in leaves)
    shards = _shards(data, workers, mode)
    fingerprint = _fingerprint(int(rng), directions, distribution, combine, opt_spec, workers,
                               mode, clip, f.__qualname__, checksum(leaves, {}))
    options = dict(wrt=f._wrt, backend=f.backend, fallback=f.fallback,
                   boundscheck=f.boundscheck, check=f.check)
    specs = [Spec(function=f.__fwdcompile_function__, options=options, x0=x0, rank=r,
                  workers=workers, mode=mode, data=shards[r], args=tuple(args), seed=int(rng),
                  directions=directions, distribution=distribution, combine=combine,
                  optimizer=optimizer, checkpoint=checkpoint, fingerprint=fingerprint)
             for r in range(workers)]
    if engine == "ray":
        from .ray_engine import RayEngine
        eng: Any = RayEngine(specs, address=address, max_restarts=max_restarts)
    else:
        eng = LocalEngine(specs)
    k_max = max(hi - lo for lo, hi in (direction_slice(r, workers, directions)
                                       for r in range(workers))) \
        if mode == "directions" else directions
    try:
        run = _Run(eng, workers, directions, mode, clip, max_restarts)
        result = run.loop(steps, check_every, checkpoint_every if checkpoint else None,
                          callback, progress, _total(shards, steps, mode))
    finally:
        eng.close()
    x = rebuild(run.final_params)
    result.x = x[0] if single else x
    result.log = ScalarLog(seed=int(rng), directions=directions, distribution=distribution,
                           combine=combine, optimizer=opt_spec, slopes=run.rows,
                           losses=result.history)
    # up: this worker's slopes and its loss; down: the K averaged scalars
    result.bytes_per_step = 8 * (k_max + 1) + 8 * directions
    result.parameters, result.workers, result.engine = n_params, workers, eng.name
    return result


def _total(shards, steps, mode):
    try:
        count = len(shards[0]) if shards[0] is not None else None
    except TypeError:
        count = None
    return count if steps is None else steps if count is None else min(steps, count)


class _Run:
    """The step loop over an engine (see the module doc)."""

    def __init__(self, engine, workers, k, mode, clip, max_restarts):
        self.engine, self.workers, self.k, self.mode = engine, workers, k, mode
        self.clip, self.max_restarts = clip, max_restarts
        self.rows: list[np.ndarray] = []  # the averaged, clipped scalars of each step
        self.recoveries: list[tuple[int, int, int]] = []
        self.final_params: Any = None

    def call_all(self, step, previous, **kwargs):
        """Every worker's ``step`` call, with dead or restarted workers caught
        up from the log and called again."""
        calls = {r: ("step", (step, previous), kwargs) for r in range(self.workers)}
        results = self.engine.map(calls)
        # a killed actor answers DIED until Ray has restarted it, which takes
        # seconds on a loaded machine: wait for it (with a deadline) instead of
        # counting each unanswered call as another death
        deadline, pause = time.monotonic() + RESTART_WAIT, 0.05
        while True:
            lost = [r for r, res in results.items()
                    if res == DIED or (isinstance(res, dict) and "behind" in res)]
            if not lost:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"distributed.minimize: worker(s) {lost} did not come back "
                                   f"within {RESTART_WAIT:.0f} s at step {step} (Ray restarts "
                                   f"an actor at most max_restarts={self.max_restarts} times)")
            done = len(self.rows) - (previous is not None)  # updates before this call
            log = np.array(self.rows).reshape(-1, self.k)
            again = {}
            for r in lost:
                back = self.engine.map({r: ("catch_up", (log, done), {})})[r]
                if back == DIED:  # still restarting
                    again[r] = calls[r]
                    continue
                self.raise_if_error({r: back}, step)
                self.recoveries.append((r, step, back["from"]))
                # a checkpoint written while it was down may put it past `previous`
                again[r] = ("step", (step, previous if back["position"] == done else None),
                            kwargs)
            if any(call[0] == "step" and call is calls.get(r) for r, call in again.items()):
                time.sleep(pause)
                pause = min(2 * pause, 2.0)
            results.update(self.engine.map(again))
        self.raise_if_error(results, step)
        return [results[r] for r in range(self.workers)]

    def raise_if_error(self, results, step):
        for r, res in sorted(results.items()):
            if isinstance(res, dict) and "error" in res:
                states = self.engine.map({q: ("state", (), {}) for q in range(self.workers)})
                raise WorkerError(r, step, res["error"], res["traceback"], states)

    def check(self, results, step):
        sums = {r: res["checksum"] for r, res in enumerate(results)}
        if len(set(sums.values())) > 1:
            raise ReplicaMismatch(
                f"distributed.minimize: the replicas differ after {step} steps (checksums "
                f"by rank: {sums}); every worker must run the same code on the same "
                "platform (a different numpy, BLAS or CPU can round differently)")

    def reduce(self, results):
        """(averaged loss, the K scalars): a fixed order of float64 operations."""
        if self.mode == "directions":  # the same batch everywhere: worker 0's loss
            slopes = np.concatenate([res["slopes"] for res in results])
            return results[0]["loss"], slopes
        loss, slopes = results[0]["loss"], np.array(results[0]["slopes"], dtype=np.float64)
        for res in results[1:]:
            loss += res["loss"]
            slopes += res["slopes"]
        # (one worker: x / 1 is x exactly, so the single-worker run is minimize's)
        return loss / self.workers, slopes / self.workers

    def loop(self, steps, check_every, checkpoint_every, callback, progress, total):
        history: list[float] = []
        stopped, last = "steps", math.nan
        bar = optim._progress(total, progress)
        clock = time.perf_counter()
        t, previous = 0, None
        try:
            while steps is None or t < steps:
                checks = previous is not None and t % check_every == 0
                ckpt = (previous is not None and checkpoint_every is not None
                        and t % checkpoint_every == 0)
                results = self.call_all(t, previous, checksum=checks, checkpoint=ckpt)
                if checks:
                    self.check(results, t)
                ended = [r for r, res in enumerate(results) if res.get("ended")]
                if ended:
                    if len(ended) < self.workers:
                        going = [r for r in range(self.workers) if r not in ended]
                        raise ValueError(
                            f"distributed.minimize: the data of worker(s) {ended} ended at "
                            f"step {t} while worker(s) {going} still had batches: the "
                            "shards must hold the same number of batches")
                    stopped, previous = "data", None
                    break
                loss, slopes = self.reduce(results)
                if not (math.isfinite(loss) and np.all(np.isfinite(slopes))):
                    warnings.warn(f"distributed.minimize: the loss or its derivative is not "
                                  f"finite at step {t} (loss={loss}); stopping with the last "
                                  "finite parameters", RuntimeWarning, stacklevel=3)
                    stopped, previous = "non-finite", None
                    break
                if self.clip is not None:
                    slopes = np.clip(slopes, -self.clip, self.clip)
                self.rows.append(slopes)
                history.append(loss)
                last, previous = loss, slopes
                t += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
                if callback is not None and callback(t - 1, loss, self.engine):
                    stopped = "callback"
                    break
            # the last update, and every replica's checksum
            final = self.call_all(t, previous, checksum=True, compute=False)
            self.check(final, t)
            params = self.engine.map({0: ("params", (), {})})[0]
            self.raise_if_error({0: params}, t)
            self.final_params = params
        finally:
            if bar is not None:
                bar.close()
        return DistributedResult(x=None, fun=last, history=history, stopped=stopped,
                                 checksum=final[0]["checksum"], recoveries=self.recoveries,
                                 seconds=time.perf_counter() - clock)
