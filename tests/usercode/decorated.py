"""A user module written against fwdcompile's public API."""

import math

import numpy as np

import fwdcompile
from fwdcompile import forward_gradient


@forward_gradient
def energy(x, k):
    return 0.5 * k * np.sum(x * x) + np.sum(np.cos(x))


@forward_gradient(wrt=("W", "b"))
def predict(W, b, X):
    return np.tanh(X @ W + b)


@forward_gradient(wrt=(0,))
def scaled(x, s):
    return x * s + math.sin(s)


@forward_gradient
def total(x, k):
    # calls other decorated functions
    return energy(x, k) + 2.0 * energy(x * 0.5, k)


def _hidden_cube(x):
    return x * x * x


opaque_cube = np.frompyfunc(_hidden_cube, 1, 1)  # a C-level callable, no source


@fwdcompile.custom_jvp(opaque_cube)
def _opaque_cube_rule(primals, tangents):
    (x,), (dx,) = primals, tangents
    x = np.asarray(x, dtype=float)
    return x ** 3, 3.0 * x * x * np.asarray(dx, dtype=float)


@forward_gradient
def uses_custom(x):
    return np.sum(np.asarray(opaque_cube(x), dtype=float)) + np.sum(x)


@forward_gradient
def polymorphic(x):
    return np.sin(x) * x + x ** 2


@forward_gradient
def maybe_active(x, n):
    return x ** 2 * n + n ** 2


@forward_gradient
def with_default(x, eps=1e-3):
    return np.sqrt(x * x + eps)


GAIN = 1.0


@forward_gradient
def gained(x):
    return GAIN * x * x
