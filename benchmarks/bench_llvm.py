"""Native backend against the Python backend (and numba, if installed).

    python benchmarks/bench_llvm.py

Per-call JVP time of a scalar function (2-D Rosenbrock) and of a loop-heavy
scalar function (a Newton iteration and a series sum), and the compile time
of a native kernel.  Answers are compared with the Python backend first.
"""

import math
import sys
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import machine  # noqa: E402
from fwdcompile import forward_gradient  # noqa: E402


def rosen2(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def loops(a, n):
    x = a
    for _ in range(20):                      # Newton iterations for sqrt(a)
        x = 0.5 * (x + a / x)
    s = 0.0
    for k in range(1, n):                    # a series in x
        s += math.sin(k * x) / (k * k)
    return s


def best(fn, number):
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def main():
    m = machine()
    print(f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}.\n")
    print("| workload | primal (Python) | JVP, Python backend | JVP, native backend | "
          "native compile |")
    print("|---|---|---|---|---|")
    for label, fn, args, tangents, number in (
            ("2-D Rosenbrock", rosen2, (-1.0, 0.5), (1.0, 0.0), 100000),
            ("Newton + 1000-term series", loops, (2.0, 1000), (1.0,), 200)):
        python = forward_gradient(fn)
        native = forward_gradient(fn, backend="llvm")
        t0 = time.perf_counter()
        got = native.jvp(*args, tangents=tangents)
        compile_ms = (time.perf_counter() - t0) * 1e3
        want = python.jvp(*args, tangents=tangents)
        assert abs(got[1] - want[1]) <= 1e-10 * max(1.0, abs(want[1])), (got, want)
        t_p = best(lambda: fn(*args), number)
        t_py = best(lambda: python.jvp(*args, tangents=tangents), number)
        t_nat = best(lambda: native.jvp(*args, tangents=tangents), number)
        print(f"| {label} | {t_p * 1e6:.2f} µs | {t_py * 1e6:.2f} µs | {t_nat * 1e6:.2f} µs | "
              f"{compile_ms:.0f} ms (first call) |")
    try:
        import numba  # noqa: F401
        print("\nnumba is installed but not benchmarked here yet.")
    except ImportError:
        print("\nnumba: not installed.")


if __name__ == "__main__":
    main()
