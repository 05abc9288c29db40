"""The digits MLP trained data-parallel on 2 workers with forward gradients:
each step every worker sends its directional derivatives, not a gradient.

    python examples/distributed_digits.py [--engine ray|local] [--epochs 20]

Needs scikit-learn (bundled digits, no download) and, for ``--engine ray``
(the default when Ray is installed), ``pip install "fwdcompile[distributed]"``.
Prints the bytes each worker sent and received per step against the gradient
an all-reduce would carry, and checks that replaying the scalar log gives the
trained parameters bit for bit.
"""

import argparse
import importlib.util
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from digits_models import init_mlp, load_digits_split, mlp_logits, mlp_loss  # noqa: E402

from fwdcompile import distributed, optim  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", choices=["ray", "local"],
                    default="ray" if importlib.util.find_spec("ray") else "local")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    Xtr, ytr, Xte, yte = load_digits_split(0)
    x0 = init_mlp(np.random.default_rng(1))
    # one shard per worker, each shuffled by its own seed, batches of 32 (64 per step)
    half = len(ytr) // a.workers
    shards = [optim.minibatches(Xtr[r * half:(r + 1) * half], ytr[r * half:(r + 1) * half],
                                batch_size=32, rng=10 + r, epochs=a.epochs, drop_last=True)
              for r in range(a.workers)]
    if a.engine == "ray":
        import ray
        # the workers import digits_models from this directory
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])
        ray.init(num_cpus=a.workers, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": path}})
    res = distributed.minimize(mlp_loss, x0, data=shards, workers=a.workers, directions=8,
                               optimizer=optim.Adam(lr=1e-2), rng=3, engine=a.engine)
    acc = np.mean(np.argmax(mlp_logits(res.x, Xte), axis=1) == yte)
    print(f"{res.nit} steps on {res.workers} workers ({res.engine}), {res.seconds:.1f} s; "
          f"final loss {res.history[-1]:.3f}, test accuracy {acc:.3f}")
    print(f"bytes per step per worker: {res.bytes_per_step} (8 directional derivatives and "
          f"a loss up, 8 averages down); an all-reduce of the gradient: "
          f"{8 * res.parameters:,} ({res.parameters:,} parameters)")
    print(f"bytes sent in total by each worker: {res.bytes_per_step * res.nit:,}; the whole "
          f"run's scalar log: {res.log.nbytes:,} bytes")
    same = all(np.array_equal(v, res.x[k]) for k, v in distributed.replay(x0, res.log).items())
    print(f"replay(x0, log) gives the trained parameters bit for bit: {same}")
    return res


if __name__ == "__main__":
    main()
