"""The scalar log of a distributed forward-gradient run, the update it drives, and replay.

Contract:

* A run's whole state is ``x0``, the seed and the :class:`ScalarLog`: per
  step the K averaged (and clipped) directional derivatives the update used,
  plus the averaged loss.  8 bytes per direction per step.
* :class:`Updater` holds one replica's parameters (leaves) and optimizer
  state and applies the update of step ``t`` from the K scalars of that step:
  it regenerates the directions from ``(seed, t)`` with the counter-based
  sampler (``estimators.draw_into``, the code ``optim.minimize`` uses, so the
  same numbers bit for bit), combines them (``estimators.combine_into``) and
  calls the optimizer's ``update``.  ``update`` is functional, and the new
  parameters replace the old ones in one assignment: a replica is never left
  half-updated.
* :func:`replay` rebuilds the parameters after any number of steps from
  ``x0`` and a log alone: no loss function, no data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import estimators, optim, tree
from ..sampling import DirectionSampler

__all__ = ["ScalarLog", "Updater", "replay", "checksum"]

_OPTIMIZERS = {"FGD": optim.FGD, "Momentum": optim.Momentum, "Adam": optim.Adam}


def optimizer_spec(opt: Any) -> dict[str, Any]:
    """A JSON-able description of an optimizer of fwdcompile.optim."""
    name = type(opt).__name__
    if _OPTIMIZERS.get(name) is not type(opt):
        raise TypeError("distributed training takes an optimizer of fwdcompile.optim (FGD, "
                        f"Momentum, Adam), got {type(opt).__name__}")
    return {"type": name, **{f.name: getattr(opt, f.name) for f in dataclasses.fields(opt)
                             if f.init}}


def optimizer_from(spec: dict[str, Any]) -> Any:
    spec = dict(spec)
    return _OPTIMIZERS[spec.pop("type")](**spec)


@dataclass
class ScalarLog:
    """Everything besides ``x0`` needed to rebuild a run: the seed, the
    options of the update and, per step, the K scalars it used (``slopes``,
    shape ``(steps, K)``) and the averaged loss (``losses``)."""

    seed: int
    directions: int
    distribution: str
    combine: str
    optimizer: dict[str, Any]
    slopes: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    losses: np.ndarray = field(default_factory=lambda: np.empty(0))

    def __post_init__(self) -> None:
        self.slopes = np.asarray(self.slopes, dtype=np.float64).reshape(-1, self.directions)
        self.losses = np.asarray(self.losses, dtype=np.float64).reshape(-1)

    def __len__(self) -> int:
        return len(self.slopes)

    @property
    def nbytes(self) -> int:
        """The bytes of scalars the log holds (what a run costs to store)."""
        return int(self.slopes.nbytes + self.losses.nbytes)

    def save(self, path: str) -> None:
        """Write the log to ``path`` (numpy's npz: the scalars as float64, the
        options as JSON)."""
        meta = {k: getattr(self, k) for k in ("seed", "directions", "distribution",
                                              "combine", "optimizer")}
        with open(path, "wb") as fh:
            np.savez(fh, slopes=self.slopes, losses=self.losses,
                     meta=np.array(json.dumps(meta)))

    @classmethod
    def load(cls, path: str) -> ScalarLog:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return cls(slopes=z["slopes"], losses=z["losses"], **meta)


def checksum(leaves: Any, opt_state: dict[str, Any]) -> str:
    """A digest of a replica's parameters and optimizer state (their exact
    bytes): equal digests, bit-identical replicas (barring a hash collision)."""
    h = hashlib.blake2b(digest_size=16)

    def feed(value):
        if isinstance(value, (tuple, list)):
            for v in value:
                feed(v)
        elif isinstance(value, np.ndarray):
            h.update(str(value.dtype).encode() + str(value.shape).encode())
            h.update(np.ascontiguousarray(value).tobytes())
        else:
            h.update(np.float64(value).tobytes())
    feed(list(leaves))
    for key in sorted(opt_state):
        h.update(key.encode())
        feed(opt_state[key])
    return h.hexdigest()


class Updater:
    """One replica's parameters and optimizer state, and the update of a step
    from its K scalars (see the module doc).  ``leaves`` are the parameters'
    leaves (floats or arrays), each copied."""

    def __init__(self, leaves: Any, *, seed: int, directions: int, distribution: str,
                 combine: str, optimizer: Any) -> None:
        estimators.check_options(directions, distribution, combine)
        self.params = tuple(np.array(p) if isinstance(p, np.ndarray) else float(p)
                            for p in leaves)
        self.k, self.distribution, self.combine = directions, distribution, combine
        self.optimizer = optimizer
        self.opt_state = optimizer.init(self.params)
        self.position = 0  # the updates applied: the next one is that of step `position`
        self.sampler = DirectionSampler(seed)
        self.shapes = [np.shape(p) for p in self.params]
        self.dtypes = [p.dtype if isinstance(p, np.ndarray) else np.dtype(float)
                       for p in self.params]
        # buffers reused every step, as optim.minimize does (and for the same
        # reason: fresh arrays of a large model's size fault in new pages)
        self._v_out = [np.empty((directions,) + s, dtype=d)
                       for s, d in zip(self.shapes, self.dtypes)]
        self._v_draw = [o if d == np.float64 else np.empty(o.shape)
                        for o, d in zip(self._v_out, self.dtypes)]
        self._g_out = [np.empty(s, dtype=d) for s, d in zip(self.shapes, self.dtypes)]
        self._held: tuple[int, Any] | None = None  # (step, directions) drawn for that step

    def directions(self, step: int) -> tuple[np.ndarray, ...]:
        """The K directions of ``step``, ``(K,) + shape`` per leaf in the
        leaf's dtype: drawn by ``optim.minimize``'s code from the sampler at
        ``step`` (drawn once, then held until the update of that step)."""
        if self._held is not None and self._held[0] == step:
            return self._held[1]
        self.sampler.step = step  # stream() keys the draw by the sampler's step
        v = estimators.draw_into(self.sampler, self.shapes, self.k, self.distribution,
                                 self._v_draw)
        v = tuple(d if d.dtype == o.dtype else optim._rounded(d, o)
                  for d, o in zip(v, self._v_out))
        self._held = (step, v)
        return v

    def apply(self, slopes: np.ndarray) -> None:
        """The update of step ``position`` from its K (averaged, clipped) scalars."""
        slopes = np.asarray(slopes, dtype=np.float64)
        v = self.directions(self.position)
        grads = estimators.combine_into(v, slopes, self.combine, self._g_out)
        grads = tuple(float(g) if isinstance(p, float) else g
                      for g, p in zip(grads, self.params))
        params, opt_state = self.optimizer.update(self.params, grads, self.opt_state)
        # one assignment: an exception above leaves the replica as it was
        self.params, self.opt_state, self.position = params, opt_state, self.position + 1

    def checksum(self) -> str:
        return checksum(self.params, self.opt_state)


def replay(x0: Any, log: ScalarLog, steps: int | None = None) -> Any:
    """The parameters after ``steps`` updates (default: all the log holds)
    of the run that wrote ``log`` from ``x0``, bit for bit; ``x0`` as given to
    ``distributed.minimize`` (array, tuple of parameters or pytree)."""
    if steps is None:
        steps = len(log)
    if not isinstance(steps, numbers.Integral) or not 0 <= steps <= len(log):
        raise ValueError(f"replay: steps must be an integer in [0, {len(log)}] (the log "
                         f"holds {len(log)} steps), got {steps!r}")
    single, structured = optim._as_params(x0)
    leaves, rebuild = tree.flatten_all(structured)
    updater = Updater(leaves, seed=log.seed, directions=log.directions,
                      distribution=log.distribution, combine=log.combine,
                      optimizer=optimizer_from(log.optimizer))
    for t in range(steps):
        updater.apply(log.slopes[t])
    x = rebuild(updater.params)
    return x[0] if single else x
