"""compare: a fair study whose files agree with each run's own analysis, and that resumes."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from manifold_cae import ConfigError, load_dataset, load_model
from manifold_cae.cli import main
from manifold_cae.compare import StudyConfig, plan, run_study, study_report
from manifold_cae.config import AnalysisConfig, ArchitectureConfig, ObjectiveConfig, TrainConfig
from manifold_cae.probe import linear_probe_accuracy
from manifold_cae.report import load_analysis
from manifold_cae.runs import split

TINY_ANALYSIS = AnalysisConfig(points=40, store_points=5, contraction_points=20, n_radii=5)
TINY = dict(
    architecture=ArchitectureConfig(hidden=(8,)),
    objective=ObjectiveConfig(lam=0.1),  # lam auto has its own tests (test_lam_search.py)
    training=TrainConfig(epochs=2, batch_size=64),
    analysis=TINY_ANALYSIS,
)


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    study = StudyConfig(
        data="swiss-roll:n_samples=200", models=("ae", "dae", "cae"), seeds=(0, 1), **TINY
    )
    messages: list[str] = []
    result = run_study(study, out, progress=False, log=messages.append)
    return study, out, result, messages


def test_every_file_is_written(study_dir):
    _, out, result, _ = study_dir
    names = [f"{m}-s{s}" for m in ("ae", "dae", "cae") for s in (0, 1)]
    for name in names:
        assert (out / "runs" / name / "model.safetensors").is_file()
        for f in ("summary.json", "points.csv", "spectra.npz", "report.md", "metrics.json"):
            assert (out / "analysis" / name / f).is_file(), (name, f)
    assert (out / "report.md").is_file() and (out / "comparison.json").is_file()
    figs = {p.name for p in (out / "figures").iterdir()}
    assert {"contraction.png", "count_histogram.png", "saturation.png"} <= figs
    assert "spectrum.png" not in figs  # three singular values belong in the report's table
    assert {"tangent_field_cae.png", "angles_cae.png"} <= figs
    assert len(result.figures) == len(figs)


def test_rows_agree_with_per_run_summaries(study_dir):
    _, out, _, _ = study_dir
    comp = json.loads((out / "comparison.json").read_text())
    assert [(r["model"], r["seed"]) for r in comp["runs"]] == [
        (m, s) for m in ("ae", "dae", "cae") for s in (0, 1)
    ]
    for row in comp["runs"]:
        summary = load_analysis(out / "analysis" / row["name"]).summary
        assert row["frobenius_mean"] == summary.norms.frobenius.mean
        assert row["sat_percent"] == pytest.approx(100 * summary.saturation.mean_fraction)
        assert row["count_mean"] == summary.count.mean
        assert row["angle_mean"] == summary.angles.cae.mean
        assert row["contraction_large"] == summary.contraction.ratios[-1]
        hist = json.loads((out / "runs" / row["name"] / "history.json").read_text())["epochs"]
        assert row["held_out_reconstruction"] == hist[-1]["held_out_reconstruction"]
        assert summary.provenance.data.split == "held-out"
    # aggregate = mean and std over the two seeds
    for agg in comp["models"]:
        vals = [r["frobenius_mean"] for r in comp["runs"] if r["model"] == agg["model"]]
        assert agg["frobenius_mean"]["mean"] == pytest.approx(np.mean(vals))
        assert agg["frobenius_mean"]["std"] == pytest.approx(np.std(vals))
        assert agg["n_seeds"] == 2
    report = (out / "report.md").read_text()
    assert "## What it shows" in report and "| cae |" in report and "| dae |" in report


def test_report_names_the_points_each_run_analysed(study_dir):
    """The report says how many points were analysed, not how many were asked for."""
    study, _, result, _ = study_dir
    assert {r["n_points"] for r in result.rows} == {40}  # 20 % of 200 rows held out
    asked_more = dataclasses.replace(
        study, analysis=dataclasses.replace(study.analysis, points=1000)
    )
    report = study_report(asked_more, result)
    assert "; 40 held-out points analysed per run." in report
    assert "1000" not in report


def test_fair_setup_same_initialisation_and_split(study_dir):
    """Models of one seed start from the same weights; only the objective differs."""
    from manifold_cae.checkpoint import load_checkpoint
    from manifold_cae.train import init_model

    _, out, _, _ = study_dir
    cfgs = {m: load_checkpoint(out / "runs" / f"{m}-s0").config for m in ("ae", "dae", "cae")}
    for m in ("dae", "cae"):
        assert cfgs[m].model == cfgs["ae"].model
        assert cfgs[m].training == cfgs["ae"].training
        searched = {k: v for k, v in cfgs[m].data.items() if k != "lam_search"}  # lam auto
        assert searched == cfgs["ae"].data
        assert cfgs[m].objective.kind == m
    a, b = init_model(cfgs["ae"]), init_model(cfgs["cae"])
    assert all((p == q).all() for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_rerun_skips_complete_runs(study_dir):
    study, out, result, _ = study_dir
    before = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("model.safetensors")}
    messages: list[str] = []
    again = run_study(study, out, progress=False, log=messages.append, figures=False)
    assert sum("skipped (complete), analysis reused" in m for m in messages) == 6
    after = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("model.safetensors")}
    assert before == after
    assert again.rows == result.rows


def test_interrupted_run_is_resumed(tmp_path):
    study = StudyConfig(data="swiss-roll:n_samples=200", models=("ae", "cae"), seeds=(0,), **TINY)
    run_study(study, tmp_path, progress=False, log=lambda m: None, figures=False)
    longer = dataclasses.replace(study, training=TrainConfig(epochs=3, batch_size=64))
    messages: list[str] = []
    run_study(longer, tmp_path, progress=False, log=messages.append, figures=False)
    assert all("resumed" in m for m in messages), messages
    hist = json.loads((tmp_path / "runs" / "cae-s0" / "history.json").read_text())["epochs"]
    assert len(hist) == 3


def test_probe_accuracy_matches_sklearn_on_labelled_data(tmp_path):
    study = StudyConfig(data="digits", models=("ae", "cae"), seeds=(0,), **TINY)
    result = run_study(study, tmp_path, progress=False, log=lambda m: None, figures=False)
    ds = load_dataset("digits")
    from manifold_cae.checkpoint import load_checkpoint

    for row in result.rows:
        ckpt = load_checkpoint(tmp_path / "runs" / row["name"])
        tr, te = split(ds, ckpt.config.training)
        acc = linear_probe_accuracy(
            load_model(tmp_path / "runs" / row["name"]), ds.X[tr], ds.y[tr], ds.X[te], ds.y[te]
        )
        assert row["probe_accuracy"] == pytest.approx(acc)
        assert 0.1 < acc <= 1.0  # ten classes: better than chance after two epochs


def test_sweep_names_runs_and_draws_the_sweep_figure(tmp_path, monkeypatch):
    study = StudyConfig(
        data="swiss-roll:n_samples=200", models=("dae", "cae"), seeds=(0,), lam=(0.01, 0.1),
        noise=(0.1, 0.3), **TINY,
    )  # fmt: skip
    assert [r.name for r in plan(study)] == [
        "dae-noise0.1-s0", "dae-noise0.3-s0", "cae-lam0.01-s0", "cae-lam0.1-s0",
    ]  # fmt: skip
    from manifold_cae import plots

    drawn: list = []
    draw_sweep = plots.draw_sweep

    def recording(series, *args, **kw):
        drawn.extend(series)
        return draw_sweep(series, *args, **kw)

    monkeypatch.setattr(plots, "draw_sweep", recording)
    result = run_study(study, tmp_path, progress=False, log=lambda m: None)
    assert (tmp_path / "figures" / "sweep.png").stat().st_size > 5000
    # each series carries its rows' metrics, the local dimension among them
    cae = next(s for s in drawn if s.model == "cae")
    rows = [r for r in result.rows if r["model"] == "cae"]
    assert list(cae.values) == [r["value"] for r in rows]
    assert list(cae.dimension_mean) == [r["dimension_mean"] for r in rows]
    assert list(cae.count_mean) == [r["count_mean"] for r in rows]
    assert {r["value"] for r in result.rows if r["model"] == "cae"} == {0.01, 0.1}


@pytest.mark.parametrize(
    ("models", "match"),
    [(("ae", "vae"), "unknown model name"), (("cae",), "at least two"),
     (("cae", "cae"), "more than once"), (("cae", "cae", "ae"), "more than once")],
)  # fmt: skip
def test_bad_model_lists(models, match):
    with pytest.raises(ConfigError, match=match):
        StudyConfig(data="digits", models=models)


@pytest.mark.parametrize("axis", ["seeds", "lam", "noise"])
def test_duplicate_axis_values_are_refused(axis):
    values = (0, 0) if axis == "seeds" else (0.1, 0.1)
    with pytest.raises(ConfigError, match=f"{axis} lists .* more than once"):
        StudyConfig(data="digits", **{axis: values})


def test_changed_analysis_settings_are_not_reused(tmp_path):
    """A study's settings are part of its identity: other --points re-analyses."""
    study = StudyConfig(data="swiss-roll:n_samples=200", models=("ae", "cae"), seeds=(0,), **TINY)
    run_study(study, tmp_path, progress=False, log=lambda m: None, figures=False)
    more = dataclasses.replace(study, analysis=dataclasses.replace(TINY_ANALYSIS, points=30))
    messages: list[str] = []
    result = run_study(more, tmp_path, progress=False, log=messages.append, figures=False)
    assert all("skipped (complete), analysed" in m for m in messages), messages
    for row in result.rows:
        assert load_analysis(tmp_path / "analysis" / row["name"]).summary.n_points == 30


def test_seeds_change_the_initialisation_not_the_data(tmp_path):
    from manifold_cae.checkpoint import load_checkpoint

    fixed = StudyConfig(data="swiss-roll:n_samples=120", models=("ae", "cae"), seeds=(0, 1),
                        **TINY)  # fmt: skip
    run_study(fixed, tmp_path / "fixed", progress=False, log=lambda m: None, figures=False)
    cfg = [load_checkpoint(tmp_path / "fixed" / "runs" / f"cae-s{s}").config for s in (0, 1)]
    assert cfg[0].data["sha256"] == cfg[1].data["sha256"]
    assert cfg[0].training.seed != cfg[1].training.seed
    varied = dataclasses.replace(fixed, vary_data=True)
    run_study(varied, tmp_path / "varied", progress=False, log=lambda m: None, figures=False)
    cfg = [load_checkpoint(tmp_path / "varied" / "runs" / f"cae-s{s}").config for s in (0, 1)]
    assert cfg[0].data["sha256"] != cfg[1].data["sha256"]


def test_a_run_that_lost_its_history_copy_or_metrics_loses_nothing(tmp_path):
    """history.json is a copy of the checkpoint's history; a corrupt metrics.json is redone."""
    study = StudyConfig(data="swiss-roll:n_samples=120", models=("ae", "cae"), seeds=(0,), **TINY)
    first = run_study(study, tmp_path, progress=False, log=lambda m: None, figures=False)
    (tmp_path / "runs" / "cae-s0" / "history.json").unlink()
    (tmp_path / "analysis" / "cae-s0" / "metrics.json").write_text("{not json")
    messages: list[str] = []
    again = run_study(study, tmp_path, progress=False, log=messages.append, figures=False)
    assert messages == ["ae-s0: skipped (complete), analysis reused",
                        "cae-s0: skipped (complete), analysed"]  # fmt: skip
    assert again.rows == first.rows


def test_compare_cli(tmp_path):
    runner = CliRunner()
    args = [
        "compare", "--data", "swiss-roll:n_samples=150", "--models", "ae,cae", "--seeds", "0",
        "--epochs", "1", "--hidden", "6", "--points", "30", "--out", str(tmp_path), "-q",
    ]  # fmt: skip
    r = runner.invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "report.md" in r.output
    bad = runner.invoke(main, [*args[:4], "ae,foo", *args[5:]])
    assert bad.exit_code == 2 and "unknown model name" in bad.output
    one = runner.invoke(main, [*args[:4], "cae", *args[5:]])
    assert one.exit_code == 2 and "at least two" in one.output


def test_demo_runs_both_studies_and_writes_an_index(tmp_path, monkeypatch):
    """The demo's wiring, with its two studies shrunk to seconds."""
    from manifold_cae import demo

    small = {
        name: dataclasses.replace(
            s,
            training=dataclasses.replace(s.training, epochs=1),
            seeds=(0,),
            architecture=ArchitectureConfig(hidden=(6,)),
            analysis=TINY_ANALYSIS,
        )
        for name, s in demo.DEMO_STUDIES.items()
    }
    monkeypatch.setattr(demo, "DEMO_STUDIES", small)
    r = CliRunner().invoke(main, ["demo", "--out", str(tmp_path), "--device", "auto", "-q"])
    assert r.exit_code == 0, r.output
    assert "README.md" in r.output
    from manifold_cae.checkpoint import load_checkpoint

    run = tmp_path / "digits" / "runs" / "cae-s0"
    assert load_checkpoint(run).config.training.device == "auto"  # --device reached training
    summary = load_analysis(tmp_path / "digits" / "analysis" / "cae-s0").summary
    assert summary.provenance.analysis.device == "auto"  # ... and the analysis
    index = (tmp_path / "README.md").read_text()
    assert "## swiss-roll" in index and "## digits" in index
    # the scale-free local dimension stands beside the count of σ > 1, each from its summary
    assert "| mean count of σ > threshold | local dimension (mean) |" in index
    digits = index.split("## digits")[1]
    row = next(line for line in digits.splitlines() if line.startswith("| cae-s0 |"))
    assert row.split(" | ")[1:3] == [f"{summary.count.mean:.2f}", f"{summary.dimension.mean:.2f}"]
    for name in ("swiss-roll", "digits"):
        assert (tmp_path / name / "report.md").is_file()
        assert (tmp_path / name / "figures" / "count_histogram.png").is_file()
    assert (tmp_path / "digits" / "figures" / "spectrum.png").is_file()
    assert (tmp_path / "swiss-roll" / "figures" / "tangent_field_cae.png").is_file()
    assert (tmp_path / "digits" / "figures" / "tangents_images_cae.png").is_file()


def test_stacked_and_joint_deep_caes_are_compared_fairly(tmp_path):
    from manifold_cae.checkpoint import load_checkpoint

    study = StudyConfig(
        data="swiss-roll:n_samples=200", models=("cae", "cae-stacked", "cae-deep"), seeds=(0,),
        architecture=ArchitectureConfig(hidden=(8, 4)),
        training=TrainConfig(epochs=4, batch_size=64), analysis=TINY_ANALYSIS,
    )  # fmt: skip
    result = run_study(study, tmp_path, progress=False, log=lambda m: None, figures=False)
    assert [r["model"] for r in result.rows] == ["cae", "cae-stacked", "cae-deep"]
    cfgs = {m: load_checkpoint(tmp_path / "runs" / f"{m}-s0").config for m in study.models}
    assert cfgs["cae-stacked"].training.stacked and not cfgs["cae-deep"].training.stacked
    assert cfgs["cae-deep"].objective.penalty == "stochastic"
    for m in study.models:  # same architecture, split, seed and total epochs
        assert cfgs[m].model == cfgs["cae"].model
        assert cfgs[m].data["sha256"] == cfgs["cae"].data["sha256"]
        assert (cfgs[m].training.seed, cfgs[m].training.epochs) == (0, 4)
    with pytest.raises(ConfigError, match="need a deep encoder"):
        StudyConfig(data="digits", models=("cae", "cae-stacked"))


def test_a_second_study_into_the_same_directory_is_refused(tmp_path):
    from manifold_cae.locks import LockError, directory_lock

    study = StudyConfig(data="swiss-roll:n_samples=120", models=("ae", "cae"), seeds=(0,), **TINY)
    with directory_lock(tmp_path), pytest.raises(LockError, match=str(os.getpid())):
        run_study(study, tmp_path, progress=False, log=lambda m: None, figures=False)
