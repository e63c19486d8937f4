"""Checkpoints: one safetensors file per run holds everything a run is.

A run directory holds

- ``model.safetensors``: **the checkpoint, one atomic unit**. Its tensors are the
  weights (under their ``state_dict`` names, so any safetensors reader sees the
  model), the optimizer's moments (``optim.<param>.<slot>``) and the generator
  states (``rng.<name>``); its JSON metadata holds the
  :class:`~manifold_cae.config.RunConfig` (the run's identity), the epoch, the
  optimizer's hyper-parameters and the history, one record per epoch.
- ``history.json``: a convenience copy of the history, written after the unit.
  Nothing reads it back for a run in this format, so a stale or missing copy
  loses nothing.

The unit is written to a temporary file and renamed over the old one, so a
crash (even ``kill -9``) at any instant leaves either the previous epoch's
complete checkpoint or the new one: weights, optimizer, generators, epoch and
history always advance together, and ``--resume`` always finds the last complete
epoch.

Runs written by manifold_cae 0.1 (format 1) split this over ``model.safetensors``
(weights), ``train_state.safetensors`` (optimizer, generators) and
``history.json``. They still load, and resume when the three agree; the first
save in the new format replaces them.

Loading never unpickles: safetensors holds raw tensors, the rest is JSON.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from manifold_cae._io import atomic_write, atomic_write_text
from manifold_cae._version import __version__
from manifold_cae.config import EPOCHS_AUTO, RunConfig
from manifold_cae.errors import CheckpointError, ConfigError
from manifold_cae.models import Autoencoder

FORMAT = "manifold_cae"
FORMAT_VERSION = 2
LEGACY_FORMAT_VERSION = 1  # manifold_cae 0.1: weights, train state and history in three files
MODEL_FILE = "model.safetensors"
HISTORY_FILE = "history.json"
LEGACY_STATE_FILE = "train_state.safetensors"
_OPTIM, _RNG = "optim.", "rng."  # tensor-name prefixes of the training state


class Checkpoint(NamedTuple):
    """A loaded model with what it was trained with."""

    model: Autoencoder
    config: RunConfig
    epoch: int  # epochs completed when it was saved
    path: Path


class ResumeState(NamedTuple):
    """What ``--resume`` needs: the checkpoint and all that advanced with it."""

    checkpoint: Checkpoint
    optimizer_state: dict[str, Any]  # for ``optimizer.load_state_dict``
    rng_states: dict[str, torch.Tensor]  # generator name -> ``get_state()``
    history: list[dict[str, Any]]  # one record per completed epoch: epochs 1..epoch


def check_resume_or_overwrite(resume: bool, overwrite: bool) -> None:
    """``resume`` keeps the run in the directory and ``overwrite`` replaces it: not both."""
    if resume and overwrite:
        raise ConfigError(
            "--resume continues the run in --out and --overwrite replaces it; give one of them"
        )


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


def config_differences(saved: RunConfig, other: RunConfig) -> list[str]:
    """Where two runs' identities differ: every setting but the epoch count and device, and
    λ where the objective has no penalty to weigh (ae, dae: saved as 0.1 before λ's default
    became "auto", and never read)."""
    a, b = saved.to_dict(), other.to_dict()
    unread = set() if saved.objective.info.contractive else {("objective", "lam")}
    diffs = []
    for section in a.keys() | b.keys():
        x, y = a.get(section) or {}, b.get(section) or {}
        for key in sorted(x.keys() | y.keys()):
            if (section == "training" and key in ("epochs", "device")) or (section, key) in unread:
                continue
            if x.get(key) != y.get(key):
                diffs.append(f"{section}.{key} {x.get(key)!r} vs {y.get(key)!r}")
    return sorted(diffs)


# ------------------------------------------------------------------ raw files


def _digest(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> str:
    """SHA-256 of the metadata and the tensors' names, dtypes, shapes and bytes.

    safetensors keeps no checksum, so a flipped bit would otherwise load silently.
    """
    h = hashlib.sha256(json.dumps({k: v for k, v in meta.items() if k != "sha256"},
                                  sort_keys=True).encode())  # fmt: skip
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())  # the buffer itself, not a copy
    return h.hexdigest()


def _write_safetensors(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    meta = {**meta, "sha256": _digest(tensors, meta)}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))


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
    if version not in (LEGACY_FORMAT_VERSION, FORMAT_VERSION):
        raise CheckpointError(
            f"{path} has checkpoint format {version}, but manifold_cae {__version__} reads "
            f"formats {LEGACY_FORMAT_VERSION} and {FORMAT_VERSION}; use the manifold_cae "
            f"version that wrote it ({meta.get('package_version', 'unknown')})"
        )
    if "sha256" in meta and _digest(tensors, meta) != meta["sha256"]:  # older files have none
        raise CheckpointError(
            f"{path} is damaged: its contents no longer match the checksum written with them "
            "(bytes changed after it was saved); restore it from a copy or re-run training"
        )
    return tensors, meta


def _config_of(path: Path, meta: dict[str, str]) -> RunConfig:
    try:
        return RunConfig.from_dict(json.loads(meta["config"]))
    except (KeyError, json.JSONDecodeError, ConfigError) as e:
        raise CheckpointError(f"{path} has no readable run config in its metadata ({e})") from e


def saved_penalty(run_dir: str | os.PathLike[str]) -> str | None:
    """The ``objective.penalty`` saved in ``run_dir``'s checkpoint, from its header alone;
    None where there is no checkpoint or it cannot be read (loading it says why)."""
    path = Path(run_dir) / MODEL_FILE
    try:
        with safe_open(str(path), framework="pt") as f:
            return _config_of(path, f.metadata() or {}).objective.penalty
    except (SafetensorError, OSError, ValueError, RuntimeError, CheckpointError):
        return None


def _header(config: RunConfig, epoch: int) -> dict[str, str]:
    if config.training.epochs == EPOCHS_AUTO:  # a saved run plans a number of epochs
        raise ConfigError(
            'config.training.epochs is "auto": save the config with the number the run '
            "trains for (config.resolve_epochs, as fit and train_dataset do)"
        )
    return {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "package_version": __version__,
        "config": json.dumps(config.to_dict()),
        "epoch": str(epoch),
    }


def _is_weight(name: str) -> bool:
    return not name.startswith((_OPTIM, _RNG))


# ---------------------------------------------------------------- the model


def save_model(
    model: Autoencoder, path: str | os.PathLike[str], *, config: RunConfig, epoch: int
) -> Path:
    """Write ``model`` and ``config`` to ``path``: a ``.safetensors`` file or a run directory.

    The file holds the weights only: it loads anywhere, but cannot be resumed.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path / MODEL_FILE
    if config.model != model.config:
        raise ConfigError("config.model does not describe this model")
    _write_safetensors(path, dict(model.state_dict()), _header(config, epoch))
    return path


def _load(path: Path) -> tuple[Checkpoint, dict[str, torch.Tensor], dict[str, str]]:
    tensors, meta = _read_safetensors(path)
    config = _config_of(path, meta)
    weights = {k: v for k, v in tensors.items() if _is_weight(k)}
    dtype = next(iter(weights.values())).dtype if weights else torch.float32
    if not dtype.is_floating_point:
        raise CheckpointError(f"{path} holds {dtype} tensors; a model checkpoint holds floats")
    # The initial weights are overwritten below; the generator only keeps the build off
    # torch's global generator, which a library must not advance behind its caller.
    model = Autoencoder(config.model, dtype=dtype, generator=torch.Generator())
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = [
        f"{k}: {tuple(weights[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in weights and weights[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{path}: its tensors do not match its model config {config.model}: "
            f"missing {missing}, unexpected {unexpected}, shape mismatches {wrong}"
        )
    model.load_state_dict(weights)
    return Checkpoint(model, config, int(meta.get("epoch", 0)), path), tensors, meta


def load_checkpoint(
    path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
) -> Checkpoint:
    """Rebuild the exact model saved at ``path`` (a run directory or a file).

    Raises:
        CheckpointError: the file is missing, corrupt or not this toolkit's, or it is a
            stack saved without its first layer's input scaling
            (:func:`~manifold_cae.stacking.check_composite_scaling`).
    """
    file = resolve_model_path(path)
    ckpt, _, _ = _load(file)
    if ckpt.config.training.stacked and ckpt.model.scaled:
        from manifold_cae.stacking import check_composite_scaling  # stacking builds on this

        check_composite_scaling(file.parent, ckpt.model)
    return ckpt._replace(model=ckpt.model.to(map_location))


def load_model(
    path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
) -> Autoencoder:
    """The model saved at ``path`` (a run directory or its model.safetensors)."""
    return load_checkpoint(path, map_location=map_location).model


# ------------------------------------------------------- the training unit


def save_checkpoint(
    run_dir: str | os.PathLike[str],
    *,
    model: Autoencoder,
    optimizer: torch.optim.Optimizer,
    generators: dict[str, torch.Generator],
    config: RunConfig,
    history: list[dict[str, Any]],
) -> Path:
    """Write the run's checkpoint unit in one atomic rename; then history.json's copy.

    The epoch is ``len(history)``: the history holds one record per completed epoch.
    """
    run_dir = Path(run_dir)
    if config.model != model.config:
        raise ConfigError("config.model does not describe this model")
    records = [json.dumps(r, allow_nan=False) for r in history]  # fails before any write
    tensors = dict(model.state_dict())
    tensors.update({f"{_RNG}{name}": g.get_state() for name, g in generators.items()})
    state = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for idx, slots in state["state"].items():
        for name, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{_OPTIM}{idx}.{name}"] = value
            else:
                scalars.setdefault(str(idx), {})[name] = value
    meta = {
        **_header(config, len(history)),
        "param_groups": json.dumps(state["param_groups"]),
        "scalars": json.dumps(scalars),
        "history": "[" + ",".join(records) + "]",
    }
    path = run_dir / MODEL_FILE
    _write_safetensors(path, tensors, meta)
    atomic_write_text(
        run_dir / HISTORY_FILE,
        f'{{"config": {json.dumps(config.to_dict())},\n "epochs": [\n  '
        + ",\n  ".join(records)
        + "\n ]}\n",
    )
    (run_dir / LEGACY_STATE_FILE).unlink(missing_ok=True)  # a 0.1 run, now superseded
    return path


def _checked_history(path: Path, records: Any, epoch: int) -> list[dict[str, Any]]:
    """``records`` if they are exactly epochs 1..epoch with finite numbers."""
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise CheckpointError(f"{path} is corrupt: its history is not a list of records")
    numbers = [v for r in records for v in r.values() if isinstance(v, float)]
    if [r.get("epoch") for r in records] != list(range(1, epoch + 1)):
        raise CheckpointError(
            f"{path} holds {len(records)} history records for a checkpoint at epoch {epoch}; "
            "the missing records cannot be recovered. The weights still load for analysis; "
            "to train on, start afresh with --overwrite"
        )
    if not all(math.isfinite(v) for v in numbers):
        raise CheckpointError(f"{path} holds non-finite values in its history; cannot resume")
    return records


def _legacy_history(run_dir: Path, epoch: int) -> list[dict[str, Any]]:
    path = run_dir / HISTORY_FILE
    try:
        records = json.loads(path.read_text())["epochs"]
    except FileNotFoundError:
        records = []
    except (ValueError, KeyError, TypeError, OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is corrupt ({e}); cannot resume") from e
    return _checked_history(path, records[:epoch] if isinstance(records, list) else None, epoch)


def read_history(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The per-epoch records of the run in ``run_dir``, from its checkpoint unit.

    Runs written by manifold_cae 0.1 keep them only in ``history.json``.
    """
    model_path = Path(run_dir) / MODEL_FILE
    if model_path.is_file():
        _, meta = _read_safetensors(model_path)
        if "history" in meta:
            return _checked_history(model_path, _parse_json(model_path, meta, "history"),
                                    int(meta["epoch"]))  # fmt: skip
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


def _parse_json(path: Path, meta: dict[str, str], key: str) -> Any:
    try:
        return json.loads(meta[key])
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{path} has unreadable training-state metadata ({e})") from e


def _optimizer_state(
    path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str], model: Autoencoder
) -> dict[str, Any]:
    """The optimizer's ``state_dict``, checked to fit ``model``'s parameters."""
    groups, scalars = _parse_json(path, meta, "param_groups"), _parse_json(path, meta, "scalars")
    slots: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(_OPTIM):
            _, idx, name = key.split(".", 2)
            slots.setdefault(int(idx), {})[name] = value
    for idx, extra in scalars.items():
        slots.setdefault(int(idx), {}).update(extra)
    shapes = [tuple(p.shape) for p in model.parameters()]
    n_params = sum(len(g.get("params", ())) for g in groups)
    problems = [f"state for {n_params} parameters, the model has {len(shapes)}"] * (
        n_params != len(shapes)
    )
    for idx, named in sorted(slots.items()):
        for name, value in named.items():
            if isinstance(value, torch.Tensor) and value.ndim:
                if idx >= len(shapes) or tuple(value.shape) != shapes[idx]:
                    want = shapes[idx] if idx < len(shapes) else "no such parameter"
                    problems.append(f"{name} of parameter {idx}: {tuple(value.shape)} vs {want}")
    if problems:
        raise CheckpointError(
            f"{path}: its optimizer state does not fit the model in {path.parent / MODEL_FILE} "
            f"({'; '.join(problems[:3])}); it is from another run. Put back this run's own "
            "file, or start afresh with --overwrite"
        )
    return {"state": slots, "param_groups": groups}


def _legacy_state(ckpt: Checkpoint) -> tuple[Path, dict[str, torch.Tensor], dict[str, str]]:
    """A 0.1 run's train_state.safetensors, checked to belong to its model.safetensors."""
    path = ckpt.path.parent / LEGACY_STATE_FILE
    if not path.is_file():
        raise CheckpointError(
            f"cannot resume: {path} is missing; start without --resume or pick the right run dir"
        )
    tensors, meta = _read_safetensors(path)
    diffs = config_differences(ckpt.config, _config_of(path, meta))
    if int(meta.get("epoch", -1)) != ckpt.epoch:
        diffs.append(f"epoch {ckpt.epoch} vs {meta.get('epoch')}")
    if diffs:
        raise CheckpointError(
            f"cannot resume: {path} is not the training state of {ckpt.path} "
            f"(model vs train state: {'; '.join(diffs)}); it is from another run or an "
            "interrupted write. Put back this run's own file, or start afresh with --overwrite"
        )
    return path, tensors, meta


def load_resume_state(run_dir: str | os.PathLike[str]) -> ResumeState:
    """Everything ``--resume`` needs from ``run_dir``, checked to belong together."""
    ckpt, tensors, meta = _load(resolve_model_path(run_dir))
    if "history" in meta:
        history = _checked_history(ckpt.path, _parse_json(ckpt.path, meta, "history"), ckpt.epoch)
        source = ckpt.path
    elif int(meta["format_version"]) == LEGACY_FORMAT_VERSION:
        source, tensors, meta = _legacy_state(ckpt)
        history = _legacy_history(ckpt.path.parent, ckpt.epoch)
    else:
        raise CheckpointError(
            f"cannot resume {ckpt.path}: it holds weights only (saved by save_model, not by "
            "training); train afresh with --overwrite"
        )
    rngs = {k.removeprefix(_RNG): v for k, v in tensors.items() if k.startswith(_RNG)}
    optimizer_state = _optimizer_state(source, tensors, meta, ckpt.model)
    return ResumeState(ckpt, optimizer_state, rngs, history)
