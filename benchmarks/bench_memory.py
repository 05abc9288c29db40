"""Peak memory (and time) of one forward-gradient JVP and training step
against the primal and PyTorch's backprop step, by depth.

    python benchmarks/bench_memory.py [--depths 2 4 8 16 32] [--width 1024] [--batch 256]
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_memory.py --plot docs/img/depth_scaling.png

An MLP of ``depth`` tanh layers of ``width`` units (parameters a list of
``(W, b)`` pairs, written ``for W, b in layers``) on a batch of ``batch``
rows.  Each point runs in a fresh Python process: it builds the model,
runs the measured call once (compiling), then resets the peak resident size
(Linux: writing ``5`` to ``/proc/self/clear_refs``) and reads ``VmHWM`` from
``/proc/self/status`` after one more call.  Reported per depth, in MB above
the process's resident size just before that call:

* ``primal``: ``loss(layers, X, y)``, plain numpy;
* ``jvp``: ``loss.jvp(layers, X, y, tangents=directions)``, one direction
  given (its arrays exist before the call, as drawn directions do), with
  the generated code releasing each value after its last use (the
  ``release`` stage);
* ``jvp, no release``: the same with the ``release`` stage left out, as
  the generated code was before it: every intermediate and its tangent
  alive until the function returns;
* ``fg K=8 stored`` and ``fg K=8 lazy``: a whole ``forward_grad`` with 8
  directions from an int seed, which returns the estimate (as large as the
  parameters): with its directions drawn up front and held (8 times the
  parameters), or drawn where the code uses them and again, leaf by leaf,
  for the estimate (``lazy=True``);
* ``fg step stored`` and ``fg step lazy``: a whole training step, one
  direction from a ``DirectionSampler`` (``forward_grad``), then
  ``FGD.step`` updating the parameters in place;
* ``fg step fused``: ``FGD.forward_step(f, layers, X, y, rng=sampler)``,
  the library's in-place step at inference memory: the directional
  derivative from the lazy JVP, then each leaf updated from its direction
  drawn again, one leaf at a time (no estimate, no second copy of the
  parameters; the numbers of ``forward_grad(lazy=True)`` + ``FGD.step``,
  bit for bit, checked by ``--check-fused`` and tests/test_forward_step.py);
* ``torch step``: PyTorch's backprop step on the same MLP (float64, one
  thread: forward, ``backward``, an in-place SGD update; ``.grad`` kept
  between steps as a training loop keeps it), when ``import torch`` works.

Two measures per point: ``peak above the call`` (MB above the resident size
just before the measured call: what the call itself adds) and ``step
total`` (MB above the resident size of the process after it imported its
libraries and ran the same mode once on a 1-layer model, so the libraries'
own code and caches are not counted): the parameters, data, whatever the
method keeps between steps (optimizer scratch, ``.grad``) and the call's
peak.  The time is the best of two calls.  ``--plot`` draws the step total
and the time per step against depth.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def loss(layers, X, y):
    h = X
    for W, b in layers:
        h = np.tanh(h @ W + b)
    return np.mean((h[:, 0] - y) ** 2)


def _resident_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024


def _peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024


def point(mode, depth, width, batch):
    """``(peak above the call, step total, seconds)`` of one call, run in its
    own process."""
    import gc

    from fwdcompile import pipeline

    if mode == "jvp, no release":
        pipeline.BACK = tuple(s for s in pipeline.BACK if s.name != "release")
    call = make_call(mode, 1, width, batch)   # libraries loaded, kernels compiled
    call()
    del call
    gc.collect()
    base = _resident_mb()
    call = make_call(mode, depth, width, batch)
    call()  # compile, and fault in whatever a first call touches
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    before = _resident_mb()
    t0 = time.perf_counter()
    call()
    seconds = time.perf_counter() - t0
    peak = _peak_mb()
    t0 = time.perf_counter()
    call()
    seconds = min(seconds, time.perf_counter() - t0)
    return peak - before, peak - base, seconds


def make_call(mode, depth, width, batch):
    """The measured call of ``mode`` on a fresh model of ``depth`` layers."""
    import fwdcompile
    from fwdcompile.optim import FGD
    from fwdcompile.sampling import DirectionSampler

    rng = np.random.default_rng(0)
    layers = [(rng.normal(size=(width, width)) / np.sqrt(width), np.zeros(width))
              for _ in range(depth)]
    X, y = rng.normal(size=(batch, width)), rng.normal(size=batch)
    if mode == "primal":
        def call():
            return loss(layers, X, y)
    elif mode == "fg step fused":
        f = fwdcompile.forward_gradient(loss, wrt="layers")
        sampler, opt = DirectionSampler(0), FGD(lr=1e-4)

        def call():
            return opt.forward_step(f, layers, X, y, rng=sampler)
    elif mode.startswith("fg step"):
        f = fwdcompile.forward_gradient(loss, wrt="layers")
        sampler, opt = DirectionSampler(0), FGD(lr=1e-4)

        def call():
            _, g = f.forward_grad(layers, X, y, rng=sampler, lazy=mode.endswith("lazy"))
            opt.step(layers, g)
    elif mode.startswith("fg"):
        f = fwdcompile.forward_gradient(loss, wrt="layers")

        def call():
            return f.forward_grad(layers, X, y, rng=0, directions=8, lazy=mode.endswith("lazy"))
    elif mode == "torch step":
        import torch

        torch.set_num_threads(1)
        P = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True))
             for W, b in layers]
        Xt, yt = torch.tensor(X), torch.tensor(y)
        del layers

        def call():
            h = Xt
            for W, b in P:
                h = torch.tanh(h @ W + b)
            value = torch.mean((h[:, 0] - yt) ** 2)
            for W, b in P:
                for t in (W, b):
                    if t.grad is not None:
                        t.grad.zero_()
            value.backward()
            with torch.no_grad():
                for W, b in P:
                    W.sub_(1e-4 * W.grad)
                    b.sub_(1e-4 * b.grad)
            return value
    else:
        f = fwdcompile.forward_gradient(loss, wrt="layers")
        directions = [(rng.normal(size=W.shape), rng.normal(size=b.shape)) for W, b in layers]

        def call():
            return f.jvp(layers, X, y, tangents=directions)
    return call


def check_fused():
    """The fused step moves the parameters exactly as forward_grad + FGD.step."""
    import fwdcompile
    from fwdcompile.optim import FGD
    from fwdcompile.sampling import DirectionSampler

    rng = np.random.default_rng(1)
    a = [(rng.normal(size=(8, 8)), rng.normal(size=8)) for _ in range(3)]
    b = [(W.copy(), c.copy()) for W, c in a]
    X, y = rng.normal(size=(4, 8)), rng.normal(size=4)
    f, opt_a, opt_b = fwdcompile.forward_gradient(loss, wrt="layers"), FGD(1e-4), FGD(1e-4)
    sa, sb = DirectionSampler(0), DirectionSampler(0)
    for _ in range(2):
        opt_a.forward_step(f, a, X, y, rng=sa)
        _, g = f.forward_grad(b, X, y, rng=sb, lazy=True)
        opt_b.step(b, g)
    same = all(np.array_equal(p, q) for pa, pb in zip(a, b) for p, q in zip(pa, pb))
    print(f"FGD.forward_step against forward_grad + FGD.step, 2 steps: bit for bit: {same}")
    assert same


MODES = ("primal", "jvp", "jvp, no release", "fg K=8 stored", "fg K=8 lazy",
         "fg step stored", "fg step lazy", "fg step fused", "torch step")


def have_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def plot(rows, depths, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = ("primal", "fg step stored", "fg step lazy", "fg step fused", "fg K=8 stored",
             "fg K=8 lazy", "torch step")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for mode in shown:
        if all(mode in rows[d] for d in depths):
            axes[0].plot(depths, [rows[d][mode][1] for d in depths], "o-", label=mode)
            axes[1].plot(depths, [1e3 * rows[d][mode][2] for d in depths], "o-", label=mode)
    for ax, ylabel in zip(axes, ("step total (MB above the libraries)", "time per call (ms)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(depths, [str(d) for d in depths])
        ax.set_xlabel("depth (tanh layers of width 1024)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[2, 4, 8, 16, 32])
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--plot", help="draw step total and time against depth into this file")
    parser.add_argument("--json", help="write the numbers here")
    parser.add_argument("--from-json", help="plot and print these numbers instead of measuring "
                        "(several files: their modes merged)", nargs="+")
    parser.add_argument("--check-fused", action="store_true",
                        help="check the fused step against forward_grad + FGD.step and exit")
    parser.add_argument("--point", nargs=2, metavar=("MODE", "DEPTH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.point:
        print(json.dumps(point(args.point[0], int(args.point[1]), args.width, args.batch)))
        return
    if args.check_fused:
        check_fused()
        return
    if args.from_json:
        rows = {}
        for name in args.from_json:
            for depth, row in json.loads(Path(name).read_text())["rows"].items():
                rows.setdefault(int(depth), {}).update(row)
        depths = sorted(rows)
        modes = [m for m in MODES if all(m in rows[d] for d in depths)]
        print(f"{'depth':>5} " + " ".join(f"{m:>24}" for m in modes))
        for depth in depths:
            print(f"{depth:>5} " + " ".join(f"{rows[depth][m][0]:>7.1f} /{rows[depth][m][1]:>7.1f} "
                                            f"/{1e3 * rows[depth][m][2]:>6.0f}" for m in modes))
        if args.plot:
            plot(rows, depths, args.plot,
                 f"MLP of width {args.width}, batch {args.batch}, float64: one call per point, "
                 "each in a fresh process")
        return
    if not Path("/proc/self/clear_refs").exists():
        sys.exit("bench_memory needs Linux (/proc/self/clear_refs and VmHWM)")
    modes = [m for m in args.modes if m != "torch step" or have_torch()]
    if "torch step" in args.modes and "torch step" not in modes:
        print("PyTorch is not importable: no backprop column")
    threads = {k: os.environ.get(k, "unset") for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    print(f"MLP width {args.width}, batch {args.batch}, float64; threads {threads}")
    print("each cell: peak MB above the call / step total MB / ms per call")
    print(f"{'depth':>5} " + " ".join(f"{m:>24}" for m in modes))
    rows = {}
    for depth in args.depths:
        row = rows[depth] = {}
        for mode in modes:
            out = subprocess.run([sys.executable, __file__, "--width", str(args.width),
                                  "--batch", str(args.batch), "--point", mode, str(depth)],
                                 capture_output=True, text=True, check=True)
            row[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{depth:>5} " + " ".join(
            f"{row[m][0]:>7.1f} /{row[m][1]:>7.1f} /{1e3 * row[m][2]:>6.0f}" for m in modes),
            flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"width": args.width, "batch": args.batch,
                                               "threads": threads, "rows": rows}, indent=1))
    if args.plot:
        plot(rows, args.depths, args.plot,
             f"MLP of width {args.width}, batch {args.batch}, float64: one call per point, "
             "each in a fresh process")


sys.path.insert(0, str(ROOT))
import numpy as np  # noqa: E402

if __name__ == "__main__":
    main()
