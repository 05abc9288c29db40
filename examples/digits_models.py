"""An MLP (parameters in a dict) and a small CNN (parameters in a frozen
dataclass) on scikit-learn's bundled 8x8 digits, trained on minibatches with
``fwdcompile.optim.minimize`` and forward gradients, against true gradients.

    python examples/digits_models.py [--out examples/output] [--epochs 100] [--seed 0]
    python examples/digits_models.py --quick      # 2 epochs, for a smoke test

The defaults (batch 64, 100 epochs = 2,300 steps per run, six runs) take
about 30 s on 2 cores; the numbers are in docs/forward-gradients.md.

The models are plain numpy functions of a parameter structure; training one
is a few lines::

    params = {"W1": ..., "b1": ..., "W2": ..., "b2": ...}
    result = optim.minimize(mlp_loss, params,
                            data=optim.minibatches(Xtr, ytr, batch_size=64, rng=2, epochs=100),
                            optimizer=optim.Adam(lr=1e-2), rng=3, directions=8)
    result.x["W1"], result.history

True gradients, for comparison: PyTorch backprop (same initial parameters,
same Adam settings, same minibatches, float64) when ``import torch`` works
(and ``--no-torch`` is not given),
otherwise hand-written numpy backprop (:func:`mlp_backprop`,
:func:`cnn_backprop`, checked against fwdcompile's JVPs at start-up).  The
output says which one ran.

Needs scikit-learn (bundled data, no download) and matplotlib
(``pip install ".[examples]"``).  The loss uses ``scipy.special.log_softmax``
(fwdcompile has its derivative rule; scipy comes with scikit-learn), or the
same in numpy when scipy is missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import time

import numpy as np

from fwdcompile import forward_gradient, optim

HIDDEN, CHANNELS = 32, 8


# ------------------------------------------------------------------ the models

def log_softmax_numpy(z, axis):
    """``scipy.special.log_softmax`` in numpy, for when scipy is not installed."""
    z = z - np.max(z, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


try:  # scipy comes with scikit-learn; fwdcompile has its rule, none written here
    from scipy.special import log_softmax
except ImportError:
    log_softmax = log_softmax_numpy


def cross_entropy(z, y):
    """Mean softmax cross-entropy of logits ``z`` (n, 10) and integer labels ``y``."""
    return -np.mean(log_softmax(z, axis=1)[np.arange(len(y)), y])


def mlp_logits(params, X):
    h = np.maximum(X @ params["W1"] + params["b1"], 0.0)
    return h @ params["W2"] + params["b2"]


def mlp_loss(params, X, y):
    """64-32-10 MLP; ``params`` is a dict ``{"W1", "b1", "W2", "b2"}``."""
    return cross_entropy(mlp_logits(params, X), y)


@dataclasses.dataclass(frozen=True)
class CNNParams:
    kernels: np.ndarray   # (3, 3, C): one 3x3 filter per output channel
    conv_bias: np.ndarray  # (C,)
    W: np.ndarray          # (3 * 3 * C, 10): dense layer on the pooled features
    b: np.ndarray          # (10,)


def conv_net(kernels, conv_bias, W, b, X):
    """3x3 convolution (valid, 8x8 -> 6x6, C channels) as im2col + matmul,
    ReLU, 2x2 max pooling (6x6 -> 3x3) by reshape + max, dense layer to 10
    logits.  Plain numpy."""
    n = X.shape[0]
    patches = np.lib.stride_tricks.sliding_window_view(X.reshape(n, 8, 8), (3, 3), axis=(1, 2))
    columns = patches.reshape(n * 36, 9)              # one row per output pixel
    h = np.maximum(columns @ kernels.reshape(9, -1) + conv_bias, 0.0)   # (n * 36, C)
    pooled = h.reshape(n, 3, 2, 3, 2, -1).max(axis=(2, 4))               # (n, 3, 3, C)
    return pooled.reshape(n, -1) @ W + b


def cnn_logits(p, X):
    return conv_net(p.kernels, p.conv_bias, p.W, p.b, X)


def cnn_loss(p, X, y):
    """The CNN's loss; ``p`` is a :class:`CNNParams`.  (The fields are read
    here, not in a helper: fwdcompile does not yet follow ``p.field`` of a
    structure passed on to another function.)"""
    return cross_entropy(conv_net(p.kernels, p.conv_bias, p.W, p.b, X), y)


def init_mlp(rng, hidden=HIDDEN):
    return {"W1": rng.standard_normal((64, hidden)) * np.sqrt(2.0 / 64),
            "b1": np.zeros(hidden),
            "W2": rng.standard_normal((hidden, 10)) * np.sqrt(1.0 / hidden),
            "b2": np.zeros(10)}


def init_cnn(rng, channels=CHANNELS):
    return CNNParams(kernels=rng.standard_normal((3, 3, channels)) * np.sqrt(2.0 / 9),
                     conv_bias=np.zeros(channels),
                     W=rng.standard_normal((9 * channels, 10)) * np.sqrt(1.0 / (9 * channels)),
                     b=np.zeros(10))


# ------------------------------------------- true gradients without PyTorch

def _softmax_delta(z, y):
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)


def mlp_backprop(params, X, y):
    """The exact gradient of :func:`mlp_loss`, as a dict like ``params``."""
    a = X @ params["W1"] + params["b1"]
    h = np.maximum(a, 0.0)
    delta = _softmax_delta(h @ params["W2"] + params["b2"], y)
    da = (delta @ params["W2"].T) * (a > 0)
    return {"W1": X.T @ da, "b1": da.sum(axis=0), "W2": h.T @ delta, "b2": delta.sum(axis=0)}


def cnn_backprop(p, X, y):
    """The exact gradient of :func:`cnn_loss`, as a :class:`CNNParams`."""
    n, c = X.shape[0], p.kernels.shape[2]
    patches = np.lib.stride_tricks.sliding_window_view(X.reshape(n, 8, 8), (3, 3), axis=(1, 2))
    columns = patches.reshape(n * 36, 9)
    a = (columns @ p.kernels.reshape(9, c) + p.conv_bias).reshape(n, 6, 6, c)
    blocks = np.maximum(a, 0.0).reshape(n, 3, 2, 3, 2, c)
    pooled = blocks.max(axis=(2, 4))
    delta = _softmax_delta(pooled.reshape(n, -1) @ p.W + p.b, y)
    dpooled = (delta @ p.W.T).reshape(n, 3, 1, 3, 1, c)
    winner = blocks == pooled.reshape(n, 3, 1, 3, 1, c)
    winner = winner / winner.sum(axis=(2, 4), keepdims=True)  # ties share the derivative
    da = ((dpooled * winner).reshape(n, 6, 6, c) * (a > 0)).reshape(n * 36, c)
    return CNNParams(kernels=(columns.T @ da).reshape(3, 3, c), conv_bias=da.sum(axis=0),
                     W=pooled.reshape(n, -1).T @ delta, b=delta.sum(axis=0))


def _names(params):
    """The leaves' names, in the order :func:`_leaves` lists them."""
    if isinstance(params, dict):
        return sorted(params)
    return [f.name for f in dataclasses.fields(params)]


def _leaves(params):
    return [params[k] if isinstance(params, dict) else getattr(params, k)
            for k in _names(params)]


def _rebuild(template, leaves):
    if isinstance(template, dict):
        return dict(zip(_names(template), leaves))
    return type(template)(*leaves)


def check_backprop(loss, backprop, params, X, y, rng):
    """Backprop's gradient against fwdcompile's directional derivative."""
    v = _rebuild(params, [rng.standard_normal(np.shape(p)) for p in _leaves(params)])
    _, slope = forward_gradient(loss, wrt=(0,)).jvp(params, X, y, tangents=v)
    g = backprop(params, X, y)
    dot = sum(float(np.sum(a * b)) for a, b in zip(_leaves(g), _leaves(v)))
    if not np.isclose(dot, slope, rtol=1e-8, atol=1e-10):
        raise AssertionError(f"{backprop.__name__}: grad . v = {dot}, JVP = {slope}")


def train_numpy(loss, backprop, params, batches, lr):
    """Adam on exact numpy gradients (fwdcompile's Adam, the same update)."""
    opt = optim.Adam(lr=lr)
    leaves = tuple(np.array(p) for p in _leaves(params))
    state = opt.init(leaves)
    losses, times, t0 = [], [], time.perf_counter()
    for X, y in batches:
        current = _rebuild(params, leaves)
        losses.append(float(loss(current, X, y)))
        leaves, state = opt.update(leaves, tuple(_leaves(backprop(current, X, y))), state)
        times.append(time.perf_counter() - t0)
    return _rebuild(params, leaves), np.array(losses), np.array(times)


# --------------------------------------------------- true gradients, PyTorch

def train_torch(kind, params, batches, lr):
    """The same model in PyTorch (float64, same init), torch.optim.Adam, the same batches."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)   # tiny matrices: threads cost more than they give
    names = _names(params)
    tp = [torch.tensor(np.array(p), dtype=torch.float64, requires_grad=True)
          for p in _leaves(params)]
    P = dict(zip(names, tp))

    def logits(X):
        if kind == "mlp":
            return torch.relu(X @ P["W1"] + P["b1"]) @ P["W2"] + P["b2"]
        weight = P["kernels"].permute(2, 0, 1).unsqueeze(1)      # (C, 1, 3, 3)
        h = torch.relu(F.conv2d(X.reshape(-1, 1, 8, 8), weight, P["conv_bias"]))
        h = F.max_pool2d(h, 2).permute(0, 2, 3, 1).reshape(X.shape[0], -1)
        return h @ P["W"] + P["b"]

    opt = torch.optim.Adam(tp, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    X, y = (torch.from_numpy(a[:2]) for a in batches.arrays)
    F.cross_entropy(logits(X), y).backward()   # warm up before the clock starts
    opt.zero_grad()
    losses, times, t0 = [], [], time.perf_counter()
    for X, y in batches:
        opt.zero_grad()
        loss = F.cross_entropy(logits(torch.from_numpy(X)), torch.from_numpy(y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
        times.append(time.perf_counter() - t0)
    return _rebuild(params, [t.detach().numpy() for t in tp]), np.array(losses), np.array(times)


# ---------------------------------------------------------------- training

def train_forward(loss, params, batches, lr, directions, seed):
    """Forward gradients: ``optim.minimize`` on the parameter structure."""
    # compile the JVP (and the direction sampler) before the clock starts
    X, y = batches.arrays
    optim.minimize(loss, params, data=[(X[:2], y[:2])], optimizer=optim.Adam(lr=lr),
                   rng=seed, directions=directions, progress=False)
    times, t0 = [], time.perf_counter()

    def record(step, value, x):
        times.append(time.perf_counter() - t0)

    result = optim.minimize(loss, params, data=batches, optimizer=optim.Adam(lr=lr),
                            rng=seed, directions=directions, callback=record,
                            progress=False)
    return result.x, np.array(result.history), np.array(times)


def accuracy(logits, params, X, y):
    return float(np.mean(np.argmax(logits(params, X), axis=1) == y))


def smooth(values, width):
    """Moving average of the minibatch losses (one value per step)."""
    width = max(1, min(width, len(values)))
    kernel = np.ones(width) / width
    return np.convolve(values, kernel, mode="valid"), width - 1


def load_digits_split(seed):
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit('digits_models.py needs scikit-learn: pip install ".[examples]"')
    digits = load_digits()
    X, y = digits.data / 16.0, digits.target.astype(np.int64)   # pixels 0..16 -> [0, 1]
    perm = np.random.default_rng(seed).permutation(len(y))
    split = int(0.8 * len(y))
    return X[perm[:split]], y[perm[:split]], X[perm[split:]], y[perm[split:]]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "output"))
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="2 epochs, for a smoke test")
    parser.add_argument("--no-torch", action="store_true",
                        help="numpy backprop even when PyTorch is installed")
    parser.add_argument("--docs-image", help="also copy the figure here")
    args = parser.parse_args(argv)
    epochs = 2 if args.quick else args.epochs
    Xtr, ytr, Xte, yte = load_digits_split(args.seed)

    use_torch = False
    if not args.no_torch:
        try:
            import torch  # noqa: F401
            use_torch = True
        except ImportError:
            pass
    true_name = "backprop (PyTorch)" if use_torch else "backprop (numpy)"

    models = [("MLP (dict)", mlp_loss, mlp_logits, init_mlp, mlp_backprop, "mlp", 1e-2),
              ("CNN (dataclass)", cnn_loss, cnn_logits, init_cnn, cnn_backprop, "cnn", 1e-2)]
    methods = [("forward gradient, K=1", 1), ("forward gradient, K=8", 8), (true_name, None)]

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    print(f"digits: {len(ytr)} train / {len(yte)} test images, batch {args.batch_size}, "
          f"{epochs} epochs, Adam, seed {args.seed}; true gradients from {true_name}")
    print(f"{'model':<16} {'method':<22} {'params':>6} {'steps':>5} {'final loss':>10} "
          f"{'test acc':>8} {'time (s)':>8} {'ms/step':>7}")
    for row, (name, loss, logits, init, backprop, kind, lr) in enumerate(models):
        params0 = init(np.random.default_rng(args.seed + 1))
        size = sum(np.size(p) for p in _leaves(params0))
        check_rng = np.random.default_rng(args.seed)   # random images: no ReLU/max ties
        check_backprop(loss, backprop, params0, check_rng.random((16, 64)), ytr[:16], check_rng)
        for label, k in methods:
            batches = optim.minibatches(Xtr, ytr, batch_size=args.batch_size,
                                        rng=args.seed + 2, epochs=epochs)   # same for all
            if k is not None:
                x, losses, times = train_forward(loss, params0, batches, lr, k, args.seed + 3)
            elif use_torch:
                x, losses, times = train_torch(kind, params0, batches, lr)
            else:
                x, losses, times = train_numpy(loss, backprop, params0, batches, lr)
            width = max(1, len(losses) // 40)
            curve, lag = smooth(losses, width)
            steps = np.arange(lag, len(losses))
            axes[row, 0].plot(steps, curve, label=label)
            axes[row, 1].plot(times[lag:], curve, label=label)
            acc = accuracy(logits, x, Xte, yte)
            print(f"{name:<16} {label:<22} {size:>6} {len(losses):>5} "
                  f"{np.mean(losses[-width:]):>10.4f} {acc:>8.3f} {times[-1]:>8.2f} "
                  f"{1e3 * times[-1] / len(losses):>7.3f}")
        for col, xlabel in enumerate(("step", "wall time (s)")):
            ax = axes[row, col]
            ax.set_title(f"{name}, {size} parameters", fontsize=10)
            ax.set_xlabel(xlabel)
            ax.set_ylabel("minibatch loss (moving average)")
            ax.set_yscale("log")
            ax.legend(fontsize=8)
    fig.suptitle(f"digits, batch {args.batch_size}, Adam; true gradients: {true_name}",
                 fontsize=10)
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "digits_models.png")
    fig.savefig(path, dpi=70)
    print(f"wrote {path}")
    if args.docs_image:
        shutil.copyfile(path, args.docs_image)
        print(f"copied to {args.docs_image}")


if __name__ == "__main__":
    main()
