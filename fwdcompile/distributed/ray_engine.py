"""The Ray engine: one long-lived Ray actor per worker, each holding a replica.

Contract (the engine interface of ``local.py``):

* Ray is imported here, when the engine is built, never by the core package.
* Without ``address`` and without a running Ray instance, :class:`RayEngine`
  starts a local one (``ray.init(num_cpus=workers)``) and stops it in
  ``close()``; with ``address`` (``"auto"`` or ``"host:port"`` of a cluster
  started with ``ray start --head``) it joins that cluster.  An instance the
  caller started is used and left running.
* Each actor takes one CPU and is created with ``max_restarts``: when its
  process dies Ray starts it again and it rebuilds its replica from its spec
  (``__init__``); the driver then sends it the log to catch up.  Calls are
  not retried by Ray (``max_task_retries=0``): the driver decides what a
  restarted worker must do.
* Per step, each actor gets one call carrying the K averaged scalars of the
  previous step and answers with its K directional derivatives and its loss:
  no arrays cross the wire after the actors are built.
"""

from __future__ import annotations

from typing import Any

from .local import DIED
from .replica import Replica, Spec


class _Worker:
    """The actor: a replica, and ``call`` forwarding to it."""

    def __init__(self, spec: Spec) -> None:
        self.replica = Replica(spec)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.replica.call(method, *args, **kwargs)


class RayEngine:
    name = "ray"

    def __init__(self, specs: list[Spec], *, address: str | None = None,
                 max_restarts: int = 3) -> None:
        import ray

        self.ray = ray
        self.owns = not ray.is_initialized()
        if self.owns:
            if address is None:
                ray.init(num_cpus=len(specs), include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        actor = ray.remote(_Worker).options(num_cpus=1, max_restarts=max_restarts,
                                            max_task_retries=0)
        # the specs (x0, the data) stay in the object store while the engine
        # lives: a restarted actor is built from them again
        self._specs = [ray.put(s) for s in specs]
        self.handles = [actor.remote(s) for s in self._specs]
        self._dead = (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError)

    def map(self, calls: dict[int, tuple[str, tuple, dict]]) -> dict[int, Any]:
        refs = {rank: self.handles[rank].call.remote(method, *args, **kwargs)
                for rank, (method, args, kwargs) in calls.items()}
        out = {}
        for rank in sorted(refs):
            try:
                out[rank] = self.ray.get(refs[rank])
            except self._dead:
                out[rank] = DIED
            except self.ray.exceptions.RayTaskError as e:  # __init__ failed (bad spec)
                out[rank] = {"error": f"{type(e.cause).__name__}: {e.cause}",
                             "traceback": str(e)}
        return out

    def kill(self, rank: int) -> None:
        self.ray.kill(self.handles[rank], no_restart=False)

    def close(self) -> None:
        for h in self.handles:
            self.ray.kill(h)  # frees the actor's CPU for the next run in this session
        self.handles = []
        if self.owns:
            self.ray.shutdown()
