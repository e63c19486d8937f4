"""Stacked contractive autoencoders: train layer by layer, then compose (Rifai et al. 2011).

Layer l is a one-layer autoencoder (tied by default, closed-form penalty) trained
on the codes h_{l-1} of the layers below it, with x = h_0. Its decoder output
follows the usual rule: sigmoid and cross-entropy when its inputs lie in
[0, 1] (the codes of a sigmoid layer), else linear. The trained layers are then
composed into one deep :class:`~manifold_cae.models.Autoencoder`: encoder
weights and biases from each layer, the decoder mirrored, with each decoder
layer taking its bias (and, untied, its weight) from its own layer. Joint
fine-tuning of the composed model may follow.

A stack is contractive layer by layer: each layer's penalty is on
d h_l / d h_{l-1}, never on the composite d h_L / dx that a jointly penalised
deep CAE bounds. Their Jacobians are analysed the same way (:func:`prefix`
gives the encoder up to any layer).

A stacked run directory holds

- ``stack.json``: the run's config, written first; ``--resume`` must match it;
- ``layers/<l>/``: layer l's own run (checkpoints, history) as :func:`fit` writes it;
- ``finetune/``: the joint fine-tuning run, if any;
- ``history.json`` and, written last, ``model.safetensors``: the composed model.

So an interrupted stack has no ``model.safetensors`` and never loads as a
finished model, and a resumed one continues inside the layer it stopped in.
In a stacked :class:`~manifold_cae.config.RunConfig`, ``training.epochs`` is the
total over the layers and the fine-tuning, and ``data["stack"]`` lists each
layer's λ, epochs and learning rate.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from manifold_cae import distributed
from manifold_cae._io import atomic_write_json
from manifold_cae.checkpoint import (
    HISTORY_FILE,
    MODEL_FILE,
    check_resume_or_overwrite,
    load_checkpoint,
    load_model,
    save_model,
)
from manifold_cae.config import (
    EPOCHS_AUTO,
    LAM_AUTO,
    ModelConfig,
    RunConfig,
    replace,
    resolve_epochs,
    resolve_scaling,
)
from manifold_cae.data.streaming import rows_of
from manifold_cae.errors import CheckpointError, ConfigError
from manifold_cae.models import SCALED, Autoencoder
from manifold_cae.probe import encode_numpy
from manifold_cae.train import TrainResult, fit, mean_jacobian_norm, mean_scaled_reconstruction

STACK_FILE = "stack.json"
LAYERS_DIR = "layers"
FINETUNE_DIR = "finetune"
PER_LAYER = ("lam", "epochs", "lr")  # the settings that may differ from layer to layer
# Each layer's λ when lam is "auto" (the default): the search's criterion was not tested
# on codes, so a stack is not searched.
STACKED_LAM = 0.1
Log = Callable[[str], None]


def stacked_lam(lam: float | str) -> float | str:
    """A stack's λ for the config's ``lam``: ``STACKED_LAM`` for "auto", else ``lam``."""
    return STACKED_LAM if lam == LAM_AUTO else lam


@dataclass(frozen=True)
class LayerPlan:
    """The settings of one layer of a stack."""

    lam: float  # weight of that layer's contractive penalty
    epochs: int
    lr: float

    def __post_init__(self) -> None:
        if self.lam == LAM_AUTO:
            raise ConfigError(
                "lam auto cannot be one of a stack's per-layer values: a stack is not searched "
                "(each layer is trained on the codes of the one below, where the search's "
                f"criterion has not been tested; auto alone means {STACKED_LAM} a layer); give "
                "numbers, e.g. --lam 0.5,0.1"
            )
        if not (np.isfinite(self.lam) and self.lam >= 0):
            raise ConfigError(f"every layer's lam must be finite and >= 0; got {self.lam}")
        if self.epochs == EPOCHS_AUTO:
            raise ConfigError(
                "epochs auto cannot be one of a stack's per-layer values: it sets the stack's "
                "total from the data (--epochs auto alone, split over the layers); give "
                "numbers, e.g. --epochs 20,10"
            )
        if self.epochs < 1:
            raise ConfigError(f"every layer needs at least 1 epoch; got {self.epochs}")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"every layer's lr must be finite and > 0; got {self.lr}")


def split_epochs(total: int, n_layers: int) -> tuple[int, ...]:
    """``total`` epochs shared as evenly as possible, the lower layers taking the remainder."""
    base, extra = divmod(total, n_layers)
    return tuple(base + (i < extra) for i in range(n_layers))


def plan_layers(
    config: RunConfig,
    *,
    lam: Sequence[float] | None = None,
    epochs: Sequence[int] | None = None,
    lr: Sequence[float] | None = None,
) -> tuple[LayerPlan, ...]:
    """Per-layer settings of the stack ``config`` describes.

    Each of ``lam``, ``epochs`` and ``lr`` is one value for every layer or one
    per layer. Left out, λ and the learning rate are the config's (λ ``STACKED_LAM``
    where the config's is "auto"), and the
    config's epochs (less ``finetune_epochs``) are split evenly over the
    layers, so that a stack makes as many passes over the data as a joint run.

    Raises:
        ConfigError: a list of the wrong length, or too few epochs for the layers.
    """
    hidden, training = config.model.hidden, config.training
    n = len(hidden)
    if epochs is None and training.epochs == EPOCHS_AUTO:
        raise ConfigError(
            'epochs is "auto", which needs the data: plan with a config from make_run_config '
            "(or config.resolve_epochs), or give per-layer epochs"
        )
    if epochs is None:
        layer_total = training.epochs - training.finetune_epochs
        if layer_total < n:
            raise ConfigError(
                f"epochs={training.epochs} is the total over {n} layers and "
                f"{training.finetune_epochs} fine-tuning epochs; give at least "
                f"{n + training.finetune_epochs}, or one value per layer (e.g. --epochs "
                f"{','.join(['5'] * n)})"
            )
        epochs = split_epochs(layer_total, n)
    given = {"lam": lam or (stacked_lam(config.objective.lam),), "epochs": epochs,
             "lr": lr or (training.lr,)}  # fmt: skip
    for name, values in given.items():
        if len(values) not in (1, n):
            raise ConfigError(
                f"--{name} has {len(values)} values ({','.join(map(str, values))}) for "
                f"{n} layers (hidden={','.join(map(str, hidden))}); give one value, or one "
                "per layer"
            )
    per_layer = {k: tuple(v) * n if len(v) == 1 else tuple(v) for k, v in given.items()}
    return tuple(LayerPlan(*(per_layer[k][i] for k in PER_LAYER)) for i in range(n))


def stacked_run_config(config: RunConfig, plan: Sequence[LayerPlan] | None = None) -> RunConfig:
    """The config a stacked run saves: ``stacked`` set, the total epochs, the plan in ``data``.

    ``plan`` defaults to the plan ``config`` recorded, else :func:`plan_layers`'s.
    Compare a saved stack's config with this one, not with ``config`` itself.
    """
    plan = tuple(plan or plan_of(config) or plan_layers(config))
    if len(plan) != len(config.model.hidden):
        raise ConfigError(
            f"the plan has {len(plan)} layers but hidden={config.model.hidden} has "
            f"{len(config.model.hidden)}"
        )
    total = sum(p.epochs for p in plan) + config.training.finetune_epochs
    training = replace(config.training, stacked=True, epochs=total)
    data = {**config.data, "stack": [dataclasses.asdict(p) for p in plan]}
    objective = config.objective
    if objective.lam == LAM_AUTO:  # a saved run holds a number: the first layer's, as --lam
        objective = replace(objective, lam=plan[0].lam)
    return replace(config, model=resolve_scaling(config.model), objective=objective,
                   training=training, data=data)  # fmt: skip


def plan_of(config: RunConfig) -> tuple[LayerPlan, ...] | None:
    """The per-layer plan a stacked run recorded, or ``None`` for another run."""
    if not config.training.stacked or "stack" not in config.data:
        return None
    return tuple(LayerPlan(**p) for p in config.data["stack"])


def layer_run_config(config: RunConfig, plan: Sequence[LayerPlan], layer: int) -> RunConfig:
    """The one-layer run of layer ``layer`` (0-based) of the stack ``config``.

    The first layer keeps the stack's decoder output and input scaling; the others take
    their codes unscaled (sigmoid and tanh codes are bounded, and a deep encoder scales
    only its input, so :func:`compose` could not keep a code layer's scaling) and decide
    their output by them (``auto``): a layer on sigmoid codes reconstructs them through a
    sigmoid.
    """
    sizes = (config.model.n_features, *config.model.hidden)
    step = plan[layer]
    arch = config.model.architecture
    model = ModelConfig.from_architecture(
        replace(
            arch,
            hidden=(sizes[layer + 1],),
            output=arch.output if layer == 0 else "auto",
            input_scaling=arch.input_scaling if layer == 0 else "none",
            input_gain=arch.input_gain if layer == 0 else 1.0,  # the data's, not the codes'
        ),
        sizes[layer],
    )
    training = replace(
        config.training, epochs=step.epochs, lr=step.lr, stacked=False, finetune_epochs=0
    )
    objective = replace(config.objective, lam=step.lam)
    data = _without_plan(config.data)
    if layer > 0:  # trained on codes, not on the data set itself
        data = {"codes_of_layer": layer, "stack_of": data}
    return RunConfig(model, objective, training, data)


def _without_plan(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "stack"}


def finetune_run_config(config: RunConfig, model: ModelConfig) -> RunConfig:
    """The joint fine-tuning run of the composed ``model``: ``finetune_objective``, whole stack.

    The deep penalty's weight is the stack's ``objective.lam`` (the first layer's
    from the CLI); ``closed``, which needs one layer, becomes ``auto`` (exact or
    Hutchinson by the Jacobian's size: :func:`~manifold_cae.config.auto_penalty`).
    """
    obj = config.objective
    penalty = "auto" if obj.penalty == "closed" else obj.penalty
    objective = replace(obj, kind=config.training.finetune_objective, penalty=penalty)
    training = replace(
        config.training, epochs=config.training.finetune_epochs, stacked=False, finetune_epochs=0
    )
    return RunConfig(model, objective, training, _without_plan(config.data))


# ------------------------------------------------------------------ composition


def compose(layers: Sequence[Autoencoder]) -> Autoencoder:
    """One deep autoencoder from one-layer ones trained on each other's codes.

    Encoder layer l is ``layers[l]``'s encoder; decoder layer l its decoder
    (bias, and weight when untied). The decoder output and the input scaling are
    ``layers[0]``'s, so the composite's ``encode`` is the layers' encoders in turn.

    Raises:
        ConfigError: a layer with several encoder layers, or sizes, activations
            or tying that do not chain, or a layer above the first that scales its
            inputs (a deep encoder scales only the data).
    """
    first = layers[0].config
    for i, layer in enumerate(layers):
        c = layer.config
        if layer.n_layers != 1 or (c.activation, c.tied) != (first.activation, first.tied):
            raise ConfigError(
                f"layer {i + 1} ({c}) cannot be stacked on {first}: every layer needs one "
                "encoder layer and the same activation and tying"
            )
        if i and c.n_features != layers[i - 1].n_hidden:
            raise ConfigError(
                f"layer {i + 1} takes {c.n_features} inputs but layer {i} gives "
                f"{layers[i - 1].n_hidden} codes"
            )
        if i and layer.scaled:
            raise ConfigError(
                f"layer {i + 1} scales its inputs (input_scaling {c.input_scaling}), but a "
                "deep encoder scales only the data, at its first layer; train the layers "
                "above the first with input_scaling none"
            )
    hidden = tuple(layer.n_hidden for layer in layers)
    model = _empty(replace(first, hidden=hidden), layers[0])
    for target, layer in zip(_layer_params(model), layers, strict=True):
        _copy_into(target, _layer_params(layer)[0])
    return model


def prefix(model: Autoencoder, n_layers: int) -> Autoencoder:
    """The autoencoder of the first ``n_layers`` encoder layers of ``model``.

    Its ``encode`` is h_{n_layers}; its decoder mirrors those layers, with the
    model's output. ``prefix(model, model.n_layers)`` is a copy of ``model``.

    Raises:
        ConfigError: ``n_layers`` outside [1, model.n_layers].
    """
    if not 1 <= n_layers <= model.n_layers:
        raise ConfigError(
            f"layer must be in 1..{model.n_layers} for an encoder with hidden="
            f"{model.config.hidden}; got {n_layers}"
        )
    cfg = replace(model.config, hidden=model.config.hidden[:n_layers])
    out = _empty(cfg, model)
    for target, source in zip(_layer_params(out), _layer_params(model), strict=False):
        _copy_into(target, source)
    return out


def _empty(config: ModelConfig, source: Autoencoder) -> Autoencoder:
    """A model of ``config`` with ``source``'s dtype, device and fitted input scaling; its
    parameters are for the caller to copy in (the generator leaves the global RNG alone)."""
    like = next(source.parameters())
    model = Autoencoder(config, generator=torch.Generator(), dtype=like.dtype).to(like.device)
    if model.scaled:
        model.input_shift.copy_(source.input_shift)
        model.input_scale.copy_(source.input_scale)
    return model


def _layer_params(model: Autoencoder) -> list[list[torch.nn.Parameter]]:
    """Per encoder layer: its weight, bias, decoder bias (and decoder weight if untied)."""
    groups = [model.enc_weights, model.enc_biases, model.dec_biases]
    if not model.config.tied:
        groups.append(model.dec_weights)
    return [list(params) for params in zip(*groups, strict=True)]


@torch.no_grad()
def _copy_into(target: list[torch.nn.Parameter], source: list[torch.nn.Parameter]) -> None:
    for t, s in zip(target, source, strict=True):
        t.copy_(s)


# ------------------------------------------------------------------ training


@dataclass
class StackResult(TrainResult):
    """What :func:`train_stacked` returns: a :class:`TrainResult` for the composed model.

    ``history`` holds every epoch of every stage, tagged with ``stage``
    ("layer 1", ..., "finetune") and numbered across stages.
    """

    layers: list[TrainResult] = field(default_factory=list)  # one run per layer
    finetune: TrainResult | None = None
    composed: dict[str, float] = field(default_factory=dict)  # the final model's metrics


def train_stacked(
    X: Any,
    config: RunConfig,
    *,
    plan: Sequence[LayerPlan] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    X_held_out: Any = None,
    progress: bool | None = None,
    log: Log | None = None,
) -> StackResult:
    """Train the stack of ``config.model.hidden`` layer by layer, compose it, fine-tune it.

    Args:
        X: (n_samples, n_features) training data, as for :func:`fit`: a memmap or
            RowView is read batch by batch; the codes each layer passes up,
            (n_samples, d_l) float32, are held in memory.
        config: architecture, objective (each layer's, with its own λ) and
            training settings; ``training.finetune_epochs`` and
            ``finetune_objective`` describe the joint fine-tuning.
        plan: per-layer λ, epochs and learning rate (:func:`plan_layers`);
            default: the plan ``config`` recorded, else ``plan_layers(config)``.
        out_dir: run directory (layout in the module docstring).
        resume: continue the stack saved in ``out_dir``, inside or between layers.
        overwrite: allow starting afresh in an ``out_dir`` that holds a run.
        X_held_out: (n_held_out, n_features); its reconstruction is recorded.
        progress: progress bars, as for :func:`fit`.
        log: called with one line as each stage starts (naming the layer).

    Returns:
        :class:`StackResult` with the composed (and fine-tuned) model.
    """
    check_resume_or_overwrite(resume, overwrite)
    config = replace(config, training=resolve_epochs(config.training, X.shape[0]))
    config = stacked_run_config(config, plan)
    plan = plan_of(config)
    assert plan is not None  # stacked_run_config records it
    run_dir = None if out_dir is None else Path(out_dir)
    main = distributed.current().is_main  # under torchrun, rank 0 alone writes the run dir
    if run_dir is not None and main:
        _start_run_dir(run_dir, config, resume=resume, overwrite=overwrite)
    say = log or (lambda _line: None)
    fit_kw = {"progress": progress, "resume": resume}

    layers: list[TrainResult] = []
    x, held = X, X_held_out
    for i in range(len(plan)):
        cfg = layer_run_config(config, plan, i)
        d_in, (d_out,) = cfg.model.n_features, cfg.model.hidden
        say(
            f"stack layer {i + 1}/{len(plan)}: {d_in} -> {d_out}, {cfg.objective.kind} "
            f"lam={plan[i].lam}, {plan[i].epochs} epochs, lr={plan[i].lr}"
        )
        sub = None if run_dir is None else run_dir / LAYERS_DIR / str(i + 1)
        if i and resume and sub is not None and (sub / MODEL_FILE).exists():
            _check_code_layer(sub)
        layers.append(_fit_stage(x, cfg, sub, X_held_out=held, **fit_kw))
        if i + 1 < len(plan):
            x, held = _codes(layers[-1].model, x), _codes(layers[-1].model, held)
    model = compose([r.model for r in layers])
    config = replace(config, model=model.config)

    tuned = None
    if config.training.finetune_epochs:
        cfg = finetune_run_config(config, model.config)
        say(f"stack fine-tuning: {cfg.objective.kind}, {cfg.training.epochs} epochs")
        sub = None if run_dir is None else run_dir / FINETUNE_DIR
        tuned = _fit_stage(X, cfg, sub, model=model, X_held_out=X_held_out, **fit_kw)
        model = tuned.model
    history = _merged_history(layers, tuned)
    composed = _final_metrics(model, X, X_held_out, seed=config.training.seed)
    if run_dir is not None and main:
        _finish_run_dir(run_dir, model, config, history, layers, tuned, composed)
    return StackResult(
        model, config, history, run_dir, layers=layers, finetune=tuned, composed=composed
    )


def train_stacked_dataset(ds: Any, config: RunConfig, **kwargs: Any) -> StackResult:
    """:func:`train_stacked` on the train part of ``ds``, split as ``config.training`` says.

    Keyword arguments are :func:`train_stacked`'s (``plan``, ``out_dir``, ...).
    """
    from manifold_cae.runs import split  # runs sits above this module

    train_idx, held_idx = split(ds, config.training)
    held = rows_of(ds.X, held_idx) if len(held_idx) else None  # a memmap's split is not copied
    return train_stacked(rows_of(ds.X, train_idx), config, X_held_out=held, **kwargs)


def _fit_stage(
    X: Any, config: RunConfig, run_dir: Path | None, *, resume: bool, **kw: Any
) -> TrainResult:
    """One layer (or the fine-tuning) by :func:`fit`, resumed when its checkpoint exists."""
    if run_dir is None:
        return fit(X, config, **kw)
    started = (run_dir / MODEL_FILE).exists()
    return fit(X, config, out_dir=run_dir, resume=resume and started, overwrite=True, **kw)


def _codes(model: Autoencoder, X: Any) -> np.ndarray | None:
    """h = f(X) as float32 (n_samples, n_hidden): the next layer's training data."""
    if X is None or not len(X):
        return None
    return encode_numpy(model, X).astype(np.float32)


def _merged_history(layers: list[TrainResult], tuned: TrainResult | None) -> list[dict[str, Any]]:
    stages = [(f"layer {i + 1}", r) for i, r in enumerate(layers)]
    stages += [("finetune", tuned)] if tuned is not None else []
    merged: list[dict[str, Any]] = []
    for stage, result in stages:
        for record in result.history:
            merged.append({**record, "stage": stage, "stage_epoch": record["epoch"],
                           "epoch": len(merged) + 1})  # fmt: skip
    return merged


def _final_metrics(model: Autoencoder, X: Any, X_held_out: Any, *, seed: int) -> dict[str, float]:
    """Reconstruction and mean ||J_f||_F of the whole composed encoder, X read in batches.

    Measured as :func:`fit` records its history: on the model's own (scaled) inputs,
    so a scaled model's decoder output is compared with scaled targets, not raw ones.
    """
    device = next(model.parameters()).device
    first = torch.as_tensor(np.array(X[:1024], dtype=np.float32), device=device)  # (<=1024, d)
    out = {
        "reconstruction": mean_scaled_reconstruction(model, X),
        "jacobian_norm": mean_jacobian_norm(model.core(), model.standardize(first), seed=seed),
    }
    if X_held_out is not None and len(X_held_out):
        out["held_out_reconstruction"] = mean_scaled_reconstruction(model, X_held_out)
    return out


# ------------------------------------------------------------------ run directories


def _start_run_dir(run_dir: Path, config: RunConfig, *, resume: bool, overwrite: bool) -> None:
    """Check ``run_dir`` may take this stack, and record its config first."""
    stack_file = run_dir / STACK_FILE
    if resume:
        if not stack_file.is_file():
            raise CheckpointError(
                f"cannot resume {run_dir}: it holds no stacked run ({STACK_FILE} is missing); "
                "start without --resume"
            )
        saved = _read_stack_file(stack_file)
        if _comparable(saved) != _comparable(config):
            raise CheckpointError(
                f"cannot resume {run_dir}: the stack was started with other settings "
                f"({_differences(saved, config)}). Each layer is trained on the codes of the "
                "one below, so a stack resumes only with the settings it started with"
            )
        return
    taken = [name for name in (MODEL_FILE, STACK_FILE, LAYERS_DIR) if (run_dir / name).exists()]
    if taken and not overwrite:
        raise CheckpointError(
            f"{run_dir} already holds a run ({', '.join(taken)}); use --resume to continue it, "
            "--overwrite to replace it, or choose another --out"
        )
    # A finished model left from the run being replaced must not outlive an interruption.
    (run_dir / MODEL_FILE).unlink(missing_ok=True)
    atomic_write_json(stack_file, {"config": config.to_dict()})


def _check_code_layer(layer_dir: Path) -> None:
    """Refuse to continue a code layer that scales its inputs: saved by a release whose code
    layers decided their scaling (``auto``: global on tanh codes), which compose cannot keep."""
    scaling = load_checkpoint(layer_dir).config.model.input_scaling
    if scaling in SCALED:
        raise CheckpointError(
            f"{layer_dir} was trained on scaled codes (input_scaling {scaling}), by a release "
            "whose layers above the first scaled their codes; a deep encoder scales only the "
            "data, so this stack cannot be continued: start it afresh with --overwrite"
        )


def check_composite_scaling(run_dir: Path, model: Autoencoder) -> None:
    """Refuse a stack's composed ``model`` whose input scaling is not its first layer's.

    Releases before this check composed a stack from the layers' weights alone, so a stack
    on scaled data (the default outside [0, 1]) encoded raw data with weights trained on
    scaled data. Nothing is checked where ``run_dir`` holds no first layer.

    Raises:
        CheckpointError: naming the run and the fix (train it again).
    """
    first = run_dir / LAYERS_DIR / "1"
    if not model.scaled or not (first / MODEL_FILE).is_file():
        return
    layer = load_model(first)
    if layer.scaled and all(
        torch.equal(getattr(layer, b), getattr(model, b)) for b in ("input_shift", "input_scale")
    ):
        return
    raise CheckpointError(
        f"{run_dir / MODEL_FILE} is a stack whose composed model lacks its first layer's input "
        f"scaling ({layer.config.input_scaling}): it was saved by a release that composed "
        "stacks from the weights alone, so it encodes raw data with weights trained on scaled "
        f"data; train the stack again (manifold-cae train ... --stacked --overwrite; in a "
        f"compare study, delete {run_dir} and run compare again)"
    )


def _read_stack_file(path: Path) -> RunConfig:
    try:
        return RunConfig.from_dict(json.loads(path.read_text())["config"])
    except (ValueError, KeyError, TypeError, OSError, ConfigError) as e:
        raise CheckpointError(f"{path} is corrupt ({e}); start afresh with --overwrite") from e


def _comparable(config: RunConfig) -> RunConfig:
    return replace(config, training=replace(config.training, device="cpu"))


def _differences(a: RunConfig, b: RunConfig) -> str:
    a, b = _comparable(a), _comparable(b)
    return "; ".join(
        f"{section}: saved {getattr(a, section)} vs requested {getattr(b, section)}"
        for section in ("model", "objective", "training", "data")
        if getattr(a, section) != getattr(b, section)
    )


def _finish_run_dir(
    run_dir: Path,
    model: Autoencoder,
    config: RunConfig,
    history: list[dict[str, Any]],
    layers: list[TrainResult],
    tuned: TrainResult | None,
    composed: dict[str, float],
) -> None:
    # The history first, the model last: model.safetensors marks a finished stack.
    atomic_write_json(
        run_dir / HISTORY_FILE,
        {
            "config": config.to_dict(),
            "epochs": history,
            "layers": [r.history for r in layers],
            "finetune": None if tuned is None else tuned.history,
            "composed": composed,
        },
    )
    save_model(model, run_dir, config=config, epoch=config.training.epochs)


def load_stack(run_dir: str | os.PathLike[str], *, layer: int | None = None) -> Autoencoder:
    """The composed model of a stacked run, or (``layer=i``) its encoder up to layer i.

    Raises:
        CheckpointError: the stack is unfinished (its layers are still training).
    """
    run_dir = Path(run_dir)
    if (run_dir / STACK_FILE).is_file() and not (run_dir / MODEL_FILE).is_file():
        started = sorted(p.name for p in (run_dir / LAYERS_DIR).glob("*") if p.is_dir())
        raise CheckpointError(
            f"{run_dir} is an unfinished stack (layer runs started: {', '.join(started) or 'none'}"
            "); it has no composed model yet. Finish it with 'manifold-cae train ... --stacked "
            "--resume'"
        )
    model = load_model(run_dir)
    return model if layer is None else prefix(model, layer)
