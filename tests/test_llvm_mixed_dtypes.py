"""float32 and float64 mixed on the native backend (backends/llvm/promotion.py):
each array keeps its dtype, arithmetic runs in double, and every result has
the dtype numpy 2 gives it (NEP 50): a float32 array with a float64 array,
a numpy float64 scalar (an element or a reduction of a float64 array,
``np.exp`` of a Python float) or an int64 element is float64; with a Python
number it stays float32.  Each case runs natively and gives the Python
backend's values with exactly its dtypes (float32 results within float32
rounding: numpy rounds every operation, a fused native loop once), for
every wrt subset, single and vector mode, checked against finite
differences (native_check.py)."""

import numpy as np
import pytest

pytest.importorskip("llvmlite")
from fwdcompile import forward_gradient  # noqa: E402

import native_check  # noqa: E402

RNG = np.random.default_rng(9)
F32_RTOL, FD_RTOL = 2e-6, 2e-4


def f32(*shape):
    return RNG.uniform(0.5, 1.5, size=shape).astype(np.float32)


def f64(*shape):
    return RNG.uniform(0.5, 1.5, size=shape)


def arrays(x, y):
    return np.sum(x * y) + np.sum(y) * x          # a float64 array


def scalars(x, y, c):
    s = np.sum(x * x)                             # a float32 scalar
    t = np.mean(y)                                # a float64 one
    return s * 2.0, s * t, x * c, x * np.exp(c), x * y[0], s + x[1]


def loop(x, y, idx):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * y[i]                          # float32 * float64 elements: float64
    return s + np.sum(x * idx[1]), x * float(idx[0])


def rows(X, w):
    h = np.tanh(X * w)                            # (N, D) float32 * (D,) float64
    out = np.zeros_like(X)                        # float32: written values rounded
    out[:, 0] = h[:, 0] * 3.0
    return np.sum(h ** 2) + np.sum(out), out


def masked(x, y):
    m = x > 1.0
    return np.sum(np.where(m, x, y)) + np.sum(y[m] * x[m])


CASES = [
    (arrays, lambda: (f32(5), f64(5)), ("x", "y")),
    (scalars, lambda: (f32(4), f64(4), 0.3), ("x", "y", "c")),
    (loop, lambda: (f32(6), f64(6), np.array([2, 3])), ("x", "y")),
    (rows, lambda: (f32(4, 3), f64(3)), ("X", "w")),
    (masked, lambda: (f32(7), f64(7)), ("x", "y")),
]


@pytest.mark.parametrize("fn, make, params", CASES, ids=[c[0].__name__ for c in CASES])
def test_mixed_precisions_lower_with_numpys_dtypes(fn, make, params):
    native_check.check(fn, make(), params, rtol=F32_RTOL, fd_rtol=FD_RTOL)


def test_float32_stays_float32_with_python_numbers():
    def f(x, c):
        return x * c + 1.0, np.sum(x) * 2.0

    x = f32(3)
    value, tangent = forward_gradient(f, wrt=("x",), backend="llvm").jvp(x, 0.5, tangents=(x,))
    assert value[0].dtype == np.float32 and type(value[1]) is np.float32
    assert tangent[0].dtype == np.float32 and type(tangent[1]) is np.float32


def test_a_float64_tangent_for_a_float32_argument_is_a_type_error():
    f = forward_gradient(arrays, wrt=("x", "y"), backend="llvm")
    x, y = f32(3), f64(3)
    with pytest.raises(TypeError, match="float32"):
        f.jvp(x, y, tangents=(np.ones(3), y))


def test_numpy_scalar_arguments_with_float32_run_on_the_python_backend():
    x, y = f32(4), f64(4)
    f = forward_gradient(scalars, wrt=("x",), backend="llvm")
    got = f.jvp(x, y, np.float64(0.3), tangents=(x,))
    want = forward_gradient(scalars, wrt=("x",)).jvp(x, y, np.float64(0.3), tangents=(x,))
    native_check.assert_same(got, want, 0.0)
    assert "Python backend" in f.llvm_placement
