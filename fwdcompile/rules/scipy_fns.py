"""Rules for scipy: special functions, dense linear algebra, the normal distribution.

scipy is an optional dependency (``pip install "fwdcompile[scipy]"``).  This
module imports without it: :data:`TABLE` is plain data, and
:func:`register`, which ``rules/__init__.py`` calls only when scipy imports,
looks each function up and declares its rule.  The rules documentation
(``rules/doc.py``) reads the same table, so docs/rules.md is the same with or
without scipy installed.

Rules are keyed by the function object, so every spelling a user may write
reaches them: ``from scipy.special import gammaln``, ``import scipy.special
as sp``, ``from scipy import linalg``, ``scipy.stats.norm.logpdf``.
Partials and templates call helpers as ``_rt.scipy_rules.<name>``
(``runtime/scipy_rules.py``), a module the runtime imports on first use.
"""

from __future__ import annotations

import importlib

from .registry import defjvp, deftemplate

EW = "elementwise"
TUPLE = "unsupported"  # a tuple of tangents: vector mode runs once per direction
RT = "_rt.scipy_rules."
PD = "per_direction"
AXIS = "axis"  # along axis=: the K-direction template is in BATCHED

#  (kind, "module.function", signature, derivative, differentiable or None, batching)
#  kind "partials": derivative is one partial per parameter (None: no tangent), and
#  batches elementwise; kind "template": a whole tangent expression over the
#  parameters, their tangents d_<name> and the result z
TABLE: list[tuple] = [
    # -------------------------------------------------------------- scipy.special, elementwise
    ("partials", "scipy.special.gammaln", "x", (RT + "digamma(x)",), None, EW),
    ("partials", "scipy.special.digamma", "x", (RT + "polygamma(1, x)",), None, EW),
    ("partials", "scipy.special.polygamma", "n, x", (None, RT + "polygamma(n + 1, x)"), None,
     EW),  # n: the order, carries no tangent
    ("partials", "scipy.special.expit", "x", ("z * (1 - z)",), None, EW),
    ("partials", "scipy.special.logit", "x", ("1 / (x * (1 - x))",), None, EW),
    ("partials", "scipy.special.erf", "x", ("1.1283791670955126 * _np.exp(-x ** 2)",), None, EW),
    ("partials", "scipy.special.erfc", "x", ("-1.1283791670955126 * _np.exp(-x ** 2)",), None,
     EW),
    ("partials", "scipy.special.erfinv", "x", ("0.886226925452758 * _np.exp(z ** 2)",), None, EW),
    ("partials", "scipy.special.ndtr", "x", ("0.3989422804014327 * _np.exp(-0.5 * x ** 2)",),
     None, EW),
    ("partials", "scipy.special.log_ndtr", "x",
     ("_np.exp(-0.5 * x ** 2 - 0.9189385332046727 - z)",), None, EW),
    ("partials", "scipy.special.xlogy", "x, y", ("_np.log(y)", RT + "xlogy_dy(x, y)"), None, EW),
    ("partials", "scipy.special.xlog1py", "x, y", ("_np.log1p(y)", RT + "xlog1py_dy(x, y)"),
     None, EW),
    ("partials", "scipy.special.betaln", "a, b",
     (f"{RT}digamma(a) - {RT}digamma(a + b)", f"{RT}digamma(b) - {RT}digamma(a + b)"), None, EW),
    # -------------------------------------------------------------- scipy.special, reductions
    ("template", "scipy.special.logsumexp",
     "a, axis=None, b=None, keepdims=False, return_sign=False",
     RT + "logsumexp_jvp(a, z, d_a, axis, b, d_b, keepdims, return_sign)", "a b", AXIS),
    ("template", "scipy.special.softmax", "x, axis=None", RT + "softmax_jvp(z, d_x, axis)", "x",
     AXIS),
    ("template", "scipy.special.log_softmax", "x, axis=None",
     RT + "log_softmax_jvp(z, d_x, axis)", "x", AXIS),
    # -------------------------------------------------------------- scipy.linalg
    ("template", "scipy.linalg.cholesky", "a, lower=False, overwrite_a=False, check_finite=True",
     RT + "cholesky_jvp(z, d_a, lower, overwrite_a)", "a", PD),
    # cho_factor returns (c, lower), lu_factor (lu, piv): tuples; the flag and the
    # pivots carry no tangent, and cho_solve / lu_solve read the factor's tangent
    ("template", "scipy.linalg.cho_factor", "a, lower=False, overwrite_a=False, check_finite=True",
     RT + "cho_factor_jvp(z, d_a, lower, overwrite_a)", "a", TUPLE),
    ("template", "scipy.linalg.cho_solve", "c_and_lower, b, overwrite_b=False, check_finite=True",
     RT + "cho_solve_jvp(c_and_lower, z, d_c_and_lower, d_b, overwrite_b)", "c_and_lower b", PD),
    ("template", "scipy.linalg.lu_factor", "a, overwrite_a=False, check_finite=True",
     RT + "lu_factor_jvp(z, d_a, overwrite_a)", "a", TUPLE),
    ("template", "scipy.linalg.lu_solve",
     "lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True",
     RT + "lu_solve_jvp(lu_and_piv, z, d_lu_and_piv, d_b, trans, overwrite_b)", "lu_and_piv b",
     PD),
    ("template", "scipy.linalg.solve_triangular",
     "a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False, check_finite=True",
     RT + "solve_triangular_jvp(a, b, z, d_a, d_b, trans, lower, unit_diagonal, overwrite_b)",
     "a b", PD),
    ("template", "scipy.linalg.solve",
     "a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True, "
     "assume_a=None, transposed=False",
     RT + "solve_jvp(a, b, z, d_a, d_b, lower, overwrite_a, overwrite_b, assume_a, transposed)",
     "a b", PD),
    ("template", "scipy.linalg.expm", "A", RT + "expm_jvp(A, d_A)", "A", PD),
    ("template", "scipy.linalg.logm", "A", RT + "logm_jvp(A, d_A)", "A", PD),
    # -------------------------------------------------------------- scipy.stats.norm
    # bound methods of the distribution object, keyed as such
    ("template", "scipy.stats.norm.logpdf", "x, loc=0, scale=1",
     RT + "norm_logpdf_jvp(x, loc, scale, d_x, d_loc, d_scale)", "x loc scale", EW),
    ("template", "scipy.stats.norm.cdf", "x, loc=0, scale=1",
     RT + "norm_cdf_jvp(x, loc, scale, d_x, d_loc, d_scale)", "x loc scale", EW),
]


# the K-direction templates of the rules batched "axis" (every tangent has K
# directions on a leading axis; _rt.baxis: an axis of the value as one of its tangent)
BATCHED = {
    "scipy.special.logsumexp":
        RT + "logsumexp_jvp(a, z, d_a, axis, b, d_b, keepdims, return_sign, batched=True)",
    "scipy.special.softmax": RT + "softmax_jvp(z, d_x, _rt.baxis(axis, z))",
    "scipy.special.log_softmax": RT + "log_softmax_jvp(z, d_x, _rt.baxis(axis, z))",
}


def _resolve(path):
    """``"scipy.stats.norm.logpdf"`` -> the object (the longest importable module, then
    attributes)."""
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attr in parts[split:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(path)


def register():
    """Declare every rule of :data:`TABLE` (scipy must import)."""
    for kind, path, sig, derivative, diff, batching in TABLE:
        fn = _resolve(path)
        if kind == "partials":
            rule = defjvp(fn, sig, *derivative, batching=batching)
        else:
            rule = deftemplate(fn, sig, derivative, diff, batching, BATCHED.get(path))
        rule.name = path  # ufuncs have no __module__: name them as users import them
