"""Checking mode (``check=True``): every tangent's shape and dtype, asserted as the code runs.

Contract: ``check_tangent(d, x, k, name, site)`` raises
:class:`~fwdcompile.errors.TangentCheckFailed` at the user's line (``site``)
when ``d`` is not a tangent of ``x`` (K directions when ``k`` is not None);
``check_return`` does the same for the returned pair and passes it through.
"""

from __future__ import annotations

import numbers

import numpy as np


def _check_failed(message, site):
    from ..errors import TangentCheckFailed  # only on failure: keep _rt's imports light
    raise TangentCheckFailed(message, **(site or {}),
                             hint="a custom_jvp rule returning the wrong shape, or a bug in "
                                  "fwdcompile: please report it with the function's source")


def _tangent_problem(d, x, k):
    """Why ``d`` is not a tangent of ``x`` (K directions when ``k`` is not None), or None."""
    if isinstance(x, (type({}.keys()), type({}.values()), type({}.items()))):
        x, d = list(x), list(d) if hasattr(d, "__iter__") else d
    if isinstance(x, (list, tuple)):
        if not isinstance(d, (list, tuple)) or len(d) != len(x):
            if k is not None and isinstance(x, tuple) and np.ndim(d) >= 1:
                return None  # a batched tuple may be stacked; its leaves are checked at use
            return f"a tangent of type {type(d).__name__} for a {type(x).__name__} of {len(x)}"
        for di, xi in zip(d, x):
            problem = _tangent_problem(di, xi, k)
            if problem:
                return problem
        return None
    if isinstance(x, dict):
        if not isinstance(d, dict) or set(d) != set(x):
            return f"a tangent of type {type(d).__name__} for a dict with keys {sorted(x)}"
        for key in x:
            problem = _tangent_problem(d[key], x[key], k)
            if problem:
                return problem
        return None
    if not isinstance(x, (numbers.Number, np.ndarray, np.generic)):
        return None  # iterators and the user's own objects: their leaves are checked at use
    try:
        dtype = np.result_type(d)
    except TypeError:
        return f"a tangent of type {type(d).__name__}"
    if not np.issubdtype(dtype, np.inexact):
        return f"a tangent of dtype {dtype} (tangents are floating point)"
    shape = np.shape(x) if k is None else (k,) + np.shape(x)
    if np.shape(d) != shape:
        return f"a tangent of shape {np.shape(d)} where the value's shape asks for {shape}"
    return None


def check_tangent(d, x, k, name, site):
    """Checking mode: ``d`` is a tangent of ``x`` (shape, dtype), else a located error."""
    problem = _tangent_problem(d, x, k)
    if problem:
        _check_failed(f"checking mode: `{name}` got {problem}", site)


def check_return(value, tangent, k, site):
    """Checking mode: the returned tangent matches the returned value."""
    problem = _tangent_problem(tangent, value, k) if tangent is not None else None
    if problem:
        _check_failed(f"checking mode: the returned value got {problem}", site)
    return value, tangent
