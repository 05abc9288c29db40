"""An independent reference for directional derivatives: dual numbers over numpy.

Nothing here imports fwdcompile.  A :class:`Dual` holds a value ``v`` (a
float, a numpy scalar or a float array) and a tangent ``d`` with a leading
axis of K directions (shape ``(K,) + shape(v)``), so one evaluation gives K
directional derivatives (K = 1 for a single direction).

The user's function runs unchanged on Duals:

* arithmetic, comparisons, indexing reads and writes (in place, through views
  exactly when numpy gives a view), iteration and ``len`` are methods of
  :class:`Dual`;
* numpy ufuncs (``np.sin``, ``np.maximum``, ``np.matmul`` ...) and array
  functions (``np.sum``, ``np.linalg.solve``, ``np.einsum`` ...) reach it
  through numpy's ``__array_ufunc__`` / ``__array_function__`` protocols;
* the function (and every plain-Python helper it reaches through its module
  globals) is re-created with globals in which ``math`` / ``from math import
  ...`` names become dual-aware versions, ``numpy`` becomes a thin proxy whose
  array constructors (``np.zeros``, ``np.array([...])`` ...) return Duals with
  zero tangent (so values can be stored into them), and ``float`` /
  ``np.float64`` keep tangents.

Anything not covered raises :class:`DualUnsupported` (or fails loudly:
``float(dual)`` from code that was not re-created, ``np.asarray(dual)``) —
a tangent is never dropped silently.  :func:`jvp` is the entry point.
"""

from __future__ import annotations

import copy
import math
import sys
import sysconfig
import types
from collections import namedtuple

import numpy as np

__all__ = ["Dual", "DualUnsupported", "jvp", "dualize"]


class DualUnsupported(Exception):
    """The dual-number evaluator has no rule for something the function does."""


_K = [1]  # number of directions of the evaluation under way


def _zeros_t(v):
    return np.zeros((_K[0],) + np.shape(v))


class Dual:
    __array_priority__ = 1000
    __slots__ = ("v", "d")
    __hash__ = None

    def __init__(self, v, d=None):
        if isinstance(v, Dual):
            raise TypeError("nested Dual")
        self.v = v
        if d is None:
            d = _zeros_t(v)
        self.d = d

    # ------------------------------------------------------------ protocols
    def __array__(self, *a, **k):
        raise DualUnsupported("a Dual was converted to a plain array (its tangent would be lost)")

    def __float__(self):
        raise DualUnsupported("float() of a Dual from code that was not re-created "
                              "(its tangent would be lost)")

    def __complex__(self):
        raise DualUnsupported("complex() of a Dual")

    def __int__(self):
        return int(self.v)

    def __round__(self, n=None):
        return round(self.v, n) if n is not None else round(self.v)

    def __bool__(self):
        return bool(self.v)

    def __len__(self):
        return len(self.v)

    def __iter__(self):
        for i in range(len(self.v)):
            yield self[i]

    def __repr__(self):
        return f"Dual({self.v!r}, {self.d!r})"

    def __format__(self, spec):
        return format(self.v, spec)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if kwargs.get("out") is not None:
            raise DualUnsupported(f"numpy.{ufunc.__name__}(..., out=)")
        kwargs.pop("out", None)
        if method == "__call__":
            return _ufunc(ufunc, *inputs, **kwargs)
        if method == "reduce" and ufunc is np.add:
            return _linear(np.add.reduce, inputs, kwargs, "first")
        if method == "accumulate" and ufunc is np.add:
            return _linear(np.add.accumulate, inputs, kwargs, "first")
        raise DualUnsupported(f"numpy.{ufunc.__name__}.{method}")

    def __array_function__(self, func, types_, args, kwargs):
        handler = _HANDLED.get(func)
        if handler is None:
            raise DualUnsupported(f"numpy function {getattr(func, '__name__', func)}")
        return handler(*args, **kwargs)

    # ------------------------------------------------------------ attributes
    shape = property(lambda self: np.shape(self.v))
    ndim = property(lambda self: np.ndim(self.v))
    size = property(lambda self: np.size(self.v))
    dtype = property(lambda self: np.asarray(self.v).dtype if not isinstance(self.v, np.ndarray)
                     else self.v.dtype)

    @property
    def T(self):
        return _transpose(self)

    @property
    def real(self):
        return self

    # ------------------------------------------------------------ arithmetic
    def __add__(self, o):
        return _ufunc(np.add, self, o)

    def __radd__(self, o):
        return _ufunc(np.add, o, self)

    def __sub__(self, o):
        return _ufunc(np.subtract, self, o)

    def __rsub__(self, o):
        return _ufunc(np.subtract, o, self)

    def __mul__(self, o):
        return _ufunc(np.multiply, self, o)

    def __rmul__(self, o):
        return _ufunc(np.multiply, o, self)

    def __truediv__(self, o):
        return _ufunc(np.true_divide, self, o)

    def __rtruediv__(self, o):
        return _ufunc(np.true_divide, o, self)

    def __floordiv__(self, o):
        return _ufunc(np.floor_divide, self, o)

    def __rfloordiv__(self, o):
        return _ufunc(np.floor_divide, o, self)

    def __mod__(self, o):
        return _ufunc(np.remainder, self, o)

    def __rmod__(self, o):
        return _ufunc(np.remainder, o, self)

    def __pow__(self, o):
        return _ufunc(np.power, self, o)

    def __rpow__(self, o):
        return _ufunc(np.power, o, self)

    def __matmul__(self, o):
        return _multilinear(np.matmul, (self, o), {}, (0, 1))

    def __rmatmul__(self, o):
        return _multilinear(np.matmul, (o, self), {}, (0, 1))

    def __neg__(self):
        return _ufunc(np.negative, self)

    def __pos__(self):
        return _ufunc(np.positive, self)

    def __abs__(self):
        return _ufunc(np.absolute, self)

    # comparisons: values only
    def __lt__(self, o):
        return self.v < _val(o)

    def __le__(self, o):
        return self.v <= _val(o)

    def __gt__(self, o):
        return self.v > _val(o)

    def __ge__(self, o):
        return self.v >= _val(o)

    def __eq__(self, o):
        return self.v == _val(o)

    def __ne__(self, o):
        return self.v != _val(o)

    # in place: arrays are updated in place (aliases and views see it), scalars rebound
    def _inplace(self, ufunc, o):
        new = _ufunc(ufunc, self, o) if ufunc is not np.matmul else self @ o
        if not isinstance(self.v, np.ndarray) or self.v.ndim == 0:
            return new
        new = _as_dual(new)
        if np.shape(new.v) != self.v.shape:
            raise ValueError(f"non-broadcastable output operand with shape {self.v.shape} "
                             f"doesn't match the broadcast shape {np.shape(new.v)}")
        if not np.can_cast(np.result_type(new.v), self.v.dtype, "same_kind"):
            raise TypeError("Cannot cast ufunc output (in-place update)")
        self.v[...] = new.v
        self.d[...] = new.d
        return self

    def __iadd__(self, o):
        return self._inplace(np.add, o)

    def __isub__(self, o):
        return self._inplace(np.subtract, o)

    def __imul__(self, o):
        return self._inplace(np.multiply, o)

    def __itruediv__(self, o):
        return self._inplace(np.true_divide, o)

    def __ipow__(self, o):
        return self._inplace(np.power, o)

    def __imatmul__(self, o):
        return self._inplace(np.matmul, o)

    # ------------------------------------------------------------ indexing
    def __getitem__(self, index):
        index = _unwrap_index(index)
        v = self.v[index]
        if _is_basic(index):
            tup = index if isinstance(index, tuple) else (index,)
            d = self.d[(slice(None),) + tup]
            if not isinstance(v, np.ndarray):  # a scalar read is a copy, so is its tangent
                d = d.copy()
            return Dual(v, d)
        return Dual(v, np.stack([self.d[k][index] for k in range(self.d.shape[0])]))

    def __setitem__(self, index, value):
        index = _unwrap_index(index)
        if isinstance(value, (list, tuple)) and _contains_dual(value):
            value = _np_array(value)
        if isinstance(value, Dual):
            self.v[index] = value.v
            for k in range(self.d.shape[0]):
                self.d[k][index] = value.d[k]
        else:
            self.v[index] = value
            for k in range(self.d.shape[0]):
                self.d[k][index] = 0.0

    # ------------------------------------------------------------ methods
    def copy(self, order="C"):
        return Dual(self.v.copy() if isinstance(self.v, np.ndarray) else self.v, self.d.copy())

    def astype(self, dtype, **kwargs):
        v = np.asarray(self.v).astype(dtype, **kwargs)
        if v.dtype.kind in "fc":
            return Dual(v if np.ndim(self.v) else v[()], self.d.copy())
        return v

    def sum(self, axis=None, keepdims=False, **kw):
        return _linear(np.sum, (self,), dict(axis=axis, keepdims=keepdims, **kw), "first")

    def mean(self, axis=None, keepdims=False, **kw):
        return _linear(np.mean, (self,), dict(axis=axis, keepdims=keepdims, **kw), "first")

    def cumsum(self, axis=None):
        return _linear(np.cumsum, (self,), dict(axis=axis), "first")

    def cumprod(self, axis=None):
        return _cumprod(self, axis)

    def prod(self, axis=None, keepdims=False):
        return _prod(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False, **kw):
        return _extreme(self, axis, keepdims, np.max, np.argmax, **kw)

    def min(self, axis=None, keepdims=False, **kw):
        return _extreme(self, axis, keepdims, np.min, np.argmin, **kw)

    def std(self, axis=None, ddof=0, keepdims=False):
        return _std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def var(self, axis=None, ddof=0, keepdims=False):
        return _var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _linear(np.reshape, (self, shape), dict(order=order), "first")

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _transpose(self, axes or None)

    def ravel(self, order="C"):
        return _linear(np.ravel, (self,), dict(order=order), "first")

    def flatten(self, order="C"):
        return _linear(np.ravel, (self,), dict(order=order), "first").copy()

    def squeeze(self, axis=None):
        return _linear(np.squeeze, (self,), dict(axis=axis), "first")

    def diagonal(self, offset=0, axis1=0, axis2=1):
        return _linear(np.diagonal, (self,), dict(offset=offset, axis1=axis1, axis2=axis2),
                       "first")

    def trace(self, offset=0):
        return _linear(np.trace, (self,), dict(offset=offset), "first")

    def repeat(self, repeats, axis=None):
        return _linear(np.repeat, (self, repeats), dict(axis=axis), "first")

    def clip(self, a_min=None, a_max=None):
        return _clip(self, a_min, a_max)

    def dot(self, o):
        return _multilinear(np.dot, (self, o), {}, (0, 1))

    def item(self, *args):
        flat = self.d.reshape(self.d.shape[0], -1)
        if args:
            i = np.ravel_multi_index(args, np.shape(self.v)) if len(args) > 1 else args[0]
        else:
            if np.size(self.v) != 1:
                raise ValueError("can only convert an array of size 1 to a Python scalar")
            i = 0
        return Dual(np.asarray(self.v).item(*args), flat[:, i].copy())

    def conj(self):
        return self

    conjugate = conj

    def argmax(self, *a, **k):
        return np.argmax(self.v, *a, **k)

    def argmin(self, *a, **k):
        return np.argmin(self.v, *a, **k)

    def argsort(self, *a, **k):
        return np.argsort(self.v, *a, **k)

    def nonzero(self):
        return np.nonzero(self.v)

    def any(self, *a, **k):
        return np.any(self.v, *a, **k)

    def all(self, *a, **k):
        return np.all(self.v, *a, **k)

    def tolist(self):
        if np.ndim(self.v) == 0:
            return self.item()
        return [self[i].tolist() if np.ndim(self.v) > 1 else self[i] for i in range(len(self))]

    def fill(self, value):
        self[...] = value

    def sort(self, axis=-1):
        s = _sort(self, axis=axis)
        self.v[...] = s.v
        self.d[...] = s.d


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

def _val(x):
    return x.v if isinstance(x, Dual) else x


def _as_dual(x):
    return x if isinstance(x, Dual) else Dual(x)


def _is_float(x):
    if isinstance(x, (bool, np.bool_)):
        return False
    if isinstance(x, (float, np.floating)):
        return True
    return isinstance(x, np.ndarray) and x.dtype.kind == "f"


def _contains_dual(obj):
    if isinstance(obj, Dual):
        return True
    if isinstance(obj, (list, tuple)):
        return any(_contains_dual(o) for o in obj)
    return False


def _map_vals(obj):
    if isinstance(obj, Dual):
        return obj.v
    if isinstance(obj, tuple) and type(obj) is tuple:
        return tuple(_map_vals(o) for o in obj)
    if isinstance(obj, list):
        return [_map_vals(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _map_vals(o) for k, o in obj.items()}
    return obj


def _unwrap_index(index):
    if isinstance(index, Dual):
        return index.v
    if isinstance(index, tuple):
        return tuple(_unwrap_index(i) for i in index)
    if isinstance(index, list) and _contains_dual(index):
        return [_unwrap_index(i) for i in index]
    return index


def _is_basic(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, slice) or
               (isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)))
               for i in items)


def _expand(d, nd):
    """A tangent (K,) + s, padded to (K,) + (1,)*(nd - len(s)) + s."""
    extra = nd - (d.ndim - 1)
    if extra > 0:
        d = d.reshape(d.shape[:1] + (1,) * extra + d.shape[1:])
    return d


def _make(v, d):
    """A Dual with tangent exactly (K,) + shape(v) (None: zero)."""
    shape = (_K[0],) + np.shape(v)
    if d is None:
        return Dual(v, np.zeros(shape))
    d = np.asarray(d, dtype=float)
    if d.shape != shape:
        d = np.array(np.broadcast_to(d, shape), dtype=float)
    return Dual(v, d)


def _tan_k(x, k):
    """Tangent number k of x (zeros for plain values; sequences map)."""
    if isinstance(x, Dual):
        return x.d[k]
    if isinstance(x, (list, tuple)):
        return type(x)(_tan_k(e, k) for e in x) if type(x) in (list, tuple) else \
            [_tan_k(e, k) for e in x]
    return np.zeros(np.shape(x))


def _result(out, touts):
    """Assemble a Dual (or a list/tuple of them) from the value and K tangents."""
    if isinstance(out, (list, tuple)):
        parts = [_result(o, [t[i] for t in touts]) for i, o in enumerate(out)]
        return type(out)(parts) if type(out) in (list, tuple) else tuple(parts)
    if not _is_float(out) and not (isinstance(out, np.ndarray) and out.dtype.kind == "c"):
        if isinstance(out, np.ndarray) and out.dtype.kind in "iub":
            return out
        if isinstance(out, (int, np.integer, bool, np.bool_)):
            return out
    return _make(out, np.stack([np.asarray(t, dtype=float) for t in touts]))


# --------------------------------------------------------------------------
# ufuncs
# --------------------------------------------------------------------------

def _const_exponent(x):
    return not isinstance(x, Dual) or not np.any(x.d)


def _power_rule(a, b, out, A, B):
    if _const_exponent(B):
        with np.errstate(all="ignore"):
            ca = np.where(np.asarray(b) == 0, 0.0, b * np.power(a, np.asarray(b, dtype=float) - 1))
        return ca, None
    with np.errstate(all="ignore"):
        ca = np.where(np.asarray(b) == 0, 0.0, b * np.power(a, np.asarray(b, dtype=float) - 1))
        cb = out * np.log(np.where(np.asarray(a) > 0, a, 1.0)) * (np.asarray(a) > 0) \
            + np.where(np.asarray(a) > 0, 0.0, np.nan)
    return ca, cb


def _max_rule(a, b, out, A, B):
    pick = np.asarray(a >= b)
    return pick * 1.0, (~pick) * 1.0


def _min_rule(a, b, out, A, B):
    pick = np.asarray(a <= b)
    return pick * 1.0, (~pick) * 1.0


_LN2, _LN10 = math.log(2.0), math.log(10.0)

_RULES = {
    np.add: lambda a, b, o, *_: (1.0, 1.0),
    np.subtract: lambda a, b, o, *_: (1.0, -1.0),
    np.multiply: lambda a, b, o, *_: (b, a),
    np.true_divide: lambda a, b, o, *_: (1.0 / np.asarray(b, dtype=float), -o / b),
    np.negative: lambda a, o, *_: (-1.0,),
    np.positive: lambda a, o, *_: (1.0,),
    np.power: _power_rule,
    np.float_power: _power_rule,
    np.exp: lambda a, o, *_: (o,),
    np.exp2: lambda a, o, *_: (o * _LN2,),
    np.expm1: lambda a, o, *_: (o + 1.0,),
    np.log: lambda a, o, *_: (1.0 / a,),
    np.log2: lambda a, o, *_: (1.0 / (a * _LN2),),
    np.log10: lambda a, o, *_: (1.0 / (a * _LN10),),
    np.log1p: lambda a, o, *_: (1.0 / (1.0 + a),),
    np.sqrt: lambda a, o, *_: (0.5 / o,),
    np.cbrt: lambda a, o, *_: (1.0 / (3.0 * o * o),),
    np.square: lambda a, o, *_: (2.0 * a,),
    np.reciprocal: lambda a, o, *_: (-o * o,),
    np.sin: lambda a, o, *_: (np.cos(a),),
    np.cos: lambda a, o, *_: (-np.sin(a),),
    np.tan: lambda a, o, *_: (1.0 + o * o,),
    np.arcsin: lambda a, o, *_: (1.0 / np.sqrt(1.0 - a * a),),
    np.arccos: lambda a, o, *_: (-1.0 / np.sqrt(1.0 - a * a),),
    np.arctan: lambda a, o, *_: (1.0 / (1.0 + a * a),),
    np.sinh: lambda a, o, *_: (np.cosh(a),),
    np.cosh: lambda a, o, *_: (np.sinh(a),),
    np.tanh: lambda a, o, *_: (1.0 - o * o,),
    np.arcsinh: lambda a, o, *_: (1.0 / np.sqrt(a * a + 1.0),),
    np.arccosh: lambda a, o, *_: (1.0 / np.sqrt(a * a - 1.0),),
    np.arctanh: lambda a, o, *_: (1.0 / (1.0 - a * a),),
    np.arctan2: lambda y, x, o, *_: (x / (x * x + y * y), -y / (x * x + y * y)),
    np.hypot: lambda a, b, o, *_: (a / o, b / o),
    np.absolute: lambda a, o, *_: (np.sign(a),),
    np.fabs: lambda a, o, *_: (np.sign(a),),
    np.maximum: _max_rule,
    np.minimum: _min_rule,
    np.fmax: _max_rule,
    np.fmin: _min_rule,
    np.logaddexp: lambda a, b, o, *_: (np.exp(a - o), np.exp(b - o)),
    np.remainder: lambda a, b, o, *_: (1.0, -np.floor_divide(a, b)),
    np.fmod: lambda a, b, o, *_: (1.0, -np.trunc(np.true_divide(a, b))),
    np.deg2rad: lambda a, o, *_: (math.pi / 180.0,),
    np.rad2deg: lambda a, o, *_: (180.0 / math.pi,),
    np.copysign: lambda a, b, o, *_: (np.sign(a) * np.where(np.signbit(b), -1.0, 1.0), 0.0),
}
_RULES[np.divide] = _RULES[np.true_divide]
_RULES[np.abs] = _RULES[np.absolute]

# piecewise constant or boolean results: no tangent
_ZERO = {np.sign, np.floor, np.ceil, np.trunc, np.rint, np.floor_divide, np.greater,
         np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal, np.isnan,
         np.isfinite, np.isinf, np.logical_and, np.logical_or, np.logical_not,
         np.logical_xor, np.signbit, np.heaviside}


def _ufunc(uf, *inputs, **kwargs):
    if uf is np.matmul:
        return _multilinear(np.matmul, inputs, kwargs, (0, 1))
    dtype = kwargs.pop("dtype", None)
    if kwargs:
        raise DualUnsupported(f"numpy.{uf.__name__} with {sorted(kwargs)}")
    vals = [_val(x) for x in inputs]
    out = uf(*vals) if dtype is None else uf(*vals, dtype=dtype)
    if uf in _ZERO:
        return out
    rule = _RULES.get(uf)
    if rule is None:
        raise DualUnsupported(f"numpy.{uf.__name__}")
    with np.errstate(all="ignore"):
        coefs = rule(*vals, out, *inputs)
    nd = np.ndim(out)
    d = None
    for x, c in zip(inputs, coefs):
        if isinstance(x, Dual) and c is not None:
            term = _expand(x.d, nd) * c
            d = term if d is None else d + term
    if isinstance(out, np.ndarray) and out.dtype.kind not in "fc":
        return out
    return _make(out, d)


# --------------------------------------------------------------------------
# linear, multilinear and composite array functions
# --------------------------------------------------------------------------

def _linear(func, args, kwargs, which):
    """``func`` is linear in args[0] ("first"), in every element of the sequence
    args[0] ("seq"), in every positional argument ("all") or args[0:2] ("two")."""
    vargs = [_map_vals(a) for a in args]
    vkw = _map_vals(kwargs)
    out = func(*vargs, **vkw)
    positions = {"first": (0,), "seq": (0,), "all": tuple(range(len(args))),
                 "two": (0, 1)}[which]
    if not any(_contains_dual(args[p]) for p in positions):
        return _wrap_created(out)
    touts = []
    for k in range(_K[0]):
        targs = list(vargs)
        for p in positions:
            targs[p] = _tan_k(args[p], k)
        touts.append(func(*targs, **vkw))
    return _result(out, touts)


def _multilinear(func, args, kwargs, positions):
    vargs = [_map_vals(a) for a in args]
    vkw = _map_vals(kwargs)
    out = func(*vargs, **vkw)
    active = [p for p in positions if isinstance(args[p], Dual)]
    if not active:
        return out
    touts = []
    for k in range(_K[0]):
        total = None
        for p in active:
            targs = list(vargs)
            targs[p] = args[p].d[k]
            term = func(*targs, **vkw)
            total = term if total is None else total + term
        touts.append(total)
    return _result(out, touts)


def _wrap_created(out):
    """A float array made from plain values: a Dual with zero tangent, so that
    the function can store Duals into it."""
    if isinstance(out, np.ndarray) and out.dtype.kind == "f":
        return Dual(out)
    return out


def _transpose(x, axes=None):
    return _linear(np.transpose, (x,), dict(axes=axes), "first")


def _extreme(x, axis, keepdims, valf, argf, out=None, initial=None, where=None):
    if out is not None or initial is not None or where is not None:
        raise DualUnsupported("max/min with out/initial/where")
    if not isinstance(x, Dual):
        return valf(x, axis=axis, keepdims=keepdims)
    v = np.asarray(x.v)
    K = x.d.shape[0]
    value = valf(x.v, axis=axis, keepdims=keepdims)
    if axis is None:
        i = int(argf(v.ravel()))
        d = x.d.reshape(K, -1)[:, i]
        if keepdims:
            d = d.reshape((K,) + (1,) * v.ndim)
        return _make(value, d.copy())
    if isinstance(axis, tuple):
        raise DualUnsupported("max/min over a tuple of axes")
    a = axis % v.ndim
    idx = np.expand_dims(argf(v, axis=a), a)
    d = np.take_along_axis(x.d, idx[None], axis=a + 1)
    if not keepdims:
        d = np.squeeze(d, axis=a + 1)
    return _make(value, d)


def _sort(x, axis=-1, kind=None, order=None):
    if not isinstance(x, Dual):
        return np.sort(x, axis=axis)
    v = np.asarray(x.v)
    if axis is None:
        x = _linear(np.ravel, (x,), {}, "first")
        v, axis = np.asarray(x.v), 0
    a = axis % v.ndim
    idx = np.argsort(v, axis=a, kind="stable")
    return _make(np.take_along_axis(v, idx, axis=a),
                 np.take_along_axis(x.d, idx[None], axis=a + 1))


def _moved(x, axis):
    """x with ``axis`` moved to the front (axis None: raveled)."""
    if axis is None:
        return _linear(np.ravel, (x,), {}, "first"), 0
    return _linear(np.moveaxis, (x, axis, 0), {}, "first"), axis


def _prod(x, axis=None, keepdims=False, dtype=None, out=None):
    if not isinstance(x, Dual):
        return np.prod(x, axis=axis, keepdims=keepdims)
    if isinstance(axis, tuple):
        raise DualUnsupported("prod over a tuple of axes")
    m, _ = _moved(x, axis)
    n = np.shape(m.v)[0]
    # product of all the others, without dividing (zeros are fine)
    ones = np.ones((1,) + np.shape(m.v)[1:])
    left = np.concatenate([ones, np.cumprod(m.v, axis=0)[:-1]], axis=0)
    right = np.concatenate([np.cumprod(m.v[::-1], axis=0)[::-1][1:], ones], axis=0)
    others = left * right
    value = np.prod(x.v, axis=axis, keepdims=keepdims)
    d = np.sum(m.d * others[None], axis=1)  # (K,) + rest
    if keepdims:
        if axis is None:
            d = d.reshape((d.shape[0],) + (1,) * np.ndim(x.v))
        else:
            d = np.expand_dims(d, (axis % np.ndim(x.v)) + 1)
    del n
    return _make(value, d)


def _cumprod(x, axis=None, dtype=None, out=None):
    if not isinstance(x, Dual):
        return np.cumprod(x, axis=axis)
    m, a = _moved(x, axis)
    parts, acc = [], None
    for i in range(np.shape(m.v)[0]):
        acc = m[i] if acc is None else acc * m[i]
        parts.append(acc)
    st = _stack(parts, axis=0)
    if axis is None:
        return st
    return _linear(np.moveaxis, (st, 0, a), {}, "first")


def _var(x, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
    if not isinstance(x, Dual):
        return np.var(x, axis=axis, ddof=ddof, keepdims=keepdims)
    m = _linear(np.mean, (x,), dict(axis=axis, keepdims=True), "first")
    c = x - m
    n = np.size(x.v) if axis is None else np.prod(
        [np.shape(x.v)[a] for a in (axis if isinstance(axis, tuple) else (axis,))])
    s = _linear(np.sum, (c * c,), dict(axis=axis, keepdims=keepdims), "first")
    return s / (n - ddof)


def _std(x, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
    if not isinstance(x, Dual):
        return np.std(x, axis=axis, ddof=ddof, keepdims=keepdims)
    var = _var(x, axis=axis, ddof=ddof, keepdims=keepdims)
    value = np.sqrt(var.v)
    with np.errstate(all="ignore"):
        # var = 0 (one element): x - mean(x) is identically 0, and so is the tangent
        d = np.where(_expand(np.asarray(value == 0), 0) if np.ndim(value) else value == 0,
                     0.0, var.d / (2.0 * value))
    return _make(value, d)


def _clip(a, a_min=None, a_max=None, out=None, **kw):
    if out is not None:
        raise DualUnsupported("clip(out=)")
    r = a
    if a_min is not None:
        r = _ufunc(np.maximum, r, a_min)
    if a_max is not None:
        r = _ufunc(np.minimum, r, a_max)
    return r


def _where(cond, *xy):
    if not xy:
        return np.where(_val(cond))
    c = np.asarray(_val(cond))
    x, y = xy
    out = np.where(c, _val(x), _val(y))
    if not (isinstance(x, Dual) or isinstance(y, Dual)):
        return out
    return _result(out, [np.where(c, _tan_k(x, k), _tan_k(y, k)) for k in range(_K[0])])


def _stack(arrays, axis=0, out=None, **kw):
    return _linear(np.stack, (list(arrays),), dict(axis=axis, **kw), "seq")


def _np_array(obj, dtype=None, copy=True, **kwargs):
    """np.array / np.asarray for Duals and nested lists holding Duals."""
    if isinstance(obj, Dual):
        if dtype is not None and np.dtype(dtype).kind not in "fc":
            return np.array(obj.v, dtype=dtype)
        v = np.array(obj.v, dtype=dtype) if copy else np.asarray(obj.v, dtype=dtype)
        if v is obj.v:
            return obj
        return Dual(v if np.ndim(obj.v) else v, obj.d.copy() if copy else obj.d)
    if isinstance(obj, (list, tuple)) and _contains_dual(obj):
        if dtype is not None and np.dtype(dtype).kind not in "fc":
            return np.array(_map_vals(obj), dtype=dtype)
        parts = [_np_array(o) if isinstance(o, (list, tuple)) else o for o in obj]
        st = _stack(parts, axis=0)
        if dtype is not None:
            st = st.astype(dtype)
        return st
    return _wrap_created(np.array(obj, dtype=dtype, **kwargs))


def _np_asarray(obj, dtype=None, **kwargs):
    return _np_array(obj, dtype=dtype, copy=False, **kwargs)


def _linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    if retstep or axis != 0:
        raise DualUnsupported("linspace(retstep/axis)")
    t = np.linspace(0.0, 1.0, num, endpoint=endpoint)
    value = np.linspace(_val(start), _val(stop), num, endpoint=endpoint, dtype=dtype)
    nd = np.ndim(value)
    d = None
    for x, coef in ((start, 1.0 - t), (stop, t)):
        if isinstance(x, Dual):
            c = coef.reshape((-1,) + (1,) * np.ndim(x.v))
            term = x.d[:, None] * c[None]
            d = term if d is None else d + term
    del nd
    return _make(value, d)


def _logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    return _ufunc(np.power, base, _linspace(start, stop, num, endpoint))


def _polyval(p, x):
    if isinstance(p, Dual):
        p = [p[i] for i in range(len(p))]
    y = None
    for c in p:
        y = c if y is None else y * x + c
    if y is None:
        return 0.0
    if not isinstance(y, Dual) and np.ndim(_val(x)):
        y = y + 0.0 * _val(x)
    elif np.shape(_val(y)) != np.shape(np.asarray(_val(x))):
        y = y + 0.0 * x
    return y


def _interp(x, xp, fp, left=None, right=None, period=None):
    if left is not None or right is not None or period is not None:
        raise DualUnsupported("interp(left/right/period)")
    xv, xpv = np.asarray(_val(x), dtype=float), np.asarray(_val(xp), dtype=float)
    n = len(xpv)
    i = np.clip(np.searchsorted(xpv, xv, side="right") - 1, 0, n - 2)
    xp_, fp_ = _as_dual(_np_asarray(xp)), _as_dual(_np_asarray(fp))
    x0, x1, f0, f1 = xp_[i], xp_[i + 1], fp_[i], fp_[i + 1]
    t = (x - x0) / (x1 - x0)
    inner = f0 + t * (f1 - f0)
    r = _where(xv < xpv[0], fp_[0], _where(xv > xpv[-1], fp_[n - 1], inner))
    if np.ndim(xv) == 0 and isinstance(r, Dual):
        r = Dual(np.float64(r.v), r.d.reshape(r.d.shape[0]))
    return r


def _norm(x, ord=None, axis=None, keepdims=False):
    if not isinstance(x, Dual):
        return np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)
    nd = np.ndim(x.v)
    vector = (axis is None and nd == 1) or isinstance(axis, (int, np.integer))
    if ord is None or ord == "fro" or (ord == 2 and vector):
        s = _linear(np.sum, (x * x,), dict(axis=axis, keepdims=keepdims), "first")
        return _ufunc(np.sqrt, s)
    if ord == 1 and vector:
        return _linear(np.sum, (_ufunc(np.absolute, x),), dict(axis=axis, keepdims=keepdims),
                       "first")
    if ord in (np.inf, float("inf")) and vector:
        return _extreme(_ufunc(np.absolute, x), axis, keepdims, np.max, np.argmax)
    raise DualUnsupported(f"linalg.norm(ord={ord!r})")


def _per_k(value, fn):
    return _make(value, np.stack([fn(k) for k in range(_K[0])]))


def _tk(x, k):
    return x.d[k] if isinstance(x, Dual) else np.zeros(np.shape(x))


def _solve(a, b):
    A, B = _val(a), _val(b)
    x = np.linalg.solve(A, B)
    if not (isinstance(a, Dual) or isinstance(b, Dual)):
        return x
    if np.ndim(B) == 1:
        return _per_k(x, lambda k: np.linalg.solve(A, _tk(b, k) - _tk(a, k) @ x))
    return _per_k(x, lambda k: np.linalg.solve(A, _tk(b, k) - _tk(a, k) @ x))


def _inv(a):
    A = _val(a)
    ai = np.linalg.inv(A)
    if not isinstance(a, Dual):
        return ai
    return _per_k(ai, lambda k: -ai @ a.d[k] @ ai)


def _det(a):
    A = _val(a)
    det = np.linalg.det(A)
    if not isinstance(a, Dual):
        return det
    return _per_k(det, lambda k: det * np.trace(np.linalg.solve(A, a.d[k]), axis1=-2, axis2=-1))


_Slogdet = namedtuple("SlogdetResult", "sign logabsdet")


def _slogdet(a):
    A = _val(a)
    sign, logdet = np.linalg.slogdet(A)
    if not isinstance(a, Dual):
        return sign, logdet
    return _Slogdet(sign, _per_k(logdet, lambda k: np.trace(np.linalg.solve(A, a.d[k]),
                                                            axis1=-2, axis2=-1)))


def _cholesky(a, *args, **kw):
    A = _val(a)
    L = np.linalg.cholesky(A, *args, **kw)
    if not isinstance(a, Dual):
        return L

    def one(k):
        Li = np.linalg.inv(L)
        low = np.tril(a.d[k])  # LAPACK reads the lower triangle only
        S = Li @ (low + np.tril(a.d[k], -1).T) @ Li.T
        phi = np.tril(S, -1) + 0.5 * np.diag(np.diag(S))
        return L @ phi

    return _per_k(L, one)


_QR = namedtuple("QRResult", "Q R")


def _qr(a, mode="reduced"):
    if mode != "reduced":
        raise DualUnsupported(f"qr(mode={mode!r})")
    A = _val(a)
    Q, R = np.linalg.qr(A)
    if not isinstance(a, Dual):
        return Q, R
    Ri = np.linalg.inv(R)
    dQs, dRs = [], []
    for k in range(_K[0]):
        dA = a.d[k]
        X = Q.T @ dA @ Ri
        low = np.tril(X, -1)
        omega = low - low.T
        dR = (X - omega) @ R
        dQs.append((dA - Q @ dR) @ Ri)
        dRs.append(dR)
    return _QR(Dual(Q, np.stack(dQs)), Dual(R, np.stack(dRs)))


def _pinv(a, *args, **kw):
    A = _val(a)
    P = np.linalg.pinv(A, *args, **kw)
    if not isinstance(a, Dual):
        return P
    m, n = A.shape

    def one(k):
        dA = a.d[k]
        return (-P @ dA @ P + P @ P.T @ dA.T @ (np.eye(m) - A @ P)
                + (np.eye(n) - P @ A) @ dA.T @ P.T @ P)

    return _per_k(P, one)


def _eigvalsh(a, UPLO="L"):
    A = _val(a)
    w, V = np.linalg.eigh(A, UPLO=UPLO)
    if not isinstance(a, Dual):
        return w

    def one(k):
        dA = a.d[k]
        tri = np.tril(dA) if UPLO == "L" else np.triu(dA)
        sym = tri + tri.T - np.diag(np.diag(dA))
        return np.einsum("ij,ik,kj->j", V, sym, V)

    return _per_k(w, one)


def _like(fn):
    def like(a, *args, **kwargs):
        out = fn(_val(a), *args, **kwargs)
        if len(args) >= 1 and fn is np.full_like and isinstance(args[0], Dual):
            raise DualUnsupported("full_like with a Dual fill value")
        return _wrap_created(out)
    return like


def _value_only(fn):
    def f(*args, **kwargs):
        return fn(*_map_vals(list(args)), **_map_vals(kwargs))
    return f


def _meshgrid(*xi, **kw):
    return _linear(lambda *a, **k: tuple(np.meshgrid(*a, **k)), xi, kw, "all")


_HANDLED = {}


def _register():
    H = _HANDLED
    first = ["sum", "mean", "cumsum", "diff", "trace", "diag", "diagonal", "tril", "triu",
             "transpose", "reshape", "ravel", "squeeze", "expand_dims", "broadcast_to", "flip",
             "fliplr", "flipud", "roll", "repeat", "tile", "moveaxis", "swapaxes", "rot90",
             "copy", "atleast_1d", "atleast_2d", "real", "take", "nansum", "split",
             "array_split", "conj", "conjugate", "squeeze", "take_along_axis"]
    for name in first:
        fn = getattr(np, name)
        H[fn] = (lambda fn: lambda *a, **k: _linear(fn, a, k, "first"))(fn)
    for name in ["concatenate", "stack", "hstack", "vstack", "column_stack", "dstack"]:
        fn = getattr(np, name)
        H[fn] = (lambda fn: lambda arrays, *a, **k: _linear(fn, (list(arrays),) + a, k,
                                                             "seq"))(fn)
    H[np.append] = lambda arr, values, axis=None: _linear(np.append, (arr, values),
                                                          dict(axis=axis), "two")
    for name, pos in [("dot", (0, 1)), ("outer", (0, 1)), ("inner", (0, 1)), ("vdot", (0, 1)),
                      ("kron", (0, 1)), ("cross", (0, 1)), ("tensordot", (0, 1)),
                      ("convolve", (0, 1)), ("correlate", (0, 1)), ("matmul", (0, 1))]:
        fn = getattr(np, name)
        H[fn] = (lambda fn, pos: lambda *a, **k: _multilinear(fn, a, k, pos))(fn, pos)
    H[np.einsum] = lambda *a, **k: _multilinear(np.einsum, a, k, tuple(range(1, len(a))))
    H[np.max] = lambda a, axis=None, out=None, keepdims=False, **k: _extreme(
        a, axis, keepdims, np.max, np.argmax, out=out, **k)
    H[np.min] = lambda a, axis=None, out=None, keepdims=False, **k: _extreme(
        a, axis, keepdims, np.min, np.argmin, out=out, **k)
    H[np.amax], H[np.amin] = H[np.max], H[np.min]
    H[np.prod] = _prod
    H[np.cumprod] = _cumprod
    H[np.var] = _var
    H[np.std] = _std
    H[np.clip] = _clip
    H[np.where] = _where
    H[np.sort] = _sort
    H[np.linspace] = _linspace
    H[np.logspace] = _logspace
    H[np.polyval] = _polyval
    H[np.interp] = _interp
    H[np.meshgrid] = _meshgrid
    H[np.linalg.norm] = _norm
    H[np.linalg.solve] = _solve
    H[np.linalg.inv] = _inv
    H[np.linalg.det] = _det
    H[np.linalg.slogdet] = _slogdet
    H[np.linalg.cholesky] = _cholesky
    H[np.linalg.qr] = _qr
    H[np.linalg.pinv] = _pinv
    H[np.linalg.eigvalsh] = _eigvalsh
    H[np.array] = _np_array
    H[np.asarray] = _np_asarray
    for name in ["zeros_like", "ones_like", "empty_like", "full_like"]:
        H[getattr(np, name)] = _like(getattr(np, name))
    for name in ["shape", "ndim", "size", "argmax", "argmin", "argsort", "nonzero", "any",
                 "all", "count_nonzero", "searchsorted", "allclose", "isclose",
                 "array_equal", "result_type", "iscomplexobj", "isrealobj", "argwhere",
                 "flatnonzero", "round", "around", "floor", "ceil", "sign", "isnan",
                 "isfinite", "digitize", "histogram", "unique", "may_share_memory",
                 "shares_memory"]:
        if hasattr(np, name):
            H[getattr(np, name)] = _value_only(getattr(np, name))


_register()


# --------------------------------------------------------------------------
# math and the numpy proxy
# --------------------------------------------------------------------------

def _digamma(x):
    if x <= 0 and x == math.floor(x):
        return math.nan
    if x < 0.5:  # reflection
        return _digamma(1.0 - x) - math.pi / math.tan(math.pi * x)
    r = 0.0
    while x < 8.0:
        r -= 1.0 / x
        x += 1.0
    inv2 = 1.0 / (x * x)
    series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (
        1 / 240 - inv2 * (1 / 132)))))
    return r + math.log(x) - 0.5 / x - series


def _mscalar(f, df):
    """A math function of one argument, dual-aware."""
    def g(x):
        if isinstance(x, Dual):
            v = float(np.asarray(x.v).reshape(()))  # math functions take size-1 values
            out = f(v)
            return Dual(out, df(v, out) * x.d.reshape(x.d.shape[0]))
        return f(x)
    g.__name__ = f.__name__
    return g


def _mbinary(f, dfa, dfb):
    def g(a, b):
        if isinstance(a, Dual) or isinstance(b, Dual):
            av, bv = float(np.asarray(_val(a)).reshape(())), float(np.asarray(_val(b)).reshape(()))
            out = f(av, bv)
            d = np.zeros(_K[0])
            if isinstance(a, Dual):
                d = d + dfa(av, bv, out) * a.d.reshape(-1)
            if isinstance(b, Dual):
                d = d + dfb(av, bv, out) * b.d.reshape(-1)
            return Dual(out, d)
        return f(a, b)
    g.__name__ = f.__name__
    return g


class _DualMath:
    def __init__(self):
        m = math
        s = _mscalar
        self.sin = s(m.sin, lambda x, o: m.cos(x))
        self.cos = s(m.cos, lambda x, o: -m.sin(x))
        self.tan = s(m.tan, lambda x, o: 1.0 + o * o)
        self.asin = s(m.asin, lambda x, o: 1.0 / m.sqrt(1.0 - x * x))
        self.acos = s(m.acos, lambda x, o: -1.0 / m.sqrt(1.0 - x * x))
        self.atan = s(m.atan, lambda x, o: 1.0 / (1.0 + x * x))
        self.sinh = s(m.sinh, lambda x, o: m.cosh(x))
        self.cosh = s(m.cosh, lambda x, o: m.sinh(x))
        self.tanh = s(m.tanh, lambda x, o: 1.0 - o * o)
        self.asinh = s(m.asinh, lambda x, o: 1.0 / m.sqrt(x * x + 1.0))
        self.acosh = s(m.acosh, lambda x, o: 1.0 / m.sqrt(x * x - 1.0))
        self.atanh = s(m.atanh, lambda x, o: 1.0 / (1.0 - x * x))
        self.exp = s(m.exp, lambda x, o: o)
        self.expm1 = s(m.expm1, lambda x, o: o + 1.0)
        self.log1p = s(m.log1p, lambda x, o: 1.0 / (1.0 + x))
        self.log2 = s(m.log2, lambda x, o: 1.0 / (x * _LN2))
        self.log10 = s(m.log10, lambda x, o: 1.0 / (x * _LN10))
        self.sqrt = s(m.sqrt, lambda x, o: 0.5 / o)
        self.fabs = s(m.fabs, lambda x, o: math.copysign(1.0, x) if x != 0 else 0.0)
        self.erf = s(m.erf, lambda x, o: 2.0 / m.sqrt(m.pi) * m.exp(-x * x))
        self.erfc = s(m.erfc, lambda x, o: -2.0 / m.sqrt(m.pi) * m.exp(-x * x))
        self.lgamma = s(m.lgamma, lambda x, o: _digamma(x))
        self.gamma = s(m.gamma, lambda x, o: o * _digamma(x))
        self.degrees = s(m.degrees, lambda x, o: 180.0 / m.pi)
        self.radians = s(m.radians, lambda x, o: m.pi / 180.0)
        if hasattr(m, "cbrt"):
            self.cbrt = s(m.cbrt, lambda x, o: 1.0 / (3.0 * o * o))
        if hasattr(m, "exp2"):
            self.exp2 = s(m.exp2, lambda x, o: o * _LN2)
        b = _mbinary
        self.atan2 = b(m.atan2, lambda y, x, o: x / (x * x + y * y),
                       lambda y, x, o: -y / (x * x + y * y))
        self.pow = b(m.pow, lambda a, c, o: c * a ** (c - 1) if c != 0 else 0.0,
                     lambda a, c, o: o * m.log(a) if a > 0 else 0.0)
        self.copysign = b(m.copysign,
                          lambda a, c, o: (math.copysign(1.0, a) * math.copysign(1.0, c)),
                          lambda a, c, o: 0.0)
        self.fmod = b(m.fmod, lambda a, c, o: 1.0, lambda a, c, o: -math.trunc(a / c))
        self._log1 = s(m.log, lambda x, o: 1.0 / x)

    def log(self, x, base=None):
        if base is None:
            return self._log1(x)
        return self._log1(x) / self._log1(base)

    def hypot(self, *xs):
        if not any(isinstance(x, Dual) for x in xs):
            return math.hypot(*xs)
        vals = [float(np.asarray(_val(x)).reshape(())) for x in xs]
        out = math.hypot(*vals)
        d = np.zeros(_K[0])
        for x, v in zip(xs, vals):
            if isinstance(x, Dual):
                d = d + (v / out) * x.d.reshape(-1)
        return Dual(out, d)

    def fsum(self, seq):
        seq = list(seq)
        out = math.fsum(float(np.asarray(_val(x)).reshape(())) for x in seq)
        d = np.zeros(_K[0])
        for x in seq:
            if isinstance(x, Dual):
                d = d + x.d.reshape(-1)
        return Dual(out, d) if any(isinstance(x, Dual) for x in seq) else out

    def prod(self, seq, start=1):
        r = start
        for x in seq:
            r = r * x
        return r

    _PIECEWISE = {"floor", "ceil", "trunc", "isclose", "isfinite", "isnan", "isinf",
                  "comb", "factorial", "gcd", "perm", "isqrt", "lcm", "frexp", "modf"}

    def __getattr__(self, name):
        attr = getattr(math, name)
        if name in self._PIECEWISE:
            def g(*args, **kwargs):
                return attr(*_map_vals(list(args)), **kwargs)
            return g
        if callable(attr):
            def refuse(*args, **kwargs):
                if _contains_dual(list(args)):
                    raise DualUnsupported(f"math.{name}")
                return attr(*args, **kwargs)
            return refuse
        return attr


DMATH = _DualMath()


class _FloatFn:
    """``float`` in re-created code: float(dual) keeps the tangent; still usable
    as a dtype (numpy reads the ``dtype`` attribute)."""
    dtype = np.dtype(np.float64)

    def __call__(self, x=0.0):
        if isinstance(x, Dual):
            return Dual(float(np.asarray(x.v).reshape(())), x.d.reshape(x.d.shape[0]).copy())
        return float(x)

    def fromhex(self, s):
        return float.fromhex(s)


class _Float64Fn:
    dtype = np.dtype(np.float64)

    def __call__(self, x=0.0):
        if isinstance(x, Dual):
            return Dual(np.float64(np.asarray(x.v).reshape(())),
                        x.d.reshape(x.d.shape[0]).copy())
        return np.float64(x)


def _creator(fn):
    def make(*args, **kwargs):
        if fn is np.full and (_contains_dual(list(args)) or _contains_dual(
                list(kwargs.values()))):
            shape = args[0]
            fill = args[1] if len(args) > 1 else kwargs["fill_value"]
            value = np.full(shape, _val(fill))
            return _make(value, _expand(fill.d, np.ndim(value)))
        return _wrap_created(fn(*args, **kwargs))
    make.__name__ = fn.__name__
    return make


class _Linalg:
    def __getattr__(self, name):
        return getattr(np.linalg, name)


class _NumpyProxy:
    """``numpy`` in re-created code: constructors return Duals (zero tangent)."""

    def __init__(self):
        for name in ["zeros", "ones", "empty", "full", "eye", "identity", "arange", "tri"]:
            setattr(self, name, _creator(getattr(np, name)))
        for name in ["zeros_like", "ones_like", "empty_like", "full_like"]:
            setattr(self, name, _like(getattr(np, name)))
        self.array = _np_array
        self.asarray = _np_asarray
        self.asanyarray = _np_asarray
        self.ascontiguousarray = _np_asarray
        self.float64 = self.double = _Float64Fn()
        self.linalg = _Linalg()
        self.linspace = lambda *a, **k: _linspace(*a, **k)
        self.logspace = lambda *a, **k: _logspace(*a, **k)

    def __getattr__(self, name):
        return getattr(np, name)


DNP = _NumpyProxy()

_SUBSTITUTE = {id(np): DNP, id(math): DMATH, id(np.linalg): DNP.linalg}
for _name in dir(math):
    _obj = getattr(math, _name)
    if callable(_obj):
        _SUBSTITUTE.setdefault(id(_obj), getattr(DMATH, _name))
for _name in ["zeros", "ones", "empty", "full", "eye", "identity", "arange", "array",
              "asarray", "zeros_like", "ones_like", "empty_like", "full_like", "linspace",
              "logspace"]:
    _SUBSTITUTE[id(getattr(np, _name))] = getattr(DNP, _name)
_SUBSTITUTE[id(np.float64)] = DNP.float64

_LIBRARY_PATHS = tuple({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"],
                        sysconfig.get_paths()["platlib"]})


def _is_user_function(fn):
    filename = fn.__code__.co_filename
    if "site-packages" in filename or filename.startswith(_LIBRARY_PATHS):
        return False
    module = fn.__globals__.get("__name__", "") or ""
    return not module.startswith(("numpy", "fwdcompile", "hypothesis", "_pytest", "pytest"))


_GLOBALS = {}
_FUNCS = {}


def _substitute(value):
    sub = _SUBSTITUTE.get(id(value))
    if sub is not None:
        return sub
    if isinstance(value, types.FunctionType) and _is_user_function(value):
        return dualize(value)
    return value


def _patched_globals(g):
    key = id(g)
    entry = _GLOBALS.get(key)
    if entry is not None and entry[0] is g:
        return entry[1]
    new = {}
    _GLOBALS[key] = (g, new)
    for name, value in list(g.items()):
        new[name] = _substitute(value)
    new.setdefault("float", _FloatFn())
    return new


def dualize(fn):
    """``fn`` re-created with dual-aware globals (cached)."""
    key = id(fn)
    entry = _FUNCS.get(key)
    if entry is not None and entry[0] is fn:
        return entry[1]
    placeholder = types.FunctionType(fn.__code__, {}, fn.__name__)
    _FUNCS[key] = (fn, placeholder)
    g = _patched_globals(fn.__globals__)
    new = types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)
    new.__kwdefaults__ = copy.copy(fn.__kwdefaults__)
    new.__qualname__ = fn.__qualname__
    _FUNCS[key] = (fn, new)
    # the placeholder may have been stored in a globals dict by a cycle: replace it
    for name, value in g.items():
        if value is placeholder:
            g[name] = new
    return new


def forget(module_globals):
    """Drop the cached re-creation of a module (after it was reloaded)."""
    _GLOBALS.pop(id(module_globals), None)


# --------------------------------------------------------------------------
# the entry point
# --------------------------------------------------------------------------

def _leaf_tangent(x, batched):
    if isinstance(x, Dual):
        d = np.asarray(x.d, dtype=float)
    else:
        d = np.zeros((_K[0],) + np.shape(x))
    if batched:
        return d
    d = d[0]
    return float(d) if d.ndim == 0 else d


def _leaf_value(x):
    return x.v if isinstance(x, Dual) else x


def _outputs(out, leaf):
    if isinstance(out, (tuple, list)):
        return type(out)(_outputs(o, leaf) for o in out) if type(out) in (tuple, list) \
            else tuple(_outputs(o, leaf) for o in out)
    return leaf(out)


def jvp(fn, args, active, tangents, kwargs=None, batched=False):
    """``(value, tangent)`` of ``fn(*args, **kwargs)`` along ``tangents``.

    ``active``: positions of the differentiated arguments; ``tangents``: one
    per active position, of the argument's shape (``batched=False``) or with a
    leading axis of K directions (``batched=True``; the result's tangents then
    have shape ``(K,) + output shape``).  Other float arrays are treated as
    data (a zero tangent).  The caller's arrays are not modified.
    Raises :class:`DualUnsupported` (or whatever the evaluation raises) when
    the function does something this evaluator cannot follow.
    """
    args = copy.deepcopy(tuple(args))
    kwargs = copy.deepcopy(dict(kwargs or {}))
    if batched:
        ks = {np.shape(t)[0] for t in tangents}
        if len(ks) != 1:
            raise ValueError("batched tangents disagree on K")
        K = ks.pop()
    else:
        K = 1
    old = _K[0]
    _K[0] = K
    try:
        new_args = list(args)
        tangent_of = dict(zip(active, tangents))
        for i, a in enumerate(args):
            if i in tangent_of:
                t = np.array(tangent_of[i], dtype=float)
                d = t.reshape((K,) + np.shape(a))
                new_args[i] = Dual(a, d)
            elif isinstance(a, np.ndarray) and a.dtype.kind == "f":
                new_args[i] = Dual(a)
        f = dualize(fn)
        with np.errstate(all="ignore"):
            out = f(*new_args, **kwargs)
        return (_outputs(out, _leaf_value),
                _outputs(out, lambda x: _leaf_tangent(x, batched)))
    finally:
        _K[0] = old


if __name__ == "__main__":  # pragma: no cover
    print(jvp(lambda x: np.sin(x) * x, (np.array([1.0, 2.0]),), [0], [np.ones(2)]),
          file=sys.stdout)
