"""Vector mode for einsum and softmax: one contraction per term versus a loop over directions.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_batched_einsum.py [--quick] [--k 8]

(one BLAS thread: on 2 shared cores a threaded BLAS made single einsum calls
vary tenfold from run to run.)

Workloads, differentiated in vector mode with K directions:

* attention: ``softmax(einsum('qd,kd->qk', q, k) / 8, axis=-1)`` then
  ``einsum('qk,kd->qd', p, v)``, 256 tokens, d = 64, with respect to q, k, v;
* conv: a 3x3 convolution written as ``einsum('npckl,ockl->npo', patches, w)``
  (8 images, 14x14 positions, 16 -> 32 channels), then tanh and a sum of
  squares, with respect to the weights and the bias.

"before" declares einsum and softmax ``per_direction`` again (the rules'
batching before the ``contraction``/``axis`` kinds: one einsum per
direction, stacked); "after" is the registry as shipped.  Both runs are
checked against each other before anything is timed.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

import numpy as np
import scipy.special

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fwdcompile import cache, forward_gradient  # noqa: E402
from fwdcompile.rules.registry import lookup  # noqa: E402
from bench_core import machine  # noqa: E402


def attention(q, k, v):
    s = np.einsum('qd,kd->qk', q, k) / 8.0
    p = scipy.special.softmax(s, axis=-1)
    return np.einsum('qk,kd->qd', p, v)


def conv(w, b, patches):
    y = np.tanh(np.einsum('npckl,ockl->npo', patches, w) + b)
    return np.sum(y * y)


PATCHED = (np.einsum, scipy.special.softmax)


def workloads(rng):
    tokens, d = 256, 64
    qkv = [rng.standard_normal((tokens, d)) for _ in range(3)]
    patches = rng.standard_normal((8, 14 * 14, 16, 3, 3))
    w, b = 0.1 * rng.standard_normal((32, 16, 3, 3)), np.zeros(32)
    return [("attention (256 tokens, d=64)", attention, ("q", "k", "v"), qkv),
            ("conv as einsum (8x16x14x14, 32 3x3 filters)", conv, ("w", "b"), [w, b, patches])]


def run(fn, wrt, args, k, rng, number, repeat):
    """(tangent, seconds per batched JVP) for K random directions."""
    f = forward_gradient(fn, wrt=wrt)
    tangents = tuple(rng.standard_normal((k,) + np.shape(args[fn.__code__.co_varnames.index(n)]))
                     for n in wrt)
    _, tangent = f.jvp(*args, tangents=tangents, batched=True)
    seconds = min(timeit.repeat(lambda: f.jvp(*args, tangents=tangents, batched=True),
                                number=number, repeat=repeat)) / number
    return tangent, seconds, f.batched_source


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--k", type=int, default=8)
    args = parser.parse_args(argv)
    number, repeat = (5, 3) if args.quick else (20, 5)
    m = machine()
    print(f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
          f"numpy {m['numpy']}.\n")
    print("| workload | K | before: per direction | after: one contraction | speed-up |")
    print("|---|---|---|---|---|")
    for label, fn, wrt, values in workloads(np.random.default_rng(0)):
        rules = [lookup(p) for p in PATCHED]
        declared = [r.batching for r in rules]
        cache.clear()
        for r in rules:
            r.batching = "per_direction"
        try:
            before, t_before, source = run(fn, wrt, values, args.k,
                                           np.random.default_rng(1), number, repeat)
            assert "_np.stack" in source, source
        finally:
            for r, batching in zip(rules, declared):
                r.batching = batching
            cache.clear()
        after, t_after, source = run(fn, wrt, values, args.k, np.random.default_rng(1),
                                     number, repeat)
        assert "_np.stack" not in source, source
        if not np.allclose(before, after, rtol=1e-10, atol=1e-12):
            raise AssertionError(f"{label}: batched contraction differs from per direction")
        print(f"| {label} | {args.k} | {t_before * 1e3:.2f} ms | {t_after * 1e3:.2f} ms | "
              f"{t_before / t_after:.1f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
