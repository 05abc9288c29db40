"""The command line: show, check, demo, and its errors."""

import textwrap

import pytest

from fwdcompile.__main__ import main


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "usermod.py"
    path.write_text(textwrap.dedent("""
        import numpy as np

        def loss(w, X):
            return np.sum(np.tanh(X @ w) ** 2)

        def squares(x, n):
            s = 0.0
            for i in range(n):
                s += x[i] * x[i]
            return s

        def bad(x):
            try:
                return x
            except ValueError:
                return 0.0
    """))
    return path


def test_show_prints_the_generated_source(user_file, capsys):
    assert main(["show", f"{user_file}:loss", "--wrt", "w"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("def loss_jvp(w, X, d_w):")
    assert "d_w" in out


def test_show_batched(user_file, capsys):
    assert main(["show", f"{user_file}:loss", "--wrt", "w", "--batched"]) == 0
    assert "def loss_jvp_batched(" in capsys.readouterr().out


def test_show_batched_says_when_vector_mode_runs_per_direction(tmp_path, capsys):
    path = tmp_path / "listmod.py"
    path.write_text("def f(x):\n    out = [x[0], x[1]]\n    return out[0] * out[1]\n")
    assert main(["show", f"{path}:f", "--batched"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "one JVP per direction" in captured.err


def test_check_reports_a_small_error(user_file, capsys):
    code = main(["check", f"{user_file}:loss", "--args", "(np.ones(3), np.eye(3))",
                 "--wrt", "w", "--points", "2"])
    out = capsys.readouterr().out
    assert code == 0
    worst = float(out.strip().splitlines()[-1].split(":")[1].split()[0])
    assert worst < 1e-6


def test_errors_go_to_stderr_with_status_1(user_file, capsys):
    assert main(["show", f"{user_file}:bad"]) == 1
    err = capsys.readouterr().err
    assert "try/except" in err and "^" in err


def test_missing_file_and_bad_target(tmp_path):
    with pytest.raises(SystemExit) as info:
        main(["show", f"{tmp_path}/nope.py:f"])
    assert info.value.code != 0
    with pytest.raises(SystemExit):
        main(["show", "no_colon_here"])


def test_demo_runs(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "def rosenbrock_jvp" in out and "central difference" in out


def test_no_command_is_usage_error(capsys):
    assert main([]) == 2


def test_check_on_the_native_backend(user_file, capsys):
    pytest.importorskip("llvmlite")
    code = main(["check", f"{user_file}:squares", "--args", "(np.linspace(0.1, 1, 4), 4)",
                 "--backend", "llvm", "--points", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert float(out.strip().splitlines()[-1].split(":")[1].split()[0]) < 1e-6


def test_show_native_ir_and_assembly(user_file, capsys):
    pytest.importorskip("llvmlite")
    target = f"{user_file}:squares"
    assert main(["show", target, "--backend", "llvm", "--signature", "float64[:]", "int"]) == 0
    assert "define void @squares_jvp(" in capsys.readouterr().out
    assert main(["show", target, "--backend", "llvm", "--signature", "float64[:]", "int",
                 "--asm"]) == 0
    assert "squares_jvp:" in capsys.readouterr().out


def test_show_native_needs_a_valid_signature(user_file, capsys):
    target = f"{user_file}:squares"
    assert main(["show", target, "--backend", "llvm"]) == 2
    assert "--signature" in capsys.readouterr().err
    assert main(["show", target, "--backend", "llvm", "--signature", "float16[:]", "int"]) == 2
    assert "'float64[:]'" in capsys.readouterr().err
