"""Direction sampling cost: numpy against fwdcompile.sampling.

    python benchmarks/bench_sampling.py

Times drawing 1,863,690 numbers (the paper's 784-1024-1024-10 MLP), best of
several repeats, on the machine described in the output.
"""

import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import machine  # noqa: E402
from fwdcompile.sampling import rademacher  # noqa: E402
from fwdcompile.sampling import DirectionSampler  # noqa: E402

N = 1_863_690


def main():
    rng = np.random.default_rng(0)
    fast = DirectionSampler(0)
    fast.normal(10)  # compile once, outside the timings
    cases = [
        ("numpy standard_normal, float64", lambda: rng.standard_normal(N)),
        ("numpy standard_normal, float32", lambda: rng.standard_normal(N, dtype=np.float32)),
        ("numpy integers -> +-1", lambda: rng.integers(0, 2, N).astype(float) * 2 - 1),
        ("fwdcompile.sampling.rademacher (numpy bits)", lambda: rademacher(rng, (N,))),
        (f"fwdcompile.sampling normal ({fast.backend})", lambda: fast.normal(N, step=1)),
        ("fwdcompile.sampling rademacher", lambda: fast.rademacher(N, step=1)),
    ]
    m = machine()
    print(f"Machine: {m['cpu']}, {m['cores']} cores, numpy {m['numpy']}; {N:,} numbers.\n")
    print("| sampler | ms per draw | ns per number |")
    print("|---|---|---|")
    for label, fn in cases:
        t = min(timeit.repeat(fn, number=5, repeat=5)) / 5
        print(f"| {label} | {t * 1e3:.1f} | {t * 1e9 / N:.2f} |")


if __name__ == "__main__":
    main()
