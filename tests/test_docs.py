"""The documentation: every page in the navigation exists, every relative
link and image resolves, the generated benchmark tables agree, and (when
MkDocs is installed, `pip install ".[docs]"`) the site builds strictly."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]


def _nav_files():
    text = (ROOT / "mkdocs.yml").read_text()
    return re.findall(r"^\s*-\s*[^:]+:\s*(\S+\.md)\s*$", text, re.M)


def test_every_page_is_in_the_navigation_and_exists():
    nav = _nav_files()
    assert nav, "mkdocs.yml lists no pages"
    for name in nav:
        assert (DOCS / name).exists(), name
    assert sorted(nav) == sorted(p.name for p in DOCS.glob("*.md"))


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_resolve(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # not inside code
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://|#|mailto:", target):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{page.name}: {target}"


def _suite_table(page):
    text = page.read_text()
    return text.split("<!-- suite:start -->", 1)[1].split("<!-- suite:end -->", 1)[0]


def test_the_generated_suite_tables_agree():
    assert _suite_table(ROOT / "README.md") == _suite_table(DOCS / "benchmarks.md")
    results = (ROOT / "benchmarks" / "results" / "suite.md").read_text().strip()
    assert _suite_table(ROOT / "README.md").strip() == results


def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                           "-d", str(tmp_path / "site")], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_getting_started_page_runs_and_shows_the_source_it_prints(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / "index.md").read_text(), re.S)
    first, shown, native = blocks[0], blocks[1], blocks[2]
    script = tmp_path / "getting_started.py"  # a file: fwdcompile reads source
    script.write_text(first + native + "\nprint(fast.jvp(x, tangents=(v,)) == "
                      "tuple(map(float, rosen.jvp(x, tangents=(v,)))))\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert shown.strip() in done.stdout
    assert done.stdout.strip().endswith("True")


def test_how_it_works_lists_the_pipeline_stages_in_their_order():
    from fwdcompile.pipeline import STAGES

    text = (DOCS / "how-it-works.md").read_text()
    table = text.split("<!-- stages:", 1)[1].split("\n\n", 2)[1]
    rows = [line for line in table.splitlines() if line.startswith("|")][2:]
    assert [row.split("|")[1].strip() for row in rows] == [s.name for s in STAGES]


_GENERATE = "import sys; {hide}from fwdcompile.rules import doc; sys.stdout.write(doc.generate())"


@pytest.mark.parametrize("scipy", ["installed if it is", "hidden"])
def test_the_rule_list_of_rules_md_is_generated_from_the_registry(scipy):
    """docs/rules.md's rule list is `python -m fwdcompile.rules.doc`'s output,
    with scipy and (simulated) without it: the scipy rules are listed from
    their table, the same either way.  Run in a subprocess: rules other tests
    register (test_resolve's fixtures) must not leak into the list."""
    hide = "sys.modules['scipy'] = None; " if scipy == "hidden" else ""
    done = subprocess.run([sys.executable, "-c", _GENERATE.format(hide=hide)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    text = (DOCS / "rules.md").read_text()
    start, end = "<!-- rules:start -->", "<!-- rules:end -->"
    section = start + text.split(start, 1)[1].split(end, 1)[0] + end + "\n"
    assert done.stdout == section, \
        "docs/rules.md is stale: run python -m fwdcompile.rules.doc --update docs/rules.md"


def test_the_scipy_table_is_what_the_registry_holds():
    pytest.importorskip("scipy")
    from fwdcompile.rules import scipy_fns
    from fwdcompile.rules.registry import _BUILTIN

    registered = sorted(r.name for r in _BUILTIN.values() if r.name.startswith("scipy."))
    assert registered == sorted(row[1] for row in scipy_fns.TABLE)
