"""Rules for scipy: special functions, dense linear algebra, the normal distribution.

Loaded by ``rules/__init__.py`` only when scipy imports (scipy is an optional
dependency: ``pip install "fwdcompile[scipy]"``).  Rules are keyed by the
function object, so every spelling a user may write reaches them:
``from scipy.special import gammaln``, ``import scipy.special as sp``,
``from scipy import linalg``, ``scipy.stats.norm.logpdf``.  Partials and
templates call helpers as ``_rt.scipy_rules.<name>``
(``runtime/scipy_rules.py``), a module the runtime imports on first use.

``SCIPY_RULES`` lists the rule names this module declares; the rules
documentation (``rules/doc.py``) reads it, so docs/rules.md is the same
with or without scipy installed.
"""

import scipy.linalg
import scipy.special
import scipy.stats

from .registry import defjvp, deftemplate

EW = "elementwise"
TUPLE = "unsupported"  # a tuple of tangents: vector mode runs once per direction
SCIPY_RULES: list = []  # (name, signature, derivative as written), in declaration order


def _declare(name, rule, sig, text):
    rule.name = name
    SCIPY_RULES.append((name, sig, text))


def special(fn, sig, *parts):
    """An elementwise scipy.special function, one partial per argument."""
    name = "scipy.special." + fn
    _declare(name, defjvp(getattr(scipy.special, fn), sig, *parts), sig,
             "; ".join(f"d/d{p.strip()}: {t}" for p, t in zip(sig.split(","), parts)
                       if t is not None))


def template(module, fn, sig, expr, diff, batching="per_direction"):
    """``module.fn`` differentiated by a whole tangent expression."""
    obj = module
    for part in fn.split("."):
        obj = getattr(obj, part)
    name = f"{module.__name__}.{fn}"
    _declare(name, deftemplate(obj, sig, expr, diff, batching), sig, expr)


SP, RT = scipy.special, "_rt.scipy_rules."

# ------------------------------------------------------------------ scipy.special, elementwise
#       function     signature  partial per argument
special("gammaln",   "x",       RT + "digamma(x)")
special("digamma",   "x",       RT + "polygamma(1, x)")
special("polygamma", "n, x",    None, RT + "polygamma(n + 1, x)")  # n: an order, no tangent
special("expit",     "x",       "z * (1 - z)")
special("logit",     "x",       "1 / (x * (1 - x))")
special("erf",       "x",       "1.1283791670955126 * _np.exp(-x ** 2)")
special("erfc",      "x",       "-1.1283791670955126 * _np.exp(-x ** 2)")
special("erfinv",    "x",       "0.886226925452758 * _np.exp(z ** 2)")
special("ndtr",      "x",       "0.3989422804014327 * _np.exp(-0.5 * x ** 2)")
special("log_ndtr",  "x",       "_np.exp(-0.5 * x ** 2 - 0.9189385332046727 - z)")
special("xlogy",     "x, y",    "_np.log(y)", RT + "xlogy_dy(x, y)")
special("xlog1py",   "x, y",    "_np.log1p(y)", RT + "xlog1py_dy(x, y)")
special("betaln",    "a, b",    RT + "digamma(a) - " + RT + "digamma(a + b)",
        RT + "digamma(b) - " + RT + "digamma(a + b)")

# ------------------------------------------------------------------ scipy.special, reductions
template(SP, "logsumexp", "a, axis=None, b=None, keepdims=False, return_sign=False",
         RT + "logsumexp_jvp(a, z, d_a, axis, b, d_b, keepdims, return_sign)", "a b")
template(SP, "softmax", "x, axis=None", RT + "softmax_jvp(z, d_x, axis)", "x")
template(SP, "log_softmax", "x, axis=None", RT + "log_softmax_jvp(z, d_x, axis)", "x")

# ------------------------------------------------------------------ scipy.linalg
LA = scipy.linalg
template(LA, "cholesky", "a, lower=False, overwrite_a=False, check_finite=True",
         RT + "cholesky_jvp(z, d_a, lower, overwrite_a)", "a")
#        cho_factor returns (c, lower), lu_factor (lu, piv): tuples; the flag and the
#        pivots carry no tangent, and cho_solve / lu_solve read the factor's tangent
template(LA, "cho_factor", "a, lower=False, overwrite_a=False, check_finite=True",
         RT + "cho_factor_jvp(z, d_a, lower, overwrite_a)", "a", TUPLE)
template(LA, "cho_solve", "c_and_lower, b, overwrite_b=False, check_finite=True",
         RT + "cho_solve_jvp(c_and_lower, z, d_c_and_lower, d_b, overwrite_b)",
         "c_and_lower b")
template(LA, "lu_factor", "a, overwrite_a=False, check_finite=True",
         RT + "lu_factor_jvp(z, d_a, overwrite_a)", "a", TUPLE)
template(LA, "lu_solve", "lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True",
         RT + "lu_solve_jvp(lu_and_piv, z, d_lu_and_piv, d_b, trans, overwrite_b)",
         "lu_and_piv b")
template(LA, "solve_triangular", "a, b, trans=0, lower=False, unit_diagonal=False, "
         "overwrite_b=False, check_finite=True",
         RT + "solve_triangular_jvp(a, b, z, d_a, d_b, trans, lower, unit_diagonal, "
         "overwrite_b)", "a b")
template(LA, "solve", "a, b, lower=False, overwrite_a=False, overwrite_b=False, "
         "check_finite=True, assume_a=None, transposed=False",
         RT + "solve_jvp(a, b, z, d_a, d_b, lower, overwrite_a, overwrite_b, assume_a, "
         "transposed)", "a b")
template(LA, "expm", "A", RT + "expm_jvp(A, d_A)", "A")
template(LA, "logm", "A", RT + "logm_jvp(A, d_A)", "A")

# ------------------------------------------------------------------ scipy.stats.norm
#        bound methods of the frozen-free distribution object, keyed as such
ST = scipy.stats
template(ST, "norm.logpdf", "x, loc=0, scale=1",
         RT + "norm_logpdf_jvp(x, loc, scale, d_x, d_loc, d_scale)", "x loc scale", EW)
template(ST, "norm.cdf", "x, loc=0, scale=1",
         RT + "norm_cdf_jvp(x, loc, scale, d_x, d_loc, d_scale)", "x loc scale", EW)
