"""Vector math in native kernels (libmvec, vecmath.py): before and after, in one run.

    python benchmarks/bench_vecmath.py [--quick]

Each workload runs three ways, side by side: the native backend with vector
math (the default where glibc's libmvec is available), the native backend
with ``FWDCOMPILE_VECMATH=0`` (one scalar libm call per element: what the
native backend did before), and the Python backend (numpy, whose ufuncs
have their own SIMD loops).  Workloads: the primal-and-JVP of
``sum(u(x))`` for ``u`` in tanh, exp, log, sin over 1e5 elements; the JVP
of ``sum(tanh(a + b))`` over a 100 x 32 array (the case issue 14 measured);
and a softmax cross-entropy (1797 x 10 logits).  Every native JVP is
compared with the Python backend's before it is timed.  Times are the best
of several repeats, in microseconds per JVP call; results go to stdout and
``benchmarks/results/vecmath.{md,json}``.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_core import best, machine  # noqa: E402
from fwdcompile import forward_gradient  # noqa: E402
from fwdcompile.backends.llvm import vecmath  # noqa: E402


def sum_tanh(x):
    return np.sum(np.tanh(x))


def sum_exp(x):
    return np.sum(np.exp(x))


def sum_log(x):
    return np.sum(np.log(x))


def sum_sin(x):
    return np.sum(np.sin(x))


def tanh_of_sum(a, b):
    return np.sum(np.tanh(a + b))


def softmax_xent(z, y):
    m = np.max(z, axis=1, keepdims=True)
    e = np.exp(z - m)
    return np.sum(np.log(np.sum(e, axis=1)) + m[:, 0] - np.sum(z * y, axis=1)) / z.shape[0]


def workloads():
    rng = np.random.default_rng(0)
    n = 100_000
    x = rng.uniform(-3.0, 3.0, n)
    z = rng.standard_normal((1797, 10))
    y = np.eye(10)[rng.integers(0, 10, 1797)]
    return [
        ("tanh, 1e5", sum_tanh, (x,), n),
        ("exp, 1e5", sum_exp, (x,), n),
        ("log, 1e5", sum_log, (np.abs(x) + 0.1,), n),
        ("sin, 1e5", sum_sin, (x,), n),
        ("sum(tanh(a+b)), 100x32", tanh_of_sum, (rng.standard_normal((100, 32)),
                                                  rng.standard_normal((100, 32))), 3200),
        ("softmax cross-entropy, 1797x10", softmax_xent, (z, y), z.size),
    ]


def native(fn, args, tangents, vector):
    os.environ["FWDCOMPILE_VECMATH"] = "1" if vector else "0"
    try:
        f = forward_gradient(fn, wrt=[0], backend="llvm")
        for _ in range(3):  # compiled, and any regions settled
            f.jvp(*args, tangents=tangents)
    finally:
        os.environ.pop("FWDCOMPILE_VECMATH", None)
    assert ("_ZGV" in f.llvm_ir) == (vector and bool(vecmath.plan())), fn.__name__
    return f


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    opts = parser.parse_args()
    repeat, number = (3, 20) if opts.quick else (7, 100)
    rows = []
    for label, fn, args, n in workloads():
        tangents = (np.random.default_rng(1).standard_normal(np.shape(args[0])),)
        python = forward_gradient(fn, wrt=[0])
        ref = python.jvp(*args, tangents=tangents)
        times = {}
        for name, f in (("native, vector math", native(fn, args, tangents, True)),
                        ("native, scalar libm", native(fn, args, tangents, False)),
                        ("Python backend", python)):
            got = f.jvp(*args, tangents=tangents)
            np.testing.assert_allclose(got, ref, rtol=1e-10)
            times[name] = best(lambda f=f: f.jvp(*args, tangents=tangents), number,
                               repeat) * 1e6
        rows.append({"workload": label, "elements": n, **times})
        print(f"{label:34s}" + "".join(f"  {k}: {v:8.1f} us" for k, v in times.items()),
              flush=True)
    info = machine()
    info["vecmath"] = vecmath.describe().split(";")[0]
    head = ["workload", "native, vector math", "native, scalar libm", "Python backend"]
    lines = [f"Machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, "
             f"numpy {info['numpy']}; {info['vecmath']}", "",
             "JVP per call (value and directional derivative), microseconds, best of "
             f"{repeat}:", "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for r in rows:
        lines.append(f"| {r['workload']} | " + " | ".join(f"{r[h]:.1f}" for h in head[1:])
                     + " |")
    print("\n".join(lines))
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "vecmath.md").write_text("\n".join(lines) + "\n")
    (out / "vecmath.json").write_text(json.dumps({"machine": info, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
