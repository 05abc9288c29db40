"""What a JVP run as native regions costs beyond its work, before and after a change.

    python benchmarks/bench_region_overhead.py [--quick]
    python benchmarks/bench_region_overhead.py --before OLD_TREE [--rounds 3]

Workloads: a 2-layer tanh MLP cross-entropy (``mlp_xent`` of
bench_native_regions.py: two regions, five matrix products) and softmax
regression (``softmax_loss`` of bench_core.py: one region, two products,
fancy indexing in numpy), each at three sizes: tiny (8 rows: nearly all
overhead), 64 x 32 and the sizes of bench_native_regions.py.  For each:
``f.jvp`` on ``backend="llvm"`` as the user calls it (``BySize`` picks one
kernel or regions), the regions alone (``BySize.large``, what the large
sizes run), the Python backend, and the plain numpy function, as medians of
interleaved repeats; and the region calls per JVP.

``--before OLD_TREE`` runs this script alternately on ``OLD_TREE`` (a
directory holding another ``fwdcompile`` package) and on this tree,
``--rounds`` times each, in separate processes, and prints the medians of
both side by side.  One BLAS thread (``OPENBLAS_NUM_THREADS=1``).
"""

import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
TREE = HERE.parent


def cases():
    """(label, fn, args, number of active arguments)."""
    sys.path.insert(0, str(HERE))
    from bench_core import softmax_loss
    from bench_native_regions import mlp_xent

    rng = np.random.default_rng(0)

    def mlp(n, d):
        return (rng.standard_normal((d, 32)) / 8, np.zeros(32),
                rng.standard_normal((32, 10)) / 6, np.zeros(10),
                rng.standard_normal((n, d)), np.eye(10)[rng.integers(0, 10, n)])

    def softmax(n, d):
        return (0.1 * rng.standard_normal((d, 10)), np.zeros(10),
                rng.standard_normal((n, d)), rng.integers(0, 10, n))

    return [(f"MLP {n}x{d}", mlp_xent, mlp(n, d), 4) for n, d in ((8, 4), (64, 32), (1797, 64))] \
        + [(f"softmax regression {n}x{d}", softmax_loss, softmax(n, d), 2)
           for n, d in ((8, 4), (64, 32), (2000, 64))]


def region_calls(kernel, call):
    """How many region calls one ``call()`` makes (the glue's regions counted)."""
    glue = kernel._glue
    cells = [c for name, c in zip(glue.__code__.co_freevars, glue.__closure__ or ())
             if name.startswith("_region_")]
    count = [0]
    originals = [c.cell_contents for c in cells]
    for cell, original in zip(cells, originals):
        def counted(*args, _f=original):
            count[0] += 1
            return _f(*args)
        cell.cell_contents = counted
    try:
        call()
    finally:
        for cell, original in zip(cells, originals):
            cell.cell_contents = original
    return count[0]


def measure(quick):
    from fwdcompile import forward_gradient

    budget, repeats = (0.01, 7) if quick else (0.04, 21)
    rows = []
    for label, fn, args, n_active in cases():
        rng = np.random.default_rng(1)
        tangents = tuple(rng.standard_normal(a.shape) for a in args[:n_active])
        wrt = tuple(range(n_active))
        native = forward_gradient(fn, wrt=wrt, backend="llvm")
        python = forward_gradient(fn, wrt=wrt)
        want = python.jvp(*args, tangents=tangents)
        for _ in range(2):  # the first call settles the partition
            got = native.jvp(*args, tangents=tangents)
        kernel = native._last_kernel()
        regions = getattr(kernel, "large", kernel)
        ordered = args + tangents  # the generated JVP's parameter order
        regions(*ordered)
        assert np.allclose(got, want, rtol=1e-11) and np.allclose(regions(*ordered), want,
                                                                 rtol=1e-11)
        runners = {"f.jvp": lambda: native.jvp(*args, tangents=tangents),
                   "regions": lambda: regions(*ordered),
                   "python": lambda: python.jvp(*args, tangents=tangents),
                   "numpy primal": lambda: fn(*args)}
        numbers = {}
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            numbers[name] = max(1, int(budget / max(time.perf_counter() - start, 1e-7)))
        samples = {name: [] for name in runners}
        for _ in range(repeats):
            for name, run in runners.items():
                start = time.perf_counter()
                for _ in range(numbers[name]):
                    run()
                samples[name].append((time.perf_counter() - start) / numbers[name] * 1e6)
        row = {"workload": label, "kernel": type(kernel).__name__,
               "region calls": region_calls(regions, lambda: regions(*ordered))}
        row.update({name: statistics.median(v) for name, v in samples.items()})
        rows.append(row)
    return rows


def compare(before, rounds, quick):
    """Medians over ``rounds`` alternating runs on ``before`` and this tree."""
    runs = {"before": [], "after": []}
    for _ in range(rounds):
        for name, tree in (("before", before), ("after", TREE)):
            env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{TREE}"}
            out = subprocess.run([sys.executable, __file__, "--json"] + (["--quick"] * quick),
                                 env=env, capture_output=True, text=True, check=True).stdout
            run = json.loads(out)
            assert run["package"].startswith(str(tree)), run["package"]
            runs[name].append(run["rows"])
    lines = ["| workload | region calls | f.jvp before | f.jvp after | regions before | "
             "regions after | Python backend | numpy primal |", "|---|---|---|---|---|---|---|---|"]
    for i, row in enumerate(runs["after"][0]):
        def med(which, key):
            return statistics.median(r[i][key] for r in runs[which])
        lines.append(f"| {row['workload']} | {row['region calls']} | {med('before', 'f.jvp'):,.1f} "
                     f"| **{med('after', 'f.jvp'):,.1f}** | {med('before', 'regions'):,.1f} | "
                     f"**{med('after', 'regions'):,.1f}** | {med('after', 'python'):,.1f} | "
                     f"{med('after', 'numpy primal'):,.1f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true", help="one run, as JSON (for --before)")
    parser.add_argument("--before", help="a directory holding the fwdcompile to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.before:
        print("µs per call, medians over alternating runs (each a median of interleaved "
              "repeats)\n")
        print(compare(Path(args.before).resolve(), args.rounds, args.quick))
        return
    rows = measure(args.quick)
    if args.json:
        import fwdcompile
        print(json.dumps({"package": fwdcompile.__file__, "rows": rows}))
        return
    print("| workload | kernel | region calls | f.jvp | regions | Python backend | numpy primal |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['workload']} | {r['kernel']} | {r['region calls']} | {r['f.jvp']:,.1f} | "
              f"{r['regions']:,.1f} | {r['python']:,.1f} | {r['numpy primal']:,.1f} |")


if __name__ == "__main__":
    main()
