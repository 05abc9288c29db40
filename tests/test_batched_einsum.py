"""Vector mode for contractions and functions along an axis, in one call.

``numpy.einsum`` (and tensordot, dot, inner, outer) batch as a
``"contraction"``: each term of the product rule has one K-direction operand,
and the direction axis becomes one more index of that operand
(``_np.einsum('Kij,jk->Kik', d_a, b)``), not a loop over directions.
scipy's softmax, log_softmax and logsumexp, and numpy's cumsum, cumprod,
diff and sort batch along their ``axis`` (``"axis"``).  For every case, every
non-empty subset of differentiated operands and K in {1, 3}: the batched
tangent equals the single-direction tangents stacked (to 1e-12) and central
finite differences, and the batched source has no loop over directions.
"""

from __future__ import annotations

import importlib.util
import itertools

import numpy as np
import pytest

import fwdcompile
from fwdcompile.runtime.batched import einsum_batched_subscripts

scipy = pytest.importorskip("scipy")

# (expression over a0, a1, ..., operand shapes)
EINSUM = [
    ("np.einsum('ij,jk->ik', a0, a1)", [(3, 4), (4, 2)]),
    ("np.einsum('ij,jk', a0, a1)", [(3, 4), (4, 2)]),            # implicit output
    ("np.einsum('ba,cb', a0, a1)", [(2, 3), (4, 2)]),            # implicit: sorted labels
    ("np.einsum('Ab,bC', a0, a1)", [(2, 3), (3, 4)]),            # uppercase sorts first
    ("np.einsum('ii->i', a0)", [(3, 3)]),                        # diagonal (a view)
    ("np.einsum('ii', a0)", [(3, 3)]),                           # trace
    ("np.einsum('ij->ji', a0)", [(3, 4)]),                       # transpose (a view)
    ("np.einsum('ij->', a0)", [(3, 4)]),
    ("np.einsum('i,i', a0, a1)", [(4,), (4,)]),
    ("np.einsum('i,j->ij', a0, a1)", [(4,), (3,)]),
    ("np.einsum('bij,bjk->bik', a0, a1)", [(2, 3, 4), (2, 4, 5)]),  # batch matmul
    ("np.einsum('qd,kd->qk', a0, a1)", [(5, 3), (6, 3)]),        # attention scores
    ("np.einsum('nchw,ochw->no', a0, a1)", [(2, 3, 4, 4), (5, 3, 4, 4)]),  # conv as einsum
    ("np.einsum('...ij,...jk->...ik', a0, a1)", [(2, 3, 4), (4, 5)]),  # broadcast axes
    ("np.einsum('...ii->...i', a0)", [(2, 3, 3)]),
    ("np.einsum('i...,j', a0, a1)", [(2, 3), (4,)]),             # implicit with ellipsis
    ("np.einsum('...i,i', a0, a1)", [(2, 3, 4), (4,)]),
    ("np.einsum(' i j , j k -> i k ', a0, a1)", [(3, 4), (4, 2)]),  # spaces
    ("np.einsum('ij,jk,kl->il', a0, a1, a2)", [(2, 3), (3, 4), (4, 2)]),
    ("np.einsum('Kj,jL->KL', a0, a1)", [(2, 3), (3, 4)]),        # the label K taken
    ("np.einsum('ij,ij,ij->', a0, a1, a2)", [(2, 3), (2, 3), (2, 3)]),
    ("np.einsum('ijk,ikj->i', a0, a1)", [(2, 3, 4), (2, 4, 3)]),
    ("np.einsum('ij,jk->ik', a0, a1, optimize=True)", [(3, 4), (4, 2)]),
    ("np.einsum('ij,ij->i', a0, a0) + a1", [(3, 4), (3,)]),      # one operand twice
]

PRODUCTS = [
    ("np.tensordot(a0, a1, axes=0)", [(2, 3), (4,)]),
    ("np.tensordot(a0, a1, axes=1)", [(2, 3), (3, 4)]),
    ("np.tensordot(a0, a1)", [(2, 3, 4), (3, 4, 5)]),
    ("np.tensordot(a0, a1, axes=([1], [0]))", [(2, 3), (3, 4)]),
    ("np.tensordot(a0, a1, axes=((0, 2), (2, 0)))", [(2, 3, 4), (4, 5, 2)]),
    ("np.tensordot(a0, a1, axes=([-1], [0]))", [(2, 3), (3, 4)]),
    ("np.tensordot(a0, a1, axes=(1, 0))", [(2, 3), (3, 4)]),
    ("np.dot(a0, a1)", [(3,), (3,)]),
    ("np.dot(a0, a1)", [(2, 3), (3,)]),
    ("np.dot(a0, a1)", [(3,), (3, 4)]),
    ("np.dot(a0, a1)", [(2, 3), (3, 4)]),
    ("np.dot(a0, a1)", [(2, 2, 3), (4, 3, 5)]),
    ("np.dot(a0, a1)", [(), (3, 4)]),
    ("np.dot(a0, a1)", [(2, 3), ()]),
    ("np.inner(a0, a1)", [(3,), (3,)]),
    ("np.inner(a0, a1)", [(2, 3), (4, 3)]),
    ("np.inner(a0, a1)", [(2, 3, 4), (4,)]),
    ("np.inner(a0, a1)", [(), (4,)]),
    ("np.outer(a0, a1)", [(2, 3), (4,)]),
]

SPS = "scipy.special."
AXIS = [
    (f"{SPS}softmax(a0)", [(3, 4)]),
    (f"{SPS}softmax(a0, axis=0)", [(3, 4)]),
    (f"{SPS}softmax(a0, axis=1)", [(3, 4)]),
    (f"{SPS}softmax(a0, axis=-1)", [(2, 3, 4)]),
    (f"{SPS}softmax(a0, axis=(0, 2))", [(2, 3, 4)]),
    (f"{SPS}log_softmax(a0)", [(3, 4)]),
    (f"{SPS}log_softmax(a0, axis=0)", [(3, 4)]),
    (f"{SPS}log_softmax(a0, axis=-1)", [(3, 4)]),
    (f"{SPS}logsumexp(a0)", [(3, 4)]),
    (f"{SPS}logsumexp(a0, axis=0)", [(3, 4)]),
    (f"{SPS}logsumexp(a0, axis=1, keepdims=True)", [(3, 4)]),
    (f"{SPS}logsumexp(a0, axis=-1)", [(2, 3, 4)]),
    (f"{SPS}logsumexp(a0, axis=None, keepdims=True)", [(3, 4)]),
    (f"{SPS}logsumexp(a0, b=a1)", [(3, 4), (3, 4)]),
    (f"{SPS}logsumexp(a0, axis=1, b=a1)", [(4,), (3, 4)]),         # b widens a
    (f"{SPS}logsumexp(a0, axis=0, b=a1, keepdims=True)", [(3, 4), (4,)]),
    ("np.cumsum(a0)", [(3, 4)]),
    ("np.cumsum(a0, axis=0)", [(3, 4)]),
    ("np.cumsum(a0, 1)", [(3, 4)]),
    ("np.cumsum(a0, axis=-1)", [(2, 3, 4)]),
    ("np.cumsum(a0, axis=a0.ndim - 1)", [(3, 4)]),                # not a literal: _rt.balong
    ("np.diff(a0)", [(3, 4)]),
    ("np.diff(a0, 2, axis=0)", [(4, 3)]),
    ("np.diff(a0, n=1, axis=1)", [(2, 3, 4)]),
    ("np.cumprod(a0)", [(3, 4)]),
    ("np.cumprod(a0, axis=0)", [(3, 4)]),
    ("np.cumprod(a0, axis=-1)", [(2, 3, 4)]),
    ("np.cumprod(a0, axis=1)", [(2, 3, 4)]),
    ("np.sort(a0)", [(3, 4)]),
    ("np.sort(a0, axis=0)", [(3, 4)]),
    ("np.sort(a0, axis=None)", [(3, 4)]),
    ("np.sort(a0, axis=-2)", [(2, 3, 4)]),
]

CASES = [("einsum", *c) for c in EINSUM] + [("product", *c) for c in PRODUCTS] \
    + [("axis", *c) for c in AXIS]


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    """One function per case, in a real .py file (fwdcompile reads source)."""
    lines = ["import numpy as np", "import scipy.special", ""]
    for n, (_, expr, shapes) in enumerate(CASES):
        params = ", ".join(f"a{i}" for i in range(len(shapes)))
        lines += [f"def f{n}({params}):", f"    return {expr}", ""]
    path = tmp_path_factory.mktemp("beinsum") / "batched_einsum_cases.py"
    path.write_text("\n".join(lines))
    spec = importlib.util.spec_from_file_location("batched_einsum_cases", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _subsets(n):
    return [s for r in range(1, n + 1) for s in itertools.combinations(range(n), r)]


def _args(shapes, rng, positive=False):
    return [rng.uniform(0.5, 1.5, size=s) if positive else rng.normal(size=s) for s in shapes]


@pytest.mark.parametrize("n", range(len(CASES)),
                         ids=[f"{c[1]}-{c[2]}" for c in CASES])
def test_batched_equals_directions_and_differences(n, module):
    kind, expr, shapes = CASES[n]
    fn = getattr(module, f"f{n}")
    params = [f"a{i}" for i in range(len(shapes))]
    rng = np.random.default_rng(n)
    args = _args(shapes, rng, positive="b=" in expr)
    for subset in _subsets(len(shapes)):
        wrt = tuple(params[i] for i in subset)
        f = fwdcompile.forward_gradient(fn, wrt=wrt)
        for k in (1, 3):
            dirs = tuple(rng.normal(size=(k,) + shapes[i]) for i in subset)
            value, tangent = f.jvp(*args, tangents=dirs, batched=True)
            assert np.shape(tangent) == (k,) + np.shape(value), (expr, wrt, k)
            single = np.stack([f.jvp(*args, tangents=tuple(d[j] for d in dirs))[1]
                               for j in range(k)])
            scale = max(1.0, float(np.max(np.abs(single))))
            np.testing.assert_allclose(tangent, single, rtol=1e-12, atol=1e-12 * scale,
                                       err_msg=f"{expr} wrt {wrt} K={k}")
            for j in range(k):
                np.testing.assert_allclose(tangent[j], _differences(fn, args, subset,
                                                                    [d[j] for d in dirs]),
                                           rtol=1e-6, atol=1e-7 * scale,
                                           err_msg=f"{expr} wrt {wrt} K={k}: differences")
        source = f.batched_source
        assert " for " not in source, f"{expr} wrt {wrt}: a loop over directions\n{source}"
        assert "_np.stack" not in source and "_rt.beinsum" not in source, source
        if kind == "einsum" and 0 in subset:  # a0 is an operand of every einsum
            assert "_np.einsum('" in source, source


def _differences(fn, args, subset, directions, h=1e-6):
    def at(t):
        moved = list(args)
        for i, d in zip(subset, directions):
            moved[i] = args[i] + t * d
        return np.asarray(fn(*moved))
    return (at(h) - at(-h)) / (2 * h)


def test_a_subscripts_string_not_written_in_the_call(tmp_path):
    """A subscripts string held by a name goes through _rt.beinsum, which
    rewrites it at run time; the sublist form runs direction by direction."""
    path = tmp_path / "beinsum_runtime.py"
    path.write_text("import numpy as np\n\n"
                    "def f(s, a, b):\n    return np.einsum(s, a, b)\n\n"
                    "def g(a, b):\n    return np.einsum(a, [0, 1], b, [1, 2], [0, 2])\n")
    spec = importlib.util.spec_from_file_location("beinsum_runtime", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    da, db = rng.normal(size=(3, 3, 4)), rng.normal(size=(3, 4, 2))
    for s in ("ij,jk->ik", "ij,jk", "ij , jk"):
        f = fwdcompile.forward_gradient(mod.f, wrt=("a", "b"))
        _, tangent = f.jvp(s, a, b, tangents=(da, db), batched=True)
        assert "_rt.beinsum(1, s, d_a, b, optimize=True)" in f.batched_source
        expected = np.stack([np.einsum("ij,jk->ik", da[k], b) + np.einsum("ij,jk->ik", a, db[k])
                             for k in range(3)])
        np.testing.assert_allclose(tangent, expected, rtol=1e-12, atol=1e-12)
    g = fwdcompile.forward_gradient(mod.g, wrt=("a", "b"))
    _, tangent = g.jvp(a, b, tangents=(da, db), batched=True)
    np.testing.assert_allclose(tangent, np.einsum("kij,jl->kil", da, b)
                               + np.einsum("ij,kjl->kil", a, db), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("subscripts, shapes", [
    ("ij,jk", [(2, 3), (3, 4)]), ("ba,cb", [(2, 3), (4, 2)]), ("Ab,bC", [(2, 3), (3, 4)]),
    ("ii", [(3, 3)]), ("i...,j", [(2, 3), (4,)]), ("...ba,cb", [(6, 2, 3), (4, 2)]),
    ("ji...", [(2, 3, 4)]), ("iJ,Ji->", [(2, 3), (3, 2)]), ("a,b,c", [(2,), (3,), (4,)]),
])
def test_subscripts_rewrite_matches_numpy(subscripts, shapes):
    """The rewritten subscripts give numpy's own implicit output, direction by direction."""
    rng = np.random.default_rng(1)
    ops = [rng.normal(size=s) for s in shapes]
    for i in range(len(ops)):
        d = rng.normal(size=(3,) + shapes[i])
        spec = einsum_batched_subscripts(subscripts, i)
        got = np.einsum(spec, *ops[:i], d, *ops[i + 1:])
        expected = np.stack([np.einsum(subscripts, *ops[:i], dk, *ops[i + 1:]) for dk in d])
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_no_free_label_or_malformed_is_left_to_per_direction():
    every = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    assert einsum_batched_subscripts(every + "->", 0) is None
    assert einsum_batched_subscripts("ij->i->j", 0) is None
    assert einsum_batched_subscripts("i1,j", 0) is None
    assert einsum_batched_subscripts("ij,jk", 2) is None
    assert einsum_batched_subscripts([0, 1], 0) is None
