"""Rules for numpy: elementwise functions, reductions, shape functions and
linear algebra.  Functions are named as attributes of ``numpy`` so that each
rule also knows how generated code spells it (``_np.<name>``).

Partials use ``x``/``y`` for the arguments and ``z`` for the result; a
per-argument template that mentions ``d`` is a linear map of that argument's
tangent (``solve(a, d)``) instead of a factor.
"""

import numpy as np

from .registry import (defjvp, deflinear, defmultilinear, defnondiff, defnorm, defpower,
                       deftemplate)


def _fn(path):
    obj = np
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def partials(path, sig, *parts, **facts):
    defjvp(_fn(path), sig, *parts, qualname="_np." + path, **facts)


def linear(path, sig, linear_args=None, batching="per_direction", **facts):
    deflinear(_fn(path), sig, "_np." + path, linear_args, batching, **facts)


def multilinear(path, sig, factors=None, batching="per_direction", **facts):
    defmultilinear(_fn(path), sig, "_np." + path, factors, batching, **facts)


def template(path, sig, expr, diff, batching="per_direction", **facts):
    deftemplate(_fn(path), sig, expr, diff, batching, **facts)


# batching (vector mode, see registry.BATCHING): partials are elementwise
# unless a partial is a linear map of ``d``; linear, multilinear and template
# rules batch direction by direction unless declared otherwise below
EW, RED, CON = "elementwise", "reduction", "contraction"
VIEW = {"view_of_first_arg": True}  # the result may share memory with the first argument


def nondiff(path, sig="*args, **kwargs", zero_derivative=True):
    defnondiff(_fn(path), sig, zero_derivative)


# ------------------------------------------------------------------ elementwise, one argument
#        function     signature  partial
partials("sin",       "x",  "_np.cos(x)")
partials("cos",       "x",  "-_np.sin(x)")
partials("tan",       "x",  "1 + z ** 2")
partials("arcsin",    "x",  "1 / _np.sqrt(1 - x ** 2)")
partials("arccos",    "x",  "-1 / _np.sqrt(1 - x ** 2)")
partials("arctan",    "x",  "1 / (1 + x ** 2)")
partials("sinh",      "x",  "_np.cosh(x)")
partials("cosh",      "x",  "_np.sinh(x)")
partials("tanh",      "x",  "1 - z ** 2")
partials("arcsinh",   "x",  "1 / _np.sqrt(x ** 2 + 1)")
partials("arccosh",   "x",  "1 / _np.sqrt(x ** 2 - 1)")
partials("arctanh",   "x",  "1 / (1 - x ** 2)")
partials("exp",       "x",  "z")
partials("exp2",      "x",  "0.6931471805599453 * z")
partials("expm1",     "x",  "z + 1")
partials("log",       "x",  "1 / x")
partials("log2",      "x",  "1 / (x * 0.6931471805599453)")
partials("log10",     "x",  "1 / (x * 2.302585092994046)")
partials("log1p",     "x",  "1 / (1 + x)")
partials("sqrt",      "x",  "0.5 / z")
partials("cbrt",      "x",  "1 / (3 * z ** 2)")
partials("square",    "x",  "2 * x")
partials("reciprocal", "x", "-z ** 2")
partials("abs",       "x",  "_np.sign(x)")
partials("absolute",  "x",  "_np.sign(x)")
partials("fabs",      "x",  "_np.sign(x)")
partials("negative",  "x",  "-1")
partials("positive",  "x",  "1")
partials("deg2rad",   "x",  "0.017453292519943295")
partials("rad2deg",   "x",  "57.29577951308232")
partials("degrees",   "x",  "57.29577951308232")
partials("radians",   "x",  "0.017453292519943295")
partials("sinc",      "x",  "_rt.sinc_derivative(x)")

# ------------------------------------------------------------------ elementwise, two arguments
#        function       signature  d/dx                     d/dy
partials("add",         "x, y",  "1",                       "1")
partials("subtract",    "x, y",  "1",                       "-1")
partials("divide",      "x, y",  "1 / y",                   "-z / y")
partials("true_divide", "x, y",  "1 / y",                   "-z / y")
defpower(np.power, "_np.power")
defpower(np.float_power, "_np.float_power")
partials("arctan2",     "x, y",  "y / (x ** 2 + y ** 2)",   "-x / (x ** 2 + y ** 2)")
partials("hypot",       "x, y",  "x / z",                   "y / z")
partials("logaddexp",   "x, y",  "_np.exp(x - z)",          "_np.exp(y - z)")
partials("logaddexp2",  "x, y",  "_np.exp2(x - z)",         "_np.exp2(y - z)")
partials("mod",         "x, y",  "1",                       "-_np.floor_divide(x, y)")
partials("remainder",   "x, y",  "1",                       "-_np.floor_divide(x, y)")
partials("fmod",        "x, y",  "1",                       "-_np.trunc(x / y)")
partials("copysign",    "x, y",  "_np.sign(x) * _np.sign(z)", "0")
multilinear("multiply", "x, y", batching=EW)

#        selections: a whole tangent template over x, y, d_x, d_y, z
template("maximum", "x, y", "_np.where(x >= y, d_x, d_y)", "x y", EW)
template("minimum", "x, y", "_np.where(x <= y, d_x, d_y)", "x y", EW)
template("fmax",    "x, y", "_np.where((x >= y) | _np.isnan(y), d_x, d_y)", "x y", EW)
template("fmin",    "x, y", "_np.where((x <= y) | _np.isnan(y), d_x, d_y)", "x y", EW)
template("clip",    "a, a_min=None, a_max=None",
         "_rt.clip_jvp(a, a_min, a_max, d_a, d_a_min, d_a_max)", "a a_min a_max", EW)
linear("where", "condition, x, y", "x y", EW, fresh_result=True)

# ------------------------------------------------------------------ reductions
_RED = "a, axis=None, dtype=None, out=None, keepdims=False"
linear("sum",     _RED, batching=RED)
linear("mean",    _RED, batching=RED)
linear("nansum",  _RED, batching=RED)
linear("cumsum",  "a, axis=None, dtype=None, out=None", batching="axis")
linear("trace",   "a, offset=0, axis1=0, axis2=1, dtype=None, out=None")
linear("diff",    "a, n=1, axis=-1", batching="axis")
template("max",   "a, axis=None, out=None, keepdims=False",
         "_rt.max_jvp(a, z, d_a, axis=axis, keepdims=keepdims)", "a",
         "extremum")
template("amax",  "a, axis=None, out=None, keepdims=False",
         "_rt.max_jvp(a, z, d_a, axis=axis, keepdims=keepdims)", "a",
         "extremum")
template("min",   "a, axis=None, out=None, keepdims=False",
         "_rt.max_jvp(a, z, d_a, axis=axis, keepdims=keepdims)", "a",
         "extremum")
template("amin",  "a, axis=None, out=None, keepdims=False",
         "_rt.max_jvp(a, z, d_a, axis=axis, keepdims=keepdims)", "a",
         "extremum")
template("prod",  "a, axis=None, dtype=None, out=None, keepdims=False",
         "_rt.prod_jvp(a, d_a, axis=axis, keepdims=keepdims)", "a")
template("cumprod", "a, axis=None, dtype=None, out=None",
         "_rt.cumprod_jvp(a, z, d_a, axis=axis)", "a",
         "axis", batched="_rt.cumprod_jvp(a, z, d_a, axis=axis, batched=True)")
template("var",   "a, axis=None, dtype=None, out=None, ddof=0, keepdims=False",
         "_rt.var_jvp(a, d_a, axis=axis, ddof=ddof, keepdims=keepdims)", "a")
template("std",   "a, axis=None, dtype=None, out=None, ddof=0, keepdims=False",
         "_rt.std_jvp(a, z, d_a, axis=axis, ddof=ddof, keepdims=keepdims)", "a")
defnorm(np.linalg.norm, "x, ord=None, axis=None, keepdims=False",
        "_rt.norm_jvp(x, z, d_x, ord=ord, axis=axis, keepdims=keepdims)")

template("sort",  "a, axis=-1, kind=None, order=None", "_rt.sort_jvp(a, d_a, axis=axis)", "a",
         "axis", batched="_rt.sort_jvp(a, d_a, axis=axis, batched=True)")
template("partition", "a, kth, axis=-1, kind='introselect', order=None",
         "_rt.partition_jvp(a, z, d_a, axis=axis)", "a")

# ------------------------------------------------------------------ products and linear algebra
multilinear("dot",       "a, b, out=None", batching=CON)
multilinear("matmul",    "x1, x2", batching="matmul")
multilinear("inner",     "a, b", batching=CON)
multilinear("vdot",      "a, b")
multilinear("outer",     "a, b, out=None", batching=CON)
multilinear("kron",      "a, b")
multilinear("cross",     "a, b, axisa=-1, axisb=-1, axisc=-1, axis=None")
multilinear("tensordot", "a, b, axes=2", batching=CON)
multilinear("einsum",    "*operands, out=None, optimize=False", "operands", CON)
#        (the subscripts string, or the sublists of einsum(a, [0, 1], b, [1], [0]), carry
#        no tangent: every argument is an operand of the product rule)
#        function          signature  per-argument tangent (d: that argument's tangent)
partials("linalg.solve",   "a, b",    "-_np.linalg.solve(a, d @ z)",  "_np.linalg.solve(a, d)")
partials("linalg.inv",     "a",       "-z @ d @ z")
partials("linalg.det",     "a",       "z * _np.trace(_np.linalg.solve(a, d), axis1=-2, axis2=-1)")
partials("linalg.cholesky", "a",      "_rt.cholesky_jvp(z, d)")
template("linalg.eigvalsh", "a, UPLO='L'", "_rt.eigvalsh_jvp(a, d_a, UPLO)", "a")
#        eigh: distinct eigenvalues; the tangent of the triangle UPLO, symmetrized
template("linalg.eigh",    "a, UPLO='L'", "_rt.eigh_jvp(z, d_a, UPLO)", "a",
         "unsupported")  # a tuple of tangents
#        svd, qr, lstsq: distinct singular values, full rank; the unique factors only
template("linalg.svd",     "a, full_matrices=True, compute_uv=True, hermitian=False",
         "_rt.svd_jvp(a, z, d_a, full_matrices, compute_uv, hermitian)", "a",
         "unsupported")  # a tuple of tangents
template("linalg.qr",      "a, mode='reduced'", "_rt.qr_jvp(a, z, d_a, mode)", "a",
         "unsupported")
template("linalg.lstsq",   "a, b, rcond=None", "_rt.lstsq_jvp(a, b, z, d_a, d_b)", "a b",
         "unsupported")
template("linalg.matrix_power", "a, n", "_rt.matrix_power_jvp(a, n, d_a)", "a")
multilinear("linalg.multi_dot", "arrays, *, out=None", "arrays",
            list_factors="arrays")  # multilinear in the list's elements
partials("linalg.pinv",    "a",       "_rt.pinv_jvp(a, z, d)")
template("linalg.slogdet", "a", "(_np.zeros_like(z[0]), _np.trace(_np.linalg.solve(a, d_a), axis1=-2, axis2=-1))", "a",
         "unsupported")  # a tuple of tangents
multilinear("convolve",    "a, v, mode='full'")
multilinear("correlate",   "a, v, mode='valid'")
template("polyval", "p, x", "_rt.polyval_jvp(p, x, d_p, d_x)", "p x")
template("interp", "x, xp, fp, left=None, right=None, period=None",
         "_rt.interp_jvp(x, xp, fp, d_x, d_fp)", "x fp")

# ------------------------------------------------------------------ shape and copy functions: linear
linear("reshape",        "a, shape=None, order='C', newshape=None, copy=None",
       batching="reshape", **VIEW)
linear("transpose",      "a, axes=None", **VIEW)
linear("swapaxes",       "a, axis1, axis2", **VIEW)
linear("moveaxis",       "a, source, destination", **VIEW)
linear("ravel",          "a, order='C'", batching="reshape", **VIEW)
linear("squeeze",        "a, axis=None", **VIEW)
linear("expand_dims",    "a, axis", **VIEW)
linear("atleast_1d",     "*arys", "arys", "unsupported", **VIEW)  # a tuple for several
linear("atleast_2d",     "*arys", "arys", "unsupported", **VIEW)
linear("flip",           "m, axis=None", **VIEW)
linear("fliplr",         "m", **VIEW)
linear("flipud",         "m", **VIEW)
linear("roll",           "a, shift, axis=None")
linear("tile",           "A, reps")
linear("repeat",         "a, repeats, axis=None")
linear("broadcast_to",   "array, shape, subok=False", **VIEW)
linear("lib.stride_tricks.sliding_window_view",  # convolutions written with windows
       "x, window_shape, axis=None, *, subok=False, writeable=False", **VIEW)
linear("concatenate",    "arrays, axis=0, out=None, dtype=None, casting='same_kind'", "arrays")
linear("stack",          "arrays, axis=0, out=None, dtype=None, casting='same_kind'", "arrays")
linear("vstack",         "tup, dtype=None, casting='same_kind'", "tup")
linear("hstack",         "tup, dtype=None, casting='same_kind'", "tup")
linear("column_stack",   "tup", "tup")
linear("rollaxis",       "a, axis, start=0", **VIEW)
linear("atleast_3d",     "*arys", "arys", "unsupported", **VIEW)
linear("rot90",          "m, k=1, axes=(0, 1)", **VIEW)
deflinear(np.row_stack, "tup, dtype=None, casting='same_kind'", "_np.vstack", "tup")
#        (vstack's deprecated name: the tangent is spelled vstack)
linear("append",         "arr, values, axis=None", "arr values")
#        the split family and gradient return lists of arrays (gradient: one array for 1-d)
linear("split",          "ary, indices_or_sections, axis=0", "ary", "unsupported", **VIEW)
linear("array_split",    "ary, indices_or_sections, axis=0", "ary", "unsupported", **VIEW)
linear("hsplit",         "ary, indices_or_sections", "ary", "unsupported", **VIEW)
linear("vsplit",         "ary, indices_or_sections", "ary", "unsupported", **VIEW)
linear("dsplit",         "ary, indices_or_sections", "ary", "unsupported", **VIEW)
linear("gradient",       "f, *varargs, axis=None, edge_order=1", "f", "unsupported")
linear("select",         "condlist, choicelist, default=0", "choicelist default")
linear("triu",           "m, k=0")
linear("tril",           "m, k=0")
linear("diag",           "v, k=0")
linear("diagonal",       "a, offset=0, axis1=0, axis2=1", **VIEW)
template("pad",           "array, pad_width, mode='constant', constant_values=0, "
                          "end_values=0, reflect_type='even', stat_length=None",
         "_rt.pad_jvp(array, d_array, pad_width, mode, d_constant_values, d_end_values, "
         "reflect_type, stat_length)", "array constant_values end_values")
linear("take",           "a, indices, axis=None, out=None, mode='raise'", "a")
linear("take_along_axis", "arr, indices, axis", "arr")
linear("real",           "val", batching=EW, **VIEW)
linear("imag",           "val", batching=EW, **VIEW)
template("angle",        "x, deg=False", "_rt.angle_jvp(x, d_x, deg)", "x", EW)
#        nan_to_num: the identity where finite (nan, posinf, neginf: constants)
template("nan_to_num",   "x, copy=True, nan=0.0, posinf=None, neginf=None",
         "_rt.nan_to_num_jvp(x, d_x, copy)", "x", EW, **VIEW)
linear("conj",           "x", batching=EW)
linear("conjugate",      "x", batching=EW)
linear("copy",           "a, order='K', subok=False")
linear("array",          "object, dtype=None, copy=True, order='K', subok=False, ndmin=0, like=None",
       "object")
linear("asarray",        "a, dtype=None, order=None, device=None, copy=None, like=None",
       batching=EW, **VIEW)
linear("ascontiguousarray", "a, dtype=None, like=None", batching=EW)
for _name in ("float64", "float32", "float16", "longdouble", "complex128", "complex64"):
    linear(_name, "x=0", batching=EW if _name in ("float64", "float32") else "per_direction")
    # np.float64(x): a cast, like float(x)
linear("full",           "shape, fill_value, dtype=None, order='C', device=None, like=None",
       "fill_value")
linear("full_like",      "a, fill_value, dtype=None, order='K', subok=True, shape=None, device=None",
       "fill_value")
linear("linspace",       "start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0",
       "start stop")

#        counting with weights: linear in the weights (idx carries no derivative)
template("bincount", "x, weights=None, minlength=0",
         "_np.bincount(x, weights=d_weights, minlength=minlength)", "weights")
#        heaviside(x1, x2) is x2 where x1 == 0: piecewise constant in x1
partials("heaviside", "x1, x2", "0", "_np.where(x1 == 0, 1.0, 0.0)")

# ------------------------------------------------------------------ no tangent
# zero_derivative=True (the default) only for functions piecewise constant in
# every argument: a differentiated argument then rightly gets a zero tangent
for _name in ("sign", "floor", "ceil", "trunc", "rint", "round", "around", "fix",
              "floor_divide", "isnan", "isinf", "isfinite", "isclose", "allclose",
              "argmax", "argmin", "argsort", "argwhere", "nonzero", "flatnonzero", "searchsorted",
              "count_nonzero", "any", "all", "shape", "ndim", "size", "zeros_like", "ones_like",
              "empty_like", "greater", "greater_equal", "less", "less_equal", "equal",
              "not_equal", "logical_and", "logical_or", "logical_not", "logical_xor",
              "array_equal", "digitize"):
    nondiff(_name)
# results that depend differentiably on an argument, with no rule: a
# differentiated argument is a located NoDerivativeRule, never a silent zero
defnondiff(np.unique, zero_derivative=False,
           reason="its values are the argument's, and it has no derivative rule; "
                  "use np.sort or indexing")
defnondiff(np.histogram, zero_derivative=False,
           reason="the bin edges and weighted counts depend on them, and it has no "
                  "derivative rule; use np.bincount(np.digitize(a, bins), weights=w)")
# creation functions: their arguments are sizes and ranges, never derivatives
linear("meshgrid",       "*xi, copy=True, sparse=False, indexing='xy'", "xi", "unsupported")
template("logspace", "start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0",
         "z * _np.log(base) * _np.linspace(d_start, d_stop, num, endpoint=endpoint, axis=axis)",
         "start stop")
for _name in ("zeros", "ones", "empty", "eye", "identity", "arange", "indices",
              "triu_indices", "tril_indices", "diag_indices", "ix_",
              "geomspace", "tri"):
    nondiff(_name, zero_derivative=False)

