"""The native allocator (backends/llvm/memory.py): large blocks are reused,
small ones are not kept, the cache respects its limit and ``trim``, blocks
handed to numpy stay intact while numpy holds them, and several threads may
allocate and free at once."""

import ctypes
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

pytest.importorskip("llvmlite")
from fwdcompile import forward_gradient  # noqa: E402
from fwdcompile.backends.llvm import memory  # noqa: E402

ALLOC = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_int64)
BIG = 1 << 20


def _alloc():
    return ALLOC(memory.install()["fwdcompile_alloc"])


def test_a_freed_large_block_is_handed_out_again_and_trim_empties_the_cache():
    alloc = _alloc()
    memory.trim()
    p = alloc(BIG)
    memory.release(p)
    assert memory.cached_bytes() == BIG
    assert alloc(BIG - 64) == p  # fits: between the request and twice it
    assert memory.cached_bytes() == 0
    memory.release(p)
    q = alloc(BIG // 4)  # the cached block is more than twice this: not taken
    assert q != p and memory.cached_bytes() == BIG
    memory.release(q)
    memory.trim()
    assert memory.cached_bytes() == 0


def test_small_blocks_are_not_kept():
    alloc = _alloc()
    memory.trim()
    p = alloc(1024)
    ctypes.memset(p, 7, 1024)
    memory.release(p)
    assert memory.cached_bytes() == 0


def test_the_limit_comes_from_the_environment():
    code = ("import ctypes; from fwdcompile.backends.llvm import memory; "
            "a = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_int64)("
            "memory.install()['fwdcompile_alloc']); ps = [a(1 << 20) for _ in range(3)]; "
            "[memory.release(p) for p in ps]; print(memory.cached_bytes())")
    env = dict(os.environ, FWDCOMPILE_BLOCK_CACHE_MB="2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert int(out) == 2 << 20  # two of the three blocks fit under 2 MB
    env["FWDCOMPILE_BLOCK_CACHE_MB"] = "0"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert int(out) == 0


def test_results_held_by_numpy_are_not_reused_while_alive():
    def f(a, b):
        return a * b + 1.0  # 2 MB results: cached sizes

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(512, 512)), rng.normal(size=(512, 512))
    g = forward_gradient(f, backend="llvm")
    kept = []
    for k in range(6):
        value, tangent = g.jvp(a, b + k, tangents=(np.ones_like(a), np.zeros_like(b)))
        kept.append((k, value, tangent))
        if k % 2:
            kept.pop(0)  # free some, so blocks go through the cache while others live
    for k, value, tangent in kept:
        np.testing.assert_array_equal(value, a * (b + k) + 1.0)
        np.testing.assert_array_equal(tangent, b + k)


def test_threads_allocate_and_free_at_once():
    alloc = _alloc()  # ctypes releases the GIL during the call: the threads overlap
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        live = []
        for _ in range(300):
            n = int(rng.choice([1 << 16, 1 << 17, 3 << 16, 1 << 20]))
            p = alloc(n)
            arr = np.ctypeslib.as_array((ctypes.c_uint8 * n).from_address(p))
            arr[:] = seed
            live.append((p, n, arr))
            if len(live) > 3 or rng.random() < 0.5:
                p, n, arr = live.pop(int(rng.integers(len(live))))
                if not (arr == seed).all():
                    errors.append(f"thread {seed}: a block changed while it was held")
                memory.release(p)
        for p, _, arr in live:
            if not (arr == seed).all():
                errors.append(f"thread {seed}: a block changed while it was held")
            memory.release(p)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert 0 <= memory.cached_bytes() <= memory.limit_bytes()
