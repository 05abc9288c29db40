"""Every differentiable rule in the registry, checked numerically.

For each rule (``fwdcompile.rules.registry._REGISTRY``, without the
no-derivative rules and users' ``custom_jvp`` rules) the table ``TABLE``
below gives a call exercising it and an input generator over a domain where
the function is smooth (positive for log/sqrt, (-1, 1) for arcsin, distinct
values for max/sort, well-conditioned or positive definite matrices for
linear algebra, points a few steps away from every kink), at two argument
ranks or shapes.  For each differentiable argument alone and for all of them
together, the tangent is compared with the complex step (h = 1e-30) when the
call is complex-analytic and with Ridders' extrapolated central differences
otherwise (``oracle.py``), in single mode and in vector mode (K = 2
directions at once).

A rule missing from ``TABLE`` fails ``test_every_rule_is_swept``, so new
rules get covered; ``SKIP`` lists the exceptions with a reason each.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

import numpy as np
import pytest

import oracle

fwdcompile = pytest.importorskip("fwdcompile")
from fwdcompile.rules.registry import _BUILTIN, _REGISTRY, CustomRule  # noqa: E402

K = 2
EW = ((4,), (3, 4))  # elementwise rules: a vector and a matrix


# --------------------------------------------------------------------------
# input generators: rng, variant -> value
# --------------------------------------------------------------------------

def _shape(shapes, v):
    return shapes[v] if shapes is not None else ()


def U(lo, hi, shapes=EW):
    """Uniform in [lo, hi); a float when the shape is ()."""
    def gen(rng, v):
        shape = _shape(shapes, v)
        return rng.uniform(lo, hi, shape) if shape else float(rng.uniform(lo, hi))
    return gen


def S(lo, hi, shapes=EW):
    """Magnitude in [lo, hi), random sign (kept away from 0)."""
    def gen(rng, v):
        shape = _shape(shapes, v)
        mag = rng.uniform(lo, hi, shape)
        sign = np.where(rng.uniform(size=shape) < 0.5, -1.0, 1.0)
        out = mag * sign
        return out if shape else float(out)
    return gen


def C(*values):
    """A constant per variant (indices, masks, sizes)."""
    return lambda rng, v: values[v] if len(values) > 1 else values[0]


def DISTINCT(shapes=EW):
    """Entries at least 0.3 apart (no near-ties for max/min/sort)."""
    def gen(rng, v):
        shape = shapes[v]
        n = int(np.prod(shape))
        return (rng.permutation(n) * 0.4 - 0.2 * n + rng.uniform(0, 0.1, n)).reshape(shape)
    return gen


def WELL(shapes):
    """Well-conditioned square matrices: identity plus a small perturbation."""
    def gen(rng, v):
        shape = shapes[v]
        return np.eye(shape[-1]) * 2.0 + 0.3 * rng.standard_normal(shape)
    return gen


def SPD(shapes):
    """Symmetric positive definite with well-separated eigenvalues."""
    def gen(rng, v):
        shape = shapes[v]
        n = shape[-1]
        q, _ = np.linalg.qr(rng.standard_normal(shape))
        lam = np.arange(1, n + 1, dtype=float) * 1.5
        return (q * lam[..., None, :]) @ np.swapaxes(q, -1, -2)
    return gen


def RECT(shapes):
    """Full-rank rectangular matrices."""
    def gen(rng, v):
        shape = shapes[v]
        base = np.zeros(shape)
        n = min(shape[-2:])
        idx = np.arange(n)
        base[..., idx, idx] = 2.0
        return base + 0.3 * rng.standard_normal(shape)
    return gen


def SEPARATED(shapes):
    """Rectangular matrices with well-separated singular values (1.5, 3, 4.5, ...)."""
    def gen(rng, v):
        shape = shapes[v]
        m, n = shape[-2:]
        k = min(m, n)
        u, _ = np.linalg.qr(rng.standard_normal(shape[:-2] + (m, k)))
        w, _ = np.linalg.qr(rng.standard_normal(shape[:-2] + (n, k)))
        return (u * (np.arange(1, k + 1) * 1.5)) @ np.swapaxes(w, -1, -2)
    return gen


def AWAY(shapes=EW):
    """x and y with x/y at least 0.2 from an integer, both positive (mod, fmod)."""
    def gen(rng, v):
        shape = _shape(shapes, v)
        y = rng.uniform(1.5, 2.5, shape)
        x = y * (rng.integers(0, 3, shape) + rng.uniform(0.2, 0.8, shape))
        return (x, y) if shape else (float(x), float(y))
    return gen


def PAIR_APART(shapes=EW, gap=0.3):
    """x and y at least ``gap`` apart (selections: maximum, fmin, ...)."""
    def gen(rng, v):
        shape = _shape(shapes, v)
        x = rng.uniform(-2, 2, shape)
        y = x + np.where(rng.uniform(size=shape) < 0.5, -1, 1) * rng.uniform(gap, 1.0, shape)
        return (x, y) if shape else (float(x), float(y))
    return gen


@dataclass
class Spec:
    """``expr`` (or one per variant) over the names in ``args``; ``diff``: the
    arguments whose tangents are checked; ``pairs``: generators giving two
    arguments at once (names "x y" -> generator of (x, y))."""

    expr: str | tuple
    args: dict = field(default_factory=dict)
    diff: str = "x"
    cs: bool = False  # complex-analytic: checked by the complex step
    rtol: float = 1e-7
    pairs: dict = field(default_factory=dict)
    variants: int = 2
    in_tuple: str = ""  # arguments passed inside a tuple: vector mode runs per direction

    def expression(self, v):
        return self.expr if isinstance(self.expr, str) else self.expr[v]

    def params(self):
        names = list(self.args)
        for joint in self.pairs:
            names.extend(joint.split())
        return names

    def make(self, rng, v):
        values = {name: gen(rng, v) for name, gen in self.args.items()}
        for joint, gen in self.pairs.items():
            values.update(zip(joint.split(), gen(rng, v)))
        return [values[name] for name in self.params()]


def unary(call, gen=None, cs=True, **kw):
    return Spec(f"{call}(x)", {"x": gen or U(-2, 2)}, cs=cs, **kw)


def munary(call, lo=-2.0, hi=2.0, signed=False, **kw):
    """A math-module function: scalars at two points (math has no arrays)."""
    gen = S(lo, hi, None) if signed else U(lo, hi, None)
    return Spec(f"{call}(x)", {"x": gen}, **kw)


def binary(expr, x, y, cs=True, diff="x y", **kw):
    return Spec(expr, {"x": x, "y": y}, diff=diff, cs=cs, **kw)


SH = ((3,), (3, 4))
MAT = ((3, 4), (2, 3, 4))
SQ = ((3, 3), (2, 3, 3))

TABLE = {
    # ---------------------------------------------------------------- builtins
    "builtins.abs": Spec(("abs(x)", "abs(x) * 2.0"), {"x": S(0.3, 2, None)}),
    "builtins.pow": binary(("pow(x, y)", "pow(x, 3)"), U(0.5, 2, None), U(-1.5, 1.5, None)),
    "builtins.max": Spec(("max(x, y)", "max(x, y, x * y)"), pairs={"x y": PAIR_APART(None)},
                         diff="x y"),
    "builtins.min": Spec(("min(x, y)", "min(x, y, x * y)"), pairs={"x y": PAIR_APART(None)},
                         diff="x y"),
    "builtins.sum": Spec(("sum([x, y, x * y])", "sum(x)"),
                         {"x": U(-2, 2, ((), (4,))), "y": U(-2, 2, None)}, diff="x y", cs=True),
    "builtins.float": Spec(("float(x)", "float(x[1]) * x"), {"x": U(-2, 2, ((), (3,)))}),
    # ---------------------------------------------------------------- math (scalars)
    "math.sqrt": munary("math.sqrt", 0.2, 3),
    "math.exp": munary("math.exp"),
    "math.expm1": munary("math.expm1"),
    "math.log": Spec(("math.log(x)", "math.log(x, y)"), {"x": U(0.2, 3, None),
                                                         "y": U(1.5, 4, None)}, diff="x y"),
    "math.log1p": munary("math.log1p", -0.5, 2),
    "math.log2": munary("math.log2", 0.2, 3),
    "math.log10": munary("math.log10", 0.2, 3),
    "math.pow": binary(("math.pow(x, y)", "math.pow(x, 2.5)"), U(0.5, 2, None),
                       U(-1.5, 1.5, None), cs=False),
    "math.sin": munary("math.sin"),
    "math.cos": munary("math.cos"),
    "math.tan": munary("math.tan", -1, 1),
    "math.asin": munary("math.asin", -0.9, 0.9),
    "math.acos": munary("math.acos", -0.9, 0.9),
    "math.atan": munary("math.atan"),
    "math.atan2": Spec("math.atan2(y, x)", {"y": S(0.3, 2, None), "x": S(0.3, 2, None)},
                       diff="y x"),
    "math.sinh": munary("math.sinh"),
    "math.cosh": munary("math.cosh"),
    "math.tanh": munary("math.tanh"),
    "math.asinh": munary("math.asinh"),
    "math.acosh": munary("math.acosh", 1.2, 3),
    "math.atanh": munary("math.atanh", -0.9, 0.9),
    "math.erf": munary("math.erf"),
    "math.erfc": munary("math.erfc"),
    "math.hypot": binary("math.hypot(x, y)", S(0.3, 2, None), S(0.3, 2, None), cs=False),
    "math.fabs": munary("math.fabs", 0.3, 2, signed=True),
    "math.copysign": binary("math.copysign(x, y)", S(0.3, 2, None), S(0.3, 2, None), cs=False),
    "math.fmod": Spec("math.fmod(x, y)", pairs={"x y": AWAY(None)}, diff="x y"),
    "math.degrees": munary("math.degrees"),
    "math.radians": munary("math.radians"),
    "math.lgamma": munary("math.lgamma", 0.5, 4),
    "math.gamma": munary("math.gamma", 0.5, 4),
    "math.exp2": munary("math.exp2"),
    "math.cbrt": munary("math.cbrt", 0.3, 3, signed=True),
    # ---------------------------------------------------------------- numpy elementwise
    "numpy.sin": unary("np.sin"),
    "numpy.cos": unary("np.cos"),
    "numpy.tan": unary("np.tan", U(-1, 1)),
    "numpy.arcsin": unary("np.arcsin", U(-0.9, 0.9)),
    "numpy.arccos": unary("np.arccos", U(-0.9, 0.9)),
    "numpy.arctan": unary("np.arctan"),
    "numpy.sinh": unary("np.sinh"),
    "numpy.cosh": unary("np.cosh"),
    "numpy.tanh": unary("np.tanh"),
    "numpy.arcsinh": unary("np.arcsinh"),
    "numpy.arccosh": unary("np.arccosh", U(1.2, 3)),
    "numpy.arctanh": unary("np.arctanh", U(-0.9, 0.9)),
    "numpy.exp": unary("np.exp"),
    "numpy.exp2": unary("np.exp2"),
    "numpy.expm1": unary("np.expm1"),
    "numpy.log": unary("np.log", U(0.2, 3)),
    "numpy.log2": unary("np.log2", U(0.2, 3)),
    "numpy.log10": unary("np.log10", U(0.2, 3)),
    "numpy.log1p": unary("np.log1p", U(-0.5, 2)),
    "numpy.sqrt": unary("np.sqrt", U(0.2, 3)),
    "numpy.cbrt": unary("np.cbrt", S(0.3, 3), cs=False),  # no complex cbrt
    "numpy.square": unary("np.square"),
    "numpy.reciprocal": unary("np.reciprocal", S(0.3, 2)),
    "numpy.absolute": unary("np.abs", S(0.3, 2), cs=False),
    "numpy.fabs": unary("np.fabs", S(0.3, 2), cs=False),
    "numpy.negative": unary("np.negative"),
    "numpy.positive": unary("np.positive"),
    "numpy.deg2rad": unary("np.deg2rad", cs=False),  # no complex loops
    "numpy.rad2deg": unary("np.rad2deg", cs=False),  # no complex loops
    "numpy.degrees": unary("np.degrees", cs=False),  # no complex loops
    "numpy.radians": unary("np.radians", cs=False),  # no complex loops
    "numpy.sinc": unary("np.sinc", U(-2, 2), cs=False),
    "numpy.add": binary("np.add(x, y)", U(-2, 2), U(-2, 2)),
    "numpy.subtract": binary("np.subtract(x, y)", U(-2, 2), U(-2, 2)),
    "numpy.divide": binary("np.divide(x, y)", U(-2, 2), S(0.3, 2)),
    "numpy.power": binary(("np.power(x, y)", "np.power(x, 3)"), U(0.5, 2), U(-1.5, 1.5)),
    "numpy.float_power": binary("np.float_power(x, y)", U(0.5, 2), U(-1.5, 1.5)),
    "numpy.arctan2": binary("np.arctan2(x, y)", S(0.3, 2), S(0.3, 2), cs=False),
    "numpy.hypot": binary("np.hypot(x, y)", S(0.3, 2), S(0.3, 2), cs=False),
    "numpy.logaddexp": binary("np.logaddexp(x, y)", U(-2, 2), U(-2, 2), cs=False),
    "numpy.logaddexp2": binary("np.logaddexp2(x, y)", U(-2, 2), U(-2, 2), cs=False),
    "numpy.remainder": Spec(("np.remainder(x, y)", "np.mod(x, y)"), pairs={"x y": AWAY()},
                            diff="x y"),
    "numpy.fmod": Spec("np.fmod(x, y)", pairs={"x y": AWAY()}, diff="x y"),
    "numpy.copysign": binary("np.copysign(x, y)", S(0.3, 2), S(0.3, 2), cs=False),
    "numpy.heaviside": Spec("np.heaviside(x1, x2)", {
        "x1": C(np.array([0.0, 1.5, 0.0, -0.7]), np.array([[0.0, 1.0], [-2.0, 0.0]])),
        "x2": U(-2, 2, ((4,), (2, 2)))}, diff="x2"),  # x1: a jump at 0, else flat
    "numpy.bincount": Spec(("np.bincount(i, weights=x)", "np.bincount(i, x, minlength=6)"), {
        "i": C(np.array([0, 2, 2, 3]), np.array([1, 1, 4])), "x": U(-2, 2, ((4,), (3,)))}),
    "numpy.multiply": binary("np.multiply(x, y)", U(-2, 2), U(-2, 2)),
    "numpy.maximum": Spec("np.maximum(x, y)", pairs={"x y": PAIR_APART()}, diff="x y"),
    "numpy.minimum": Spec("np.minimum(x, y)", pairs={"x y": PAIR_APART()}, diff="x y"),
    "numpy.fmax": Spec("np.fmax(x, y)", pairs={"x y": PAIR_APART()}, diff="x y"),
    "numpy.fmin": Spec("np.fmin(x, y)", pairs={"x y": PAIR_APART()}, diff="x y"),
    "numpy.clip": Spec(("np.clip(a, lo, hi)", "np.clip(a, lo, 0.5)"), {
        "a": C(np.array([-1.0, -0.1, 0.2, 1.3]), np.array([[-1.0, 0.0], [0.9, -0.2]])),
        "lo": U(-0.6, -0.4, ((4,), (2, 2))), "hi": U(0.4, 0.6, ((4,), ()))},
        diff="a lo hi"),
    "numpy.where": Spec("np.where(c, x, y)", {
        "c": C(np.array([True, False, True, False]), np.array([[True, False], [False, True]])),
        "x": U(-2, 2, ((4,), (2, 2))), "y": U(-2, 2, ((4,), (2, 2)))}, diff="x y", cs=True),
    # ---------------------------------------------------------------- reductions
    "numpy.sum": Spec(("np.sum(x)", "np.sum(x, axis=1)"), {"x": U(-2, 2)}, cs=True),
    "numpy.mean": Spec(("np.mean(x)", "np.mean(x, axis=0, keepdims=True)"), {"x": U(-2, 2)},
                       cs=True),
    "numpy.nansum": Spec(("np.nansum(x)", "np.nansum(x, axis=0)"), {"x": U(-2, 2)}),
    "numpy.cumsum": Spec(("np.cumsum(x)", "np.cumsum(x, axis=1)"), {"x": U(-2, 2)}, cs=True),
    "numpy.trace": Spec(("np.trace(x)", "np.trace(x, offset=1)"), {"x": U(-2, 2, SQ)}, cs=True),
    "numpy.diff": Spec(("np.diff(x)", "np.diff(x, n=2, axis=0)"), {"x": U(-2, 2, ((5,), (4, 3)))},
                       cs=True),
    "numpy.max": Spec(("np.max(x)", "np.max(x, axis=1)"), {"x": DISTINCT()}),
    "numpy.amax": Spec(("np.amax(x)", "np.amax(x, axis=0, keepdims=True)"), {"x": DISTINCT()}),
    "numpy.min": Spec(("np.min(x)", "np.min(x, axis=1)"), {"x": DISTINCT()}),
    "numpy.amin": Spec(("np.amin(x)", "np.amin(x, axis=0)"), {"x": DISTINCT()}),
    "numpy.prod": Spec(("np.prod(x)", "np.prod(x, axis=0)"), {"x": U(0.5, 1.5)}, cs=True),
    "numpy.cumprod": Spec(("np.cumprod(x)", "np.cumprod(x, axis=1)"), {"x": U(0.5, 1.5)},
                          cs=True),
    "numpy.var": Spec(("np.var(x)", "np.var(x, axis=1, ddof=1)"), {"x": U(-2, 2)}),
    "numpy.std": Spec(("np.std(x)", "np.std(x, axis=0, keepdims=True)"), {"x": U(-2, 2)}),
    "numpy.linalg.norm": Spec((
        "np.linalg.norm(x) + np.linalg.norm(x, 3) + np.linalg.norm(x, np.inf)"
        " + np.linalg.norm(x, -np.inf) + np.linalg.norm(x, 1) + np.linalg.norm(x, 0.5)",
        "np.linalg.norm(x, 'nuc') + np.linalg.norm(x, 2) + np.linalg.norm(x, -2)"
        " + np.linalg.norm(x, 1) + np.linalg.norm(x, np.inf) + np.linalg.norm(x)"
        " + np.sum(np.linalg.norm(x, 3, axis=0)) + np.sum(np.linalg.norm(x, axis=1))"),
        {"x": S(0.3, 2, ((5,), (3, 4)))}),
    "numpy.sort": Spec(("np.sort(x)", "np.sort(x, axis=0)"), {"x": DISTINCT()}),
    "numpy.partition": Spec(("np.partition(x, 2)", "np.partition(x, (0, 2), axis=0)"),
                            {"x": DISTINCT()}),
    # ---------------------------------------------------------------- products, linear algebra
    "numpy.dot": binary(("np.dot(x, y) + np.dot([x[0], y[1]], [y[0], x[1]])", "np.dot(x, y)"),
                        U(-2, 2, ((4,), (3, 4))), U(-2, 2, ((4,), (4, 2)))),
    "numpy.matmul": binary("np.matmul(x, y)", U(-2, 2, ((4,), (2, 3, 4))),
                           U(-2, 2, ((4, 2), (4, 2)))),
    "numpy.inner": binary("np.inner(x, y)", U(-2, 2, ((4,), (3, 4))), U(-2, 2, ((4,), (2, 4)))),
    "numpy.vdot": binary("np.vdot(x, y)", U(-2, 2, ((4,), (2, 3))), U(-2, 2, ((4,), (2, 3))),
                         cs=False),  # conjugates x
    "numpy.outer": binary("np.outer(x, y)", U(-2, 2, ((3,), (2, 2))), U(-2, 2, ((4,), (3,)))),
    "numpy.kron": binary("np.kron(x, y)", U(-2, 2, ((2,), (2, 2))), U(-2, 2, ((3,), (2, 3)))),
    "numpy.cross": binary("np.cross(x, y)", U(-2, 2, ((3,), (4, 3))), U(-2, 2, ((3,), (4, 3)))),
    "numpy.tensordot": binary(("np.tensordot(x, y, axes=1)", "np.tensordot(x, y)"),
                              U(-2, 2, ((3, 4), (2, 3, 4))), U(-2, 2, ((4, 2), (3, 4, 2)))),
    "numpy.einsum": binary(("np.einsum('ij,jk->ik', x, y)",
                            "np.einsum('i,i->', x, y) + np.einsum(x, [0], y, [0], [])"
                            " + np.einsum('i,i', [x[0], y[1]], y[:2])"),
                           U(-2, 2, ((3, 4), (4,))), U(-2, 2, ((4, 2), (4,)))),
    "numpy.linalg.solve": binary("np.linalg.solve(x, y)", WELL(SQ),
                                 U(-2, 2, ((3,), (2, 3, 2)))),
    "numpy.linalg.inv": unary("np.linalg.inv", WELL(SQ)),
    "numpy.linalg.det": unary("np.linalg.det", WELL(SQ)),
    "numpy.linalg.cholesky": unary("np.linalg.cholesky", SPD(SQ), cs=False),
    "numpy.linalg.eigvalsh": Spec(("np.linalg.eigvalsh(x)", "np.linalg.eigvalsh(x, UPLO='U')"),
                                  {"x": SPD(SQ)}),
    "numpy.linalg.eigh": Spec(("np.linalg.eigh(x)[0], np.linalg.eigh(x)[1]",
                               "np.linalg.eigh(x, UPLO='U')[1] * 2.0"), {"x": SPD(SQ)}),
    "numpy.linalg.svd": Spec((
        "np.linalg.svd(x), np.linalg.svd(x, compute_uv=False)",  # and below: M > N, M < N
        "np.linalg.svd(x, full_matrices=False), np.linalg.svd(x.T, full_matrices=False)[1],"
        " np.linalg.svd(x.T, full_matrices=False)[0] ** 2,"  # squares: LAPACK may flip
        " np.linalg.svd(x.T, full_matrices=False)[2] ** 2,"  # signs within Ridders' steps
        " np.linalg.svd(x)[0][..., :3], np.linalg.svd(x)[1], np.linalg.svd(x.T)[1],"
        " np.linalg.svd(x.T)[2][..., :3, :] ** 2"),
        {"x": SEPARATED(((3, 3), (2, 4, 3)))}),
    "numpy.linalg.qr": Spec(("np.linalg.qr(x), np.linalg.qr(x, mode='r')",
                             "np.linalg.qr(x), np.linalg.qr(x[..., :3, :], 'complete')"),
                            {"x": RECT(((3, 3), (2, 4, 3)))}),
    "numpy.linalg.lstsq": binary(("np.linalg.lstsq(x, y)[0], np.linalg.lstsq(x, y)[1]",
                                  "np.linalg.lstsq(x, y)"),
                                 RECT(((4, 3), (3, 4))), U(-2, 2, ((4,), (3, 2))),
                                 cs=False),  # conjugates
    "numpy.linalg.matrix_power": Spec((
        "np.linalg.matrix_power(x, 3)",
        "np.linalg.matrix_power(x, -2) + np.linalg.matrix_power(x, 1)"
        " + np.linalg.matrix_power(x, 0)"), {"x": WELL(SQ)}, cs=True),
    "numpy.linalg.multi_dot": binary(("np.linalg.multi_dot([x, y, y.T])",
                                      "np.linalg.multi_dot([y, x, x])"),
                                     U(-2, 2, ((3, 4), (3, 3))), U(-2, 2, ((4, 2), (2, 3)))),
    "numpy.linalg.pinv": unary("np.linalg.pinv", RECT(((4, 3), (2, 3, 4))), cs=False),
    "numpy.linalg.slogdet": Spec("np.linalg.slogdet(x)[1]", {"x": WELL(SQ)}),
    "numpy.convolve": binary(("np.convolve(x, y)", "np.convolve(x, y, mode='same')"),
                             U(-2, 2, ((4,), (5,))), U(-2, 2, ((3,), (2,)))),
    "numpy.correlate": binary(("np.correlate(x, y)", "np.correlate(x, y, mode='full')"),
                              U(-2, 2, ((4,), (5,))), U(-2, 2, ((3,), (2,))),
                              cs=False),  # conjugates y
    "numpy.polyval": binary("np.polyval(x, y)", U(-2, 2, ((3,), (4,))), U(-2, 2, ((4,), (3, 4)))),
    "numpy.interp": Spec("np.interp(x, xp, fp)", {
        "x": C(np.array([0.15, 0.4, 0.65, 0.9]), np.array([[0.15, 0.55], [0.35, 0.85]])),
        "xp": C(np.array([0.0, 0.3, 0.5, 0.8, 1.0])), "fp": U(-2, 2, ((5,), (5,)))},
        diff="x fp"),
    # ---------------------------------------------------------------- shapes and copies
    "numpy.reshape": Spec(("np.reshape(x, (2, 6))", "np.reshape(x, -1)"),
                          {"x": U(-2, 2, ((3, 4), (2, 3, 2)))}, cs=True),
    "numpy.transpose": Spec(("np.transpose(x)", "np.transpose(x, (1, 2, 0))"),
                            {"x": U(-2, 2, MAT)}, cs=True),
    "numpy.swapaxes": Spec("np.swapaxes(x, 0, 1)", {"x": U(-2, 2, MAT)}, cs=True),
    "numpy.moveaxis": Spec("np.moveaxis(x, 0, -1)", {"x": U(-2, 2, MAT)}, cs=True),
    "numpy.ravel": unary("np.ravel", U(-2, 2, MAT)),
    "numpy.squeeze": unary("np.squeeze", U(-2, 2, ((3, 1), (1, 3, 1)))),
    "numpy.expand_dims": Spec("np.expand_dims(x, 1)", {"x": U(-2, 2, EW)}, cs=True),
    "numpy.atleast_1d": unary("np.atleast_1d", U(-2, 2, ((), (3,)))),
    "numpy.atleast_2d": unary("np.atleast_2d", U(-2, 2, ((), (3,)))),
    "numpy.flip": Spec(("np.flip(x)", "np.flip(x, axis=1)"), {"x": U(-2, 2)}, cs=True),
    "numpy.fliplr": unary("np.fliplr", U(-2, 2, MAT)),
    "numpy.flipud": unary("np.flipud", U(-2, 2, EW)),
    "numpy.roll": Spec(("np.roll(x, 1)", "np.roll(x, -1, axis=1)"), {"x": U(-2, 2)}, cs=True),
    "numpy.tile": Spec(("np.tile(x, 2)", "np.tile(x, (2, 1))"), {"x": U(-2, 2)}, cs=True),
    "numpy.repeat": Spec(("np.repeat(x, 2)", "np.repeat(x, 2, axis=0)"), {"x": U(-2, 2)},
                         cs=True),
    "numpy.broadcast_to": Spec(("np.broadcast_to(x, (3, 4))", "np.broadcast_to(x, (2, 3, 4))"),
                               {"x": U(-2, 2, ((4,), (3, 1)))}, cs=True),
    "numpy.lib.stride_tricks.sliding_window_view": Spec(
        ("np.lib.stride_tricks.sliding_window_view(x, 2)",
         "np.lib.stride_tricks.sliding_window_view(x, (2, 2))"),
        {"x": U(-2, 2, ((4,), (3, 4)))}, cs=True),
    "numpy.concatenate": binary(("np.concatenate([x, y])", "np.concatenate((x, y), axis=1)"),
                                U(-2, 2), U(-2, 2, ((2,), (3, 2)))),
    "numpy.stack": binary(("np.stack([x, y])", "np.stack((x, y), axis=1)"), U(-2, 2), U(-2, 2)),
    "numpy.vstack": binary("np.vstack([x, y])", U(-2, 2), U(-2, 2)),
    "numpy.hstack": binary("np.hstack((x, y))", U(-2, 2), U(-2, 2)),
    "numpy.column_stack": binary("np.column_stack([x, y])", U(-2, 2), U(-2, 2)),
    "numpy.rollaxis": Spec(("np.rollaxis(x, 1)", "np.rollaxis(x, 2, 1)"), {"x": U(-2, 2, MAT)},
                           cs=True),
    "numpy.atleast_3d": Spec(("np.atleast_3d(x, y)", "np.atleast_3d(y, x)[1] * 2.0"),
                             {"x": U(-2, 2, ((3,), (3, 4))), "y": U(-2, 2, ((), (2,)))},
                             diff="x y", cs=True),
    "numpy.rot90": Spec(("np.rot90(x)", "np.rot90(x, 3, axes=(1, 2))"), {"x": U(-2, 2, MAT)},
                        cs=True),
    "numpy.row_stack": binary("np.row_stack([x, y])", U(-2, 2), U(-2, 2)),
    "numpy.append": binary(("np.append(x, y)", "np.append(x, y, axis=0)"), U(-2, 2),
                           U(-2, 2, ((2,), (2, 4)))),
    "numpy.split": Spec(("np.split(x, 2)", "np.split(x, [1, 3], axis=1)[1] * 2.0"),
                        {"x": U(-2, 2)}, cs=True),
    "numpy.array_split": Spec(("np.array_split(x, 3)", "np.array_split(x, 3, axis=1)"),
                              {"x": U(-2, 2)}, cs=True),
    "numpy.hsplit": Spec(("np.hsplit(x, 2)", "np.hsplit(x, [1])"), {"x": U(-2, 2)}, cs=True),
    "numpy.vsplit": Spec("np.vsplit(x, [1, 2])", {"x": U(-2, 2, ((3, 2), (4, 3)))}, cs=True),
    "numpy.dsplit": Spec("np.dsplit(x, 2)", {"x": U(-2, 2, ((2, 3, 4), (1, 2, 2)))}, cs=True),
    "numpy.gradient": Spec(("np.gradient(x)", "np.gradient(x, 0.5, 2.0, edge_order=2)"),
                           {"x": U(-2, 2, ((5,), (3, 4)))}, cs=True),
    "numpy.select": Spec(("np.select([c, ~c], [x, y])", "np.select([c], [x], y)"), {
        "c": C(np.array([True, False, True, False]), np.array([[True, False], [False, True]])),
        "x": U(-2, 2, ((4,), (2, 2))), "y": U(-2, 2, ((4,), (2, 2)))}, diff="x y", cs=True),
    "numpy.pad": Spec(("np.pad(x, 1) + np.pad(x, (2, 0), constant_values=y)",
                       "np.pad(x, ((1, 0), (2, 1)), constant_values=y)"
                       " + np.pad(x, ((1, 0), (2, 1)), mode='linear_ramp', end_values=y)"
                       " + np.pad(x, ((1, 0), (2, 1)), mode='edge')"
                       " + np.pad(x, ((1, 0), (2, 1)), mode='wrap')"
                       " + np.pad(x, ((1, 0), (2, 1)), mode='reflect', reflect_type='odd')"
                       " + np.pad(x, ((1, 0), (2, 1)), mode='symmetric')"
                       " + np.pad(x, ((1, 0), (2, 1)), mode='mean', stat_length=2)"),
                      {"x": U(-2, 2), "y": U(-2, 2, ((), ()))},
                      diff="x y"),  # not the complex step: pad casts y to x's dtype
    "numpy.angle": Spec(("np.angle(x * (1 + 2j) + y)",
                         "np.angle(x, deg=True) + np.angle(x * y * 1j)"),
                        {"x": S(0.3, 2), "y": S(0.3, 2)}, diff="x y"),
    "numpy.nan_to_num": Spec(("np.nan_to_num(x)", "np.nan_to_num(x * c, posinf=3.0)"), {
        "x": S(0.3, 2, ((4,), (2, 2))),
        "c": C(None, np.array([[np.inf, 1.0], [-np.inf, np.nan]]))}, diff="x"),
    "numpy.triu": Spec(("np.triu(x)", "np.triu(x, 1)"), {"x": U(-2, 2, ((3, 4), (2, 3, 3)))},
                       cs=True),
    "numpy.tril": Spec(("np.tril(x)", "np.tril(x, -1)"), {"x": U(-2, 2, ((3, 4), (2, 3, 3)))},
                       cs=True),
    "numpy.diag": Spec(("np.diag(x)", "np.diag(x, 1)"), {"x": U(-2, 2, ((4,), (3, 3)))},
                       cs=True),
    "numpy.diagonal": Spec(("np.diagonal(x)", "np.diagonal(x, 1, 1, 2)"), {"x": U(-2, 2, SQ)},
                           cs=True),
    "numpy.take": Spec(("np.take(x, i)", "np.take(x, i, axis=1)"),
                       {"x": U(-2, 2), "i": C(np.array([3, 0, 0, 2]), np.array([1, 3]))},
                       cs=True),
    "numpy.take_along_axis": Spec("np.take_along_axis(x, i, axis=-1)", {
        "x": U(-2, 2), "i": C(np.array([3, 0, 0]), np.array([[1, 0], [3, 3], [2, 0]]))}, cs=True),
    "numpy.real": Spec("np.real(x * (1 + 2j))", {"x": U(-2, 2)}),
    "numpy.imag": Spec("np.imag(x * (1 + 2j))", {"x": U(-2, 2)}),
    "numpy.conjugate": Spec("np.real(np.conjugate(x * (1 + 2j)) * (2 - 1j))", {"x": U(-2, 2)}),
    "numpy.copy": unary("np.copy"),
    "numpy.array": binary(("np.array([x, y])", "np.array(x)"), U(-2, 2, ((), (3, 4))),
                          U(-2, 2, None)),
    "numpy.asarray": unary("np.asarray"),
    "numpy.ascontiguousarray": Spec("np.ascontiguousarray(x.T)", {"x": U(-2, 2)}, cs=True),
    "numpy.float64": unary("np.float64", U(-2, 2, ((), (3,))), cs=False),
    # float32/float16 round: compared at their own precision
    "numpy.float32": unary("np.float32", U(-2, 2, ((), (3,))), cs=False, rtol=1e-4),
    "numpy.float16": unary("np.float16", U(-2, 2, ((), (3,))), cs=False, rtol=0.1),
    "numpy.longdouble": unary("np.longdouble", U(-2, 2, ((), (3,))), cs=False),
    "numpy.complex128": Spec("np.real(np.complex128(x) * (1 - 2j))", {"x": U(-2, 2, ((), (3,)))}),
    "numpy.complex64": Spec("np.real(np.complex64(x) * (1 - 2j))", {"x": U(-2, 2, ((), (3,)))},
                            rtol=1e-4),
    "numpy.full": Spec(("np.full(3, x)", "np.full((2, 3), x)"), {"x": U(-2, 2, ((), (3,)))},
                       cs=True),
    "numpy.full_like": Spec("np.full_like(y, x)", {"x": U(-2, 2, ((), (4,))),
                                                   "y": U(-2, 2, ((3,), (3, 4)))}),
    "numpy.linspace": binary(("np.linspace(x, y, 5)", "np.linspace(x, y, 4, endpoint=False)"),
                             U(-2, 2, ((), (3,))), U(3, 4, ((), (3,)))),
    "numpy.meshgrid": binary(("np.meshgrid(x, y)[0] * 2.0", "np.meshgrid(x, y, indexing='ij')"),
                             U(-2, 2, ((3,), (2,))), U(-2, 2, ((4,), (3,)))),
    "numpy.logspace": binary(("np.logspace(x, y, 5)", "np.logspace(x, y, 3, base=2.0)"),
                             U(-1, 1, ((), (3,))), U(1, 2, ((), (3,)))),
    # ---------------------------------------------------------------- operators
    "gast.gast.Add": binary("x + y", U(-2, 2), U(-2, 2)),
    "gast.gast.Sub": binary("x - y", U(-2, 2), U(-2, 2)),
    "gast.gast.Div": binary("x / y", U(-2, 2), S(0.3, 2)),
    "gast.gast.Pow": binary(("x ** y", "x ** 3 + x ** -1.5"), U(0.5, 2), U(-1.5, 1.5)),
    "gast.gast.Mod": Spec("x % y", pairs={"x y": AWAY()}, diff="x y"),
    "gast.gast.Mult": binary(("x * y", "x * x"), U(-2, 2), U(-2, 2)),
    "gast.gast.MatMult": binary("x @ y", U(-2, 2, ((4,), (2, 3, 4))), U(-2, 2, ((4, 3), (4, 2)))),
    "gast.gast.USub": unary("-", U(-2, 2)),
    "gast.gast.UAdd": unary("+", U(-2, 2)),
}

HAVE_SCIPY = importlib.util.find_spec("scipy") is not None
SPS, LA, NORM = "scipy.special.", "scipy.linalg.", "scipy.stats.norm."
if HAVE_SCIPY:  # rules/scipy_fns.py registers these only where scipy imports
    TABLE.update({
        # ------------------------------------------------------------ scipy.special
        SPS + "gammaln": unary(SPS + "gammaln", U(0.5, 4), cs=False),
        SPS + "digamma": unary(SPS + "digamma", U(0.5, 4), cs=False),
        SPS + "polygamma": Spec((f"{SPS}polygamma(2, x)", f"{SPS}polygamma(0, x) * 2.0"),
                                {"x": U(0.5, 4)}),
        SPS + "expit": unary(SPS + "expit", U(-3, 3), cs=False),
        SPS + "logit": unary(SPS + "logit", U(0.1, 0.9), cs=False),
        SPS + "erf": unary(SPS + "erf", cs=False),
        SPS + "erfc": unary(SPS + "erfc", cs=False),
        SPS + "erfinv": unary(SPS + "erfinv", U(-0.9, 0.9), cs=False),
        SPS + "ndtr": unary(SPS + "ndtr", U(-3, 3), cs=False),
        SPS + "log_ndtr": unary(SPS + "log_ndtr", U(-6, 3), cs=False),
        SPS + "xlogy": binary(f"{SPS}xlogy(x, y)", U(0.2, 2), U(0.2, 3), cs=False),
        SPS + "xlog1py": binary(f"{SPS}xlog1py(x, y)", U(0.2, 2), U(-0.5, 2), cs=False),
        SPS + "betaln": binary(f"{SPS}betaln(x, y)", U(0.5, 3), U(0.5, 3), cs=False),
        SPS + "logsumexp": binary((
            f"{SPS}logsumexp(x) + {SPS}logsumexp(x, b=y)",
            f"{SPS}logsumexp(x, axis=1, b=y, keepdims=True) + {SPS}logsumexp(x, axis=(0, 1))"),
            U(-2, 2), U(0.5, 2), cs=False),
        SPS + "softmax": Spec((f"{SPS}softmax(x)", f"{SPS}softmax(x, axis=1)"), {"x": U(-2, 2)}),
        SPS + "log_softmax": Spec((f"{SPS}log_softmax(x)", f"{SPS}log_softmax(x, axis=0)"),
                                  {"x": U(-2, 2)}),
        # ------------------------------------------------------------ scipy.linalg
        # random (non-symmetric) tangents: the references see only the triangle
        # LAPACK reads, as the rules must
        LA + "cholesky": Spec((f"{LA}cholesky(x)", f"{LA}cholesky(x, lower=True)"),
                              {"x": SPD(SQ)}),
        LA + "cho_factor": Spec((f"{LA}cho_factor(x)[0]", f"{LA}cho_factor(x, lower=True)[0]"),
                                {"x": SPD(((3, 3), (4, 4)))}),
        # the factors as arguments (x: any well-conditioned matrix, of which the
        # solvers read a triangle); composed with cho_factor / lu_factor in
        # tests/test_scipy_rules.py (those return tuples: no vector mode)
        LA + "cho_solve": binary((f"{LA}cho_solve((x, False), y)",
                                  f"{LA}cho_solve((x, True), y)"),
                                 WELL(((3, 3), (4, 4))), U(-2, 2, ((3,), (4, 2))), cs=False,
                                 in_tuple="x"),
        LA + "lu_factor": Spec(f"{LA}lu_factor(x)[0]", {"x": U(-2, 2, ((3, 3), (4, 4)))}),
        LA + "lu_solve": Spec((f"{LA}lu_solve((x, p), y)", f"{LA}lu_solve((x, p), y, trans=1)"),
                              {"x": WELL(((3, 3), (4, 4))), "y": U(-2, 2, ((3,), (4, 2))),
                               "p": C(np.array([2, 1, 2]), np.array([1, 3, 2, 3]))},
                              diff="x y", in_tuple="x"),
        LA + "solve_triangular": binary((
            f"{LA}solve_triangular(x, y)",
            f"{LA}solve_triangular(x, y, trans='T', lower=True, unit_diagonal=True)"),
            WELL(((3, 3), (3, 3))), U(-2, 2, ((3,), (3, 2))), cs=False),
        LA + "solve": binary((
            f"{LA}solve(x, y)",
            f"{LA}solve(x, y, assume_a='pos', lower=True) + {LA}solve(x, y, transposed=True)"
            f" + {LA}solve(x, y, assume_a='sym') + {LA}solve(x, y, assume_a='upper triangular')"),
            SPD(((3, 3), (4, 4))), U(-2, 2, ((3,), (4, 2))), cs=False),
        LA + "expm": Spec(f"{LA}expm(x)", {"x": U(-1, 1, SQ)}),
        LA + "logm": Spec(f"{LA}logm(x)", {"x": WELL(((3, 3), (4, 4)))}),
        # ------------------------------------------------------------ scipy.stats.norm
        NORM + "logpdf": Spec((f"{NORM}logpdf(x, loc=y) + {NORM}logpdf(x, scale=s)",
                               f"{NORM}logpdf(x, y, s)"),
                              {"x": U(-2, 2), "y": U(-1, 1), "s": U(0.5, 2)}, diff="x y s"),
        NORM + "cdf": Spec((f"{NORM}cdf(x, loc=y) + {NORM}cdf(x, scale=s)",
                            f"{NORM}cdf(x, y, s)"),
                           {"x": U(-2, 2), "y": U(-1, 1), "s": U(0.5, 2)}, diff="x y s"),
    })

# rules deliberately not swept, with the reason
SKIP: dict[str, str] = {}


def _builtin_rules():
    """Key -> rule for the differentiable rules fwdcompile ships: those of the
    registry that are not users' custom_jvp rules, and the built-in ones that
    a custom_jvp registered by another test module replaced."""
    rules = {key: rule for key, rule in _REGISTRY.items() if not isinstance(rule, CustomRule)}
    for key, rule in _BUILTIN.items():
        rules.setdefault(key, rule)
    return {key: rule for key, rule in rules.items() if rule.kind != "nondiff"}


def _rules():
    return sorted(rule.name for rule in _builtin_rules().values())


def _module(tmp_dir, name, spec):
    """Write one function per variant to a real .py file (fwdcompile reads source)."""
    params = ", ".join(spec.params())
    lines = ["import math", "import numpy as np", ""]
    if HAVE_SCIPY:
        lines[2:2] = ["import scipy.linalg", "import scipy.special", "import scipy.stats"]
    for v in range(spec.variants):
        lines += [f"def f{v}({params}):", f"    return {spec.expression(v)}", ""]
    ident = "sweep_" + name.replace(".", "_")
    path = tmp_dir / f"{ident}.py"
    path.write_text("\n".join(lines))
    loader = importlib.util.spec_from_file_location(ident, path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("sweep")


def test_every_rule_is_swept():
    rules = _rules()
    missing = [name for name in rules if name not in TABLE and name not in SKIP]
    assert not missing, f"rules with no entry in test_rule_sweep.TABLE: {missing}"
    stale = [name for name in list(TABLE) + list(SKIP) if name not in rules]
    assert not stale, f"TABLE/SKIP entries for rules that do not exist: {stale}"
    print(f"\nrule sweep: {len(TABLE)} of {len(rules)} differentiable rules swept, "
          f"{len(SKIP)} skipped")


def _tangent_like(rng, value):
    return rng.standard_normal(np.shape(value)) if np.ndim(value) else float(rng.standard_normal())


def _single(t, value):
    return t if np.ndim(value) else float(t)


def _wrt_sets(diff):
    names = diff.split()
    return [(n,) for n in names] + ([tuple(names)] if len(names) > 1 else [])


def _check(fn, args, params, wrt, spec, rng, label):
    positions = [params.index(w) for w in wrt]
    directions = [tuple(_tangent_like(rng, args[i]) for i in positions) for _ in range(K)]
    refs = [oracle.jvp_reference(fn, args, positions, d, complex_ok=spec.cs)[0]
            for d in directions]
    f = fwdcompile.forward_gradient(fn, wrt=wrt)
    value, tangent = f.jvp(*[np.copy(a) for a in args], tangents=directions[0])
    ok, worst = oracle.close(tangent, refs[0], rtol=spec.rtol)
    assert ok, f"{label} single: {worst}"
    stacked = tuple(np.stack([np.asarray(d[j], dtype=float) for d in directions])
                    for j in range(len(positions)))
    value_b, tangent_b = f.jvp(*[np.copy(a) for a in args], tangents=stacked, batched=True)
    for k in range(K):
        got = [np.asarray(leaf)[k] for leaf in oracle.leaves(tangent_b)]
        ok, worst = oracle.close(got, oracle.leaves(refs[k]), rtol=spec.rtol)
        assert ok, f"{label} batched direction {k}: {worst}"


@pytest.mark.parametrize("name", _rules())
def test_rule_matches_reference(name, sweep_dir, monkeypatch):
    if name in SKIP:
        pytest.skip(SKIP[name])
    for key, rule in _builtin_rules().items():  # the built-in rule, even if a test replaced it
        if rule.name == name:
            monkeypatch.setitem(_REGISTRY, key, rule)
    spec = TABLE.get(name)
    assert spec is not None, f"{name} has no entry in TABLE (add one, or a reasoned SKIP)"
    module = _module(sweep_dir, name, spec)
    params = spec.params()
    for v in range(spec.variants):
        rng = np.random.default_rng([v, sum(map(ord, name))])
        args = spec.make(rng, v)
        fn = getattr(module, f"f{v}")
        with np.errstate(all="ignore"):
            for wrt in _wrt_sets(spec.diff):
                _check(fn, args, params, wrt, spec, rng,
                       f"{name} variant {v} `{spec.expression(v)}` wrt {wrt}")


# the table's generators are used as intended (keeps the helpers honest)
def test_generators_avoid_kinks():
    rng = np.random.default_rng(0)
    x, y = AWAY()(rng, 1)
    frac = (x / y) % 1.0
    assert np.all((frac > 0.19) & (frac < 0.81))
    x, y = PAIR_APART()(rng, 1)
    assert np.all(np.abs(x - y) >= 0.3)
