"""Functions that write into their differentiated parameters (``w /= 2``).

Their JVP updates the tangent passed for that parameter in place, mirroring
the value (documented in the README).  Estimators built on the JVP must then
keep the directions they drew: ``forward_grad`` once returned twice the
gradient of ``w /= 2; sum(w ** 2)``, because it combined the directions the
JVP had halved.  And one array passed as the tangent of two parameters must
not carry a write into one parameter's tangent over to the other's.
"""

from __future__ import annotations

import numpy as np
import pytest

from fwdcompile import forward_gradient
from fwdcompile.optim import FGD, minimize


def halves_in_place(w):
    w /= 2.0
    return np.sum(w ** 2)


def halves(w):
    w = w / 2.0
    return np.sum(w ** 2)


def scales_first(a, b):
    a *= 2.0
    return np.sum(a * b)


@pytest.mark.parametrize("directions", [1, 3])
@pytest.mark.parametrize("combine", ["mean", "project"])
def test_forward_grad_uses_the_directions_it_drew(directions, combine):
    x = np.array([1.0, 2.0, 3.0])
    writing = forward_gradient(halves_in_place).forward_grad(
        x.copy(), rng=0, directions=directions, combine=combine)[1]
    pure = forward_gradient(halves).forward_grad(
        x.copy(), rng=0, directions=directions, combine=combine)[1]
    np.testing.assert_allclose(writing, pure, rtol=1e-12)
    if directions == 3 and combine == "project":  # the exact gradient, w / 2
        np.testing.assert_allclose(writing, x / 2.0, rtol=1e-12)


def test_minimize_uses_the_directions_it_drew():
    """Three directions in 3-D projected: the exact gradient at the point,
    x / 2.  The loss also halves the parameters it is given, so one step of
    FGD lands on x / 2 - lr * x / 2."""
    x = np.array([1.0, 2.0, 3.0])
    result = minimize(forward_gradient(halves_in_place), x.copy(), steps=1, rng=0,
                      optimizer=FGD(lr=0.1), directions=3, combine="project",
                      progress=False)
    np.testing.assert_allclose(result.x, x / 2.0 - 0.1 * x / 2.0, rtol=1e-12)


def test_one_array_as_two_tangents():
    a, b, v = np.array([1.0, 2.0]), np.array([3.0, -1.0]), np.array([1.0, 1.0])
    f = forward_gradient(scales_first, wrt=("a", "b"))
    # d/dt sum(2 (a + t v) * (b + t v)) = 2 (v . b + a . v) = 2 (2 + 3) = 10
    assert f.jvp(a.copy(), b.copy(), tangents=(v.copy(), v.copy()))[1] == pytest.approx(10.0)
    shared = v.copy()
    assert f.jvp(a.copy(), b.copy(), tangents=(shared, shared))[1] == pytest.approx(10.0)
    V = np.ones((1, 2))
    np.testing.assert_allclose(
        f.jvp(a.copy(), b.copy(), tangents=(V, V), batched=True)[1], [10.0])


def _adds_exp(u, v, s=2.0):
    w = v + 0.0
    u += np.exp(v)
    return w * v + u, w * s


def same_array_twice(a, b):
    t0, t0b = _adds_exp(a, a)   # u and v are one array inside the helper
    return t0 + b


def test_a_helper_given_one_array_for_two_parameters():
    """``w = v + 0.0`` is a new array, but its tangent was ``d_v`` itself, which
    the caller's aliasing made ``d_u``: ``u += ...`` then changed ``d_w``."""
    import oracle
    a, b = np.array([0.3, -0.2, 0.1]), np.array([1.0, 0.5, -1.0])
    da, db = np.array([1.0, -0.5, 0.25]), np.array([0.5, 0.5, 2.0])
    for wrt, tangents, active in ((("a",), (da,), [0]), (("a", "b"), (da, db), [0, 1])):
        expected = oracle.jvp_reference(same_array_twice, (a, b), active, tangents,
                                        complex_ok=True)[0]
        f = forward_gradient(same_array_twice, wrt=wrt)
        _, tangent = f.jvp(a.copy(), b.copy(), tangents=tuple(t.copy() for t in tangents))
        np.testing.assert_allclose(tangent, expected, rtol=1e-12)
        _, batched = f.jvp(a.copy(), b.copy(), tangents=tuple(
            np.stack([t * (j + 1) for j in range(3)]) for t in tangents), batched=True)
        for j in range(3):
            np.testing.assert_allclose(batched[j], (j + 1) * expected, rtol=1e-12)
