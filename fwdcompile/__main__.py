"""Command line: ``python -m fwdcompile demo``.

``demo`` shows the main job end to end: a plain numpy function, the Python
fwdcompile generates for it, its JVP checked against central finite
differences, and a few steps of forward gradient descent.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from . import forward_gradient


def rosenbrock(x):
    """The n-dimensional Rosenbrock function, written as plain numpy."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def demo(out=sys.stdout):
    import inspect

    f = forward_gradient(rosenbrock)
    rng = np.random.default_rng(0)
    x = np.array([-1.0, 0.5, 0.8, 1.2])
    v = rng.standard_normal(x.shape)

    print("The function:\n", file=out)
    print(inspect.getsource(rosenbrock), file=out)
    value, dvalue = f.jvp(x, tangents=(v,))
    print("The generated value-and-tangent code (f.source):\n", file=out)
    print(f.source, file=out)

    h = 1e-6
    fd = (rosenbrock(x + h * v) - rosenbrock(x - h * v)) / (2 * h)
    print(f"f(x)               = {value:.12g}", file=out)
    print(f"JVP  grad f(x) . v = {dvalue:.12g}", file=out)
    print(f"central difference = {fd:.12g}   (relative difference "
          f"{abs(dvalue - fd) / max(abs(fd), 1e-300):.1e})\n", file=out)

    print("Forward gradient descent, g = (grad f . v) v with v ~ N(0, I):\n", file=out)
    print(f"{'step':>6} {'f(x)':>14}", file=out)
    lr = 2e-4
    for step in range(0, 201):
        value, g = f.forward_grad(x, rng=rng)
        if step % 40 == 0:
            print(f"{step:>6} {value:>14.6g}", file=out)
        x = x - lr * g
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fwdcompile",
                                     description="Forward-mode differentiation of numeric Python.")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("demo", help="show a function, its generated derivative code, a checked "
                                "JVP and a few steps of forward gradient descent")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo()
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
