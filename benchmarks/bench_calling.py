"""Per-call cost of every way to call ``f.jvp``, on both backends.

    python benchmarks/bench_calling.py [--quick] [--json PATH]

Two functions with a defaulted int parameter (so that "defaults left out"
is a convention): a 2-argument scalar function
``f(x, y, k=1) = x*sin(y) + k*y*y`` and the same on float64 arrays of 8
elements, summed.  Each is decorated twice per backend: with ``wrt=("x",
"y")`` and with ``wrt`` left to inference.  Every convention is called once
(compiling and warming every cache), its result is compared with the
positional call on the Python backend, and then all conventions are timed
round-robin (``--repeat`` rounds of ``timeit``, each about 20 ms), so that
the load of a shared machine hits them alike.  Reported: the median time
per call in µs and its ratio to the fastest convention on the same backend
and function, and for the native backend its ratio to the same call on the
Python backend.  A third column times the same calls to a Python function
that does nothing (``NoOp.jvp``): on a loaded machine absolute times drift
by 2x from run to run, and "native / no-op" says what a call costs in units
of one plain Python call made the same way at the same moment.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import timeit
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from fwdcompile import forward_gradient  # noqa: E402


def f(x, y, k=1):
    return x * np.sin(y) + k * y * y


def h(x, y, k=1):
    return np.sum(x * np.sin(y) + k * y * y)


def conventions(fixed, inferred, x, y, dx, dy, scalar):
    """(label, zero-argument callable) for every calling convention."""
    calls = [
        ("positional", lambda: fixed.jvp(x, y, 1, tangents=(dx, dy))),
        ("defaults left out", lambda: fixed.jvp(x, y, tangents=(dx, dy))),
        ("keywords", lambda: fixed.jvp(x=x, y=y, k=1, tangents=(dx, dy))),
        ("positional + keyword", lambda: fixed.jvp(x, y=y, tangents=(dx, dy))),
        ("np.int64 for the int parameter", lambda: fixed.jvp(x, y, K64, tangents=(dx, dy))),
        ("tangents as a list", lambda: fixed.jvp(x, y, 1, tangents=[dx, dy])),
        ("tangents as a dict", lambda: fixed.jvp(x, y, 1, tangents={"x": dx, "y": dy})),
        ("inferred wrt", lambda: inferred.jvp(x, y, 1, tangents=(dx, dy))),
        ("inferred wrt, defaults left out", lambda: inferred.jvp(x, y, tangents=(dx, dy))),
    ]
    if scalar:
        x64, y64, dx64, dy64 = map(np.float64, (x, y, dx, dy))
        calls += [
            ("np.float64 arguments", lambda: fixed.jvp(x64, y64, 1, tangents=(dx, dy))),
            ("np.float64 tangents", lambda: fixed.jvp(x, y, 1, tangents=(dx64, dy64))),
            ("np.float64 arguments, inferred wrt",
             lambda: inferred.jvp(x64, y64, tangents=(dx, dy))),
        ]
    return calls


K64 = np.int64(1)


class NoOp:
    """The same calls to a Python function that does nothing: what one call
    with these arguments costs on this machine at this moment (a yardstick
    for a loaded machine)."""

    @staticmethod
    def jvp(*args, tangents, **kwargs):
        return args


def same(a, b):
    return all(np.allclose(p, q, rtol=1e-13, atol=0) for p, q in zip(a, b))


def run(repeat=9, target=0.02):
    rows = []
    workloads = [("scalar f(x, y, k=1)", f, 0.5, 0.2, 1.0, 0.25, True),
                 ("arrays of 8, h(x, y, k=1)", h, np.linspace(0.1, 0.8, 8),
                  np.linspace(-0.3, 0.4, 8), np.ones(8), np.linspace(0.0, 1.0, 8), False)]
    for label, fn, x, y, dx, dy, scalar in workloads:
        reference = forward_gradient(fn, wrt=("x", "y")).jvp(x, y, 1, tangents=(dx, dy))
        timers = []
        for backend in ("python", "llvm", "no-op"):
            if backend == "no-op":
                fixed = inferred = NoOp()
            else:
                fixed = forward_gradient(fn, wrt=("x", "y"), backend=backend)
                inferred = forward_gradient(fn, backend=backend)
            for name, call in conventions(fixed, inferred, x, y, dx, dy, scalar):
                result = call()  # compiles, fills the caches
                assert backend == "no-op" or same(result, reference), \
                    (label, backend, name, result, reference)
                number = max(1, int(target / min(timeit.repeat(call, number=50, repeat=3)) * 50))
                timers.append((backend, name, call, number, []))
        for _ in range(repeat):  # round-robin: the machine's load hits every convention alike
            for _backend, _name, call, number, times in timers:
                times.append(timeit.timeit(call, number=number) / number)
        for backend, name, _call, _number, times in timers:
            rows.append(dict(workload=label, backend=backend, convention=name,
                             us=statistics.median(times) * 1e6, min_us=min(times) * 1e6))
    for row in rows:
        group = [r["us"] for r in rows
                 if r["workload"] == row["workload"] and r["backend"] == row["backend"]]
        row["vs_fastest"] = row["us"] / min(group)

        def same_call(backend):
            return next(r for r in rows if r["workload"] == row["workload"]
                        and r["backend"] == backend and r["convention"] == row["convention"])
        if row["backend"] == "llvm":
            row["vs_python"] = row["us"] / same_call("python")["us"]
        if row["backend"] != "no-op":
            row["vs_noop"] = row["us"] / same_call("no-op")["us"]
    return rows


def table(rows):
    lines = []
    for workload in dict.fromkeys(r["workload"] for r in rows):
        lines += [f"### {workload}", "",
                  "| convention | Python backend | ratio to fastest | native backend "
                  "| ratio to fastest | native / Python | no-op Python call | native / no-op |",
                  "|---|---|---|---|---|---|---|---|"]
        for name in dict.fromkeys(r["convention"] for r in rows if r["workload"] == workload):
            py, nat, nop = (next(r for r in rows if r["workload"] == workload
                                 and r["backend"] == b and r["convention"] == name)
                            for b in ("python", "llvm", "no-op"))
            lines.append(f"| {name} | {py['us']:.2f} µs | {py['vs_fastest']:.2f}× "
                         f"| {nat['us']:.2f} µs | {nat['vs_fastest']:.2f}× "
                         f"| {nat['vs_python']:.2f} | {nop['us']:.2f} µs "
                         f"| {nat['vs_noop']:.2f} |")
        for backend in ("python", "llvm"):
            group = [r for r in rows if r["workload"] == workload and r["backend"] == backend]
            worst = max(group, key=lambda r: r["us"])
            lines.append(f"\n{backend}: slowest {worst['convention']!r} {worst['us']:.2f} µs, "
                         f"{worst['vs_fastest']:.2f}× the fastest")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 5 ms instead of 9 of 20")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--json", help="also write the rows as JSON to this path")
    options = parser.parse_args(argv)
    rows = run(repeat=3 if options.quick else options.repeat,
               target=0.005 if options.quick else 0.02)
    print(table(rows))
    if options.json:
        Path(options.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
