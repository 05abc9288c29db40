"""Every runtime helper the native backend claims (``@lowered_natively``,
``runtime.NATIVE``) gives the same answers in its two implementations: the
numpy one generated code calls on the Python backend, and its IR twin.

Each helper is called directly (``_rt.pow_dx(x, y)``) from a small kernel in
the shape of a generated JVP, compiled by the native backend, and compared
with the Python helper at seeded random points plus the special points each
one defines (zeros, ties, NaN).  For helpers with a number twin (``pow_dx``,
``pow_dy``: one expression serving both backends) this checks the lowering
of that expression against Python's evaluation of it.  A helper declared native without a case
here fails ``test_every_native_helper_has_a_pair_test``."""

import textwrap

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import gast  # noqa: E402

from fwdcompile import runtime  # noqa: E402
from fwdcompile.backends.llvm import catalogue  # noqa: E402
from fwdcompile.backends.llvm.jit import compile_kernel  # noqa: E402
from fwdcompile.backends.llvm.types import ArrayType  # noqa: E402

A1, A2 = ArrayType(1), ArrayType(2)
RNG_SEED = 20261202
N_SCALAR_POINTS = 300
N_ARRAY_POINTS = 40


def _kernel(source, types):
    fdef = gast.parse(textwrap.dedent(source)).body[0]
    return compile_kernel(fdef, types)


def _same(native, python):
    assert np.shape(native) == np.shape(python), (native, python)
    np.testing.assert_allclose(native, python, rtol=1e-13, atol=1e-15, equal_nan=True)


# ------------------------------------------------------------------ points

def _positive_and_exponent(rng):
    """(x, y) where Python's ``x ** (y - 1)`` is a real number: x > 0, or
    x <= 0 with an integer exponent that does not divide by zero."""
    points = [(rng.uniform(1e-3, 10.0), rng.uniform(-3.0, 3.0)) for _ in range(N_SCALAR_POINTS)]
    points += [(rng.uniform(1e-3, 10.0), 0.0) for _ in range(10)]  # the y == 0 branch
    points += [(-rng.uniform(0.1, 5.0), float(rng.integers(-2, 5))) for _ in range(20)]
    points += [(0.0, 0.0), (0.0, 1.0), (0.0, 2.0), (0.0, 3.5), (2.0, 1.0), (1.0, -2.5)]
    return points


def _base_and_power(rng):
    """(x, z = x ** y) for pow_dy, x of both signs and exactly 0."""
    points = []
    for _ in range(N_SCALAR_POINTS):
        x = rng.uniform(-5.0, 5.0)
        points.append((x, rng.uniform(-10.0, 10.0)))
    return points + [(0.0, 0.0), (0.0, 1.0), (1.0, 3.0), (-0.0, 2.0), (np.nan, 1.0)]


def _arrays(rng, ndim):
    """Arrays of ``ndim`` dimensions with ties (small integer entries, so the
    maximum repeats), and a vector holding NaN."""
    out = [rng.integers(-3, 4, tuple(int(s) for s in rng.integers(1, 7, ndim))).astype(float)
           for _ in range(N_ARRAY_POINTS)]
    return out + ([np.array([np.nan, 1.0, 2.0])] if ndim == 1 else [])


def _by_rank(rng, source, n_args):
    """(kernel of ``source`` taking ``n_args`` arrays, arrays to call it at),
    for vectors and for matrices."""
    for t in (A1, A2):
        yield _kernel(source, (t,) * n_args), _arrays(rng, t.ndim)


# ------------------------------------------------------------------ the cases

def case_pow_dx(rng):
    k = _kernel("""
        def k(x, y):
            return (x, _rt.pow_dx(x, y))
    """, (float, float))
    for x, y in _positive_and_exponent(rng):
        _same(k(x, y)[1], runtime.pow_dx(x, y))
    k = _kernel("""
        def k(x, n):
            return (x, _rt.pow_dx(x, n))
    """, (float, int))  # an int exponent stays an int inside the expression
    for x, n in [(x, int(y)) for x, y in _positive_and_exponent(rng) if y == int(y)]:
        _same(k(x, n)[1], runtime.pow_dx(x, n))


def case_pow_dy(rng):
    k = _kernel("""
        def k(x, z):
            return (x, _rt.pow_dy(x, z))
    """, (float, float))
    with np.errstate(invalid="ignore"):
        for x, z in _base_and_power(rng):
            _same(k(x, z)[1], runtime.pow_dy(x, z))


def case_zeros_like(rng):
    scalar = _kernel("""
        def k(x):
            return (x, _rt.zeros_like(x))
    """, (float,))
    for x in rng.normal(size=20):
        assert scalar(x)[1] == runtime.zeros_like(x) == 0.0
    for k, arrays in _by_rank(rng, """
            def k(a):
                d_a = _rt.zeros_like(a)  # as generated code spells it: a statement of its own
                return (a, d_a)
            """, 1):
        for a in arrays:
            _same(k(a)[1], runtime.zeros_like(a))


def case_copy(rng):
    scalar = _kernel("""
        def k(x):
            return (x, _rt.copy(x))
    """, (float,))
    for x in rng.normal(size=20):
        assert scalar(x)[1] == runtime.copy(x) == x
    for k, arrays in _by_rank(rng, """
            def k(a, d):
                return (a, _rt.copy(d))
            """, 2):
        for a in arrays:
            d = rng.normal(size=a.shape)
            out = k(a, d)[1]
            _same(out, runtime.copy(d))
            assert not np.shares_memory(out, d)


def case_broadcast(rng):
    scalar = _kernel("""
        def k(x, d):
            return (x, _rt.broadcast(d, x))
    """, (float, float))
    for x, d in rng.normal(size=(20, 2)):
        assert scalar(x, d)[1] == runtime.broadcast(d, x) == d
    widen = [  # (types of d and z, shapes of d and z)
        ((float, A1), ((), (5,))), ((float, A2), ((), (3, 4))), ((A1, A1), ((4,), (4,))),
        ((A1, A2), ((4,), (3, 4))), ((A2, A2), ((1, 4), (3, 4))), ((A2, A2), ((3, 1), (3, 4))),
        ((A2, A2), ((3, 4), (3, 4))),
    ]
    for types, (d_shape, z_shape) in widen:
        k = _kernel("""
            def k(z, d):
                return (z, _rt.broadcast(d, z))
        """, (types[1], types[0]))
        for _ in range(5):
            z = rng.normal(size=z_shape)
            d = rng.normal(size=d_shape) if d_shape else float(rng.normal())
            _same(k(z, d)[1], runtime.broadcast(d, z))


def case_max_jvp(rng):
    for reduce in ("max", "min"):
        for k, arrays in _by_rank(rng, f"""
                def k(a, d):
                    z = _np.{reduce}(a)
                    return (z, _rt.max_jvp(a, z, d))
                """, 2):
            for a in arrays:
                d = rng.normal(size=a.shape)
                z = getattr(np, reduce)(a)
                with np.errstate(invalid="ignore"):  # a NaN maximum: no tie, 0 / 0
                    _same(k(a, d)[1], runtime.max_jvp(a, z, d))
    for axis in (0, 1):
        for keepdims in (False, True):
            k = _kernel(f"""
                def k(a, d):
                    z = _np.max(a, axis={axis}, keepdims={keepdims})
                    return (z, _rt.max_jvp(a, z, d, axis={axis}, keepdims={keepdims}))
            """, (A2, A2))
            for a in _arrays(rng, 2):
                d = rng.normal(size=a.shape)
                z = np.max(a, axis=axis, keepdims=keepdims)
                _same(k(a, d)[1], runtime.max_jvp(a, z, d, axis=axis, keepdims=keepdims))


def case_norm_jvp(rng):
    for k, arrays in _by_rank(rng, """
            def k(x, d):
                z = _np.linalg.norm(x)
                return (z, _rt.norm_jvp(x, z, d))
            """, 2):
        for x in arrays + [np.zeros(arrays[0].ndim * (2,))]:  # 0 / 0: NaN in both
            d = rng.normal(size=x.shape)
            with np.errstate(invalid="ignore"):
                _same(k(x, d)[1], runtime.norm_jvp(x, np.linalg.norm(x), d))


def _spread_tangents(rng, a):
    """Directions for var/std tangents: random, and constant (where a row of
    ``a`` is constant too, std's tangent is 0 along a constant direction and
    NaN along any other: both branches)."""
    return [rng.normal(size=a.shape), np.full(a.shape, 0.5)]


def case_var_jvp(rng):
    for k, arrays in _by_rank(rng, """
            def k(a, d):
                return (_np.var(a), _rt.var_jvp(a, d))
            """, 2):
        for a in arrays:
            for d in _spread_tangents(rng, a):
                _same(k(a, d)[1], runtime.var_jvp(a, d))
    for axis in (0, 1, -1):
        for keepdims in (False, True):
            k = _kernel(f"""
                def k(a, d):
                    z = _np.var(a, axis={axis}, keepdims={keepdims})
                    return (z, _rt.var_jvp(a, d, axis={axis}, keepdims={keepdims}))
            """, (A2, A2))
            for a in _arrays(rng, 2):
                for d in _spread_tangents(rng, a):
                    value, tangent = k(a, d)
                    _same(value, np.var(a, axis=axis, keepdims=keepdims))
                    _same(tangent, runtime.var_jvp(a, d, axis=axis, keepdims=keepdims))


def case_std_jvp(rng):
    for k, arrays in _by_rank(rng, """
            def k(a, d):
                z = _np.std(a)
                return (z, _rt.std_jvp(a, z, d))
            """, 2):
        for a in arrays:
            for d in _spread_tangents(rng, a):
                with np.errstate(invalid="ignore"):  # the NaN vector
                    _same(k(a, d)[1], runtime.std_jvp(a, np.std(a), d))
    for axis in (0, 1):
        for keepdims in (False, True):
            k = _kernel(f"""
                def k(a, d):
                    z = _np.std(a, axis={axis}, keepdims={keepdims})
                    return (z, _rt.std_jvp(a, z, d, axis={axis}, keepdims={keepdims}))
            """, (A2, A2))
            for a in _arrays(rng, 2):
                for d in _spread_tangents(rng, a):
                    z = np.std(a, axis=axis, keepdims=keepdims)
                    value, tangent = k(a, d)
                    _same(value, z)
                    _same(tangent, runtime.std_jvp(a, z, d, axis=axis, keepdims=keepdims))


def case_cumprod_jvp(rng):
    k = _kernel("""
        def k(a, d):
            z = _np.cumprod(a)
            return (z, _rt.cumprod_jvp(a, z, d))
    """, (A1, A1))
    for a in _arrays(rng, 1) + [np.zeros(0), np.array([0.0, 2.0, 0.0, 3.0])]:
        d = rng.normal(size=a.shape)
        value, tangent = k(a, d)
        _same(value, np.cumprod(a))
        _same(tangent, runtime.cumprod_jvp(a, np.cumprod(a), d))
    for axis in (0, 1, -1):
        k = _kernel(f"""
            def k(a, d):
                z = _np.cumprod(a, axis={axis})
                return (z, _rt.cumprod_jvp(a, z, d, axis={axis}))
        """, (A2, A2))
        for a in _arrays(rng, 2):
            d = rng.normal(size=a.shape)
            value, tangent = k(a, d)
            _same(value, np.cumprod(a, axis=axis))
            _same(tangent, runtime.cumprod_jvp(a, value, d, axis=axis))


def case_clip_jvp(rng):
    k = _kernel("""
        def k(a, lo, hi, d, d_lo, d_hi):
            return (_np.clip(a, lo, hi), _rt.clip_jvp(a, lo, hi, d, d_lo, d_hi))
    """, (A2, A1, A2, A2, A1, A2))
    for a in _arrays(rng, 2):
        lo, hi = rng.uniform(-1.0, 0.0, size=a.shape[1]), rng.uniform(0.0, 1.0, size=a.shape)
        a = a.copy()
        if a.size:  # on the bounds (inside: the argument's tangent) and NaN (inside too)
            a[0, 0], a.flat[-1] = lo[0], np.nan
        d, d_lo, d_hi = (rng.normal(size=x.shape) for x in (a, lo, hi))
        value, tangent = k(a, lo, hi, d, d_lo, d_hi)
        _same(value, np.clip(a, lo, hi))
        _same(tangent, runtime.clip_jvp(a, lo, hi, d, d_lo, d_hi))


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}


# ------------------------------------------------------------------ the tests

def test_every_native_helper_has_a_pair_test():
    claimed = {fn.__name__ for fn in runtime.NATIVE}
    assert claimed == set(CASES), "a helper lowered natively needs a case_<name> here"


def test_the_catalogue_is_derived_from_the_runtime():
    for helper, lowering in runtime.NATIVE.items():
        assert getattr(runtime, helper.__name__) is helper  # what _rt.<name> reaches
        entry = catalogue.lookup(helper)
        assert entry is not None and entry.name == lowering.op
        assert entry.origin == catalogue.RUNTIME
    helpers = [obj for obj in vars(runtime).values() if callable(obj)]
    lowered = {h for h in helpers if (e := catalogue.lookup(h)) and e.origin == catalogue.RUNTIME}
    assert lowered == set(runtime.NATIVE)  # nothing lowers that the runtime does not declare


@pytest.mark.parametrize("name", sorted(CASES))
def test_both_implementations_agree(name):
    CASES[name](np.random.default_rng(RNG_SEED))
