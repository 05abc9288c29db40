"""The local engine: every worker's replica in this process, called in rank order.

Contract: the engine interface the driver uses, which the Ray engine
(``ray_engine.py``) implements too:

* ``map(calls) -> {rank: result}`` runs ``Replica.call(method, *args,
  **kwargs)`` for each ``rank: (method, args, kwargs)`` and returns the
  results; a worker that has died answers :data:`DIED`.
* ``kill(rank)`` kills a worker the way a crash would; the engine (or Ray)
  builds it again from its spec, as a restarted actor runs ``__init__``
  again.  The driver notices (the worker answers ``DIED`` or ``behind``) and
  makes it catch up from the log.
* ``handles``: the workers (replicas here, actor handles with Ray);
  ``close()`` releases them.

Same algorithm, same code as the workers of the Ray engine: this is the
reference the tests compare the Ray engine with, bit for bit.
"""

from __future__ import annotations

from typing import Any

from .replica import Replica, Spec

DIED = "died"  # what map() answers for a worker that died during the call


class LocalEngine:
    name = "local"

    def __init__(self, specs: list[Spec]) -> None:
        self.specs = specs
        self.handles: list[Replica] = [Replica(s) for s in specs]

    def map(self, calls: dict[int, tuple[str, tuple, dict]]) -> dict[int, Any]:
        return {rank: self.handles[rank].call(method, *args, **kwargs)
                for rank, (method, args, kwargs) in sorted(calls.items())}

    def kill(self, rank: int) -> None:
        self.handles[rank] = Replica(self.specs[rank])  # restarted: built from its spec again

    def close(self) -> None:
        self.handles = []
