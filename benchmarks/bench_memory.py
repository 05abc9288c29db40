"""Peak memory of one forward-gradient JVP against the primal, by depth.

    python benchmarks/bench_memory.py [--depths 2 4 8 16 32] [--width 1024] [--batch 256]

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
  for the estimate (``lazy=True``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
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
    """The peak above the resident size of one call (run in its own process)."""
    import fwdcompile
    from fwdcompile import pipeline

    if mode == "jvp, no release":
        pipeline.BACK = tuple(s for s in pipeline.BACK if s.name != "release")
    rng = np.random.default_rng(0)
    layers = [(rng.normal(size=(width, width)) / np.sqrt(width), np.zeros(width))
              for _ in range(depth)]
    X, y = rng.normal(size=(batch, width)), rng.normal(size=batch)
    if mode == "primal":
        def call():
            return loss(layers, X, y)
    elif mode.startswith("fg"):
        f = fwdcompile.forward_gradient(loss, wrt="layers")

        def call():
            return f.forward_grad(layers, X, y, rng=0, directions=8, lazy=mode.endswith("lazy"))
    else:
        f = fwdcompile.forward_gradient(loss, wrt="layers")
        directions = [(rng.normal(size=W.shape), rng.normal(size=b.shape)) for W, b in layers]

        def call():
            return f.jvp(layers, X, y, tangents=directions)
    call()  # compile, and fault in whatever a first call touches
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    before = _resident_mb()
    call()
    return _peak_mb() - before


MODES = ("primal", "jvp", "jvp, no release", "fg K=8 stored", "fg K=8 lazy")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[2, 4, 8, 16, 32])
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--point", nargs=2, metavar=("MODE", "DEPTH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.point:
        print(json.dumps(point(args.point[0], int(args.point[1]), args.width, args.batch)))
        return
    if not Path("/proc/self/clear_refs").exists():
        sys.exit("bench_memory needs Linux (/proc/self/clear_refs and VmHWM)")
    print(f"MLP width {args.width}, batch {args.batch}: peak MB above the resident size "
          "before the call")
    print(f"{'depth':>5} " + " ".join(f"{m:>16}" for m in MODES) + f" {'jvp/primal':>11}")
    for depth in args.depths:
        row = {}
        for mode in MODES:
            out = subprocess.run([sys.executable, __file__, "--width", str(args.width),
                                  "--batch", str(args.batch), "--point", mode, str(depth)],
                                 capture_output=True, text=True, check=True)
            row[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{depth:>5} " + " ".join(f"{row[m]:>16.1f}" for m in MODES)
              + f" {row['jvp'] / max(row['primal'], 1e-9):>11.2f}")


sys.path.insert(0, str(ROOT))
import numpy as np  # noqa: E402

if __name__ == "__main__":
    main()
