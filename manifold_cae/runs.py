"""Runs from a data set: training (split, decoder output, provenance) and analysis.

This is what ``manifold-cae train`` (and ``compare``) call, so the CLI holds no
logic the Python API lacks.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import numpy as np

from manifold_cae import distributed
from manifold_cae.analysis import AnalysisResult, analyze
from manifold_cae.analysis.summary import DataInfo
from manifold_cae.checkpoint import MODEL_FILE, load_checkpoint
from manifold_cae.config import (
    AnalysisConfig,
    ModelConfig,
    ObjectiveConfig,
    RunConfig,
    TrainConfig,
    resolve_output,
)
from manifold_cae.data import (
    Dataset,
    check_range_for_output,
    load_dataset,
    train_test_split_indices,
)
from manifold_cae.errors import CheckpointError, ConfigError
from manifold_cae.report import write_analysis
from manifold_cae.train import TrainResult, check_resumable, fit


def choose_output(ds: Dataset, output: Literal["auto", "sigmoid", "linear"]) -> str:
    """``auto`` picks a sigmoid decoder for data in [0, 1], else a linear one."""
    if output == "auto":
        return "sigmoid" if ds.in_unit_interval else "linear"
    check_range_for_output(ds, output)
    return output


def split(ds: Dataset, training: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, held_out_idx) of ``ds``, a function of ``held_out`` and ``data_seed``."""
    return train_test_split_indices(ds.n_samples, training.held_out, seed=training.data_seed)


def make_run_config(
    ds: Dataset,
    *,
    hidden: tuple[int, ...],
    activation: str = "sigmoid",
    output: Literal["auto", "sigmoid", "linear"] = "auto",
    tied: bool = True,
    input_scaling: str = "auto",
    objective: ObjectiveConfig | None = None,
    training: TrainConfig | None = None,
) -> RunConfig:
    """The :class:`RunConfig` for training on ``ds``, with its provenance recorded.

    ``output`` and ``input_scaling`` "auto" are decided here from ``ds`` (see
    :func:`~manifold_cae.config.resolve_output`).
    """
    training = training or TrainConfig()
    model = ModelConfig(
        n_features=ds.n_features,
        hidden=tuple(hidden),
        activation=activation,  # type: ignore[arg-type]
        output=choose_output(ds, output),  # type: ignore[arg-type]
        tied=tied,
        input_scaling=input_scaling,
    )
    model = resolve_output(model, in_unit_interval=ds.in_unit_interval)
    data: dict[str, Any] = {**ds.provenance(), "held_out": training.held_out}
    return RunConfig(model, objective or ObjectiveConfig(), training, data)


def train_dataset(
    ds: Dataset,
    config: RunConfig,
    *,
    out_dir: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | None = None,
) -> TrainResult:
    """Split ``ds`` as ``config.training`` says and train on the train part with :func:`fit`.

    A ``stacked`` config trains layer by layer (:func:`~manifold_cae.stacking.train_stacked`).
    """
    if config.training.stacked:
        from manifold_cae.stacking import train_stacked_dataset  # stacking builds on this module

        return train_stacked_dataset(
            ds, config, out_dir=out_dir, resume=resume, overwrite=overwrite, progress=progress
        )
    train_idx, held_idx = split(ds, config.training)
    return fit(
        ds.X[train_idx],
        config,
        out_dir=out_dir,
        resume=resume,
        overwrite=overwrite,
        X_held_out=ds.X[held_idx] if len(held_idx) else None,
        progress=progress,
    )


def continue_run(
    ds: Dataset, config: RunConfig, run_dir: str | Path, *, progress: bool | None = None
) -> str:
    """Train ``config`` into ``run_dir``: afresh, resumed, or not at all if it is complete.

    The rule is :func:`~manifold_cae.train.fit`'s ``--resume`` rule: a saved run
    continues only if everything but the epoch count matches. Returns what was done.
    """
    run_dir = Path(run_dir)
    if config.training.stacked:
        from manifold_cae.stacking import STACK_FILE, stacked_run_config

        if not (run_dir / MODEL_FILE).exists() and (run_dir / STACK_FILE).exists():
            train_dataset(ds, config, out_dir=run_dir, resume=True, progress=progress)
            return "stack resumed and finished"
        config = stacked_run_config(config)
    if not (run_dir / MODEL_FILE).exists():
        train_dataset(ds, config, out_dir=run_dir, progress=progress)
        return "trained"
    ckpt = load_checkpoint(run_dir)
    check_resumable(ckpt.config, config, ckpt.path)
    if ckpt.epoch > config.training.epochs:
        raise CheckpointError(
            f"{run_dir} was trained for {ckpt.epoch} epochs, more than the {config.training.epochs}"
            " asked for; ask for at least as many epochs, or use another output directory"
        )
    if ckpt.epoch == config.training.epochs:
        return "skipped (complete)"
    train_dataset(ds, config, out_dir=run_dir, resume=True, progress=progress)
    return f"resumed at epoch {ckpt.epoch}, trained to {config.training.epochs}"


def select_split(ds: Dataset, training: TrainConfig, which: str) -> np.ndarray:
    """Row indices of ``ds`` for ``which`` in {"all", "train", "held-out"}."""
    if which == "all":
        return np.arange(ds.n_samples)
    train_idx, held_idx = split(ds, training)
    if which == "train":
        return train_idx
    if which == "held-out":
        if len(held_idx) == 0:
            raise ConfigError("the run kept no held-out data (held_out=0); use --split all")
        return held_idx
    raise ConfigError(f"split must be all, train or held-out; got {which!r}")


def analyze_run(
    run_dir: str | Path,
    data_spec: str,
    *,
    config: AnalysisConfig | None = None,
    which: str = "all",
    out_dir: str | Path | None = None,
    label: str | None = None,
    progress: bool | None = None,
) -> AnalysisResult:
    """Load a trained run, analyse it on ``data_spec`` and (optionally) write the outputs.

    Synthetic data are regenerated with the run's data seed, so ``which="held-out"``
    selects exactly the points training never saw.
    """
    ckpt = load_checkpoint(run_dir)
    ds = load_dataset(data_spec, seed=ckpt.config.training.data_seed)
    trained_on = ckpt.config.data.get("sha256")
    if which != "all" and trained_on and ds.provenance()["sha256"] != trained_on:
        raise ConfigError(
            f"--split {which} needs the data {run_dir} was trained on, but {data_spec!r} is "
            f"other data (its fingerprint differs from the run's {ckpt.config.data.get('spec')!r})"
            "; analyse it with --split all, or pass the run's own --data"
        )
    rows = select_split(ds, ckpt.config.training, which)
    sub = ds.subset(rows)
    reference = ds.subset(split(ds, ckpt.config.training)[0]).X if which == "held-out" else None
    model = ckpt.model
    if config is not None and config.layer is not None:
        from manifold_cae.stacking import prefix  # stacking builds on this module

        model = prefix(model, config.layer)
    result = analyze(
        model,
        sub.X,
        config=config,
        tangents=sub.tangents,
        reference=reference,
        progress=progress,
    )
    result.reindex(rows)  # positions in the data set, not the subset
    data = ds.provenance()
    provenance = dataclasses.replace(
        result.summary.provenance,
        data=DataInfo(spec=data["spec"], name=data["name"], split=which, sha256=data["sha256"]),
        run_dir=str(run_dir),
        run_config=ckpt.config,
        checkpoint_epoch=ckpt.epoch,
        epochs_planned=ckpt.config.training.epochs,
        image_shape=tuple(ds.image_shape) if ds.image_shape else None,
        label=label or Path(run_dir).name,
    )
    result.summary = dataclasses.replace(result.summary, provenance=provenance)
    if out_dir is not None and distributed.current().is_main:
        write_analysis(result, out_dir)
    return result
