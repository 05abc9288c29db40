"""The benchmark suite: ``python -m benchmarks [--quick]``.

For each workload it times the primal and the JVP with fwdcompile and with
the tools a user would otherwise pick, when they are installed (JAX
``jit(jvp)``, ``torch.func.jvp``, numba with hand-written dual-number
kernels); a missing peer is reported as "not installed".  fwdcompile runs on
its Python backend and on its native backend (``backend="llvm"``) where the
workload is inside the native subset.  Every JVP is checked against central
finite differences before
it is timed, so a fast wrong answer cannot win.  Results go to stdout as a
Markdown table, to ``benchmarks/results/suite.{md,json}``, and to
``benchmarks/results/suite.png`` when matplotlib is installed.  The suite
tables of the README and of ``docs/benchmarks.md`` are rewritten from the
Markdown (between the ``suite`` markers) with ``--update-readme``.
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_core import machine, softmax_loss  # noqa: E402
from bench_llvm import rosen2_dual, rosen_loop_dual  # noqa: E402
from fwdcompile import UnsupportedSyntax, forward_gradient  # noqa: E402


# ---------------------------------------------------------------- workloads (plain Python)

def rosen2(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def beale(x, y):
    return ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2
            + (2.625 - x + x * y * y * y) ** 2)


def heat(kappa, u0):
    n = u0.shape[0]
    u = u0.copy()
    u_new = np.zeros(n)
    for _ in range(20):
        for i in range(1, n - 1):
            u_new[i] = u[i] + kappa * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        u, u_new = u_new, u
    return np.sum(u ** 2)


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def workloads():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 64))
    y = rng.integers(0, 10, 2000)
    return [
        ("2-D Rosenbrock (scalars)", rosen2, (-1.0, 0.5), (0, 1), "rosen2"),
        ("Beale (scalars)", beale, (0.3, 0.5), (0, 1), "beale"),
        ("heat stencil, 16 points x 20 steps (loops)", heat,
         (0.1, np.sin(np.linspace(0, np.pi, 16))), (0,), None),
        ("Rosenbrock, n = 1e5 (numpy)", rosen, (rng.standard_normal(100000),), (0,), "rosen"),
        ("softmax regression, 2000x64, 10 classes (numpy)", softmax_loss,
         (0.1 * rng.standard_normal((64, 10)), np.zeros(10), X, y), (0, 1), "softmax"),
    ]


# ---------------------------------------------------------------- timing and peers

def best(fn, budget):
    fn()
    number = max(1, int(budget / max(min(timeit.repeat(fn, number=1, repeat=3)), 1e-7)))
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def tangents_for(args, active, rng):
    return tuple(rng.standard_normal(np.shape(args[i])) if np.ndim(args[i])
                 else float(rng.standard_normal()) for i in active)


def central_difference(fn, args, active, tangents, h=1e-6):
    def shifted(s):
        a = list(args)
        for i, t in zip(active, tangents):
            a[i] = a[i] + s * h * t
        return fn(*a)
    return (shifted(1) - shifted(-1)) / (2 * h)


def jax_jvp(name, args, active):
    """A JAX version of the numpy workloads (jit(jvp)), or a reason it is absent."""
    try:
        import jax
        import jax.numpy as jnp
        jax.config.update("jax_enable_x64", True)
    except ImportError:
        return "not installed"
    if name == "rosen":
        def f(x):
            return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    elif name == "softmax":
        def f(W, b, X, y):
            z = X @ W + b
            z = z - jnp.max(z, axis=1, keepdims=True)
            logp = z - jnp.log(jnp.sum(jnp.exp(z), axis=1, keepdims=True))
            return -jnp.mean(logp[jnp.arange(len(y)), y])
    elif name == "rosen2":
        def f(x, y):
            return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2
    elif name == "beale":
        def f(x, y):
            return ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2
                    + (2.625 - x + x * y * y * y) ** 2)
    else:
        return "n/a (in-place loops)"
    n = len(active)

    def jvp(*all_args):
        primals, tangents = all_args[:len(args)], all_args[len(args):]
        return jax.jvp(lambda *p: f(*p, *primals[n:]), primals[:n], tangents)

    return jax.jit(jvp)


def numba_jvp(name, args, active):
    """A hand-written numba dual-number kernel (fastmath=True), where one exists."""
    try:
        import numba
    except ImportError:
        return "not installed"
    if name == "rosen2":
        return numba.njit(fastmath=True)(rosen2_dual)
    if name == "rosen":
        return numba.njit(fastmath=True)(rosen_loop_dual)
    return "n/a (no hand-written kernel)"


def native_jvp(fn, args, active, tangents):
    """fwdcompile's native backend, or the reason it does not run this workload."""
    try:
        f = forward_gradient(fn, wrt=active, backend="llvm")
        f.jvp(*args, tangents=tangents)
    except ImportError:
        return "llvmlite not installed"
    except (UnsupportedSyntax, TypeError):
        return "outside the native subset"
    return f


def torch_jvp(name, args, active):
    try:
        import torch
        from torch.func import jvp
    except ImportError:
        return "not installed"
    torch.set_num_threads(2)
    if name == "rosen":
        def f(x):
            return torch.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    elif name == "softmax":
        def f(W, b, X, y):
            z = X @ W + b
            logp = torch.log_softmax(z, dim=1)
            return -torch.mean(logp[torch.arange(len(y)), y])
    else:
        return "n/a (not written for torch)"
    n = len(active)

    def run(*all_args):
        primals = [torch.as_tensor(a) for a in all_args[:len(args)]]
        tangents = [torch.as_tensor(t) for t in all_args[len(args):]]
        return jvp(lambda *p: f(*p, *primals[n:]), tuple(primals[:n]), tuple(tangents))

    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description="fwdcompile benchmark suite")
    parser.add_argument("--quick", action="store_true", help="shorter timing budgets")
    parser.add_argument("--update-readme", action="store_true",
                        help="rewrite the README's suite table from this run")
    args = parser.parse_args(argv)
    budget = 0.02 if args.quick else 0.2
    rng = np.random.default_rng(1)
    rows = []
    for label, fn, fargs, active, peer_name in workloads():
        f = forward_gradient(fn, wrt=active)
        tangents = tangents_for(fargs, active, rng)
        _, d = f.jvp(*fargs, tangents=tangents)
        ref = central_difference(fn, fargs, active, tangents)
        if not abs(d - ref) <= 1e-5 * max(1.0, abs(ref)):
            raise AssertionError(f"{label}: JVP {d} differs from finite differences {ref}")
        row = {"workload": label, "primal_us": best(lambda: fn(*fargs), budget) * 1e6,
               "fwdcompile_us": best(lambda: f.jvp(*fargs, tangents=tangents), budget) * 1e6}
        peers = (("native", lambda *_: native_jvp(fn, fargs, active, tangents)),
                 ("jax", jax_jvp), ("torch", torch_jvp), ("numba", numba_jvp))
        for peer, make in peers:
            runner = make(peer_name, fargs, active)
            if isinstance(runner, str):
                row[peer] = runner
                continue
            if peer == "native":  # timed exactly like the Python backend's column
                native = runner.jvp
                runner = lambda *a: native(*fargs, tangents=tangents)  # noqa: E731
            out = runner(*fargs, *tangents)
            slope = float(out[1])
            if not abs(slope - ref) <= 1e-5 * max(1.0, abs(ref)):
                row[peer] = f"wrong JVP ({slope:.6g} vs {ref:.6g})"
                continue
            row[peer] = best(lambda: runner(*fargs, *tangents), budget) * 1e6
        rows.append(row)

    m = machine()
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, numpy {m['numpy']}"
             f", fwdcompile {m['fwdcompile']}.", "",
             "| workload | primal | fwdcompile JVP (ratio) | fwdcompile native JVP | "
             "JAX jit(jvp) | torch.func.jvp | numba dual kernel (fastmath) |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        cells = []
        for peer in ("native", "jax", "torch", "numba"):
            v = row[peer]
            cells.append(v if isinstance(v, str) else
                         f"{v:.1f} µs ({v / row['fwdcompile_us']:.2f}× ours)")
        lines.append(f"| {row['workload']} | {row['primal_us']:.1f} µs | "
                     f"{row['fwdcompile_us']:.1f} µs "
                     f"({row['fwdcompile_us'] / row['primal_us']:.2f}×) "
                     f"| {' | '.join(cells)} |")
    lines += ["", "The numba column runs a hand-written dual-number loop kernel "
              "(`benchmarks/bench_llvm.py`), not the numpy code; \"ours\" is the Python "
              "backend's JVP."]
    text = "\n".join(lines)
    print(text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "suite.md").write_text(text + "\n")
    (out / "suite.json").write_text(json.dumps({"machine": m, "rows": rows}, indent=2) + "\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(8, 3.5))
        names = [r["workload"].split(" (")[0] for r in rows]
        ratios = [r["fwdcompile_us"] / r["primal_us"] for r in rows]
        ax.barh(names, ratios, color="#3a7")
        ax.axvline(2.5, color="k", ls="--", lw=1, label="2.5× (the paper's R_f)")
        ax.set_xlabel("JVP time / primal time (fwdcompile, Python backend)")
        ax.legend(loc="lower right")
        fig.tight_layout()
        fig.savefig(out / "suite.png", dpi=100)
    except ImportError:
        print("\n(matplotlib not installed: no chart)")
    if args.update_readme:  # the README's table and the docs' benchmarks page
        for page in (HERE.parent / "README.md", HERE.parent / "docs" / "benchmarks.md"):
            replace_between_markers(page, text)
    return 0


def replace_between_markers(page, text):
    body = page.read_text()
    start, end = "<!-- suite:start -->", "<!-- suite:end -->"
    if start in body and end in body:
        head, rest = body.split(start, 1)
        _, tail = rest.split(end, 1)
        page.write_text(f"{head}{start}\n{text}\n{end}{tail}")


if __name__ == "__main__":
    sys.exit(main())
