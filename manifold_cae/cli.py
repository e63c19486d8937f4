"""The ``manifold-cae`` command: options -> config -> library call -> files.

Each subcommand parses its options, builds the frozen configs, calls the
library and reports where it wrote its outputs. The options of the configs
are generated from the dataclass fields in :mod:`manifold_cae.config` (flag,
type, default, help; :mod:`manifold_cae.cli_options`), so nothing is
declared twice. The toolkit's own errors
(bad data, bad checkpoints, divergence) become one-line messages, not
tracebacks. Torch is imported inside the commands only, so ``--help`` is quick.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from manifold_cae._version import __version__
from manifold_cae.cli_options import (
    Decorator,
    config_option,
    configs,
    csv_values,
    data_option,
    epochs_value,
    friendly_errors,
    lam_value,
    options,
    out_option,
    per_layer_option,
    quiet_option,
    refuse_unused,
)
from manifold_cae.config import (
    AnalysisConfig,
    ArchitectureConfig,
    ObjectiveConfig,
    TrainConfig,
)
from manifold_cae.errors import ConfigError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="manifold-cae")
def main() -> None:
    """Train contractive autoencoders and look at the manifolds they learn.

    \b
    Typical session:
      manifold-cae datasets
      manifold-cae train --data swiss-roll --model cae --out runs/cae
    """


@main.command("datasets")
def datasets_cmd() -> None:
    """List the built-in data sets and the file formats --data accepts."""
    from manifold_cae.data import list_datasets

    rows = list_datasets()
    width = max(len(r.name) for r in rows)
    for r in rows:
        dim = f"k={r.intrinsic_dim}" if r.intrinsic_dim else ""
        click.echo(f"{r.name:<{width}}  {r.kind:<9}  {dim:<4}  {r.description}")
    click.echo(
        "\nSynthetic sets take parameters: swiss-roll:n_samples=2000,noise=0.05,ambient_dim=10"
    )


@main.command("train")
@data_option("Data set: a name from 'manifold-cae datasets', mnist:DIR, or a .npy/.csv/.npz file.")
@out_option("Run directory for model.safetensors (the checkpoint) and history.json.")
@options(ObjectiveConfig, skip=("lam",))
@per_layer_option(ObjectiveConfig, "lam", lam_value, "FLOAT|auto")
@options(ArchitectureConfig)
@options(TrainConfig, skip=("epochs", "lr"))
@per_layer_option(TrainConfig, "epochs", epochs_value, "INT|auto")
@per_layer_option(TrainConfig, "lr")
@config_option("[model], [objective] and [training] tables")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run in --out up to --epochs (a run whose "
    "λ search chose a shorter length keeps it unless --epochs names another).",
)
@click.option("--overwrite", is_flag=True, help="Replace a run already in --out.")
@quiet_option
@click.pass_context
@friendly_errors
def train_cmd(ctx: click.Context, data_spec: str, out_dir: Path, config_file: Path | None,
              resume: bool, overwrite: bool, quiet: bool, **params: Any) -> None:  # fmt: skip
    """Train an autoencoder on --data and save it to --out.

    With --stacked, one single-layer autoencoder is trained per --hidden layer,
    each on the codes of the one below (layers/1, layers/2, ... in --out), and
    the layers are composed into one deep model; --lam, --epochs and --lr then
    take one value per layer, and --epochs alone is split over the layers.

    \b
    Examples:
      manifold-cae train --data swiss-roll --model cae --hidden 100 --lam 0.1 --out runs/cae
      manifold-cae train --data digits --model cae --hidden 64,32 --stacked --lam 0.5,0.1 \\
          --epochs 20,10 --out runs/stack
    """
    from manifold_cae.data import load_dataset
    from manifold_cae.runs import make_run_config, train_dataset
    from manifold_cae.stacking import PER_LAYER, plan_layers, train_stacked_dataset

    per_layer = {k: params[k] for k in PER_LAYER if isinstance(params[k], tuple)}
    params.update({k: v[0] for k, v in per_layer.items()})
    arch, objective, training = configs(
        ctx, params, config_file, ("model", "objective", "training")
    )
    refuse_unused(ctx, objective)
    if not training.stacked and (per_layer or training.finetune_epochs):
        given = [f"--{k}" for k in per_layer] + ["--finetune-epochs"] * bool(
            training.finetune_epochs
        )
        raise ConfigError(f"{', '.join(given)} apply to stacked training only; add --stacked")
    from manifold_cae import distributed

    world = distributed.init_from_env(training.device)  # under torchrun: data-parallel
    quiet = quiet or not world.is_main
    ds = load_dataset(data_spec, seed=training.data_seed)
    config = make_run_config(ds, **dataclasses.asdict(arch), objective=objective, training=training)
    show = False if quiet else None
    if training.stacked:
        result = train_stacked_dataset(
            ds, config, plan=plan_layers(config, **per_layer), out_dir=out_dir, resume=resume,
            overwrite=overwrite, progress=show, log=None if quiet else click.echo,
        )  # fmt: skip
        last = result.composed
    else:
        result = train_dataset(
            ds, config, out_dir=out_dir, resume=resume, overwrite=overwrite, progress=show,
            log=None if quiet else click.echo,
        )  # fmt: skip
        last = result.history[-1] if result.history else {}
    if not quiet:
        summary = ", ".join(
            f"{k} {last[k]:.4g}"
            for k in ("reconstruction", "penalty", "jacobian_norm", "held_out_reconstruction")
            if k in last
        )
        from manifold_cae.lam_search import search_of

        if (searched := search_of(result.config)) is not None:
            click.echo(searched.report())
        what = "a stack of " if training.stacked else ""
        if resume and not training.stacked:
            trained_to = result.config.training.epochs  # "auto" made a number
            click.echo(f"resumed at epoch {result.start_epoch}, trained to {trained_to}")
        click.echo(
            f"trained {what}{objective.kind} on {ds.name} for {len(result.history)} epochs: "
            f"{summary}"
        )
        click.echo(f"saved {out_dir / 'model.safetensors'} and {out_dir / 'history.json'}")
    distributed.finish()  # under torchrun: every rank, then exit


@main.command("analyze")
@click.argument("run_dir", type=click.Path(path_type=Path))
@data_option("Data to analyse at (usually the --data the run was trained on).")
@out_option("Directory for summary.json, points.csv, spectra.npz and report.md.")
@click.option(
    "--split",
    "which",
    type=click.Choice(("all", "train", "held-out")),
    default="all",
    show_default=True,
    help="Which rows of the data set: the run's own split is used.",
)
@options(AnalysisConfig)
@config_option("an [analysis] table")
@quiet_option
@click.pass_context
@friendly_errors
def analyze_cmd(ctx: click.Context, run_dir: Path, data_spec: str, out_dir: Path, which: str,
                config_file: Path | None, quiet: bool, **params: Any) -> None:  # fmt: skip
    """Analyse the encoder Jacobian of a trained run at every data point.

    Writes OUT/summary.json, points.csv, spectra.npz and report.md: singular
    values, counts above the threshold, tangent directions, saturation,
    contraction curves and, where the true tangents are known, angles to them
    (and to a local-PCA baseline).

    \b
    Example:
      manifold-cae analyze runs/cae --data swiss-roll --out analysis/cae
    """
    from manifold_cae import distributed
    from manifold_cae.runs import analyze_run

    (config,) = configs(ctx, params, config_file, ("analysis",))
    world = distributed.init_from_env(config.device)  # under torchrun: shard the points
    analyze_run(
        run_dir, data_spec, config=config, which=which, out_dir=out_dir,
        progress=False if quiet else None,
    )  # fmt: skip
    if world.is_main:
        if not quiet:
            click.echo((out_dir / "report.md").read_text())
        click.echo(f"wrote {out_dir}/summary.json, points.csv, spectra.npz, report.md")
    distributed.finish()  # under torchrun: every rank, then exit


@main.command("plot")
@click.argument("analysis_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@out_option("Directory for the figures.")
@click.option(
    "--format", "fmt", type=click.Choice(("png", "svg", "pdf")), default="png", show_default=True
)
@click.option("--dpi", type=int, default=120, show_default=True)
@click.option(
    "--indices",
    callback=csv_values(int),
    default=None,
    help="Data-set positions of the points for the tangent images, e.g. 3,17,42.",
)
@click.option(
    "--labels",
    callback=csv_values(str),
    default=None,
    help="One label per analysis dir, e.g. cae,dae [default: the dir names].",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seeds the choice of points when --indices is not given.",
)
@friendly_errors
def plot_cmd(analysis_dirs: tuple[Path, ...], out_dir: Path, fmt: str, dpi: int,
             indices: tuple[int, ...] | None, labels: tuple[str, ...] | None,
             seed: int) -> None:  # fmt: skip
    """Draw every figure from analysis dirs written by 'manifold-cae analyze'.

    With several dirs, the spectra, counts, contraction curves and saturation
    are overlaid for comparison. Nothing is retrained or re-analysed.

    \b
    Example:
      manifold-cae plot analysis/cae analysis/dae --labels cae,dae --out figures
    """
    from manifold_cae.plots import draw_all

    paths = draw_all(
        list(analysis_dirs), out_dir, fmt=fmt, dpi=dpi, indices=indices, labels=labels,
        seed=seed, log=click.echo,
    )  # fmt: skip
    click.echo(f"wrote {len(paths)} figures to {out_dir}")


# What today's compare.StudyConfig carries besides the architecture; compare refuses to
# change anything else until StudyConfig takes whole ObjectiveConfig / TrainConfig objects.


def _study_from_options(
    data: str,
    architecture: ArchitectureConfig,
    objective: ObjectiveConfig,
    training: TrainConfig,
    analysis: AnalysisConfig | None,
    *,
    models: tuple[str, ...] | None,
    seeds: tuple[int, ...] | None,
    lam: tuple[float | str, ...] | None,
    noise: tuple[float, ...] | None,
    vary_data: bool = False,
) -> Any:
    """The :class:`~manifold_cae.compare.StudyConfig` of compare's options.

    Every train option is the study's base run; ``objective.kind`` and
    ``corruption`` come from each model name, ``training.seed`` from ``seeds``,
    and several ``lam`` or ``noise`` values make a sweep. None means the study's default.
    """
    from manifold_cae.compare import StudyConfig

    axes = {"models": models, "seeds": seeds, "lam": lam, "noise": noise, "analysis": analysis}
    return StudyConfig(
        data=data,
        architecture=architecture,
        objective=objective,
        training=training,
        vary_data=vary_data,
        **{k: v for k, v in axes.items() if v is not None},
    )


def _list_option(flag: str, kind: Callable[[str], Any], help: str) -> Decorator:
    return click.option(flag, callback=csv_values(kind, unique=True), default=None, help=help)


@main.command("compare")
@data_option("Data set for every model.")
@_list_option(
    "--models",
    str,
    "Comma-separated: ae, dae (=dae-g), dae-g, dae-b (masking), dae-sp, cae, cae-h, rcae "
    "[default: ae,dae,cae].",
)
@out_option("Study directory: runs/, analysis/, figures/, report.md, comparison.json.")
@options(ArchitectureConfig)
@options(ObjectiveConfig, skip=("kind", "corruption", "lam", "noise"))
@options(TrainConfig, skip=("seed",))
@_list_option("--seeds", int, "Each model is trained once per seed [default: 0,1,2].")
@_list_option(
    "--lam",
    lam_value,
    "Contractive weight; several values (0.01,0.1,1) make a sweep; auto (the default): chosen "
    "for each contractive run on its held-out split.",
)
@_list_option("--noise", float, "DAE noise level; several values make a sweep.")
@click.option("--points", type=int, default=None, help="Held-out points analysed per run.")
@click.option(
    "--vary-data",
    is_flag=True,
    help="Draw the synthetic sample and the split from each seed too (default: --data-seed's "
    "data for every seed, so that seeds vary only the initialisation, order and noise).",
)
@quiet_option
@click.pass_context
@friendly_errors
def compare_cmd(ctx: click.Context, data_spec: str, out_dir: Path, points: int | None,
                vary_data: bool, quiet: bool, models: tuple[str, ...] | None,
                seeds: tuple[int, ...] | None, lam: tuple[float | str, ...] | None,
                noise: tuple[float, ...] | None,
                **params: Any) -> None:  # fmt: skip
    """Train several models on the same data and compare their geometry.

    Same architecture, initialisation, split, optimiser and epochs for every
    model: only the objective differs. Re-running skips complete runs.

    \b
    Example:
      manifold-cae compare --data digits --models ae,dae,cae --seeds 0,1 --out study
    """
    from manifold_cae.compare import run_study

    arch, objective, training = configs(ctx, params, None, ("model", "objective", "training"))
    analysis = None if points is None else AnalysisConfig(points=points)
    study = _study_from_options(
        data_spec, arch, objective, training, analysis,
        models=models, seeds=seeds, lam=lam, noise=noise, vary_data=vary_data,
    )  # fmt: skip
    result = run_study(
        study,
        out_dir,
        progress=False if quiet else None,
        log=(lambda _m: None) if quiet else click.echo,
    )
    click.echo(
        f"wrote {result.out_dir / 'report.md'} and comparison.json ({len(result.rows)} runs)"
    )


@main.command("demo")
@out_option(
    "Directory for the demo's runs, figures and reports.",
    required=False,
    default="manifold-cae-demo",
    show_default=True,
)
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    help="Train and analyse here: auto (cuda when available), cpu, cuda or cuda:N. "
    "The README's demo numbers are from cpu.",
)
@quiet_option
@friendly_errors
def demo_cmd(out_dir: Path, device: str, quiet: bool) -> None:
    """The main job: AE vs DAE vs CAE on a swiss roll, then on the 8x8 digits.

    Writes under --out: README.md (one table per study, read it first),
    swiss-roll/ and digits/, each with report.md (the findings), figures/,
    comparison.json, runs/ and analysis/. About a minute on a 2-core CPU
    (more on a busy one); re-running reuses finished runs and analyses.
    """
    import time

    from manifold_cae.demo import run_demo

    t0 = time.perf_counter()
    run_demo(
        out_dir,
        progress=False if quiet else None,
        log=(lambda _m: None) if quiet else click.echo,
        device=device,
    )
    click.echo(
        f"demo finished in {time.perf_counter() - t0:.0f} s; report: {out_dir / 'README.md'}"
    )


if __name__ == "__main__":
    main()
