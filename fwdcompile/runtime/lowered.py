"""Which runtime helpers the native backend implements in LLVM IR.

Contract: a helper decorated with :func:`lowered_natively` has a second
implementation, in IR, in the native backend (backends/llvm: lower.py,
elementwise.py, reductions.py, arrays.py), under the operation name the
decorator gives (the helper's own name unless said otherwise).  :data:`NATIVE`
maps each such helper *function* to a :class:`Lowering`; it is the only list
of them: the native backend's catalogue (backends/llvm/catalogue.py) is
derived from it, so a call to ``_rt.pow_dx`` lowers because ``pow_dx`` is
declared here, and ``tests/test_native_runtime_pairs.py`` runs every entry
through both implementations at random points of its ``domain`` and compares.
A helper without the decorator never lowers (the native backend refuses the
call, and the API falls back to Python or reports it).

This module imports nothing: the runtime stays importable without llvmlite.
"""

from __future__ import annotations

from dataclasses import dataclass

SCALARS, ARRAYS, BOTH = "scalars", "arrays", "scalars and arrays"


@dataclass(frozen=True)
class Lowering:
    """The IR twin of a runtime helper: the operation name the native backend
    emits for it, and the values it lowers for (:data:`SCALARS`,
    :data:`ARRAYS` or :data:`BOTH`; other calls are refused at compile time).

    ``number``: where one implementation serves both backends, a plain
    function of numbers whose body is one ``return <expression>`` written in
    code the native backend lowers (arithmetic, comparisons, conditional
    expressions, ``math``/numpy functions of numbers).  The helper calls it
    for numbers, and the native backend lowers a call to the helper by
    lowering that expression (lower.py, ``inline_number``): no IR written by
    hand, so nothing to keep in step."""
    op: str
    domain: str
    number: object = None


NATIVE: dict = {}  # helper function -> Lowering


def lowered_natively(domain, op=None, number=None):
    """Declare that the native backend implements the decorated helper for
    ``domain``: as operation ``op`` (default: the helper's name) written in
    IR, or, given ``number``, by lowering that function's expression."""
    def declare(fn):
        NATIVE[fn] = Lowering(op or fn.__name__, domain, number)
        return fn
    return declare
