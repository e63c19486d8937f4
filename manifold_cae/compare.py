"""A fair comparison of CAEs with denoising autoencoders and their kin.

Every model in a study gets the same architecture, the same initial weights
(the seed), the same train / held-out split, optimiser and epochs: only the
objective differs. Each run is trained into ``OUT/runs/<name>/``, analysed on
held-out points into ``OUT/analysis/<name>/``, and summarised in
``OUT/comparison.json`` and ``OUT/report.md`` with the mean and standard
deviation over seeds. A study that is interrupted can be re-run: complete runs
and analyses are skipped, partial runs are resumed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from manifold_cae._io import atomic_write_json, atomic_write_text
from manifold_cae.analysis import AnalysisResult
from manifold_cae.analysis.metrics import AngleSummary, ContractionSummary
from manifold_cae.checkpoint import load_checkpoint, read_history
from manifold_cae.config import (
    EPOCHS_AUTO,
    LAM_AUTO,
    AnalysisConfig,
    ArchitectureConfig,
    ObjectiveConfig,
    RunConfig,
    TrainConfig,
    replace,
)
from manifold_cae.data import Dataset, load_dataset, rows_of
from manifold_cae.errors import ConfigError
from manifold_cae.formatting import fmt
from manifold_cae.formatting import fmt_spread as _fmt
from manifold_cae.lam_search import search_of
from manifold_cae.locks import directory_lock
from manifold_cae.probe import PROBE_BYTES, linear_probe_accuracy
from manifold_cae.progress import Progress
from manifold_cae.runs import analyze_run, continue_run, make_run_config, resolve_run_lam, split


@dataclass(frozen=True)
class Preset:
    """What a model name sets; everything else comes from the study's base run."""

    objective: dict[str, Any]  # ObjectiveConfig fields
    training: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields
    deep: bool = False  # needs two or more encoder layers


MODELS: dict[str, Preset] = {
    "ae": Preset({"kind": "ae"}),
    "dae": Preset({"kind": "dae", "corruption": "gaussian"}),
    "dae-g": Preset({"kind": "dae", "corruption": "gaussian"}),
    "dae-b": Preset({"kind": "dae", "corruption": "masking"}),
    "dae-sp": Preset({"kind": "dae", "corruption": "salt-pepper"}),
    "cae": Preset({"kind": "cae"}),
    "cae-h": Preset({"kind": "cae-h"}),
    "rcae": Preset({"kind": "rcae"}),
    # A stack of one-layer closed-form CAEs, trained one after another (the total epochs
    # split across layers), and the same deep encoder penalised jointly (Hutchinson).
    "cae-stacked": Preset({"kind": "cae", "penalty": "closed"}, {"stacked": True}, deep=True),
    "cae-deep": Preset({"kind": "cae", "penalty": "stochastic"}, deep=True),
}
METRICS = (
    "held_out_reconstruction", "frobenius_mean", "sat_percent", "count_mean", "count_median",
    "dimension_mean",
    "contraction_small", "contraction_medium", "contraction_large", "angle_mean",
    "probe_accuracy", "train_seconds",
)  # fmt: skip
# SweepSeries' fields after its model and parameter, in order
SWEEP_METRICS = ("value", "count_mean", "sat_percent", "angle_mean", "dimension_mean")
DEFAULT_STUDY_ANALYSIS = AnalysisConfig(points=1000)


def _unique(name: str, values: Sequence[Any]) -> None:
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise ConfigError(
            f"{name} lists {', '.join(map(str, dict.fromkeys(seen)))} more than once; "
            f"each value gives one run, so list it once (got {', '.join(map(str, values))})"
        )


def _check_auto(lam: tuple[float | str, ...]) -> None:
    if len(lam) > 1:
        raise ConfigError(
            f"lam auto chooses one λ per run and cannot be part of a sweep; got "
            f"{', '.join(map(str, lam))}. Use --lam auto alone, or numbers only"
        )


@dataclass(frozen=True)
class StudyConfig:
    """What a comparison trains and analyses: one base run, and the axes that vary.

    Every run takes ``architecture``, ``objective`` and ``training``; a model
    name overrides the objective's kind (and corruption), a seed overrides
    ``training.seed``, and a swept λ or noise value overrides ``objective.lam`` or
    ``objective.noise``. The data (sample and split, ``training.data_seed``) stay
    the same for every seed unless ``vary_data``. ``lam=("auto",)``, or ``lam=None`` with
    ``objective.lam`` "auto" (the default), chooses λ for each contractive run on its
    held-out split (:mod:`manifold_cae.lam_search`; λ only, not the training length, so
    that every model trains for the same epochs); stacks take 0.1 a layer.
    """

    data: str
    architecture: ArchitectureConfig = field(default_factory=ArchitectureConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    analysis: AnalysisConfig = DEFAULT_STUDY_ANALYSIS
    models: tuple[str, ...] = ("ae", "dae", "cae")
    seeds: tuple[int, ...] = (0, 1, 2)
    lam: tuple[float | str, ...] | None = None  # several make a λ sweep (None: objective.lam)
    noise: tuple[float, ...] | None = None  # several values make a DAE noise sweep
    vary_data: bool = False  # draw the data sample and split from each seed too

    def __post_init__(self) -> None:
        unknown = [m for m in self.models if m not in MODELS]
        if unknown:
            raise ConfigError(
                f"unknown model name(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}"
            )
        for name in ("models", "seeds", "lam", "noise"):
            values = getattr(self, name)
            if values is not None:
                if not values:
                    raise ConfigError(f"{name} needs at least one value")
                _unique(name, tuple(values))
        deep = [m for m in self.models if MODELS[m].deep]
        if deep and len(self.architecture.hidden) < 2:
            raise ConfigError(
                f"{', '.join(deep)} need a deep encoder; got "
                f"hidden={list(self.architecture.hidden)}. Give two or more layers, e.g. "
                "--hidden 64,32"
            )
        if self.lam is not None and LAM_AUTO in self.lam:
            _check_auto(self.lam)
        if self.training.stacked:
            raise ConfigError(
                "--stacked does not apply to a study: add cae-stacked to --models instead"
            )
        if len(self.models) < 2:
            raise ConfigError(
                f"a comparison needs at least two different models; got {list(self.models)}. "
                "Use 'manifold-cae train' for a single model"
            )
        if self.training.held_out <= 0:
            raise ConfigError(
                f"held_out must be > 0 to analyse held-out points; got {self.training.held_out}"
            )
        for axis, flag in (("lam", "contractive"), ("noise", "denoising")):
            users = [m for m in self.models if getattr(self.objective_of(m).info, flag)]
            if getattr(self, axis) is not None and not users:
                takers = [m for m in MODELS if getattr(self.objective_of(m).info, flag)]
                raise ConfigError(
                    f"--{axis} applies to {flag} models ({', '.join(takers)}), and none of "
                    f"{', '.join(self.models)} is one; add one to --models or drop --{axis}"
                )

    def objective_of(self, model: str) -> ObjectiveConfig:
        """The base objective with the model name's kind (and corruption)."""
        return replace(self.objective, **MODELS[model].objective)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PlannedRun:
    name: str  # directory name under runs/ and analysis/
    model: str
    seed: int
    sweep: str | None  # "lam" or "noise" when this run is part of a sweep
    value: float | None  # the swept value
    objective: ObjectiveConfig

    training: dict[str, Any] = field(default_factory=dict)  # the model's TrainConfig overrides

    @property
    def label(self) -> str:
        return f"{self.model} {self.sweep}={self.value:g}" if self.sweep else self.model


def plan(study: StudyConfig) -> list[PlannedRun]:
    """Every run the study needs, in a fixed order."""
    runs = []
    for model in study.models:
        obj = study.objective_of(model)
        axis = "lam" if obj.info.contractive else "noise" if obj.info.denoising else None
        values = getattr(study, axis) if axis else None
        sweep = axis if values is not None and len(values) > 1 else None
        for value in values or (None,):
            run_obj = replace(obj, **{axis: value}) if axis and value is not None else obj
            for seed in study.seeds:
                tag = f"-{sweep}{value:g}" if sweep else ""
                name = f"{model}{tag}-s{seed}"
                training = MODELS[model].training
                runs.append(PlannedRun(name, model, seed, sweep, value, run_obj, training))
    return runs


def _run_config(study: StudyConfig, ds: Dataset, run: PlannedRun) -> RunConfig:
    training = replace(study.training, seed=run.seed, **run.training)
    if study.vary_data:
        training = replace(training, data_seed=run.seed)
    return make_run_config(
        ds, **dataclasses.asdict(study.architecture), objective=run.objective, training=training
    )


def _metrics(ds: Dataset, config: RunConfig, run: PlannedRun, run_dir: Path,
             analysis: AnalysisResult) -> dict[str, Any]:  # fmt: skip
    summary = analysis.summary
    history = read_history(run_dir)
    curve = summary.section(ContractionSummary)
    ang = summary.section(AngleSummary)
    angle = None if ang is None else ang.cae or ang.cae_vs_local_pca_mean or ang.cae_vs_local_pca
    # Without truth, the mean principal angle to local PCA: the largest is ~90° for any model.
    angle_kind = "largest" if ang is None or ang.cae or not ang.cae_vs_local_pca_mean else "mean"
    probe = None
    if ds.y is not None:
        train_idx, held_idx = split(ds, config.training)
        probe = linear_probe_accuracy(  # a memmap's splits are read in batches, not copied
            load_checkpoint(run_dir).model, rows_of(ds.X, train_idx), ds.y[train_idx],
            rows_of(ds.X, held_idx), ds.y[held_idx], seed=run.seed,
        )  # fmt: skip
    info = run.objective.info
    row: dict[str, Any] = {
        "name": run.name, "model": run.model, "seed": run.seed,
        "sweep": run.sweep, "value": run.value, "n_points": summary.n_points,
        "lam": config.objective.lam if info.contractive else None,
        "lam_auto": search_of(config) is not None,  # chosen by the search (stacks are not)
        "epochs": config.training.epochs,  # "auto" made a number
        "noise": run.objective.noise if info.denoising else None,
        "held_out_reconstruction": history[-1].get("held_out_reconstruction"),
        "frobenius_mean": summary.norms.frobenius.mean,
        "sat_percent": 100 * summary.saturation.mean_fraction,
        "count_mean": summary.count.mean,
        "count_median": summary.count.median,
        "dimension_mean": summary.dimension.mean,
        "angle_mean": angle.mean if angle else None,
        "angle_reference": None if ang is None else ang.reference,
        "angle_kind": angle_kind,
        "angle_k": None if ang is None else ang.k,
        "probe_accuracy": probe,
        "train_seconds": sum(r["seconds"] for r in history),
    }  # fmt: skip
    n = len(curve.ratios) if curve is not None else 0
    for size, i in {"small": 0, "medium": n // 2, "large": n - 1}.items():
        row[f"contraction_{size}"] = curve.ratios[i] if curve is not None else None
        row[f"radius_{size}"] = curve.radii[i] if curve is not None else None
    return row


def _aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and std over seeds of each (model, swept value)."""
    groups: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["value"]), []).append(r)
    out = []
    for (model, value), rs in groups.items():
        agg: dict[str, Any] = {"model": model, "sweep": rs[0]["sweep"], "value": value,
                               "n_seeds": len(rs), "label": _label(rs[0])}  # fmt: skip
        for m in METRICS:
            vals = [r[m] for r in rs if r.get(m) is not None]
            agg[m] = {"mean": float(np.mean(vals)), "std": float(np.std(vals))} if vals else None
        out.append(agg)
    return out


def _label(row: dict[str, Any]) -> str:
    return f"{row['model']} {row['sweep']}={row['value']:g}" if row["sweep"] else row["model"]


def _saved_metrics(path: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    """The row saved by an earlier analysis with exactly these settings, else None."""
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
    except (ValueError, OSError, UnicodeDecodeError):
        return None  # damaged: analyse again
    if not isinstance(saved, dict) or saved.get("identity") != identity:
        return None
    row = saved.get("row")
    return row if isinstance(row, dict) else None


@dataclass
class StudyResult:
    rows: list[dict[str, Any]]  # one per run (model x value x seed)
    aggregate: list[dict[str, Any]]  # one per model (x swept value): mean and std over seeds
    out_dir: Path
    figures: list[Path] = field(default_factory=list)


def run_study(
    study: StudyConfig,
    out_dir: str | Path,
    *,
    progress: bool | None = None,
    log: Callable[[str], None] = print,
    figures: bool = True,
) -> StudyResult:
    """Train and analyse every planned run, then write the report and figures.

    A study can be re-run into the same directory: runs resume or are skipped by
    the ``--resume`` rule of ``train``, and an analysis is reused only if it was
    made with the same run and analysis settings. One writer at a time: a second
    study into the same directory fails at once, naming the first one's PID.
    """
    with directory_lock(out_dir) as out:
        return _run_study(study, out, progress=progress, log=log, figures=figures)


def _run_study(
    study: StudyConfig, out: Path, *, progress: bool | None, log: Callable[[str], None],
    figures: bool,
) -> StudyResult:  # fmt: skip
    import sys

    runs = plan(study)
    data_seeds = {s: s if study.vary_data else study.training.data_seed for s in study.seeds}
    datasets = {d: load_dataset(study.data, seed=d) for d in set(data_seeds.values())}
    # Off a terminal every training also reports at intervals; on one, the study's bar does.
    inner = False if progress is False or sys.stderr.isatty() else None
    rows = []
    bar = Progress(runs, total=len(runs), desc="compare", unit="run", enabled=progress)
    for run in bar:
        bar.note(run=run.name)
        ds = datasets[data_seeds[run.seed]]
        run_dir, an_dir = out / "runs" / run.name, out / "analysis" / run.name
        config = resolve_run_lam(ds, _run_config(study, ds, run), run_dir)  # lam auto: chosen
        did = continue_run(ds, config, run_dir, progress=inner)
        if search_of(config) is not None:  # lam auto: chosen (a stack is not searched)
            did += f" (lam auto: {config.objective.lam:g})"
        metrics_path = an_dir / "metrics.json"
        identity = json.loads(json.dumps({  # as it reads back from metrics.json
            "run_config": config.to_dict(),
            "analysis": dataclasses.asdict(study.analysis),
            "epoch": config.training.epochs,
        }))  # fmt: skip
        row = _saved_metrics(metrics_path, identity)
        if row is None:
            analysis = analyze_run(
                run_dir, study.data, config=study.analysis, which="held-out", out_dir=an_dir,
                label=run.label, progress=False,
            )  # fmt: skip
            row = _metrics(ds, config, run, run_dir, analysis)
            atomic_write_json(metrics_path, {"identity": identity, "row": row})
            did += ", analysed"
        else:
            did += ", analysis reused"
        rows.append(row)
        log(f"{run.name}: {did}")
    result = StudyResult(rows, _aggregate(rows), out)
    atomic_write_json(
        out / "comparison.json",
        {"study": study.to_dict(), "runs": rows, "models": result.aggregate},
    )
    atomic_write_text(out / "report.md", study_report(study, result))
    if figures:
        result.figures = _draw(study, runs, result, out, log)
    return result


def _draw(
    study: StudyConfig,
    runs: list[PlannedRun],
    result: StudyResult,
    out: Path,
    log: Callable[[str], None],
) -> list[Path]:
    from manifold_cae import plots

    first = [r for r in runs if r.seed == study.seeds[0]]
    # overlays: one line per model, at the first seed and the first swept value
    seen: dict[str, PlannedRun] = {}
    for r in first:
        seen.setdefault(r.model, r)
    dirs = [out / "analysis" / r.name for r in seen.values()]
    paths = plots.draw_all(dirs, out / "figures", labels=list(seen), log=log)
    swept: dict[str, list[dict[str, Any]]] = {}
    for row in result.rows:
        if row["sweep"]:
            swept.setdefault(row["model"], []).append(row)
    if swept:
        series = [
            plots.SweepSeries(
                model, rows[0]["sweep"], *([r[k] for r in rows] for k in SWEEP_METRICS)
            )
            for model, rows in swept.items()
        ]
        caption = (
            f"{study.data}: seeds {', '.join(map(str, study.seeds))} pooled; "
            f"{_points_said(study, result)} held-out points per run"
        )
        paths.append(
            plots.draw_sweep(
                series, out / "figures", threshold=study.analysis.threshold, caption=caption
            )
        )
    return paths


def _findings(study: StudyConfig, result: StudyResult) -> list[str]:
    """Plain-words statements, each checked against the numbers and the literature."""
    base = [
        a for a in result.aggregate if a["sweep"] is None or a["value"] == _first_value(a, result)
    ]

    def best(metric: str, *, low: bool = True) -> dict[str, Any] | None:
        cands = [a for a in base if a.get(metric)]
        return min(cands, key=lambda a: a[metric]["mean"] * (1 if low else -1)) if cands else None

    def clear(a: dict[str, Any], b: dict[str, Any], metric: str) -> bool:
        return abs(a[metric]["mean"] - b[metric]["mean"]) > a[metric]["std"] + b[metric]["std"]

    def close_to(winner: dict[str, Any], metric: str) -> list[str]:
        return [a["label"] for a in base if a is not winner and a.get(metric)
                and not clear(winner, a, metric)]  # fmt: skip

    def named(winner: dict[str, Any], metric: str, value: str) -> str:
        """The winner in bold, or no winner where others are within the spread over seeds."""
        close = close_to(winner, metric)
        if close:
            return (
                f"no clear winner: {winner['label']} ({value}) and {', '.join(close)} are "
                "within the spread over seeds"
            )
        return f"**{winner['label']}** ({value})"

    lines = []
    cae = next((a for a in base if a["model"] == "cae"), None)
    fro = best("frobenius_mean")
    if fro:
        verdict = ""
        if cae is not None:
            verdict = (
                " As in Rifai et al. (2011), the CAE is the most contractive."
                if fro is cae and not close_to(fro, "frobenius_mean")
                else ""
                if fro is cae
                else " Rifai et al. (2011) found the CAE smallest; here it is not."
            )
        lines.append(
            f"- Smallest mean ‖J_f‖_F: "
            f"{named(fro, 'frobenius_mean', _fmt(fro['frobenius_mean']))}.{verdict}"
        )
    for dae in (a for a in base if a["model"].startswith("dae")):
        if cae is None:
            break
        higher = cae["sat_percent"]["mean"] > dae["sat_percent"]["mean"]
        lines.append(
            f"- Saturation: CAE {_fmt(cae['sat_percent'], '.1f')} % vs {dae['label']} "
            f"{_fmt(dae['sat_percent'], '.1f')} %. "
            + ("The CAE saturates more, as in the paper (86 % vs 18 % for DAE-g on MNIST)"
               if higher else "Unlike the paper, the CAE does not saturate more")
            + ("." if clear(cae, dae, "sat_percent") else "; within the spread over seeds.")
        )  # fmt: skip
    cnt = best("count_mean")
    counts = {a["count_mean"]["mean"] for a in base if a.get("count_mean")}
    if counts == {0.0}:
        lines.append(
            f"- No model has a singular value above {study.analysis.threshold:g} anywhere: "
            "every encoder contracts in every direction, so the count is 0 for all of them and "
            "says nothing; the local dimension column (the spectrum's largest drop) does."
        )
    elif len(counts) == 1:
        lines.append(
            f"- Every model has the same mean count of σ > {study.analysis.threshold:g} "
            f"({counts.pop():.2f}): the threshold does not separate them here."
        )
    elif cnt:
        lines.append(
            f"- Fewest expanding directions (σ > {study.analysis.threshold:g}): "
            f"{named(cnt, 'count_mean', _fmt(cnt['count_mean'], '.2f') + ' on average')}."
        )
    ang = best("angle_mean")
    if ang:
        truth = result.rows[0]["angle_reference"] == "truth"
        degrees = _fmt(ang["angle_mean"], ".1f") + " degrees"
        to = "the true tangents" if truth else f"local PCA (no truth known; {_angle_kind(result)})"
        ks = sorted({r["angle_k"] for r in result.rows if r.get("angle_k") is not None})
        if not truth and len(ks) > 1:  # each model's k is its own local dimension
            lines.append(
                f"- Tangent angle to {to}: not ranked, because the models' tangent spaces "
                f"differ in size (k = {', '.join(map(str, ks))}); analyse them at one top_k."
            )
        else:
            lines.append(f"- Smallest tangent angle to {to}: {named(ang, 'angle_mean', degrees)}.")
    probe = best("probe_accuracy", low=False)
    if probe:
        lines.append(
            f"- Best linear-probe accuracy: "
            f"{named(probe, 'probe_accuracy', _fmt(probe['probe_accuracy'], '.3f'))}."
        )
    rec = best("held_out_reconstruction")
    if rec:
        lines.append(
            f"- Lowest held-out reconstruction error: "
            f"{named(rec, 'held_out_reconstruction', _fmt(rec['held_out_reconstruction']))}."
        )
    return lines


def _angle_kind(result: StudyResult) -> str:
    """Which principal angle the table's tangent angle is."""
    if result.rows[0].get("angle_kind") == "mean":
        return "the mean principal angle, as the largest is near 90° for any model here"
    return "the largest principal angle"


def _first_value(a: dict[str, Any], result: StudyResult) -> Any:
    """The first swept value of a's model: the one the overlays and findings use."""
    return next(r["value"] for r in result.rows if r["model"] == a["model"])


def _points_said(study: StudyConfig, result: StudyResult) -> str:
    """The points each run analysed ("60", "40 or 60"): fewer than ``analysis.points``
    where the held-out split is smaller."""
    points = sorted({r["n_points"] for r in result.rows if r.get("n_points") is not None})
    return " or ".join(map(str, points)) if points else f"at most {study.analysis.points}"


def _epochs_said(epochs: int | str, result: StudyResult) -> str:
    """ "50 epochs", or for "auto" the numbers it became ("epochs auto (500)")."""
    if epochs != EPOCHS_AUTO:
        return f"{epochs} epochs"
    became = sorted({r["epochs"] for r in result.rows if r.get("epochs") is not None})
    return f"epochs auto ({', '.join(map(str, became))})" if became else "epochs auto"


def study_report(study: StudyConfig, result: StudyResult) -> str:
    """The comparison report: findings in plain words, then the table."""
    a0 = result.aggregate
    n_seeds = len(study.seeds)
    arch, tr = study.architecture, study.training
    lines = [
        f"# Comparison on `{study.data}`",
        "",
        f"Models {', '.join(study.models)}; hidden={list(arch.hidden)}, {arch.activation}, "
        f"{'tied' if arch.tied else 'untied'}; {_epochs_said(tr.epochs, result)} of {tr.optimizer} "
        f"(lr {tr.lr:g}, batch {tr.batch_size}); seeds {list(study.seeds)}; data seed "
        f"{'= seed' if study.vary_data else tr.data_seed}; "
        f"held-out fraction {tr.held_out:g}; {_points_said(study, result)} held-out points "
        "analysed per run. Only the objective differs between models. "
        f"Values are mean ± std over {n_seeds} seed(s), measured on held-out points.",
        "",
        "## What it shows",
        "",
        *_findings(study, result),
        "",
        "## Table",
        "",
        "| model | held-out recon. | mean ‖J‖_F | SAT % | mean #σ>1 | median #σ>1 | "
        "local dim. | contraction small / medium / large r | tangent angle (deg) | "
        "linear probe | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for a in a0:
        lines.append(
            f"| {a['label']} | {_fmt(a['held_out_reconstruction'])} | {_fmt(a['frobenius_mean'])} "
            f"| {_fmt(a['sat_percent'], '.1f')} | {_fmt(a['count_mean'], '.2f')} "
            f"| {_fmt(a['count_median'], '.1f')} | {_fmt(a['dimension_mean'], '.2f')} "
            f"| {_fmt(a['contraction_small'])} / "
            f"{_fmt(a['contraction_medium'])} / {_fmt(a['contraction_large'])} "
            f"| {_fmt(a['angle_mean'], '.1f')} | {_fmt(a['probe_accuracy'], '.3f')} "
            f"| {_fmt(a['train_seconds'], '.1f')} |"
        )
    r0 = result.rows[0]
    lines += [
        "",
        f"Contraction radii: small {fmt(r0['radius_small'], '.3g')}, medium "
        f"{fmt(r0['radius_medium'], '.3g')}, large {fmt(r0['radius_large'], '.3g')} "
        "(the largest is the largest pairwise distance).",
        "Tangent angle: "
        + (
            "largest principal angle to the true tangent space."
            if r0["angle_reference"] == "truth"
            else f"{_angle_kind(result)}, to local-PCA tangents (no truth known)."
        ),
        "The linear probe is logistic regression on the codes (train → held-out), not the "
        "paper's MLP fine-tuning; beyond "
        f"{PROBE_BYTES // 2**20} MiB of float64 training codes it is fitted on a seeded sample.",
        "",
        "Per-run results are in `comparison.json`; figures in `figures/`; each run's "
        "singular-value report in `analysis/<run>/report.md`.",
    ]
    chosen = [f"{r['name']} {r['lam']:g}" for r in result.rows if r.get("lam_auto")]
    if chosen:
        lines.insert(-2, f"λ chosen on each run's held-out split (lam auto): {', '.join(chosen)}.")
    return "\n".join(lines) + "\n"
