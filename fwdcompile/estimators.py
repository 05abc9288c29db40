"""Forward-gradient estimators: drawing directions and combining directional
derivatives into a gradient estimate, for ``forward_grad`` (api.py) and
``minimize`` (optim.py).

Contract:

* :func:`check_options` validates ``directions``, ``distribution`` and
  ``combine`` with the messages both callers use.
* :func:`directions_from` turns ``rng`` into ``draw(shape, offset,
  out=None)``.  ``rng`` is recognised by type: an int seed means
  ``DirectionSampler(seed)`` (:func:`from_seed`); a ``numpy.random.Generator``
  (None: a fresh one) draws from its stream in call order (``offset``
  unused); a :class:`fwdcompile.sampling.DirectionSampler` draws keyed by
  ``(seed, step, offset)``.
* :func:`draw_into` draws K directions per parameter into reusable
  ``(K,) + shape`` buffers (the optimizer's loop).
* :func:`weights` is the combination: ``mean`` (the average of
  ``(grad f . v) v``: weights ``slopes / K``) or ``project`` (the projection
  of the gradient onto the directions' span: the least-squares solution of
  ``G w = slopes`` with ``G`` the Gram matrix of the directions).
  :func:`combine` applies it to directions held one tuple per direction
  (``forward_grad``), :func:`combine_into` to directions stacked
  ``(K,) + shape`` per parameter, writing into ``out`` (``minimize``).  The
  two differ only in summation order, kept from the code they replace so
  that a seed gives bit-for-bit the results it gave before
  (tests/test_estimators.py pins them).
"""

from __future__ import annotations

import numbers

import numpy as np

from .sampling import DirectionSampler, rademacher

DISTRIBUTIONS = ("normal", "rademacher")
COMBINES = ("mean", "project")


def check_options(directions, distribution, combine):
    if not isinstance(directions, numbers.Integral) or isinstance(directions, bool) \
            or directions < 1:
        raise ValueError(f"directions must be a positive integer, got {directions!r}")
    check_distribution(distribution)
    check_combine(combine)


def check_distribution(distribution):
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be 'normal' or 'rademacher', got "
                         f"{distribution!r}")


def check_combine(combine):
    if combine not in COMBINES:
        raise ValueError(f"combine must be 'mean' or 'project', got {combine!r}")


def is_sampler(rng):
    """Whether ``rng`` is the compiled counter-based sampler."""
    return isinstance(rng, DirectionSampler)


def from_seed(rng):
    """``rng`` with a plain int seed made the compiled counter-based sampler
    (``DirectionSampler(seed)``: fast and reproducible; where llvmlite cannot
    compile it, the sampler runs the same arithmetic in numpy).  Generators,
    samplers and None pass through unchanged."""
    if isinstance(rng, numbers.Integral) and not isinstance(rng, (bool, np.bool_)):
        return DirectionSampler(int(rng))
    return rng


def generator(rng):
    """``rng`` as a numpy Generator (a seed or None makes a fresh one; numpy's
    global state is never used)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def directions_from(rng, distribution, dtypes=None):
    """``draw(shape, offset)``: one direction of ``shape`` for the parameter at
    ``offset`` (a float for shape ``()``).  ``dtypes[offset]``, when given and
    not None, is a floating dtype other than float64 the direction is cast to."""
    rng = from_seed(rng)
    if is_sampler(rng):  # fwdcompile.sampling: directions keyed by (seed, step)
        draw = rng.stream(distribution)
    else:
        rng = generator(rng)

        def draw(shape, offset):
            return _direction(rng, shape, distribution)
    if dtypes is None or not any(dtypes):
        return draw
    float64_draw = draw

    def draw_cast(shape, offset):
        v = float64_draw(shape, offset)
        dtype = dtypes[offset]
        return v if dtype is None or np.ndim(v) == 0 else v.astype(dtype)
    return draw_cast


def _direction(rng, shape, distribution):
    if distribution == "normal":
        if shape == ():
            return rng.standard_normal()
        v = rng.standard_normal(shape)
    else:
        v = rademacher(rng, shape)
    return float(v) if shape == () else v


def draw_into(rng, shapes, k, distribution, out):
    """K directions per parameter, drawn into ``out`` (arrays of shape
    ``(k,) + shape`` reused from step to step: a large model's directions are
    tens of MB, and fresh ones would fault in new pages every step); ``rng`` a
    Generator or a DirectionSampler."""
    if is_sampler(rng):
        draw = rng.stream(distribution)
        return tuple(draw((k,) + s, i, out=o) for i, (s, o) in enumerate(zip(shapes, out)))
    if distribution == "normal":
        return tuple(rng.standard_normal(out=o) for o in out)
    if distribution == "rademacher":
        return tuple(rademacher(rng, (k,) + s) for s in shapes)
    check_distribution(distribution)


def weights(slopes, how, gram=None):
    """The weight of each direction: ``slopes / K`` (mean) or the
    least-squares solution of ``gram @ w = slopes`` (project; ``gram()`` is
    called only then)."""
    slopes = np.asarray(slopes)
    if how == "mean":
        return slopes / len(slopes)
    return np.linalg.lstsq(gram(), slopes, rcond=None)[0]


def combine(draws, slopes, how, shapes, dtypes):
    """The estimate, one entry per parameter, from K directions given as
    ``draws[i][p]`` (direction i, parameter p): a float for shape ``()``,
    else an array of the parameter's dtype (``dtypes[p]``, None: float64)."""
    n = len(shapes)

    def gram():
        return sum(np.array([[np.vdot(a[p], b[p]) for b in draws] for a in draws])
                   for p in range(n))
    w = weights([float(s) for s in slopes], how, gram)
    grads = []
    for p, shape in enumerate(shapes):
        g = sum(wi * vs[p] for wi, vs in zip(w, draws))
        grads.append(float(g) if shape == () else np.asarray(g, dtype=dtypes[p] or float))
    return grads


def combine_regenerated(elements, slopes, how, shapes, dtypes):
    """What :func:`combine` returns, with the directions of leaf ``p`` drawn
    again by ``elements(p)`` (its K directions, a list) each time they are
    needed, instead of held for every leaf at once (lazy directions: the
    same arithmetic in the same order, so the same numbers)."""
    w = elements_weights(elements, slopes, how, len(shapes))
    return [elements_estimate(elements(p), w, shape, dtypes[p])
            for p, shape in enumerate(shapes)]


def elements_weights(elements, slopes, how, n):
    """The K weights :func:`combine_regenerated` combines each leaf's
    directions ``elements(p)`` (a list) with."""
    def gram():
        total = 0
        for p in range(n):
            e = elements(p)
            total = total + np.array([[np.vdot(a, b) for b in e] for a in e])
        return total
    return weights([float(s) for s in slopes], how, gram)


def elements_estimate(e, w, shape, dtype):
    """One leaf's estimate ``sum_i w_i e_i`` as :func:`combine_regenerated` forms it."""
    g = sum(wi * v for wi, v in zip(w, e))
    return float(g) if shape == () else np.asarray(g, dtype=dtype or float)


def scale_single(v, slope):
    """One direction drawn for this call alone, scaled in place: ``(grad f . v) v``."""
    return tuple(np.multiply(vi, slope, out=vi) if type(vi) is np.ndarray else slope * vi
                 for vi in v)


def combine_into_regenerated(directions, slopes, how, out):
    """:func:`combine_into` with leaf p's K directions drawn again by
    ``directions(p)`` each time they are needed (lazy directions: the same
    arithmetic, so the same numbers)."""
    w = regenerated_weights(directions, slopes, how, len(out))
    for p, o in enumerate(out):
        leaf_estimate(directions(p), w, o)
    return out


def regenerated_weights(directions, slopes, how, n):
    """The K weights of the estimate, ``g = sum_i w_i v_i``, with the ``n``
    leaves' directions drawn by ``directions(p)`` (``project`` needs their Gram
    matrix: one more pass over the leaves)."""
    k = len(slopes)

    def gram():
        return sum(np.tensordot(vi.reshape(k, -1), vi.reshape(k, -1), axes=([1], [1]))
                   for vi in (directions(p) for p in range(n)))
    return weights(slopes, how, gram)


def leaf_estimate(vi, w, out):
    """One leaf's estimate from its K directions ``vi`` and the weights, into ``out``."""
    np.dot(w.astype(vi.dtype, copy=False), vi.reshape(len(w), -1), out=out.reshape(-1))
    return out


def combine_into(v, slopes, how, out):
    """The estimate from K directions stacked ``(K,) + shape`` per parameter,
    written into ``out`` (one array per parameter)."""
    k = len(slopes)

    def gram():
        return sum(np.tensordot(vi.reshape(k, -1), vi.reshape(k, -1), axes=([1], [1]))
                   for vi in v)
    w = weights(slopes, how, gram)
    for vi, o in zip(v, out):  # float32 parameters: float32 weights into float32 out
        np.dot(w.astype(vi.dtype, copy=False), vi.reshape(k, -1), out=o.reshape(-1))
    return out
