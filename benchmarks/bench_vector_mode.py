"""Vector mode: K directional derivatives in one batched run versus K single JVPs.

    python benchmarks/bench_vector_mode.py [--quick]

Workload: a two-layer MLP loss (64 inputs, 64 ReLU units, 10 classes, batch
64), differentiated with respect to all four parameter arrays.  The batched
result is checked against the K single JVPs before anything is timed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fwdcompile import forward_gradient  # noqa: E402
from bench_core import machine  # noqa: E402


def mlp_loss(W1, b1, W2, b2, X, y):
    h = np.maximum(X @ W1 + b1, 0.0)
    z = h @ W2 + b2
    z = z - np.max(z, axis=1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(logp[np.arange(len(y)), y])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--k", type=int, nargs="*", default=[2, 8, 32])
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    batch, inputs, hidden, classes = 64, 64, 64, 10
    X = rng.standard_normal((batch, inputs))
    y = rng.integers(0, classes, batch)
    params = [0.1 * rng.standard_normal((inputs, hidden)), np.zeros(hidden),
              0.1 * rng.standard_normal((hidden, classes)), np.zeros(classes)]
    f = forward_gradient(mlp_loss, wrt=("W1", "b1", "W2", "b2"))
    number, repeat = (20, 3) if args.quick else (200, 7)
    ks = args.k
    m = machine()
    tuned = os.environ.get("MALLOC_MMAP_THRESHOLD_") is not None
    if not tuned:
        print(f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
              f"numpy {m['numpy']}.\n")
        print("| allocator | K | one batched run | K single JVPs | ratio (target ≤ 0.5 at K = 8) |")
        print("|---|---|---|---|---|")
    label = "glibc told to keep freed memory (*)" if tuned else "glibc defaults"
    for k in ks:
        tangents = tuple(rng.standard_normal((k,) + p.shape) for p in params)
        _, batched = f.jvp(*params, X, y, tangents=tangents, batched=True)
        singles = [f.jvp(*params, X, y, tangents=tuple(t[i] for t in tangents))[1]
                   for i in range(k)]
        # (np.testing.assert_allclose is avoided on purpose: after it runs, this
        # process measured the batched JVP 1.5x slower, an artefact of the check)
        if not np.allclose(batched, singles, rtol=1e-10, atol=1e-12):
            raise AssertionError("batched JVP differs from single JVPs")
        t_batched = min(timeit.repeat(
            lambda: f.jvp(*params, X, y, tangents=tangents, batched=True),
            number=number, repeat=repeat)) / number
        t_single = min(timeit.repeat(
            lambda: [f.jvp(*params, X, y, tangents=tuple(t[i] for t in tangents))
                     for i in range(k)], number=number, repeat=repeat)) / number
        print(f"| {label} | {k} | {t_batched * 1e6:.0f} µs | {t_single * 1e6:.0f} µs | "
              f"{t_batched / t_single:.2f} |", flush=True)
    if not tuned:
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(2**30),
               "MALLOC_TRIM_THRESHOLD_": str(2**30)}
        subprocess.run([sys.executable, __file__] + (argv if argv is not None else sys.argv[1:]),
                       env=env, check=True)
        print("\n(*) MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ set to 2**30: the batched "
              "tangents here are arrays of a few hundred kB, which glibc by default maps and "
              "unmaps from the OS on every allocation (see benchmarks/bench_core.py).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
