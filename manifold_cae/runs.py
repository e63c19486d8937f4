"""Runs from a data set: training (split, decoder output, provenance) and analysis.

This is what ``manifold-cae train`` (and ``compare``) call, so the CLI holds no
logic the Python API lacks.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from manifold_cae import distributed
from manifold_cae.analysis import AnalysisResult, analyze
from manifold_cae.analysis.metrics.transformations import with_image_shape
from manifold_cae.analysis.summary import DataInfo
from manifold_cae.checkpoint import MODEL_FILE, check_resume_or_overwrite, load_checkpoint
from manifold_cae.config import (
    LAM_AUTO,
    AnalysisConfig,
    ModelConfig,
    ObjectiveConfig,
    RunConfig,
    TrainConfig,
    resolve_epochs,
    resolve_output,
)
from manifold_cae.data import (
    Dataset,
    check_memory,
    check_range_for_output,
    load_dataset,
    rows_of,
    train_test_split_indices,
)
from manifold_cae.errors import CheckpointError, ConfigError
from manifold_cae.lam_search import LamSearchConfig, resolve_lam
from manifold_cae.locks import directory_lock
from manifold_cae.report import write_analysis
from manifold_cae.train import TrainResult, check_epochs_left, check_resumable, fit

REFERENCE_BYTES = 256 * 2**20  # local PCA's reference points, as float64, at most this
FLOAT64_BYTES = 8
# Training holds each float32 parameter four times: weights, gradients, Adam's two moments.
TRAINING_BYTES_PER_PARAMETER = 4 * 4


def check_model_memory(model: ModelConfig) -> None:
    """``DataError`` before building a model whose training state cannot fit in memory."""
    sizes = (model.n_features, *model.hidden)
    weights = sum(a * b for a, b in itertools.pairwise(sizes))
    n = weights * (1 if model.tied else 2) + sum(sizes[1:]) + sum(sizes[:-1])  # and biases
    check_memory(
        TRAINING_BYTES_PER_PARAMETER * n,
        source=f"hidden={list(model.hidden)}",
        what=f"a model of {n:.3g} parameters on {model.n_features} features, with its "
        "gradients and optimizer state,",
        fix="use fewer hidden units",
    )


def choose_output(ds: Dataset, output: Literal["auto", "sigmoid", "linear"]) -> str:
    """``auto`` picks a sigmoid decoder for data in [0, 1], else a linear one."""
    if output == "auto":
        return "sigmoid" if ds.in_unit_interval else "linear"
    check_range_for_output(ds, output)
    return output


def split(ds: Dataset, training: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, held_out_idx) of ``ds``, a function of ``held_out`` and ``data_seed``."""
    return train_test_split_indices(ds.n_samples, training.held_out, seed=training.data_seed)


def _with_epochs(ds: Dataset, training: TrainConfig) -> TrainConfig:
    """``training`` with ``epochs="auto"`` made a number for ``ds``'s training split."""
    return resolve_epochs(training, len(split(ds, training)[0]))


def make_run_config(
    ds: Dataset,
    *,
    hidden: tuple[int, ...],
    activation: str = "sigmoid",
    output: Literal["auto", "sigmoid", "linear"] = "auto",
    tied: bool = True,
    input_scaling: str = "auto",
    input_gain: float = 1.0,
    objective: ObjectiveConfig | None = None,
    training: TrainConfig | None = None,
) -> RunConfig:
    """The :class:`RunConfig` for training on ``ds``, with its provenance recorded.

    ``output`` and ``input_scaling`` "auto" are decided here from ``ds`` (see
    :func:`~manifold_cae.config.resolve_output`), and ``epochs`` "auto" from the size of
    its training split (:func:`~manifold_cae.config.auto_epochs`).
    """
    training = _with_epochs(ds, training or TrainConfig())
    model = ModelConfig(
        n_features=ds.n_features,
        hidden=tuple(hidden),
        activation=activation,  # type: ignore[arg-type]
        output=choose_output(ds, output),  # type: ignore[arg-type]
        tied=tied,
        input_scaling=input_scaling,
        input_gain=input_gain,
    )
    model = resolve_output(model, in_unit_interval=ds.in_unit_interval)
    check_model_memory(model)
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
    search: LamSearchConfig | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Split ``ds`` as ``config.training`` says and train on the train part with :func:`fit`.

    A ``stacked`` config trains layer by layer (:func:`~manifold_cae.stacking.train_stacked`).
    ``lam="auto"`` first chooses λ on the held-out split by a search with ``search``'s
    settings (:mod:`manifold_cae.lam_search`; ``log`` gets a line per candidate), and
    records it in the run's config; ``resume`` reuses the choice the run recorded.
    """
    check_resume_or_overwrite(resume, overwrite)
    from manifold_cae.stacking import STACK_FILE, train_stacked_dataset  # builds on this module

    if config.training.stacked:
        return train_stacked_dataset(
            ds, config, out_dir=out_dir, resume=resume, overwrite=overwrite, progress=progress
        )
    if resume and out_dir is not None and (Path(out_dir) / STACK_FILE).exists():
        raise ConfigError(
            f"{out_dir} holds a stacked run ({STACK_FILE}); add --stacked (with its --hidden "
            "layers) to resume it"
        )
    train_idx, held_idx = split(ds, config.training)
    X = rows_of(ds.X, train_idx)  # a memmap's split is read batch by batch, not copied
    held = rows_of(ds.X, held_idx) if len(held_idx) else None
    if config.objective.lam == LAM_AUTO and config.objective.info.contractive:
        config = _choose_lam(X, held, config, out_dir, resume=resume, overwrite=overwrite,
                             search=search, log=log)  # fmt: skip
    return fit(
        X,
        config,
        out_dir=out_dir,
        resume=resume,
        overwrite=overwrite,
        X_held_out=held,
        progress=progress,
    )


def _choose_lam(X: Any, held: Any, config: RunConfig, out_dir: str | Path | None, *,
                resume: bool, overwrite: bool, **kw: Any) -> RunConfig:  # fmt: skip
    """``lam="auto"`` resolved for :func:`train_dataset`: reused on resume, else searched.

    A new search runs under ``out_dir``'s lock, so an ``out_dir`` that cannot be written,
    is in use or already holds a run fails before the search, not after it.
    """
    if out_dir is not None and resume:
        return resolve_lam(X, held, config, saved=load_checkpoint(out_dir).config, **kw)
    if out_dir is None or not distributed.current().is_main:
        return resolve_lam(X, held, config, **kw)
    with directory_lock(out_dir):
        if (Path(out_dir) / MODEL_FILE).exists() and not overwrite:
            raise CheckpointError(
                f"{out_dir} already holds a run ({MODEL_FILE}); use --resume to continue it, "
                "--overwrite to replace it, or choose another --out"
            )
        return resolve_lam(X, held, config, **kw)


def resolve_run_lam(ds: Dataset, config: RunConfig, run_dir: str | Path) -> RunConfig:
    """``config`` with ``lam="auto"`` made concrete for ``run_dir`` (what a study trains).

    The choice recorded in ``run_dir``'s checkpoint if there is one, else a new search on
    ``ds``'s held-out split; any other config is returned as is. The search chooses λ
    only, not the length or the input gain (``choose_length=False, choose_gain=False``):
    every model of a study trains for the same epochs on the same inputs.
    """
    if config.objective.lam != LAM_AUTO or not config.objective.info.contractive:
        return config
    if config.training.stacked:  # not searched: each layer takes STACKED_LAM
        from manifold_cae.stacking import stacked_lam

        lam = stacked_lam(config.objective.lam)
        return dataclasses.replace(config, objective=dataclasses.replace(config.objective, lam=lam))
    train_idx, held_idx = split(ds, config.training)
    path = Path(run_dir) / MODEL_FILE
    saved = load_checkpoint(run_dir).config if path.exists() else None
    X, held = rows_of(ds.X, train_idx), rows_of(ds.X, held_idx) if len(held_idx) else None
    return resolve_lam(X, held, config, saved=saved, choose_length=False, choose_gain=False)


def continue_run(
    ds: Dataset, config: RunConfig, run_dir: str | Path, *, progress: bool | None = None
) -> str:
    """Train ``config`` into ``run_dir``: afresh, resumed, or not at all if it is complete.

    The rule is :func:`~manifold_cae.train.fit`'s ``--resume`` rule: a saved run
    continues only if everything but the epoch count matches. Returns what was done.
    """
    run_dir = Path(run_dir)
    config = dataclasses.replace(config, training=_with_epochs(ds, config.training))
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
    check_epochs_left(run_dir, ckpt.epoch, config.training.epochs)
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


def reference_sample(
    rows: np.ndarray, n_features: int, *, seed: int
) -> tuple[np.ndarray | None, str | None]:
    """A seeded sample of ``rows`` for the local-PCA baseline, when they are too many.

    The baseline holds its reference points in memory as float64, so at most
    :data:`REFERENCE_BYTES` of them: more rows than that (a large file) are sampled.

    Returns:
        (None, None) when every row fits, else the sample (sorted row indices, (m,)) and a
        note for the report that says so.
    """
    cap = max(1, REFERENCE_BYTES // (FLOAT64_BYTES * n_features))
    if len(rows) <= cap:
        return None, None
    sample = np.sort(np.random.default_rng(seed).choice(rows, size=cap, replace=False))
    note = (
        f"local-PCA neighbours are drawn from a seeded sample of {cap} of the {len(rows)} "
        f"reference rows (at most {REFERENCE_BYTES // 2**20} MiB of them in memory)"
    )
    return sample, note


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
    # what --transformations needs of the data: checked before anything is computed
    config = with_image_shape(config or AnalysisConfig(), ds.image_shape, data_spec)
    data = ds.provenance()  # fingerprints the data once (streamed for a memmap)
    trained_on = ckpt.config.data.get("sha256")
    if which != "all" and trained_on and data["sha256"] != trained_on:
        raise ConfigError(
            f"--split {which} needs the data {run_dir} was trained on, but {data_spec!r} is "
            f"other data (its fingerprint differs from the run's {ckpt.config.data.get('spec')!r})"
            "; analyse it with --split all, or pass the run's own --data"
        )
    rows = select_split(ds, ckpt.config.training, which)
    train_idx = split(ds, ckpt.config.training)[0]  # local PCA's reference for held-out rows
    held_out = which == "held-out"
    sample, note = reference_sample(
        train_idx if held_out else rows, ds.n_features, seed=config.seed
    )
    if sample is None and held_out:
        sample = train_idx
    model = ckpt.model
    if config.layer is not None:
        from manifold_cae.stacking import prefix  # stacking builds on this module

        model = prefix(model, config.layer)
    result = analyze(
        model,
        rows_of(ds.X, rows),  # a memmap's rows are read as the analysis needs them
        config=config,
        tangents=None if ds.tangents is None else ds.tangents[rows],
        reference=None if sample is None else np.asarray(rows_of(ds.X, sample)),
        progress=progress,
    )
    if note:
        result.summary = dataclasses.replace(result.summary, notes=(*result.summary.notes, note))
    result.reindex(rows)  # positions in the data set, not the subset
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
