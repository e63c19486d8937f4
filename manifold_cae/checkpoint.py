"""Checkpoints: safetensors weights with the full run config as JSON metadata.

A run directory holds

- ``model.safetensors``: the weights, and in the metadata the
  :class:`~manifold_cae.config.RunConfig` (model, objective, training, data
  provenance), the epoch and the package version;
- ``train_state.safetensors``: optimizer moments and the RNG state, for ``--resume``;
- ``history.json``: one record per epoch.

Loading never unpickles: safetensors holds raw tensors, the rest is JSON.
Every file is written atomically, so a crash mid-write leaves the previous
checkpoint intact.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from manifold_cae._io import atomic_write
from manifold_cae._version import __version__
from manifold_cae.config import RunConfig
from manifold_cae.errors import CheckpointError, ConfigError
from manifold_cae.models import Autoencoder

FORMAT = "manifold_cae"
FORMAT_VERSION = 1
MODEL_FILE = "model.safetensors"
STATE_FILE = "train_state.safetensors"
HISTORY_FILE = "history.json"


class Checkpoint(NamedTuple):
    """A loaded model with what it was trained with."""

    model: Autoencoder
    config: RunConfig
    epoch: int  # epochs completed when it was saved
    path: Path


def resolve_model_path(path: str | os.PathLike[str]) -> Path:
    """A run directory or a ``.safetensors`` file -> the model file."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise CheckpointError(
            f"no checkpoint at {path}: expected RUN_DIR/{MODEL_FILE} as written by "
            f"'manifold-cae train --out RUN_DIR'"
        )
    return path


def _write_safetensors(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), **meta}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes); re-run training to recreate it")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(
            f"{path} is truncated or corrupt ({e}); restore it from a copy or re-run training"
        ) from e
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a safetensors file but not a manifold_cae checkpoint "
            f"(metadata format={meta.get('format')!r})"
        )
    try:
        version = int(meta.get("format_version", "0"))
        int(meta.get("epoch", "0"))
    except ValueError as e:
        raise CheckpointError(
            f"{path} has malformed metadata ({e}); it was not written by us"
        ) from e
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {version}, but manifold_cae {__version__} reads "
            f"format {FORMAT_VERSION}; use the manifold_cae version that wrote it "
            f"({meta.get('package_version', 'unknown')})"
        )
    return tensors, meta


def save_model(
    model: Autoencoder, path: str | os.PathLike[str], *, config: RunConfig, epoch: int
) -> Path:
    """Write ``model`` and ``config`` to ``path``: a ``.safetensors`` file or a run directory."""
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path / MODEL_FILE
    if config.model != model.config:
        raise ConfigError("config.model does not describe this model")
    meta = {
        "config": json.dumps(config.to_dict()),
        "epoch": str(epoch),
        "package_version": __version__,
    }
    _write_safetensors(path, dict(model.state_dict()), meta)
    return path


def load_checkpoint(
    path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
) -> Checkpoint:
    """Rebuild the exact model saved at ``path`` (a run directory or a file)."""
    path = resolve_model_path(path)
    tensors, meta = _read_safetensors(path)
    try:
        config = RunConfig.from_dict(json.loads(meta["config"]))
    except (KeyError, json.JSONDecodeError, ConfigError) as e:
        raise CheckpointError(f"{path} has no readable run config in its metadata ({e})") from e
    dtype = next(iter(tensors.values())).dtype if tensors else torch.float32
    if not dtype.is_floating_point:
        raise CheckpointError(f"{path} holds {dtype} tensors; a model checkpoint holds floats")
    # The initial weights are overwritten below; the generator only keeps the build off
    # torch's global generator, which a library must not advance behind its caller.
    model = Autoencoder(config.model, dtype=dtype, generator=torch.Generator())
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = [
        f"{k}: {tuple(tensors[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{path}: its tensors do not match its model config {config.model}: "
            f"missing {missing}, unexpected {unexpected}, shape mismatches {wrong}"
        )
    model.load_state_dict(tensors)
    return Checkpoint(model.to(map_location), config, int(meta.get("epoch", 0)), path)


def read_history(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The per-epoch records in ``run_dir/history.json``."""
    path = Path(run_dir) / HISTORY_FILE
    try:
        epochs = json.loads(path.read_text())["epochs"]
    except FileNotFoundError:
        raise CheckpointError(
            f"{path} is missing: the run's history was lost. Retrain the run, or continue it "
            "with 'manifold-cae train --resume' to write a new history"
        ) from None
    except (ValueError, KeyError, TypeError, OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is corrupt ({e}); retrain the run") from e
    if not isinstance(epochs, list) or not all(isinstance(r, dict) for r in epochs):
        raise CheckpointError(f"{path} is corrupt (its epochs are not a list of records)")
    return epochs


def load_model(
    path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
) -> Autoencoder:
    """The model saved at ``path`` (a run directory or its model.safetensors)."""
    return load_checkpoint(path, map_location=map_location).model


def save_train_state(
    path: str | os.PathLike[str],
    *,
    optimizer: torch.optim.Optimizer,
    generators: dict[str, torch.Generator],
    epoch: int,
    config: RunConfig,
) -> Path:
    """Write what ``--resume`` needs beyond the weights: optimizer and generator states."""
    state = optimizer.state_dict()
    tensors = {f"rng.{name}": g.get_state().cpu() for name, g in generators.items()}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, slots in state["state"].items():
        for name, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{name}"] = value
            else:
                scalars.setdefault(str(idx), {})[name] = value
    meta = {
        "param_groups": json.dumps(state["param_groups"]),
        "scalars": json.dumps(scalars),
        "epoch": str(epoch),
        "config": json.dumps(config.to_dict()),
        "package_version": __version__,
    }
    path = Path(path)
    _write_safetensors(path, tensors, meta)
    return path


class TrainState(NamedTuple):
    optimizer_state: dict[str, Any]  # for ``optimizer.load_state_dict``
    rng_states: dict[str, torch.Tensor]  # generator name -> ``get_state()``
    epoch: int
    config: RunConfig


def load_train_state(path: str | os.PathLike[str]) -> TrainState:
    """Read a file written by :func:`save_train_state`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"cannot resume: {path} is missing; start without --resume or pick the right run dir"
        )
    tensors, meta = _read_safetensors(path)
    try:
        groups = json.loads(meta["param_groups"])
        scalars = json.loads(meta["scalars"])
        config = RunConfig.from_dict(json.loads(meta["config"]))
        epoch = int(meta["epoch"])
    except (KeyError, ValueError, ConfigError) as e:
        raise CheckpointError(f"{path} has unreadable training-state metadata ({e})") from e
    slots: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            slots.setdefault(int(idx), {})[name] = value
    for idx, extra in scalars.items():
        slots.setdefault(int(idx), {}).update(extra)
    rngs = {k.removeprefix("rng."): v for k, v in tensors.items() if k.startswith("rng.")}
    return TrainState({"state": slots, "param_groups": groups}, rngs, epoch, config)
