"""What parameters kept in a structure (a dict) cost against separate arguments.

    python benchmarks/bench_pytrees.py [--repeat 7]

The same two-layer tanh MLP loss, written twice: ``loss_dict(params, X, y)``
reading ``params["W1"]`` ... and ``loss_flat(W1, b1, W2, b2, X, y)``.  For a
small batch (the call overhead shows) and a larger one (the arithmetic
dominates), ``jvp`` and ``forward_grad`` (K = 1 and K = 8 directions) are
timed round-robin, so the load of a shared machine hits both alike.
Reported: the median time per call in µs and dict / flat.

The generated code of the two is the same after the leaves are read (the
structures stage makes ``params_W1`` a local); the difference is the call
boundary: checking the tangent structure leaf by leaf and rebuilding it,
which separate arguments do in a compiled call plan.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fwdcompile import forward_gradient  # noqa: E402


def loss_dict(params, X, y):
    h = np.tanh(X @ params["W1"] + params["b1"])
    return np.mean((h @ params["W2"] + params["b2"] - y) ** 2)


def loss_flat(W1, b1, W2, b2, X, y):
    h = np.tanh(X @ W1 + b1)
    return np.mean((h @ W2 + b2 - y) ** 2)


def cases(batch, rng):
    X, y = rng.normal(size=(batch, 16)), rng.normal(size=batch)
    p = {"W1": rng.normal(size=(16, 32)), "b1": np.zeros(32), "W2": rng.normal(size=32),
         "b2": 0.0}
    flat = (p["W1"], p["b1"], p["W2"], p["b2"])
    fd = forward_gradient(loss_dict, wrt="params")
    ff = forward_gradient(loss_flat, wrt=("W1", "b1", "W2", "b2"))
    return [
        ("jvp", lambda: fd.jvp(p, X, y, tangents=p), lambda: ff.jvp(*flat, X, y, tangents=flat)),
        ("forward_grad K=1", lambda: fd.forward_grad(p, X, y, rng=0),
         lambda: ff.forward_grad(*flat, X, y, rng=0)),
        ("forward_grad K=8", lambda: fd.forward_grad(p, X, y, rng=0, directions=8),
         lambda: ff.forward_grad(*flat, X, y, rng=0, directions=8)),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'batch':>6} {'call':<18} {'dict µs':>9} {'flat µs':>9} {'dict/flat':>9}")
    for batch in (8, 1024):
        for label, tree_call, flat_call in cases(batch, rng):
            for call in (tree_call, flat_call):  # compile, plan, warm
                for _ in range(3):
                    call()
            a = np.asarray(tree_call()[0]), np.asarray(flat_call()[0])
            assert np.allclose(*a), label
            times = {0: [], 1: []}
            for _ in range(args.repeat):
                for i, call in enumerate((tree_call, flat_call)):
                    timer = timeit.Timer(call)
                    n, _ = timer.autorange()
                    times[i].append(min(timer.repeat(1, n)) / n * 1e6)
            t, f = statistics.median(times[0]), statistics.median(times[1])
            print(f"{batch:>6} {label:<18} {t:>9.1f} {f:>9.1f} {t / f:>9.2f}")


if __name__ == "__main__":
    main()
