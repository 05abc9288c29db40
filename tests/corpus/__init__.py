"""A corpus of plain numeric Python used as input to fwdcompile's tests.

Nothing in this package imports fwdcompile: the modules are written the way
people write numeric code, and each function is registered with :func:`case`,
which records how to build a valid argument tuple from a
``numpy.random.Generator``.  The decorator returns the function unchanged.

``case(make_args, wrt=None, complex_ok=False, kwargs=None, fd_scale=1.0)``

make_args
    ``rng -> tuple`` of positional arguments.  Ranges are chosen so that a
    small step in any direction stays inside the domain and on the same side
    of every branch and kink, so finite differences are valid.
wrt
    ``None`` (the default: every float / numpy floating argument is active) or
    a tuple of parameter names / indices passed to ``forward_gradient(wrt=...)``.
complex_ok
    the function is complex-analytic in its active arguments and written so
    that complex inputs flow through (no ``math.*``, comparisons, ``abs``,
    stores into float arrays ...), so the oracle may use the complex step.
kwargs
    keyword arguments (non-differentiable: ints, strings, flags).
fd_scale
    multiplies the initial finite-difference step (1e-2) for cases whose
    branches are close together.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

MODULES = ("scalar", "loops", "arrays", "tricky", "models", "redteam_ml", "redteam_science",
           "language")


@dataclass
class Case:
    name: str
    module: str
    fn: Callable
    make_args: Callable
    wrt: Any = None
    complex_ok: bool = False
    kwargs: dict = field(default_factory=dict)
    fd_scale: float = 1.0

    def __repr__(self):
        return f"Case({self.module}.{self.name})"


CASES: dict = {}


def case(make_args, wrt=None, complex_ok=False, kwargs=None, fd_scale=1.0):
    """Register the decorated function as a test case; return it unchanged."""

    def register(fn):
        name = fn.__name__
        if name in CASES:
            raise ValueError(f"duplicate corpus case name {name!r}")
        CASES[name] = Case(name=name, module=fn.__module__.rsplit(".", 1)[-1], fn=fn,
                           make_args=make_args, wrt=wrt, complex_ok=complex_ok,
                           kwargs=dict(kwargs or {}), fd_scale=fd_scale)
        return fn

    return register


def load_all():
    """Import every corpus module; return the registered cases in a stable order."""
    for module in MODULES:
        importlib.import_module(f"{__name__}.{module}")
    return list(CASES.values())


def get(name):
    load_all()
    return CASES[name]
