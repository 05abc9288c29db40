"""What the compiler's passes may assume about a runtime helper, declared on it.

Contract: a decorator on the helper itself states a fact that a pass over
generated code relies on; the pass asks :func:`returns_fresh_array` or
:func:`updates_first_argument` with the name generated code calls
(``_rt.<name>``), and never keeps a list of names of its own.

* :func:`returns_fresh`: the result is always a new array that nobody else
  holds, never a view of an argument (vector mode's buffer reuse,
  transform/reuse.py, may write into it, and counts reading an argument as a
  copy);
* :func:`updates_first`: the helper writes its result into its first
  argument (``inplace_batched_add(d, v, x)``), so forward substitution
  (transform/simplify.py) moves nothing across it.

For numpy functions the same facts are keywords of their rules
(``fresh_result=True``, rules/registry.py).  This module imports nothing.
"""

from __future__ import annotations

FRESH: set = set()          # helper functions whose result is a new array
UPDATES_FIRST: set = set()  # helper functions that write into their first argument


def returns_fresh(fn):
    """Declare that the decorated helper always returns a new array."""
    FRESH.add(fn)
    return fn


def updates_first(fn):
    """Declare that the decorated helper writes into its first argument."""
    UPDATES_FIRST.add(fn)
    return fn


def _helper(name):
    from .. import runtime  # the _rt namespace, complete by the time a pass asks
    return getattr(runtime, name, None)


def returns_fresh_array(name):
    """Whether ``_rt.<name>`` is declared :func:`returns_fresh`."""
    return _helper(name) in FRESH


def updates_first_argument(name):
    """Whether ``_rt.<name>`` is declared :func:`updates_first`."""
    return _helper(name) in UPDATES_FIRST
