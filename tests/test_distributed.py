"""fwdcompile.distributed: the algorithm on the local engine (always), and the
Ray engine against it bit for bit (when Ray is installed: one local Ray
instance with 2 CPUs for the whole file).

Bit-equality is np.array_equal on the exact arrays; nothing here compares
with a tolerance except the two statements that are about closeness."""

import os
from pathlib import Path

import numpy as np
import pytest

from fwdcompile import forward_gradient, optim
from fwdcompile import distributed as D
from fwdcompile.distributed.replica import direction_slice
from fwdcompile.sampling import DirectionSampler

HERE = Path(__file__).resolve().parent


def lsq(w, X, y):
    return np.mean((X @ w - y) ** 2)


def mlp(p, X, y):
    h = np.tanh(X @ p["W1"] + p["b1"])
    return np.mean((h @ p["w2"] - y) ** 2)


def failing_data(rank, step):
    if rank == 1 and step == 3:
        raise ArithmeticError("bad batch on purpose")
    return _BATCHES[(2 * step + rank) % len(_BATCHES)]


_rng = np.random.default_rng(0)
_X = _rng.standard_normal((96, 5))
_Y = _X @ np.arange(1.0, 6.0) + 0.1 * _rng.standard_normal(96)
_BATCHES = [(_X[i:i + 8], _Y[i:i + 8]) for i in range(0, 96, 8)]  # 12 batches
W0 = np.zeros(5)
P0 = {"W1": 0.3 * _rng.standard_normal((5, 4)), "b1": np.zeros(4),
      "w2": 0.3 * _rng.standard_normal(4)}
OPTIMIZERS = [optim.FGD(lr=0.02), optim.Momentum(lr=0.01, beta=0.8), optim.Adam(lr=0.05)]


def two_shards():
    return [_BATCHES[:6], _BATCHES[6:]]


def same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return np.array_equal(a, b) and np.asarray(a).dtype == np.asarray(b).dtype


# ------------------------------------------------------------------ one worker is minimize

@pytest.mark.parametrize("opt", OPTIMIZERS, ids=lambda o: type(o).__name__)
@pytest.mark.parametrize("k", [1, 3])
def test_one_worker_is_optim_minimize_bit_for_bit(opt, k):
    ref = optim.minimize(lsq, W0, data=list(_BATCHES), rng=11, optimizer=opt, directions=k,
                         progress=False)
    got = D.minimize(lsq, W0, data=[list(_BATCHES)], workers=1, rng=11, optimizer=opt,
                     directions=k, progress=False)
    assert got.nit == ref.nit == 12 and got.stopped == "data"
    assert same(got.x, ref.x)
    assert got.history == ref.history


def test_one_worker_is_minimize_for_pytrees_float32_and_clip_project():
    p32 = {k: v.astype(np.float32) for k, v in P0.items()}
    for x0, kw in ((P0, dict(combine="project", directions=3)),
                   (p32, dict(clip=0.5, directions=2, distribution="rademacher"))):
        ref = optim.minimize(mlp, x0, data=lambda s: _BATCHES[s % 12], steps=7, rng=5,
                             optimizer=optim.Adam(lr=0.01), progress=False, **kw)
        got = D.minimize(mlp, x0, data=lambda r, s: _BATCHES[s % 12], workers=1, steps=7,
                         rng=5, optimizer=optim.Adam(lr=0.01), progress=False, **kw)
        assert same(got.x, ref.x) and got.history == ref.history
    assert got.x["W1"].dtype == np.float32


# ------------------------------------------------------------------ the algorithm itself

def test_data_parallel_averages_the_workers_directional_derivatives():
    res = D.minimize(lsq, W0, data=two_shards(), workers=2, directions=3, rng=4, steps=1,
                     optimizer=optim.FGD(lr=0.1), progress=False)
    f = forward_gradient(lsq, wrt=("w",))
    v = DirectionSampler(4).normal((3, 5), step=0, offset=0)
    d0 = f.jvp(W0, *_BATCHES[0], tangents=(v,), batched=True)[1]
    d1 = f.jvp(W0, *_BATCHES[6], tangents=(v,), batched=True)[1]
    assert np.array_equal(res.log.slopes[0], (d0 + d1) / 2)
    assert np.array_equal(res.x, W0 - 0.1 * ((res.log.slopes[0] / 3) @ v))
    assert res.log.losses[0] == (lsq(W0, *_BATCHES[0]) + lsq(W0, *_BATCHES[6])) / 2
    # 3 slopes + a loss up, 3 averaged slopes down, against 5 * 8 for an all-reduce
    assert res.bytes_per_step == 8 * (3 + 1) + 8 * 3 and res.parameters == 5


def test_direction_parallel_splits_the_directions_and_matches_one_worker():
    assert [direction_slice(r, 3, 8) for r in range(3)] == [(0, 3), (3, 6), (6, 8)]
    kw = dict(data=_BATCHES, directions=4, mode="directions", rng=2, steps=10,
              optimizer=optim.Adam(lr=0.05), progress=False)
    one = D.minimize(lsq, W0, workers=1, **kw)
    two = D.minimize(lsq, W0, workers=2, **kw)
    ref = optim.minimize(lsq, W0, data=list(_BATCHES), directions=4, rng=2, steps=10,
                         optimizer=optim.Adam(lr=0.05), progress=False)
    assert same(one.x, ref.x)
    # two batched JVPs of 2 directions may round differently from one of 4
    np.testing.assert_allclose(two.log.slopes, one.log.slopes, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(two.x, one.x, rtol=1e-10)
    assert same(D.replay(W0, two.log), two.x)
    assert two.bytes_per_step == 8 * (2 + 1) + 8 * 4


def test_replay_rebuilds_any_step_from_the_log_alone(tmp_path):
    kw = dict(data=lambda r, s: _BATCHES[(2 * s + r) % 12], workers=2, directions=2, rng=9,
              optimizer=optim.Momentum(lr=0.01), progress=False)
    full = D.minimize(mlp, P0, steps=9, **kw)
    part = D.minimize(mlp, P0, steps=4, **kw)
    assert same(D.replay(P0, full.log), full.x)
    assert same(D.replay(P0, full.log, steps=4), part.x)
    assert not same(part.x, full.x)
    full.log.save(str(tmp_path / "run.npz"))
    loaded = D.ScalarLog.load(str(tmp_path / "run.npz"))
    assert same(D.replay(P0, loaded), full.x) and loaded.nbytes == 9 * 8 * 3
    with pytest.raises(ValueError, match="steps must be an integer in"):
        D.replay(P0, full.log, steps=10)


# ------------------------------------------------------------------ faults and checks

@pytest.mark.parametrize("use_checkpoint", [False, True])
def test_a_killed_worker_catches_up_and_the_run_is_unchanged(tmp_path, use_checkpoint):
    kw = dict(data=two_shards(), workers=2, directions=2, rng=1, check_every=1,
              optimizer=optim.Adam(lr=0.05), progress=False)
    ref = D.minimize(lsq, W0, **kw)

    def kill(step, loss, engine):
        if step == 4:
            engine.kill(1)
    ckpt = dict(checkpoint=str(tmp_path / "ck"), checkpoint_every=3) if use_checkpoint else {}
    got = D.minimize(lsq, W0, callback=kill, **ckpt, **kw)
    # rebuilt at step 5 from the checkpoint of step 3, or from x0
    assert got.recoveries == [(1, 5, 3 if use_checkpoint else 0)]
    assert same(got.x, ref.x) and got.history == ref.history
    assert os.path.exists(tmp_path / "ck") == use_checkpoint


def test_a_stale_checkpoint_is_ignored(tmp_path):
    path = str(tmp_path / "ck")
    kw = dict(workers=2, directions=2, rng=1, checkpoint=path, checkpoint_every=2,
              progress=False)
    D.minimize(lsq, W0, data=two_shards(), optimizer=optim.FGD(lr=0.3), **kw)  # writes ck

    def kill(step, loss, engine):
        if step == 1:
            engine.kill(0)
    ref = D.minimize(lsq, W0, data=two_shards(), optimizer=optim.FGD(lr=0.01), progress=False,
                     workers=2, directions=2, rng=1)
    got = D.minimize(lsq, W0, data=two_shards(), optimizer=optim.FGD(lr=0.01), callback=kill,
                     **kw)
    assert got.recoveries == [(0, 2, 0)]  # another run's file: replayed from x0
    assert same(got.x, ref.x)


def test_replicas_that_differ_stop_the_run():
    def corrupt(step, loss, engine):
        if step == 2:
            u = engine.handles[1].updater
            u.params = (np.nextafter(u.params[0], 1),)  # one ulp apart
    with pytest.raises(D.ReplicaMismatch, match="the replicas differ after 4 steps"):
        D.minimize(lsq, W0, data=two_shards(), workers=2, check_every=2, callback=corrupt,
                   progress=False)


def test_a_worker_raising_reaches_the_driver_with_rank_and_traceback():
    with pytest.raises(D.WorkerError) as info:
        D.minimize(lsq, W0, data=failing_data, workers=2, steps=8, rng=3, progress=False)
    err = info.value
    assert err.rank == 1 and err.step == 3
    assert "ArithmeticError: bad batch on purpose" in str(err)
    assert "failing_data" in err.remote_traceback
    # no replica half-updated: both whole, at step 3, and what 3 clean steps give
    clean = D.minimize(lsq, W0, data=lambda r, s: _BATCHES[(2 * s + r) % 12], workers=2,
                       steps=3, rng=3, progress=False)
    assert err.replicas == {r: {"position": 3, "checksum": clean.checksum} for r in (0, 1)}


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match=r"same number of batches .* got \[6, 5\]"):
        D.minimize(lsq, W0, data=[_BATCHES[:6], _BATCHES[6:11]], workers=2)
    with pytest.raises(ValueError, match=r"worker\(s\) \[1\] ended at step 2"):
        D.minimize(lsq, W0, data=[iter(_BATCHES[:4]), iter(_BATCHES[4:6])], workers=2,
                   progress=False)
    with pytest.raises(ValueError, match="a list of 2 iterables"):
        D.minimize(lsq, W0, data=[_BATCHES], workers=2)
    with pytest.raises(TypeError, match="rng must be an int seed"):
        D.minimize(lsq, W0, data=two_shards(), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least one direction per worker"):
        D.minimize(lsq, W0, data=_BATCHES, workers=3, directions=2, mode="directions")
    with pytest.raises(ValueError, match="engine must be"):
        D.minimize(lsq, W0, data=two_shards(), engine="mpi")
    with pytest.raises(TypeError, match="optimizer of fwdcompile.optim"):
        D.minimize(lsq, W0, data=two_shards(), optimizer=object())


# ------------------------------------------------------------------ Ray

@pytest.fixture(scope="session")
def ray_session():
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        # the workers import this module (the loss functions) and fwdcompile
        path = os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")])
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": path, "OPENBLAS_NUM_THREADS": "1"}})
    yield ray
    ray.shutdown()


def test_ray_equals_local_bit_for_bit(ray_session):
    for kw in (dict(data=two_shards(), directions=3, optimizer=optim.Adam(lr=0.05)),
               dict(data=_BATCHES[:5], directions=3, mode="directions")):
        local = D.minimize(lsq, W0, workers=2, rng=6, check_every=1, progress=False, **kw)
        remote = D.minimize(lsq, W0, workers=2, rng=6, check_every=1, progress=False,
                            engine="ray", **kw)
        assert remote.engine == "ray" and remote.nit == local.nit > 0
        assert same(remote.x, local.x) and remote.history == local.history
        assert np.array_equal(remote.log.slopes, local.log.slopes)
        assert remote.checksum == local.checksum


def test_ray_killed_actor_restarts_catches_up_and_finishes_identical(ray_session, tmp_path):
    kw = dict(data=two_shards(), workers=2, directions=2, rng=1,
              optimizer=optim.Momentum(lr=0.01), progress=False)
    ref = D.minimize(lsq, W0, **kw)

    def kill(step, loss, engine):
        if step == 3:
            ray_session.kill(engine.handles[1], no_restart=False)
    got = D.minimize(lsq, W0, engine="ray", callback=kill, checkpoint=str(tmp_path / "ck"),
                     checkpoint_every=2, **kw)
    # Ray's kill takes effect asynchronously: the driver notices the dead worker at
    # the next call or the one after (step 4 or 5), and worker 1 rebuilds from the
    # newest checkpoint worker 0 wrote (step 4; checkpoints every 2 steps), past
    # the updates it missed; whatever the timing, the run ends bit-identical
    assert [r for r, _, _ in got.recoveries] == [1]
    (_, noticed, rebuilt), = got.recoveries
    assert noticed in (4, 5, 6) and rebuilt in (4, 6) and rebuilt <= noticed
    assert same(got.x, ref.x) and got.history == ref.history


def test_ray_worker_error_reaches_the_driver(ray_session):
    with pytest.raises(D.WorkerError) as info:
        D.minimize(lsq, W0, data=failing_data, workers=2, steps=8, rng=3, engine="ray",
                   progress=False)
    assert info.value.rank == 1 and "failing_data" in info.value.remote_traceback
    assert {s["position"] for s in info.value.replicas.values()} == {3}
