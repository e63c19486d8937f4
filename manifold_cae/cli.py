"""The ``manifold-cae`` command: options -> config -> library call -> files.

Each subcommand parses its options, builds the frozen configs, calls the
library and reports where it wrote its outputs. The toolkit's own errors
(bad data, bad checkpoints, divergence) become one-line messages, not
tracebacks.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from manifold_cae._version import __version__
from manifold_cae.config import (
    ACTIVATIONS,
    CORRUPTIONS,
    OBJECTIVES,
    OPTIMIZERS,
    PENALTY_METHODS,
    ObjectiveConfig,
    TrainConfig,
)
from manifold_cae.errors import ConfigError, ManifoldCAEError


def _friendly_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn option errors into usage errors and the toolkit's errors into clean messages."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as e:
            raise click.UsageError(str(e)) from e
        except ManifoldCAEError as e:
            raise click.ClickException(str(e)) from e

    return wrapper


def _int_list(_ctx: click.Context, _param: click.Parameter, value: Any) -> tuple[int, ...] | None:
    if value is None or isinstance(value, tuple):
        return value
    try:
        sizes = tuple(int(v) for v in str(value).split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated integers such as 1000,500; got {value!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise click.BadParameter(f"expected one or more sizes >= 1; got {value!r}")
    return sizes


# Flags that fill each config section; the flag's parameter name is the field name.
_SECTIONS = {
    "model": ("hidden", "activation", "output", "tied"),
    "objective": (
        "kind", "lam", "noise", "corruption", "gamma", "n_corrupt", "hessian_sigma",
        "penalty", "n_probes", "weight_decay",
    ),
    "training": (
        "epochs", "batch_size", "lr", "optimizer", "momentum", "seed", "held_out", "device",
    ),
}  # fmt: skip


def _merge_config_file(
    ctx: click.Context, params: dict[str, Any], path: Path | None
) -> dict[str, Any]:
    """defaults < values in the TOML file < flags given on the command line."""
    if path is None:
        return params
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise click.BadParameter(f"cannot read {path}: {e}", param_hint="--config") from e
    merged = dict(params)
    for section, values in doc.items():
        if section not in _SECTIONS or not isinstance(values, dict):
            raise click.BadParameter(
                f"{path}: unknown section [{section}]; expected {', '.join(_SECTIONS)}",
                param_hint="--config",
            )
        for key, value in values.items():
            name = "kind" if key == "model" and section == "objective" else key.replace("-", "_")
            if name not in _SECTIONS[section]:
                raise click.BadParameter(
                    f"{path}: unknown key {key!r} in [{section}]; expected one of "
                    f"{', '.join(_SECTIONS[section])}",
                    param_hint="--config",
                )
            source = ctx.get_parameter_source(name)
            if source in (click.core.ParameterSource.DEFAULT, None):
                merged[name] = _convert_file_value(ctx, name, value, path)
    return merged


def _convert_file_value(ctx: click.Context, name: str, value: Any, path: Path) -> Any:
    """A TOML value through the same conversion and checks as its command-line flag."""
    param = next(p for p in ctx.command.params if p.name == name)
    try:
        if name == "hidden":
            items = value if isinstance(value, list) else [value]
            return _int_list(ctx, param, ",".join(str(v) for v in items))
        return param.type.convert(value, param, ctx)
    except click.BadParameter as e:
        raise click.BadParameter(
            f"{path}: {name} = {value!r}: {e.message}", param_hint="--config"
        ) from None


def _stack(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Apply click option decorators in the order they are listed."""

    def apply(fn: Any) -> Any:
        for deco in reversed(decorators):
            fn = deco(fn)
        return fn

    return apply


# Options shared by train and compare: the model's architecture and the optimiser.
_architecture_options = _stack(
    click.option(
        "--hidden",
        callback=_int_list,
        default="100",
        show_default=True,
        help="Encoder layer sizes, e.g. 1000 or 1000,500.",
    ),
    click.option(
        "--activation", type=click.Choice(ACTIVATIONS), default="sigmoid", show_default=True
    ),
    click.option(
        "--output",
        type=click.Choice(("auto", "sigmoid", "linear")),
        default="auto",
        show_default=True,
        help="Decoder output; auto: sigmoid for data in [0, 1].",
    ),
    click.option(
        "--tied/--untied",
        default=True,
        show_default=True,
        help="Decoder weights are the transposed encoder weights.",
    ),
)
_optimiser_options = _stack(
    click.option("--epochs", type=int, default=50, show_default=True),
    click.option("--batch-size", type=int, default=128, show_default=True),
    click.option("--lr", type=float, default=1e-3, show_default=True),
    click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="adam", show_default=True),
)


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
@click.option(
    "--data",
    "data_spec",
    required=True,
    metavar="SPEC",
    help="Data set: a name from 'manifold-cae datasets', mnist:DIR, or a .npy/.csv/.npz file.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Run directory for model.safetensors, train_state.safetensors and history.json.",
)
@click.option(
    "--model",
    "kind",
    type=click.Choice(OBJECTIVES),
    default="cae",
    show_default=True,
    help="Objective: plain AE, CAE, denoising AE, CAE+H, or reconstruction-contractive AE.",
)
@_architecture_options
@click.option(
    "--lam",
    type=float,
    default=0.1,
    show_default=True,
    help="Weight of the contractive penalty (cae, cae-h, rcae).",
)
@click.option(
    "--noise",
    type=float,
    default=0.3,
    show_default=True,
    help="DAE corruption: Gaussian std, or drop probability for masking/salt-pepper.",
)
@click.option("--corruption", type=click.Choice(CORRUPTIONS), default="gaussian", show_default=True)
@click.option(
    "--gamma",
    type=float,
    default=0.1,
    show_default=True,
    help="CAE+H: weight of the Jacobian-difference term.",
)
@click.option(
    "--n-corrupt",
    type=int,
    default=4,
    show_default=True,
    help="CAE+H: corrupted copies per example.",
)
@click.option(
    "--hessian-sigma",
    type=float,
    default=0.1,
    show_default=True,
    help="CAE+H: std of those corruptions.",
)
@click.option(
    "--penalty",
    type=click.Choice(PENALTY_METHODS),
    default="auto",
    show_default=True,
    help="How ||J||_F^2 is computed: closed form (1 layer), exact torch.func, or Hutchinson.",
)
@click.option(
    "--n-probes",
    type=int,
    default=1,
    show_default=True,
    help="Hutchinson probes per example (--penalty stochastic).",
)
@click.option("--weight-decay", type=float, default=0.0, show_default=True)
@_optimiser_options
@click.option("--momentum", type=float, default=0.0, show_default=True, help="SGD momentum.")
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seeds the data split, initialisation, shuffling and noise.",
)
@click.option(
    "--held-out",
    type=float,
    default=0.1,
    show_default=True,
    help="Fraction of the data kept out of training.",
)
@click.option("--device", default="cpu", show_default=True, help="auto, cpu or cuda.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="TOML file with [model], [objective] and [training] tables; flags override it.",
)
@click.option("--resume", is_flag=True, help="Continue the run in --out up to --epochs.")
@click.option("--overwrite", is_flag=True, help="Replace a run already in --out.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_context
@_friendly_errors
def train_cmd(ctx: click.Context, data_spec: str, out_dir: Path, config_file: Path | None,
              resume: bool, overwrite: bool, quiet: bool, **params: Any) -> None:  # fmt: skip
    """Train an autoencoder on --data and save it to --out.

    \b
    Example:
      manifold-cae train --data swiss-roll --model cae --hidden 100 --lam 0.1 --out runs/cae
    """
    from manifold_cae.data import load_dataset
    from manifold_cae.runs import make_run_config, train_dataset

    p = _merge_config_file(ctx, params, config_file)
    objective = ObjectiveConfig(**{k: p[k] for k in _SECTIONS["objective"]})
    training = TrainConfig(**{k: p[k] for k in _SECTIONS["training"]})
    ds = load_dataset(data_spec, seed=training.seed)
    config = make_run_config(
        ds,
        hidden=tuple(p["hidden"]),
        activation=p["activation"],
        output=p["output"],
        tied=p["tied"],
        objective=objective,
        training=training,
    )
    result = train_dataset(
        ds, config, out_dir=out_dir, resume=resume, overwrite=overwrite,
        progress=False if quiet else None,
    )  # fmt: skip
    last = result.history[-1] if result.history else {}
    if not quiet:
        summary = ", ".join(
            f"{k} {last[k]:.4g}"
            for k in ("reconstruction", "penalty", "jacobian_norm", "held_out_reconstruction")
            if k in last
        )
        click.echo(
            f"trained {objective.kind} on {ds.name} for {len(result.history)} epochs: {summary}"
        )
        click.echo(f"saved {out_dir / 'model.safetensors'} and {out_dir / 'history.json'}")


@main.command("analyze")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--data",
    "data_spec",
    required=True,
    metavar="SPEC",
    help="Data to analyse at (usually the --data the run was trained on).",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for summary.json, points.csv, spectra.npz and report.md.",
)
@click.option(
    "--split",
    "which",
    type=click.Choice(("all", "train", "held-out")),
    default="all",
    show_default=True,
    help="Which rows of the data set: the run's own split is used.",
)
@click.option(
    "--points",
    type=int,
    default=2000,
    show_default=True,
    help="Analyse at most this many points (a seeded sample).",
)
@click.option(
    "--top-k",
    type=int,
    default=None,
    help="Tangent directions per point [default: manifold dimension, else 10].",
)
@click.option(
    "--threshold",
    type=float,
    default=1.0,
    show_default=True,
    help="Count singular values above this.",
)
@click.option(
    "--store-points",
    type=int,
    default=200,
    show_default=True,
    help="Points whose full spectra and tangents go to spectra.npz.",
)
@click.option("--exact", is_flag=True, help="Full spectra by SVD, never via the Gram matrix.")
@click.option(
    "--no-full-spectrum",
    "full_spectrum",
    flag_value=False,
    default=True,
    help="Only the top-k singular values (faster; counts capped at top-k).",
)
@click.option(
    "--n-radii",
    type=int,
    default=20,
    show_default=True,
    help="Radii on the contraction-curve grid.",
)
@click.option("--contraction-points", type=int, default=500, show_default=True)
@click.option(
    "--pca-neighbors",
    type=int,
    default=20,
    show_default=True,
    help="Neighbourhood size of the local-PCA baseline.",
)
@click.option(
    "--chunk-size",
    type=int,
    default=64,
    show_default=True,
    help="Points per streamed chunk (bounds memory).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="auto, cpu or cuda.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_friendly_errors
def analyze_cmd(run_dir: Path, data_spec: str, out_dir: Path, which: str, quiet: bool,
                **params: Any) -> None:  # fmt: skip
    """Analyse the encoder Jacobian of a trained run at every data point.

    Writes OUT/summary.json, points.csv, spectra.npz and report.md: singular
    values, counts above the threshold, tangent directions, saturation,
    contraction curves and, where the true tangents are known, angles to them
    (and to a local-PCA baseline).

    \b
    Example:
      manifold-cae analyze runs/cae --data swiss-roll --out analysis/cae
    """
    from manifold_cae.config import AnalysisConfig
    from manifold_cae.runs import analyze_run

    config = AnalysisConfig(**params)
    analyze_run(
        run_dir, data_spec, config=config, which=which, out_dir=out_dir,
        progress=False if quiet else None,
    )  # fmt: skip
    if not quiet:
        click.echo((out_dir / "report.md").read_text())
    click.echo(f"wrote {out_dir}/summary.json, points.csv, spectra.npz, report.md")


def _csv(kind: type) -> Callable[[click.Context, click.Parameter, Any], list[Any] | None]:
    def parse(_ctx: click.Context, _param: click.Parameter, value: Any) -> list[Any] | None:
        if value is None:
            return None
        try:
            return [kind(v.strip()) for v in str(value).split(",") if v.strip()]
        except ValueError:
            raise click.BadParameter(f"expected a comma-separated list; got {value!r}") from None

    return parse


@main.command("plot")
@click.argument("analysis_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the figures.",
)
@click.option(
    "--format", "fmt", type=click.Choice(("png", "svg", "pdf")), default="png", show_default=True
)
@click.option("--dpi", type=int, default=120, show_default=True)
@click.option(
    "--indices",
    callback=_csv(int),
    default=None,
    help="Data-set positions of the points for the tangent images, e.g. 3,17,42.",
)
@click.option(
    "--labels",
    callback=_csv(str),
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
@_friendly_errors
def plot_cmd(analysis_dirs: tuple[Path, ...], out_dir: Path, fmt: str, dpi: int,
             indices: list[int] | None, labels: list[str] | None, seed: int) -> None:  # fmt: skip
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


@main.command("compare")
@click.option("--data", "data", required=True, metavar="SPEC", help="Data set for every model.")
@click.option(
    "--models",
    callback=_csv(str),
    default="ae,dae,cae",
    show_default=True,
    help="Comma-separated: ae, dae (=dae-g), dae-g, dae-b (masking), dae-sp, cae, cae-h, rcae.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Study directory: runs/, analysis/, figures/, report.md, comparison.json.",
)
@_architecture_options
@_optimiser_options
@click.option(
    "--seeds",
    callback=_csv(int),
    default="0,1,2",
    show_default=True,
    help="Each model is trained once per seed; the report gives mean ± std.",
)
@click.option(
    "--lam",
    callback=_csv(float),
    default="0.1",
    show_default=True,
    help="Contractive weight; several values (0.01,0.1,1) make a sweep.",
)
@click.option(
    "--noise",
    callback=_csv(float),
    default="0.3",
    show_default=True,
    help="DAE noise level; several values make a sweep.",
)
@click.option("--gamma", type=float, default=0.1, show_default=True, help="CAE+H Hessian weight.")
@click.option("--held-out", type=float, default=0.2, show_default=True)
@click.option(
    "--points", type=int, default=1000, show_default=True, help="Held-out points analysed per run."
)
@click.option("--device", default="cpu", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@_friendly_errors
def compare_cmd(out_dir: Path, points: int, quiet: bool, **params: Any) -> None:
    """Train several models on the same data and compare their geometry.

    Same architecture, initialisation, split, optimiser and epochs for every
    model: only the objective differs. Re-running skips complete runs.

    \b
    Example:
      manifold-cae compare --data digits --models ae,dae,cae --seeds 0,1 --out study
    """
    from manifold_cae.compare import StudyConfig, run_study
    from manifold_cae.config import AnalysisConfig

    params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    study = StudyConfig(**params, analysis=AnalysisConfig(points=points))
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
@click.option(
    "--out",
    "out_dir",
    default="manifold-cae-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@_friendly_errors
def demo_cmd(out_dir: Path, quiet: bool) -> None:
    """The main job: AE vs DAE vs CAE on a swiss roll, then on the 8x8 digits.

    Writes runs, analyses, figures and reports under --out and prints where
    the report is. A couple of minutes on a laptop CPU; re-running reuses
    finished runs.
    """
    import time

    from manifold_cae.demo import run_demo

    t0 = time.perf_counter()
    run_demo(
        out_dir, progress=False if quiet else None, log=(lambda _m: None) if quiet else click.echo
    )
    click.echo(
        f"demo finished in {time.perf_counter() - t0:.0f} s; report: {out_dir / 'README.md'}"
    )


if __name__ == "__main__":
    main()
