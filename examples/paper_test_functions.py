"""The paper's test functions: Beale and 2-D Rosenbrock, forward gradient
descent (FGD) against gradient descent (GD).

    python examples/paper_test_functions.py [--out examples/output] [--quick]

Settings from Baydin et al. (2022) as copied by reproductions: Beale with
lr 0.01, 1000 iterations from (0, 0.5); Rosenbrock with lr 5e-4, 25,000
iterations from (-1, 0).  The true gradient for GD comes from two JVPs along
the basis vectors.  Writes trajectory and loss plots (against iterations and
against wall-clock time) and prints a table.

On these two-parameter problems a GD step (two scalar JVPs, about 2 µs here)
is cheaper than an FGD step (one JVP plus drawing the direction and the
bookkeeping of ``forward_grad``, about 10 µs): per step, forward gradients only
pay off when a JVP costs much more than that overhead.
"""

import argparse
import os
import time

import numpy as np

from fwdcompile import forward_gradient


def beale(x, y):
    return ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2
            + (2.625 - x + x * y * y * y) ** 2)


def rosenbrock(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def run(f, start, lr, steps, mode, seed=0):
    """FGD or GD; returns positions, losses and elapsed seconds per step."""
    rng = np.random.default_rng(seed)
    x, y = start
    path, losses, clock = [(x, y)], [], []
    t0 = time.perf_counter()
    for _ in range(steps):
        if mode == "FGD":
            value, (gx, gy) = f.forward_grad(x, y, rng=rng)
        else:
            value, gx = f.jvp(x, y, tangents=(1.0, 0.0))
            _, gy = f.jvp(x, y, tangents=(0.0, 1.0))
        x, y = x - lr * gx, y - lr * gy
        path.append((x, y))
        losses.append(value)
        clock.append(time.perf_counter() - t0)
    return np.array(path), np.array(losses), np.array(clock)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "output"))
    parser.add_argument("--quick", action="store_true", help="a tenth of the iterations")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    problems = [("Beale", beale, (0.0, 0.5), 0.01, 1000, (3.0, 0.5), ((-0.5, 4.0), (-1.0, 1.5))),
                ("Rosenbrock", rosenbrock, (-1.0, 0.0), 5e-4, 25000, (1.0, 1.0),
                 ((-1.5, 1.5), (-0.5, 1.5)))]
    print(f"{'function':<11} {'method':<6} {'steps':>6} {'final loss':>12} "
          f"{'dist. to min':>13} {'time (s)':>9}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    for name, fn, start, lr, steps, minimum, (xr, yr) in problems:
        steps = steps // 10 if args.quick else steps
        f = forward_gradient(fn)
        f.jvp(*start, tangents=(1.0, 0.0))  # compile before the clocks start
        results = {mode: run(f, start, lr, steps, mode) for mode in ("GD", "FGD")}
        fig, axes = plt.subplots(1, 3, figsize=(14, 4))
        xs, ys = np.meshgrid(np.linspace(*xr, 300), np.linspace(*yr, 300))
        axes[0].contour(xs, ys, np.log1p(fn(xs, ys)), levels=30, cmap="viridis", linewidths=0.6)
        for mode, (path, losses, clock) in results.items():
            axes[0].plot(path[:, 0], path[:, 1], lw=1, label=mode)
            axes[1].semilogy(losses, label=mode)
            axes[2].semilogy(clock, losses, label=mode)
            dist = np.hypot(*(path[-1] - np.array(minimum)))
            print(f"{name:<11} {mode:<6} {steps:>6} {losses[-1]:>12.4e} {dist:>13.4e} "
                  f"{clock[-1]:>9.2f}")
        axes[0].plot(*minimum, "k*", ms=10)
        axes[0].set_title(f"{name}: trajectories from {start}")
        axes[1].set_xlabel("iteration")
        axes[2].set_xlabel("wall-clock time (s)")
        for ax in axes[1:]:
            ax.set_ylabel("loss")
            ax.legend()
        for ax in axes:
            ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, f"{name.lower()}.png"), dpi=70)
        plt.close(fig)


if __name__ == "__main__":
    main()
