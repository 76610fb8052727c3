"""Smoke tests of the experiments: every one runs (tiny size) and writes its files;
the external section's measurements against independent references."""

from __future__ import annotations

import base64
import io
import json
import pathlib
import re
import sys

import jax
import numpy as np
import pytest
from helpers import count_compilations

pytest.importorskip("matplotlib")
pytest.importorskip("flax")
pytest.importorskip("sklearn")

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `experiments/` is run from the repository root
    sys.path.insert(0, str(ROOT))

import references as ref  # noqa: E402

import experiments  # noqa: E402
from experiments import _report, _stats, cli  # noqa: E402
from experiments._progress import Progress  # noqa: E402
from experiments.external import (  # noqa: E402
    adding,
    counterexample,
    deepobs,
    libfann,
    proben1,
)

PACKAGE = ROOT / "rmsprop_jax"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """All experiments at the tiny size, once for the module."""
    out = tmp_path_factory.mktemp("experiments")
    before = sorted(p.name for p in PACKAGE.rglob("*") if "__pycache__" not in p.parts)
    stdout, stderr = io.StringIO(), io.StringIO()
    with count_compilations() as compiled, pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", stdout)
        mp.setattr("sys.stderr", stderr)
        assert cli.main(["--size", "tiny", "--no-cache", "--out", str(out)]) == 0
    after = sorted(p.name for p in PACKAGE.rglob("*") if "__pycache__" not in p.parts)
    return out, stdout.getvalue(), stderr.getvalue(), len(compiled), before, after


@pytest.mark.slow  # every experiment, tiny size
def test_the_demo_compiles_a_program_per_sweep_not_per_operation(tiny_run):
    """Every experiment compiles its sweep and a few whole jitted functions
    (21 programs for --quick); applied op by op, jnp compiles a program per
    operation and shape (the demo compiled 109 that way). Fewer here where an
    earlier test of this process compiled one already."""
    _, _, _, compiled, *_ = tiny_run
    assert compiled <= 25


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
    # Every experiment trains through rmsprop_jax.sweep (one call each), itself
    # or through a helper of experiments/_numerics.py that makes that call.
    for path in (ROOT / "experiments").glob("*.py"):
        text = path.read_text()
        for loop in ("lax.scan", "jax.vmap", "fori_loop", "while_loop"):
            assert loop not in text, f"{path.name} uses {loop}"
        if path.stem in experiments.EXPERIMENTS and path.stem not in (
            "reproduce_worked_example",  # two steps by hand, as the digest does
        ):
            calls = ("sweep(", "nx.tune", "nx.replay(")
            assert any(call in text for call in calls), path.name


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
        argv = ["a", "--expression", "__import__('os')", "--no-cache"]
        cli.main([*argv, "--out", str(tmp_path)])
    assert info.value.code == 2
    assert "not allowed at column 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["nope", "--no-cache", "--out", str(tmp_path)])


def test_one_experiment_by_letter(tmp_path, capsys):
    assert cli.main(["b", "--size", "tiny", "--no-cache", "--out", str(tmp_path)]) == 0
    markdown = (tmp_path / "report.md").read_text()
    assert "worked example" in markdown and "not measured in this run" in markdown
    assert not list(tmp_path.glob("paths_*.png"))


@pytest.mark.slow  # two processes, each importing jax and matplotlib
def test_a_second_run_reads_its_programs_from_the_cache(tmp_path):
    """The persistent compilation cache: the first run of a size compiles and
    writes its programs, a second run of the same size reads every one back
    and measures the same numbers."""
    import subprocess

    def run(out: str) -> tuple[str, str]:
        argv = ["b", "--size", "tiny", "--cache-dir", str(tmp_path / "cache")]
        done = subprocess.run(
            [sys.executable, "-m", "experiments", *argv, "--out", str(tmp_path / out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        lines = (tmp_path / out / "report.md").read_text().splitlines()
        timed = [line for line in lines if line.startswith("Run size")]
        assert len(timed) == 1  # the preamble, with the run's seconds
        return done.stdout, [line for line in lines if line not in timed]

    first, first_report = run("first")
    second, second_report = run("second")
    counts = [
        re.search(r"(\d+) of (\d+) compiled programs read from the cache", text)
        for text in (first, second)
    ]
    assert counts[0] and counts[1], (first, second)
    hits, requests = (int(x) for x in counts[0].groups())
    assert hits < requests  # (a program the run compiles twice is read back)
    hits, requests = (int(x) for x in counts[1].groups())
    assert hits == requests > 0
    assert any((tmp_path / "cache").iterdir())
    assert first_report == second_report


@pytest.mark.slow  # compiles (a)'s sweep unless the tiny run did in this process
def test_a_quick_run_draws_some_landscapes_and_measures_every_one(tmp_path):
    """What (a) leaves undrawn (the quick size's saving) is still measured: a
    line per landscape with its figure's caption, the tables, the verdicts."""
    import dataclasses

    from experiments import compare_paths
    from experiments._context import Context

    ctx = Context(tmp_path, "tiny", Progress(0, stream=io.StringIO()))
    s = dataclasses.replace(compare_paths.setup(ctx), drawn=("valley",))
    section = compare_paths.judge(ctx, s, compare_paths.measure(ctx, s))
    figures = [b for b in section.blocks if isinstance(b, _report.Figure)]
    assert [f.filename for f in figures] == ["paths_valley.png"]
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["paths_valley.png"]
    lines = [b for b in section.blocks if isinstance(b, str)]
    undrawn = [land for land in s.lands if land.name != "valley"]
    assert len(lines) == len(undrawn) > 0
    for land, line in zip(undrawn, lines, strict=True):
        assert land.description in line and "not drawn" in line
    assert "draws the paths on valley only" in section.intro
    rows = [b for b in section.blocks if isinstance(b, _report.Table)][0].rows
    assert [row[0] for row in rows] == [land.name for land in s.lands]
    assert [v.claim for v in section.verdicts] == [2, 1]


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
        argv = ["compare_paths", "--expression", formula, "--no-cache"]
        cli.main([*argv, "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"--expression: the formula '{formula}'" in err
    assert reason in err


# --- item 4: Hinton's counterexample, exact numbers ----------------------------------


def _reference_moves() -> dict[str, float]:
    """The net move over the ten batches, from the hand-written float64 rules."""
    lr = counterexample.LR
    rules = {
        "sgd": lambda: None,
        "momentum": lambda: ref.Momentum(0.9),
        "adagrad": lambda: ref.Squares(0.0, 1e-10),
        "rmsprop": lambda: ref.Rms(0.9, 1e-8),
        "rmsprop_decay0.99": lambda: ref.Rms(0.99, 1e-8),
        "adam": lambda: ref.Adam(0.9, 0.999, 1e-8),
    }
    moves = {}
    for name, make in rules.items():
        rule, w = make(), np.zeros(1)
        for g in counterexample.CYCLE:
            step = np.array([g]) if rule is None else rule.update(np.array([g]))
            w = w - lr * step
        moves[name] = float(w[0])
    for variant in ("rprop+", "rprop-", "irprop+", "irprop-"):
        rule, w = ref.Rprop(variant, lr, 0.5, 1.2, 1e-6, 50.0), np.zeros(1)
        for g in counterexample.CYCLE:
            w = w - rule.update(np.array([g]), value=float(g * w[0]))
        moves[variant] = float(w[0])
    return moves


def test_counterexample_net_moves_are_the_float64_rules_exactly():
    measured, ws = counterexample.measure(cycles=2)
    expected = _reference_moves()
    assert list(measured) == list(expected)
    for name, value in expected.items():
        assert measured[name] == {
            "net_move": pytest.approx(value, rel=1e-12, abs=1e-18)
        }
        assert ws[name].shape == (21,)
    # SGD: the gradients sum to 0 (float64 rounding only); Rprop by hand:
    # one step of 0.01, eight grown steps 0.01 * 1.2^k, then per variant.
    assert abs(measured["sgd"]["net_move"]) < 1e-15
    grown = 0.01 * sum(1.2**k for k in range(9))
    assert measured["irprop-"]["net_move"] == pytest.approx(-grown, rel=1e-12)
    assert measured["rprop-"]["net_move"] == pytest.approx(
        -grown + 0.01 * 1.2**8 * 0.5, rel=1e-12
    )
    assert measured["rprop+"]["net_move"] == pytest.approx(
        -grown + 0.01 * 1.2**8, rel=1e-12
    )
    assert measured["irprop+"]["net_move"] == measured["rprop+"]["net_move"]


# --- item 1: DeepOBS quadratic_deep ---------------------------------------------------


def test_quadratic_deep_is_deepobs_definition():
    q = deepobs.hessian()
    rng = np.random.RandomState(42)  # the draws DeepOBS makes, in its order
    eigenvalues = np.concatenate([rng.uniform(0, 1, 90), rng.uniform(30, 60, 10)])
    np.testing.assert_allclose(q, q.T, atol=1e-12)
    np.testing.assert_allclose(
        np.sort(np.linalg.eigvalsh(q)), np.sort(eigenvalues), rtol=1e-10
    )
    # The rotation continues the same generator: its first draw is the angle.
    t = 2 * np.pi * rng.uniform()
    assert 0 <= t < 2 * np.pi
    train, test = deepobs.data()
    assert train.dtype == np.float32 and train.shape == (1000, 100)
    np.testing.assert_array_equal(
        train, np.float32(np.random.RandomState(42).normal(0, 0.6, (1000, 100)))
    )
    np.testing.assert_array_equal(
        test, np.float32(np.random.RandomState(43).normal(0, 0.6, (1000, 100)))
    )


def _per_point_test_loss(q, test, theta) -> float:
    x = np.asarray(test[:896], np.float64)
    d = theta - x
    return float(np.mean(0.5 * np.einsum("bi,ij,bj->b", d, q, d)))


def test_quadratic_deep_test_loss_at_epoch_0_is_the_published_353_45():
    q = deepobs.hessian()
    _, test = deepobs.data()
    loss = deepobs.test_loss(q, test)
    theta = np.ones(100)
    assert round(_per_point_test_loss(q, test, theta), 2) == deepobs.PUBLISHED[0]
    other = np.random.default_rng(0).normal(size=100)
    for point in (theta, other):
        assert float(loss(np.float32(point))) == pytest.approx(
            _per_point_test_loss(q, test, point), rel=2e-6
        )


def test_sgd_baseline_first_epochs_match_a_numpy_run_on_the_same_batches():

    from rmsprop_jax.sweep import batch_plan

    epochs, seeds = 3, 2
    measured, _ = deepobs.measure(seeds, epochs, np.array([1e-2]), [0.9])
    curve = np.asarray(measured["sgd"]["test_loss"])  # (epochs + 1, seeds)
    assert curve.shape == (epochs + 1, seeds)
    q = deepobs.hessian()
    train, test = deepobs.data()
    steps = epochs * deepobs.STEPS_PER_EPOCH
    plan = batch_plan(jax.random.key(0), seeds, 1000, steps, deepobs.BATCH)
    for s in range(seeds):
        theta = np.ones(100)
        expected = [_per_point_test_loss(q, test, theta)]
        for t in range(steps):
            x = np.asarray(train[plan[s, t]], np.float64)
            theta = theta - deepobs.SGD_LR * (q @ (theta - x).T).mean(axis=1)
            if (t + 1) % deepobs.STEPS_PER_EPOCH == 0:
                expected.append(_per_point_test_loss(q, test, theta))
        np.testing.assert_allclose(curve[:, s], expected, rtol=2e-5)
    assert curve[1].mean() < 0.35 * curve[0].mean()  # it learns in one epoch


# --- items 3 and 5: the adding problem's data, FANN's files -----------------------------


def test_adding_problem_sequences_have_one_marker_per_half_and_sum_them():
    x, y = adding.sequences(200, 50, seed=3)
    assert x.shape == (200, 50, 2) and y.shape == (200,)
    markers = x[..., 1]
    assert (markers[:, :25].sum(1) == 1).all() and (markers[:, 25:].sum(1) == 1).all()
    np.testing.assert_allclose(y, (x[..., 0] * markers).sum(1), rtol=1e-6)
    # The baseline: always answering 1 has MSE 1/6 (two uniforms' variance).
    _, y_many = adding.sequences(200_000, 50, seed=4)
    assert np.mean((y_many - 1) ** 2) == pytest.approx(1 / 6, rel=0.01)


@pytest.mark.skipif(not proben1.available(), reason="Debian's libfann-doc is missing")
def test_fann_parity8_file_is_read_as_the_parity_of_its_inputs():
    x, y = proben1.read(proben1.FOLDER / "parity8.train")
    assert x.shape == (256, 8) and y.shape == (256, 1)
    np.testing.assert_array_equal(y[:, 0], x.sum(1) % 2)


def test_fann_reader_rejects_a_file_shorter_than_its_header(tmp_path):
    path = tmp_path / "short.train"
    path.write_text("2 2 1\n0 1\n1\n")
    with pytest.raises(ValueError, match="announces 2 samples"):
        proben1.read(path)


# --- statistics -------------------------------------------------------------------------


def test_interval_is_students_t():
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    i = _stats.interval(x)
    half = 2.7764451051977987 * np.std(x, ddof=1) / np.sqrt(5)  # t(0.975, 4)
    assert (i.mean, i.low, i.high, i.n) == pytest.approx((3.0, 3 - half, 3 + half, 5))
    assert _stats.interval([2.0]).high == np.inf


def test_verdicts_come_from_the_interval_of_the_difference():
    low, high = [1.0, 1.1, 0.9, 1.0, 1.05], [2.0, 2.1, 1.9, 2.0, 2.2]
    assert _stats.better(low, high, lower_is_better=True).startswith("holds")
    assert _stats.better(high, low, lower_is_better=True).startswith("does not hold:")
    noisy = [0.0, 3.0, -1.0, 2.5, 1.4]
    assert "no resolved difference" in _stats.better(
        noisy, [1.0, 1.1, 0.9, 1.0, 1.0], lower_is_better=True
    )


def test_threshold_verdicts_say_when_the_interval_straddles_the_threshold():
    high, low = [2.0, 2.1, 1.9, 2.05, 2.0], [0.2, 0.3, 0.25, 0.1, 0.2]
    assert _stats.beyond(high, 1.0, above=True).startswith("holds: mean 2.01 [")
    assert _stats.beyond(low, 1.0, above=True).startswith("does not hold: ")
    assert _stats.beyond(low, 1.0, above=False).startswith("holds: ")
    noisy = _stats.beyond([0.5, 1.5, 0.9, 1.4, 0.8], 1.0, above=True, unit="starts")
    assert noisy.startswith("does not hold at 95 % (not resolved: the interval")
    assert "(95 %, 5 starts) against 1" in noisy
    # One value has no interval: never resolved.
    assert "straddles" in _stats.beyond([3.0], 1.0, above=True)


def test_mlp_verdicts_come_from_intervals_over_seeds():
    from experiments import train_mlp

    lrs = np.logspace(-4, 1, 4)
    seeded = {  # final train loss (seeds, lrs)
        "sgd": np.array([[1.0, 0.05, 2.0, np.inf]] * 5),
        "rmsprop": np.array([[0.05, 0.05, 0.08, 3.0]] * 4 + [[0.05, 0.05, 0.2, 3.0]]),
        "rprop": np.full((5, 4), 2.0) + np.arange(5)[:, None] * 0.01,
    }
    works = {n: seeded.get(n, seeded["sgd"])[0] <= 0.1 for n in train_mlp.ALL}
    s = train_mlp.Setup(3, lrs, 5)
    one, six = train_mlp._verdicts(s, seeded, works)
    assert one.claim == 1 and one.verdict.startswith("holds: difference")
    assert "5 seeds" in one.evidence and "rmsprop 0.70 [" in one.evidence
    assert six.claim == 6 and six.verdict.startswith("holds: log10")


# --- the section end to end --------------------------------------------------------------


@pytest.mark.slow
def test_external_section_writes_the_schema(tmp_path):
    from experiments import cli

    argv = ["--only", "external", "--size", "tiny", "--no-cache"]
    assert cli.main([*argv, "--out", str(tmp_path)]) == 0
    document = json.loads((tmp_path / "external.json").read_text())
    assert list(document) == [
        "deepobs_quadratic_deep",
        "mnist1d",
        "adding_problem",
        "minibatch_counterexample",
        "proben1",
    ]
    quad = document["deepobs_quadratic_deep"]
    assert quad["sgd"]["learning_rate"] == 0.01585
    assert set(quad["sgd"]) == {"learning_rate", "test_loss"}
    for name in ("rmsprop", "adagrad", "momentum", "adam"):
        assert set(quad[name]) == {"learning_rate", "decay", "test_loss"}
    assert quad["adagrad"]["decay"] is None
    seeds = len(quad["sgd"]["test_loss"][0])
    assert all(len(epoch) == seeds for epoch in quad["rmsprop"]["test_loss"])
    mnist = document["mnist1d"]
    assert set(mnist["logistic"]) == {
        "test_accuracy",
        "optimizer",
        "learning_rate",
        "steps",
    }
    for name, entry in mnist.items():
        if name != "logistic":
            assert set(entry) == {"test_accuracy", "learning_rate", "steps"}, name
    for entry in document["minibatch_counterexample"].values():
        assert set(entry) == {"net_move"}
    adding = document["adding_problem"]
    assert adding["baseline_mse"] == pytest.approx(1 / 6)
    assert adding["rmsprop_clip"]["clip"] == 1.0 and adding["rmsprop"]["clip"] is None
    for sets in document["proben1"].values():
        for entry in sets.values():
            assert set(entry) == {"epochs_to_target"}
    markdown = (tmp_path / "report.md").read_text()
    assert "## (x) Against other people's benchmarks" in markdown
    for name in (
        "external_counterexample.png",
        "external_deepobs_quadratic_deep.png",
        "external_mnist1d_lr.png",
        "external_adding_problem.png",
        "external_further_claims.png",
        *(["external_libfann.png"] if libfann.available() else []),
    ):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG"), name
    if libfann.available():
        assert "FANN's own C iRprop- (Debian's libfann2 2.2.0)" in markdown


def test_the_default_cache_directory_is_read_from_jax_or_the_shared_one(tmp_path):
    # `python -m experiments` without --cache-dir / --no-cache: JAX's own
    # setting where one is made, else the directory the explorer shares.

    from experiments import cli
    from rmsprop_jax import compilation_cache

    before = jax.config.jax_compilation_cache_dir
    try:
        jax.config.update("jax_compilation_cache_dir", None)
        assert cli._configured_cache() == compilation_cache.default_directory()
        jax.config.update("jax_compilation_cache_dir", str(tmp_path))
        assert cli._configured_cache() == tmp_path
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
