"""Calling conventions (fwdcompile/calling.py): every way to call ``f.jvp``
gives the same value and tangent on both backends, the call-plan cache keeps
argument types apart, and the fast paths (plans, the native entry) agree
with the reference path on results and on errors, for any call
(hypothesis)."""

import importlib.util

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fwdcompile import forward_gradient

HAVE_LLVM = importlib.util.find_spec("llvmlite") is not None
BACKENDS = ["python", pytest.param("llvm", marks=pytest.mark.skipif(
    not HAVE_LLVM, reason="the native backend needs llvmlite"))]


def f(x, y, k=1):
    return x * np.sin(y) + k * y * y


def h(x, y, k=1):
    return np.sum(x * np.sin(y) + k * y * y)


def scale(x, n):
    return x * n


SCALAR = (0.5, 0.2, 1.0, 0.25)
ARRAYS = (np.linspace(0.1, 0.8, 8), np.linspace(-0.3, 0.4, 8), np.ones(8),
          np.linspace(0.0, 1.0, 8))


def conventions(fixed, inferred, x, y, dx, dy):
    f64 = np.float64 if np.ndim(x) == 0 else (lambda v: v)
    return {
        "positional": lambda: fixed.jvp(x, y, 1, tangents=(dx, dy)),
        "defaults left out": lambda: fixed.jvp(x, y, tangents=(dx, dy)),
        "keywords": lambda: fixed.jvp(x=x, y=y, k=1, tangents=(dx, dy)),
        "keywords in another order": lambda: fixed.jvp(tangents=(dx, dy), k=1, y=y, x=x),
        "positional + keyword": lambda: fixed.jvp(x, y=y, tangents=(dx, dy)),
        "np.int64 for the int parameter": lambda: fixed.jvp(x, y, np.int64(1), tangents=(dx, dy)),
        "tangents as a list": lambda: fixed.jvp(x, y, 1, tangents=[dx, dy]),
        "tangents as a dict": lambda: fixed.jvp(x, y, 1, tangents={"y": dy, "x": dx}),
        "inferred wrt": lambda: inferred.jvp(x, y, 1, tangents=(dx, dy)),
        "inferred wrt, defaults left out": lambda: inferred.jvp(x, y, tangents=(dx, dy)),
        "inferred wrt, keywords": lambda: inferred.jvp(y=y, x=x, tangents=(dx, dy)),
        "numpy scalars": lambda: fixed.jvp(f64(x), f64(y), 1, tangents=(f64(dx), f64(dy))),
        "numpy scalars, inferred wrt": lambda: inferred.jvp(f64(x), f64(y), tangents=(dx, dy)),
    }


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fn, values", [(f, SCALAR), (h, ARRAYS)], ids=["scalar", "arrays"])
def test_every_convention_gives_the_same_value_and_tangent(backend, fn, values):
    expected = forward_gradient(fn, wrt=("x", "y")).jvp(*values[:2], 1, tangents=values[2:])
    fixed = forward_gradient(fn, wrt=("x", "y"), backend=backend)
    inferred = forward_gradient(fn, backend=backend)
    calls = conventions(fixed, inferred, *values)
    for _ in range(3):  # the first call compiles, the next ones take the cached plans
        for name, call in calls.items():
            value, tangent = call()
            np.testing.assert_allclose(value, expected[0], rtol=1e-14, err_msg=name)
            np.testing.assert_allclose(tangent, expected[1], rtol=1e-14, err_msg=name)
            assert type(value) is type(expected[0]) or backend == "llvm", name


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_plan_cache_keeps_int_and_float_arguments_apart(backend):
    inferred = forward_gradient(scale, backend=backend)
    fixed = forward_gradient(scale, wrt="x", backend=backend)
    for _ in range(3):
        assert inferred.jvp(2.0, 3, tangents=(1.0,)) == (6.0, 3.0)          # n: no tangent
        assert inferred.jvp(2.0, 3.0, tangents=(1.0, 1.0)) == (6.0, 5.0)    # n differentiated
        assert inferred.jvp(2.0, np.int64(3), tangents=(1.0,)) == (6.0, 3.0)
        assert inferred.jvp(2.0, np.float64(3.0), tangents=(1.0, 1.0)) == (6.0, 5.0)
        assert fixed.jvp(2.0, 3, tangents=(1.0,)) == (6.0, 3.0)
        assert fixed.jvp(2.0, 3.5, tangents=(1.0,)) == (7.0, 3.5)
        with pytest.raises(TypeError, match="'x' is in wrt but received int"):
            fixed.jvp(2, 3.5, tangents=(1.0,))
        value, tangent = inferred.jvp(np.arange(3.0), 2, tangents=(np.ones(3),))
        np.testing.assert_array_equal(tangent, [2.0, 2.0, 2.0])
        if backend == "python":  # int arrays are index data on the native backend
            value, tangent = inferred.jvp(np.arange(3), 2.0, tangents=(1.0,))  # data
            np.testing.assert_array_equal(tangent, [0.0, 1.0, 2.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unusual_first_call_does_not_leave_its_call_shape_without_a_plan(backend):
    from fwdcompile.calling import MISS, REPLAN_AFTER, _NO_PLAN

    g = forward_gradient(h, wrt=("x", "y"), backend=backend)
    x = np.linspace(0.1, 0.8, 8)
    first = g.jvp(x, x, tangents=(x.astype(np.float32), x))  # float32: no native plan
    key = (np.ndarray, np.ndarray, tuple)
    for _ in range(REPLAN_AFTER + 1):
        assert g._calls.jvp(x, x, tangents=(x, x))[0] == first[0]
    assert g._calls.plans[key] is not _NO_PLAN
    assert g._calls.plans[key]((x, x), {}, (x, x)) is not MISS


def _error(call):
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - compared by type and message
        return type(exc), str(exc)
    return None


BAD_CALLS = {
    "a tangent missing": lambda g: g.jvp(0.5, 0.2, tangents=(1.0,)),
    "a tangent too many": lambda g: g.jvp(0.5, 0.2, tangents=(1.0, 1.0, 1.0)),
    "no tangents": lambda g: g.jvp(0.5, 0.2),
    "a None tangent": lambda g: g.jvp(0.5, 0.2, tangents=(1.0, None)),
    "a boolean tangent": lambda g: g.jvp(0.5, 0.2, tangents=(True, 1.0)),
    "an array tangent for a scalar": lambda g: g.jvp(0.5, 0.2, tangents=(np.ones(2), 1.0)),
    "a string tangent": lambda g: g.jvp(0.5, 0.2, tangents=("a", 1.0)),
    "a dict missing a key": lambda g: g.jvp(0.5, 0.2, tangents={"x": 1.0}),
    "a dict with an unknown key": lambda g: g.jvp(0.5, 0.2, tangents={"x": 1.0, "z": 1.0}),
    "an unknown keyword": lambda g: g.jvp(0.5, 0.2, z=1.0, tangents=(1.0, 1.0)),
    "an argument twice": lambda g: g.jvp(0.5, 0.2, x=1.0, tangents=(1.0, 1.0)),
    "too many arguments": lambda g: g.jvp(0.5, 0.2, 1, 2, tangents=(1.0, 1.0)),
    "an int for a wrt parameter": lambda g: g.jvp(1, 0.2, tangents=(1.0, 1.0)),
    "a wrt parameter left out": lambda g: g.jvp(0.5, tangents=(1.0, 1.0)),
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_calls_raise_what_the_reference_path_raises_before_and_after_warming(backend):
    fresh = {name: _error(lambda: call(forward_gradient(f, wrt=("x", "y"), backend=backend)))
             for name, call in BAD_CALLS.items()}
    warm = forward_gradient(f, wrt=("x", "y"), backend=backend)
    for args, kwargs in [((0.5, 0.2), {}), ((0.5, 0.2, 1), {}), ((0.5,), {"y": 0.2}),
                         ((), {"x": 0.5, "y": 0.2})]:
        for tangents in [(1.0, 1.0), [1.0, 1.0], {"x": 1.0, "y": 1.0}]:
            warm.jvp(*args, tangents=tangents, **kwargs)  # plans (and the native entry) exist
    for name, call in BAD_CALLS.items():
        assert fresh[name] is not None, name
        assert _error(lambda: call(warm)) == fresh[name], name
    assert "tangent for parameter 'y' is None" in fresh["a None tangent"][1]
    assert "expected 2 tangent(s)" in fresh["a tangent missing"][1]
    assert fresh["no tangents"][0] is TypeError and "tangents" in fresh["no tangents"][1]


def test_array_errors_are_the_reference_errors_after_warming():
    x, y = np.ones(3), np.ones(3)
    for backend in ["python"] + (["llvm"] if HAVE_LLVM else []):
        warm = forward_gradient(h, wrt=("x", "y"), backend=backend)
        warm.jvp(x, y, tangents=(x, y))
        for tangents in [(np.ones(4), y), (x, np.ones((3, 1))), (x, np.arange(3)),
                         (x, np.ones(3, bool)), (x, None)]:
            fresh = forward_gradient(h, wrt=("x", "y"), backend=backend)
            expected = _error(lambda: fresh.jvp(x, y, tangents=tangents))
            assert expected is not None and expected[0] is ValueError
            assert _error(lambda: warm.jvp(x, y, tangents=tangents)) == expected


# ---------------------------------------------------------------- property: fast == reference

_WARM: dict = {}
_REFERENCE: dict = {}


def _decorated(cache, fn, mode, backend):
    """One decorated ``fn`` per (mode, backend) in ``cache``: the warmed one
    takes the fast paths, the reference one is only called on its reference path."""
    key = (fn, mode, backend)
    if key not in cache:
        cache[key] = forward_gradient(fn, wrt=("x", "y") if mode == "fixed" else None,
                                      backend=backend)
    return cache[key]


def _warm(fn, mode, backend):
    return _decorated(_WARM, fn, mode, backend)


def _reference(fn, mode, backend):
    return _decorated(_REFERENCE, fn, mode, backend)._calls


SCALAR_VALUES = st.sampled_from([0.5, np.float64(0.5), np.float32(0.5), 1, np.int64(2), True,
                                 np.ones(3)])
ARRAY_VALUES = st.sampled_from([np.linspace(0.1, 0.3, 3), np.linspace(0.1, 0.3, 3)[::-1],
                                np.arange(3), np.ones(4), np.ones((3, 1)), [0.1, 0.2, 0.3],
                                np.linspace(0.1, 0.3, 3).astype(np.float32), 0.5])
K_VALUES = st.sampled_from(["left out", 1, np.int64(2), 2.0, True])


def _tangent_values(arrays):
    if arrays:
        return st.sampled_from([np.ones(3), np.ones(4), np.arange(3), np.ones(3, np.float32),
                                np.ones((3, 1)), [1.0, 2.0, 3.0], None, 1.0])
    return st.sampled_from([1.0, np.float64(0.5), np.float32(0.25), 2, np.int64(3), True,
                            None, np.ones(2), 1j])


@st.composite
def calls(draw, arrays):
    values = ARRAY_VALUES if arrays else SCALAR_VALUES
    x, y, k = draw(values), draw(values), draw(K_VALUES)
    named = [("x", x), ("y", y)] + ([] if k == "left out" else [("k", k)])
    split = draw(st.integers(0, len(named)))
    args = tuple(v for _, v in named[:split])
    kwargs = dict(named[split:])
    order = draw(st.permutations(list(kwargs)))
    kwargs = {name: kwargs[name] for name in order}
    count = draw(st.sampled_from([2, 2, 2, 1, 3]))
    entries = [draw(_tangent_values(arrays)) for _ in range(count)]
    container = draw(st.sampled_from(["tuple", "list", "dict", "bare"]))
    if container == "tuple":
        tangents = tuple(entries)
    elif container == "list":
        tangents = list(entries)
    elif container == "dict":
        tangents = dict(zip(draw(st.permutations(["x", "y", "k"]))[:count], entries))
    else:
        tangents = entries[0]
    return args, kwargs, tangents


def _outcome(call):
    try:
        return "ok", call()
    except Exception as exc:  # noqa: BLE001 - compared by type and message
        return "error", (type(exc), str(exc))


def _same(a, b):
    if a[0] != b[0]:
        return False
    if a[0] == "error":
        return a[1] == b[1]
    (va, ta), (vb, tb) = a[1], b[1]
    return _equal(va, vb) and _equal(ta, tb)


def _equal(a, b):
    if isinstance(a, tuple) or isinstance(b, tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(_equal, a, b))
    return type(a) is type(b) and np.array_equal(a, b, equal_nan=True) \
        and np.shape(a) == np.shape(b) and np.asarray(a).dtype == np.asarray(b).dtype


def _valid_like(calls, args, kwargs, tangents):
    """Good tangents in the same container as ``tangents`` (so that the call
    shape is the same), or ``tangents`` when the call cannot be valid."""
    try:
        arguments = calls.bind(args, dict(kwargs))
        wrt = calls.wrt_for(arguments)
    except TypeError:
        return tangents
    good = [np.ones_like(arguments[n], dtype=float) if np.ndim(arguments[n]) else 1.0
            for n in wrt]
    if isinstance(tangents, dict):
        return dict(zip(wrt, good))
    if isinstance(tangents, (tuple, list)):
        return type(tangents)(good)
    return good[0] if len(good) == 1 else tangents


def _property(fn, arrays, backend, mode, call):
    args, kwargs, tangents = call
    warm = _warm(fn, mode, backend)
    reference = _reference(fn, mode, backend)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's complex-to-float, int overflow notes
        _outcome(lambda: warm.jvp(*args, tangents=_valid_like(reference, args, kwargs, tangents),
                                  **kwargs))  # a plan for this call shape, when it has one
        expected = _outcome(lambda: reference.reference(args, dict(kwargs), tangents))
        for _ in range(2):  # the first call may record a plan; the second takes it
            got = _outcome(lambda: warm.jvp(*args, tangents=tangents, **kwargs))
            assert _same(got, expected), (args, kwargs, tangents, got, expected)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["fixed", "inferred"])
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(call=calls(arrays=False))
def test_fast_paths_agree_with_the_reference_on_scalars(backend, mode, call):
    _property(f, False, backend, mode, call)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["fixed", "inferred"])
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(call=calls(arrays=True))
def test_fast_paths_agree_with_the_reference_on_arrays(backend, mode, call):
    _property(h, True, backend, mode, call)


def test_f_jvp_stays_the_documented_method_on_the_class():
    from fwdcompile.api import ForwardGradient

    g = forward_gradient(f, wrt=("x", "y"))
    assert "tangents" in ForwardGradient.jvp.__doc__
    assert ForwardGradient.jvp(g, 0.5, 0.2, tangents=(1.0, 0.25)) == g.jvp(0.5, 0.2,
                                                                           tangents=(1.0, 0.25))


def test_the_python_entry_serves_its_call_shape_and_hands_on_every_other():
    g = forward_gradient(f, wrt=("x", "y"))
    first = g.jvp(0.5, 0.2, tangents=(1.0, 0.5))
    assert hasattr(g.jvp, "text")  # the entry with the first call shape inlined
    assert "gen(a0, a1" in g.jvp.text  # the generated function, called directly
    reference = forward_gradient(f, wrt=("x", "y"))._calls.reference
    assert first == reference((0.5, 0.2), {}, (1.0, 0.5))
    # other shapes through the same entry: ints, a list, keywords, numpy scalars, batched
    for args, kwargs, tangents in [((1, 0.2), {}, (1.0, 0.5)), ((0.5, 0.2), {}, [1.0, 0.5]),
                                   ((0.5,), {"y": 0.2}, (1.0, 0.5)),
                                   ((np.float64(0.5), 0.2), {}, (1.0, np.float64(0.5))),
                                   ((0.5, 0.2, 3), {}, (1.0, 0.5))]:
        if type(args[0]) is int:
            with pytest.raises(TypeError, match="in wrt but received int"):
                g.jvp(*args, tangents=tangents, **kwargs)
            continue
        assert g.jvp(*args, tangents=tangents, **kwargs) == \
            reference(args, kwargs, tangents), (args, kwargs, tangents)
    value, tangent = g.jvp(0.5, 0.2, tangents=(np.array([1.0, 0.0]), np.array([0.0, 1.0])),
                           batched=True)
    assert np.allclose(tangent, [g.jvp(0.5, 0.2, tangents=(1.0, 0.0))[1],
                                 g.jvp(0.5, 0.2, tangents=(0.0, 1.0))[1]])


@pytest.mark.skipif(importlib.util.find_spec("llvmlite") is None, reason="needs llvmlite")
def test_the_native_entry_binds_keyword_names_that_are_not_interned():
    # keyword names from the caller's source are interned and compared by
    # address; a name built at run time is an equal str at another address
    g = forward_gradient(f, wrt=("x", "y"), backend="llvm")
    expected = g.jvp(0.5, 0.2, tangents=(1.0, 0.5))
    built = "".join(["tan", "gents"])
    assert built == "tangents" and built is not "tangents"  # noqa: F632
    assert g.jvp(0.5, 0.2, **{built: (1.0, 0.5)}) == expected
    y_name = "".join(["y", ""]) + ""
    assert g.jvp(0.5, **{y_name: 0.2}, tangents=(1.0, 0.5)) == expected
    assert g.jvp(np.float64(0.5), 0.2, tangents=(1.0, 0.5)) == expected  # converted floats
