"""The paper's runtime claim, measured: a forward-gradient step against backprop.

    python benchmarks/bench_paper.py [--quick]

For multinomial logistic regression and a ReLU MLP at batch 64, with the
digits shape (64 inputs) and the paper's MNIST shape (784-1024-1024-10) on
random data, it times in float64:

* ``f``: the numpy loss alone;
* ``JVP``: fwdcompile's ``jvp`` along one random direction, giving
  R_f = time(f, grad f . v) / time(f) (the paper reports R_f = 2.46);
* ``FG step``: draw v for every parameter (numpy), one JVP, update; and the
  same with directions from ``fwdcompile.sampling`` (counter-based, compiled,
  drawn into buffers reused from step to step);
* ``minimize() step``: what a user gets from ``fwdcompile.optim.minimize``
  with ``FGD`` and the compiled sampler (20 steps per call, the start-up
  copy of the parameters included);
* ``JVP f32``: the same JVP with float32 parameters, data and direction
  (numpy keeps float32 throughout), next to PyTorch's float32 step;
* PyTorch (CPU, if installed): forward alone, and a backprop step (forward,
  backward, SGD update) in float64 and float32, giving
  R_b = time(f, grad f) / time(f) (the paper reports R_b = 4.17).

Loop-heavy models, where backprop pays its tape per operation: the RK4
parameter fit of ``examples/ode_fit.py`` (200 steps of a damped
oscillator, one parameter) and a tanh RNN of 32 units over 100 steps (input
8, a squared error on the last state): the FG step written the way the
README shows (``forward_grad`` with a ``DirectionSampler``, then the
update: ``c - lr * g`` for the scalar, ``FGD.step`` for the RNN's arrays)
on the native backend, against PyTorch's backprop step on the same code
(one thread; the JVP checked against PyTorch's gradient dotted with the
same direction first).

It also times whether one BLAS call for a primal matmul and its tangent
(``h @ W`` with ``dh @ W``, ``X @ W1`` with ``X @ dW1``) would be cheaper
than two.

Before timing, fwdcompile's JVP is checked against PyTorch's gradient dotted
with the same direction.  Times are the best of several repeats; numpy and
PyTorch both use this machine's 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import timeit
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_core import machine  # noqa: E402
from fwdcompile import forward_gradient  # noqa: E402
from fwdcompile.optim import FGD, minimize  # noqa: E402
from fwdcompile.sampling import DirectionSampler  # noqa: E402


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


def best(fn, budget):
    fn()
    once = min(timeit.repeat(fn, number=1, repeat=3))
    number = max(1, int(budget / max(once, 1e-7)))
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def torch_rows(loss_name, params, X, y, v, budget):
    try:
        import torch
    except ImportError:
        return None, "not installed"
    torch.set_num_threads(os.cpu_count() or 1)
    out = {}
    for dtype, label in ((torch.float64, "float64"), (torch.float32, "float32")):
        P = [torch.tensor(p, dtype=dtype, requires_grad=True) for p in params]
        Xt, yt = torch.tensor(X, dtype=dtype), torch.tensor(y)

        def forward():
            h = Xt
            for i in range(0, len(P) - 2, 2):
                h = torch.relu(h @ P[i] + P[i + 1])
            z = h @ P[-2] + P[-1]
            return torch.nn.functional.cross_entropy(z, yt)

        def step(lr=1e-4):
            for p in P:
                p.grad = None
            loss = forward()
            loss.backward()
            with torch.no_grad():
                for p in P:
                    p -= lr * p.grad
            return loss

        if dtype == torch.float64:  # the reference directional derivative
            loss = forward()
            grads = torch.autograd.grad(loss, P)
            out["grad_dot_v"] = float(sum((g * torch.tensor(vi)).sum()
                                          for g, vi in zip(grads, v)))
        with torch.no_grad():
            out[f"torch_f_{label}"] = best(forward, budget)
        out[f"torch_step_{label}"] = best(step, budget)
    return out, None


def workload(name, loss, sizes, batch, budget, rng):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params += [rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in),
                   np.zeros(fan_out)]
    X = rng.standard_normal((batch, sizes[0]))
    y = rng.integers(0, sizes[-1], batch)
    f = forward_gradient(loss, wrt=tuple(range(len(params))))
    v = tuple(rng.standard_normal(p.shape) for p in params)
    _, slope = f.jvp(*params, X, y, tangents=v)
    torch_out, missing = torch_rows(name, params, X, y, v, budget)
    if torch_out is not None:
        ref = torch_out["grad_dot_v"]
        if not abs(slope - ref) <= 1e-8 * max(1.0, abs(ref)):
            raise AssertionError(f"{name}: JVP {slope} differs from PyTorch's grad.v {ref}")
    draw_rng = np.random.default_rng(1)
    state = {"params": tuple(p.copy() for p in params)}

    def fg_step(lr=1e-4):
        p = state["params"]
        vs = tuple(draw_rng.standard_normal(q.shape) for q in p)
        _, s = f.jvp(*p, X, y, tangents=vs)
        for q, vi in zip(p, vs):  # in place, as an optimizer would
            q -= (lr * s) * vi

    from fwdcompile.sampling import directions
    shapes = [p.shape for p in params]
    counter = {"step": 0}

    buffers = [np.empty(shape) for shape in shapes]

    def fg_step_fast(lr=1e-4):  # directions from the counter-based sampler, drawn in place
        p = state["params"]
        counter["step"] += 1
        vs = directions(0, counter["step"], shapes, out=buffers)
        _, s = f.jvp(*p, X, y, tangents=vs)
        for q, vi in zip(p, vs):  # in place, as an optimizer would
            vi *= lr * s
            q -= vi

    def minimize_steps(n=20):
        minimize(f, tuple(params), args=(X, y), steps=n, optimizer=FGD(lr=1e-4),
                 rng=DirectionSampler(0), progress=False)

    row = {"name": name, "parameters": int(sum(p.size for p in params)),
           "fg_step_fast": best(fg_step_fast, budget),
           "minimize_step": best(minimize_steps, budget) / 20,
           "f": best(lambda: loss(*params, X, y), budget),
           "jvp": best(lambda: f.jvp(*params, X, y, tangents=v), budget),
           "draw": best(lambda: tuple(draw_rng.standard_normal(p.shape) for p in params),
                        budget),
           "fg_step": best(fg_step, budget)}
    p32 = [p.astype(np.float32) for p in params]
    v32 = tuple(t.astype(np.float32) for t in v)
    X32 = X.astype(np.float32)
    row["jvp_float32"] = best(lambda: f.jvp(*p32, X32, y, tangents=v32), budget)
    row.update(torch_out or {"torch": missing})
    return row


def matmul_sharing(budget):
    """Would one BLAS call for a primal matmul and its tangent pay?  The MLP's
    JVP computes ``h @ W`` and ``dh @ W`` (same right operand: stack the rows)
    and ``X @ W1`` and ``X @ dW1`` (same left operand: join the columns)."""
    rng = np.random.default_rng(3)
    h, dh, W = (rng.standard_normal(s) for s in ((64, 1024), (64, 1024), (1024, 1024)))
    X, W1, dW1 = (rng.standard_normal(s) for s in ((64, 784), (784, 1024), (784, 1024)))
    return {
        "h @ W and dh @ W, two calls": best(lambda: (h @ W, dh @ W), budget),
        "the same, rows stacked into one call": best(
            lambda: np.concatenate([h, dh]) @ W, budget),
        "X @ W1 and X @ dW1, two calls": best(lambda: (X @ W1, X @ dW1), budget),
        "the same, columns joined into one call": best(
            lambda: X @ np.concatenate([W1, dW1], axis=1), budget)}


def rnn(W, U, xs, y):
    h = np.zeros(W.shape[0])
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + U @ xs[t])
    return np.sum((h - y) ** 2)


def loop_models(budget):
    """The FG step on the native backend against PyTorch's backprop step, for
    the RK4 fit and the RNN (see the module doc)."""
    sys.path.insert(0, str(HERE.parent / "examples"))
    from ode_fit import misfit, simulate

    rng = np.random.default_rng(5)
    data = simulate(0.3)
    W, U = rng.normal(size=(32, 32)) * 0.2, rng.normal(size=(32, 8)) * 0.3
    xs, y = rng.normal(size=(100, 8)), rng.normal(size=32)
    fit = forward_gradient(misfit, wrt=("c",), backend="llvm")
    net = forward_gradient(rnn, wrt=("W", "U"), backend="llvm")
    fit_sampler, net_sampler, opt = DirectionSampler(0), DirectionSampler(1), FGD(lr=1e-4)
    params = (W.copy(), U.copy())
    state = {"c": 1.0}

    def fit_step(lr=1e-4):
        _, g = fit.forward_grad(state["c"], data, rng=fit_sampler)
        state["c"] = state["c"] - lr * g

    def net_step():
        _, g = net.forward_grad(*params, xs, y, rng=net_sampler)
        opt.step(params, g)

    rows = [{"name": "RK4 fit, 200 steps, 1 parameter", "fg_step": best(fit_step, budget)},
            {"name": "RNN 32 units, 100 steps (1,280 parameters)",
             "fg_step": best(net_step, budget)}]
    try:
        import torch
    except ImportError:
        return rows
    torch.set_num_threads(1)

    def t_simulate(c, k=2.0, steps=200, dt=0.05):
        x, v, out = torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.0,
                                                                         dtype=torch.float64), []
        for _ in range(steps):
            def rhs(x, v):
                return v, -k * x - c * v
            k1x, k1v = rhs(x, v)
            k2x, k2v = rhs(x + 0.5 * dt * k1x, v + 0.5 * dt * k1v)
            k3x, k3v = rhs(x + 0.5 * dt * k2x, v + 0.5 * dt * k2v)
            k4x, k4v = rhs(x + dt * k3x, v + dt * k3v)
            x = x + dt / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
            v = v + dt / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v)
            out.append(x)
        return torch.stack(out)

    tdata = torch.tensor(data)
    tc = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    TW, TU = (torch.tensor(p, requires_grad=True) for p in (W, U))
    txs, ty = torch.tensor(xs), torch.tensor(y)

    def t_fit_loss():
        r = t_simulate(tc) - tdata
        return torch.mean(r * r)

    def t_net_loss():
        h = torch.zeros(32, dtype=torch.float64)
        for t in range(100):
            h = torch.tanh(TW @ h + TU @ txs[t])
        return torch.sum((h - ty) ** 2)

    def t_step(loss_fn, tensors, lr=1e-4):
        for p in tensors:
            p.grad = None
        loss_fn().backward()
        with torch.no_grad():
            for p in tensors:
                p -= lr * p.grad

    # the JVPs agree with PyTorch's gradient along the same direction
    (g,) = torch.autograd.grad(t_fit_loss(), [tc])
    assert np.isclose(fit.jvp(1.0, data, tangents=(0.7,))[1], 0.7 * float(g), rtol=1e-9)
    gW, gU = torch.autograd.grad(t_net_loss(), [TW, TU])
    dW, dU = rng.normal(size=W.shape), rng.normal(size=U.shape)
    want = float((gW * torch.tensor(dW)).sum() + (gU * torch.tensor(dU)).sum())
    assert np.isclose(net.jvp(W, U, xs, y, tangents=(dW, dU))[1], want, rtol=1e-9)
    rows[0]["torch_step"] = best(lambda: t_step(t_fit_loss, [tc]), budget)
    rows[1]["torch_step"] = best(lambda: t_step(t_net_loss, [TW, TU]), budget)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    budget = 0.05 if args.quick else 0.3
    rng = np.random.default_rng(0)
    rows = [workload("logistic regression 64-10", logreg, [64, 10], 64, budget, rng),
            workload("MLP 64-64-64-10", mlp, [64, 64, 64, 10], 64, budget, rng),
            workload("logistic regression 784-10", logreg, [784, 10], 64, budget, rng),
            workload("MLP 784-1024-1024-10", mlp, [784, 1024, 1024, 10], 64, budget, rng)]
    m = machine()
    threads = {k: os.environ.get(k, "unset") for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, numpy {m['numpy']}, "
             f"threads {threads}; float64 unless marked; batch 64, random data.", "",
             "| model (parameters) | f (numpy) | JVP | R_f | draw v | FG step | "
             "FG step, fast sampler | minimize() step | torch f | torch backprop step | "
             "R_b (torch) | FG step (fast) / torch step | torch f32 step | JVP f32 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    us = 1e6
    for r in rows:
        if "torch_step_float64" in r:
            tcells = (f"{r['torch_f_float64'] * us:.0f} µs | {r['torch_step_float64'] * us:.0f} µs"
                      f" | {r['torch_step_float64'] / r['torch_f_float64']:.2f} | "
                      f"{r['fg_step_fast'] / r['torch_step_float64']:.2f} | "
                      f"{r['torch_step_float32'] * us:.0f} µs")
        else:
            tcells = "not installed | | | | |"
        lines.append(f"| {r['name']} ({r['parameters']:,}) | {r['f'] * us:.0f} µs | "
                     f"{r['jvp'] * us:.0f} µs | {r['jvp'] / r['f']:.2f} | {r['draw'] * us:.0f} µs"
                     f" | {r['fg_step'] * us:.0f} µs | {r['fg_step_fast'] * us:.0f} µs"
                     f" | {r['minimize_step'] * us:.0f} µs | {tcells} | "
                     f"{r['jvp_float32'] * us:.0f} µs |")
    loops = loop_models(budget)
    lines += ["", "Loop-heavy models (FG step on the native backend, one thread; PyTorch's "
              "backprop step, one thread):", "",
              "| model | FG step | torch backprop step | torch / FG |", "|---|---|---|---|"]
    for r in loops:
        torch_cell = (f"{r['torch_step'] * us:.0f} µs | {r['torch_step'] / r['fg_step']:.0f}×"
                      if "torch_step" in r else "not installed |")
        lines.append(f"| {r['name']} | {r['fg_step'] * us:.1f} µs | {torch_cell} |")
    sharing = matmul_sharing(budget)
    lines += ["", "Sharing one BLAS call between a primal matmul and its tangent "
              "(the 784-1024-1024-10 MLP's shapes):", "",
              "| variant | time |", "|---|---|"]
    lines += [f"| {k} | {v * us:.0f} µs |" for k, v in sharing.items()]
    text = "\n".join(lines)
    print(text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "paper.md").write_text(text + "\n")
    (out / "paper.json").write_text(json.dumps({"machine": m, "rows": rows, "loops": loops},
                                               indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
