"""Forward-gradient estimates and the optimizers that use them."""

import math

import numpy as np
import pytest

from fwdcompile import forward_gradient
from fwdcompile.optim import FGD, Adam, Momentum, minimize


def quadratic(x, A, b):
    return 0.5 * x @ (A @ x) - b @ x


def quad2(W, c):
    return np.sum((W - 1.0) ** 2) + 0.5 * (c + 2.0) ** 2


A = np.diag([1.0, 2.0, 3.0, 4.0])
B = np.array([1.0, -1.0, 0.5, 2.0])
X0 = np.zeros(4)
GRAD = A @ X0 - B  # the true gradient at X0


def _draws(distribution, n, rng):
    f = forward_gradient(quadratic, wrt=("x",))
    return np.array([f.forward_grad(X0, A, B, rng=rng, distribution=distribution)[1]
                     for _ in range(n)])


@pytest.mark.parametrize("distribution", ["normal", "rademacher"])
def test_forward_gradient_is_unbiased(distribution):
    # g = (grad . v) v.  Normal v: Var(g_i) = |grad|^2 + grad_i^2.
    # Rademacher v: g_i = grad_i + sum_{j != i} grad_j v_j v_i, Var(g_i) = |grad|^2 - grad_i^2.
    n = 4000
    g = _draws(distribution, n, np.random.default_rng(0))
    norm2 = GRAD @ GRAD
    var = norm2 + GRAD ** 2 if distribution == "normal" else norm2 - GRAD ** 2
    stderr = np.sqrt(var / n)
    assert np.all(np.abs(g.mean(axis=0) - GRAD) < 5 * stderr)  # 5 sigma: fails by chance ~1e-6
    # and the spread is the predicted one (a biased or mis-scaled estimator fails here)
    np.testing.assert_allclose(g.var(axis=0), var, rtol=0.15)


def test_rademacher_is_exact_on_a_single_coordinate():
    f = forward_gradient(lambda_free, wrt=("x",))
    _, g = f.forward_grad(np.array([2.0]), rng=3, distribution="rademacher")
    assert g[0] == pytest.approx(4.0)  # v = +-1, so (f' v) v = f' exactly


def lambda_free(x):
    return np.sum(x ** 2)


def test_project_combine_is_the_orthogonal_projection():
    f = forward_gradient(quad2)
    W, c = np.array([[0.2, -0.5], [1.5, 0.0]]), 0.3
    true = (2 * (W - 1.0), c + 2.0)
    rng = np.random.default_rng(5)
    _, g = f.forward_grad(W, c, rng=rng, directions=3, combine="project")
    # redraw the same directions and project the true gradient onto their span
    rng = np.random.default_rng(5)
    V = np.concatenate([rng.standard_normal((3, 2, 2)).reshape(3, -1),
                        rng.standard_normal((3,)).reshape(3, 1)], axis=1)
    flat_true = np.concatenate([true[0].ravel(), [true[1]]])
    proj = V.T @ np.linalg.solve(V @ V.T, V @ flat_true)
    np.testing.assert_allclose(np.concatenate([g[0].ravel(), [g[1]]]), proj, rtol=1e-10)


def test_project_with_as_many_directions_as_parameters_is_the_gradient():
    f = forward_gradient(quadratic, wrt=("x",))
    _, g = f.forward_grad(X0, A, B, rng=1, directions=4, combine="project")
    np.testing.assert_allclose(g, GRAD, rtol=1e-9, atol=1e-12)


def test_seeds_reproduce_and_global_state_is_untouched():
    f = forward_gradient(quadratic, wrt=("x",))
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    from fwdcompile.sampling import DirectionSampler

    a = f.forward_grad(X0, A, B, rng=42, directions=3)[1]
    b = f.forward_grad(X0, A, B, rng=DirectionSampler(42), directions=3)[1]
    np.testing.assert_array_equal(a, b)  # an int seed is the counter-based sampler
    np.testing.assert_array_equal(a, f.forward_grad(X0, A, B, rng=42, directions=3)[1])
    c = f.forward_grad(X0, A, B, rng=np.random.default_rng(42), directions=3)[1]
    np.testing.assert_array_equal(c, f.forward_grad(X0, A, B, rng=np.random.default_rng(42),
                                                    directions=3)[1])
    np.testing.assert_array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("directions", [1, 3])
def test_float32_parameters_get_float32_directions_and_gradients(directions):
    from fwdcompile.sampling import DirectionSampler

    f = forward_gradient(quad2, wrt=("W", "c"))
    W = np.arange(6.0).reshape(2, 3)
    for make_rng in (lambda: 5, lambda: DirectionSampler(5)):
        value, (gW, gc) = f.forward_grad(W.astype(np.float32), 0.5, rng=make_rng(),
                                         directions=directions)
        assert gW.dtype == np.float32 and isinstance(gc, float)
        _, (gW64, gc64) = f.forward_grad(W, 0.5, rng=make_rng(), directions=directions)
        assert gW64.dtype == np.float64
        # the same directions, rounded to float32
        np.testing.assert_allclose(gW, gW64, rtol=1e-5, atol=1e-5)
        assert gc == pytest.approx(gc64, rel=1e-5)


def test_schedule():
    opt = FGD(lr=0.1, decay=0.01)
    assert opt.rate(0) == 0.1
    assert opt.rate(100) == pytest.approx(0.1 * math.exp(-1.0))
    assert FGD(lr=0.1).rate(10 ** 6) == 0.1


@pytest.mark.parametrize("optimizer", [FGD(0.05), Momentum(0.02, beta=0.8), Adam(0.05)],
                         ids=["fgd", "momentum", "adam"])
def test_optimizers_decrease_a_convex_loss(optimizer):
    res = minimize(quadratic, X0, args=(A, B), steps=600, optimizer=optimizer, rng=0,
                   directions=2, progress=False)
    x_star = np.linalg.solve(A, B)
    assert res.stopped == "steps" and res.nit == 600
    assert quadratic(res.x, A, B) < quadratic(X0, A, B)
    assert np.linalg.norm(res.x - x_star) < 0.2 * np.linalg.norm(x_star)


def test_several_parameters_and_floats():
    res = minimize(quad2, (np.zeros((2, 2)), 0.0), steps=800, optimizer=FGD(0.02), rng=1,
                   progress=False)
    W, c = res.x
    assert isinstance(c, float)
    np.testing.assert_allclose(W, 1.0, atol=0.1)
    assert c == pytest.approx(-2.0, abs=0.1)


def _reference_minimize(optimizer, x0, steps, k, combine, seed):
    """minimize written out with fresh arrays everywhere (no reused buffers)."""
    f = forward_gradient(quad2, wrt=(0, 1))
    rng = np.random.default_rng(seed)
    params, state = (np.array(x0[0]), float(x0[1])), optimizer.init(x0)
    for _ in range(steps):
        v = (rng.standard_normal((k, 2, 2)), rng.standard_normal((k,)))
        if k == 1:
            _, slope = f.jvp(*params, tangents=(v[0][0], float(v[1][0])))
            slopes = np.array([slope])
        else:
            _, slopes = f.jvp(*params, tangents=v, batched=True)
        flat = np.concatenate([v[0].reshape(k, -1), v[1].reshape(k, -1)], axis=1)
        w = slopes / k if combine == "mean" else np.linalg.lstsq(flat @ flat.T, slopes,
                                                                 rcond=None)[0]
        grads = ((w[:, None, None] * v[0]).sum(axis=0), float(w @ v[1]))
        params, state = optimizer.update(params, grads, state)
    return params


@pytest.mark.parametrize("optimizer", [FGD(0.02), Momentum(0.02), Adam(0.05)],
                         ids=["fgd", "momentum", "adam"])
@pytest.mark.parametrize("k, combine", [(1, "mean"), (3, "mean"), (3, "project")])
def test_minimize_matches_a_loop_with_fresh_arrays(optimizer, k, combine):
    # minimize draws into and combines into buffers reused every step: a
    # buffer that an optimizer state or the result still held would show here
    x0 = (np.full((2, 2), 0.5), 0.25)
    res = minimize(quad2, x0, steps=30, optimizer=optimizer, rng=np.random.default_rng(11),
                   directions=k,
                   combine=combine, progress=False)
    W, c = _reference_minimize(optimizer, x0, 30, k, combine, 11)
    np.testing.assert_allclose(res.x[0], W, rtol=1e-12, atol=1e-14)
    assert res.x[1] == pytest.approx(c, rel=1e-12, abs=1e-14)


def test_resume_gives_the_uninterrupted_trajectory():
    kw = dict(args=(A, B), optimizer=Adam(0.05), directions=2, progress=False)
    full = minimize(quadratic, X0, steps=40, rng=7, **kw)
    first = minimize(quadratic, X0, steps=25, rng=7, **kw)
    rest = minimize(quadratic, first.x, steps=15, state=first.state, **kw)
    np.testing.assert_array_equal(rest.x, full.x)
    assert first.history + rest.history == full.history


def test_callback_stops_and_csv_log(tmp_path):
    path = tmp_path / "loss.csv"
    res = minimize(quadratic, X0, args=(A, B), steps=100, optimizer=FGD(0.05), rng=0,
                   progress=False, log=str(path), callback=lambda i, loss, x: i == 9)
    assert res.stopped == "callback" and res.nit == 10
    rows = path.read_text().strip().splitlines()
    assert rows[0] == "step,loss,lr" and len(rows) == 11
    assert float(rows[1].split(",")[1]) == res.history[0]


def test_clipping_bounds_each_step():
    # one direction, lr 1: a step moves x by lr * clip(slope) * v
    res = minimize(quadratic, X0, args=(A, 100.0 * B), steps=1, optimizer=FGD(1.0),
                   rng=np.random.default_rng(0), clip=0.5, progress=False)
    v = np.random.default_rng(0).standard_normal((1, 4))[0]
    np.testing.assert_allclose(np.abs(res.x), 0.5 * np.abs(v))


def test_non_finite_loss_stops_with_a_warning():
    def blows_up(x):
        return np.sum(np.exp(1e3 * x))

    with pytest.warns(RuntimeWarning, match="step 0"), np.errstate(all="ignore"):
        res = minimize(blows_up, np.ones(2), steps=5, optimizer=FGD(0.1), rng=0, progress=False)
    assert res.stopped == "non-finite" and res.nit == 0
    np.testing.assert_array_equal(res.x, np.ones(2))


def test_bad_inputs():
    with pytest.raises(ValueError, match="learning rate"):
        FGD(lr=0.0)
    with pytest.raises(ValueError, match="learning rate"):
        Adam(lr=-1.0)
    with pytest.raises(TypeError, match="array of numbers"):
        minimize(quadratic, np.zeros(4, dtype=bool), args=(A, B), steps=1, progress=False)
    with pytest.raises(TypeError, match="array of numbers"):
        minimize(quadratic, np.zeros(4, dtype=complex), args=(A, B), steps=1, progress=False)
    with pytest.raises(TypeError, match="array of numbers"):
        minimize(quadratic, "0000", args=(A, B), steps=1, progress=False)
    with pytest.raises(ValueError, match="directions"):
        minimize(quadratic, X0, args=(A, B), directions=0, progress=False)
    with pytest.raises(ValueError, match="clip"):
        minimize(quadratic, X0, args=(A, B), clip=-1.0, progress=False)


def test_rademacher_directions_are_balanced_signs():
    from fwdcompile.sampling import rademacher
    v = rademacher(np.random.default_rng(0), (1000, 100))
    assert set(np.unique(v)) == {-1.0, 1.0}
    # mean of 1e5 +-1 entries: standard error 1/sqrt(1e5) ~ 0.0032
    assert abs(v.mean()) < 5 * 0.0032
    # neighbouring entries uncorrelated (bits are not reused)
    flat = v.ravel()
    assert abs(np.mean(flat[1:] * flat[:-1])) < 5 * 0.0032
    again = rademacher(np.random.default_rng(0), (1000, 100))
    np.testing.assert_array_equal(v, again)


def test_minimize_with_the_counter_based_sampler_resumes_exactly():
    from fwdcompile.sampling import DirectionSampler

    kw = dict(args=(A, B), optimizer=FGD(0.05), directions=2, progress=False)
    full = minimize(quadratic, X0, steps=30, rng=DirectionSampler(4), **kw)
    first = minimize(quadratic, X0, steps=12, rng=DirectionSampler(4), **kw)
    rest = minimize(quadratic, first.x, steps=18, rng=DirectionSampler(4), state=first.state, **kw)
    np.testing.assert_array_equal(rest.x, full.x)
    assert quadratic(full.x, A, B) < quadratic(X0, A, B)


# ---------------------------------------------------------------- training on data (issue 13 §2)

def mse(w, X, y):
    return np.mean((X @ w - y) ** 2)


_DATA_RNG = np.random.default_rng(0)
XD = _DATA_RNG.normal(size=(64, 3))
YD = XD @ np.array([1.0, -2.0, 0.5])


@pytest.mark.parametrize("decorate", [False, True])
def test_minimize_differentiates_only_the_parameters_not_the_data(decorate):
    # a decorated loss without wrt would take every float argument (w, X, y)
    loss = forward_gradient(mse) if decorate else mse
    res = minimize(loss, np.zeros(3), args=(XD, YD), steps=400, optimizer=Adam(0.05),
                   rng=0, directions=3, progress=False)
    np.testing.assert_allclose(res.x, [1.0, -2.0, 0.5], atol=0.05)
    if decorate:
        assert loss._wrt is None  # the user's object is left as it was
        assert loss.forward_grad(np.zeros(3), XD, YD, rng=0)[1][0].shape == (3,)


def test_minimize_with_the_parameters_named_in_wrt_and_data_in_wrt_is_an_error():
    res = minimize(forward_gradient(mse, wrt="w"), np.zeros(3), args=(XD, YD), steps=2,
                   rng=0, progress=False)
    assert res.nit == 2
    with pytest.raises(ValueError, match=r"wrt=\['w', 'X'\].*first 1 parameter"):
        minimize(forward_gradient(mse, wrt=("w", "X")), np.zeros(3), args=(XD, YD),
                 steps=1, progress=False)


@pytest.mark.parametrize("x0", [[0, 0, 0], [0.0, 0, 0.0], np.zeros(3, dtype=int), (0, 0, 0)],
                         ids=["int-list", "mixed-list", "int-array", "tuple"])
def test_int_and_list_x0_are_promoted_to_float64_like_scipy(x0):
    kw = dict(args=(XD, YD), steps=5, optimizer=Adam(0.1), rng=3, progress=False)
    expected = minimize(mse, np.zeros(3), **kw).x
    if isinstance(x0, tuple):  # a tuple is several parameters, each promoted
        def split(a, b, c, X, y):
            return mse(np.stack([a, b, c]), X, y)
        res = minimize(split, x0, **kw)
        assert all(type(v) is float for v in res.x)
        assert res.x == minimize(split, (0.0, 0.0, 0.0), **kw).x
        return
    res = minimize(mse, x0, **kw)
    assert isinstance(res.x, np.ndarray) and res.x.dtype == np.float64 and res.x.shape == (3,)
    np.testing.assert_array_equal(res.x, expected)


def test_a_list_of_arrays_is_still_several_parameters():
    res = minimize(quad2, [np.zeros((2, 2)), 0.0], steps=3, optimizer=FGD(0.02), rng=1,
                   progress=False)
    assert len(res.x) == 2 and res.x[0].shape == (2, 2) and isinstance(res.x[1], float)


@pytest.mark.parametrize("optimizer", [FGD(0.05), Momentum(0.02), Adam(0.05)],
                         ids=["fgd", "momentum", "adam"])
@pytest.mark.parametrize("k, combine, distribution",
                         [(1, "mean", "normal"), (3, "project", "rademacher")])
def test_float32_parameters_stay_float32_end_to_end(optimizer, k, combine, distribution):
    from fwdcompile.sampling import DirectionSampler

    X32, y32 = XD.astype(np.float32), YD.astype(np.float32)
    seen = []
    for rng in (np.random.default_rng(2), DirectionSampler(2)):
        res = minimize(mse, np.zeros(3, dtype=np.float32), args=(X32, y32), steps=200,
                       optimizer=optimizer, rng=rng, directions=k, combine=combine,
                       distribution=distribution, progress=False,
                       callback=lambda i, loss, x: seen.append(x.dtype))
        assert res.x.dtype == np.float32 and set(seen) == {np.dtype(np.float32)}
        for value in res.state["optimizer"].values():
            if isinstance(value, tuple):
                assert all(m.dtype == np.float32 for m in value)
        assert res.fun < 0.5 * mse(np.zeros(3), XD, YD)
    # the float64 run from the same directions (rounded) follows the same path
    r32 = minimize(mse, np.zeros(3, dtype=np.float32), args=(X32, y32), steps=5,
                   optimizer=optimizer, rng=np.random.default_rng(4), progress=False)
    r64 = minimize(mse, np.zeros(3), args=(XD, YD), steps=5, optimizer=optimizer,
                   rng=np.random.default_rng(4), progress=False)
    np.testing.assert_allclose(r32.x, r64.x, rtol=1e-3, atol=1e-4)


def test_int_seed_minimize_is_reproducible_and_resumes_without_rng():
    from fwdcompile.sampling import DirectionSampler

    kw = dict(args=(XD, YD), optimizer=Adam(0.05), directions=2, progress=False)
    a = minimize(mse, np.zeros(3), steps=20, rng=5, **kw)
    b = minimize(mse, np.zeros(3), steps=20, rng=5, **kw)
    c = minimize(mse, np.zeros(3), steps=20, rng=DirectionSampler(5), **kw)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.x, c.x)
    assert a.history == c.history and a.state["seed"] == 5
    first = minimize(mse, np.zeros(3), steps=8, rng=5, **kw)
    rest = minimize(mse, first.x, steps=12, state=first.state, **kw)  # rng from the state
    np.testing.assert_array_equal(rest.x, a.x)
    with pytest.raises(ValueError, match="same kind of rng"):
        minimize(mse, first.x, steps=1, state=first.state, rng=np.random.default_rng(0), **kw)
    other = minimize(mse, np.zeros(3), steps=20, rng=6, **kw)
    assert not np.array_equal(other.x, a.x)


def test_int_seed_falls_back_to_numpy_sampling(monkeypatch):
    """Without a compiled kernel (no llvmlite) the sampler's numpy arithmetic
    gives the same directions to rounding."""
    from fwdcompile import sampling

    kw = dict(args=(XD, YD), optimizer=FGD(0.01), directions=2, steps=10, rng=5, progress=False)
    fast = minimize(mse, np.zeros(3), **kw)
    monkeypatch.setattr(sampling, "_kernel", lambda: None)
    slow = minimize(mse, np.zeros(3), **kw)
    np.testing.assert_allclose(slow.x, fast.x, rtol=1e-12, atol=1e-14)
    _, g = forward_gradient(mse, wrt="w").forward_grad(np.zeros(3), XD, YD, rng=5)
    assert g.shape == (3,) and np.all(np.isfinite(g))


# ---------------------------------------------------------------- minibatches

def test_minibatches_from_an_iterable_a_callable_and_the_helper():
    from fwdcompile.optim import minibatches

    kw = dict(optimizer=Adam(0.05), rng=0, directions=2, progress=False)
    batches = [(XD[j:j + 16], YD[j:j + 16]) for j in range(0, 64, 16)] * 50   # 200 steps
    by_list = minimize(mse, np.zeros(3), data=batches, **kw)
    assert by_list.nit == 200 and by_list.stopped == "data"
    np.testing.assert_allclose(by_list.x, [1.0, -2.0, 0.5], atol=0.05)
    # a callable of the step number gives the same batches: the same run
    by_step = minimize(mse, np.zeros(3), data=lambda i: batches[i], steps=200, **kw)
    assert by_step.stopped == "steps" and by_step.history == by_list.history
    np.testing.assert_array_equal(by_step.x, by_list.x)
    # steps= stops an iterable early; a generator is consumed lazily
    short = minimize(mse, np.zeros(3), data=iter(batches), steps=7, **kw)
    assert short.nit == 7 and short.history == by_list.history[:7]
    # extra fixed args come after the batch: f(*x, *batch, *args)

    def ridge(w, X, y, lam):
        return mse(w, X, y) + lam * np.sum(w * w)
    reg = minimize(ridge, np.zeros(3), data=batches[:5], args=(0.0,), **kw)
    assert reg.history == by_list.history[:5]
    # the helper: shuffled per epoch, reproducible, len() = epochs * batches per epoch
    mb = minibatches(XD, YD, batch_size=10, rng=3, epochs=2)
    assert len(mb) == 14 and mb.per_epoch == 7
    got = list(mb)
    assert [len(b[0]) for b in got[:7]] == [10] * 6 + [4]
    first = np.concatenate([b[1] for b in got[:7]])
    assert sorted(first) == sorted(YD) and not np.array_equal(first, YD)
    assert not np.array_equal(first, np.concatenate([b[1] for b in got[7:]]))
    again = list(minibatches(XD, YD, batch_size=10, rng=3, epochs=2))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(got, again))
    assert len(minibatches(XD, YD, batch_size=10, epochs=1, drop_last=True)) == 6
    res = minimize(mse, np.zeros(3), data=minibatches(XD, YD, batch_size=16, rng=1, epochs=60),
                   **kw)
    assert res.nit == 240 and res.stopped == "data"
    np.testing.assert_allclose(res.x, [1.0, -2.0, 0.5], atol=0.05)
    endless = minibatches(XD, YD, batch_size=16, rng=1)
    assert minimize(mse, np.zeros(3), data=endless, steps=9, **kw).nit == 9
    with pytest.raises(TypeError, match="endless"):
        len(endless)
    with pytest.raises(ValueError, match="same leading length"):
        minibatches(XD, YD[:5], batch_size=4)
    with pytest.raises(TypeError, match="data must be"):
        minimize(mse, np.zeros(3), data=3, **kw)


def test_minibatch_progress_bar_shows_steps_loss_and_throughput(monkeypatch):
    pytest.importorskip("tqdm")
    import io

    import fwdcompile.optim as optim_module
    from tqdm import tqdm

    out = io.StringIO()
    bars = []

    def visible(total, enabled):
        bars.append(tqdm(total=total, unit="step", file=out, mininterval=0, leave=True))
        return bars[-1]
    monkeypatch.setattr(optim_module, "_progress", visible)
    batches = [(XD[:16], YD[:16])] * 5
    minimize(mse, np.zeros(3), data=batches, rng=0)
    text = out.getvalue()
    assert bars[0].total == 5 and "5/5" in text and "loss=" in text
    assert "samples_per_s=" in text and "step/s" in text
