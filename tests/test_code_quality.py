"""The linter and the type checker, run as part of the test suite so that CI
and a contributor's `python -m pytest` check the same things (configuration:
[tool.ruff] and [tool.mypy] in pyproject.toml; both tools are in the `test`
extra)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(module, *args):
    pytest.importorskip(module)
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    return done.returncode, done.stdout + done.stderr


def test_ruff_finds_nothing():
    code, output = _run("ruff", "check", "fwdcompile", "tests", "benchmarks", "examples")
    assert code == 0, output


def test_the_public_api_type_checks():
    code, output = _run("mypy")
    assert code == 0, output
