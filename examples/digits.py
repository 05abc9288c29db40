"""Multinomial logistic regression and a two-hidden-layer MLP on scikit-learn's
bundled digits, trained with forward gradients and, for comparison, with true
gradients (hand-written backpropagation in numpy).

    python examples/digits.py [--out examples/output] [--epochs 30]
    python examples/digits.py --mnist ~/data/mnist   # the paper's 784-1024-1024-10 setup

Needs scikit-learn (bundled data, no download) and matplotlib
(`pip install ".[examples]"`).  ``--mnist`` takes a directory holding
MNIST's IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
gzipped or not; read by ``examples/mnist_idx.py``), or an npz file with
``x_train``/``y_train``; batch 64, lr0 2e-4, k 1e-4, as in the paper.
"""

import argparse
import os
import sys
import time

import numpy as np

from fwdcompile import forward_gradient
from fwdcompile.optim import FGD
from fwdcompile.sampling import DirectionSampler


def logreg(W, b, X, y):
    z = X @ W + b
    z = z - np.max(z, axis=1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(logp[np.arange(len(y)), y])


def mlp(W1, b1, W2, b2, W3, b3, X, y):
    h1 = np.maximum(X @ W1 + b1, 0.0)
    h2 = np.maximum(h1 @ W2 + b2, 0.0)
    z = h2 @ W3 + b3
    z = z - np.max(z, axis=1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(logp[np.arange(len(y)), y])


def backprop(params, X, y):
    """The true gradient of ``logreg`` (2 params) or ``mlp`` (6 params)."""
    acts, h = [], X
    layers = [(params[i], params[i + 1]) for i in range(0, len(params), 2)]
    for W, b in layers[:-1]:
        acts.append(h)
        h = np.maximum(h @ W + b, 0.0)
    acts.append(h)
    z = h @ layers[-1][0] + layers[-1][1]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    delta = p
    delta[np.arange(len(y)), y] -= 1.0
    delta /= len(y)
    grads = []
    for k in range(len(layers) - 1, -1, -1):
        W, _ = layers[k]
        grads = [acts[k].T @ delta, delta.sum(axis=0)] + grads
        if k:
            delta = (delta @ W.T) * (acts[k] > 0)
    return grads


def init(sizes, rng):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params += [rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in),
                   np.zeros(fan_out)]
    return params


def accuracy(params, X, y):
    h = X
    for i in range(0, len(params) - 2, 2):
        h = np.maximum(h @ params[i] + params[i + 1], 0.0)
    return np.mean(np.argmax(h @ params[-2] + params[-1], axis=1) == y)


def train(loss, params, Xtr, ytr, Xte, yte, *, method, epochs, batch, opt, rng):
    f = forward_gradient(loss, wrt=tuple(range(len(params))))
    sampler = DirectionSampler(seed=2)  # compiled, counter-based directions: ~1 ns each
    state = opt.init(tuple(params))
    params = tuple(params)
    curve, t0 = [], time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(len(ytr))
        for start in range(0, len(ytr) - batch + 1, batch):
            idx = order[start:start + batch]
            if method == "forward gradient":
                _, g = f.forward_grad(*params, Xtr[idx], ytr[idx], rng=sampler)
            else:
                g = backprop(params, Xtr[idx], ytr[idx])
            params, state = opt.update(params, tuple(g), state)
        curve.append((epoch + 1, time.perf_counter() - t0, loss(*params, Xtr, ytr),
                      accuracy(params, Xte, yte)))
    return curve


def load_mnist_arrays(path):
    """MNIST's training images and labels from a directory of IDX files or an npz."""
    path = os.path.expanduser(path)
    if os.path.isdir(path):
        from mnist_idx import IDXError, load_mnist
        try:
            return load_mnist(path, "train")
        except (IDXError, FileNotFoundError) as exc:
            sys.exit(f"digits.py: {exc}")
    if not os.path.exists(path):
        sys.exit(f"digits.py: no MNIST at {path!r} (a directory with the IDX files, or an "
                 "npz with x_train, y_train)")
    data = np.load(path)
    return data["x_train"], data["y_train"].astype(np.int64)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "output"))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--mnist", help="a directory with MNIST's IDX files "
                        "(train-images-idx3-ubyte[.gz], ...) or an npz with x_train, y_train")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    if args.mnist:
        images, y = load_mnist_arrays(args.mnist)
        X = images.reshape(len(images), -1) / 255.0
        sizes, batch, opt = [784, 1024, 1024, 10], 64, FGD(lr=2e-4, decay=1e-4)
    else:
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            sys.exit('digits.py needs scikit-learn: pip install ".[examples]"')
        digits = load_digits()
        X, y = digits.data / 16.0, digits.target
        sizes, batch, opt = [64, 64, 64, 10], 32, None
    perm = rng.permutation(len(y))
    split = int(0.8 * len(y))
    Xtr, ytr, Xte, yte = X[perm[:split]], y[perm[:split]], X[perm[split:]], y[perm[split:]]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    print(f"{'model':<22} {'method':<17} {'epochs':>6} {'train loss':>11} {'test acc':>9} "
          f"{'time (s)':>9}")
    # the variance of a forward gradient grows with the number of parameters,
    # so the MLP (~9,000 parameters on digits) needs a smaller step than the
    # logistic regression (650); both methods use the same one, as in the paper
    models = [("logistic regression", logreg, [sizes[0], sizes[-1]], opt or FGD(0.05, 1e-4)),
              ("MLP", mlp, sizes, opt or FGD(2e-3, 1e-4))]
    for name, loss, layer_sizes, opt in models:
        for method in ("forward gradient", "true gradient"):
            params = init(layer_sizes, np.random.default_rng(1))
            curve = np.array(train(loss, params, Xtr, ytr, Xte, yte, method=method,
                                   epochs=args.epochs, batch=batch, opt=opt,
                                   rng=np.random.default_rng(2)))
            axes[0].plot(curve[:, 0], curve[:, 2], label=f"{name}, {method}")
            axes[1].plot(curve[:, 0], curve[:, 3], label=f"{name}, {method}")
            print(f"{name:<22} {method:<17} {args.epochs:>6} {curve[-1, 2]:>11.4f} "
                  f"{curve[-1, 3]:>9.3f} {curve[-1, 1]:>9.2f}")
    axes[0].set_ylabel("training loss")
    axes[0].set_yscale("log")
    axes[1].set_ylabel("test accuracy")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    fig.savefig(os.path.join(args.out, "digits.png"), dpi=70)


if __name__ == "__main__":
    main()
