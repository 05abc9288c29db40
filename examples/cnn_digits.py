"""The paper's CNN (Baydin et al. 2022, MNIST experiment) in plain numpy,
trained with forward gradients against backprop.

    python examples/cnn_digits.py [--steps 40] [--out examples/output]
    python examples/cnn_digits.py --mnist ~/data/mnist     # MNIST's IDX files, if you have them
    python examples/cnn_digits.py --quick                  # a tiny model, a few steps: a smoke test

The model: four 3x3 convolutions with 64 channels (no padding), ReLU after
each, 2x2 max pooling after the second and the fourth, a 1024-unit dense
layer (ReLU) and 10 outputs; 28x28 inputs -> 26 -> 24 -> pool 12 -> 10 -> 8
-> pool 4, so the dense layer sees 4*4*64 = 1024 features; 1,171,274
parameters.  A convolution is im2col + matmul: the nine shifted slices of the
input stacked into one row per output pixel, times the kernels reshaped to
(9*C_in, C_out).  ``--conv tensordot`` (``sliding_window_view`` +
``np.tensordot``) and ``--conv einsum`` give the same numbers; they need the
small custom rule below, because fwdcompile has no built-in rule for
``sliding_window_view`` of a differentiated array.

Data: without ``--mnist``, scikit-learn's bundled 8x8 digits, each pixel
repeated 3x3 (24x24) and padded with 2 zero pixels per side to 28x28
(MNIST's digits sit in a 20x20 box inside 28x28), pixels scaled to [0, 1];
80/20 split.  With ``--mnist DIR``: MNIST's train/test IDX files from DIR
(``examples/mnist_idx.py``), pixels / 255.

What it does, on the same initial weights:

1. checks fwdcompile's JVP (one direction, and vector mode) against
   PyTorch's ``grad . v`` (float64) when ``import torch`` works, else
   against central differences along the direction;
2. times, at batch 64: the numpy loss ``f``, the JVP (R_f = T(JVP) / T(f),
   the paper's 2.46 on its MLP), a forward-gradient step (draw v, JVP,
   update) with K = 1 and K = 8, and PyTorch's forward and backprop step
   (R_b; one thread each, float32 by default);
3. trains with the paper's schedule, SGD with lr_i = 2e-4 exp(-1e-4 i), batch
   64, the same minibatches for every method: forward gradients with K = 1,
   the mean of K = 8 and the projection onto K = 8 directions
   (``fwdcompile.optim.minimize``, directions from an int seed), and
   PyTorch backprop (skipped, with a message, without PyTorch);
4. plots the minibatch loss against steps and wall time.

The numbers and the figure of a full run are in docs/forward-gradients.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

import numpy as np

import fwdcompile
from fwdcompile import forward_gradient, optim
from fwdcompile.sampling import DirectionSampler

LR, DECAY = 2e-4, 1e-4     # the paper's schedule: lr_i = 2e-4 exp(-1e-4 i)


# ------------------------------------------------------------------ the model

def conv3x3(h, K, b):
    """Valid 3x3 convolution of ``h`` (n, H, W, C) with ``K`` (3, 3, C, O):
    im2col (nine shifted slices stacked, one row per output pixel) + matmul."""
    n, H, W, C = h.shape
    slices = []
    for i in range(3):
        for j in range(3):
            slices.append(h[:, i:i + H - 2, j:j + W - 2, :])
    columns = np.stack(slices, axis=3).reshape(n * (H - 2) * (W - 2), 9 * C)
    out = columns @ K.reshape(9 * C, -1) + b
    return out.reshape(n, H - 2, W - 2, -1)


def windows3x3(h):
    """The 3x3 windows of ``h`` (n, H, W, C) as a view (n, H-2, W-2, C, 3, 3)."""
    return np.lib.stride_tricks.sliding_window_view(h, (3, 3), axis=(1, 2))


# ``sliding_window_view`` is linear, but fwdcompile has no built-in rule for
# it (its source is hidden behind numpy's dispatch decorator); the rule of
# this one-argument wrapper is the same view of the tangent.
@fwdcompile.custom_jvp(windows3x3)
def _windows3x3_jvp(primals, tangents):
    (h,), (dh,) = primals, tangents
    return windows3x3(h), windows3x3(dh)


def conv3x3_tensordot(h, K, b):
    """The same convolution as ``sliding_window_view`` + ``np.tensordot``."""
    return np.tensordot(windows3x3(h), K, axes=([4, 5, 3], [0, 1, 2])) + b


def conv3x3_einsum(h, K, b):
    """The same convolution as ``sliding_window_view`` + ``np.einsum``."""
    return np.einsum("nhwcij,ijco->nhwo", windows3x3(h), K, optimize=True) + b


def maxpool2(h):
    """2x2 max pooling of ``h`` (n, H, W, C), H and W even."""
    n, H, W, C = h.shape
    return h.reshape(n, H // 2, 2, W // 2, 2, C).max(axis=(2, 4))


def cnn_logits(p, X, conv):
    """The paper's CNN on images ``X`` (n, H, W); ``p`` a dict of 12 arrays."""
    h = X[:, :, :, None]
    h = np.maximum(conv(h, p["k1"], p["c1"]), 0.0)
    h = maxpool2(np.maximum(conv(h, p["k2"], p["c2"]), 0.0))
    h = np.maximum(conv(h, p["k3"], p["c3"]), 0.0)
    h = maxpool2(np.maximum(conv(h, p["k4"], p["c4"]), 0.0))
    h = np.maximum(h.reshape(h.shape[0], -1) @ p["W1"] + p["b1"], 0.0)
    return h @ p["W2"] + p["b2"]


def cross_entropy(z, y):
    z = z - np.max(z, axis=1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(logp[np.arange(len(y)), y])


def cnn_loss(p, X, y):
    """Mean cross-entropy of the CNN, convolutions by im2col + matmul."""
    return cross_entropy(cnn_logits(p, X, conv3x3), y)


def cnn_loss_tensordot(p, X, y):
    return cross_entropy(cnn_logits(p, X, conv3x3_tensordot), y)


def cnn_loss_einsum(p, X, y):
    return cross_entropy(cnn_logits(p, X, conv3x3_einsum), y)


LOSSES = {"im2col": cnn_loss, "tensordot": cnn_loss_tensordot, "einsum": cnn_loss_einsum}


def init_cnn(rng, channels=64, hidden=1024, size=28, dtype=np.float32):
    """He-initialised parameters; kernels (3, 3, C_in, C_out)."""
    side = ((size - 4) // 2 - 4) // 2
    p, c_in = {}, 1
    for i in range(1, 5):
        p[f"k{i}"] = rng.standard_normal((3, 3, c_in, channels)) * np.sqrt(2.0 / (9 * c_in))
        p[f"c{i}"] = np.zeros(channels)
        c_in = channels
    features = side * side * channels
    p["W1"] = rng.standard_normal((features, hidden)) * np.sqrt(2.0 / features)
    p["b1"] = np.zeros(hidden)
    p["W2"] = rng.standard_normal((hidden, 10)) * np.sqrt(1.0 / hidden)
    p["b2"] = np.zeros(10)
    return {k: v.astype(dtype) for k, v in p.items()}


def n_params(p):
    return sum(a.size for a in p.values())


# ------------------------------------------------------------------ PyTorch

def torch_model(p, dtype_name):
    """The same CNN in PyTorch, on copies of ``p`` (NCHW inside, features
    flattened in the numpy model's (h, w, c) order)."""
    import torch
    import torch.nn.functional as F

    dtype = getattr(torch, dtype_name)
    P = {k: torch.tensor(np.array(v), dtype=dtype, requires_grad=True) for k, v in p.items()}

    def logits(X):
        h = X.unsqueeze(1)
        for i in range(1, 5):
            h = torch.relu(F.conv2d(h, P[f"k{i}"].permute(3, 2, 0, 1), P[f"c{i}"]))
            if i in (2, 4):
                h = F.max_pool2d(h, 2)
        h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)
        return torch.relu(h @ P["W1"] + P["b1"]) @ P["W2"] + P["b2"]

    def loss(X, y):
        return F.cross_entropy(logits(torch.as_tensor(X, dtype=dtype)), torch.as_tensor(y))

    return P, loss


def torch_grad_dot(p, X, y, directions):
    """PyTorch's gradient (float64) dotted with each direction (a dict)."""
    import torch

    P, loss = torch_model(p, "float64")
    names = list(P)
    grads = torch.autograd.grad(loss(X, y), [P[k] for k in names])
    return [sum(float(np.sum(g.numpy() * v[k])) for g, k in zip(grads, names))
            for v in directions]


def have_torch():
    try:
        import torch
    except ImportError:
        return False
    torch.set_num_threads(1)
    return True


# ------------------------------------------------------------------ checks, timing

def check_jvp(loss, p, X, y, use_torch, rng, k=3):
    """fwdcompile's JVP, single and vector mode, against a reference; returns
    (worst relative error, reference name)."""
    p = {key: a.astype(np.float64) for key, a in p.items()}
    X = X.astype(np.float64)
    vs = [{key: rng.standard_normal(a.shape) for key, a in p.items()} for _ in range(k)]
    f = forward_gradient(loss, wrt="p")
    single = [float(f.jvp(p, X, y, tangents=v)[1]) for v in vs]
    stacked = {key: np.stack([v[key] for v in vs]) for key in p}
    batched = [float(t) for t in f.jvp(p, X, y, tangents=stacked, batched=True)[1]]
    if use_torch:
        ref, name = torch_grad_dot(p, X, y, vs), "PyTorch grad . v (float64)"
    else:
        h = 1e-8

        def shifted(v, s):
            return {key: p[key] + s * v[key] for key in p}
        ref = [(loss(shifted(v, h), X, y) - loss(shifted(v, -h), X, y)) / (2 * h) for v in vs]
        name = "central differences along v (float64, h = 1e-8)"
    worst = max(abs(a - r) / max(abs(r), 1e-12) for got in (single, batched)
                for a, r in zip(got, ref))
    return worst, name, single, batched, ref


def best_time(fn, repeat=3):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def timings(loss, p, X, y, use_torch, repeat):
    f = forward_gradient(loss, wrt="p")
    out = {}
    sampler = DirectionSampler(7)
    v = {k: np.ones_like(a) for k, a in p.items()}
    opt1, opt8 = optim.FGD(lr=LR, decay=DECAY), optim.FGD(lr=LR, decay=DECAY)
    work1 = {k: a.copy() for k, a in p.items()}
    work8 = {k: a.copy() for k, a in p.items()}

    def fg_step(work, opt, k):
        _, g = f.forward_grad(work, X, y, rng=sampler, directions=k)
        opt.step(work, g)

    out["f"] = best_time(lambda: loss(p, X, y), repeat)
    out["jvp"] = best_time(lambda: f.jvp(p, X, y, tangents=v), repeat)
    out["fg1"] = best_time(lambda: fg_step(work1, opt1, 1), repeat)
    out["fg8"] = best_time(lambda: fg_step(work8, opt8, 8), repeat)
    try:
        batched = bool(f.batched_source)
    except ValueError:   # e.g. tangents held in a list (the im2col slices)
        batched = False
    out["vector mode"] = ("one batched run" if batched else
                          "one JVP per direction (fwdcompile's fallback)")
    if use_torch:
        import torch

        P, tloss = torch_model(p, p["W1"].dtype.name)
        topt = torch.optim.SGD(list(P.values()), lr=LR)

        def step():
            topt.zero_grad()
            tloss(X, y).backward()
            topt.step()

        with torch.no_grad():
            out["torch f"] = best_time(lambda: tloss(X, y), repeat)
        out["torch step"] = best_time(step, repeat)
    return out


# ------------------------------------------------------------------ data, training

def digits_28(seed):
    """scikit-learn's 8x8 digits, each pixel repeated 3x3 and padded to 28x28."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit('cnn_digits.py needs scikit-learn for the digits: pip install ".[examples]" '
                 "(or give --mnist DIR)")
    digits = load_digits()
    images = digits.images / 16.0
    images = np.kron(images, np.ones((1, 3, 3)))                 # (n, 24, 24)
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))            # (n, 28, 28)
    y = digits.target.astype(np.int64)
    perm = np.random.default_rng(seed).permutation(len(y))
    split = int(0.8 * len(y))
    return images[perm[:split]], y[perm[:split]], images[perm[split:]], y[perm[split:]]


def mnist_28(directory):
    from mnist_idx import IDXError, load_mnist
    try:
        Xtr, ytr = load_mnist(directory, "train")
        Xte, yte = load_mnist(directory, "test")
    except (IDXError, FileNotFoundError) as exc:
        sys.exit(f"cnn_digits.py: {exc}")
    return Xtr / 255.0, ytr, Xte / 255.0, yte


def batches_for(Xtr, ytr, batch, steps, seed, dtype):
    """The first ``steps`` shuffled minibatches: the same list for every method."""
    out = []
    for X, y in optim.minibatches(Xtr.astype(dtype), ytr, batch_size=batch, rng=seed,
                                  drop_last=True):
        out.append((X, y))
        if len(out) == steps:
            break
    return out


def train_forward(loss, p, batches, k, combine, seed):
    # compile the JVP (and the sampler) before the clock starts
    optim.minimize(loss, p, data=batches[:1], optimizer=optim.FGD(lr=LR, decay=DECAY),
                   rng=seed, directions=k, combine=combine, progress=False)
    times, t0 = [], time.perf_counter()

    def record(step, value, x):
        times.append(time.perf_counter() - t0)

    result = optim.minimize(loss, p, data=batches, optimizer=optim.FGD(lr=LR, decay=DECAY),
                            rng=seed, directions=k, combine=combine, callback=record,
                            progress=False)
    return result.x, np.array(result.history), np.array(times)


def train_torch(p, batches):
    """PyTorch backprop, SGD with the same schedule, the same batches and dtype."""
    import torch

    P, tloss = torch_model(p, p["W1"].dtype.name)
    opt = torch.optim.SGD(list(P.values()), lr=LR)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: float(np.exp(-DECAY * i)))
    tloss(*batches[0]).backward()   # warm up before the clock starts
    opt.zero_grad()
    losses, times, t0 = [], [], time.perf_counter()
    for X, y in batches:
        opt.zero_grad()
        value = tloss(X, y)
        value.backward()
        opt.step()
        sched.step()
        losses.append(value.item())
        times.append(time.perf_counter() - t0)
    return {k: t.detach().numpy() for k, t in P.items()}, np.array(losses), np.array(times)


def accuracy(p, X, y, chunk=256):
    hits = 0
    for s in range(0, len(y), chunk):
        z = cnn_logits(p, X[s:s + chunk].astype(p["W1"].dtype), conv3x3)
        hits += int(np.sum(np.argmax(z, axis=1) == y[s:s + chunk]))
    return hits / len(y)


# ------------------------------------------------------------------ main

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "output"))
    parser.add_argument("--steps", type=int, default=40, help="training steps per method")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="training and timing precision (the JVP check is float64)")
    parser.add_argument("--conv", choices=sorted(LOSSES), default="im2col")
    parser.add_argument("--mnist", metavar="DIR", help="MNIST's IDX files in DIR")
    parser.add_argument("--test-size", type=int, default=1000,
                        help="test images for the accuracy (all: 0)")
    parser.add_argument("--quick", action="store_true",
                        help="8 channels, 32 hidden units, 4 steps: a smoke test")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--methods", nargs="+", choices=("fg1", "fg8-mean", "fg8-project",
                                                         "backprop"),
                        default=["fg1", "fg8-mean", "fg8-project", "backprop"],
                        help="which training runs (default: all four)")
    parser.add_argument("--docs-image", help="also copy the figure here")
    parser.add_argument("--image", default="cnn_digits.png", help="the figure's name in --out")
    args = parser.parse_args(argv)
    channels, hidden = (8, 32) if args.quick else (64, 1024)
    steps = 4 if args.quick else args.steps
    dtype = np.dtype(args.dtype)
    loss = LOSSES[args.conv]
    use_torch = not args.no_torch and have_torch()
    t_start = time.perf_counter()

    if args.mnist:
        Xtr, ytr, Xte, yte = mnist_28(args.mnist)
        data = f"MNIST from {args.mnist}"
    else:
        Xtr, ytr, Xte, yte = digits_28(args.seed)
        data = "scikit-learn digits, 8x8 -> 28x28 (each pixel 3x3, 2-pixel zero border)"
    if args.test_size:
        Xte, yte = Xte[:args.test_size], yte[:args.test_size]
    p0 = init_cnn(np.random.default_rng(args.seed + 1), channels, hidden, Xtr.shape[1], dtype)
    print(f"data: {data}; {len(ytr)} train / {len(yte)} test images")
    print(f"model: the paper's CNN, {channels} channels, {hidden} hidden, {n_params(p0):,} "
          f"parameters, convolution by {args.conv}, {dtype.name}; batch {args.batch_size}")

    # the check runs on random images and biases: the digits' blank borders put
    # ReLU and max pooling exactly at their kinks, where fwdcompile (ties split
    # evenly) and PyTorch (one side) pick different, equally valid derivatives
    rng = np.random.default_rng(args.seed + 4)
    pc = {k: a + 0.05 * rng.standard_normal(a.shape) if k[0] in "cb" else a
          for k, a in p0.items()}
    Xc, yc = rng.random((8,) + Xtr.shape[1:]), ytr[:8]
    worst, ref_name, single, batched, ref = check_jvp(loss, pc, Xc, yc, use_torch, rng)
    print(f"JVP check (8 random images, 3 directions) against {ref_name}: worst relative error "
          f"{worst:.1e} (single mode and vector mode)")
    for s, b, r in zip(single, batched, ref):
        print(f"    jvp {s:+.12e}  vector mode {b:+.12e}  reference {r:+.12e}")
    # differences see kinks and rounding (about 1e-7 here); PyTorch's gradient does not
    if worst > (1e-9 if use_torch else 1e-5):
        sys.exit("cnn_digits.py: the JVP does not match the reference")

    Xb, yb = Xtr[:args.batch_size].astype(dtype), ytr[:args.batch_size]
    t = timings(loss, p0, Xb, yb, use_torch, repeat=2 if args.quick else 3)
    ms = {k: 1e3 * v for k, v in t.items() if k != "vector mode"}
    print(f"per call at batch {args.batch_size} ({dtype.name}, best of 3, one BLAS thread): "
          f"f {ms['f']:.1f} ms, JVP {ms['jvp']:.1f} ms (R_f = {t['jvp'] / t['f']:.2f}), "
          f"FG step K=1 {ms['fg1']:.1f} ms, K=8 {ms['fg8']:.1f} ms "
          f"({t['fg8'] / t['fg1']:.1f}x; vector mode: {t['vector mode']})")
    if use_torch:
        print(f"    PyTorch: f {ms['torch f']:.1f} ms, backprop step {ms['torch step']:.1f} ms "
              f"(R_b = {t['torch step'] / t['torch f']:.2f}); FG step K=1 / backprop step = "
              f"{t['fg1'] / t['torch step']:.2f}, JVP / backprop step = "
              f"{t['jvp'] / t['torch step']:.2f}")
    else:
        print("    PyTorch is not importable: no backprop timing (pip install torch to add it)")

    batches = batches_for(Xtr, ytr, args.batch_size, steps, args.seed + 2, dtype)
    methods = [(label, k, combine) for key, label, k, combine in (
        ("fg1", "FG, K=1", 1, "mean"), ("fg8-mean", "FG, K=8 mean", 8, "mean"),
        ("fg8-project", "FG, K=8 project", 8, "project")) if key in args.methods]
    runs = []
    print(f"training {len(batches)} steps, SGD lr_i = {LR:g} exp(-{DECAY:g} i):")
    print(f"    {'method':<18} {'first loss':>10} {'last 10':>8} {'test acc':>8} "
          f"{'s/step':>7} {'time (s)':>8}")
    backprop = "backprop" in args.methods
    for label, k, combine in methods + ([("backprop (PyTorch)", None, None)]
                                         if use_torch and backprop else []):
        if k is None:
            x, losses, times = train_torch(p0, batches)
        else:
            x, losses, times = train_forward(loss, p0, batches, k, combine, args.seed + 3)
        acc = accuracy(x, Xte, yte)
        runs.append((label, losses, times))
        print(f"    {label:<18} {losses[0]:>10.4f} {np.mean(losses[-10:]):>8.4f} {acc:>8.3f} "
              f"{times[-1] / len(losses):>7.3f} {times[-1]:>8.1f}", flush=True)
    if backprop and not use_torch:
        print("    backprop: skipped (PyTorch is not importable)")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, losses, times in runs:
        axes[0].plot(np.arange(1, len(losses) + 1), losses, label=label)
        axes[1].plot(times, losses, label=label)
    for ax, xlabel in zip(axes, ("step", "wall time (s)")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel("minibatch loss")
        ax.legend(fontsize=8)
    fig.suptitle(f"the paper's CNN ({n_params(p0):,} parameters), {data}; batch "
                 f"{args.batch_size}, SGD lr 2e-4 exp(-1e-4 i), {dtype.name}", fontsize=9)
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, args.image)
    fig.savefig(path, dpi=70)
    print(f"wrote {path}; total wall time {time.perf_counter() - t_start:.0f} s")
    if args.docs_image:
        shutil.copyfile(path, args.docs_image)
        print(f"copied to {args.docs_image}")


if __name__ == "__main__":
    main()
