"""fwdcompile.jacfwd: the forward-mode Jacobian from vector mode over basis chunks,
checked against analytic Jacobians and central differences computed here."""

from __future__ import annotations

import numpy as np
import pytest

import fwdcompile
from fwdcompile import jacfwd

RNG = np.random.default_rng(7)
A = RNG.standard_normal((4, 5))
X = RNG.standard_normal(5)
Y = RNG.standard_normal(4)


def affine(A, x, y):
    return A @ x + y


def elementwise_sin(x):
    return np.sin(x)


def mlp(A, x, y):
    h = np.tanh(A @ x)
    return h * y + np.sum(x ** 2)


def layer(params, x):
    return np.tanh(x @ params["W"] + params["b"])


def two_outputs(x, y):
    return np.sin(x) * y[0], np.sum(x * x)


def scalar_scale(a, x):
    return a * np.exp(x)


def returns_text(x):
    return "no"


def count_up(n, x):
    return x * n


def central_jacobian(fn, args, i, h=1e-6):
    """d fn / d args[i] by central differences, JAX layout out.shape + arg.shape."""
    arg = np.asarray(args[i], dtype=float)
    out = np.asarray(fn(*args))
    jac = np.zeros(out.shape + arg.shape)
    for j in np.ndindex(arg.shape):
        plus, minus = arg.copy(), arg.copy()
        plus[j] += h
        minus[j] -= h
        hi = list(args)
        lo = list(args)
        hi[i], lo[i] = plus, minus
        jac[(Ellipsis,) + j] = (np.asarray(fn(*hi)) - np.asarray(fn(*lo))) / (2 * h)
    return jac


@pytest.mark.parametrize("chunk", [None, 1, 3, 5, 64])
def test_affine_jacobian_is_the_matrix(chunk):
    J = jacfwd(affine, wrt="x", chunk=chunk)(A, X, Y)
    assert J.shape == (4, 5)
    np.testing.assert_allclose(J, A, rtol=0, atol=1e-15)


@pytest.mark.parametrize("chunk", [1, 3, 5])
def test_jacobian_wrt_a_matrix_has_jax_layout(chunk):
    J = jacfwd(affine, wrt="A", chunk=chunk)(A, X, Y)
    assert J.shape == (4, 4, 5)
    expected = np.einsum("ij,k->ijk", np.eye(4), X)  # d (A x)_i / d A_jk = delta_ij x_k
    np.testing.assert_allclose(J, expected, atol=1e-15)


def test_elementwise_sin_is_diagonal():
    J = jacfwd(elementwise_sin)(X)  # default: the first parameter
    np.testing.assert_allclose(J, np.diag(np.cos(X)), atol=1e-15)


@pytest.mark.parametrize("chunk", [1, 3, 9])
def test_against_central_differences_for_a_subset_of_parameters(chunk):
    JA, Jy = jacfwd(mlp, wrt=("A", "y"), chunk=chunk)(A, X, Y)
    np.testing.assert_allclose(JA, central_jacobian(mlp, (A, X, Y), 0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(Jy, central_jacobian(mlp, (A, X, Y), 2), rtol=1e-6, atol=1e-8)
    (Jx,) = jacfwd(mlp, wrt=[1], chunk=chunk)(A, X, Y)  # a sequence gives a tuple
    np.testing.assert_allclose(Jx, central_jacobian(mlp, (A, X, Y), 1), rtol=1e-6, atol=1e-8)


def test_one_vector_mode_run_per_chunk(monkeypatch):
    from fwdcompile import runtime

    f = fwdcompile.forward_gradient(mlp, wrt="x")
    sizes = []
    real = runtime.batch_size

    def recording(*tangents):  # the prologue of every vector-mode run
        sizes.append(real(*tangents))
        return sizes[-1]

    monkeypatch.setattr(runtime, "batch_size", recording)
    J = jacfwd(f, chunk=2)(A, X, Y)  # the decorated function's wrt
    assert sizes == [2, 2, 1]
    np.testing.assert_allclose(J, central_jacobian(mlp, (A, X, Y), 1), rtol=1e-6, atol=1e-8)


def test_float32_stays_float32():
    A32, x32 = A.astype(np.float32), X.astype(np.float32)
    J = jacfwd(mlp, wrt="x", chunk=3)(A32, x32, Y.astype(np.float32))
    assert J.dtype == np.float32
    np.testing.assert_allclose(J, jacfwd(mlp, wrt="x")(A, X, Y), rtol=1e-4, atol=1e-5)


def test_pytree_parameter_gives_a_jacobian_per_leaf():
    params = {"W": RNG.standard_normal((3, 2)), "b": RNG.standard_normal(2)}
    x = RNG.standard_normal(3)
    for chunk in (1, 3, 8, None):
        J = jacfwd(layer, wrt="params", chunk=chunk)(params, x)
        assert set(J) == {"W", "b"}
        assert J["W"].shape == (2, 3, 2) and J["b"].shape == (2, 2)
        for key in ("W", "b"):
            def moved(leaf, key=key):
                return layer({**params, key: leaf}, x)
            np.testing.assert_allclose(J[key], central_jacobian(moved, (params[key],), 0),
                                       rtol=1e-6, atol=1e-8)


def test_tuple_output_gives_a_tuple_of_jacobians():
    x = RNG.standard_normal(3)
    y = RNG.standard_normal(2)
    Js, Jn = jacfwd(two_outputs, wrt="x")(x, y)
    np.testing.assert_allclose(Js, np.diag(np.cos(x) * y[0]), atol=1e-15)
    np.testing.assert_allclose(Jn, 2 * x, atol=1e-15)
    (Jsy,), (Jny,) = jacfwd(two_outputs, wrt=("y",))(x, y)
    np.testing.assert_allclose(Jsy, np.stack([np.sin(x), np.zeros(3)], axis=1), atol=1e-15)
    np.testing.assert_allclose(Jny, np.zeros(2), atol=0)


def test_scalar_parameter_and_scalar_output():
    J = jacfwd(scalar_scale, wrt="a")(1.5, X)
    assert J.shape == X.shape
    np.testing.assert_allclose(J, np.exp(X))
    Jsum = jacfwd(layer, wrt=1)({"W": np.ones((3, 1)), "b": np.zeros(1)}, X[:3])
    assert Jsum.shape == (1, 3)


def test_native_backend():
    squares_native = fwdcompile.forward_gradient(elementwise_sin, backend="llvm")
    J = jacfwd(squares_native, chunk=2)(X)
    np.testing.assert_allclose(J, np.diag(np.cos(X)), atol=1e-14)
    J = jacfwd(elementwise_sin, backend="llvm", chunk=5)(X)
    np.testing.assert_allclose(J, np.diag(np.cos(X)), atol=1e-14)


def test_bad_input_is_reported_clearly():
    with pytest.raises(ValueError, match="not a parameter"):
        jacfwd(affine, wrt="z")
    with pytest.raises(ValueError, match="chunk"):
        jacfwd(affine, wrt="x", chunk=0)
    with pytest.raises(TypeError, match="needs a function"):
        jacfwd(3.0)
    with pytest.raises(TypeError, match="'n' is in wrt"):
        jacfwd(count_up, wrt="n")(3, X)
    with pytest.raises(TypeError, match="float"):
        jacfwd(count_up, wrt="x")(3, np.arange(3))
    with pytest.raises(TypeError, match="returned str"):
        jacfwd(returns_text)(X)


def writes_into_its_arguments(x, y):
    x *= x
    y[0] += 1.0
    return x * y


def test_a_function_writing_into_its_arguments():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])
    for chunk in (1, 2, 3):
        J = jacfwd(writes_into_its_arguments, wrt="x", chunk=chunk)(x, y)
        np.testing.assert_allclose(J, np.diag(2 * x * (y + [1.0, 0.0, 0.0])), atol=1e-14)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])  # the caller's arrays are untouched
    np.testing.assert_array_equal(y, [1.0, 2.0, 3.0])


def _square(x):
    return x ** 2


def _product(p):
    return p["a"] * p["b"]


def test_scalar_in_scalar_out_is_zero_dimensional_as_in_jax():
    from fwdcompile import jacfwd
    J = jacfwd(_square)(3.0)
    assert np.shape(J) == () and float(J) == 6.0
    J = jacfwd(_product)({"a": 2.0, "b": 3.0})
    assert np.shape(J["a"]) == () and float(J["a"]) == 3.0 and float(J["b"]) == 2.0
