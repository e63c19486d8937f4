"""A training run from a data set: the split, the decoder output, provenance.

This is what ``manifold-cae train`` (and ``compare``) call, so the CLI holds no
logic the Python API lacks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from manifold_cae.config import ModelConfig, ObjectiveConfig, RunConfig, TrainConfig
from manifold_cae.data import Dataset, check_range_for_output, train_test_split_indices
from manifold_cae.train import TrainResult, fit


def choose_output(ds: Dataset, output: Literal["auto", "sigmoid", "linear"]) -> str:
    """``auto`` picks a sigmoid decoder for data in [0, 1], else a linear one."""
    if output == "auto":
        return "sigmoid" if ds.in_unit_interval else "linear"
    check_range_for_output(ds, output)
    return output


def split(ds: Dataset, training: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, held_out_idx) of ``ds``, a function of ``training.held_out`` and ``seed``."""
    return train_test_split_indices(ds.n_samples, training.held_out, seed=training.seed)


def make_run_config(
    ds: Dataset,
    *,
    hidden: tuple[int, ...],
    activation: str = "sigmoid",
    output: Literal["auto", "sigmoid", "linear"] = "auto",
    tied: bool = True,
    objective: ObjectiveConfig | None = None,
    training: TrainConfig | None = None,
) -> RunConfig:
    """The :class:`RunConfig` for training on ``ds``, with its provenance recorded."""
    training = training or TrainConfig()
    model = ModelConfig(
        n_features=ds.n_features,
        hidden=tuple(hidden),
        activation=activation,  # type: ignore[arg-type]
        output=choose_output(ds, output),  # type: ignore[arg-type]
        tied=tied,
    )
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
    """Split ``ds`` as ``config.training`` says and train on the train part with :func:`fit`."""
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
