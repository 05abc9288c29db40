"""Pytrees: parameters kept in nested containers with arrays at the leaves.

A *pytree* follows JAX's convention: a dict, list, tuple, ``NamedTuple`` or
dataclass instance (frozen or not) whose items are pytrees, or ``None`` (an
empty node); anything else is a *leaf*.  Dict keys are flattened in sorted
order (insertion order when the keys do not sort), so two dicts with the
same keys have the same structure whatever order they were built in.

This module is the one place that knows how to take containers apart and
put them back: the call boundary (:mod:`fwdcompile.calling`) checks a
parameter's tangent against its structure, :mod:`fwdcompile.estimators`
draws one direction per leaf, and :mod:`fwdcompile.optim` updates every
leaf.  Rebuilding a dataclass does not call its ``__init__`` or
``__post_init__`` (the fields are set directly, as ``copy.copy`` would),
so validation in ``__init__`` never sees tangents.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["flatten", "unflatten", "flatten_all", "leaves", "structure", "map", "leaf_paths",
           "is_container", "PyTreeDef"]

_LEAF = "*"


class PyTreeDef:
    """The structure of a pytree without its leaves (hashable, comparable)."""

    __slots__ = ("kind", "meta", "children", "num_leaves", "_hash")

    def __init__(self, kind: Any, meta: Any, children: tuple[PyTreeDef, ...]):
        self.kind = kind  # "*" (a leaf), "dict", "list", "tuple", "none", or a class
        self.meta = meta  # dict keys or field names, in flattening order
        self.children = children
        self.num_leaves: int = 1 if kind == _LEAF else sum(c.num_leaves for c in children)
        self._hash = hash((kind, meta, children))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PyTreeDef) and self._hash == other._hash and (
            self.kind, self.meta, self.children) == (other.kind, other.meta, other.children)

    def __hash__(self) -> int:
        return self._hash

    @property
    def is_leaf(self) -> bool:
        return self.kind == _LEAF

    def unflatten(self, leaves: list[Any] | tuple[Any, ...]) -> Any:
        if self.num_leaves != len(leaves):
            raise ValueError(f"{self} has {self.num_leaves} leaves, got {len(leaves)}")
        return self._build(iter(leaves))

    def _build(self, it: Iterator[Any]) -> Any:
        if self.kind == _LEAF:
            return next(it)
        items = [c._build(it) for c in self.children]
        if self.kind == "none":
            return None
        if self.kind == "dict":
            return dict(zip(self.meta, items))
        if self.kind == "list":
            return items
        if self.kind == "tuple":
            return tuple(items)
        if isinstance(self.meta, tuple) and hasattr(self.kind, "_fields"):  # NamedTuple
            return self.kind(*items)
        obj = object.__new__(self.kind)  # a dataclass: fields set directly
        for name, value in zip(self.meta, items):
            object.__setattr__(obj, name, value)
        return obj

    def __repr__(self) -> str:
        if self.kind == _LEAF:
            return "*"
        inner = ", ".join(repr(c) for c in self.children)
        if self.kind == "none":
            return "None"
        if self.kind == "dict":
            return "{" + ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.meta, self.children)) + "}"
        if self.kind == "list":
            return f"[{inner}]"
        if self.kind == "tuple":
            return f"({inner}{',' if len(self.children) == 1 else ''})"
        fields = ", ".join(f"{k}={c!r}" for k, c in zip(self.meta, self.children))
        return f"{self.kind.__name__}({fields})"


LEAF = PyTreeDef(_LEAF, None, ())


_LEAF_TYPES = frozenset({float, int, complex, bool, str, bytes, type(Ellipsis)})


def is_namedtuple(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(type(value), "_fields")


def is_container(value: Any) -> bool:
    """Whether ``value`` is a pytree node rather than a leaf."""
    kind = type(value)
    if kind in _PLAIN:
        return True
    if kind is np.ndarray or kind in _LEAF_TYPES:
        return False
    return is_namedtuple(value) or (dataclasses.is_dataclass(value)
                                    and not isinstance(value, type))


_PLAIN = frozenset({dict, list, tuple, type(None)})


def _children(value: Any) -> tuple[Any, Any, list[tuple[str, Any]]]:
    """(kind, meta, [(path step, child)]) of a container."""
    if value is None:
        return "none", None, []
    if type(value) is dict:
        keys = _keys(value)
        return "dict", keys, [(f"[{k!r}]", value[k]) for k in keys]
    if type(value) is list:
        return "list", None, [(f"[{i}]", v) for i, v in enumerate(value)]
    if type(value) is tuple:
        return "tuple", None, [(f"[{i}]", v) for i, v in enumerate(value)]
    if is_namedtuple(value):
        fields = tuple(type(value)._fields)
        return type(value), fields, [(f".{f}", getattr(value, f)) for f in fields]
    names = tuple(f.name for f in dataclasses.fields(value))
    return type(value), names, [(f".{n}", getattr(value, n)) for n in names]


def _keys(value: dict) -> tuple:
    keys = list(value)
    try:
        keys = sorted(keys)
    except TypeError:  # keys of mixed types: insertion order
        pass
    return tuple(keys)


def _flatten_paths(value: Any, path: str, out: list[tuple[str, Any]]) -> PyTreeDef:
    if not is_container(value):
        out.append((path, value))
        return LEAF
    kind, meta, items = _children(value)
    children = tuple(_flatten_paths(v, path + step, out) for step, v in items)
    return PyTreeDef(kind, meta, children)


def _flatten(value: Any, out: list[Any]) -> PyTreeDef:
    """Like :func:`_flatten_paths` without the paths (the per-call path)."""
    kind = type(value)
    if kind is np.ndarray or kind in _LEAF_TYPES:
        out.append(value)
        return LEAF
    if kind is dict:
        keys = _keys(value)
        return PyTreeDef("dict", keys, tuple(_flatten(value[k], out) for k in keys))
    if kind is list or kind is tuple:
        return PyTreeDef("list" if kind is list else "tuple", None,
                         tuple(_flatten(v, out) for v in value))
    if not is_container(value):
        out.append(value)
        return LEAF
    node, meta, items = _children(value)
    return PyTreeDef(node, meta, tuple(_flatten(v, out) for _, v in items))


def leaf_paths(tree: Any, root: str = "") -> tuple[list[tuple[str, Any]], PyTreeDef]:
    """``([(path, leaf), ...], treedef)``; a path reads like the Python that
    reaches the leaf from ``root`` (``params['W1']``, ``layers[0][1]``, ``p.W``)."""
    out: list[tuple[str, Any]] = []
    treedef = _flatten_paths(tree, root, out)
    return out, treedef


def flatten(tree: Any) -> tuple[list[Any], PyTreeDef]:
    """``(leaves, treedef)``: the leaves in a fixed order and the structure."""
    out: list[Any] = []
    treedef = _flatten(tree, out)
    return out, treedef


def unflatten(treedef: PyTreeDef, leaves: list[Any] | tuple[Any, ...]) -> Any:
    """The pytree of structure ``treedef`` with ``leaves`` (inverse of :func:`flatten`)."""
    return treedef.unflatten(leaves)


def flatten_all(trees: Any) -> tuple[list[Any], Callable[[Any], tuple[Any, ...]]]:
    """``(leaves, rebuild)``: the leaves of several trees in one list, and the
    function putting such a list (of anything: directions, gradients) back
    into trees of their structures, one per tree."""
    flat = [flatten(t) for t in trees]

    def rebuild(values: Any) -> tuple[Any, ...]:
        out, i = [], 0
        for leaves_of, treedef in flat:
            out.append(treedef.unflatten(values[i:i + len(leaves_of)]))
            i += len(leaves_of)
        return tuple(out)
    return [leaf for leaves_of, _ in flat for leaf in leaves_of], rebuild


def leaves(tree: Any) -> list[Any]:
    return flatten(tree)[0]


def structure(tree: Any) -> PyTreeDef:
    return flatten(tree)[1]


def map(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:  # noqa: A001 (jax.tree.map)
    """``fn`` applied leaf by leaf; every tree in ``rest`` must have ``tree``'s structure."""
    values, treedef = flatten(tree)
    others = []
    for other in rest:
        o_values, o_def = flatten(other)
        if o_def != treedef:
            raise ValueError(f"tree.map: structures differ: {treedef} and {o_def}")
        others.append(o_values)
    return treedef.unflatten([fn(*args) for args in zip(values, *others)])
