"""Vector mode keeps every tangent of shape (K,) + value shape: reshapes
(``-1`` resolved against the value, a name rebound to its own reshape),
ravel/flatten, and ``custom_jvp`` rules returning tuples; in both modes,
against finite differences."""

import numpy as np
import pytest

from jvp_check import check

import fwdcompile
from fwdcompile.pipeline import compile_jvp


def reshape_rebound(a):
    h = a + 1.0
    h = h.reshape(h.shape[0], -1)
    return h


def reshape_in_expression(a):
    h = np.sin(a)
    return np.sum(h.reshape(h.shape[0], -1) ** 2, axis=1)


def np_reshape_rebound(a):
    h = a * a
    h = np.reshape(h, (h.shape[0], -1))
    return h.ravel() * 2.0


def ravel_flatten(a):
    h = np.cos(a)
    h = np.ravel(h).reshape(-1, 2).flatten()
    return h


def flatten_then_store(a):
    g = a.flatten()
    g[0] = 0.0
    return g * a.ravel()


def fortran_order(a):
    h = np.exp(a)
    return h.reshape((2, -1), order="F")


def reshape_two_args(a, b):
    h = a * b
    h = h.reshape(h.shape[0], -1)
    return h @ np.ones(h.shape[1])


def pair(x):
    return np.sin(x), np.cos(x)


@fwdcompile.custom_jvp(pair)
def pair_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return (np.sin(x), np.cos(x)), (np.cos(x) * dx, -np.sin(x) * dx)


def with_constant(x):
    return np.sum(x), 2.0


@fwdcompile.custom_jvp(with_constant)
def with_constant_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return (np.sum(x), 2.0), (np.sum(dx), 0.0)


def custom_pair(a):
    p, q = pair(a)
    return p * q


def custom_pair_with_zero(a):
    s, c = with_constant(a)
    return s * c * a


RNG = np.random.default_rng(11)
A432 = RNG.standard_normal((4, 3, 2))
A523 = RNG.standard_normal((5, 2, 3))

CASES = [
    (reshape_rebound, (A432,), ("a",)),
    (reshape_rebound, (A523,), ("a",)),
    (reshape_in_expression, (A432,), ("a",)),
    (np_reshape_rebound, (A523,), ("a",)),
    (ravel_flatten, (A432,), ("a",)),
    (flatten_then_store, (A432,), ("a",)),
    (fortran_order, (A432,), ("a",)),
    (reshape_two_args, (A432, A432[::-1].copy()), ("a", "b")),
    (custom_pair, (A432,), ("a",)),
    (custom_pair, (RNG.standard_normal(3),), ("a",)),
    (custom_pair_with_zero, (A523,), ("a",)),
]


@pytest.mark.parametrize("fn, args, params", CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_against_finite_differences(fn, args, params):
    check(fn, args, params)


def test_reshape_is_one_call_for_all_directions():
    source = compile_jvp(reshape_rebound, ("a",), batched=True).source
    assert "_rt.breshape(d_h, h)" in source and "_np.stack" not in source


def ravel_fortran(a):
    h = np.sin(a)
    return h.ravel("F") + h.flatten("F") * 2.0


def test_fortran_ravel_and_flatten():
    check(ravel_fortran, (np.random.default_rng(4).standard_normal((4, 3)),), ("a",))
