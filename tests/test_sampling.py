"""The counter-based direction sampler: distribution, independence, reproducibility."""

import numpy as np
import pytest

from fwdcompile.sampling import DirectionSampler, directions

N = 400_000


@pytest.fixture(scope="module")
def draws():
    return DirectionSampler(7).normal(N, step=3)


def test_moments_match_a_standard_normal(draws):
    # standard errors for N draws: mean 1/sqrt(N), variance sqrt(2/N),
    # skewness sqrt(6/N), excess kurtosis sqrt(24/N); 5 sigma each
    x = draws
    m, v = x.mean(), x.var()
    skew = np.mean((x - m) ** 3) / v ** 1.5
    kurt = np.mean((x - m) ** 4) / v ** 2 - 3.0
    assert abs(m) < 5 / np.sqrt(N)
    assert abs(v - 1.0) < 5 * np.sqrt(2 / N)
    assert abs(skew) < 5 * np.sqrt(6 / N)
    assert abs(kurt) < 5 * np.sqrt(24 / N)


def test_distribution_against_the_normal_cdf(draws):
    stats = pytest.importorskip("scipy.stats")
    assert stats.kstest(draws[:100_000], "norm").pvalue > 1e-4


def test_no_correlation_between_neighbours_steps_and_seeds(draws):
    limit = 5 / np.sqrt(N)
    assert abs(np.corrcoef(draws[1:], draws[:-1])[0, 1]) < limit
    assert abs(np.corrcoef(draws[0::2], draws[1::2])[0, 1]) < 5 / np.sqrt(N / 2)
    other_step = DirectionSampler(7).normal(N, step=4)
    other_seed = DirectionSampler(8).normal(N, step=3)
    assert abs(np.corrcoef(draws, other_step)[0, 1]) < limit
    assert abs(np.corrcoef(draws, other_seed)[0, 1]) < limit


def test_reproducible_and_keyed():
    a = DirectionSampler(1).normal((30, 7), step=2)
    np.testing.assert_array_equal(a, DirectionSampler(1).normal((30, 7), step=2))
    assert not np.array_equal(a, DirectionSampler(1).normal((30, 7), step=3))
    assert a.shape == (30, 7) and a.dtype == np.float64


def test_compiled_and_numpy_paths_agree():
    fast = DirectionSampler(5).normal(200_001, step=9)  # odd, and above the threaded size
    slow = DirectionSampler(5, use_llvm=False).normal(200_001, step=9)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-13)


@pytest.mark.parametrize("n", [1, 63, 64, 65, 1000, 300_001])  # 300_001: threaded
def test_compiled_and_numpy_signs_are_identical(n):
    fast = DirectionSampler(6).rademacher((n,), step=4, offset=2)
    slow = DirectionSampler(6, use_llvm=False).rademacher((n,), step=4, offset=2)
    np.testing.assert_array_equal(fast, slow)


def test_rademacher_signs():
    r = DirectionSampler(2).rademacher(N, step=1)
    assert set(np.unique(r)) == {-1.0, 1.0}
    assert abs(r.mean()) < 5 / np.sqrt(N)
    assert abs(np.mean(r[1:] * r[:-1])) < 5 / np.sqrt(N)


def test_directions_for_several_parameters_do_not_overlap():
    a, b = directions(3, 0, [(100,), (100,)])
    assert not np.array_equal(a, b)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.5
    with pytest.raises(ValueError, match="distribution"):
        directions(3, 0, [(2,)], distribution="uniform")


def test_global_random_state_untouched():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    DirectionSampler(1).normal(1000)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_forward_grad_with_the_counter_based_sampler():
    from fwdcompile import forward_gradient

    def quad(x, y):
        return np.sum(x ** 2) + 3.0 * y * y

    f = forward_gradient(quad)
    x = np.array([1.0, -2.0, 0.5])
    a = f.forward_grad(x, 0.5, rng=DirectionSampler(11), directions=4)[1]
    b = f.forward_grad(x, 0.5, rng=DirectionSampler(11), directions=4)[1]
    np.testing.assert_array_equal(a[0], b[0])
    sampler = DirectionSampler(11)
    first = f.forward_grad(x, 0.5, rng=sampler)[1]
    second = f.forward_grad(x, 0.5, rng=sampler)[1]
    assert sampler.step == 2 and not np.array_equal(first[0], second[0])
    # unbiased: the mean of many single-direction estimates approaches the gradient
    sampler = DirectionSampler(3)
    est = np.mean([f.forward_grad(x, 0.5, rng=sampler)[1][0] for _ in range(4000)], axis=0)
    grad = 2 * x
    var = grad @ grad + 9.0 + grad ** 2  # |grad|^2 (both parameters) + grad_i^2
    assert np.all(np.abs(est - grad) < 5 * np.sqrt(var / 4000))


@pytest.mark.parametrize("shape", [(6,), (7,), (3, 200_001)])  # even, odd, threaded
def test_drawing_into_a_buffer_gives_the_same_numbers(shape):
    buffer = np.empty(shape)
    got = DirectionSampler(8).normal(shape, step=3, offset=1, out=buffer)
    assert got is buffer
    np.testing.assert_array_equal(got, DirectionSampler(8).normal(shape, step=3, offset=1))
    shapes = [shape, (5,)]
    buffers = [np.empty(s) for s in shapes]
    for a, b in zip(directions(1, 2, shapes, out=buffers), directions(1, 2, shapes)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="C-contiguous float64"):
        DirectionSampler(8).normal(shape, out=np.empty(shape, dtype=np.float32))


@pytest.mark.parametrize("distribution", ["normal", "rademacher"])
def test_a_stream_draws_into_a_buffer(distribution):
    fresh, reused = DirectionSampler(5), DirectionSampler(5)
    for _ in range(2):  # each stream is the next step
        draw, draw_into = fresh.stream(distribution), reused.stream(distribution)
        buffer = np.empty((2, 7))
        assert draw_into((2, 7), 1, out=buffer) is buffer
        np.testing.assert_array_equal(buffer, draw((2, 7), 1))


@pytest.mark.parametrize("shape", [(64,), (3, 50), (1,), (2, 300_007)])  # words, tails, threads
@pytest.mark.parametrize("use_llvm", [True, False])
def test_signs_drawn_into_a_buffer_are_the_same_signs(shape, use_llvm):
    sampler = DirectionSampler(9, use_llvm=use_llvm)
    buffer = np.full(shape, np.nan)
    got = sampler.rademacher(shape, step=2, offset=3, out=buffer)
    assert got is buffer
    np.testing.assert_array_equal(got, DirectionSampler(9).rademacher(shape, step=2, offset=3))
    shapes = [shape, (5,)]
    buffers = [np.empty(s) for s in shapes]
    for a, b in zip(directions(1, 2, shapes, "rademacher", out=buffers),
                    directions(1, 2, shapes, "rademacher")):
        np.testing.assert_array_equal(a, b)
