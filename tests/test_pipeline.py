"""The pipeline as data (fwdcompile/pipeline.py): the stage list, the runner's
timings, FWDCOMPILE_DUMP, errors tagged with their stage, helper linking, and
the command line's ``show --timings`` / ``show --stage``.  No timing
thresholds: only that every stage that ran was timed."""

import inspect
import math
import pickle

import numpy as np
import pytest

import fwdcompile
from fwdcompile import pipeline
from fwdcompile.__main__ import main
from fwdcompile.errors import InternalError, NoDerivativeRule, UnsupportedSyntax

ORDER = ["parse", "desugar", "lift", "fence", "names", "resolve", "structures", "activity",
         "jvp", "lazy", "remove_dead", "forward_substitute", "reuse", "checks", "release",
         "defaults", "unparse", "load"]


def smooth_abs(t, eps):
    return math.sqrt(t * t + eps)


def with_helper(x, y, eps=0.001):
    total = 0.0
    for i in range(len(x)):
        total += smooth_abs(x[i] - y[i], eps)
    return total


def vector_fn(x, w):
    h = np.tanh(x * w)
    return np.sum(h * h)


def with_try(x):
    try:
        return x
    except ValueError:
        return 0.0


def no_rule(x):
    return np.frexp(x)[0] * x


@pytest.fixture(autouse=True)
def fresh():
    pipeline.clear_cache()
    yield
    pipeline.clear_cache()


def test_the_stages_in_order():
    assert [s.name for s in pipeline.STAGES] == ORDER
    assert pipeline.STAGES == pipeline.FRONT + pipeline.BACK
    assert [s.name for s in pipeline.FRONT] == ORDER[:5]
    for stage in pipeline.STAGES:
        assert stage.description and "\n" not in stage.description
        assert callable(stage.run)


def test_every_stage_that_applies_runs_and_is_timed():
    compiled = pipeline.compile_jvp(vector_fn, ("x",))
    assert list(compiled.timings) == [n for n in ORDER
                                      if n not in ("structures", "lazy", "reuse", "checks")]
    assert all(t >= 0.0 for t in compiled.timings.values())
    batched = pipeline.compile_jvp(vector_fn, ("x",), batched=True, check=True)
    # reuse: vector mode; checks: checking mode; structures: pytree parameters
    assert list(batched.timings) == [n for n in ORDER if n not in ("structures", "lazy")]


def test_helpers_are_timed_as_helpers():
    compiled = pipeline.compile_jvp(with_helper, ("x",))
    assert [h.name for h in compiled.helpers] == ["smooth_abs_jvp"]
    helper = compiled.helpers[0]
    assert "jvp" in helper.timings and "parse" in helper.timings
    assert set(helper.timings) <= set(compiled.helper_timings)  # compiled while its caller was
    total = compiled.all_timings
    assert total["jvp"] == pytest.approx(compiled.timings["jvp"] + compiled.helper_timings["jvp"])


def test_each_stage_can_be_run_alone():
    unit = pipeline.Unit(vector_fn, ("x",), "vector_fn_jvp")
    for stage in pipeline.STAGES:
        if stage.applies(unit):
            pipeline.run([stage], unit)
    assert list(unit.timings) == [n for n in ORDER
                                  if n not in ("structures", "lazy", "reuse", "checks")]
    x, w = np.array([0.3, -0.2]), np.array([1.5, 2.0])
    value, tangent = unit.compiled.fn(x, w, np.ones(2))
    assert value == pytest.approx(vector_fn(x, w))


def test_dump_prints_the_code_after_a_stage(monkeypatch, capsys):
    monkeypatch.setenv("FWDCOMPILE_DUMP", "jvp,forward_substitute")
    pipeline.compile_jvp(with_helper, ("x",))
    err = capsys.readouterr().err
    headers = [line for line in err.splitlines() if line.startswith("# ----")]
    assert headers == [
        f"# ---- fwdcompile: after {stage}: {__name__}.{fn} wrt={wrt} ----"
        for fn, wrt in (("smooth_abs", "t"), ("with_helper", "x"))
        for stage in ("jvp", "forward_substitute")]
    after_jvp = err.split(headers[2])[1].split(headers[3])[0]
    assert "def with_helper_jvp(" in after_jvp and "x_i = x[i]" in after_jvp
    assert "x_i = x[i]" not in err.split(headers[3])[1]  # forward substitution inlined it


def test_dump_all_and_the_front_stages(monkeypatch, capsys):
    monkeypatch.setenv("FWDCOMPILE_DUMP", "all")
    pipeline.compile_jvp(vector_fn, ("x",))
    err = capsys.readouterr().err
    for stage in ORDER:
        if stage in ("structures", "lazy", "reuse", "checks"):
            assert f"after {stage}:" not in err
        else:
            assert f"after {stage}: {__name__}.vector_fn" in err
    assert "# active (carry a tangent): h, x" in err


def test_dump_warns_about_an_unknown_stage(monkeypatch, capsys):
    monkeypatch.setenv("FWDCOMPILE_DUMP", "jvpp")
    with pytest.warns(UserWarning, match="unknown stage"):
        pipeline.compile_jvp(vector_fn, ("x",))
    assert capsys.readouterr().err == ""


def test_nothing_is_dumped_by_default(monkeypatch, capsys):
    monkeypatch.delenv("FWDCOMPILE_DUMP", raising=False)
    pipeline.compile_jvp(vector_fn, ("x",))
    assert capsys.readouterr().err == ""


def test_a_fence_error_carries_its_stage():
    with pytest.raises(UnsupportedSyntax) as info:
        fwdcompile.forward_gradient(with_try)
    assert info.value.stage == "fence"
    assert str(info.value).splitlines()[0].endswith("try/except is not supported")
    assert "fence" not in str(info.value)  # the message users see is unchanged
    again = pickle.loads(pickle.dumps(info.value))
    assert again.stage == "fence" and str(again) == str(info.value)


def test_a_missing_rule_carries_the_jvp_stage():
    with pytest.raises(NoDerivativeRule) as info:
        pipeline.compile_jvp(no_rule, ("x",))
    assert info.value.stage == "jvp"


def test_a_name_error_carries_the_names_stage(tmp_path, monkeypatch):
    path = tmp_path / "names_mod.py"
    path.write_text("def f(x):\n    return x * undefined_thing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import names_mod
    with pytest.raises(fwdcompile.NameResolutionError) as info:
        pipeline.check(names_mod.f)
    assert info.value.stage == "names"


def test_a_crash_becomes_an_internal_error_naming_its_stage(monkeypatch):
    def crash(*args, **kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(pipeline, "remove_dead", crash)
    with pytest.raises(InternalError) as info:
        pipeline.compile_jvp(vector_fn, ("x",))
    assert info.value.stage == "remove_dead"
    assert "remove_dead stage failed" in info.value.message
    assert "KeyError" in info.value.message
    assert info.value.lineno is not None  # points at the function's definition
    assert isinstance(info.value.__cause__, KeyError)


def fill(x, out):
    for i in range(len(x)):
        out[i] = x[i] * 2.0


def test_include_written_widens_wrt():
    assert pipeline.compile_jvp(fill, ("x",)).writes == ("out",)
    assert pipeline.compile_jvp(fill, ("x",)).wrt == ("x",)
    widened = pipeline.compile_jvp(fill, ("x",), include_written=True)
    assert widened.wrt == ("x", "out")
    assert widened.tangent_params == ("d_x", "d_out")


def test_linker_links_each_helper_once():
    compiled = pipeline.compile_jvp(with_helper, ("x",))
    assert compiled.source.count("def smooth_abs_jvp(") == 1
    x, y, dx = np.array([0.5, -1.0]), np.array([0.1, 0.2]), np.array([1.0, 2.0])
    value, tangent = compiled.fn(x, y, d_x=dx)
    h = 1e-6
    fd = (with_helper(x + h * dx, y) - with_helper(x - h * dx, y)) / (2 * h)
    assert value == pytest.approx(with_helper(x, y))
    assert tangent == pytest.approx(fd, rel=1e-6)


@pytest.fixture
def user_file(tmp_path):
    """A module file holding this file's ``smooth_abs`` and ``with_helper``
    (the command line loads functions from files)."""
    path = tmp_path / "pipemod.py"
    path.write_text("import math\n\n\n" + inspect.getsource(smooth_abs) + "\n\n"
                    + inspect.getsource(with_helper))
    return path


def test_cli_show_timings(user_file, capsys):
    assert main(["show", f"{user_file}:with_helper", "--wrt", "x", "--timings"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["stage", "this", "function", "helpers"]
    assert [line.split()[0] for line in lines[1:-1]] == ORDER
    assert "not run" in lines[1 + ORDER.index("reuse")]
    assert lines[-1].startswith("total") and "1 helper(s)" in lines[-1]


def test_cli_show_stage(user_file, capsys):
    assert main(["show", f"{user_file}:with_helper", "--wrt", "x", "--stage", "jvp"]) == 0
    out = capsys.readouterr().out
    assert "# ---- fwdcompile: after jvp: pipemod.with_helper wrt=x ----" in out
    assert "# ---- fwdcompile: after jvp: pipemod.smooth_abs wrt=t ----" in out
    assert "after remove_dead" not in out


def test_cli_show_stage_batched(user_file, capsys):
    assert main(["show", f"{user_file}:with_helper", "--wrt", "x", "--batched",
                 "--stage", "reuse"]) == 0
    assert "after reuse: pipemod.with_helper wrt=x batched" in capsys.readouterr().out


def test_cli_show_unknown_stage_is_a_usage_error(user_file, capsys):
    with pytest.raises(SystemExit) as info:
        main(["show", f"{user_file}:with_helper", "--stage", "nope"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
