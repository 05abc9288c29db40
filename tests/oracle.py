"""Reference directional derivatives, independent of fwdcompile.

Two methods (``ridders`` and ``complex_step`` live in fwdcompile/gradcheck.py,
which evaluates the plain function only):

* the complex step ``Im f(x + i h v) / h`` with ``h = 1e-30``: exact to
  rounding for complex-analytic code, used for corpus cases flagged
  ``complex_ok``;
* Ridders' extrapolated central differences (Numerical Recipes ``dfridr``)
  of ``g(t) = f(args + t v)``, applied elementwise to every leaf of the
  output, with an error estimate per element.

Outputs may be Python / numpy scalars, arrays, or (nested) tuples and lists
of those; the derivative has the same structure, every leaf a float or a
float array.
"""

from __future__ import annotations

import copy

import numpy as np

# the finite-difference code is the package's (fwdcompile.check_grads and the
# CLI use it too); it never calls fwdcompile's derivative code
from fwdcompile.gradcheck import RIDDERS_H, complex_step, ridders  # noqa: F401


# --------------------------------------------------------------------------
# output structures
# --------------------------------------------------------------------------

def flatten(out):
    """``out -> (vector, spec)``: every leaf raveled and concatenated."""
    leaves = []

    def walk(x):
        if isinstance(x, (tuple, list)):
            return (type(x), [walk(e) for e in x])
        arr = np.asarray(x)
        leaves.append(arr.ravel())
        return ("leaf", arr.shape, isinstance(x, np.ndarray))

    spec = walk(out)
    if not leaves:
        return np.zeros(0), spec
    return np.concatenate([np.asarray(l) for l in leaves]), spec


def unflatten(vec, spec):
    pos = [0]

    def build(s):
        if s[0] == "leaf":
            _, shape, is_array = s
            n = int(np.prod(shape, dtype=int))
            chunk = vec[pos[0]:pos[0] + n]
            pos[0] += n
            if is_array or shape != ():
                return np.asarray(chunk).reshape(shape)
            return chunk[0].item() if hasattr(chunk[0], "item") else chunk[0]
        kind, children = s
        if hasattr(kind, "_fields"):  # a named tuple (numpy.linalg's results)
            return kind(*(build(c) for c in children))
        return kind(build(c) for c in children)

    return build(spec)


def leaves(out):
    """The leaves of a (nested) tuple/list output, in order."""
    if isinstance(out, (tuple, list)):
        result = []
        for e in out:
            result.extend(leaves(e))
        return result
    return [out]


# --------------------------------------------------------------------------
# directional derivatives of user functions
# --------------------------------------------------------------------------

def _perturbed(args, active, tangents, t):
    new = list(copy.deepcopy(args))
    for index, v in zip(active, tangents):
        x = new[index]
        if isinstance(x, np.ndarray):
            new[index] = x + t * np.asarray(v)
        elif isinstance(x, np.generic):
            new[index] = x + t * v
        else:
            new[index] = x + t * v
    return new


def jvp_reference(fn, args, active, tangents, kwargs=None, complex_ok=False, scale=1.0):
    """The derivative of ``fn(*args, **kwargs)`` along ``tangents``.

    ``active`` lists the positions of the perturbed arguments, ``tangents``
    one direction per active argument.  Returns ``(derivative, error)`` with
    the output's structure; ``error`` is Ridders' estimate (zeros for the
    complex step).
    """
    kwargs = dict(kwargs or {})
    _, spec = flatten(fn(*copy.deepcopy(args), **copy.deepcopy(kwargs)))

    def g(t):
        out = fn(*_perturbed(args, active, tangents, t), **copy.deepcopy(kwargs))
        vec, out_spec = flatten(out)
        return vec

    if complex_ok:
        d = complex_step(g)
        err = np.zeros_like(d)
    else:
        d, err = ridders(g, h=RIDDERS_H * scale)
    return unflatten(d, spec), unflatten(err, spec)


def jvp_both(fn, args, active, tangents, kwargs=None, scale=1.0):
    """Complex step and Ridders on the same function (for cross-checks)."""
    cs, _ = jvp_reference(fn, args, active, tangents, kwargs, complex_ok=True)
    rd, err = jvp_reference(fn, args, active, tangents, kwargs, complex_ok=False, scale=scale)
    return cs, rd, err


def close(actual, expected, rtol=1e-7):
    """Elementwise ``|actual - expected| <= rtol * max(1, |expected|)``, leafwise.

    Returns ``(ok, worst)`` where ``worst`` describes the worst element.
    """
    a_leaves, e_leaves = leaves(actual), leaves(expected)
    if len(a_leaves) != len(e_leaves):
        return False, f"structure differs: {len(a_leaves)} leaves vs {len(e_leaves)}"
    worst_ratio, worst = 0.0, "all equal"
    for k, (a, e) in enumerate(zip(a_leaves, e_leaves)):
        a = np.asarray(a, dtype=float)
        e = np.asarray(e, dtype=float)
        if a.shape != e.shape:
            return False, f"leaf {k}: shape {a.shape} vs expected {e.shape}"
        bound = rtol * np.maximum(1.0, np.abs(e))
        diff = np.abs(a - e)
        bad = ~(diff <= bound)  # NaN counts as bad
        ratio = np.where(np.isfinite(diff), diff / bound, np.inf)
        if ratio.size and ratio.max() > worst_ratio:
            i = np.unravel_index(int(np.argmax(ratio)), ratio.shape) if ratio.ndim else ()
            worst_ratio = float(ratio.max())
            worst = (f"leaf {k} index {tuple(int(v) for v in i)}: got {a[i]!r}, "
                     f"expected {e[i]!r} (|diff|/tol = {worst_ratio:.3g})")
        if bad.any():
            return False, worst
    return True, worst
