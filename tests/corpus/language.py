"""Language constructs the desugar stage rewrites (comprehensions, generator
arguments, dict(...)) and ``with np.errstate(...)`` blocks."""

import warnings

import numpy as np

from . import case


def _rows(rng):
    return rng.uniform(-1.0, 1.0, (4, 3))


@case(lambda rng: (_rows(rng), float(rng.uniform(0.5, 1.5))))
def comp_sum_generator(X, w):
    return sum(w * np.sin(x) for x in X)


@case(lambda rng: (_rows(rng),))
def comp_stack_rows(X):
    return np.stack([np.tanh(r) * (i + 1) for i, r in enumerate(X)])


@case(lambda rng: (_rows(rng), float(rng.uniform(0.5, 1.5))))
def comp_nested_filter(X, w):
    rows = [[w * v * v for v in x if v > 0] for x in X]
    return sum(sum(r) for r in rows if len(r) > 0) + max(w * x[0] for x in X)


@case(lambda rng: (_rows(rng), _rows(rng)))
def comp_zip(W, X):
    return sum(np.dot(w, x) ** 2 for w, x in zip(W, X))


@case(lambda rng: (rng.uniform(0.5, 1.5, 3),))
def comp_dict(x):
    d = {k: x * (k + 1) for k in range(3)}
    params = dict(scale=x[0], shift=np.sum(x))
    return d[1] * params["scale"] + d[2] ** 2 + params["shift"]


@case(lambda rng: (float(rng.uniform(0.5, 1.5)), rng.uniform(0.5, 1.5, 3)))
def comp_array_literal(x, v):
    powers = np.array([x, x ** 2, np.sin(x)])
    return powers @ v + np.sum(np.array([v[i] * x ** i for i in range(3)]))


@case(lambda rng: (rng.uniform(-1.0, 1.0, 3), float(rng.uniform(0.5, 1.5))))
def comp_shadowed(x, w):
    total = sum(x * w for x in x)  # the loop variable hides the parameter in it
    return total * np.sum(x)


@case(lambda rng: (rng.uniform(0.5, 2.0, 4), float(rng.uniform(0.5, 1.5))))
def errstate_log(x, w):
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log(x) * w
        z = np.sum(np.where(np.isfinite(y), y, 0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = z + w * np.sqrt(x[0])
    return z
