"""Property tests: random array programs with broadcasting, stores and
reductions, differentiated with respect to a random subset of their
parameters, against the dual-number reference of tests/dual.py.

The generated function takes 2-4 parameters, each a scalar, a row (N,), a
column (M, 1) or a matrix (M, N); a random non-empty subset is ``wrt`` and
the others are data (float arrays too).  The body mixes

* broadcasting between differentiated and inactive operands of every rank,
* ``.T`` / ``reshape`` / ``[:, None]`` / ``[None, :]`` / ``ravel`` after a broadcast,
* reductions along every axis (``axis=0/1/-1/None``, ``keepdims``): sum, mean,
  max/min (made tie-free), std,
* (store programs) writes into an array made by ``np.zeros`` / ``copy``:
  through tuple, slice, fancy and boolean indices, augmented stores with
  broadcasting, element swaps ``y[0, 1], y[2, 3] = y[2, 3], y[0, 1]`` and row
  swaps (fancy, and the basic-index form whose aliasing numpy defines).

Each program runs in single mode and in vector mode (K in 1, 2, M, N) and
the tangents are compared with dual numbers (exact to rounding); the value
must be the primal, tangent shapes must match, and the caller's arrays and
tangents must come back unchanged.

CI runs ``FWDCOMPILE_PROPERTY_EXAMPLES`` examples per test (default 40);
run thoroughly with e.g. ``FWDCOMPILE_PROPERTY_EXAMPLES=2000``.
"""

import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import dual
import harness
import oracle
from test_properties import _load

fwdcompile = pytest.importorskip("fwdcompile")

EXAMPLES = int(os.environ.get("FWDCOMPILE_PROPERTY_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=bool(os.environ.get("CI")),
                    report_multiple_bugs=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])

M, N = 3, 4
KINDS = {"scalar": (), "row": (N,), "col": (M, 1), "mat": (M, N)}
PARAMS = ["p", "q", "r", "s"]


# --------------------------------------------------------------------------
# the generator: statements are drawn from templates and kept only when
# numpy accepts them on dummy arrays of the tracked shapes
# --------------------------------------------------------------------------

def _dummy(shape, salt):
    if shape == ():
        return 0.37 + 0.1 * salt
    size = int(np.prod(shape))
    return (np.arange(size, dtype=float).reshape(shape) * 0.13 + 0.2 * salt) % 1.7 - 0.6


class _Env:
    def __init__(self, params):
        self.shapes = {}
        self.values = {}
        for i, (name, kind) in enumerate(params):
            self.add(name, KINDS[kind], _dummy(KINDS[kind], i))

    def add(self, name, shape, value):
        self.shapes[name] = shape
        self.values[name] = value

    def names(self, pred=lambda s: True):
        return [n for n, s in self.shapes.items() if pred(s)]

    def try_exec(self, stmt, target=None):
        """Run ``stmt`` on the dummy values; keep the new value of ``target``."""
        ns = {"np": np}
        ns.update({k: (v.copy() if isinstance(v, np.ndarray) else v)
                   for k, v in self.values.items()})
        try:
            with np.errstate(all="ignore"):
                exec(stmt, ns)
        except Exception:  # noqa: BLE001  (a template that does not fit these shapes)
            return False
        if target is not None:
            value = ns[target]
            if not isinstance(value, (float, np.floating, np.ndarray)):
                return False
            if isinstance(value, np.ndarray) and value.dtype.kind != "f":
                return False
            self.add(target, np.shape(value), value)
        for k in self.values:  # in-place statements change existing values
            self.values[k] = ns[k]
        return True


def _unary(draw, a):
    kind = draw(st.sampled_from(["sin", "tanh", "expt", "logsq", "sqrtsq", "sq", "neg", "cos"]))
    return {"sin": f"np.sin({a})", "cos": f"np.cos({a})", "tanh": f"np.tanh({a})",
            "expt": f"np.exp(np.tanh({a}))", "logsq": f"np.log(1.0 + {a} * {a})",
            "sqrtsq": f"np.sqrt(0.5 + {a} * {a})", "sq": f"{a} ** 2", "neg": f"-{a}"}[kind]


def _binary(draw, a, b):
    op = draw(st.sampled_from(["+", "-", "*", "/", "*"]))
    if op == "/":
        return f"{a} / (1.25 + {b} * {b})"
    return f"{a} {op} {b}"


def _reduction(draw, a, shape):
    nd = len(shape)
    axis = draw(st.sampled_from([None, 0, 1, -1] if nd == 2 else [None, 0, -1]))
    keep = draw(st.booleans())
    kind = draw(st.sampled_from(["np.sum", ".sum", "np.mean", ".mean", "max", "min", "std"]))
    args = f"axis={axis}" + (", keepdims=True" if keep else "")
    if kind in ("max", "min"):  # tie-free: a broadcast value repeats along an axis
        tie = f"0.01 * np.arange({int(np.prod(shape))}).reshape({shape})"
        fn = "np.max" if kind == "max" else "np.min"
        return f"{fn}({a} + {tie}, {args})"
    if kind == "std":  # at least two elements, else a kink at 0
        if (axis is None and int(np.prod(shape)) < 2) or (
                axis is not None and shape[axis] < 2):
            return f"np.sum({a}, {args})"
        return f"np.std({a}, {args})"
    if kind.startswith("."):
        return f"({a}){kind}({args})"
    return f"{kind}({a}, {args})"


def _reshape(draw, a, shape):
    nd = len(shape)
    options = []
    if nd == 2:
        options += [f"{a}.T", f"np.transpose({a})", f"{a}.reshape(-1)", f"{a}.ravel()",
                    f"{a}[:, 0]", f"{a}[0]", f"{a}[None, :, :].sum(axis=0)"]
        size = shape[0] * shape[1]
        options += [f"{a}.reshape({r}, {size // r})" for r in (2, 3, 4, 6) if size % r == 0]
    if nd == 1:
        options += [f"{a}[:, None]", f"{a}[None, :]", f"{a}.reshape(1, -1)",
                    f"{a}.reshape(-1, 1)", f"{a}[::-1]", f"{a}[1:]"]
    return draw(st.sampled_from(options)) if options else a


@st.composite
def broadcast_programs(draw, stores=False):
    nparams = draw(st.integers(2, 4))
    kinds = [draw(st.sampled_from(list(KINDS))) for _ in range(nparams)]
    params = list(zip(PARAMS, kinds))
    env = _Env(params)
    body = []
    counter = [0]

    def fresh():
        counter[0] += 1
        return f"t{counter[0]}"

    def emit(stmt, target=None):
        if env.try_exec(stmt, target):
            body.append(stmt)
            return True
        return False

    def array_names(nd=None):
        return env.names(lambda s: len(s) >= 1 if nd is None else len(s) == nd)

    n_statements = draw(st.integers(2, 6))
    for _ in range(n_statements):
        kind = draw(st.sampled_from(["binary", "binary", "unary", "reduce", "reshape",
                                     "mixed"]))
        names = env.names()
        a = draw(st.sampled_from(names))
        b = draw(st.sampled_from(names))
        t = fresh()
        if kind == "binary":
            stmt = f"{t} = {_binary(draw, a, b)}"
        elif kind == "unary":
            stmt = f"{t} = {_unary(draw, a)}"
        elif kind == "mixed":
            stmt = f"{t} = {_binary(draw, _unary(draw, a), b)}"
        elif kind == "reduce":
            arrays = array_names()
            if not arrays:
                continue
            a = draw(st.sampled_from(arrays))
            stmt = f"{t} = {_reduction(draw, a, env.shapes[a])}"
        else:
            arrays = array_names()
            if not arrays:
                continue
            a = draw(st.sampled_from(arrays))
            stmt = f"{t} = {_reshape(draw, a, env.shapes[a])} * 1.0"
        emit(stmt, t)

    if stores:
        _stores(draw, env, emit, fresh)

    # the result: one value, a pair, or a scalar
    names = env.names()
    derived = [n for n in names if n not in PARAMS] or names
    form = draw(st.sampled_from(["one", "pair", "sum"]))
    last = derived[-1]
    if form == "one":
        ret = last
    elif form == "pair":
        ret = f"{last}, {draw(st.sampled_from(names))}"
    else:
        ret = f"np.sum({last} * {draw(st.sampled_from(names))})"
    text = [f"def f({', '.join(p for p, _ in params)}):"] + ["    " + s for s in body]
    text.append(f"    return {ret}")
    return params, "\n".join(text) + "\n"


def _stores(draw, env, emit, fresh):
    """An array to write into, and a few writes of every kind."""
    y = fresh()
    arrays = env.names(lambda s: len(s) >= 1)
    start = draw(st.sampled_from(["zeros", "copy", "broadcast"] if arrays else ["zeros"]))
    shape = draw(st.sampled_from([(M, N), (N,), (M, N)]))
    if start == "zeros":
        ok = emit(f"{y} = np.zeros({shape})", y)
    elif start == "copy":
        ok = emit(f"{y} = {draw(st.sampled_from(arrays))}.copy()", y)
    else:  # a broadcast result, materialized
        a, b = draw(st.sampled_from(env.names())), draw(st.sampled_from(env.names()))
        ok = emit(f"{y} = np.zeros({shape}) + {a} * {b}", y)
    if not ok:
        emit(f"{y} = np.zeros({shape})", y)
    for _ in range(draw(st.integers(1, 5))):
        shp = env.shapes[y]
        nd = len(shp)
        if nd == 0 or min(shp) < 1:  # nothing left to index into
            break
        names = env.names()
        src = draw(st.sampled_from(names))
        other = draw(st.sampled_from(names))
        expr = draw(st.sampled_from([src, _unary(draw, src), f"{src} * {other}"]))
        i0 = draw(st.integers(0, shp[0] - 1))
        i1 = draw(st.integers(0, shp[0] - 1))
        if nd == 2:
            j0 = draw(st.integers(0, shp[1] - 1))
            j1 = draw(st.integers(0, shp[1] - 1))
        kind = draw(st.sampled_from(["tuple", "slice", "fancy", "bool", "aug", "aug_index",
                                     "swap", "rowswap", "rowswap_views", "fancy_aug"]))
        scalar = env.names(lambda s: s == ())
        sc = draw(st.sampled_from(scalar)) if scalar else "1.5"
        if kind == "tuple":
            idx = f"{i0}, {j0}" if nd == 2 else f"{i0}"
            stmts = [f"{y}[{idx}] = {draw(st.sampled_from([sc, f'np.sin({sc})', f'{sc} * {sc}']))}"]
            if nd == 2 and draw(st.booleans()):  # from another element of an array
                arr2 = env.names(lambda s: len(s) == 2)
                if arr2:
                    stmts = [f"{y}[{idx}] = {draw(st.sampled_from(arr2))}[{i1 % M}, {j1 % N}]"]
        elif kind == "slice":
            idx = draw(st.sampled_from([f"{i0}", ":, 0", "1:", ":, ::2", "::-1", "..."]
                                       if nd == 2 else [f"{i0}:", "::2", "::-1", "..."]))
            stmts = [f"{y}[{idx}] = {expr}"]
        elif kind == "fancy":
            idx = draw(st.sampled_from([f"[{i0}, {i1}]", f"[{i1}]", f"np.array([{i0}])"]))
            if nd == 2 and draw(st.booleans()):
                idx = f"[{i0}, {i1}], [{j0}, {j1}]"
            stmts = [f"{y}[{idx}] = {expr}"]
        elif kind == "bool":
            stmts = [draw(st.sampled_from([f"{y}[{y} > 0.1] = {sc}",
                                           f"{y}[{y} < 0.0] *= {sc}",
                                           f"{y}[np.abs({y}) > 0.3] = {expr}"]))]
        elif kind == "aug":
            op = draw(st.sampled_from(["+=", "-=", "*="]))
            stmts = [f"{y} {op} {expr}"]
        elif kind == "aug_index":
            op = draw(st.sampled_from(["+=", "-=", "*="]))
            idx = draw(st.sampled_from([f"{i0}", ":, 1", f"{i0}, {j0}"] if nd == 2
                                       else [f"{i0}", "1:", "::2"]))
            stmts = [f"{y}[{idx}] {op} {expr}"]
        elif kind == "fancy_aug":
            stmts = [f"{y}[[{i0}, {i1}]] += {expr}"]
        elif kind == "swap":
            if nd == 2:
                stmts = [f"{y}[{i0}, {j0}], {y}[{i1}, {j1}] = {y}[{i1}, {j1}], {y}[{i0}, {j0}]"]
            else:
                stmts = [f"{y}[{i0}], {y}[{i1}] = {y}[{i1}], {y}[{i0}]"]
        elif kind == "rowswap":
            stmts = [f"{y}[[{i0}, {i1}]] = {y}[[{i1}, {i0}]]"]
        else:  # basic-index row swap: rows are views, numpy's aliasing decides
            stmts = [f"{y}[{i0}], {y}[{i1}] = {y}[{i1}], {y}[{i0}]"]
        for stmt in stmts:
            emit(stmt)
        if draw(st.booleans()):  # read the array after the write
            t = fresh()
            emit(f"{t} = {_binary(draw, y, draw(st.sampled_from(env.names())))}", t)


# --------------------------------------------------------------------------
# the check
# --------------------------------------------------------------------------

def _args_for(params, rng):
    return tuple(float(rng.uniform(-1.5, 1.5)) if kind == "scalar"
                 else rng.uniform(-1.5, 1.5, KINDS[kind]) for _, kind in params)


def _leaf_shapes_ok(val, dval, k=None):
    v_leaves, d_leaves = oracle.leaves(val), oracle.leaves(dval)
    assert len(v_leaves) == len(d_leaves)
    for j, (v, d) in enumerate(zip(v_leaves, d_leaves)):
        want = np.shape(v) if k is None else (k,) + np.shape(v)
        assert np.shape(d) == want, f"tangent {j} has shape {np.shape(d)}, expected {want}"
        assert isinstance(d, float) or np.asarray(d).dtype.kind == "f"


def _check(params, source, wrt_mask, seed, k):
    module = _load(source, "def probe():\n    return 1.0, 1.0\n")
    rng = np.random.default_rng(seed)
    args = _args_for(params, rng)
    with np.errstate(all="ignore"):
        try:
            value = module.f(*harness.fresh(args))
        except Exception:  # noqa: BLE001  (the dummy values passed, these do not)
            assume(False)
    leaves = [np.asarray(l, dtype=float) for l in oracle.leaves(value)]
    assume(all(np.all(np.isfinite(l)) and np.all(np.abs(l) < 1e6) for l in leaves))
    active = [i for i, m in enumerate(wrt_mask) if m]
    wrt = tuple(params[i][0] for i in active)
    event(f"wrt {len(wrt)} of {len(params)}")
    f = fwdcompile.forward_gradient(module.f, wrt=wrt)
    where = f"wrt={wrt}\n{source}"

    # single direction
    tangents = tuple(harness.make_tangent(rng, args[i]) for i in active)
    given, given_t = harness.fresh(args), harness.fresh(tangents)
    val, dval = f.jvp(*given, tangents=given_t)
    harness.assert_same_structure_equal(val, value, exact=False, rtol=1e-12)
    _leaf_shapes_ok(val, dval)
    for a, b in zip(given, args):
        np.testing.assert_array_equal(a, b, err_msg=f"jvp modified an argument\n{where}")
    for a, b in zip(given_t, tangents):
        np.testing.assert_array_equal(a, b, err_msg=f"jvp modified a tangent\n{where}")
    _, ref = dual.jvp(module.f, args, active, tangents)
    ok, worst = oracle.close(dval, ref, rtol=1e-9)
    assert ok, f"single mode differs from dual numbers: {worst}\n{where}"

    # K directions at once
    tangents = tuple(rng.standard_normal((k,) + np.shape(args[i])) for i in active)
    given, given_t = harness.fresh(args), harness.fresh(tangents)
    val, dval = f.jvp(*given, tangents=given_t, batched=True)
    harness.assert_same_structure_equal(val, value, exact=False, rtol=1e-12)
    _leaf_shapes_ok(val, dval, k)
    for a, b in zip(given_t, tangents):
        np.testing.assert_array_equal(a, b, err_msg=f"batched jvp modified a tangent\n{where}")
    _, ref = dual.jvp(module.f, args, active, tangents, batched=True)
    ok, worst = oracle.close(dval, ref, rtol=1e-9)
    assert ok, f"batched mode (K={k}) differs from dual numbers: {worst}\n{where}"


def _wrt_masks(n):
    return st.lists(st.booleans(), min_size=n, max_size=n).filter(any)


@st.composite
def _program_and_wrt(draw, stores):
    params, source = draw(broadcast_programs(stores=stores))
    mask = draw(_wrt_masks(len(params)))
    return params, source, mask


@SETTINGS
@given(prog=_program_and_wrt(stores=False), seed=st.integers(0, 2 ** 32 - 1),
       k=st.sampled_from([1, 2, M, N]))
def test_random_broadcast_programs(prog, seed, k):
    params, source, mask = prog
    _check(params, source, mask, seed, k)


@SETTINGS
@given(prog=_program_and_wrt(stores=True), seed=st.integers(0, 2 ** 32 - 1),
       k=st.sampled_from([1, 2, M, N]))
def test_random_store_programs(prog, seed, k):
    params, source, mask = prog
    _check(params, source, mask, seed, k)


# --------------------------------------------------------------------------
# the reference itself, on the constructs the generator uses
# --------------------------------------------------------------------------

def _swap_rows_views(y):
    y = y.copy()
    y[0], y[2] = y[2], y[0]
    return y


def _swap_elements(y):
    y = y.copy()
    y[0], y[2] = y[2], y[0]
    return y


@pytest.mark.parametrize("fn, shape", [(_swap_rows_views, (3, 2)), (_swap_elements, (4,))])
def test_dual_reference_follows_numpy_aliasing(fn, shape):
    """Rows read with a basic index are views (both rows end up equal), single
    elements are copies (a real swap): the dual tangent does the same as a
    finite difference of the same code."""
    rng = np.random.default_rng(0)
    x, v = rng.standard_normal(shape), rng.standard_normal(shape)
    _, d = dual.jvp(fn, (x,), [0], (v,))
    ref, _ = oracle.jvp_reference(fn, (x,), [0], (v,), complex_ok=True)
    np.testing.assert_allclose(d, ref, rtol=1e-12)


@settings(max_examples=max(20, EXAMPLES // 2), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(prog=_program_and_wrt(stores=True), seed=st.integers(0, 2 ** 32 - 1))
def test_dual_reference_agrees_with_complex_step(prog, seed):
    """The generated programs are complex-analytic except max/min/abs/std and
    boolean masks; where the complex step runs, it agrees with dual numbers."""
    params, source, mask = prog
    module = _load(source, "def probe():\n    return 1.0, 1.0\n")
    rng = np.random.default_rng(seed)
    args = _args_for(params, rng)
    active = [i for i, m in enumerate(mask) if m]
    tangents = tuple(harness.make_tangent(rng, args[i]) for i in active)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            # a complex value stored into a float array drops its imaginary part
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            module.f(*harness.fresh(args))
            ref, _ = oracle.jvp_reference(module.f, args, active, tangents, complex_ok=True)
    except Exception:  # noqa: BLE001  (complex values into max/bool masks/...: not analytic)
        assume(False)
    assume(all(np.all(np.isfinite(np.asarray(l, dtype=float))) for l in oracle.leaves(ref)))
    assume(not any(w in source for w in ("max", "min", "std", ">", "<", "abs")))
    _, d = dual.jvp(module.f, args, active, tangents)
    ok, worst = oracle.close(d, ref, rtol=1e-9)
    assert ok, f"{worst}\n{source}"
