"""Parameters passed as structures (pytrees): dicts, lists, tuples, NamedTuples
and dataclasses of arrays.

Every JVP is checked against fourth-order central differences computed here
(the structure is perturbed leaf by leaf by this file's own code, not by
fwdcompile.tree), in one direction and in vector mode, for each subset of
the differentiated parameters; forward_grad with ``combine="project"`` and
at least as many directions as unknowns must give the exact gradient.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import NamedTuple

import numpy as np
import pytest

import fwdcompile
from fwdcompile import optim, tree
from fwdcompile.errors import UnsupportedSyntax

GOLDEN_DIR = pathlib.Path(__file__).parent / "golden"
UPDATE = os.environ.get("FWDCOMPILE_UPDATE_GOLDEN") == "1"


class Layer(NamedTuple):
    W: np.ndarray
    b: np.ndarray


@dataclasses.dataclass(frozen=True)
class Affine:
    A: np.ndarray
    shift: float

    def __post_init__(self):  # rebuilding a tangent must not run validation
        if np.ndim(self.A) != 2:
            raise ValueError("A must be a matrix")


@dataclasses.dataclass
class Scales:
    a: float
    v: np.ndarray


# ---------------------------------------------------------------- the functions

def predict(params, X):
    h = np.tanh(X @ params["W1"] + params["b1"])
    return h @ params["W2"]


def dict_mlp(params, X, y):
    return np.mean((predict(params, X) - y) ** 2)


def pairs(layers, x):
    h = x
    for W, b in layers:
        h = np.tanh(h @ W + b)
    return np.sum(h ** 2)


def indexed_namedtuples(layers, x):
    h = x
    for i in range(len(layers)):
        layer = layers[i]
        h = np.sin(h @ layer.W + layer.b)
    return np.sum(h)


def dict_items(params, x):
    s = 0.0
    for name, w in params.items():
        if name != "skip":
            s = s + np.sum(w * x)
    for k, w in enumerate(params.values()):
        s = s + k * np.sum(w ** 2)
    return s * len(params)


def nested_alias(params, x):
    enc = params["enc"]
    W, b = enc["W"], enc["b"]
    return np.sum(np.tanh(x @ W + b) * params["scale"])


def frozen_dataclass(p, x):
    return np.sum(np.cos(x @ p.A) + p.shift ** 2)


def mutable_dataclass(s, x):
    return np.sum(s.a * np.exp(s.v * x))


def as_values(ws, x):
    return np.sum(np.stack(ws) * x) + sum(ws)[0]


def encoder(p, x):
    return np.tanh(x @ p["W"])


def sub_structure(params, x):
    return np.sum(encoder(params["enc"], x) * params["out"])


def tuple_unpack(params, x):
    W, (b, c) = params
    return np.sum((x @ W + b) * c)


def slices_and_zip(params, x):
    for W in params["layers"][:-1]:
        x = np.tanh(x @ W)
    s = np.sum(x @ params["layers"][-1])
    for w, c in zip(params["ws"], params["cs"]):
        s = s + c * np.sum(w * x)
    return s + np.sum(np.stack(params["layers"][1:]))


def rnn(params, xs):
    h = np.zeros(params["Wh"].shape[0])
    for t in range(xs.shape[0]):
        h = np.tanh(params["Wh"] @ h + params["Wx"] @ xs[t] + params["b"])
    return np.sum(h ** 2)


def regularized(params, x):
    reg = sum(np.sum(w ** 2) for w in params.values())
    return np.sum(np.tanh(x @ params["W"] + params["b"])) + 0.1 * reg


# name -> (function, argument builder); argument 0 is the structure
def _cases():
    rng = np.random.default_rng(7)

    def r(*shape):
        return rng.normal(size=shape)

    X, y = r(6, 3), r(6)
    return {
        "dict_mlp": (dict_mlp, lambda: ({"W1": r(3, 4), "b1": r(4), "W2": r(4)}, X, y)),
        "pairs": (pairs, lambda: ([(r(3, 4), r(4)), (r(4, 2), r(2))], r(5, 3))),
        "indexed_namedtuples": (indexed_namedtuples,
                                lambda: ((Layer(r(3, 3), r(3)), Layer(r(3, 2), r(2))), r(4, 3))),
        "dict_items": (dict_items, lambda: ({"a": r(3), "b": r(3), "skip": r(3)}, r(3))),
        "nested_alias": (nested_alias, lambda: ({"enc": {"W": r(3, 2), "b": r(2)},
                                                 "scale": 1.5}, r(4, 3))),
        "frozen_dataclass": (frozen_dataclass, lambda: (Affine(r(3, 2), 0.7), r(4, 3))),
        "mutable_dataclass": (mutable_dataclass, lambda: (Scales(0.3, r(3) * 0.1), r(3))),
        "as_values": (as_values, lambda: ([r(3), r(3), r(3)], r(3))),
        "sub_structure": (sub_structure, lambda: ({"enc": {"W": r(3, 2)}, "out": r(2)},
                                                  r(4, 3))),
        "tuple_unpack": (tuple_unpack, lambda: ((r(3, 2), (r(2), r(2))), r(4, 3))),
        "slices_and_zip": (slices_and_zip, lambda: ({"layers": [r(3, 3), r(3, 3), r(3, 3)],
                                                     "ws": [r(3), r(3)], "cs": [1.0, -0.5]},
                                                    r(2, 3))),
        "regularized": (regularized, lambda: ({"W": r(3, 2), "b": r(2)}, r(4, 3))),
        "rnn": (rnn, lambda: ({"Wh": 0.3 * r(4, 4), "Wx": r(4, 3), "b": r(4)}, r(5, 3))),
    }


CASES = _cases()


# ---------------------------------------------------------------- an independent reference

def _leaves(value):
    """(leaves, rebuild) by this file's own traversal (not fwdcompile.tree)."""
    if isinstance(value, dict):
        keys = sorted(value)
        parts = [_leaves(value[k]) for k in keys]

        def rebuild(flat):
            out, i = {}, 0
            for k, (ls, rb) in zip(keys, parts):
                out[k] = rb(flat[i:i + len(ls)])
                i += len(ls)
            return out
        return [leaf for ls, _ in parts for leaf in ls], rebuild
    if isinstance(value, (list, tuple)) or dataclasses.is_dataclass(value):
        items = [getattr(value, f.name) for f in dataclasses.fields(value)] \
            if dataclasses.is_dataclass(value) else list(value)
        parts = [_leaves(v) for v in items]

        def rebuild(flat):
            out, i = [], 0
            for ls, rb in parts:
                out.append(rb(flat[i:i + len(ls)]))
                i += len(ls)
            if isinstance(value, list):
                return out
            if dataclasses.is_dataclass(value):  # batched leaves: no __post_init__
                obj = object.__new__(type(value))
                for f, o in zip(dataclasses.fields(value), out):
                    object.__setattr__(obj, f.name, o)
                return obj
            return type(value)(*out) if hasattr(value, "_fields") else tuple(out)
        return [leaf for ls, _ in parts for leaf in ls], rebuild
    return [value], lambda flat: flat[0]


def _fd_jvp(fn, args, tangents, wrt):
    """Fourth-order central difference of fn along ``tangents`` (one per wrt position)."""
    h = 1e-3

    def at(s):
        moved = list(args)
        for i, t in zip(wrt, tangents):
            leaves, rebuild = _leaves(args[i])
            t_leaves, _ = _leaves(t)
            moved[i] = rebuild([np.asarray(a) + s * np.asarray(d) if np.ndim(a) else
                                float(a) + s * float(d) for a, d in zip(leaves, t_leaves)])
        return fn(*moved)
    return (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h)


def _random_like(value, rng, leading=()):
    leaves, rebuild = _leaves(value)
    return rebuild([rng.normal(size=leading + np.shape(a)) if np.ndim(a) or leading
                    else float(rng.normal()) for a in leaves])


def _subsets(n_args):
    """wrt as positions: the structure alone, the data alone (when float), both."""
    return [(0,), (0, 1), (1,)][:3 if n_args >= 2 else 1]


# ---------------------------------------------------------------- JVPs

@pytest.mark.parametrize("name", sorted(CASES))
def test_jvp_matches_finite_differences(name):
    fn, make = CASES[name]
    args = make()
    rng = np.random.default_rng(1)
    for wrt in _subsets(len(args)):
        f = fwdcompile.forward_gradient(fn, wrt=wrt)
        tangents = tuple(_random_like(args[i], rng) for i in wrt)
        value, tangent = f.jvp(*args, tangents=tangents)
        assert value == pytest.approx(fn(*args), rel=1e-12)
        expected = _fd_jvp(fn, args, tangents, wrt)
        assert tangent == pytest.approx(expected, rel=1e-6, abs=1e-8), (name, wrt)


@pytest.mark.parametrize("name", sorted(CASES))
def test_vector_mode_batches_every_leaf(name):
    fn, make = CASES[name]
    args = make()
    rng = np.random.default_rng(2)
    k = 3
    for wrt in _subsets(len(args)):
        f = fwdcompile.forward_gradient(fn, wrt=wrt)
        batched = tuple(_random_like(args[i], rng, (k,)) for i in wrt)
        value, tangents = f.jvp(*args, tangents=batched, batched=True)
        assert np.shape(tangents) == (k,)
        for j in range(k):
            one = tuple(_leaves(b)[1]([leaf[j] for leaf in _leaves(b)[0]]) for b in batched)
            expected = _fd_jvp(fn, args, one, wrt)
            assert tangents[j] == pytest.approx(expected, rel=1e-6, abs=1e-8), (name, wrt, j)


@pytest.mark.parametrize("name", ["dict_mlp", "regularized"])
def test_vector_mode_is_one_run_not_a_loop_over_directions(name):
    fn, make = CASES[name]
    f = fwdcompile.forward_gradient(fn, wrt="params")
    args = make()
    f.jvp(*args, tangents=tree.map(np.zeros_like, args[0]))
    source = f.batched_source  # a ValueError if vector mode ran direction by direction
    assert "_K = _rt.batch_size(d_params)" in source
    assert "d_params_W = d_params['W']" in source or "d_params_W1 = d_params['W1']" in source


def test_a_single_structured_parameter_takes_its_tangent_bare_or_in_a_tuple():
    fn, make = CASES["pairs"]
    args = make()
    f = fwdcompile.forward_gradient(fn, wrt="layers")
    t = _random_like(args[0], np.random.default_rng(3))
    bare = f.jvp(*args, tangents=t)[1]
    assert f.jvp(*args, tangents=(t,))[1] == bare
    assert f.jvp(*args, tangents={"layers": t})[1] == bare


def test_inferred_wrt_includes_structures_of_floats():
    fn, make = CASES["nested_alias"]
    args = make()
    f = fwdcompile.forward_gradient(fn)
    t = (_random_like(args[0], np.random.default_rng(4)), np.zeros_like(args[1]))
    value, tangent = f.jvp(*args, tangents=t)
    assert tangent == pytest.approx(_fd_jvp(fn, args, t, (0, 1)), rel=1e-6)


# ---------------------------------------------------------------- forward gradients

@pytest.mark.parametrize("name", ["dict_mlp", "frozen_dataclass", "pairs"])
def test_forward_grad_returns_the_structure_and_projection_is_exact(name):
    fn, make = CASES[name]
    args = make()
    f = fwdcompile.forward_gradient(fn, wrt=0)
    leaves, rebuild = _leaves(args[0])
    n = sum(np.size(a) for a in leaves)
    value, g = f.forward_grad(*args, rng=0, directions=n + 2, combine="project")
    assert tree.structure(g) == tree.structure(args[0])
    # the exact gradient, entry by entry, by finite differences
    expected = []
    for i, a in enumerate(leaves):
        for idx in np.ndindex(np.shape(a)):
            e = [np.zeros_like(np.asarray(b, dtype=float)) for b in leaves]
            e[i][idx] = 1.0
            basis = rebuild([x if np.ndim(x) else float(x) for x in e])
            expected.append(_fd_jvp(fn, args, (basis,), (0,)))
    got = np.concatenate([np.ravel(x) for x in _leaves(g)[0]])
    assert got == pytest.approx(np.array(expected), rel=1e-6, abs=1e-8)


def test_forward_grad_single_direction_keeps_float32_leaves():
    params = {"W": np.ones((3, 2), dtype=np.float32), "b": np.zeros(2, dtype=np.float32)}

    @fwdcompile.forward_gradient(wrt="params")
    def f(params, x):
        return np.sum(np.tanh(x @ params["W"] + params["b"]))

    x = np.ones((4, 3), dtype=np.float32)
    for k in (1, 3):
        _, g = f.forward_grad(params, x, rng=0, directions=k)
        assert g["W"].dtype == np.float32 and g["b"].dtype == np.float32


# ---------------------------------------------------------------- training

def test_minimize_trains_a_dict_of_parameters_on_minibatches():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3

    def loss(params, X, y):
        return np.mean((X @ params["w"] + params["b"] - y) ** 2)

    seen = []
    result = optim.minimize(loss, {"w": np.zeros(3), "b": 0}, optimizer=optim.Adam(lr=0.05),
                            data=optim.minibatches(X, y, batch_size=32, rng=0, epochs=60),
                            rng=0, directions=4, progress=False,
                            callback=lambda i, l, p: seen.append(type(p)) and False)
    assert set(seen) == {dict}
    assert isinstance(result.x["b"], float)  # an int leaf is promoted, a scalar stays a float
    assert result.x["w"] == pytest.approx([1.0, -2.0, 0.5], abs=1e-3)
    assert result.x["b"] == pytest.approx(0.3, abs=1e-3)


def test_minimize_trains_a_list_of_layers_in_float32():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 3)).astype(np.float32)
    y = np.sin(X[:, 0]).astype(np.float32)
    layers = [(rng.normal(size=(3, 8)).astype(np.float32) * 0.5, np.zeros(8, np.float32)),
              (rng.normal(size=(8, 1)).astype(np.float32) * 0.5, np.zeros(1, np.float32))]

    def loss(layers, X, y):
        h = X
        for i, (W, b) in enumerate(layers):
            h = h @ W + b
            if i == 0:
                h = np.tanh(h)
        return np.mean((h[:, 0] - y) ** 2)

    start = loss(layers, X, y)
    result = optim.minimize(loss, layers, args=(X, y), optimizer=optim.Adam(lr=0.01),
                            steps=300, rng=3, directions=4, progress=False)
    assert isinstance(result.x, list) and isinstance(result.x[0], tuple)
    assert all(leaf.dtype == np.float32 for leaf in tree.leaves(result.x))
    assert result.fun < 0.5 * start


# ---------------------------------------------------------------- errors

def test_a_tangent_of_another_structure_is_a_clear_error():
    fn, make = CASES["dict_mlp"]
    args = make()
    f = fwdcompile.forward_gradient(fn, wrt="params")
    with pytest.raises(ValueError, match="structure"):
        f.jvp(*args, tangents=({"W1": args[0]["W1"]},))
    bad = dict(args[0], b1=np.zeros(3))
    with pytest.raises(ValueError, match=r"params\['b1'\] has shape \(3,\)"):
        f.jvp(*args, tangents=bad)
    with pytest.raises(ValueError, match=r"batched tangent for params\['W2'\]"):
        batched = tree.map(lambda a: np.stack([a, a]), args[0])
        f.jvp(*args, tangents=dict(batched, W2=batched["W2"][:, :1]), batched=True)


def test_a_non_float_leaf_is_a_clear_error():
    f = fwdcompile.forward_gradient(lambda p, x: np.sum(p["w"] * x), wrt="p")
    with pytest.raises(TypeError, match=r"p\['n'\] is int"):
        f.jvp({"w": np.ones(2), "n": 3}, np.ones(2), tangents={"w": np.ones(2), "n": 0.0})


def _unsupported(fn, args, match):
    f = fwdcompile.forward_gradient(fn, wrt=0)
    with pytest.raises(UnsupportedSyntax, match=match):
        f.jvp(*args, tangents=args[0])


def dynamic_key(params, x, key):
    return np.sum(params[key] * x)


def break_in_loop(layers, x):
    for W in layers:
        if np.sum(W) > 0:
            break
        x = x @ W
    return np.sum(x)


def assign_into(params, x):
    params["w"] = x
    return np.sum(params["w"])


def namedtuple_as_value(layer, x):
    return np.sum(np.stack(layer) * x)


def missing_key(params, x):
    return np.sum(params["nope"] * x)


def test_unsupported_uses_of_a_structure_are_located_errors():
    x = np.ones(2)
    _unsupported(dynamic_key, ({"w": np.ones(2)}, x, "w"), "no constant key")
    _unsupported(break_in_loop, ([np.eye(2), np.eye(2)], x), "`break`")
    _unsupported(assign_into, ({"w": np.ones(2)}, x), "assigning into a structure")
    _unsupported(namedtuple_as_value, (Layer(np.ones(2), np.ones(2)), x), "used as a value")
    _unsupported(missing_key, ({"w": np.ones(2)}, x), "has no item 'nope'")


def test_the_native_backend_runs_structures_on_the_python_backend_and_says_so():
    def loss(p, x):
        return np.sum(p["w"] * x)

    f = fwdcompile.forward_gradient(loss, wrt="p", backend="llvm")
    args, tangents = ({"w": np.arange(3.0)}, np.ones(3)), {"w": np.ones(3)}
    assert f.jvp(*args, tangents=tangents) == \
        fwdcompile.forward_gradient(loss, wrt="p").jvp(*args, tangents=tangents)
    assert "Python backend" in f.llvm_placement and "argument 'p' is a dict" in f.llvm_placement


# ---------------------------------------------------------------- the tree helpers

def test_tree_flatten_unflatten_and_map():
    value = {"b": [1.0, (np.ones(2), None)], "a": Layer(np.zeros(1), np.ones(1)),
             "c": Affine(np.eye(2), 2.0)}
    leaves, structure = tree.flatten(value)
    assert len(leaves) == structure.num_leaves == 6  # None is an empty node
    assert [type(x) for x in leaves[:2]] == [np.ndarray, np.ndarray]  # "a" first: sorted keys
    rebuilt = tree.unflatten(structure, leaves)
    assert tree.structure(rebuilt) == structure
    assert isinstance(rebuilt["a"], Layer) and isinstance(rebuilt["c"], Affine)
    doubled = tree.map(lambda a, b: a + b, value, value)
    assert doubled["c"].shift == 4.0 and doubled["b"][1][1] is None
    paths, _ = tree.leaf_paths(value, "p")
    assert [p for p, _ in paths][:3] == ["p['a'].W", "p['a'].b", "p['b'][0]"]
    with pytest.raises(ValueError, match="structures differ"):
        tree.map(lambda a, b: a, {"x": 1.0}, {"y": 1.0})
    with pytest.raises(ValueError, match="leaves"):
        structure.unflatten(leaves[:-1])


# ---------------------------------------------------------------- the generated source

@pytest.mark.parametrize("batched", [False, True])
def test_golden_pairs(batched):
    fn, make = CASES["pairs"]
    args = make()
    f = fwdcompile.forward_gradient(fn, wrt="layers")
    f.jvp(*args, tangents=args[0])
    source = f.batched_source if batched else f.source
    path = GOLDEN_DIR / f"pytree_pairs{'_batched' if batched else ''}.py.txt"
    if UPDATE:
        path.write_text(source)
    assert source == path.read_text()


def test_source_before_the_first_call_says_to_call_first():
    f = fwdcompile.forward_gradient(indexed_namedtuples, wrt="layers")
    with pytest.raises(ValueError, match="call jvp or forward_grad once"):
        print(f.source)
    fn, make = CASES["indexed_namedtuples"]
    args = make()
    f.jvp(*args, tangents=args[0])
    assert "layers_0_W = layers[0].W" in f.source


@dataclasses.dataclass(frozen=True)
class Pair:
    a: np.ndarray
    b: np.ndarray


def reads_fields(p, x):
    return np.sum(p.a * x) + np.sum(p.b)


def passes_on(p, x):
    return reads_fields(p, x) ** 2


def test_a_helper_reads_the_fields_of_a_structure_passed_whole():
    f = fwdcompile.forward_gradient(passes_on, wrt=0)
    p, x = Pair(np.ones(3), np.ones(2)), np.arange(3.0)
    t = Pair(np.array([1.0, 0.0, 2.0]), np.array([0.5, 0.5]))
    value, tangent = f.jvp(p, x, tangents=t)
    assert tangent == pytest.approx(_fd_jvp(passes_on, (p, x), (t,), (0,)), rel=1e-8)


def test_batched_source_after_only_batched_calls_uses_their_wrt():
    f = fwdcompile.forward_gradient(frozen_dataclass, wrt="p")
    p, x = Affine(np.ones((3, 2)), 0.5), np.ones((4, 3))
    f.jvp(p, x, tangents=_random_like(p, np.random.default_rng(0), (2,)), batched=True)
    source = f.batched_source
    assert "def frozen_dataclass_jvp_batched(p, x, d_p):" in source
    assert "d_p_A = d_p.A" in source


def test_vector_mode_keeps_float32():
    fn, make = CASES["dict_mlp"]
    params, X, y = make()
    params = tree.map(lambda a: np.asarray(a, dtype=np.float32), params)
    f = fwdcompile.forward_gradient(fn, wrt="params")
    batched = tree.map(lambda a: np.stack([a, a]), params)
    _, tangents = f.jvp(params, X.astype(np.float32), y.astype(np.float32), tangents=batched,
                        batched=True)
    assert tangents.dtype == np.float32
