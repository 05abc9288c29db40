"""What the pipeline remembers between calls, and the lock that guards it.

Contract: a function is parsed, lifted, fenced and name-checked once
(:data:`PARSED`, with the time those stages took in :data:`FRONT_TIMINGS`),
and compiled once per ``(function, wrt, name, batched, checked)``
(:data:`COMPILED`).  :data:`IN_PROGRESS` holds the functions being compiled,
so a recursive call is reported instead of recursing forever.  Everything is
read and written under :data:`LOCK` (CPython's parser and the AST are not
thread-safe), which is re-entrant because compiling a function compiles the
helpers it calls.
"""

from __future__ import annotations

import threading
from typing import Any

LOCK = threading.RLock()  # held while ASTs are built or parsed (CPython is not thread-safe there)
PARSED: dict[Any, Any] = {}  # function -> its parsed, lifted, fenced form
FRONT_TIMINGS: dict[Any, dict[str, float]] = {}  # function -> seconds of parse .. names
COMPILED: dict[Any, Any] = {}  # (function, wrt, name, batched, checked) -> Compiled
IN_PROGRESS: set[Any] = set()  # functions being compiled (recursion guard)


def clear() -> None:
    """Forget every parsed and compiled function (rules registered later apply)."""
    with LOCK:
        PARSED.clear()
        FRONT_TIMINGS.clear()
        COMPILED.clear()
