"""Distributed forward gradients: what crosses the wire, measured step times, a scaling model.

    python benchmarks/bench_distributed.py [--steps 30] [--no-ray]

Three parts, each labelled MEASURED or MODELLED in the output:

1. Bytes per step per worker (exact, counted): forward gradients send the
   worker's K directional derivatives and its loss and receive the K averages,
   8 (2K + 1) bytes; data-parallel backprop all-reduces the gradient, n * 8
   bytes (a ring all-reduce sends 2 (N - 1)/N * n * 8 bytes per worker).  For
   the paper's 784-1024-1024-10 MLP and the digits CNN of
   examples/digits_models.py.
2. MEASURED wall time per step (median over steps after the first three,
   which compile) with ``engine="ray"`` at 1 and 2 workers and
   ``engine="local"`` at 1 worker, batch 64 per worker, K = 1; and a numpy
   backprop step of the same MLP.  On this machine's 2 shared cores.
3. MODELLED time per step at 8-256 workers on 10 and 100 Gbit/s links:
       FG:       t_fg + 2 log2(N) alpha + 2 log2(N) 8 (K + 1) / B   (tree all-reduce of K+1 scalars)
       FG-star:  t_fg + N o            (this package: the driver calls every actor; o, Ray's
                                        per-step overhead on the tiny CNN over 2 actors)
       backprop: t_bp + 2 (N - 1) alpha + 2 (N - 1)/N 8 n / B         (ring all-reduce of n floats)
   with t_fg, t_bp and o measured here (part 2), alpha = 10 us per message
   (an assumed link latency, not measured), B the link bandwidth.  No
   overlap of communication with compute is assumed for either.  The plot is
   docs/img/distributed_scaling.png; the table benchmarks/results/distributed.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "examples"))

from bench_core import machine  # noqa: E402
from fwdcompile import distributed, optim  # noqa: E402

ALPHA = 10e-6          # assumed per-message latency of the link (MODELLED)
LINKS = {"10 Gbit/s": 10e9 / 8, "100 Gbit/s": 100e9 / 8}   # bytes per second
WORKERS = [8, 16, 32, 64, 128, 256]
BATCH = 64


def mlp(W1, b1, W2, b2, W3, b3, X, y):
    """The paper's MLP (as examples/digits.py): 784-1024-1024-10, ReLU, cross-entropy."""
    h1 = np.maximum(X @ W1 + b1, 0.0)
    h2 = np.maximum(h1 @ W2 + b2, 0.0)
    z = h2 @ W3 + b3
    z = z - np.max(z, axis=1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(logp[np.arange(len(y)), y])


def mlp_params(rng):
    sizes = [784, 1024, 1024, 10]
    out = []
    for a, b in zip(sizes, sizes[1:]):
        out += [rng.standard_normal((a, b)) * np.sqrt(2.0 / a), np.zeros(b)]
    return tuple(out)


def mlp_data(rank, step):
    """A deterministic random batch per (rank, step): the timing does not need real digits."""
    rng = np.random.default_rng(1000 * step + rank)
    return rng.random((BATCH, 784)), rng.integers(0, 10, BATCH)


def cnn_data(rank, step):
    rng = np.random.default_rng(1000 * step + rank)
    return rng.random((BATCH, 64)), rng.integers(0, 10, BATCH)


def n_params(x0):
    from fwdcompile import tree
    return sum(int(np.size(p)) for p in tree.leaves(x0))


def per_step(loss, x0, data, workers, engine, steps):
    """Median wall seconds per step (MEASURED), from the callback's clock."""
    stamps = []
    distributed.minimize(loss, x0, data=data, workers=workers, steps=steps, rng=0,
                         optimizer=optim.FGD(lr=1e-4), engine=engine, progress=False,
                         callback=lambda s, loss_, e: stamps.append(time.perf_counter()))
    return float(np.median(np.diff(stamps[3:])))


def backprop_step(x0, steps):
    from digits import backprop
    times = []
    for s in range(steps):
        X, y = mlp_data(0, s)
        t = time.perf_counter()
        g = backprop(list(x0), X, y)
        _ = [p - 1e-4 * gi for p, gi in zip(x0, g)]
        times.append(time.perf_counter() - t)
    return float(np.median(times[3:]))


def model(t_fg, t_bp, o, n, k, bandwidth, workers):
    lg = math.log2(workers)
    fg = t_fg + 2 * lg * ALPHA + 2 * lg * 8 * (k + 1) / bandwidth
    star = t_fg + workers * o
    bp = t_bp + 2 * (workers - 1) * ALPHA + 2 * (workers - 1) / workers * 8 * n / bandwidth
    return fg, star, bp


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--no-ray", action="store_true")
    a = ap.parse_args(argv)
    from digits_models import cnn_loss, init_cnn
    k = 1
    models = {"MLP 784-1024-1024-10": (mlp, mlp_params(np.random.default_rng(0)), mlp_data),
              "digits CNN (examples/digits_models.py)":
                  (cnn_loss, init_cnn(np.random.default_rng(0)), cnn_data)}
    m = machine()
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, numpy {m['numpy']}.", "",
             "## Bytes per step per worker (exact counts)", "",
             "| model | n | FG, K=1: 8(2K+1) | backprop: n*8 | ring all-reduce, N=8: 2(N-1)/N*n*8 |"
             " ratio n*8 / FG |", "|---|---|---|---|---|---|"]
    for name, (_, x0, _) in models.items():
        n = n_params(x0)
        fg = 8 * (2 * k + 1)
        lines.append(f"| {name} | {n:,} | {fg} | {8 * n:,} | {int(2 * 7 / 8 * 8 * n):,} | "
                     f"{8 * n / fg:,.0f} |")
    results = {"machine": m, "k": k, "batch": BATCH, "alpha_s": ALPHA, "measured": {}}
    if not a.no_ray:
        import ray
        path = os.pathsep.join([str(ROOT), str(HERE), str(ROOT / "examples")])
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": path, "OPENBLAS_NUM_THREADS": "1"}})
    lines += ["", f"## Wall time per step, MEASURED (batch {BATCH} per worker, K={k}, "
              "median ms)", "", "| model | local, 1 worker | ray, 1 worker | ray, 2 workers |",
              "|---|---|---|---|"]
    for name, (loss, x0, data) in models.items():
        row = {"local1": per_step(loss, x0, data, 1, "local", a.steps)}
        if not a.no_ray:
            row["ray1"] = per_step(loss, x0, data, 1, "ray", a.steps)
            row["ray2"] = per_step(loss, x0, data, 2, "ray", a.steps)
        results["measured"][name] = row
        cell = lambda key: f"{1e3 * row[key]:.2f}" if key in row else "-"
        lines.append(f"| {name} | {cell('local1')} | {cell('ray1')} | {cell('ray2')} |")
    if not a.no_ray:
        ray.shutdown()
    name = "MLP 784-1024-1024-10"
    x0 = models[name][1]
    n = n_params(x0)
    row = results["measured"][name]
    t_fg = row["local1"]
    t_bp = backprop_step(x0, a.steps)
    # the driver's cost per actor per step: Ray's overhead on the tiny CNN (whose
    # compute is negligible) with 2 workers, over 2 -- pessimistic, as part of it
    # is fixed per step, and a difference of two noisy medians was not robust
    cnn = results["measured"]["digits CNN (examples/digits_models.py)"]
    o = max(cnn.get("ray2", 0.0) - cnn["local1"], 0.0) / 2
    results.update(t_fg=t_fg, t_bp=t_bp, o=o)
    lines += ["", f"Numpy backprop step of the MLP, MEASURED: {1e3 * t_bp:.2f} ms; FG step "
              f"(local, 1 worker): {1e3 * t_fg:.2f} ms; driver overhead per actor o = "
              f"{1e3 * o:.2f} ms (CNN: ray with 2 workers minus local, over 2).", "",
              f"## Time per step at scale, MODELLED (MLP; alpha = {ALPHA * 1e6:.0f} us assumed)",
              "", "| workers | link | FG, tree all-reduce (ms) | FG, driver star (ms) | "
              "backprop, ring all-reduce (ms) |", "|---|---|---|---|---|"]
    curves = {}
    for link, bw in LINKS.items():
        for w in WORKERS:
            fg, star, bp = model(t_fg, t_bp, o, n, k, bw, w)
            curves.setdefault(link, []).append((w, fg, star, bp))
            lines.append(f"| {w} | {link} | {1e3 * fg:.2f} | {1e3 * star:.1f} | {1e3 * bp:.2f} |")
    results["model"] = curves
    text = "\n".join(lines)
    print(text)
    (HERE / "results" / "distributed.md").write_text(text + "\n")
    (HERE / "results" / "distributed.json").write_text(json.dumps(results, indent=1) + "\n")
    plot(curves)


def plot(curves):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib missing: no plot)")
        return
    fig, ax = plt.subplots(figsize=(7, 4.2))
    styles = {"10 Gbit/s": "-", "100 Gbit/s": "--"}
    for link, rows in curves.items():
        w = [r[0] for r in rows]
        ax.plot(w, [1e3 * r[1] for r in rows], "C0" + styles[link], label=f"FG, tree ({link})")
        ax.plot(w, [1e3 * r[3] for r in rows], "C3" + styles[link],
                label=f"backprop, ring ({link})")
    ax.plot(w, [1e3 * r[2] for r in curves["10 Gbit/s"]], "C2:",
            label="FG, driver star (this package)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("workers")
    ax.set_ylabel("ms per step (MODELLED)")
    ax.set_title("784-1024-1024-10 MLP: modelled time per step\n"
                 "(compute times measured on 2 cores; link latency assumed 10 us)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out = ROOT / "docs" / "img" / "distributed_scaling.png"
    fig.savefig(out, dpi=110)
    print(f"plot: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
