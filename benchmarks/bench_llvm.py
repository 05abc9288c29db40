"""The native backend against the Python backend, numba and JAX, in one run.

    python benchmarks/bench_llvm.py [--quick]

1. Per call from Python: the JVP of 2-D Rosenbrock through ``f.jvp``
   (Python backend, native backend), against a hand-written numba
   dual-number kernel through numba's dispatcher and JAX ``jit(jvp)``.
2. Throughput: a loop-written Rosenbrock at n = 1e6, JVP and primal,
   native backend against numba ``@njit`` dual-number kernels (strict and
   ``fastmath=True``).
3. A loop-heavy scalar function (Newton iterations and a series), and the
   misfit of ``examples/ode_fit.py`` (an RK4 simulation with a local helper
   and an array of measurements), per JVP call.
4. Compile time of a native kernel (transform + lowering + LLVM O3 + wrappers),
   on a fresh decorator each time, against numba's first call.

Every JVP is compared with the Python backend before it is timed.  numba
and JAX are optional: a missing one is reported as "not installed".
Results go to stdout and ``benchmarks/results/llvm.{md,json}``.
"""

import argparse
import json
import math
import statistics
import sys
import time
import timeit
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_core import machine  # noqa: E402
from fwdcompile import forward_gradient  # noqa: E402


def rosen2(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def rosen_loop(x):
    s = 0.0
    for i in range(len(x) - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def loops(a, n):
    x = a
    for _ in range(20):                      # Newton iterations for sqrt(a)
        x = 0.5 * (x + a / x)
    s = 0.0
    for k in range(1, n):                    # a series in x
        s += math.sin(k * x) / (k * k)
    return s


# hand-written dual-number kernels: what a numba user would write by hand
def rosen2_dual(x, y, dx, dy):
    a, da = 1.0 - x, -dx
    b, db = y - x * x, dy - 2.0 * x * dx
    return a * a + 100.0 * b * b, 2.0 * a * da + 200.0 * b * db


def rosen_loop_dual(x, dx):
    s, ds = 0.0, 0.0
    for i in range(len(x) - 1):
        a = x[i + 1] - x[i] ** 2
        da = dx[i + 1] - 2.0 * x[i] * dx[i]
        b = 1.0 - x[i]
        s += 100.0 * a * a + b * b
        ds += 200.0 * a * da - 2.0 * b * dx[i]
    return s, ds


def per_call(fn, number):
    fn()
    return min(timeit.repeat(fn, number=number, repeat=7)) / number


def per_statement(stmt, names, number):
    """Seconds per execution of ``stmt`` (no lambda or unpacking around the call)."""
    return min(timeit.repeat(stmt, globals=names, number=number, repeat=7)) / number


def close(a, b, rtol=1e-10):
    return abs(a - b) <= rtol * max(1.0, abs(b))


def numba_or_reason():
    try:
        import numba
        return numba
    except ImportError:
        return None


def jax_rosen2():
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
    except ImportError:
        return None
    return jax.jit(lambda x, y, dx, dy: jax.jvp(
        lambda a, b: (1.0 - a) ** 2 + 100.0 * (b - a * a) ** 2, (x, y), (dx, dy)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    numba = numba_or_reason()
    rows, record = [], {"machine": machine()}

    # 1. per call --------------------------------------------------------------
    xy, t = (-1.0, 0.5), (1.0, 0.3)
    python, native = forward_gradient(rosen2), forward_gradient(rosen2, backend="llvm")
    want = python.jvp(*xy, tangents=t)
    assert close(native.jvp(*xy, tangents=t)[1], want[1])
    number = int(500000 * scale)
    names = {"x": xy[0], "y": xy[1], "dx": t[0], "dy": t[1], "t": t, "rosen2": rosen2,
             "python": python.jvp, "native": native.jvp}
    calls = {"primal, plain Python": per_statement("rosen2(x, y)", names, number),
             "JVP, Python backend (f.jvp)":
                 per_statement("python(x, y, tangents=t)", names, number),
             "JVP, native backend (f.jvp)":
                 per_statement("native(x, y, tangents=t)", names, number)}
    if numba is not None:
        names["dual"] = numba.njit(rosen2_dual)
        assert close(names["dual"](*xy, *t)[1], want[1])
        calls["JVP, numba dual-number kernel (dispatcher)"] = per_statement(
            "dual(x, y, dx, dy)", names, number)
    jitted = jax_rosen2()
    if jitted is not None:
        names["jitted"] = jitted
        assert close(float(jitted(*xy, *t)[1]), want[1])
        calls["JVP, JAX jit(jvp)"] = per_statement("jitted(x, y, dx, dy)", names,
                                                   max(1, number // 20))
    ours = calls["JVP, native backend (f.jvp)"]
    rows.append("### Per call from Python: 2-D Rosenbrock\n")
    rows.append("| call | time | vs native f.jvp |")
    rows.append("|---|---|---|")
    for label, seconds in calls.items():
        rows.append(f"| {label} | {seconds * 1e9:.0f} ns | {seconds / ours:.2f}× |")
    for peer, reason in (("numba", numba), ("JAX", jitted)):
        if reason is None:
            rows.append(f"| {peer} | not installed | |")
    record["per_call_ns"] = {k: v * 1e9 for k, v in calls.items()}

    # 2. throughput ------------------------------------------------------------
    n = 10 ** 6
    rng = np.random.default_rng(0)
    x, v = rng.uniform(-1.0, 1.0, n), rng.standard_normal(n)
    jvp_native = forward_gradient(rosen_loop, backend="llvm")
    primal_native = forward_gradient(rosen_loop, wrt=(), backend="llvm")
    unchecked = forward_gradient(rosen_loop, backend="llvm", boundscheck=False)
    ref = forward_gradient(rosen_loop).jvp(x[:1000], tangents=(v[:1000],))
    assert close(jvp_native.jvp(x[:1000], tangents=(v[:1000],))[1], ref[1], 1e-12)
    reps = max(3, int(20 * scale))
    through = {
        "JVP, native backend": per_call(lambda: jvp_native.jvp(x, tangents=(v,)), reps),
        "JVP, native backend, boundscheck=False":
            per_call(lambda: unchecked.jvp(x, tangents=(v,)), reps),
        "primal, native backend": per_call(lambda: primal_native.jvp(x, tangents=()), reps)}
    if numba is not None:
        fast, strict = numba.njit(fastmath=True)(rosen_loop_dual), numba.njit(rosen_loop_dual)
        fast_primal = numba.njit(fastmath=True)(rosen_loop)
        big = jvp_native.jvp(x, tangents=(v,))[1]
        assert close(fast(x, v)[1], big, 1e-9) and close(strict(x, v)[1], big, 1e-9)
        through["JVP, numba dual kernel, fastmath=True"] = per_call(lambda: fast(x, v), reps)
        through["JVP, numba dual kernel, strict"] = per_call(lambda: strict(x, v), reps)
        through["primal, numba fastmath=True"] = per_call(lambda: fast_primal(x), reps)
    base = through["JVP, native backend"]
    rows.append("\n### Throughput: loop-written Rosenbrock, n = 1e6\n")
    rows.append("| kernel | ns per element | vs native JVP |")
    rows.append("|---|---|---|")
    for label, seconds in through.items():
        rows.append(f"| {label} | {seconds / n * 1e9:.3f} | {seconds / base:.2f}× |")
    if numba is None:
        rows.append("| numba | not installed | |")
    rows.append(f"\nNative JVP / native primal: "
                f"{base / through['primal, native backend']:.2f}.")
    record["throughput_ns_per_element"] = {k: v / n * 1e9 for k, v in through.items()}

    # 3. loop-heavy scalar code ------------------------------------------------
    py_loops, nat_loops = forward_gradient(loops), forward_gradient(loops, backend="llvm")
    assert close(nat_loops.jvp(2.0, 1000, tangents=(1.0,))[1],
                 py_loops.jvp(2.0, 1000, tangents=(1.0,))[1])
    number = max(5, int(200 * scale))
    t_py = per_call(lambda: py_loops.jvp(2.0, 1000, tangents=(1.0,)), number)
    t_nat = per_call(lambda: nat_loops.jvp(2.0, 1000, tangents=(1.0,)), number)
    t_plain = per_call(lambda: loops(2.0, 1000), number)
    rows.append("\n### Loop-heavy code, per JVP call\n")
    rows.append("| workload: primal, plain Python | JVP, Python backend | JVP, native backend |")
    rows.append("|---|---|---|")
    rows.append(f"| Newton (20 steps) + a 1000-term series: {t_plain * 1e6:.1f} µs | "
                f"{t_py * 1e6:.1f} µs | {t_nat * 1e6:.1f} µs ({t_py / t_nat:.0f}× faster) |")
    record["loops_us"] = {"primal": t_plain * 1e6, "python": t_py * 1e6, "native": t_nat * 1e6}
    sys.path.insert(0, str(HERE.parent / "examples"))
    from ode_fit import misfit, simulate
    data = simulate(0.3)
    py_fit = forward_gradient(misfit, wrt=("c",))
    nat_fit = forward_gradient(misfit, wrt=("c",), backend="llvm")
    assert close(nat_fit.jvp(1.0, data, tangents=(1.0,))[1],
                 py_fit.jvp(1.0, data, tangents=(1.0,))[1], 1e-12)
    names = {"py_fit": py_fit.jvp, "nat_fit": nat_fit.jvp, "data": data, "t": (1.0,),
             "misfit": misfit}
    number = max(5, int(2000 * scale))
    t_fit_plain = per_statement("misfit(1.0, data)", names, max(5, number // 10))
    t_fit_py = per_statement("py_fit(1.0, data, tangents=t)", names, max(5, number // 10))
    t_fit_nat = per_statement("nat_fit(1.0, data, tangents=t)", names, number)
    rows.append(f"| ODE misfit (examples/ode_fit.py): {t_fit_plain * 1e6:.0f} µs | "
                f"{t_fit_py * 1e6:.0f} µs | {t_fit_nat * 1e6:.1f} µs "
                f"({t_fit_py / t_fit_nat:.0f}× faster) |")
    record["ode_fit_us"] = {"primal": t_fit_plain * 1e6, "python": t_fit_py * 1e6,
                            "native": t_fit_nat * 1e6}
    py_sim = forward_gradient(simulate, wrt=("c",))
    nat_sim = forward_gradient(simulate, wrt=("c",), backend="llvm")
    np.testing.assert_allclose(nat_sim.jvp(1.0, tangents=(1.0,))[1],
                               py_sim.jvp(1.0, tangents=(1.0,))[1], rtol=1e-12)
    names.update({"py_sim": py_sim.jvp, "nat_sim": nat_sim.jvp, "simulate": simulate})
    t_sim_plain = per_statement("simulate(1.0)", names, max(5, number // 10))
    t_sim_py = per_statement("py_sim(1.0, tangents=t)", names, max(5, number // 10))
    t_sim_nat = per_statement("nat_sim(1.0, tangents=t)", names, number)
    rows.append("| ODE trajectory (arrays returned, defaults left out): "
                f"{t_sim_plain * 1e6:.0f} µs | "
                f"{t_sim_py * 1e6:.0f} µs | {t_sim_nat * 1e6:.1f} µs "
                f"({t_sim_py / t_sim_nat:.0f}× faster) |")
    record["ode_trajectory_us"] = {"primal": t_sim_plain * 1e6, "python": t_sim_py * 1e6,
                                   "native": t_sim_nat * 1e6}

    # 4. compile time ----------------------------------------------------------
    from fwdcompile import pipeline

    def first_call(fn, call, wrt=None):
        """Median over 5 fresh decorators of (Python transform, native compile)."""
        transform, native = [], []
        for _ in range(5):
            pipeline.clear_cache()
            start = time.perf_counter()
            python = forward_gradient(fn, wrt=wrt)
            call(python)
            transform.append(time.perf_counter() - start)
            f = forward_gradient(fn, wrt=wrt, backend="llvm")  # the transform is cached now
            start = time.perf_counter()
            call(f)
            native.append(time.perf_counter() - start)
        return statistics.median(transform), statistics.median(native)

    compile_ms = {
        "2-D Rosenbrock": first_call(rosen2, lambda f: f.jvp(*xy, tangents=t)),
        "loop-written Rosenbrock (arrays)":
            first_call(rosen_loop, lambda f: f.jvp(x[:10], tangents=(v[:10],))),
        "Newton + series": first_call(loops, lambda f: f.jvp(2.0, 10, tangents=(1.0,))),
        "ODE misfit (a function and two helpers)":
            first_call(misfit, lambda f: f.jvp(1.0, data, tangents=(1.0,)), wrt=("c",))}
    rows.append("\n### Compile time (median of 5 fresh decorators)\n")
    rows.append("| function | Python transform (both backends) | native compile "
                "(lowering, O2, wrappers) | numba first call |")
    rows.append("|---|---|---|---|")
    peers = {"2-D Rosenbrock": (rosen2_dual, (*xy, *t)),
             "loop-written Rosenbrock (arrays)": (rosen_loop_dual, (x[:10], v[:10]))}
    for label, (t_transform, t_native) in compile_ms.items():
        cell = "not installed" if numba is None else "n/a (no hand-written dual)"
        if numba is not None and label in peers:
            fn, fargs = peers[label]
            start = time.perf_counter()
            numba.njit(fn)(*fargs)
            cell = f"{(time.perf_counter() - start) * 1e3:.0f} ms"
        rows.append(f"| {label} | {t_transform * 1e3:.0f} ms | {t_native * 1e3:.0f} ms "
                    f"| {cell} |")
    record["compile_ms"] = {k: {"transform": a * 1e3, "native": b * 1e3}
                            for k, (a, b) in compile_ms.items()}

    m = record["machine"]
    import llvmlite
    versions = f"llvmlite {llvmlite.__version__}, " + (
        f"numba {numba.__version__}" if numba is not None else "numba not installed")
    text = (f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, numpy "
            f"{m['numpy']}, {versions}.\n\n" + "\n".join(rows))
    print(text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "llvm.md").write_text(text + "\n")
    (out / "llvm.json").write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
