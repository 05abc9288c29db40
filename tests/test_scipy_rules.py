"""The scipy rules (fwdcompile/rules/scipy_fns.py) as users write them.

``tests/test_rule_sweep.py`` checks every scipy rule alone against Ridders'
extrapolated central differences, for each argument and all of them, in
single and vector mode.  This module checks what the sweep does not: the
import spellings users write, the factor-then-solve compositions
(``cho_factor`` -> ``cho_solve``, ``lu_factor`` -> ``lu_solve``) for each
subset of differentiated arguments, float32, special points, the clear
errors for unsupported calls, and that fwdcompile imports and works without
scipy.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import oracle

pytest.importorskip("scipy")
import fwdcompile  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

SPELLINGS = '''
import numpy as np
import scipy
import scipy.linalg
import scipy.linalg as sla
import scipy.special as sp
import scipy.stats as st
from scipy import linalg, special
from scipy.linalg import cho_factor, cho_solve, expm, lu_factor, lu_solve
from scipy.special import gammaln, logsumexp, xlogy
from scipy.stats import norm


def from_import(x):
    return np.sum(gammaln(x) + xlogy(x, x + 1.0)) + logsumexp(x)


def module_alias(x):
    return np.sum(sp.digamma(x) * sp.expit(x) + sp.log_softmax(x) + sp.erf(x))


def from_scipy_import(x):
    return np.sum(special.betaln(x, 2.0) + special.ndtr(x) + special.softmax(x))


def dotted(x):
    return np.sum(scipy.special.log_ndtr(x) + scipy.special.polygamma(1, x))


def stats_spellings(x, m):
    return np.sum(norm.logpdf(x, m, 2.0) + st.norm.cdf(x, loc=m) + scipy.stats.norm.logpdf(x))


def linalg_spellings(a, b):
    x = linalg.solve(a, b) + sla.solve_triangular(a, b, lower=True)
    return x + scipy.linalg.cholesky(a, lower=True) @ b + expm(0.1 * a) @ b


def cho(a, b):
    c, low = cho_factor(a)
    return cho_solve((c, low), b)


def cho_lower(a, b):
    factor = sla.cho_factor(a, lower=True)
    return sla.cho_solve(factor, b)


def lu(a, b):
    lu_, piv = lu_factor(a)
    return lu_solve((lu_, piv), b) + lu_solve((lu_, piv), b, trans=1)


def lu_held(a, b):
    factor = lu_factor(a)
    return lu_solve(factor, b)
'''


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    import importlib.util
    path = tmp_path_factory.mktemp("scipy_user") / "scipy_user.py"
    path.write_text(SPELLINGS)
    spec = importlib.util.spec_from_file_location("scipy_user", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _spd(rng, n):
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (q * np.arange(1.0, n + 1.0)) @ q.T + np.eye(n)


def _check(fn, args, wrt, rng, directions=3, rtol=1e-7):
    """Single-direction JVPs and one vector-mode JVP against Ridders."""
    names = fn.__code__.co_varnames[:fn.__code__.co_argcount]
    positions = [names.index(w) for w in wrt]
    f = fwdcompile.forward_gradient(fn, wrt=wrt)
    dirs = [tuple(rng.standard_normal(np.shape(args[i])) for i in positions)
            for _ in range(directions)]
    refs = [oracle.jvp_reference(fn, args, positions, d)[0] for d in dirs]
    for d, ref in zip(dirs, refs):
        value, tangent = f.jvp(*args, tangents=d)
        ok, worst = oracle.close(tangent, ref, rtol=rtol)
        assert ok, f"{fn.__name__} wrt {wrt}: {worst}"
        assert np.allclose(value, fn(*args))
    stacked = tuple(np.stack([d[j] for d in dirs]) for j in range(len(positions)))
    _, batched = f.jvp(*args, tangents=stacked, batched=True)
    for k, ref in enumerate(refs):
        ok, worst = oracle.close(np.asarray(batched)[k], ref, rtol=rtol)
        assert ok, f"{fn.__name__} wrt {wrt} vector mode, direction {k}: {worst}"


@pytest.mark.parametrize("name", ["from_import", "module_alias", "from_scipy_import", "dotted"])
def test_special_spellings(user, name):
    rng = np.random.default_rng(1)
    _check(getattr(user, name), [rng.uniform(0.5, 3.0, 5)], ("x",), rng)


@pytest.mark.parametrize("wrt", [("x",), ("m",), ("x", "m")])
def test_stats_spellings(user, wrt):
    rng = np.random.default_rng(2)
    _check(user.stats_spellings, [rng.uniform(-2, 2, 4), rng.uniform(-1, 1, 4)], wrt, rng)


WRTS = [("a",), ("b",), ("a", "b")]


@pytest.mark.parametrize("wrt", WRTS)
@pytest.mark.parametrize("name", ["linalg_spellings", "cho", "cho_lower", "lu", "lu_held"])
def test_linalg_spellings_and_factor_solve(user, name, wrt):
    rng = np.random.default_rng(3)
    a = _spd(rng, 4) if name.startswith("cho") or name == "linalg_spellings" \
        else rng.standard_normal((4, 4)) + 3 * np.eye(4)[::-1]  # pivots rows
    b = rng.standard_normal((4, 2))
    _check(getattr(user, name), [a, b], wrt, rng)


def test_lu_factor_pivots_rows(user):
    """The LU test matrices do swap rows (so the pivot handling is exercised)."""
    import scipy.linalg
    rng = np.random.default_rng(3)
    _spd(rng, 4)
    a = rng.standard_normal((4, 4)) + 3 * np.eye(4)[::-1]
    assert np.any(scipy.linalg.lu_factor(a)[1] != np.arange(4))


def test_generated_source_reads_like_the_rules(user):
    f = fwdcompile.forward_gradient(user.from_import)
    f.jvp(np.array([1.0, 2.0]), tangents=(np.ones(2),))
    assert "_rt.scipy_rules.digamma(x)" in f.source
    assert "gammaln(x)" in f.source  # the primal as the user wrote it


# ------------------------------------------------------------------ special points

def test_xlogy_at_zero_has_the_exact_tangents(tmp_path):
    fn = _load(tmp_path, "def f(x, y):\n    return scipy.special.xlogy(x, y)\n")
    x, y = np.array([0.0, 0.0, 2.0]), np.array([0.0, 3.0, 3.0])
    # dy: xlogy(0, y) is 0 for every y, so 0 where x == 0 (not 0 / 0)
    _, d = fwdcompile.forward_gradient(fn, wrt="y").jvp(x, y, tangents=(np.ones(3),))
    assert np.array_equal(d, [0.0, 0.0, 2.0 / 3.0])
    # dx: log(y), -inf at y == 0
    with np.errstate(divide="ignore"):
        _, d = fwdcompile.forward_gradient(fn, wrt="x").jvp(x, y, tangents=(np.ones(3),))
    assert np.array_equal(d, [-np.inf, np.log(3.0), np.log(3.0)])


def test_log_ndtr_is_accurate_far_in_the_tail(tmp_path):
    fn = _load(tmp_path, "def f(x):\n    return scipy.special.log_ndtr(x)\n")
    f = fwdcompile.forward_gradient(fn)
    x = np.array([-40.0, -10.0, 5.0])
    _, d = f.jvp(x, tangents=(np.ones(3),))
    # d/dx log Phi(x) = phi(x) / Phi(x) ~ -x - 1/x + 2/x^3 as x -> -inf
    asym = -x[:2] - 1 / x[:2] + 2 / x[:2] ** 3
    assert np.allclose(d[:2], asym, rtol=1e-4)
    assert np.isclose(d[2], np.exp(-12.5) / np.sqrt(2 * np.pi) / 0.9999997133484281, rtol=1e-6)


def test_float32_stays_float32(tmp_path):
    fn = _load(tmp_path, "def f(x):\n    return (scipy.special.gammaln(x) + scipy.special.expit(x)"
                         " + scipy.special.erf(x) + scipy.special.log_softmax(x))\n")
    x = np.array([0.5, 1.5, 2.5], dtype=np.float32)
    f = fwdcompile.forward_gradient(fn)
    value, d = f.jvp(x, tangents=(np.ones(3, dtype=np.float32),))
    assert value.dtype == np.float32 and d.dtype == np.float32
    ref = oracle.jvp_reference(fn, [x.astype(np.float64)], [0], (np.ones(3),))[0]
    assert np.allclose(d, ref, rtol=1e-5)


@pytest.mark.parametrize("name", ["linalg_spellings", "cho", "lu"])
def test_float32_linear_algebra_stays_float32(user, name):
    rng = np.random.default_rng(4)
    a, b = _spd(rng, 3).astype(np.float32), rng.standard_normal((3, 2)).astype(np.float32)
    da, db = np.eye(3, dtype=np.float32), np.ones((3, 2), dtype=np.float32)
    value, d = fwdcompile.forward_gradient(getattr(user, name)).jvp(a, b, tangents=(da, db))
    assert value.dtype == np.float32 and d.dtype == np.float32, (value.dtype, d.dtype)
    ref = oracle.jvp_reference(getattr(user, name), [a.astype(float), b.astype(float)], [0, 1],
                               (da.astype(float), db.astype(float)))[0]
    assert np.allclose(d, ref, rtol=1e-3, atol=1e-4)


# ------------------------------------------------------------------ errors, never silent

ERRORS = {
    "logsumexp_sign": ("def f(x):\n    return scipy.special.logsumexp(x, return_sign=True)[0]\n",
                       "return_sign"),
    "cholesky_overwrite": ("def f(x):\n    return scipy.linalg.cholesky(x, overwrite_a=True)\n",
                           "overwrite"),
    "solve_banded_kind": ("def f(x):\n    return scipy.linalg.solve(x, x[0], "
                          "assume_a='tridiagonal')\n", "assume_a"),
    "cholesky_complex": ("def f(x):\n    return scipy.linalg.cholesky(x * (1 + 0j)).real\n",
                         "complex"),
    "lu_factor_stack": ("def f(x):\n    return scipy.linalg.lu_factor(np.stack([x, x]))[0]\n",
                        "stack"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_unsupported_calls_raise_no_derivative_rule(tmp_path, case):
    source, word = ERRORS[case]
    fn = _load(tmp_path, source, case)
    a = _spd(np.random.default_rng(0), 3)
    f = fwdcompile.forward_gradient(fn)
    with pytest.raises(fwdcompile.NoDerivativeRule, match=word):
        f.jvp(a, tangents=(np.ones_like(a),))


def test_polygamma_order_takes_no_tangent(tmp_path):
    fn = _load(tmp_path, "def f(n, x):\n    return scipy.special.polygamma(n, x)\n")
    with pytest.raises(fwdcompile.NoDerivativeRule, match="argument `n`"):
        fwdcompile.forward_gradient(fn, wrt=("n", "x")).jvp(1.0, 2.0, tangents=(1.0, 1.0))


def _load(tmp_path, body, name="case"):
    import importlib.util
    path = tmp_path / f"scipy_{name}.py"
    path.write_text("import numpy as np\nimport scipy.linalg\nimport scipy.special\n\n" + body)
    spec = importlib.util.spec_from_file_location(f"scipy_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f


# ------------------------------------------------------------------ without scipy

def test_fwdcompile_imports_and_works_without_scipy(tmp_path):
    script = tmp_path / "no_scipy.py"
    script.write_text(textwrap.dedent('''
        import sys
        sys.modules["scipy"] = None  # `import scipy` now raises ImportError
        import numpy as np
        import fwdcompile
        from fwdcompile.rules.registry import _REGISTRY

        def f(x):
            return np.sum(np.sin(x) ** 2)

        y, d = fwdcompile.jvp(f, primals=(np.array([0.5, 1.0]),), tangents=(np.ones(2),))
        assert np.isclose(d, np.sum(np.sin(2 * np.array([0.5, 1.0])))), d
        assert not [r for r in _REGISTRY.values() if r.name.startswith("scipy")]
        from fwdcompile.rules import scipy_fns  # the table (plain data) is still there
        assert scipy_fns.TABLE
        assert "fwdcompile.runtime.scipy_rules" not in sys.modules
        print("ok")
    '''))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
