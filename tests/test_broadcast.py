"""A differentiated value broadcast against data: its tangent has the result's shape.

With only ``b`` differentiated in ``Z = X + b``, the tangent of ``Z`` must
have ``Z``'s shape, not ``b``'s (the generated code once wrote ``d_Z = d_b``,
and ``Z[0]`` then read an element of ``d_b`` instead of a row: a wrong number
without an error).  Every function here is checked for every subset of its
float parameters as ``wrt``, in single and batched mode and on the native
backend where it lowers, against the complex step (tests/oracle.py, which
shares no code with fwdcompile).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from fwdcompile import forward_gradient
from fwdcompile.pipeline import compile_jvp
from fwdcompile.errors import FwdcompileError
from oracle import jvp_reference


def row_product(b, X):
    Z = X + b
    return np.sum(Z[0] * Z[1])


def centred_columns(mu, X):
    D = X - mu
    return np.sum(np.sum(D, axis=0) ** 2)


def affine_row(b, X, W):
    z = X @ W + b
    return np.sum(z[0] ** 2)


def flattened(b, X):
    return np.sum((X + b).reshape(-1) ** 2)


def scalar_shift_mean(s, X):
    Z = s + X
    return np.sum(np.mean(Z, axis=1) ** 2)


def column_shift(c, X):
    Z = X * 2.0 - c[:, None]
    return np.sum(Z.T[0] * np.arange(1.0, 5.0))


def grows_in_place(s, X):
    t = s * 1.0
    t += X
    return np.sum(np.sum(t, axis=0) ** 2)


def shrinks_in_place(s, X):
    t = s * 1.0
    t -= X
    return np.sum(t[1] * t[2])


def grows_in_a_loop(s, X):
    acc = 0.0
    for i in range(3):
        acc = acc + s
        acc -= X[i]
    return np.sum(acc[0] * acc)


def written_after_broadcast(b, X):
    Z = X + b
    Z[0] = 0.0
    return np.sum(Z * Z) + np.sum(b)


def numpy_functions(b, X):
    Z = np.add(X, b)
    W = np.where(X > 0.0, b, X)
    M = np.maximum(X, b)
    return np.sum(Z[0] * W[1] * M[2])


def scalar_and_matrix(a, s, X):
    Z = (X + s) * a
    return np.sum(np.sum(Z, axis=1) ** 2)


def returned_broadcast(b, X):
    return X + b


def _args(fn, rng):
    X = rng.standard_normal((4, 3))
    table = {
        row_product: (rng.standard_normal(3), X),
        centred_columns: (rng.standard_normal(3), X),
        affine_row: (rng.standard_normal(3), X, rng.standard_normal((3, 3))),
        flattened: (rng.standard_normal(3), X),
        scalar_shift_mean: (1.3, X),
        column_shift: (rng.standard_normal(4), X),
        grows_in_place: (1.3, X),
        shrinks_in_place: (np.float64(0.4), X),
        grows_in_a_loop: (0.7, X),
        written_after_broadcast: (rng.standard_normal(3), X),
        numpy_functions: (rng.standard_normal(3), X),
        scalar_and_matrix: (rng.standard_normal(3), 0.3, X),
        returned_broadcast: (rng.standard_normal(3), X),
    }
    return table[fn]


FUNCTIONS = [row_product, centred_columns, affine_row, flattened, scalar_shift_mean,
             column_shift, grows_in_place, shrinks_in_place, grows_in_a_loop,
             written_after_broadcast, numpy_functions, scalar_and_matrix, returned_broadcast]


def _subsets(fn):
    names = list(fn.__code__.co_varnames[:fn.__code__.co_argcount])
    return [s for k in range(1, len(names) + 1) for s in itertools.combinations(names, k)]


CASES = [(fn, wrt) for fn in FUNCTIONS for wrt in _subsets(fn)]
IDS = [f"{fn.__name__}-{'+'.join(wrt)}" for fn, wrt in CASES]


def _tangent(rng, value):
    return rng.standard_normal(np.shape(value)) if np.ndim(value) else float(rng.standard_normal())


def _reference(fn, args, wrt, tangents):
    names = list(fn.__code__.co_varnames[:fn.__code__.co_argcount])
    active = [names.index(w) for w in wrt]
    return jvp_reference(fn, args, active, tangents, complex_ok=True)[0]


@pytest.mark.parametrize("fn, wrt", CASES, ids=IDS)
def test_single_direction(fn, wrt):
    rng = np.random.default_rng(0)
    args = _args(fn, rng)
    names = list(fn.__code__.co_varnames[:fn.__code__.co_argcount])
    tangents = tuple(_tangent(rng, args[names.index(w)]) for w in wrt)
    saved = [np.copy(t) for t in tangents]
    value, tangent = forward_gradient(wrt=wrt)(fn).jvp(*args, tangents=tangents)
    expected = _reference(fn, args, wrt, tangents)
    assert np.shape(tangent) == np.shape(value)
    np.testing.assert_allclose(tangent, expected, rtol=1e-9, atol=1e-9)
    for t, s in zip(tangents, saved):  # the caller's tangents are left alone
        np.testing.assert_array_equal(t, s)


@pytest.mark.parametrize("k", [1, 3, 4])
@pytest.mark.parametrize("fn, wrt", CASES, ids=IDS)
def test_batched(fn, wrt, k):
    rng = np.random.default_rng(1)
    args = _args(fn, rng)
    names = list(fn.__code__.co_varnames[:fn.__code__.co_argcount])
    tangents = tuple(rng.standard_normal((k,) + np.shape(args[names.index(w)])) for w in wrt)
    value, batched = forward_gradient(wrt=wrt)(fn).jvp(*args, tangents=tangents,
                                                       batched=True)
    assert np.shape(batched) == (k,) + np.shape(value)
    for j in range(k):
        direction = tuple(t[j] if np.ndim(t) > 1 else float(t[j]) for t in tangents)
        np.testing.assert_allclose(batched[j], _reference(fn, args, wrt, direction),
                                   rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("fn, wrt", CASES, ids=IDS)
def test_native(fn, wrt):
    rng = np.random.default_rng(2)
    args = _args(fn, rng)
    names = list(fn.__code__.co_varnames[:fn.__code__.co_argcount])
    tangents = tuple(_tangent(rng, args[names.index(w)]) for w in wrt)
    native = forward_gradient(wrt=wrt, backend="llvm")(fn)
    try:
        value, tangent = native.jvp(*args, tangents=tangents)
    except FwdcompileError as exc:  # refused with a located error: not lowered, not wrong
        assert "native backend" in str(exc)
        pytest.skip("does not lower")
    np.testing.assert_allclose(tangent, _reference(fn, args, wrt, tangents),
                               rtol=1e-9, atol=1e-9)


def test_scalar_code_stays_plain():
    """Loop indices and numbers cannot broadcast: no run-time widening there."""
    def loop(x):
        s = 0.0
        for i in range(len(x)):
            s = s + x[i] * i + i + 2.0
        return s

    source = compile_jvp(loop, ("x",)).source
    assert "broadcast" not in source


def test_broadcast_is_visible_where_needed():
    source = compile_jvp(row_product, ("b",)).source
    assert "d_Z = _rt.broadcast(d_b, Z)" in source
    # with X differentiated too, d_X + d_b has the full shape by itself
    assert "broadcast" not in compile_jvp(row_product, ("b", "X")).source


G = 2.0  # a module global may be rebound to an array: never taken for a scalar


def _scalar_program(x, n):
    i0 = 0
    m = len(x)
    h = 1.0 / m
    t = math.pi * h
    k = n          # a parameter: could be anything
    a = x * 2.0    # an array
    s = 0.0
    for i in range(m):
        s = s + a[i] * i
    g = G
    return s + t + i0 + k + g


def test_scalar_names_are_proven_not_guessed():
    from fwdcompile.pipeline import check
    from fwdcompile.transform.scalars import scalar_names

    names = scalar_names(check(_scalar_program))
    assert {"i0", "m", "h", "t", "i"} <= names  # x.shape[0], cfg.size: never
    assert not names & {"x", "n", "k", "a", "s", "g"}
