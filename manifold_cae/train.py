"""The training loop: mini-batches, history, a divergence guard, checkpoints and resume.

Randomness comes from three generators, all derived from ``training.seed``:
the initial weights (``seed``), the shuffling (``seed + 1``) and the
corruption noise / Hutchinson probes (``seed + 2``). Weights, optimizer
moments, both training generators and the history are checkpointed together,
in one atomic file, after every epoch (see :mod:`manifold_cae.checkpoint`), so
a resumed run reproduces an uninterrupted one bit for bit on CPU, however the
previous process ended. A run directory has one writer at a time
(:mod:`manifold_cae.locks`).

The loop only needs ``X[indices]`` from the data, so a ``numpy.memmap`` (or a
:class:`~manifold_cae.data.RowView` of one) is never loaded: each batch's rows are
read as the step needs them, in ascending order, and the finiteness check, the
input scaling and the held-out loss stream through it in bounded chunks.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from manifold_cae import distributed
from manifold_cae._io import remove_temporaries
from manifold_cae.checkpoint import (
    HISTORY_FILE,
    MODEL_FILE,
    config_differences,
    load_resume_state,
    save_checkpoint,
    saved_penalty,
)
from manifold_cae.config import (
    LAM_AUTO,
    ModelConfig,
    RunConfig,
    TrainConfig,
    closed_form_possible,
    replace,
    resolve_epochs,
    resolve_output,
    resolve_penalty,
)
from manifold_cae.data.streaming import RowView, row_chunks
from manifold_cae.device import resolve_device
from manifold_cae.errors import CheckpointError, ConfigError, DataError, DivergenceError
from manifold_cae.jacobian import closed_form_available, encoder_frobenius_sq
from manifold_cae.locks import directory_lock
from manifold_cae.models import SCALED, Autoencoder
from manifold_cae.noise import batch_rows
from manifold_cae.objectives import loss_terms, reconstruction_loss

MONITOR_POINTS = 1024  # points used for the per-epoch mean ||J_f||_F
_MONITOR_PROBES = 8
BLOW_UP = 1e6  # a reconstruction this many times its value at the start has diverged


@dataclass
class TrainResult:
    """What :func:`fit` returns."""

    model: Autoencoder
    config: RunConfig
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per epoch
    run_dir: Path | None = None
    start_epoch: int = 0  # epochs already done when this call began (> 0 on resume)


def init_model(config: RunConfig, *, dtype: torch.dtype = torch.float32) -> Autoencoder:
    """The model ``config`` describes, initialised from ``config.training.seed``."""
    gen = torch.Generator().manual_seed(config.training.seed)
    return Autoencoder(config.model, generator=gen, dtype=dtype)


Source = Tensor | RowView  # training rows: in memory, or read from a memmap batch by batch


def _row_source(X: Any) -> Source | np.ndarray:
    """X as a :data:`Source` where that costs no copy of a file: a memmap becomes a
    :class:`RowView` of all its rows; anything else is returned as an array to convert."""
    if isinstance(X, Tensor | RowView):
        return X
    if isinstance(X, np.memmap) and X.ndim == 2:
        return RowView(X, np.arange(X.shape[0]))
    return X if isinstance(X, np.ndarray) else np.asarray(X)


def _as_source(X: Any, n_features: int, name: str) -> Source:
    """Validate the training array at the boundary, without reading a memmap whole.

    In-memory data become one float32 tensor; a memmap or a :class:`RowView` stays on
    disk and is read a batch at a time.
    """
    if isinstance(X, Tensor):
        X = X.detach().cpu().numpy()
    X = _row_source(X)
    if X.ndim != 2:
        raise DataError(f"{name} must be 2-D (n_samples, n_features); got shape {X.shape}")
    if X.shape[0] == 0:
        raise DataError(f"{name} has no rows")
    if X.shape[1] != n_features:
        raise DataError(
            f"{name} has {X.shape[1]} features but the model expects {n_features}; "
            f"pass data of the model's dimension or set n_features={X.shape[1]}"
        )
    if isinstance(X, RowView):
        return X
    # Converted before the scan, so it checks what training sees (float32 may overflow).
    return torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))


def resolve_model_for(X: Any, model: ModelConfig) -> ModelConfig:
    """``model`` with ``output`` and ``input_scaling`` "auto" decided by the training rows
    ``X`` (:func:`~manifold_cae.config.resolve_output`), whose values are checked finite.

    Args:
        X: (n_samples, n_features) training data (array, tensor, memmap or row view).
    """
    return _resolve_model(_as_source(X, model.n_features, "training data"), model)


def _resolve_model(source: Source, model: ModelConfig) -> ModelConfig:
    auto = model.output == "auto"  # only then is the data's range needed (decision 2)
    span = _scan(source, "training data", want_range=auto)
    in_unit = span is None or (span[0] >= 0 and span[1] <= 1)
    return resolve_output(model, in_unit_interval=in_unit)


def _scan(source: Source, name: str, *, want_range: bool) -> tuple[float, float] | None:
    """Check every value is finite, in one streamed pass; (min, max) too if ``want_range``.

    Raises:
        DataError: naming the first NaN or inf.
    """
    X = source.numpy() if isinstance(source, Tensor) else source
    low, high = math.inf, -math.inf
    for start, chunk in row_chunks(X):  # (m, n_features), a bounded piece of a memmap
        if not np.isfinite(chunk).all():
            r, c = np.argwhere(~np.isfinite(chunk))[0]
            raise DataError(
                f"{name} holds NaN or inf (first at row {start + r}, column {c}: "
                f"{chunk[r, c]}); remove or impute those rows"
            )
        if want_range:
            low, high = min(low, float(chunk.min())), max(high, float(chunk.max()))
    return (low, high) if want_range else None


def _gather(source: Source, idx: Tensor | slice, device: torch.device) -> Tensor:
    """Rows ``idx`` of ``source``, in idx's order: (m, n_features) float32 on ``device``."""
    if isinstance(source, Tensor):
        return source[idx].to(device)
    # A RowView reads rows in ascending order (kind to a memmap) and returns them in the
    # order asked: corruption noise is drawn row by row, so a memmap must give the batch
    # in the same order as an in-memory array to train identically.
    key = idx if isinstance(idx, slice) else idx.numpy()
    return torch.from_numpy(np.asarray(source[key], dtype=np.float32)).to(device)


def _batches(source: Source, device: torch.device, batch_size: int) -> Iterator[Tensor]:
    """``source``'s rows in order, ``batch_size`` at a time: (m, n_features) on ``device``."""
    for start in range(0, source.shape[0], batch_size):
        yield _gather(source, slice(start, start + batch_size), device)


def _make_optimizer(model: Autoencoder, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)


@torch.no_grad()
def mean_jacobian_norm(
    model: Autoencoder, x: Tensor, *, seed: int = 0, batch_size: int = 256
) -> float:
    """Mean over rows of ||J_f(x)||_F: exact for one layer, else Hutchinson with 8 probes.

    Args:
        model: the autoencoder.
        x: (n_samples, n_features).
        seed: seeds the probes for deep encoders, so the monitor is reproducible.
    """
    gen = torch.Generator(device=x.device).manual_seed(seed)
    method = "closed" if closed_form_available(model) else "stochastic"
    norms = [
        encoder_frobenius_sq(
            model, x[i : i + batch_size], method=method, n_probes=_MONITOR_PROBES, generator=gen
        ).sqrt()
        for i in range(0, x.shape[0], batch_size)
    ]
    return float(torch.cat(norms).mean())


@torch.no_grad()
def mean_reconstruction(model: Autoencoder, x: Any, *, batch_size: int = 1024) -> float:
    """Mean reconstruction loss (summed over features) of clean inputs.

    Args:
        model: the autoencoder.
        x: (n_samples, n_features): a tensor, or an array, memmap or RowView, read and
            moved to the model's device ``batch_size`` rows at a time.
    """
    source = _row_source(x)
    if isinstance(source, np.ndarray):
        source = torch.from_numpy(np.ascontiguousarray(source, dtype=np.float32))
    device = next(model.parameters()).device
    total = sum(
        float(reconstruction_loss(model, xb, xb).sum())
        for xb in _batches(source, device, batch_size)
    )
    return total / source.shape[0]


def mean_scaled_reconstruction(model: Autoencoder, x: Any, *, batch_size: int = 1024) -> float:
    """:func:`mean_reconstruction` in the model's own (standardized) coordinates, where
    its loss is trained; ``x`` as there, in raw units."""
    source = _row_source(x)
    if isinstance(source, np.ndarray):
        source = torch.from_numpy(np.ascontiguousarray(source, dtype=np.float32))
    device = next(model.parameters()).device
    return _held_out_reconstruction(model, source, device, batch_size=batch_size)


@torch.no_grad()
def _held_out_reconstruction(
    model: Autoencoder, held: Source, device: torch.device, *, batch_size: int = 1024
) -> float:
    """:func:`mean_reconstruction` of ``held`` in the model's own (standardized) coordinates,
    where the loss is trained, read a batch at a time."""
    core = model.core()
    total = 0.0
    for xb in _batches(held, device, batch_size):
        zb = model.standardize(xb)
        total += float(reconstruction_loss(core, zb, zb).sum())
    return total / held.shape[0]


def check_resumable(saved: RunConfig, wanted: RunConfig, path: Path) -> None:
    """Everything but the epoch count (and device) must match to resume.

    Penalty "auto" is compared as what it computes: a saved "auto" (a run saved before
    "auto" was resolved) as it was then trained, and so is a requested "auto" against it
    (such a run continues as it was trained: :func:`fit`); else a requested one by
    today's rule.
    """
    both_auto = saved.objective.penalty == wanted.objective.penalty == "auto"
    saved, wanted = resolve_penalty(saved, legacy=True), resolve_penalty(wanted, legacy=both_auto)
    diffs = config_differences(saved, wanted)
    if diffs:
        hint = ""
        if saved.objective.penalty != wanted.objective.penalty:
            hint = f" To continue it as it was trained, use --penalty {saved.objective.penalty}."
        raise CheckpointError(
            f"cannot resume {path}: the run was started with a different configuration "
            f"(saved vs requested: {'; '.join(diffs)}). Only --epochs may change on resume "
            f"(the run planned {saved.training.epochs}; --epochs auto may ask for another "
            "number since this release); start afresh with --overwrite, or choose another "
            f"--out.{hint}"
        )


def check_epochs_left(run_dir: Path, trained: int, asked: int) -> None:
    """A resume must ask for at least the ``trained`` epochs the run in ``run_dir`` has."""
    if trained > asked:
        raise CheckpointError(
            f"{run_dir} was trained for {trained} epochs, more than the {asked} asked for; "
            f"resume with --epochs {trained} or more, or use another output directory"
        )


def fit(
    X: Any,
    config: RunConfig,
    *,
    model: Autoencoder | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    X_held_out: Any = None,
    progress: bool | None = None,
) -> TrainResult:
    """Train the autoencoder ``config`` describes on ``X``.

    Args:
        X: (n_samples, n_features) training data: a numpy array, tensor, memmap or
            :class:`~manifold_cae.data.RowView`; a memmap or row view is never read
            whole (each step reads its batch).
        config: model, objective, training settings and data provenance.
        model: initial weights (e.g. a pretrained stack); it must match
            ``config.model`` and is not modified. Default: a fresh
            initialisation from ``config.training.seed``.
        out_dir: run directory; when given, it is locked for the call, and one
            checkpoint file (weights, optimizer, generators, history) is replaced
            atomically after every epoch.
        resume: continue the run saved in ``out_dir`` up to ``config.training.epochs``.
            ``epochs="auto"`` is made a number from the rows of ``X`` here
            (:func:`~manifold_cae.config.auto_epochs`); the result's config holds it.
        overwrite: allow starting afresh in an ``out_dir`` that already holds a run.
        X_held_out: optional (n_held_out, n_features), of the same kinds as X; its
            reconstruction loss is recorded each epoch, computed batch by batch.
        progress: show a progress bar; ``None`` shows it only on a terminal.

    Returns:
        :class:`TrainResult` with the trained model and the per-epoch history.

    Raises:
        DivergenceError: the loss, the weights or any recorded number (held-out
            reconstruction included) became NaN or inf. Nothing of that epoch is
            saved: the checkpoint on disk is the last good epoch.
        LockError: ``out_dir`` cannot be written, or another process is writing it.
    """
    tcfg, ocfg = config.training, config.objective
    if ocfg.lam == LAM_AUTO and ocfg.info.contractive:  # a search train_dataset runs first
        raise ConfigError(
            'fit trains one given λ, and lam is "auto" (the default): give ObjectiveConfig '
            "a number (lam=0.1), call runs.train_dataset (it chooses λ on the held-out split), "
            "or choose it first with lam_search.resolve_lam"
        )
    if ocfg.penalty == "closed" and not closed_form_possible(config.model) and ocfg.kind in (
        "cae", "cae-h"
    ):  # fmt: skip
        raise ConfigError(
            f"penalty 'closed' needs a single encoder layer; hidden={config.model.hidden}. "
            "Use --penalty exact or stochastic"
        )
    device = resolve_device(tcfg.device)
    source = _as_source(X, config.model.n_features, "training data")
    config = replace(config, training=resolve_epochs(tcfg, source.shape[0]))
    config = replace(config, model=_resolve_model(source, config.model))
    # Saved concrete, as the epochs are. A run saved before "auto" was resolved continues
    # as it was trained (legacy_auto_penalty), so that it equals the uninterrupted run.
    legacy = resume and out_dir is not None and saved_penalty(out_dir) == "auto"
    config = resolve_penalty(config, legacy=legacy)
    if config.model.output == "sigmoid" and config.model.input_scaling in SCALED:
        raise ConfigError(  # scaled targets leave [0, 1]: the cross-entropy falls without bound
            f"a sigmoid decoder needs targets in [0, 1], but input_scaling="
            f"{config.model.input_scaling!r} moves them out; use --input-scaling none (or "
            "auto), or --output linear"
        )
    held = None
    if X_held_out is not None and len(X_held_out):
        held = _as_source(X_held_out, config.model.n_features, "held-out data")
        _scan(held, "held-out data", want_range=False)
    monitor = _gather(source, torch.arange(min(source.shape[0], MONITOR_POINTS)), device)

    run_dir = Path(out_dir) if out_dir is not None else None
    if run_dir is None:
        state = _initial_state(config, model, device, source)
        return _loop(state, source, held, monitor, config, device, None, progress)
    if not distributed.current().is_main:  # rank 0 alone writes; the others read to resume
        state = _initial_state(config, model, device, source)
        if resume:
            _restore(run_dir, config, state)
        return _loop(state, source, held, monitor, config, device, None, progress=False)
    # The lock comes first: it checks that run_dir can be written before any work, and
    # keeps a second writer out for as long as this one trains.
    with directory_lock(run_dir):
        for name in (MODEL_FILE, HISTORY_FILE):
            remove_temporaries(run_dir / name)  # left by a writer killed mid-save
        state = _initial_state(config, model, device, source)
        if resume:
            _restore(run_dir, config, state)
        elif (run_dir / MODEL_FILE).exists() and not overwrite:
            raise CheckpointError(
                f"{run_dir} already holds a run ({MODEL_FILE}); use --resume to continue it, "
                f"--overwrite to replace it, or choose another --out"
            )
        return _loop(state, source, held, monitor, config, device, run_dir, progress)


def _loop(
    state: TrainState,
    source: Source,
    held: Source | None,
    monitor: Tensor,
    config: RunConfig,
    device: torch.device,
    run_dir: Path | None,
    progress: bool | None,
) -> TrainResult:
    """Train ``state`` from its epoch to ``config.training.epochs``, saving each epoch."""
    tcfg, start = config.training, state.epoch
    show = sys.stderr.isatty() if progress is None else progress
    from tqdm.auto import tqdm  # progress bars only; keeps import of the module light

    bar = tqdm(
        range(start, tcfg.epochs),
        initial=start,
        total=tcfg.epochs,
        desc=f"train {config.objective.kind}",
        unit="epoch",
        disable=not show,
    )
    # What "diverged" means for a finite loss: far above where this training started.
    with torch.no_grad():
        z = state.model.standardize(monitor)
        spread = float((z - z.mean(0)).square().sum(1).mean())  # predicting the mean
    start_recon = max(mean_reconstruction(state.model.core(), z), spread)
    for epoch in bar:
        t0 = time.perf_counter()
        record = {"epoch": epoch + 1, **train_epoch(state, source, config, device, run_dir)}
        world = distributed.current()
        if world.size > 1:  # recorded per epoch: a run may resume with another world size
            record |= {"world_size": world.size, "backend": world.backend}
        state.model.eval()
        # Monitored where the penalty acts: on the model's own (standardized) coordinates.
        core, scaled = state.model.core(), state.model.standardize
        record["jacobian_norm"] = mean_jacobian_norm(core, scaled(monitor), seed=tcfg.seed)
        if held is not None:
            record["held_out_reconstruction"] = _held_out_reconstruction(state.model, held, device)
        record["seconds"] = time.perf_counter() - t0
        # Every recorded number is checked before anything is saved, so a divergence
        # seen only in one of them still leaves the last good epoch on disk.
        _check_finite(record, state, config, run_dir, start_recon)
        state.history.append(record)
        state.epoch = epoch + 1
        bar.set_postfix(
            recon=f"{record['reconstruction']:.4g}",
            penalty=f"{record['penalty']:.3g}",
            jac=f"{record['jacobian_norm']:.3g}",
        )
        if run_dir is not None:
            save_checkpoint(
                run_dir,
                model=state.model,
                optimizer=state.optimizer,
                generators={"shuffle": state.shuffle_gen, "noise": state.noise_gen},
                config=config,
                history=state.history,
            )
    bar.close()
    return TrainResult(state.model, config, state.history, run_dir, start_epoch=start)


@dataclass
class TrainState:
    """Everything that advances during training and is checkpointed together."""

    model: Autoencoder
    optimizer: torch.optim.Optimizer
    shuffle_gen: torch.Generator  # draws the order of each epoch
    noise_gen: torch.Generator  # draws corruption noise and Hutchinson probes
    epoch: int = 0  # epochs completed
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per epoch


def _initial_state(
    config: RunConfig, model: Autoencoder | None, device: torch.device, source: Source
) -> TrainState:
    tcfg = config.training
    if model is None:
        model = init_model(config)
        model.set_input_scaling(source)  # from the training data only
    else:
        if model.config != config.model:
            raise ConfigError(
                f"the initial model's architecture {model.config} differs from the run's "
                f"{config.model}; pass a model built from the same ModelConfig"
            )
        model = copy.deepcopy(model)
    model = model.to(device)
    return TrainState(
        model,
        _make_optimizer(model, tcfg),
        torch.Generator().manual_seed(tcfg.seed + 1),
        torch.Generator(device=device).manual_seed(tcfg.seed + 2),
    )


def train_epoch(
    state: TrainState,
    source: Source,
    config: RunConfig,
    device: torch.device,
    run_dir: Path | None = None,
) -> dict[str, float]:
    """One pass over ``source`` in the order ``state.shuffle_gen`` draws.

    Returns the epoch's mean loss, reconstruction and penalty (weighted by batch size).

    Under ``torchrun`` each rank takes its contiguous share of every global batch
    (the batch and the order stay what one process would use), draws its rows of
    the batch's noise (:mod:`manifold_cae.noise`), weights its loss by its share,
    and the gradients are summed over the ranks before every step: the update is
    the one-process update, up to the order of float additions.
    """
    n, tcfg = source.shape[0], config.training
    world = distributed.current()
    state.model.train()
    core = state.model.core()
    perm = torch.randperm(n, generator=state.shuffle_gen)
    sums = torch.zeros(3, dtype=torch.float64)  # loss, reconstruction, penalty
    for batch, start in enumerate(range(0, n, tcfg.batch_size)):
        idx = perm[start : start + tcfg.batch_size]
        lo, hi = distributed.my_rows(len(idx), world)
        share = (hi - lo) / len(idx)
        if hi == lo:  # more ranks than rows: draw the noise all the same, contribute nothing
            lo, hi = 0, 1
        xb = _gather(source, idx[lo:hi], device)
        zb = state.model.standardize(xb)  # training runs in the model's own coordinates
        with batch_rows(lo, hi, len(idx)):
            terms = loss_terms(core, zb, config.objective, generator=state.noise_gen)
        bad = distributed.all_reduce_sum(torch.tensor([float(not torch.isfinite(terms.total))]))
        if bad.item() > 0:
            value = float(terms.total.detach())
            _diverged(value, state.epoch, batch, config, run_dir, state.history)
        state.optimizer.zero_grad(set_to_none=True)
        (terms.total * share).backward()
        distributed.all_reduce_gradients(state.model, world)
        state.optimizer.step()
        parts = (terms.total, terms.reconstruction, terms.penalty)
        sums += torch.tensor([float(t.detach()) for t in parts], dtype=torch.float64) * (
            share * len(idx) / n
        )
    sums = distributed.all_reduce_sum(sums, world)
    return dict(zip(("loss", "reconstruction", "penalty"), sums.tolist(), strict=True))


def _check_finite(
    record: dict[str, float],
    state: TrainState,
    config: RunConfig,
    run_dir: Path | None,
    start_recon: float = math.inf,
) -> None:
    """Raise DivergenceError if the weights or any number in ``record`` is NaN or inf, or
    the reconstruction is BLOW_UP times ``start_recon`` (where this training started)."""
    numbers = {k: v for k, v in record.items() if isinstance(v, int | float)}
    bad = [(k, v) for k, v in numbers.items() if not math.isfinite(v)]
    if not all(bool(torch.isfinite(p).all()) for p in state.model.parameters()):
        bad.insert(0, ("weights", "non-finite"))  # the epoch's last step blew them up
    recon = record["reconstruction"]
    if not bad and recon > BLOW_UP * start_recon:
        bad = [("reconstruction", f"{recon:.3g}, {recon / start_recon:.2g} times its start")]
    # Under torchrun every rank must stop together: one that raised alone would leave the
    # others waiting in the next epoch's all-reduce.
    if distributed.all_reduce_sum(torch.tensor([float(bool(bad))])).item() > 0 and not bad:
        bad = [("record of another rank", "non-finite or blew up")]
    if bad:
        name, value = bad[0]
        _diverged(value, record["epoch"] - 1, -1, config, run_dir, state.history, name)


def _diverged(
    value: float | str,
    epoch: int,
    batch: int,
    config: RunConfig,
    run_dir: Path | None,
    history: list[dict[str, Any]],
    quantity: str = "loss",
) -> None:
    last = len(history)
    where = (
        f"; the last good checkpoint, epoch {last}, is intact in {run_dir}"
        if run_dir is not None and last > 0
        else ""
    )
    lam = (
        f" or the penalty weight (--lam, now {config.objective.lam})"
        if config.objective.info.contractive
        else ""
    )
    raise DivergenceError(
        f"training diverged: the {quantity.replace('_', ' ')} became {value} at epoch "
        f"{epoch + 1}{f', batch {batch}' if batch >= 0 else ' (after its last batch)'}"
        f"{where}. Lower the learning rate (--lr, now {config.training.lr}){lam}, or check "
        "the data scale"
    )


def _restore(run_dir: Path, config: RunConfig, train: TrainState) -> None:
    """Load the run saved in ``run_dir`` into ``train``, refusing any other run's state."""
    saved = load_resume_state(run_dir)
    ckpt = saved.checkpoint
    check_resumable(ckpt.config, config, ckpt.path)
    check_epochs_left(run_dir, ckpt.epoch, config.training.epochs)
    train.model.load_state_dict(ckpt.model.state_dict())
    train.optimizer.load_state_dict(saved.optimizer_state)
    try:
        train.shuffle_gen.set_state(saved.rng_states["shuffle"].clone())
        train.noise_gen.set_state(saved.rng_states["noise"].clone())
    except (KeyError, RuntimeError) as e:
        raise CheckpointError(f"{ckpt.path} lacks a usable RNG state ({e})") from e
    train.epoch, train.history = ckpt.epoch, saved.history
