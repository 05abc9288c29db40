"""Softmax regression trained with forward gradients.

    python examples/softmax_regression.py

Checks the JVP against finite differences, then runs forward gradient
descent: each step draws v ~ N(0, I) and moves along -(grad L . v) v, an
unbiased estimate of the gradient computed in one forward pass.
"""

import numpy as np

from fwdcompile import forward_gradient


@forward_gradient(wrt=("W", "b"))
def loss(W, b, X, y):
    z = X @ W + b
    z = z - np.max(z, axis=1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(logp[np.arange(len(y)), y])


def accuracy(W, b, X, y):
    return np.mean(np.argmax(X @ W + b, axis=1) == y)


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    n, d, k = 600, 8, 3
    centers = 2.0 * rng.standard_normal((k, d))
    y = rng.integers(0, k, n)
    X = centers[y] + rng.standard_normal((n, d))
    W, b = np.zeros((d, k)), np.zeros(k)

    dW, db = rng.standard_normal(W.shape), rng.standard_normal(b.shape)
    value, dvalue = loss.jvp(W, b, X, y, tangents=(dW, db))
    h = 1e-6
    fd = (loss(W + h * dW, b + h * db, X, y) - loss(W - h * dW, b - h * db, X, y)) / (2 * h)
    print(f"JVP {dvalue:.10f}   central difference {fd:.10f}\n")

    lr = 0.05
    print(f"{'step':>6} {'loss':>10} {'accuracy':>9}")
    for step in range(401):
        value, (gW, gb) = loss.forward_grad(W, b, X, y, rng=rng)
        if step % 50 == 0:
            print(f"{step:>6} {value:>10.4f} {accuracy(W, b, X, y):>9.3f}")
        W, b = W - lr * gW, b - lr * gb
