"""Native kernels on 1 thread against N threads, side by side in one run.

    python benchmarks/bench_threads.py [--quick] [--threads N] [--sweep]

Every workload is compiled twice in this process, once with
``FWDCOMPILE_NUM_THREADS=1`` (no threads) and once with N (default: the CPUs
this process may use), both with the default size threshold, and the JVPs
are timed as medians of interleaved repeats (the two columns take turns).
Before timing, both answers are compared: elementwise results must be equal
to the last bit, whole reductions too (fixed blocks: docs/native-backend.md,
"Threads"), so a ``!=`` in the table is a bug.  ``--sweep`` also times a
cheap (``a * b + c``) and a costly (``tanh``) elementwise JVP with the
threshold forced to 0 (always split) from 1e3 to 1e6 elements, to see where
threads pay (how :data:`fwdcompile.backends.llvm.parallel.THRESHOLD` was set).
Results go to stdout and ``benchmarks/results/threads.md``.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_core import machine  # noqa: E402
from bench_native_regions import gmm_nll  # noqa: E402

from fwdcompile import forward_gradient  # noqa: E402
from fwdcompile.backends.llvm import parallel  # noqa: E402


def tanh_sum(a, b, c):
    return np.sum(np.tanh(a * b + c))


def tanh_map(a, b, c):
    return np.tanh(a * b + c)


def affine(a, b, c):
    return a * b + c


def exp_rows(A, w):
    """Row-wise elementwise work on a matrix, a broadcast row and a reduction along axis 1."""
    E = np.exp(-A * A) * w
    return np.sum(E, axis=1)


def compiled(fn, n_threads, args, tangents, threshold=None):
    """``fn`` compiled with ``n_threads`` (and ``threshold``), after one call."""
    saved = {k: os.environ.get(k) for k in ("FWDCOMPILE_NUM_THREADS",
                                            "FWDCOMPILE_PARALLEL_THRESHOLD")}
    os.environ["FWDCOMPILE_NUM_THREADS"] = str(n_threads)
    if threshold is not None:
        os.environ["FWDCOMPILE_PARALLEL_THRESHOLD"] = str(threshold)
    try:
        f = forward_gradient(fn, backend="llvm")
        f.jvp(*args, tangents=tangents)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return f


def interleaved(calls, repeats, number):
    """Median seconds per call of each of ``calls``, timed in turns."""
    samples = [[] for _ in calls]
    for _ in range(repeats):
        for k, call in enumerate(calls):
            start = time.perf_counter()
            for _ in range(number):
                call()
            samples[k].append((time.perf_counter() - start) / number)
    return [statistics.median(s) for s in samples]


def same_bits(x, y):
    x = x if isinstance(x, tuple) else (x,)
    y = y if isinstance(y, tuple) else (y,)
    return all(np.array_equal(np.asarray(p), np.asarray(q), equal_nan=True)
               for p, q in zip(x, y))


def workloads(quick):
    rng = np.random.default_rng(0)
    out = []
    for n in ([10 ** 5, 10 ** 6] if quick else [10 ** 5, 10 ** 6, 10 ** 7]):
        abc = tuple(rng.standard_normal(n) for _ in range(3))
        d = tuple(rng.standard_normal(n) for _ in range(3))
        out.append((f"sum(tanh(a*b+c)), n = {n:.0e}", tanh_sum, abc, d))
        out.append((f"tanh(a*b+c) (an array), n = {n:.0e}", tanh_map, abc, d))
        out.append((f"a*b+c (an array), n = {n:.0e}", affine, abc, d))
    A, w = rng.standard_normal((2000, 500)), rng.standard_normal(500)
    out.append(("sum(exp(-A*A)*w, axis=1), A 2000 x 500", exp_rows, (A, w),
                (rng.standard_normal(A.shape), rng.standard_normal(w.shape))))
    N, K = 10 ** 5, 8
    gmm = (rng.standard_normal((K, 2)), 0.1 * rng.standard_normal(K), rng.standard_normal(K),
           rng.standard_normal((N, 2)))
    out.append(("Gaussian mixture NLL, N = 1e5, K = 8", gmm_nll, gmm,
                tuple(rng.standard_normal(np.shape(p)) for p in gmm)))
    return out


def sweep(n_threads, repeats):
    rng = np.random.default_rng(1)
    rows = []
    for fn in (affine, tanh_map):
        for n in (10 ** 3, 10 ** 4, 10 ** 5, 3 * 10 ** 5, 10 ** 6, 3 * 10 ** 6):
            args = tuple(rng.standard_normal(n) for _ in range(3))
            tans = tuple(rng.standard_normal(n) for _ in range(3))
            one = compiled(fn, 1, args, tans)
            many = compiled(fn, n_threads, args, tans, threshold=0)
            number = max(1, int(2e5 // n))
            t1, tn = interleaved([lambda: one.jvp(*args, tangents=tans),
                                  lambda: many.jvp(*args, tangents=tans)], repeats, number)
            rows.append((fn.__name__, n, t1, tn))
            print(f"  sweep {fn.__name__:8s} n={n:>8d}  1 thread {t1 * 1e6:9.1f} us  "
                  f"{n_threads} threads {tn * 1e6:9.1f} us  speed-up {t1 / tn:5.2f}", flush=True)
    return rows


def thread_start_cost(repeats=15, number=300):
    """Median seconds to create and join one POSIX thread running a trivial
    function (``strlen``), through ctypes (about 1 us of that is ctypes)."""
    import ctypes
    libc = ctypes.CDLL(None)
    create, join = libc.pthread_create, libc.pthread_join
    create.argtypes = [ctypes.POINTER(ctypes.c_ulong), ctypes.c_void_p, ctypes.c_void_p,
                       ctypes.c_void_p]
    join.argtypes = [ctypes.c_ulong, ctypes.c_void_p]
    start = ctypes.cast(libc.strlen, ctypes.c_void_p).value
    text, tid = ctypes.create_string_buffer(b"x"), ctypes.c_ulong()

    def once():
        create(ctypes.byref(tid), None, start, ctypes.addressof(text))
        join(tid.value, None)

    return interleaved([once], repeats, number)[0]


def cpu_pressure():
    """Linux's CPU pressure line ("some avg10=..."): how often a task waited for a core."""
    try:
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return "unavailable"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=parallel.threads())
    parser.add_argument("--sweep", action="store_true")
    opts = parser.parse_args()
    n_threads = opts.threads
    repeats = 7 if opts.quick else 15
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} CPUs; threads {n_threads}; "
          f"threshold {parallel.threshold():.0e} (elements x cost)")
    start_cost, pressure = thread_start_cost(), cpu_pressure()
    print(f"create + join one thread: {start_cost * 1e6:.1f} us; CPU pressure: {pressure}")
    rows = []
    for label, fn, args, tans in workloads(opts.quick):
        one = compiled(fn, 1, args, tans)
        many = compiled(fn, n_threads, args, tans)
        bits = same_bits(one.jvp(*args, tangents=tans), many.jvp(*args, tangents=tans))
        size = max(np.size(a) for a in args)
        number = max(1, int(3e6 // size))
        t1, tn = interleaved([lambda: one.jvp(*args, tangents=tans),
                              lambda: many.jvp(*args, tangents=tans)], repeats, number)
        rows.append((label, t1, tn, bits))
        print(f"{label:45s} 1 thread {t1 * 1e3:9.3f} ms  {n_threads} threads {tn * 1e3:9.3f} ms"
              f"  speed-up {t1 / tn:5.2f}  {'same bits' if bits else '!= (BUG)'}", flush=True)
    swept = sweep(n_threads, repeats) if opts.sweep else []
    write(info, n_threads, rows, swept, repeats, start_cost, pressure)


def write(info, n_threads, rows, swept, repeats, start_cost, pressure):
    lines = ["# Threads: native JVPs on 1 thread against N threads", "",
             f"Machine: {info['cpu']}, {info['cores']} CPUs (shared), Python {info['python']}, "
             f"numpy {info['numpy']}.  Command: `python benchmarks/bench_threads.py"
             f"{' --sweep' if swept else ''}`.  Medians of {repeats} interleaved repeats; "
             f"default threshold {parallel.threshold():.0e} (elements x cost).", "",
             f"Creating and joining one thread (ctypes, trivial function): "
             f"{start_cost * 1e6:.0f} us.  CPU pressure at the end of the run "
             f"(`/proc/pressure/cpu`): `{pressure}`.", "",
             f"| workload (JVP) | 1 thread ms | {n_threads} threads ms | speed-up | bits |",
             "|---|---:|---:|---:|---|"]
    for label, t1, tn, bits in rows:
        lines.append(f"| {label} | {t1 * 1e3:.3f} | {tn * 1e3:.3f} | {t1 / tn:.2f} | "
                     f"{'same' if bits else 'DIFFER'} |")
    if swept:
        lines += ["", f"Threshold sweep: threads forced on (threshold 0), {n_threads} threads "
                  "against 1.", "",
                  "| kernel | n | 1 thread us | threads us | speed-up |",
                  "|---|---:|---:|---:|---:|"]
        for name, n, t1, tn in swept:
            lines.append(f"| {name} | {n} | {t1 * 1e6:.1f} | {tn * 1e6:.1f} | {t1 / tn:.2f} |")
    out = HERE / "results" / "threads.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
