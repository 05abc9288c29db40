"""Compiled native kernels kept on disk (fwdcompile/backends/llvm/disk_cache.py).

Each test gives the cache its own directory (``FWDCOMPILE_CACHE_DIR`` under
``tmp_path``) and compiles in fresh subprocesses, so what is measured is
what a second process finds: hits and misses are read from the cache's own
counters and ``f.llvm_timings``, never from wall time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("llvmlite")

ROOT = Path(__file__).resolve().parent.parent

ROSEN = """
import numpy as np

def f(x, a):
    return np.sum(a * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
"""

RUN = """
import json, sys
import numpy as np
sys.path.insert(0, {where!r})
from fwdcompile import forward_gradient
from fwdcompile.backends.llvm import disk_cache
import usermod

f = forward_gradient(usermod.f, wrt=["x"], backend="llvm")
x = np.linspace(-1.3, 1.1, {n})
dx = np.cos(np.arange({n}) * 0.7)
value, tangent = f.jvp(x, {a}, tangents=(dx,))
print(json.dumps({{"value": value.hex(), "tangent": tangent.hex(),
                  "cache": f.llvm_timings["cache"], "stats": disk_cache.STATS,
                  "steps": sorted(k for k in f.llvm_timings if k != "cache"),
                  "ir": "define void @f_jvp" in f.llvm_ir,
                  "asm": "f_jvp:" in f.llvm_asm}}))
"""


def run(tmp_path, cache_dir, source=ROSEN, n=7, a="100.0", **env):
    """One fresh process compiling ``f`` from ``source`` and calling its JVP."""
    (tmp_path / "usermod.py").write_text(textwrap.dedent(source))
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "FWDCOMPILE_CACHE_DIR": str(cache_dir),
               **env}
    environ.pop("FWDCOMPILE_CACHE", None) if "FWDCOMPILE_CACHE" not in env else None
    done = subprocess.run([sys.executable, "-c",
                           RUN.format(where=str(tmp_path), n=n, a=a)],
                          env=environ, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def kernel_files(cache_dir):
    return sorted(Path(cache_dir).rglob("*.kernel"))


def test_second_process_loads_the_kernel_and_gives_the_same_bits(tmp_path):
    cache = tmp_path / "cache"
    first = run(tmp_path, cache)
    assert first["cache"] == "miss" and first["stats"]["writes"] == 1
    assert "optimize" in first["steps"] and "codegen" in first["steps"]
    assert len(kernel_files(cache)) == 1
    assert oct(cache.stat().st_mode & 0o777) == oct(0o700)
    second = run(tmp_path, cache)
    assert second["cache"] == "hit" and second["stats"]["hits"] == 1
    assert second["stats"]["writes"] == 0
    # no LLVM optimization or code generation in the second process
    assert "optimize" not in second["steps"] and "codegen" not in second["steps"]
    assert "load object code" in second["steps"]
    assert (second["value"], second["tangent"]) == (first["value"], first["tangent"])
    assert second["ir"] and second["asm"]  # f.llvm_ir, f.llvm_asm from the stored IR


def test_changed_source_or_argument_types_miss(tmp_path):
    cache = tmp_path / "cache"
    assert run(tmp_path, cache)["cache"] == "miss"
    changed = ROSEN.replace("(1.0 - x[:-1]) ** 2", "(1.0 - x[:-1]) ** 2 + 0.0 * x[1:]")
    other = run(tmp_path, cache, source=changed)
    assert other["cache"] == "miss" and other["stats"]["hits"] == 0
    # `a` an int instead of a float: another signature, another kernel
    as_int = run(tmp_path, cache, a="100")
    assert as_int["cache"] == "miss" and as_int["stats"]["hits"] == 0
    assert len(kernel_files(cache)) == 3
    assert run(tmp_path, cache, a="100")["cache"] == "hit"


def test_a_corrupt_file_is_ignored_and_rewritten(tmp_path):
    cache = tmp_path / "cache"
    first = run(tmp_path, cache)
    (path,) = kernel_files(cache)
    good = path.read_bytes()
    for damaged in (good[:len(good) // 2], b"", good[:-10] + b"0123456789",
                    b"not a kernel at all"):
        path.write_bytes(damaged)
        again = run(tmp_path, cache)
        assert again["cache"] == "miss" and again["stats"]["rejected"] == 1
        assert (again["value"], again["tangent"]) == (first["value"], first["tangent"])
        assert path.read_bytes() == good  # rewritten whole
    assert run(tmp_path, cache)["cache"] == "hit"


def test_concurrent_processes(tmp_path):
    cache = tmp_path / "cache"
    (tmp_path / "usermod.py").write_text(textwrap.dedent(ROSEN))
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "FWDCOMPILE_CACHE_DIR": str(cache)}
    code = RUN.format(where=str(tmp_path), n=9, a="100.0")
    procs = [subprocess.Popen([sys.executable, "-c", code], env=environ, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert {(r["value"], r["tangent"]) for r in results} == \
        {(results[0]["value"], results[0]["tangent"])}
    assert len(kernel_files(cache)) == 1
    assert not [p for p in cache.rglob("*") if p.name.startswith(".tmp-")]
    assert run(tmp_path, cache, n=9)["cache"] == "hit"


def test_a_missing_parent_directory_is_made(tmp_path):
    assert run(tmp_path, tmp_path / "not" / "yet" / "there")["cache"] == "miss"
    assert len(kernel_files(tmp_path / "not")) == 1


def test_cache_off_writes_nothing(tmp_path):
    cache = tmp_path / "cache"
    off = run(tmp_path, cache, FWDCOMPILE_CACHE="0")
    assert off["cache"] == "off" and not cache.exists()
    assert off["stats"] == {k: 0 for k in off["stats"]}


def test_clear_and_info(tmp_path, monkeypatch):
    from fwdcompile import clear_cache
    from fwdcompile.__main__ import main
    from fwdcompile.backends.llvm import disk_cache

    cache = tmp_path / "cache"
    run(tmp_path, cache)
    monkeypatch.setenv("FWDCOMPILE_CACHE_DIR", str(cache))
    assert disk_cache.info()["files"] == 1
    assert main(["cache", "info"]) == 0
    clear_cache(disk=True)
    assert kernel_files(cache) == [] and disk_cache.info()["files"] == 0
    run(tmp_path, cache)
    assert main(["cache", "clear"]) == 0 and kernel_files(cache) == []


def test_directory_defaults_and_switch(monkeypatch, tmp_path):
    from fwdcompile.backends.llvm import disk_cache

    monkeypatch.delenv("FWDCOMPILE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert disk_cache.directory() == tmp_path / "xdg" / "fwdcompile"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert disk_cache.directory() == tmp_path / "home" / ".cache" / "fwdcompile"
    for off in ("0", "off", "false", "no"):
        monkeypatch.setenv("FWDCOMPILE_CACHE", off)
        assert disk_cache.directory() is None


def test_unwritable_directory_is_not_an_error(tmp_path, monkeypatch):
    from fwdcompile.backends.llvm import disk_cache

    blocker = tmp_path / "file"
    blocker.write_text("a file where the directory should be")
    monkeypatch.setenv("FWDCOMPILE_CACHE_DIR", str(blocker))
    assert disk_cache.lookup("0" * 64) is None
    disk_cache.store("0" * 64, b"object", "ir")  # silently not written
    assert blocker.read_text().startswith("a file")


def test_size_bound_evicts_least_recently_used(tmp_path, monkeypatch):
    from fwdcompile.backends.llvm import disk_cache

    monkeypatch.setenv("FWDCOMPILE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("FWDCOMPILE_CACHE_MAX_MB", str(3000 / 2 ** 20))
    keys = [f"{k:064x}" for k in range(4)]
    for k in keys:
        disk_cache.store(k, b"x" * 1000, "")
        os.utime(disk_cache._path(tmp_path, k), (1e9 + int(k, 16),) * 2)
    # about 1.2 kB a file: two fit; the oldest went first
    assert {p.stem for p in kernel_files(tmp_path)} == set(keys[-2:])
    assert disk_cache.lookup(keys[-1]) == (b"x" * 1000, "")


def test_relocatable_names_known_objects_only():
    import numpy as np

    from fwdcompile.backends.llvm import disk_cache

    text = (f"icmp eq i8* %t, inttoptr (i64 {id(np.ndarray)} to i8*)\n"
            f"icmp eq i8* %k, inttoptr (i64 {id(sys.intern('tangents'))} to i8*)")
    out, symbols, portable = disk_cache.relocatable(text, ["tangents"])
    assert portable and str(id(np.ndarray)) not in out
    assert symbols["fwdc.obj.numpy.ndarray"] == id(np.ndarray)
    assert symbols["fwdc.str." + b"tangents".hex()] == id(sys.intern("tangents"))
    stranger = object()
    _, _, portable = disk_cache.relocatable(f"inttoptr (i64 {id(stranger)} to i8*)")
    assert not portable


SAMPLER = """
import hashlib, json
from fwdcompile import sampling
from fwdcompile.backends.llvm import disk_cache
normal, = sampling.directions(3, 1, [(4099,)])
signs, = sampling.directions(3, 1, [(4099,)], distribution="rademacher")
native = sampling._kernel() is not None
print(json.dumps({"digest": hashlib.sha256(normal.tobytes() + signs.tobytes()).hexdigest(),
                  "native": native, "stats": disk_cache.STATS}))
"""


def test_direction_sampler_is_cached_too(tmp_path):
    environ = {**os.environ, "PYTHONPATH": str(ROOT),
               "FWDCOMPILE_CACHE_DIR": str(tmp_path / "cache")}
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", SAMPLER], env=environ, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    first, second = runs
    if not first["native"]:
        pytest.skip("no native sampler on this machine")
    assert first["stats"]["writes"] == 1 and second["stats"]["hits"] == 1
    assert second["digest"] == first["digest"]
