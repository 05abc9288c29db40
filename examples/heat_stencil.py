"""Differentiate an explicit 1-D heat equation solver with respect to its
diffusion coefficient: a preallocated array, in-place writes and a swap.

    python examples/heat_stencil.py
"""

import numpy as np

from fwdcompile import forward_gradient


def heat(kappa, u0, steps=200):
    n = u0.shape[0]
    u = u0.copy()
    u_new = np.zeros(n)
    for _ in range(steps):
        for i in range(1, n - 1):
            u_new[i] = u[i] + kappa * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        u_new[0] = 0.0
        u_new[n - 1] = 0.0
        u, u_new = u_new, u
    return np.sum(u ** 2)          # energy left after `steps` steps


if __name__ == "__main__":
    f = forward_gradient(heat, wrt=("kappa",))
    u0 = np.sin(np.linspace(0.0, np.pi, 32)) + 0.1 * np.sin(7 * np.linspace(0.0, np.pi, 32))
    print(f.source)
    print(f"{'kappa':>8} {'energy':>12} {'d energy/d kappa':>18} {'central difference':>20}")
    for kappa in (0.05, 0.1, 0.2, 0.4):
        value, slope = f.jvp(kappa, u0, tangents=(1.0,))
        h = 1e-6
        fd = (heat(kappa + h, u0) - heat(kappa - h, u0)) / (2 * h)
        print(f"{kappa:>8} {value:>12.6f} {slope:>18.8f} {fd:>20.8f}")
