"""Rules for array methods and attributes: ``x.sum()``, ``x.max(axis=0)``, ``x.T``.

Contract: one declaration per method (:func:`defmethod`) or attribute
(:func:`defattribute`), keyed by its name (a method is called on a local
value, so there is no object to key it by), says

* how it is differentiated, its ``kind``:

  - :data:`LINEAR`: the tangent is the same method applied to the tangent
    (``d_x.sum()``), the same attribute of it (``d_x.T``);
  - :data:`FUNCTION`: differentiated with the rule of the numpy function
    ``function`` applied to the receiver first (``x.max(axis=0)`` as
    ``np.max(x, axis=0)``);
  - :data:`NONDIFF`: the result carries no tangent (``x.argmax()``, ``x.shape``);
  - :data:`NO_RULE`: declared for another fact only; differentiating through
    it is an error (``x.view()``);

* ``view_of_first_arg``: whether the result may share the receiver's
  memory (``x.reshape(...)``, ``x.T``), so that the activity analysis merges
  the names (a write through one is a write through the other);
* ``pure``: the call has no effect but its result (every declared method
  so far), so forward substitution (transform/simplify.py) may move it past
  other statements; a method not declared here (``lst.pop()``,
  ``d.popitem()``, ``a.fill(0)``) is taken to write into its receiver;
* and, for a :data:`LINEAR` method, its ``batching`` in vector mode
  (transform/tangent_space.py), one of :data:`METHOD_BATCHING`:

  - ``"per_direction"``: the method applied to each direction's tangent;
  - ``"reduction"``: ``x.sum(axis=..., keepdims=...)`` is ``_rt.breduce`` of the
    numpy function of the same name, one call for the K directions;
  - ``"reshape"``: ``x.reshape(shape)`` (C order) is ``_rt.breshape``;
  - ``"ravel"``: ``x.ravel()``, ``x.flatten()`` (no arguments) are
    ``_rt.breshape``, copying unless the result is a view of the receiver.

The front end (frontend/calls.py, frontend/activity.py) and the transform
read these tables, through :func:`method_rule` and :func:`attribute_rule`
or the live views :func:`names_of_kind` and :func:`functions_of_methods`.
``x.sort()`` is not declared: it sorts in place and returns None, and is
rejected as a discarded call.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

LINEAR, FUNCTION, NONDIFF, NO_RULE = "linear", "function", "nondiff", "no rule"
METHOD_BATCHING = ("per_direction", "reduction", "reshape", "ravel")


@dataclass(frozen=True)
class MethodRule:
    """What the compiler knows about the method or attribute ``name``."""

    name: str
    kind: str
    function: object = None  # FUNCTION: the numpy function whose rule applies
    view_of_first_arg: bool = False  # the result may share the receiver's memory
    batching: str = "per_direction"  # LINEAR methods in vector mode: METHOD_BATCHING
    pure: bool = True  # no effect but its result: the call may be moved


METHODS: dict[str, MethodRule] = {}
ATTRIBUTES: dict[str, MethodRule] = {}


def defmethod(name, kind, function=None, view_of_first_arg=False, batching="per_direction",
              pure=True):
    """Declare the method ``x.<name>(...)`` (see the module docstring)."""
    if kind not in (LINEAR, FUNCTION, NONDIFF, NO_RULE):
        raise ValueError(f"unknown method kind {kind!r}")
    if (kind == FUNCTION) != (function is not None):
        raise ValueError("a function is given exactly for methods of kind FUNCTION")
    if batching not in METHOD_BATCHING:
        raise ValueError(f"{name}: unknown method batching {batching!r}")
    if batching != "per_direction" and kind != LINEAR:
        raise ValueError(f"{name}: only a LINEAR method declares its batching")
    METHODS[name] = MethodRule(name, kind, function, view_of_first_arg, batching, pure)
    return METHODS[name]


def defattribute(name, kind, view_of_first_arg=False):
    """Declare the attribute ``x.<name>``: :data:`LINEAR` or :data:`NONDIFF`."""
    if kind not in (LINEAR, NONDIFF):
        raise ValueError(f"an attribute is LINEAR or NONDIFF, not {kind!r}")
    ATTRIBUTES[name] = MethodRule(name, kind, None, view_of_first_arg)
    return ATTRIBUTES[name]


def method_rule(name):
    """The declaration of the method ``name``, or None."""
    return METHODS.get(name)


def attribute_rule(name):
    """The declaration of the attribute ``name``, or None."""
    return ATTRIBUTES.get(name)


class _Kind(Mapping):
    """The names of one kind in a table, live (name -> function, None when
    the kind has no function): a declaration added later is seen."""

    def __init__(self, table, kind):
        self._table, self._kind = table, kind

    def __getitem__(self, name):
        rule = self._table.get(name)
        if rule is None or rule.kind != self._kind:
            raise KeyError(name)
        return rule.function

    def __iter__(self) -> Iterator[str]:
        return (n for n, rule in list(self._table.items()) if rule.kind == self._kind)

    def __len__(self):
        return sum(1 for _ in self)

    def __repr__(self):
        return f"<{self._kind} {'attributes' if self._table is ATTRIBUTES else 'methods'}: " \
            f"{', '.join(sorted(self))}>"


def names_of_kind(kind, attributes=False):
    """The method (or attribute) names of ``kind``, as a live mapping."""
    return _Kind(ATTRIBUTES if attributes else METHODS, kind)


def functions_of_methods():
    """Method name -> the numpy function whose rule differentiates it (live)."""
    return _Kind(METHODS, FUNCTION)


# ------------------------------------------------------------------ methods
# LINEAR:  method, view of the receiver, batching in vector mode
for _name, _view, _batching in (
        ("sum", False, "reduction"), ("mean", False, "reduction"),
        ("cumsum", False, "per_direction"), ("reshape", True, "reshape"),
        ("transpose", True, "per_direction"), ("ravel", True, "ravel"),
        ("flatten", False, "ravel"), ("copy", False, "per_direction"),
        ("squeeze", True, "per_direction"), ("swapaxes", True, "per_direction"),
        ("diagonal", True, "per_direction"), ("trace", False, "per_direction"),
        ("conj", False, "per_direction"), ("conjugate", False, "per_direction"),
        ("item", False, "per_direction"), ("take", False, "per_direction"),
        ("repeat", False, "per_direction"), ("tolist", False, "per_direction"),
        ("items", False, "per_direction"), ("values", False, "per_direction"),
        ("get", False, "per_direction")):
    defmethod(_name, LINEAR, view_of_first_arg=_view, batching=_batching)
defmethod("max",     FUNCTION, np.max)
defmethod("min",     FUNCTION, np.min)
defmethod("prod",    FUNCTION, np.prod)
defmethod("var",     FUNCTION, np.var)
defmethod("std",     FUNCTION, np.std)
defmethod("dot",     FUNCTION, np.dot)
defmethod("clip",    FUNCTION, np.clip)
defmethod("cumprod", FUNCTION, np.cumprod)
for _name in ("argmax", "argmin", "argsort", "nonzero", "any", "all", "searchsorted",
              "count", "index", "keys", "startswith", "endswith", "bit_length", "is_integer"):
    defmethod(_name, NONDIFF)
defmethod("view", NO_RULE, view_of_first_arg=True)

# ------------------------------------------------------------------ attributes
for _name in ("T", "real", "imag", "mT"):
    defattribute(_name, LINEAR, view_of_first_arg=True)
for _name in ("shape", "ndim", "size", "dtype", "itemsize", "nbytes", "strides"):
    defattribute(_name, NONDIFF)
