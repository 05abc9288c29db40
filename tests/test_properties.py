"""Property tests: random straight-line and branching programs.

Hypothesis builds the *source text* of a small numeric function (two or
three float arguments, + - * / and a few smooth functions, an ``if a > b``
branch), writes it to a real .py file (fwdcompile reads source with
``inspect.getsource``), imports it, decorates it, and compares the JVP with

* the finite-difference oracle (when Ridders' error estimate says the
  function is smooth along the direction, i.e. no branch is crossed), and
* an independent dual-number evaluation of the same text, which follows the
  branch the primal takes and is exact to rounding.
"""

import importlib.util
import itertools
import math
import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, reject, settings
from hypothesis import strategies as st

import harness
import oracle

fwdcompile = pytest.importorskip("fwdcompile")

# CI (CI=true) replays the same examples on every run, so a landing never
# depends on luck; local runs draw new ones each time
# FWDCOMPILE_PROPERTY_EXAMPLES=5000 for a thorough local run
EXAMPLES = int(os.environ.get("FWDCOMPILE_PROPERTY_EXAMPLES", "50"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=bool(os.environ.get("CI")),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

_TMP = tempfile.mkdtemp(prefix="fwdcompile_props_")
_COUNTER = itertools.count()


# --------------------------------------------------------------------------
# an independent reference: dual numbers
# --------------------------------------------------------------------------

class Dual:
    __array_priority__ = 1000

    def __init__(self, v, d):
        self.v, self.d = v, d

    @staticmethod
    def lift(x):
        return x if isinstance(x, Dual) else Dual(x, 0.0 * np.asarray(x) if
                                                   isinstance(x, np.ndarray) else 0.0)

    def __add__(self, o):
        o = Dual.lift(o)
        return Dual(self.v + o.v, self.d + o.d)

    __radd__ = __add__

    def __sub__(self, o):
        o = Dual.lift(o)
        return Dual(self.v - o.v, self.d - o.d)

    def __rsub__(self, o):
        return Dual.lift(o) - self

    def __mul__(self, o):
        o = Dual.lift(o)
        return Dual(self.v * o.v, self.d * o.v + self.v * o.d)

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = Dual.lift(o)
        return Dual(self.v / o.v, self.d / o.v - self.v * o.d / (o.v * o.v))

    def __rtruediv__(self, o):
        return Dual.lift(o) / self

    def __neg__(self):
        return Dual(-self.v, -self.d)

    def __pos__(self):  # +a is a new array in numpy, not a itself
        return Dual(+self.v, +self.d)

    # augmented assignment: numpy arrays are updated in place (so aliases see
    # the change, exactly as in the program under test); floats are rebound
    def __iadd__(self, o):
        o = Dual.lift(o)
        if not isinstance(self.v, np.ndarray):
            return self + o
        self.v += o.v
        self.d += o.d
        return self

    def __isub__(self, o):
        o = Dual.lift(o)
        if not isinstance(self.v, np.ndarray):
            return self - o
        self.v -= o.v
        self.d -= o.d
        return self

    def __imul__(self, o):
        o = Dual.lift(o)
        if not isinstance(self.v, np.ndarray):
            return self * o
        new_d = self.d * o.v + self.v * o.d
        self.v *= o.v
        self.d[...] = new_d
        return self

    def __getitem__(self, index):
        return Dual(self.v[index], self.d[index])

    def __setitem__(self, index, value):
        value = Dual.lift(value)
        self.v[index] = value.v
        self.d[index] = value.d

    def __pow__(self, n):
        assert isinstance(n, int)
        return Dual(self.v ** n, n * self.v ** (n - 1) * self.d)

    def __gt__(self, o):
        return self.v > Dual.lift(o).v

    def __lt__(self, o):
        return self.v < Dual.lift(o).v


class _DualMath:
    """``math`` / ``numpy`` stand-in for the functions the generator uses."""

    def __init__(self, lib):
        self.lib = lib

    def _unary(self, f, df, x):
        x = Dual.lift(x)
        return Dual(f(x.v), df(x.v) * x.d)

    def sin(self, x):
        return self._unary(self.lib.sin, self.lib.cos, x)

    def cos(self, x):
        return self._unary(self.lib.cos, lambda v: -self.lib.sin(v), x)

    def exp(self, x):
        return self._unary(self.lib.exp, self.lib.exp, x)

    def tanh(self, x):
        return self._unary(self.lib.tanh, lambda v: 1 - self.lib.tanh(v) ** 2, x)

    def log(self, x):
        return self._unary(self.lib.log, lambda v: 1 / v, x)

    def sqrt(self, x):
        return self._unary(self.lib.sqrt, lambda v: 0.5 / self.lib.sqrt(v), x)

    def zeros(self, n):
        return Dual(np.zeros(n), np.zeros(n))

    def sum(self, x):
        x = Dual.lift(x)
        return Dual(np.sum(x.v), np.sum(x.d))


DUAL_NS = {"math": _DualMath(math), "np": _DualMath(np)}


# --------------------------------------------------------------------------
# program generator
# --------------------------------------------------------------------------

CONSTS = ["0.5", "1.0", "1.5", "2.0", "-0.75", "3.0", "0.25"]
NOOPS = ["(+{})", "({} * 1.0)", "(1.0 * {})", "({} / 1.0)", "(-(-{}))", "({} + 0.0)",
         "({} ** 1)"]


def _expr(draw, names, depth, lib):
    if depth == 0 or draw(st.integers(0, 4)) == 0:
        if draw(st.integers(0, 3)) == 0:
            return draw(st.sampled_from(CONSTS))
        return draw(st.sampled_from(names))
    kind = draw(st.sampled_from(["+", "-", "*", "/", "/c", "neg", "sq", "sin", "cos", "exp",
                                 "tanh", "logsq", "sqrtsq", "noop", "sum"]))
    a = _expr(draw, names, depth - 1, lib)
    if kind == "noop":  # makes a new value equal to a: a simplifier must not alias it
        return draw(st.sampled_from(NOOPS)).format(a)
    if kind == "sum":  # a reduction: arrays meet scalars (np.sum of a float is a float)
        return f"np.sum({a})" if lib == "np" else f"({a} * 2.0)"
    if kind in "+-*":
        b = _expr(draw, names, depth - 1, lib)
        return f"({a} {kind} {b})"
    if kind == "/":
        b = _expr(draw, names, depth - 1, lib)
        return f"({a} / (1.25 + {b} * {b}))"
    if kind == "/c":
        return f"({a} / {draw(st.sampled_from(['2.0', '-3.0', '0.5']))})"
    if kind == "neg":
        return f"(-{a})"
    if kind == "sq":
        return f"({a} ** 2)"
    if kind == "exp":
        return f"{lib}.exp({lib}.tanh({a}))" if depth > 2 else f"{lib}.exp({a})"
    if kind == "logsq":
        return f"{lib}.log(1.0 + {a} * {a})"
    if kind == "sqrtsq":
        return f"{lib}.sqrt(0.5 + {a} * {a})"
    return f"{lib}.{kind}({a})"


@st.composite
def programs(draw, arrays=False):
    nargs = draw(st.integers(2, 3))
    args = ["a", "b", "c"][:nargs]
    lib = "np" if arrays else draw(st.sampled_from(["math", "math", "np"]))
    names = list(args)
    body = []
    helper = ""
    pair_result = False
    if draw(st.integers(0, 2)) == 0:  # a helper of the user's, maybe writing into an argument
        lines = ["def g(u, v, s=2.0):", f"    w = {_expr(draw, ['u', 'v'], 2, lib)}"]
        if arrays and draw(st.booleans()):
            lines.append(f"    u += {_expr(draw, ['u', 'v', 'w'], 1, lib)}")
        pair_result = draw(st.booleans())
        lines.append("    return w * v + u, w * s" if pair_result else "    return w * v + u")
        helper = "\n".join(lines) + "\n\n\n"
    for i in range(draw(st.integers(1, 4))):
        target = f"t{i}"
        if helper and i == 0:
            first, second = draw(st.sampled_from(list(itertools.product(names, repeat=2))))
            call = draw(st.sampled_from([f"g({first}, {second})", f"g({first}, v={second})",
                                         f"g({first}, {second}, s={first})"]))
            if pair_result:  # t0, t1 = g(...): two new names
                body.append(f"{target}, t{i}b = {call}")
                names.append(f"t{i}b")
            else:
                body.append(f"{target} = {call}")
        else:
            body.append(f"{target} = {_expr(draw, names, draw(st.integers(1, 3)), lib)}")
        names.append(target)
    if draw(st.booleans()):
        target = draw(st.sampled_from(names[nargs:]))
        if draw(st.booleans()):  # update an alias (for arrays maybe a view) of a value
            alias = f"t{len(names) - nargs}"
            if arrays and draw(st.booleans()):  # a view: of an argument, surely an array
                body.append(f"{alias} = {draw(st.sampled_from(args))}[:]")
            else:
                body.append(f"{alias} = {draw(st.sampled_from(names))}")
            names.append(alias)
            target = alias
        op = draw(st.sampled_from(["+=", "-=", "*="]))
        body.append(f"{target} {op} {_expr(draw, names, 2, lib)}")

    left, right = draw(st.sampled_from(list(itertools.permutations(names, 2))))
    if arrays:
        cond_left, cond_right = f"np.sum({left})", f"np.sum({right})"
    else:
        cond_left, cond_right = left, right
    n_branches = draw(st.integers(2, 3))
    branches = []
    for _ in range(n_branches):
        stmts = [f"r = {_expr(draw, names, 2, lib)}"]
        if draw(st.booleans()):
            target = draw(st.sampled_from(names[nargs:]))
            stmts.append(f"{target} = {_expr(draw, names + ['r'], 2, lib)}")
        branches.append(stmts)
    second_cond = (f"{cond_left} < {draw(st.sampled_from(['-0.5', '0.5', '1.0']))}"
                   if n_branches == 3 else None)

    text = [f"def f({', '.join(args)}):"]
    text += ["    " + s for s in body]
    probe = [f"def probe({', '.join(args)}):"] + ["    " + s for s in body]
    probe.append(f"    return ({cond_left} - {cond_right}), "
                 + (f"({second_cond.replace(' < ', ' - ')})" if second_cond else "1.0"))
    text.append(f"    if {cond_left} > {cond_right}:")
    text += ["        " + s for s in branches[0]]
    if second_cond:
        text.append(f"    elif {second_cond}:")
        text += ["        " + s for s in branches[1]]
    text.append("    else:")
    text += ["        " + s for s in branches[-1]]
    if draw(st.booleans()):
        text.append(f"    return r * {draw(st.sampled_from(names))} + r")
    else:
        text.append(f"    return r, {draw(st.sampled_from(names))}")
    return nargs, helper + "\n".join(text) + "\n", "\n".join(probe) + "\n"


@st.composite
def loop_programs(draw):
    """A for loop with a carried accumulator, an array filled in place, an
    integer-only branch and optionally a swap of two carried values."""
    nargs = draw(st.integers(2, 3))
    args = ["a", "b", "c"][:nargs]
    lib = draw(st.sampled_from(["math", "np"]))
    n = draw(st.integers(1, 4))
    names = list(args)
    text = [f"def f({', '.join(args)}):",
            f"    acc = {_expr(draw, names, 2, lib)}",
            f"    other = {_expr(draw, names, 1, lib)}",
            f"    out = np.zeros({n})"]
    # the loop may fill `out` through an alias or a view of it
    sink = draw(st.sampled_from(["out", "out", "view"]))
    if sink == "view":
        text.append(f"    view = {draw(st.sampled_from(['out', 'out[:]', 'out[::1]']))}")
    text.append(f"    for i in range({n}):")
    inner = names + ["acc", "other", "i"]
    text.append(f"        t = {_expr(draw, inner, 2, lib)}")
    update = draw(st.sampled_from(["acc = acc * 0.5 + t", "acc += t / (i + 1)",
                                   "acc = {lib}.tanh(acc) + t * other"]))
    text.append("        " + update.format(lib=lib))
    text.append(f"        {sink}[i] = {_expr(draw, inner + ['t'], 2, lib)}")
    if draw(st.booleans()):
        text.append("        if i % 2 == 0:")
        text.append(f"            {sink}[i] += acc")
        text.append("        else:")
        text.append(f"            {sink}[i] -= {_expr(draw, inner, 1, lib)}")
    if draw(st.booleans()):
        text.append("        acc, other = other, acc")
    if draw(st.booleans()):
        text.append("    return acc, out")
    else:
        text.append("    return np.sum(out) * other + acc")
    probe = [f"def probe({', '.join(args)}):", "    return (1.0,)"]
    return nargs, "\n".join(text) + "\n", "\n".join(probe) + "\n"


def _load(source_fn, source_probe):
    name = f"fwdprop_{os.getpid()}_{next(_COUNTER)}"
    path = os.path.join(_TMP, name + ".py")
    with open(path, "w") as fh:
        fh.write("import math\n\nimport numpy as np\n\n\n" + source_fn + "\n\n" + source_probe)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dual_eval(source_fn, args, tangents):
    ns = dict(DUAL_NS)
    exec(compile(source_fn, "<dual>", "exec"), ns)
    args, tangents = harness.fresh(args), harness.fresh(tangents)
    out = ns["f"](*(Dual(a, t) for a, t in zip(args, tangents)))
    if isinstance(out, tuple):
        return tuple(Dual.lift(o).d for o in out)
    return Dual.lift(out).d


def _check(nargs, source_fn, source_probe, args, tangents):
    module = _load(source_fn, source_probe)
    # every call gets its own copies: programs may update an argument in place
    # (``t0 = a; t0 += b``), and so may the generated code, tangents included
    fresh = harness.fresh
    with np.errstate(all="ignore"):
        try:
            value = module.f(*fresh(args))
            margins = module.probe(*fresh(args))
        except (OverflowError, ValueError, ZeroDivisionError):
            assume(False)  # the generated program itself fails here (math.exp overflow, ...)
    leaves = [np.asarray(l, dtype=float) for l in oracle.leaves(value)]
    assume(all(np.all(np.isfinite(l)) and np.all(np.abs(l) < 1e6) for l in leaves))
    # stay away from the branch boundaries
    assume(all(abs(float(m)) > 0.05 for m in margins))

    f = fwdcompile.forward_gradient(module.f)
    harness.assert_same_structure_equal(f(*fresh(args)), value, exact=True)
    val, dval = f.jvp(*fresh(args), tangents=fresh(tangents))
    for a, b in zip(oracle.leaves(val), leaves):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300)
    if isinstance(value, tuple):
        assert isinstance(dval, tuple) and len(dval) == len(value)

    dual = _dual_eval(source_fn, args, tangents)
    # an overflowing derivative (NaN or inf in the reference too) says nothing
    assume(all(np.all(np.isfinite(np.asarray(l, dtype=float))) for l in oracle.leaves(dual)))
    ok, worst = oracle.close(dval, dual, rtol=1e-9)
    assert ok, f"jvp differs from dual numbers: {worst}\n{source_fn}"

    ref, err = oracle.jvp_reference(module.f, args, list(range(nargs)), tangents)
    smooth = all(np.all(np.asarray(e) <= 1e-9 * np.maximum(1, np.abs(np.asarray(r))))
                 for r, e in zip(oracle.leaves(ref), oracle.leaves(err)))
    event("finite-difference oracle: " + ("used" if smooth else "skipped (not smooth)"))
    if smooth:
        ok, worst = oracle.close(dval, ref, rtol=1e-7)
        assert ok, f"jvp differs from the finite-difference oracle: {worst}\n{source_fn}"


floats = st.floats(-1.5, 1.5, allow_nan=False, allow_infinity=False)
tangent_floats = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False)


@SETTINGS
@given(prog=programs(), xs=st.lists(floats, min_size=3, max_size=3),
       vs=st.lists(tangent_floats, min_size=3, max_size=3))
def test_random_scalar_programs(prog, xs, vs):
    nargs, source_fn, source_probe = prog
    _check(nargs, source_fn, source_probe, tuple(xs[:nargs]), tuple(vs[:nargs]))


@SETTINGS
@given(prog=programs(arrays=True), seed=st.integers(0, 2 ** 32 - 1))
def test_random_array_programs(prog, seed):
    nargs, source_fn, source_probe = prog
    rng = np.random.default_rng(seed)
    args = tuple(rng.uniform(-1.5, 1.5, 3) for _ in range(nargs))
    tangents = tuple(rng.uniform(-1.0, 1.0, 3) for _ in range(nargs))
    _check(nargs, source_fn, source_probe, args, tangents)


@SETTINGS
@given(prog=loop_programs(), xs=st.lists(floats, min_size=3, max_size=3),
       vs=st.lists(tangent_floats, min_size=3, max_size=3))
def test_random_loop_programs(prog, xs, vs):
    nargs, source_fn, source_probe = prog
    _check(nargs, source_fn, source_probe, tuple(xs[:nargs]), tuple(vs[:nargs]))


def test_generated_programs_exercise_both_branches():
    """A smoke test of the generator itself: the examples are not all rejected
    and both sides of the branch occur."""
    seen = set()

    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(prog=programs(), xs=st.lists(floats, min_size=3, max_size=3))
    def run(prog, xs):
        nargs, source_fn, source_probe = prog
        module = _load(source_fn, source_probe)
        with np.errstate(all="ignore"):
            first, _ = module.probe(*xs[:nargs])
        seen.add(bool(first > 0))

    run()
    assert seen == {True, False}


@settings(max_examples=300, deadline=None, derandomize=bool(os.environ.get("CI")),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=st.sampled_from(harness.CASES), seed=st.integers(0, 2 ** 32 - 1))
def test_corpus_at_random_points(case, seed):
    """Every corpus case at other points of its domain (other branches taken)."""
    rng = np.random.default_rng(seed)
    args = tuple(case.make_args(rng))
    active = harness.active_positions(case, args)
    tangents = tuple(harness.make_tangent(rng, args[i]) for i in active)
    with np.errstate(all="ignore"):
        expected = case.fn(*harness.fresh(args), **case.kwargs)
    assume(all(np.all(np.isfinite(np.asarray(l, dtype=float))) for l in oracle.leaves(expected)))
    ref, err = oracle.jvp_reference(case.fn, args, active, tangents, case.kwargs,
                                    complex_ok=case.complex_ok, scale=case.fd_scale)
    smooth = all(np.all(np.asarray(e) <= 1e-9 * np.maximum(1, np.abs(np.asarray(r))))
                 for r, e in zip(oracle.leaves(ref), oracle.leaves(err)))
    assume(smooth)
    try:
        f = harness.compiled(case)
    except fwdcompile.FwdcompileError:
        # rejections depend on syntax and activity, not on the point:
        # test_corpus.py reports them for this case already
        reject()
    try:
        _, dval = f.jvp(*harness.fresh(args), tangents=harness.fresh(tangents), **case.kwargs)
    except fwdcompile.FwdcompileError:
        reject()
    ok, worst = oracle.close(dval, ref, rtol=1e-7)
    assert ok, f"{case.name}: {worst}"
