"""Differentiate through a while loop: a Newton iteration for sqrt(a).

    python examples/newton_sqrt.py

The derivative of the converged iterate is d sqrt(a)/da = 1 / (2 sqrt(a));
fwdcompile differentiates the loop as written, iteration by iteration.
"""

import math

from fwdcompile import forward_gradient


@forward_gradient
def newton_sqrt(a, tol=1e-14):
    x = a if a > 1.0 else 1.0
    while abs(x * x - a) > tol * a:
        x = 0.5 * (x + a / x)
    return x


if __name__ == "__main__":
    print(newton_sqrt.source)
    print(f"{'a':>8} {'sqrt(a)':>12} {'d/da (jvp)':>14} {'1/(2 sqrt a)':>14}")
    for a in (0.25, 2.0, 10.0, 1e4):
        value, slope = newton_sqrt.jvp(a, tangents=(1.0,))
        print(f"{a:>8g} {value:>12.8f} {slope:>14.10f} {0.5 / math.sqrt(a):>14.10f}")
