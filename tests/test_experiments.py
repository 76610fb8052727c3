"""Smoke tests of the experiments: every one runs (tiny size) and writes its files."""

from __future__ import annotations

import base64
import io
import pathlib
import re
import sys

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("flax")
pytest.importorskip("sklearn")

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `experiments/` is run from the repository root
    sys.path.insert(0, str(ROOT))

import experiments  # noqa: E402
from experiments import _report, cli  # noqa: E402
from experiments._progress import Progress  # noqa: E402

PACKAGE = ROOT / "rmsprop_jax"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """All experiments at the tiny size, once for the module."""
    out = tmp_path_factory.mktemp("experiments")
    before = sorted(p.name for p in PACKAGE.rglob("*") if "__pycache__" not in p.parts)
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", stdout)
        mp.setattr("sys.stderr", stderr)
        assert cli.main(["--size", "tiny", "--out", str(out)]) == 0
    after = sorted(p.name for p in PACKAGE.rglob("*") if "__pycache__" not in p.parts)
    return out, stdout.getvalue(), stderr.getvalue(), before, after


@pytest.mark.slow  # every experiment, tiny size
def test_every_experiment_writes_its_figures(tiny_run):
    out, *_ = tiny_run
    markdown = (out / "report.md").read_text()
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", markdown)
    assert len(figures) >= 17
    for name in figures:
        data = (out / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5_000, name
    for name in experiments.EXPERIMENTS:
        assert f"## {experiments.load(name).TITLE}" in markdown, name


@pytest.mark.slow  # every experiment, tiny size
def test_report_has_a_verdict_for_every_claim_with_numbers(tiny_run):
    out, *_ = tiny_run
    markdown = (out / "report.md").read_text()
    for claim in _report.CLAIMS.values():
        rows = [line for line in markdown.splitlines() if claim in line]
        assert rows, claim
        for row in rows:
            verdict = row.split(" | ")[2]
            assert verdict.startswith(("holds", "does not hold")), row
            assert re.search(r"\d", row.split(" | ")[3]), row


@pytest.mark.slow  # every experiment, tiny size
def test_html_report_is_self_contained(tiny_run):
    out, *_ = tiny_run
    page = (out / "report.html").read_text()
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    pngs = list(out.glob("*.png"))
    assert len(images) == len(pngs)
    assert all(base64.b64decode(image).startswith(PNG) for image in images)
    assert "src='http" not in page and ".png'" not in page


@pytest.mark.slow  # every experiment, tiny size
def test_main_demo_prints_the_valley_table_and_verdicts(tiny_run):
    _, stdout, stderr, *_ = tiny_run
    assert "Elongated valley 3*w1^2 + 10*w2^2" in stdout
    assert "steps to loss < 0.001" in stdout
    assert "The claims about RMSprop" in stdout and "report.html" in stdout
    assert "100%" in stderr  # the progress bar reached the end


@pytest.mark.slow  # every experiment, tiny size
def test_summary_prints_each_claim_with_its_verdicts_and_settings(tiny_run):
    _, stdout, *_ = tiny_run
    summary = stdout[stdout.index("The claims about RMSprop") :]
    for claim, text in _report.CLAIMS.items():
        assert f"{claim}. {text}" in summary
    # Claims measured in two settings name each setting, and say why they differ
    # whenever the verdicts do.
    assert "an MLP on digits" in summary and "two-dimensional landscapes" in summary
    assert "saddle aligned with the axes" in summary and "turned by 45" in summary
    for block in summary.split("\n\n  ")[1:]:
        verdicts = {line.strip()[2:] for line in block.splitlines() if "- " in line}
        assert ("settings differ" in block) == (len(verdicts) > 1), block


def test_judge_names_the_conditions_under_which_a_claim_holds():
    judge = _report.judge
    assert judge({"a": True, "b": True}) == "holds"
    assert judge({"a": False}, detail="3 vs 4") == "does not hold: 3 vs 4"
    assert judge({"a": True, "b": False, "c": False}) == (
        "holds only when a, not when b or c"
    )
    assert judge({"x": False, "y": True}, parts=True) == (
        "holds only in part: y; but not: x"
    )
    with pytest.raises(ValueError, match="empty"):
        judge({})


def test_no_experiment_writes_its_own_training_loop():
    # Every experiment trains through rmsprop_jax.sweep (one call each).
    for path in (ROOT / "experiments").glob("*.py"):
        text = path.read_text()
        for loop in ("lax.scan", "jax.vmap", "fori_loop", "while_loop"):
            assert loop not in text, f"{path.name} uses {loop}"
        if path.stem in experiments.EXPERIMENTS and path.stem not in (
            "reproduce_worked_example",  # two steps by hand, as the digest does
        ):
            assert "sweep(" in text or "nx.tune" in text, path.name


@pytest.mark.slow  # every experiment, tiny size
def test_nothing_is_written_inside_the_library(tiny_run):
    *_, before, after = tiny_run
    assert before == after


def test_names_and_letters_resolve_in_run_order():
    assert experiments.resolve([]) == list(experiments.EXPERIMENTS)
    assert experiments.resolve(["g"]) == [
        "stall_adagrad",
        "escape_saddle",
        "start_steep",
    ]
    assert experiments.resolve(["train_mlp", "a"]) == ["compare_paths", "train_mlp"]
    with pytest.raises(ValueError, match="unknown experiment"):
        experiments.resolve(["nope"])


def test_cli_rejects_a_bad_expression_and_an_unknown_name(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["a", "--expression", "__import__('os')", "--out", str(tmp_path)])
    assert info.value.code == 2
    assert "not allowed at column 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["nope", "--out", str(tmp_path)])


def test_one_experiment_by_letter(tmp_path, capsys):
    assert cli.main(["b", "--size", "tiny", "--out", str(tmp_path)]) == 0
    markdown = (tmp_path / "report.md").read_text()
    assert "worked example" in markdown and "not measured in this run" in markdown
    assert not list(tmp_path.glob("paths_*.png"))


def test_progress_bar_without_a_terminal():
    stream = io.StringIO()
    progress = Progress(4, stream=stream, width=8)
    progress.advance("first")
    progress.advance("rest", 3)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[##......]   1/4  25%") and lines[0].endswith("first")
    assert lines[1].startswith("[########]   4/4 100%")


def test_report_escapes_html_and_markdown_pipes(tmp_path):
    section = _report.Section(
        "x", "<b>title</b>", "intro & more", [_report.Table("t", ["a|b"], [["<i>"]])]
    )
    _report.write_report([section], "pre", tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "&lt;b&gt;title&lt;/b&gt;" in page and "&lt;i&gt;" in page
    assert "a\\|b" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize(
    ("formula", "reason"),
    [("log(w1)", "not finite"), ("1", "constant"), ("w1*w2", "no minimum inside")],
)
def test_cli_rejects_a_formula_it_cannot_measure_before_running(
    formula, reason, tmp_path, capsys
):
    from experiments import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare_paths", "--expression", formula, "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"--expression: the formula '{formula}'" in err
    assert reason in err
