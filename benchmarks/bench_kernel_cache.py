"""Time to the first native JVP in a fresh process, without and with the disk cache.

    python benchmarks/bench_kernel_cache.py [--runs 5]

For each function, a fresh process (in a temporary cache directory) imports
fwdcompile, decorates the function with ``backend="llvm"`` and calls
``f.jvp`` once; the first process compiles (a cache miss), the next ones
load the kernel from disk (hits).  Reported: the first call's time (the
whole pipeline: parse, transform, lower, and either LLVM's optimizer and
code generator or loading the stored object code) and the native steps of
``f.llvm_timings``, medians over ``--runs`` pairs of processes.  The import
of fwdcompile and numpy is the same in both and is left out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {examples!r})
import numpy as np
from fwdcompile import forward_gradient
from fwdcompile.backends.llvm import disk_cache

def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

import ode_fit
data = ode_fit.simulate(0.3)
cases = {{"rosenbrock": (rosen, None, (np.linspace(-1, 1, 8),), (np.ones(8),)),
          "ode misfit (RK4 + 2 helpers)": (ode_fit.misfit, ("c",), (1.0, data), (1.0,))}}
fn, wrt, args, tangents = cases[{case!r}]
f = forward_gradient(fn, wrt=wrt, backend="llvm")
start = time.perf_counter()
f.jvp(*args, tangents=tangents)
first = time.perf_counter() - start
print(json.dumps({{"first": first, **f.llvm_timings}}))
"""


def child(case, cache_dir):
    env = {**os.environ, "FWDCOMPILE_CACHE_DIR": cache_dir, "PYTHONPATH": str(ROOT)}
    script = Path(cache_dir) / "first_jvp.py"  # a file: fwdcompile reads the source
    script.write_text(CHILD.format(root=str(ROOT), examples=str(ROOT / "examples"),
                                   case=case))
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print("| function | first process (miss) | second process (hit) | "
          "LLVM optimize + codegen (miss) | hit: lowering + IR parse + lookup + load |")
    print("|---|---:|---:|---:|---:|")
    for case in ("rosenbrock", "ode misfit (RK4 + 2 helpers)"):
        misses, hits = [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as cache_dir:
                miss, hit = child(case, cache_dir), child(case, cache_dir)
            assert miss["cache"] == "miss" and hit["cache"] == "hit", (miss, hit)
            misses.append(miss)
            hits.append(hit)

        def med(rows, key):
            return statistics.median(r.get(key, 0.0) for r in rows) * 1e3

        llvm = statistics.median((r["optimize"] + r["codegen"]) * 1e3 for r in misses)
        print(f"| {case} | {med(misses, 'first'):.0f} ms | {med(hits, 'first'):.0f} ms | "
              f"{llvm:.0f} ms | {med(hits, 'lower'):.1f} + {med(hits, 'parse IR'):.1f} + "
              f"{med(hits, 'cache lookup'):.1f} + {med(hits, 'load object code'):.1f} ms |")


if __name__ == "__main__":
    main()
