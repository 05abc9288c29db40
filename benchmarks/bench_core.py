"""Core-compiler benchmarks: transform time, JVP/primal ratios, per-call overhead.

    python benchmarks/bench_core.py            # full run, writes benchmarks/results/core.{md,json}
    python benchmarks/bench_core.py --quick    # fewer repeats

Every JVP is checked against central finite differences before it is timed,
so a fast wrong answer cannot pass.  Times are medians (transform) or best of
several repeats (calls), on the machine described in the output.  This
machine may be shared: treat differences under ~20% as noise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fwdcompile  # noqa: E402
from fwdcompile import forward_gradient  # noqa: E402

HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------- workloads

def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def softmax_loss(W, b, X, y):
    z = X @ W + b
    z = z - np.max(z, axis=1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(logp[np.arange(len(y)), y])


def two_var(x, y):
    return x * y + math.sin(x)


def thirty_lines(x, y, n):
    a = x * y + math.sin(x)
    b = a ** 2 - math.exp(-y)
    c = 0.0
    for i in range(n):
        if i % 3 == 0:
            c += a * i
        elif i % 3 == 1:
            c -= b / (i + 1)
        else:
            c = c * 0.5 + math.tanh(a - b)
    d = math.sqrt(abs(c) + 1.0)
    k = 0
    while d > 1.0 and k < 20:
        d = d * 0.9 + 0.01 * x
        k += 1
    e = max(a, b) + min(c, d)
    f = e if e > 0 else -e
    g = math.log1p(f) + math.atan2(a, b + 2.0)
    h = g * x - y / (1.0 + x ** 2)
    p = h ** 1.5 if h > 0 else h
    q = p + a * b - c * d
    r = q / (1.0 + abs(q))
    s = r * math.cos(y) + math.hypot(a, b)
    t = s - math.erf(x)
    u = t + math.pow(abs(x) + 1.0, y)
    return u, k


# ---------------------------------------------------------------- helpers

def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "fwdcompile": fwdcompile.__version__,
            "platform": platform.platform()}


def best(fn, number, repeat):
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def check_jvp(f, fn, args, tangents, rtol=1e-6):
    """The JVP must match central differences before it may be timed."""
    _, d = f.jvp(*args, tangents=tangents)
    d = d[0] if isinstance(d, tuple) else d
    scale = max(1.0, max(float(np.max(np.abs(a))) for a in args
                         if isinstance(a, (float, np.ndarray))))
    h = 1e-6 * scale
    active = [i for i, a in enumerate(args) if isinstance(a, (float, np.ndarray))
              and (not isinstance(a, np.ndarray) or a.dtype.kind == "f")][:len(tangents)]

    def shifted(s):
        out = list(args)
        for i, t in zip(active, tangents):
            out[i] = args[i] + s * h * t
        r = fn(*out)
        return r[0] if isinstance(r, tuple) else r

    ref = (shifted(1) - shifted(-1)) / (2 * h)
    if not abs(d - ref) <= rtol * max(1.0, abs(ref)) + 1e-6:
        raise AssertionError(f"{fn.__name__}: JVP {d!r} differs from finite differences {ref!r}")


# ---------------------------------------------------------------- measurements

def transform_time(repeats):
    """Median wall time of decorating and transforming ``thirty_lines`` from a
    cleared cache, and the median time of each pipeline stage in those runs
    (``Compiled.timings``, fwdcompile/pipeline.py); "outside the stages" is the
    rest of the wall time (the decorator, signatures, cache look-ups)."""
    from fwdcompile import pipeline

    times, stages, outside = [], {}, []
    for _ in range(repeats):
        fwdcompile.clear_cache()
        t0 = time.perf_counter()
        f = forward_gradient(thirty_lines, wrt=("x", "y"))
        _ = f.source
        times.append(time.perf_counter() - t0)
        compiled = pipeline.compile_jvp(thirty_lines, ("x", "y"))  # cached: the one just made
        assert compiled.own_source == f.source
        for stage, seconds in compiled.all_timings.items():
            stages.setdefault(stage, []).append(seconds)
        outside.append(times[-1] - sum(compiled.all_timings.values()))
    check_jvp(f, thirty_lines, (0.7, 0.3, 10), (1.0, 0.5))
    lines = len(__import__("inspect").getsource(thirty_lines).splitlines())
    return {"name": f"transform a {lines}-line function (loop, branches, math)",
            "median_ms": statistics.median(times) * 1e3, "min_ms": min(times) * 1e3,
            "repeats": repeats,
            "stages_ms": {stage: statistics.median(v) * 1e3 for stage, v in stages.items()},
            "stages_min_ms": {stage: min(v) * 1e3 for stage, v in stages.items()},
            "outside_stages_ms": statistics.median(outside) * 1e3}


def stage_table(t):
    """The per-stage breakdown of :func:`transform_time` as Markdown."""
    from fwdcompile import pipeline

    rows = [f"Transform time by pipeline stage (median of {t['repeats']} runs from a cleared "
            "cache; `Compiled.timings`, `fwdcompile show FILE:FUNC --timings`):", "",
            "| stage | median | share of the median total | fastest run |",
            "|---|---|---|---|"]
    for stage in pipeline.STAGES:
        ms = t["stages_ms"].get(stage.name)
        if ms is None:
            rows.append(f"| {stage.name} | not run | | |")
        else:
            rows.append(f"| {stage.name} | {ms:.2f} ms | {ms / t['median_ms']:.0%} | "
                        f"{t['stages_min_ms'][stage.name]:.2f} ms |")
    outside = t["outside_stages_ms"]
    rows.append(f"| outside the stages (decorator, signature, caches) | {outside:.2f} ms | "
                f"{outside / t['median_ms']:.0%} | |")
    rows.append(f"| **total (wall)** | **{t['median_ms']:.2f} ms** | | {t['min_ms']:.2f} ms |")
    return rows


def ratio_rosenbrock(n, number, repeat):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n)
    v = rng.standard_normal(n)
    f = forward_gradient(rosenbrock)
    check_jvp(f, rosenbrock, (x,), (v,))
    t_primal = best(lambda: rosenbrock(x), number, repeat)
    t_jvp = best(lambda: f.jvp(x, tangents=(v,)), number, repeat)
    return {"name": f"Rosenbrock, n = {n:.0e}", "primal_us": t_primal * 1e6,
            "jvp_us": t_jvp * 1e6, "ratio": t_jvp / t_primal}


def ratio_softmax(number, repeat):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 64))
    y = rng.integers(0, 10, 2000)
    W = 0.1 * rng.standard_normal((64, 10))
    b = np.zeros(10)
    dW, db = rng.standard_normal(W.shape), rng.standard_normal(b.shape)
    f = forward_gradient(softmax_loss, wrt=("W", "b"))
    check_jvp(f, softmax_loss, (W, b, X, y), (dW, db))
    t_primal = best(lambda: softmax_loss(W, b, X, y), number, repeat)
    t_jvp = best(lambda: f.jvp(W, b, X, y, tangents=(dW, db)), number, repeat)
    return {"name": "softmax regression loss, X 2000x64, 10 classes (wrt W, b)",
            "primal_us": t_primal * 1e6, "jvp_us": t_jvp * 1e6, "ratio": t_jvp / t_primal}


def call_overhead(number, repeat):
    f = forward_gradient(two_var)
    check_jvp(f, two_var, (0.3, 0.4), (1.0, 0.0))
    t_primal = best(lambda: two_var(0.3, 0.4), number, repeat)
    t_jvp = best(lambda: f.jvp(0.3, 0.4, tangents=(1.0, 0.0)), number, repeat)
    return {"name": "jvp call of x * y + sin(x) (two float arguments)",
            "primal_ns": t_primal * 1e9, "jvp_ns": t_jvp * 1e9,
            "target_ns": (2 * t_primal + 1e-6) * 1e9}


TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(2**30), "MALLOC_TRIM_THRESHOLD_": str(2**30)}


def tuned_malloc_rows(quick):
    """The large-array ratios again in a child process whose glibc allocator
    keeps freed memory (see the note printed with the table)."""
    import subprocess
    env = {**os.environ, **TUNED_MALLOC}
    code = ("import json, sys; sys.argv = ['x']; import bench_core as b; "
            f"r = {3 if quick else 7}; "
            "print(json.dumps([b.ratio_rosenbrock(10**5, 10, r), "
            "b.ratio_rosenbrock(10**6, 2, r)]))")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=HERE, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--out", default=str(HERE / "results"), help="output folder")
    args = parser.parse_args(argv)
    r = 3 if args.quick else 7

    results = {
        "machine": machine(),
        "transform": transform_time(5 if args.quick else 21),
        "ratios": [ratio_rosenbrock(10**3, 200, r), ratio_rosenbrock(10**5, 10, r),
                   ratio_rosenbrock(10**6, 2, r), ratio_softmax(10, r)],
        "overhead": call_overhead(20000 if args.quick else 200000, r),
    }
    results["ratios_tuned_malloc"] = tuned_malloc_rows(args.quick)

    m, t, o = results["machine"], results["transform"], results["overhead"]
    md = [f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, numpy {m['numpy']}, "
          f"fwdcompile {m['fwdcompile']}.", "",
          "| measurement | result | target |", "|---|---|---|",
          f"| {t['name']}: median | {t['median_ms']:.1f} ms | < 20 ms |"]
    for row in results["ratios"]:
        md.append(f"| JVP / primal, {row['name']} | {row['ratio']:.2f} "
                  f"({row['jvp_us']:.0f} µs / {row['primal_us']:.0f} µs) | ≤ 2.5 |")
    for row in results["ratios_tuned_malloc"]:
        md.append(f"| JVP / primal, {row['name']}, glibc told to keep freed memory (*) | "
                  f"{row['ratio']:.2f} ({row['jvp_us']:.0f} µs / {row['primal_us']:.0f} µs) "
                  "| ≤ 2.5 |")
    md.append(f"| {o['name']}: jvp vs primal | {o['jvp_ns']:.0f} ns vs {o['primal_ns']:.0f} ns "
              f"| < {o['target_ns']:.0f} ns (2× + 1 µs) |")
    md += [""] + stage_table(t)
    md += ["", "(*) `MALLOC_MMAP_THRESHOLD_=2**30 MALLOC_TRIM_THRESHOLD_=2**30`: with glibc's "
           "defaults every array of more than a few hundred kB that numpy frees goes back to "
           "the OS and the next one is page-faulted in again, which slows the primal as much "
           "as the JVP but costs the JVP more, because it allocates more."]
    text = "\n".join(md)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "core.md").write_text(text + "\n")
    (out / "core.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
