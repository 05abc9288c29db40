"""One worker of a distributed run: its replica, its data, its directional derivatives.

Contract:

* :class:`Replica` is built from plain, picklable values (:class:`Spec`), so
  the local engine and a Ray actor build it the same way and a restarted
  actor builds it again from the same arguments.
* :meth:`Replica.step` is the one call a worker gets per training step: it
  applies the update of step ``t - 1`` (from the averaged scalars the driver
  sends), optionally reports a checksum and writes a checkpoint, then
  computes the directional derivatives of step ``t`` on its batch (one
  vector-mode JVP) and returns them with the loss.  Fusing the two halves
  halves the round trips per step (measured: notes on Ray).
* In ``"data"`` mode a worker evaluates all K directions on its own batch;
  in ``"directions"`` mode every worker has the same batch and evaluates its
  slice ``[lo, hi)`` of the K directions.  Either way it draws all K
  directions, since the update needs them all.
* :meth:`Replica.catch_up` rebuilds a restarted replica: from the last valid
  checkpoint (when the file exists, belongs to this run and agrees with the
  driver's log) or from ``x0``, then replays the logged scalars.
* Errors never escape as exceptions: :meth:`Replica.call` returns
  ``{"error": ..., "traceback": ...}`` so that the driver reports the rank and
  the worker's traceback the same way for every engine.
"""

from __future__ import annotations

import os
import pickle
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import calling, optim, tree
from ..api import ForwardGradient
from .log import Updater


@dataclass
class Spec:
    """What a worker is built from (all picklable)."""

    function: Any            # the user's undecorated function
    options: dict            # ForwardGradient options (wrt, backend, ...)
    x0: Any                  # the parameters as minimize got them
    rank: int
    workers: int
    mode: str                # "data" or "directions"
    data: Any                # this worker's iterable, a callable of the step, or None
    args: tuple
    seed: int
    directions: int
    distribution: str
    combine: str
    optimizer: Any
    checkpoint: str | None
    fingerprint: str         # identifies the run, so a stale checkpoint is never loaded


def direction_slice(rank: int, workers: int, k: int) -> tuple[int, int]:
    """``[lo, hi)``: the directions worker ``rank`` evaluates in direction mode
    (contiguous, sizes differing by at most one, lower ranks larger)."""
    base, extra = divmod(k, workers)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (rank < extra)


class Replica:
    """A worker's state; see the module doc."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.rank = spec.rank
        _, structured = optim._as_params(spec.x0)
        self.n = len(structured)
        self.f = ForwardGradient(spec.function, **spec.options)
        leaves, self.rebuild = tree.flatten_all(structured)
        self._leaves0 = leaves
        self.updater = self._fresh_updater()
        wrt = tuple(self.f._params[:self.n])
        structures = calling.structures_for(wrt, dict(zip(wrt, structured)))
        # a loss writing into its parameters changes their tangents in place:
        # it gets copies, so the update uses the directions as drawn (as in minimize)
        self.writes = self.f._calls.writes_into(wrt, structures)
        if spec.mode == "data":
            self.lo, self.hi = 0, spec.directions
        else:
            self.lo, self.hi = direction_slice(spec.rank, spec.workers, spec.directions)
        self._data_fresh()
        self.applied: list[np.ndarray] = []  # the scalars of every update applied (the log)

    def _fresh_updater(self) -> Updater:
        s = self.spec
        return Updater(self._leaves0, seed=s.seed, directions=s.directions,
                       distribution=s.distribution, combine=s.combine, optimizer=s.optimizer)

    def _data_fresh(self) -> None:
        data = self.spec.data
        self.taken = 0  # batches drawn from an iterable
        self.next_batch = None if data is None else optim._batches(data)[0]
        self.iterable = data is not None and not optim._is_step_function(data)

    @property
    def position(self) -> int:
        return self.updater.position

    # ---------------------------------------------------------------- one step

    def compute(self, step: int) -> dict[str, Any]:
        """``{"loss", "slopes"}`` of step ``step`` on this worker's batch and
        directions, or ``{"ended": True}`` when its iterable has ended."""
        if self.next_batch is None:
            step_args = self.spec.args
        else:
            if self.iterable:
                while self.taken < step:  # a rebuilt replica skips the batches already used
                    self.next_batch(self.taken)
                    self.taken += 1
            try:
                batch = self.next_batch(step)
            except StopIteration:
                return {"ended": True}
            self.taken += 1
            step_args = (*batch, *self.spec.args)
        params = self.updater.params
        v = self.updater.directions(step)
        mine = tuple(t[self.lo:self.hi] for t in v)
        given = tuple(t.copy() for t in mine) if self.writes else mine
        if self.hi - self.lo == 1:  # one direction: the unbatched JVP, as minimize does
            loss, slope = self.f.jvp(*self.rebuild(params), *step_args, tangents=self.rebuild(
                tuple(float(t[0]) if isinstance(p, float) else t[0]
                      for t, p in zip(given, params))))
            slopes = np.array([float(slope)])
        else:
            loss, slopes = self.f.jvp(*self.rebuild(params), *step_args,
                                      tangents=self.rebuild(given), batched=True)
            slopes = np.asarray(slopes, dtype=float).reshape(-1)
        return {"loss": float(loss), "slopes": slopes}

    def step(self, step: int, previous: np.ndarray | None, checksum: bool = False,
             checkpoint: bool = False, compute: bool = True) -> dict[str, Any]:
        """Apply the update of ``step - 1`` (``previous``: its averaged scalars,
        None at the first step), then compute step ``step``.  A replica that is
        not at the position the call expects (it was restarted) answers
        ``{"behind": position}`` and changes nothing."""
        expected = step - (previous is not None)
        if self.position != expected:
            return {"behind": self.position}
        if previous is not None:
            self.updater.apply(previous)
            self.applied.append(np.array(previous, dtype=np.float64))
        out: dict[str, Any] = {"position": self.position}
        if checksum:
            out["checksum"] = self.updater.checksum()
        if checkpoint and self.spec.checkpoint is not None and self.rank == 0:
            self.write_checkpoint()  # one writer: the replicas are identical
        if compute:
            out.update(self.compute(step))
        return out

    def state(self) -> dict[str, Any]:
        return {"position": self.position, "checksum": self.updater.checksum()}

    def params(self) -> tuple[Any, ...]:
        """The parameters' leaves (the driver puts them back into x0's structure)."""
        return self.updater.params

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``getattr(self, method)(...)``, with an exception returned as
        ``{"error": repr, "traceback": text}``: what crosses to the driver."""
        try:
            return getattr(self, method)(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 (reported to the driver with its traceback)
            return {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}

    # ---------------------------------------------------------------- faults

    def write_checkpoint(self) -> None:
        """The parameters, optimizer state and applied scalars, written
        atomically (a temporary file renamed over the old one)."""
        path = self.spec.checkpoint
        assert path is not None
        u = self.updater
        state = {"format": 1, "fingerprint": self.spec.fingerprint, "position": u.position,
                 "params": u.params, "opt_state": u.opt_state,
                 "applied": np.array(self.applied).reshape(-1, self.spec.directions)}
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "wb") as fh:
            pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)

    def _load_checkpoint(self, log: np.ndarray) -> bool:
        path = self.spec.checkpoint
        if path is None or not os.path.exists(path):
            return False
        try:
            with open(path, "rb") as fh:
                state = pickle.load(fh)
        except (OSError, pickle.UnpicklingError, EOFError):
            return False
        applied, position = state.get("applied"), state.get("position", -1)
        # only a checkpoint of this run whose scalars are the log's: a stale or
        # foreign file is ignored and the replica replays from x0 instead
        if (state.get("fingerprint") != self.spec.fingerprint or position > len(log)
                or not np.array_equal(applied, log[:position])):
            return False
        u = self._fresh_updater()
        u.params, u.opt_state, u.position = state["params"], state["opt_state"], position
        self.updater = u
        self.applied = [np.array(a) for a in applied]
        return True

    def catch_up(self, log: np.ndarray, target: int) -> dict[str, Any]:
        """Rebuild this replica at position ``target`` or later: from the
        checkpoint (if valid: it may be newer than ``target``, written while
        this worker was down, but never beyond the log) or ``x0``, then the
        logged updates.  Returns ``{"from": the position it replayed from,
        "position"}``."""
        log = np.asarray(log, dtype=np.float64).reshape(-1, self.spec.directions)
        if not self._load_checkpoint(log):
            self.updater = self._fresh_updater()
            self.applied = []
        start = self.position
        for t in range(start, target):
            self.updater.apply(log[t])
            self.applied.append(np.array(log[t]))
        self._data_fresh()  # compute() skips the batches of the steps before
        return {"from": start, "position": self.position}
