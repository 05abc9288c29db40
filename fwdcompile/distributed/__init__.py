"""Distributed forward-gradient training: directional derivatives on the wire, not gradients.

Every worker holds a replica of the parameters and draws the same K random
directions from ``(seed, step)`` with the counter-based sampler; it computes
the K directional derivatives of the loss on its batch (one vector-mode JVP)
and sends only those K numbers.  The driver averages them and every worker
applies the identical update, so the replicas stay bit-identical while
8 bytes per direction cross the wire instead of the gradient.  The scalars of
every step form a log from which :func:`replay` rebuilds the parameters of
any step, and from which a restarted worker catches up.

Modules: ``driver`` (:func:`minimize`, the step loop, checks, recovery),
``replica`` (one worker), ``log`` (the scalar log, the update, replay),
``local`` (every worker in this process: the reference) and ``ray_engine``
(a Ray actor per worker; Ray is imported only there: ``pip install
"fwdcompile[distributed]"``).
"""

from .driver import DistributedResult, ReplicaMismatch, WorkerError, minimize
from .log import ScalarLog, replay

__all__ = ["minimize", "replay", "ScalarLog", "DistributedResult", "WorkerError",
           "ReplicaMismatch"]
