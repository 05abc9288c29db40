"""Golden tests of the generated source (``f.source``).

Each entry compiles a corpus function, calls ``jvp`` once with the corpus
arguments (so the source is that of the signature actually used), and
compares ``f.source`` with ``tests/golden/<name>.py.txt``.

Regenerate deliberately with::

    FWDCOMPILE_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py

and review the diff like any other code change.
"""

import inspect
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import corpus
import harness
import oracle

fwdcompile = pytest.importorskip("fwdcompile")

GOLDEN_DIR = pathlib.Path(__file__).parent / "golden"
UPDATE = os.environ.get("FWDCOMPILE_UPDATE_GOLDEN") == "1"

# name -> wrt (None: the case's own)
GOLDEN = {
    "loss": ("W", "b"),            # logsumexp softmax cross-entropy, integer labels
    "rosenbrock": None,            # slicing, reductions
    "newton_sqrt": None,           # Newton while loop
    "boolean_ops": None,           # if / elif / else with and / or / not
    "inplace_add": None,           # loop with out[i] += ...
    "heat_swap": None,             # u, u_new = u_new, u
    "uses_helpers": None,          # helper calls (helpers' jvp in the source)
    "power_variable_exponent": None,  # x ** y
    "polar": None,                 # tuple return
    "sum_keepdims": None,          # reduction with keepdims
    "matmul_chain": None,          # A @ B @ C @ x
    "abs_min_max": None,           # abs / max / min
    "comp_sum_generator": None,    # sum(w * np.sin(x) for x in X): a loop filling a list
    "comp_nested_filter": None,    # nested comprehensions with filters
    "comp_dict": None,             # {k: ... for k in ...} and dict(a=...)
    "errstate_log": None,          # with np.errstate(...) around primal and tangent
}


def _compile(name):
    case = corpus.get(name)
    wrt = GOLDEN[name] if GOLDEN[name] is not None else case.wrt
    f = (fwdcompile.forward_gradient(case.fn) if wrt is None
         else fwdcompile.forward_gradient(wrt=wrt)(case.fn))
    args = harness.make_args(case)
    if wrt is None:
        active = harness.active_positions(case, args)
    else:
        names = harness.param_names(case.fn)
        active = sorted(names.index(w) if isinstance(w, str) else w for w in wrt)
    tangents = harness.make_tangents(case, args, active)
    result = f.jvp(*harness.fresh(args), tangents=harness.fresh(tangents), **case.kwargs)
    return case, f, args, active, tangents, result


def _golden_path(name):
    return GOLDEN_DIR / f"{name}.py.txt"


def test_golden_set_is_in_the_corpus():
    assert harness.CASES  # loads the corpus
    for name in GOLDEN:
        assert name in corpus.CASES


# vector mode (``f.batched_source``): tests/golden/<name>_batched.py.txt
BATCHED_GOLDEN = ["loss", "rosenbrock", "newton_sqrt", "inplace_add", "heat_swap",
                  "power_variable_exponent", "polar", "sum_keepdims", "matmul_chain",
                  "abs_min_max", "errstate_log"]


@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden_source(name):
    _, f, *_ = _compile(name)
    _compare_with_golden(name, f.source)


@pytest.mark.parametrize("name", BATCHED_GOLDEN)
def test_golden_batched_source(name):
    _, f, *_ = _compile(name)
    _compare_with_golden(f"{name}_batched", f.batched_source)


@pytest.mark.parametrize("name", BATCHED_GOLDEN)
def test_golden_batched_source_executes(name):
    """The batched golden source, run with K = 3 directions, gives the three
    single-direction JVPs."""
    path = _golden_path(f"{name}_batched")
    if not path.exists():
        pytest.skip("golden file not generated yet")
    case, f, args, active, tangents, _ = _compile(name)
    generated = _load_source(path.read_text(), case.fn)
    rng = np.random.default_rng(0)
    stacked = [np.stack([rng.standard_normal(np.shape(t)) for _ in range(3)]) for t in tangents]
    out_val, out_tan = generated(*harness.fresh(args), *stacked, **case.kwargs)
    for k in range(3):
        val, want = f.jvp(*harness.fresh(args), tangents=tuple(t[k] for t in stacked),
                          **case.kwargs)
        harness.assert_same_structure_equal(out_val, val, exact=False, rtol=1e-14)
        got = [np.asarray(t)[k] for t in oracle.leaves(out_tan)]
        ok, worst = oracle.close(tuple(got), tuple(oracle.leaves(want)), rtol=1e-10)
        assert ok, worst


def test_batched_golden_set_is_golden():
    assert set(BATCHED_GOLDEN) <= set(GOLDEN)


def _compare_with_golden(name, source):
    assert isinstance(source, str) and source.strip()
    path = _golden_path(name)
    if UPDATE:
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(source)
        return
    if not path.exists():
        pytest.fail(f"{path} is missing; generate it with FWDCOMPILE_UPDATE_GOLDEN=1")
    expected = path.read_text()
    if source != expected:
        import difflib
        diff = "\n".join(difflib.unified_diff(expected.splitlines(), source.splitlines(),
                                              "golden", "generated", lineterm=""))
        pytest.fail(f"generated source of {name} changed "
                    f"(FWDCOMPILE_UPDATE_GOLDEN=1 to accept):\n{diff}")


@pytest.mark.parametrize("name", list(GOLDEN))
def test_source_is_deterministic_in_process(name):
    _, f1, *_ = _compile(name)
    _, f2, *_ = _compile(name)
    assert f1.source == f2.source


_SUBPROCESS = r"""
import json, sys
sys.path.insert(0, {tests!r})
sys.path.insert(0, {root!r})
import test_golden
print(json.dumps({{name: test_golden._compile(name)[1].source for name in test_golden.GOLDEN}}))
"""


def test_source_is_deterministic_across_processes():
    """Same text under different hash seeds (no set/dict-order dependence)."""
    tests = str(pathlib.Path(__file__).parent)
    root = str(pathlib.Path(__file__).parent.parent)
    outputs = []
    for seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        proc = subprocess.run([sys.executable, "-c", _SUBPROCESS.format(tests=tests, root=root)],
                              capture_output=True, text=True, env=env, cwd=root, timeout=300)
        assert proc.returncode == 0, proc.stderr
        outputs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert outputs[0] == outputs[1]
    here = {name: _compile(name)[1].source for name in GOLDEN}
    assert here == outputs[0]


def _load_source(text, fn):
    """Execute generated source as the user's module would see it."""
    from fwdcompile import runtime
    import math
    scope = dict(fn.__globals__)
    scope.update({"_np": np, "_math": math, "_rt": runtime})
    code = compile(text, f"<golden {fn.__name__}>", "exec")
    before = set(scope)
    exec(code, scope)
    defined = [k for k in scope if k not in before or scope[k] is not fn.__globals__.get(k)]
    first = text[text.index("def ") + 4:].split("(", 1)[0].strip()
    assert first in defined
    return scope[first]


@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden_source_executes(name):
    path = _golden_path(name)
    if not path.exists():
        pytest.skip("golden file not generated yet")
    case, f, args, active, tangents, (val, dval) = _compile(name)
    generated = _load_source(path.read_text(), case.fn)
    params = list(inspect.signature(generated).parameters)
    assert len(params) == len(args) + len(tangents), params
    out_val, out_tan = generated(*harness.fresh(args), *harness.fresh(tangents), **case.kwargs)
    harness.assert_same_structure_equal(out_val, val, exact=False, rtol=1e-14)
    ref, _ = oracle.jvp_reference(case.fn, args, active, tangents, case.kwargs,
                                  complex_ok=case.complex_ok, scale=case.fd_scale)
    # statically zero tangents may come back as None / scalars; give them the value's shape
    tan_leaves = [np.zeros(np.shape(v)) if t is None else np.broadcast_to(t, np.shape(v))
                  for v, t in zip(oracle.leaves(out_val), _tangent_leaves(out_tan, out_val))]
    ok, worst = oracle.close(tuple(tan_leaves), tuple(oracle.leaves(ref)), rtol=1e-7)
    assert ok, worst


def _tangent_leaves(tan, val):
    if isinstance(val, tuple):
        if not isinstance(tan, tuple):
            return [tan] * len(val)
        out = []
        for t, v in zip(tan, val):
            out.extend(_tangent_leaves(t, v))
        return out
    return [tan]
