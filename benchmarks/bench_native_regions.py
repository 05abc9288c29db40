"""Region lowering against the Python backend and JAX, side by side in one run.

    python benchmarks/bench_native_regions.py [--quick] [--profile] [--threads]

Issue 14's speed targets: for every workload, the JVP on

(a) the Python backend (``forward_gradient(fn).jvp``),
(b) the native backend (``backend="llvm"``): one whole kernel, or regions
    (native kernels joined by numpy; which one is read from
    ``f.llvm_placement`` and printed),
(c) JAX ``jax.jit(lambda p, t, d: jax.jvp(f, p, t))`` when JAX is importable
    (float64, ``jax_enable_x64``; the same source re-bound to ``jax.numpy``
    where it is numpy code, a port written for JAX where it is a loop).

Workloads: a Gaussian-mixture negative log-likelihood (N = 1e5 2-d points,
K = 8, logsumexp by hand), an attention block with ``einsum`` (256 tokens,
d = 64), a 2-layer tanh MLP cross-entropy (1797 x 64 -> 32 -> 10), a
vectorised Lennard-Jones energy (343 particles, all pairs, masked diagonal),
the workloads of ``benchmarks/bench_llvm.py`` (imported from it and from
``examples/ode_fit.py``) and the numpy/scalar workloads of
``python -m benchmarks``.

All columns get identical float64 data.  Before anything is timed the three
answers are compared: native against Python to 1e-12 relative (a larger gap
is reported as a MISMATCH: a bug), JAX against Python to 1e-9.  Times are
medians of interleaved repeats (the columns take turns, so a noisy neighbour
hits all of them alike).  By default everything runs on one thread
(OPENBLAS_NUM_THREADS=1, FWDCOMPILE_NUM_THREADS=1, XLA's Eigen pool off,
one intra-op thread);
``--threads`` leaves the environment alone.  ``--profile`` then breaks the
native time down (per region and numpy statement, call overhead, copy-out,
transcendentals) for every workload where the native JVP is slower than the
Python backend or JAX.  Results go to stdout and
``benchmarks/results/native_regions.{md,json}``.
"""

import os
import sys

if "--threads" not in sys.argv:  # before numpy and JAX read them
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    os.environ.setdefault("FWDCOMPILE_NUM_THREADS", "1")  # native kernels too
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                       "intra_op_parallelism_threads=1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "examples"))

from bench_core import machine, softmax_loss  # noqa: E402
from bench_llvm import loops, rosen2, rosen_loop  # noqa: E402
from ode_fit import misfit, simulate  # noqa: E402

from benchmarks.__main__ import beale, heat, rosen  # noqa: E402
from fwdcompile import forward_gradient  # noqa: E402


# ---------------------------------------------------------------- the new workloads

def gmm_nll(mu, log_sigma, logits, X):
    """Negative log-likelihood of 2-d points X (N, 2) under an isotropic
    Gaussian mixture: means mu (K, 2), scales exp(log_sigma), weights softmax(logits)."""
    diff = X[:, None, :] - mu[None, :, :]
    sq = np.sum(diff ** 2, axis=2)
    logw = logits - np.max(logits)
    logw = logw - np.log(np.sum(np.exp(logw)))
    logp = logw - 0.5 * sq * np.exp(-2.0 * log_sigma) - 2.0 * log_sigma - np.log(2.0 * np.pi)
    m = np.max(logp, axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.sum(np.exp(logp - m), axis=1))
    return -np.mean(lse)


def attention(Wq, Wk, Wv, X):
    """One attention head over X (T, d): projections, scores by einsum,
    softmax, weighted sum; a scalar loss of the output."""
    Q = X @ Wq
    K = X @ Wk
    V = X @ Wv
    s = np.einsum("id,jd->ij", Q, K) / np.sqrt(Q.shape[1])
    s = s - np.max(s, axis=1, keepdims=True)
    e = np.exp(s)
    p = e / np.sum(e, axis=1, keepdims=True)
    out = np.einsum("ij,jd->id", p, V)
    return np.sum(out * out)


def mlp_xent(W1, b1, W2, b2, X, Y):
    """Softmax cross-entropy of a 2-layer tanh MLP; Y one-hot labels."""
    h = np.tanh(X @ W1 + b1)
    z = h @ W2 + b2
    z = z - np.max(z, axis=1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.sum(Y * logp) / X.shape[0]


def lj_energy(pos):
    """Lennard-Jones energy (sigma = epsilon = 1) of all pairs of pos (n, 3)."""
    n = pos.shape[0]
    d = pos[:, None, :] - pos[None, :, :]
    r2 = np.sum(d * d, axis=2) + np.eye(n)
    inv6 = 1.0 / r2 ** 3
    e = np.where(np.eye(n) > 0.0, 0.0, 4.0 * (inv6 * inv6 - inv6))
    return 0.5 * np.sum(e)


# ---------------------------------------------------------------- JAX versions

def retarget(fn, jnp):
    """``fn``'s own code with ``np`` (and ``math``) bound to ``jax.numpy``."""
    names = dict(fn.__globals__)
    names["np"] = jnp
    names["math"] = jnp
    return types.FunctionType(fn.__code__, names, fn.__name__, fn.__defaults__,
                              fn.__closure__)


def jax_ports(jax, jnp):
    """JAX versions of the loop workloads (what a JAX user would write)."""
    lax = jax.lax

    def rosen_vec(x):  # rosen_loop, vectorised
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    def loops_jax(a, n):  # loops(a, n), n static: Newton unrolled, the series vectorised
        x = a
        for _ in range(20):
            x = 0.5 * (x + a / x)
        k = jnp.arange(1, n, dtype=jnp.float64)
        return jnp.sum(jnp.sin(k * x) / (k * k))

    def simulate_jax(c, k=2.0, steps=200, dt=0.05):
        def rhs(x, v):
            return v, -k * x - c * v

        def step(i, state):
            x, v, out = state
            k1x, k1v = rhs(x, v)
            k2x, k2v = rhs(x + 0.5 * dt * k1x, v + 0.5 * dt * k1v)
            k3x, k3v = rhs(x + 0.5 * dt * k2x, v + 0.5 * dt * k2v)
            k4x, k4v = rhs(x + dt * k3x, v + dt * k3v)
            x = x + dt / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
            v = v + dt / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v)
            return x, v, out.at[i].set(x)

        zero = jnp.zeros((), jnp.float64) * c
        return lax.fori_loop(0, steps, step, (zero + 1.0, zero, jnp.zeros(steps) + zero))[2]

    def misfit_jax(c, data):
        r = simulate_jax(c) - data
        return jnp.mean(r * r)

    def heat_jax(kappa, u0):  # the same swaps, the inner loop vectorised
        u, u_new = u0, jnp.zeros(u0.shape[0])
        for _ in range(20):
            u_new = u_new.at[1:-1].set(u[1:-1] + kappa * (u[:-2] - 2.0 * u[1:-1] + u[2:]))
            u, u_new = u_new, u
        return jnp.sum(u ** 2)

    return {"rosen_loop": rosen_vec, "loops": loops_jax, "simulate": simulate_jax,
            "misfit": misfit_jax, "heat": heat_jax}


# ---------------------------------------------------------------- the workloads

def workloads():
    """(label, fn, args, number of leading active arguments, JAX version key)."""
    rng = np.random.default_rng(0)
    N, K = 100_000, 8
    grid = np.stack(np.meshgrid(*[np.arange(7.0)] * 3, indexing="ij"), -1).reshape(-1, 3)
    X_digits = rng.standard_normal((1797, 64))
    X_soft = rng.standard_normal((2000, 64))
    return [
        ("Gaussian mixture NLL, N = 1e5, K = 8, 2-d", gmm_nll,
         (rng.standard_normal((K, 2)), 0.1 * rng.standard_normal(K),
          0.1 * rng.standard_normal(K), rng.standard_normal((N, 2))), 3, "same"),
        ("attention (einsum), 256 tokens, d = 64", attention,
         tuple(rng.standard_normal((64, 64)) / 8.0 for _ in range(3))
         + (rng.standard_normal((256, 64)),), 3, "same"),
        ("MLP tanh cross-entropy, 1797x64 -> 32 -> 10", mlp_xent,
         (rng.standard_normal((64, 32)) / 8.0, np.zeros(32),
          rng.standard_normal((32, 10)) / 6.0, np.zeros(10), X_digits,
          np.eye(10)[rng.integers(0, 10, 1797)]), 4, "same"),
        ("Lennard-Jones energy, 343 particles", lj_energy,
         (grid * 1.12 + 0.02 * rng.standard_normal(grid.shape),), 1, "same"),
        ("bench_llvm: 2-D Rosenbrock (scalars)", rosen2, (-1.0, 0.5), 2, "same"),
        ("bench_llvm: loop Rosenbrock, n = 1e6", rosen_loop,
         (rng.uniform(-1.0, 1.0, 10 ** 6),), 1, "rosen_loop"),
        ("bench_llvm: Newton + 1000-term series (loops)", loops, (2.0, 1000), 1, "loops"),
        ("bench_llvm: ODE misfit (RK4, 200 steps)", misfit, (1.0, simulate(0.3)), 1,
         "misfit"),
        ("bench_llvm: ODE trajectory (array returned)", simulate, (1.0,), 1, "simulate"),
        ("suite: Beale (scalars)", beale, (0.3, 0.5), 2, "same"),
        ("suite: heat stencil, 16 x 20 steps (loops)", heat,
         (0.1, np.sin(np.linspace(0, np.pi, 16))), 1, "heat"),
        ("suite: Rosenbrock, n = 1e5 (numpy)", rosen, (rng.standard_normal(100_000),), 1,
         "same"),
        ("suite: softmax regression, 2000x64, 10 classes", softmax_loss,
         (0.1 * rng.standard_normal((64, 10)), np.zeros(10), X_soft,
          rng.integers(0, 10, 2000)), 2, "same"),
    ]


ARRAY_WORKLOADS = 4  # the first four: issue 14's numpy-style array targets


# ---------------------------------------------------------------- flops of the products

def mlp_flops(W1, b1, W2, b2, X, Y):
    """Multiply-adds of the products: the primal's X @ W1 and h @ W2; the JVP adds
    X @ d_W1 (X is data: no d_X @ W1), d_h @ W2 and h @ d_W2."""
    first, second = X.shape[0] * W1.size, X.shape[0] * W2.size
    return first + second, 2 * first + 3 * second


def attention_flops(Wq, Wk, Wv, X):
    """Three projections and two (T x T x d) products; the JVP doubles the
    projections (X @ d_W) and triples the products (product rule, both operands active)."""
    t, d = X.shape
    projections, products = t * d * d, t * t * d
    return 3 * projections + 2 * products, 6 * projections + 6 * products


def softmax_flops(W, b, X, y):
    """X @ W, and X @ d_W for the JVP."""
    return X.shape[0] * W.size, 2 * X.shape[0] * W.size


# matrix workloads: JVP over primal at most the flop ratio + 0.3; the others at most 2.0
FLOPS = {mlp_xent: mlp_flops, attention: attention_flops, softmax_loss: softmax_flops}
ELEMENTWISE_TARGET, MATRIX_SLACK = 2.0, 0.3


# ---------------------------------------------------------------- checking and timing

def rel_err(got, want):
    """Largest absolute difference over the largest magnitude of ``want``."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return math.inf
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    diff = float(np.max(np.abs(got - want))) if want.size else 0.0
    return diff / scale if scale > 0 else diff


def pair_err(got, want):
    return max(rel_err(got[0], want[0]), rel_err(got[1], want[1]))


def measure(runners, budget, repeats):
    """Median seconds per call of each runner; the runners take turns."""
    numbers = {}
    for name, fn in runners.items():
        fn()
        start = time.perf_counter()
        fn()
        numbers[name] = max(1, int(budget / max(time.perf_counter() - start, 1e-7)))
    samples = {name: [] for name in runners}
    for _ in range(repeats):
        for name, fn in runners.items():
            n = numbers[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - start) / n)
    return {name: statistics.median(v) for name, v in samples.items()}


def placement_of(f):
    """("whole kernel" | "regions: ..." | "Python backend", the placement text)."""
    text = f.llvm_placement
    if text.startswith("every statement"):
        return "whole kernel", text
    if text.startswith("the last call ran on the Python backend"):
        return "Python backend", text
    marks = [line.rsplit("  | ", 1)[1] for line in text.splitlines() if "  | " in line]
    kernels = {k for m in marks for k in m.split(" + ") if k.startswith("native")}
    numpy_lines = sum("numpy" in m for m in marks)
    return f"regions: {len(kernels)} kernels, {numpy_lines} numpy lines", text


def jax_runner(key, fn, args, n_active, tangents):
    """A no-argument call of JAX ``jit(jvp)`` on device copies of the data, and
    the function to read its answer; or why there is none."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return "not installed", None
    jax.config.update("jax_enable_x64", True)
    g = retarget(fn, jnp) if key == "same" else jax_ports(jax, jnp)[key]
    data = args[n_active:]
    traced = [i for i, a in enumerate(data) if isinstance(a, np.ndarray)]

    def jvp(p, t, d):
        def closed(*q):
            full = list(data)  # ints and floats of the data stay static
            for i, v in zip(traced, d):
                full[i] = v
            return g(*q, *full)
        return jax.jvp(closed, p, t)

    jitted = jax.jit(jvp)
    as_jax = lambda a: jax.device_put(np.asarray(a, dtype=np.asarray(a).dtype))  # noqa: E731
    p = tuple(as_jax(a) for a in args[:n_active])
    t = tuple(as_jax(a) for a in tangents)
    d = tuple(as_jax(data[i]) for i in traced)
    return (lambda: jax.block_until_ready(jitted(p, t, d))), jax.__version__


def geomean(values):
    values = [v for v in values if isinstance(v, float) and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else math.nan


def run_table(budget, repeats, only=None):
    rng = np.random.default_rng(1)
    rows, handles = [], {}
    for label, fn, args, n_active, jax_key in workloads():
        if only and not any(o.lower() in label.lower() for o in only):
            continue
        wrt = tuple(range(n_active))
        tangents = tuple(rng.standard_normal(np.shape(a)) if np.ndim(a)
                         else float(rng.standard_normal()) for a in args[:n_active])
        python = forward_gradient(fn, wrt=wrt)
        native = forward_gradient(fn, wrt=wrt, backend="llvm")
        want = python.jvp(*args, tangents=tangents)
        start = time.perf_counter()
        got = native.jvp(*args, tangents=tangents)
        first_call = time.perf_counter() - start
        where, placement = placement_of(native)
        row = {"workload": label, "placement": where, "first_native_call_s": first_call,
               "native_vs_python_rel_err": pair_err(got, want)}
        if row["native_vs_python_rel_err"] > 1e-12:
            row["mismatch"] = (f"MISMATCH native {got!r} vs Python {want!r} "
                               f"(rel {row['native_vs_python_rel_err']:.2e})")
            print(row["mismatch"], file=sys.stderr)
        # the primal alone, natively: the same function compiled without tangents
        primal = forward_gradient(fn, wrt=(), backend="llvm")
        value = primal.jvp(*args, tangents=())[0]
        row["primal_placement"] = placement_of(primal)[0]
        row["primal_vs_python_rel_err"] = rel_err(value, want[0])
        if row["primal_vs_python_rel_err"] > 1e-12:
            row["mismatch"] = (f"MISMATCH native primal {value!r} vs Python {want[0]!r} "
                               f"(rel {row['primal_vs_python_rel_err']:.2e})")
            print(row["mismatch"], file=sys.stderr)
        runners = {"python": lambda: python.jvp(*args, tangents=tangents),
                   "native": lambda: native.jvp(*args, tangents=tangents),
                   "primal": lambda: primal.jvp(*args, tangents=())}
        call, version = jax_runner(jax_key, fn, args, n_active, tangents)
        if callable(call):
            out = call()
            row["jax_vs_python_rel_err"] = pair_err((np.asarray(out[0]), np.asarray(out[1])),
                                                    want)
            if row["jax_vs_python_rel_err"] > 1e-9:
                row["jax"] = f"disagrees (rel {row['jax_vs_python_rel_err']:.1e})"
            else:
                runners["jax"] = call
        else:
            row["jax"] = call
        times = measure(runners, budget, repeats)
        for name, seconds in times.items():
            row[name] = seconds * 1e6
        row["native/python"] = row["native"] / row["python"]
        row["jvp/primal"] = row["native"] / row["primal"]
        if fn in FLOPS:
            primal_flops, jvp_flops = FLOPS[fn](*args)
            row["flop ratio"] = jvp_flops / primal_flops
            row["jvp/primal target"] = row["flop ratio"] + MATRIX_SLACK
        else:
            row["jvp/primal target"] = ELEMENTWISE_TARGET
        if isinstance(row.get("jax"), float):
            row["native/jax"] = row["native"] / row["jax"]
            row["python/jax"] = row["python"] / row["jax"]
        rows.append(row)
        handles[label] = (fn, args, tangents, python, native, placement, primal)
        print(f"  {label}: {where}; Python {row['python']:.1f} µs, native "
              f"{row['native']:.1f} µs (primal {row['primal']:.1f} µs), JAX "
              f"{fmt(row.get('jax'))}", file=sys.stderr)
    return rows, handles


def fmt(v, unit=" µs"):
    if isinstance(v, float):
        return f"{v:,.1f}{unit}" if v >= 10 else f"{v:.2f}{unit}"
    return v or "n/a"


def table_text(rows):
    lines = ["| workload | native runs as | Python backend | native (llvm) | JAX jit(jvp) "
             "| llvm/python | llvm/jax |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['workload']} | {r['placement']} | {fmt(r['python'])} | "
                     f"**{fmt(r['native'])}** | {fmt(r.get('jax'))} | "
                     f"{r['native/python']:.2f}× | {fmt(r.get('native/jax'), '×')} |")
    groups = (("array workloads (the first four)", rows[:ARRAY_WORKLOADS]), ("all", rows))
    for name, group in groups:
        lines.append(f"| geometric mean, {name} | | | | | "
                     f"{geomean([r['native/python'] for r in group]):.2f}× | "
                     f"{geomean([r.get('native/jax') for r in group]):.2f}× |")
    return "\n".join(lines)


def primal_text(rows):
    """JVP over primal, both native (issue 14: at most 2.0 on elementwise code,
    at most the flop ratio of the products + 0.3 on matrix code)."""
    lines = ["JVP over primal, both native (the primal is the function compiled without "
             "tangents, `forward_gradient(fn, wrt=(), backend=\"llvm\")`, timed in the "
             "same interleaved repeats):", "",
             "| workload | primal runs as | native primal | native JVP | JVP/primal "
             "| flop ratio of the products | target | |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        met = r["jvp/primal"] <= r["jvp/primal target"]
        flops = f"{r['flop ratio']:.2f}" if "flop ratio" in r else "(elementwise)"
        lines.append(f"| {r['workload']} | {r['primal_placement']} | {fmt(r['primal'])} | "
                     f"{fmt(r['native'])} | **{r['jvp/primal']:.2f}** | {flops} | "
                     f"≤ {r['jvp/primal target']:.2f} | {'met' if met else 'NOT met'} |")
    missed = [r["workload"] for r in rows if r["jvp/primal"] > r["jvp/primal target"]]
    lines += ["", "Missed on: " + ("; ".join(missed) if missed else "none") + "."]
    return "\n".join(lines)


def targets_text(rows):
    vs_jax = [r.get("native/jax") for r in rows]
    have_jax = [v for v in vs_jax if isinstance(v, float)]
    lines = ["Issue 14's targets on this run:"]
    if have_jax:
        worst = max(rows, key=lambda r: r.get("native/jax") or 0)
        lines.append(f"- native ≤ 1.0× JAX on every workload: "
                     f"{'met' if max(have_jax) <= 1.0 else 'NOT met'} (worst: "
                     f"{worst['workload']}, {worst['native/jax']:.2f}×)")
        g = geomean(vs_jax)
        lines.append(f"- native ≤ 0.5× JAX in geometric mean: "
                     f"{'met' if g <= 0.5 else 'NOT met'} ({g:.2f}×)")
    g = geomean([r["native/python"] for r in rows])
    lines.append(f"- native ≥ 3× faster than the Python backend in geometric mean: "
                 f"{'met' if 1 / g >= 3 else 'NOT met'} ({1 / g:.2f}× faster)")
    slower = [r["workload"] for r in rows if r["native/python"] > 1.0]
    if slower:
        lines.append(f"- native slower than the Python backend on: {'; '.join(slower)}")
    return "\n".join(lines)


# ---------------------------------------------------------------- profiling the native time

class LineTimer:
    """Wall time per line of generated code (files named ``<fwdcompile ...>``:
    the Python backend's JVP, a hybrid kernel's glue), through ``sys.settrace``
    (about a microsecond per line, small against the millisecond statements
    it is meant for)."""

    def __init__(self):
        self.times, self.calls = {}, {}
        self.frames = {}  # frame -> (line key, start)

    def __enter__(self):
        sys.settrace(self.global_trace)
        return self

    def __exit__(self, *exc):
        sys.settrace(None)

    def global_trace(self, frame, event, arg):
        name = frame.f_code.co_filename
        if event == "call" and name.startswith("<fwdcompile") and not any(
                skip in name for skip in ("call plan", "entry", "region")):
            self.frames[frame] = (None, time.perf_counter())
            return self.local_trace
        return None

    def local_trace(self, frame, event, arg):
        now = time.perf_counter()
        key, start = self.frames.get(frame, (None, now))
        if key is not None:
            self.times[key] = self.times.get(key, 0.0) + now - start
            self.calls[key] = self.calls.get(key, 0) + 1
        if event == "return":
            self.frames.pop(frame, None)
            return None
        self.frames[frame] = ((frame.f_code.co_filename, frame.f_lineno), time.perf_counter())
        return self.local_trace

    def lines(self, repeats):
        import linecache
        out = []
        for (filename, line), seconds in sorted(self.times.items(), key=lambda kv: -kv[1]):
            text = linecache.getline(filename, line).strip()
            out.append((seconds / repeats, text, filename))
        return out


BLAS_MARKS = ("@", "einsum", "dot(", "matmul", "linalg", "tensordot")


def is_blas(text):
    return any(m in text for m in BLAS_MARKS)


class TimedRegion:
    """Stands in for a region in a hybrid kernel's glue (a builtin entry,
    regions.Region.fast, or the Region itself) and times its calls: the
    native work and building the results, which happen in the entry."""

    def __init__(self, region, stats):
        self.region, self.stats = region, stats
        stats.setdefault("calls", 0)
        stats.setdefault("seconds", 0.0)
        stats.setdefault("bytes out", 0.0)

    def __call__(self, *args):
        start = time.perf_counter()
        result = self.region(*args)
        self.stats["seconds"] += time.perf_counter() - start
        self.stats["calls"] += 1
        self.stats["bytes out"] += sum(v.nbytes for v in result if isinstance(v, np.ndarray))
        return result


def hybrid_of(kernel):
    """The regions behind a kernel (a BySize dispatches large calls to them), or None."""
    kernel = getattr(kernel, "large", kernel)
    return kernel if type(kernel).__name__ == "HybridKernel" else None


def instrument(kernel):
    """Replace the regions in ``kernel``'s glue closure by TimedRegions;
    returns {region name: stats} and a function restoring the originals."""
    glue = kernel._glue
    stats, undo = {}, []
    for name, cell in zip(glue.__code__.co_freevars, glue.__closure__ or ()):
        if name.startswith("_region_"):
            stats[name] = {}
            undo.append((cell, cell.cell_contents))
            cell.cell_contents = TimedRegion(cell.cell_contents, stats[name])

    def restore():
        for cell, value in undo:
            cell.cell_contents = value
    return stats, restore


def median_time(fn, repeats=7, number=None):
    fn()
    if number is None:
        start = time.perf_counter()
        fn()
        number = max(1, int(0.05 / max(time.perf_counter() - start, 1e-7)))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


def transcendental_costs():
    """ns per element of exp, log and tanh: native kernel (libm, one scalar
    call per element), numpy (SIMD loops), JAX (XLA's vectorised polynomial)."""
    rng = np.random.default_rng(2)
    x = rng.uniform(0.5, 2.0, 1_000_000)
    n = x.size
    out = {}

    def s_exp(x):
        return np.sum(np.exp(x))

    def s_log(x):
        return np.sum(np.log(x))

    def s_tanh(x):
        return np.sum(np.tanh(x))

    def s_mul(x):
        return np.sum(x * x)

    try:
        import jax
        import jax.numpy as jnp
        jx = jax.device_put(x)
    except ImportError:
        jax = None
    for name, fn, ufunc in (("exp", s_exp, np.exp), ("log", s_log, np.log),
                            ("tanh", s_tanh, np.tanh), ("x*x (no call)", s_mul, None)):
        native = forward_gradient(fn, wrt=(), backend="llvm")
        native.jvp(x, tangents=())
        row = {"native": median_time(lambda: native.jvp(x, tangents=())) / n * 1e9,
               "numpy": median_time(lambda: np.sum(ufunc(x)) if ufunc else np.sum(x * x))
               / n * 1e9}
        if jax is not None:
            g = jax.jit(retarget(fn, jnp))
            row["jax"] = median_time(lambda: jax.block_until_ready(g(jx))) / n * 1e9
        out[name] = row
    return out


def glue_profile(f, args, tangents, repeats):
    """Markdown lines and a record: where a hybrid kernel's time goes, per
    statement of its glue (traced) and per region (timed without the tracer)."""
    kernel = hybrid_of(f._last_kernel())
    if kernel is None or kernel._glue is None:
        return [], {}
    # the JVP's and the primal's glue share a file name: load this one's text
    # again, so the traced lines show its statements
    kernel._build()
    stats, restore = instrument(kernel)
    try:
        for _ in range(repeats):
            f.jvp(*args, tangents=tangents)
    finally:
        restore()
    timer = LineTimer()
    with timer:
        for _ in range(repeats):
            f.jvp(*args, tangents=tangents)
    traced = timer.lines(repeats)
    total = sum(s for s, _, _ in traced)
    blas = sum(s for s, t, _ in traced if "_region_" not in t and is_blas(t))
    other = sum(s for s, t, _ in traced if "_region_" not in t and not is_blas(t))
    regions = {name: {"calls": st["calls"] / repeats, "us": st["seconds"] / repeats * 1e6,
                      "MB out": st["bytes out"] / repeats / 1e6} for name, st in stats.items()}
    in_regions = sum(r["us"] for r in regions.values())
    calls = sum(r["calls"] for r in regions.values())
    record = {"traced_glue_us": total * 1e6, "blas_us": blas * 1e6,
              "other_numpy_us": other * 1e6, "regions_us": in_regions, "region_calls": calls,
              "regions": regions,
              "statements": [{"us": s * 1e6, "line": t} for s, t, _ in traced]}
    lines = [f"Glue, traced ({repeats} calls): {total * 1e6:,.0f} µs per call = BLAS/einsum "
             f"statements {blas * 1e6:,.0f} µs + other numpy statements {other * 1e6:,.0f} µs "
             f"+ {calls:.0f} region calls; untraced, the region calls take {in_regions:,.0f} µs "
             f"(native work and building their results).", "",
             "| µs per call | statement of the glue |", "|---|---|"]
    for s, t, _ in traced[:12]:
        kind = "region" if "_region_" in t else "BLAS" if is_blas(t) else "numpy"
        lines.append(f"| {s * 1e6:,.0f} ({kind}) | `{t[:110]}` |")
    lines += ["", "| region | calls | µs | MB returned |", "|---|---|---|---|"]
    for name, r in regions.items():
        lines.append(f"| {name} | {r['calls']:.0f} | {r['us']:,.0f} | {r['MB out']:.2f} |")
    return lines, record


def profile_workload(label, fn, args, tangents, python, native, placement, primal, repeats=5):
    """Where the native JVP's (and the native primal's) time goes; returns Markdown and a record."""
    lines_md = [f"#### {label}", ""]
    record = {"native_jvp_us": median_time(lambda: native.jvp(*args, tangents=tangents)) * 1e6,
              "native_primal_us": median_time(lambda: primal.jvp(*args, tangents=())) * 1e6,
              "numpy_primal_us": median_time(lambda: fn(*args)) * 1e6}
    lines_md += [f"Native JVP {record['native_jvp_us']:,.0f} µs ({placement_of(native)[0]}); "
                 f"native primal {record['native_primal_us']:,.0f} µs "
                 f"({placement_of(primal)[0]}); the plain numpy function "
                 f"{record['numpy_primal_us']:,.0f} µs.", ""]
    for name, f, t in (("JVP", native, tangents), ("primal", primal, ())):
        glue_md, glue_record = glue_profile(f, args, t, repeats)
        if glue_md:
            lines_md += [f"Native {name}:", ""] + glue_md + [""]
            record[f"{name}_glue"] = glue_record
    # the same statements on the Python backend, for comparison
    timer = LineTimer()
    with timer:
        for _ in range(repeats):
            python.jvp(*args, tangents=tangents)
    traced = timer.lines(repeats)
    total = sum(s for s, _, _ in traced)
    blas = sum(s for s, t, _ in traced if is_blas(t))
    record["python_traced_us"] = total * 1e6
    record["python_blas_us"] = blas * 1e6
    record["python_statements"] = [{"us": s * 1e6, "line": t} for s, t, _ in traced]
    lines_md += [f"Python backend, traced: {total * 1e6:,.0f} µs per JVP, of which "
                 f"BLAS/einsum statements {blas * 1e6:,.0f} µs; its heaviest statements:", "",
                 "| µs per JVP | statement |", "|---|---|"]
    for s, t, _ in traced[:8]:
        lines_md.append(f"| {s * 1e6:,.0f} | `{t[:110]}` |")
    return "\n".join(lines_md), record


# ---------------------------------------------------------------- main

def versions():
    import llvmlite
    found = {"llvmlite": llvmlite.__version__}
    try:
        import jax
        import jaxlib
        found["jax"], found["jaxlib"] = jax.__version__, jaxlib.__version__
    except ImportError:
        found["jax"] = "not installed"
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter budgets, fewer repeats")
    parser.add_argument("--profile", action="store_true",
                        help="break down the native time where it loses")
    parser.add_argument("--threads", action="store_true",
                        help="leave the BLAS/XLA thread settings alone")
    parser.add_argument("--only", nargs="*", help="workloads whose label contains one of these")
    args = parser.parse_args(argv)
    budget, repeats = (0.03, 5) if args.quick else (0.15, 9)
    rows, handles = run_table(budget, repeats, args.only)
    m = {**machine(), **versions()}
    threads = {k: os.environ.get(k, "unset") for k in ("OPENBLAS_NUM_THREADS", "XLA_FLAGS",
                                                       "FWDCOMPILE_NUM_THREADS")}
    m["threads"] = threads
    head = (f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, numpy "
            f"{m['numpy']}, llvmlite {m['llvmlite']}, JAX {m['jax']}; "
            f"OPENBLAS_NUM_THREADS={threads['OPENBLAS_NUM_THREADS']}, "
            f"XLA_FLAGS={threads['XLA_FLAGS']}, "
            f"FWDCOMPILE_NUM_THREADS={threads['FWDCOMPILE_NUM_THREADS']}.\n"
            f"µs per JVP call, median of {repeats} interleaved repeats; every native JVP "
            f"agreed with the Python backend to 1e-12 (relative) and every JAX JVP to 1e-9, "
            f"unless marked.")
    text = "\n\n".join([head, table_text(rows), targets_text(rows), primal_text(rows)])
    mismatches = [r["mismatch"] for r in rows if "mismatch" in r]
    if mismatches:
        text += "\n\n" + "\n".join(f"- {m_}" for m_ in mismatches)
    placements = {label: h[5] for label, h in handles.items()}
    record = {"machine": m, "rows": rows, "placements": placements}
    if args.profile:
        costs = transcendental_costs()
        record["transcendental_ns_per_element"] = costs
        prof = ["### Transcendentals, ns per element (n = 1e6, sum of f(x))", "",
                "| function | native kernel (libm) | numpy | JAX |", "|---|---|---|---|"]
        for name, c in costs.items():
            prof.append(f"| {name} | {c['native']:.2f} | {c['numpy']:.2f} | "
                        f"{fmt(c.get('jax'), '')} |")
        record["profiles"] = {}
        for r in rows:
            slow = r["native/python"] > 1.0 or (r.get("native/jax") or 0.0) > 1.0 \
                or r["jvp/primal"] > r["jvp/primal target"]
            if not slow:
                continue
            md, rec = profile_workload(r["workload"], *handles[r["workload"]])
            record["profiles"][r["workload"]] = rec
            prof += ["", md]
        text += "\n\n## Profile of the native time where it loses\n\n" + "\n".join(prof)
    print(text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    suffix = "" if not args.only else "_partial"
    (out / f"native_regions{suffix}.md").write_text(text + "\n")
    (out / f"native_regions{suffix}.json").write_text(json.dumps(record, indent=2, default=str)
                                                      + "\n")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
