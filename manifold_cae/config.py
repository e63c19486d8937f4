"""Frozen, typed configuration: the single source of truth for a run.

The same dataclasses are filled from CLI flags, read from a TOML file, and
stored as JSON in every checkpoint so that a model can be rebuilt exactly.
Each field carries its help text (and, where it differs from the field name,
its flag) in ``metadata``; :mod:`manifold_cae.cli` builds its options from
them, so defaults and names are written once, here. Every value is
type-checked on construction: ``epochs=2.5`` or ``hidden="16"`` is a
:class:`ConfigError`, not a silent conversion.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from manifold_cae.activations import ACTIVATIONS
from manifold_cae.errors import ConfigError

OUTPUTS: tuple[str, ...] = ("auto", "sigmoid", "linear")
INPUT_SCALINGS: tuple[str, ...] = ("auto", "none", "standard", "global")
CORRUPTIONS: tuple[str, ...] = ("gaussian", "masking", "salt-pepper")
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
FINETUNE_OBJECTIVES: tuple[str, ...] = ("ae", "cae")  # what a stack is fine-tuned with
LAM_AUTO = "auto"  # lam = "auto": chosen from the held-out split (manifold_cae.lam_search)
EPOCHS_AUTO = "auto"  # epochs = "auto": enough for AUTO_STEPS gradient steps (resolve_epochs)
AUTO_STEPS = 4000  # the gradient steps epochs = "auto" aims for ...
AUTO_EPOCHS_RANGE = (50, 500)  # ... within these epochs (small data: 500; large: 50)
SEED_LIMIT = 2**63  # seeds are in [0, 2**63): what torch.Generator and numpy both accept
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class ObjectiveKindInfo:
    """What an objective kind is made of, so that no module retypes the list."""

    name: str
    description: str
    jacobian_of: (
        str  # whose Jacobian the lam-weighted penalty takes: "encoder", "reconstruction", ""
    )
    denoising: bool  # trains on corrupted inputs (noise, corruption)
    hessian: bool  # adds the CAE+H Jacobian-difference term (gamma, n_corrupt, hessian_sigma)

    @property
    def contractive(self) -> bool:
        """Whether lam weighs a Jacobian penalty."""
        return bool(self.jacobian_of)


OBJECTIVE_KINDS: dict[str, ObjectiveKindInfo] = {
    k.name: k
    for k in (
        ObjectiveKindInfo("ae", "plain autoencoder", "", False, False),
        ObjectiveKindInfo("cae", "contractive autoencoder", "encoder", False, False),
        ObjectiveKindInfo("dae", "denoising autoencoder", "", True, False),
        ObjectiveKindInfo("cae-h", "CAE with the Hessian term (CAE+H)", "encoder", False, True),
        ObjectiveKindInfo(
            "rcae", "reconstruction-contractive autoencoder", "reconstruction", False, False
        ),
    )
}

# penalty "auto" builds J exactly where that takes at most this many passes: the exact route
# costs one pass per row or column of J (the fewer), Hutchinson's about one in all.
# `scripts/bench_train.py --auto-sizes` (README, Performance): exact was 3.8x a Hutchinson
# step at 8 passes, 6.7x at 16, 11x at 32 and 78x at 200 (2 layers, 784 inputs, one thread).
AUTO_EXACT_MAX = 16
PENALTY_METHODS: dict[str, str] = {
    "auto": (
        f"closed form for one encoder layer, exact where J has at most {AUTO_EXACT_MAX} rows "
        "or columns, else Hutchinson"
    ),
    "closed": "closed form (one encoder layer only)",
    "exact": "the full Jacobian by torch.func",
    "stochastic": "Hutchinson estimate with random probes",
}


def _opt(default: Any, help: str, *, flag: str | None = None, choices: Iterable[str] = ()) -> Any:
    """A field with its CLI metadata: help text, flag (default --field-name) and choices."""
    meta: dict[str, Any] = {"help": help}
    if flag:
        meta["flag"] = flag
    if choices:
        meta["choices"] = tuple(choices)
    return field(default=default, metadata=meta)


def flag_name(f: dataclasses.Field) -> str:
    """The command-line flag of field ``f``, e.g. ``--batch-size`` or ``--tied/--untied``."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def choices_of(f: dataclasses.Field) -> tuple[str, ...] | None:
    """The allowed values of field ``f``, if it is one of a fixed set of names."""
    return f.metadata.get("choices")


@functools.cache
def type_hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a config class (they are strings in the source)."""
    return typing.get_type_hints(cls)


def _kind_of(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def coerce(name: str, hint: Any, value: Any) -> Any:
    """``value`` checked against annotation ``hint``; ints widen to float, lists to tuples.

    Raises:
        ConfigError: naming ``name``, the value, its type and what was expected.
    """
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        if value is None:
            return None
        errors = []
        for member in (h for h in typing.get_args(hint) if h is not type(None)):
            try:  # in order: lam (float | str) is a number, else a name such as "auto"
                return coerce(name, member, value)
            except ConfigError as e:
                errors.append(e)
        raise errors[0]
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name} must be true or false; got {_kind_of(value)}")
    if hint is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        raise ConfigError(
            f"{name} must be a whole number; got {_kind_of(value)}. Write it without a "
            "decimal point or quotes, e.g. 2"
        )
    if hint is float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{name} must be a number; got {_kind_of(value)}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{name} must be a string; got {_kind_of(value)}")
    if typing.get_origin(hint) is tuple:
        if isinstance(value, (list, tuple)):
            return tuple(coerce(f"{name} entry", int, v) for v in value)
        raise ConfigError(
            f"{name} must be a list of whole numbers such as (1000, 500); got {_kind_of(value)}"
        )
    return value


def _check_fields(cfg: Any) -> None:
    """Type-check (and normalise) every field of ``cfg`` and check its choices."""
    cls = type(cfg)
    for f in dataclasses.fields(cfg):
        value = coerce(f.name, type_hints(cls)[f.name], getattr(cfg, f.name))
        object.__setattr__(cfg, f.name, value)
        check_choice(f, value)


def check_choice(f: dataclasses.Field, value: Any) -> None:
    """``ConfigError`` if field ``f`` has choices and ``value`` is not one of them."""
    allowed = choices_of(f)
    if allowed is not None and value not in allowed:
        raise ConfigError(f"{f.name} must be one of {', '.join(allowed)}; got {value!r}")


def _positive(name: str, value: float, *, strict: bool = True) -> None:
    ok = value > 0 if strict else value >= 0
    if not ok or not math.isfinite(value):
        bound = "> 0" if strict else ">= 0"
        raise ConfigError(f"{name} must be finite and {bound}; got {value!r}")


def _at_least(cfg: Any, minimum: int, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if value is not None and value < minimum:
            raise ConfigError(f"{name} must be >= {minimum}; got {value}")


def _check_seed(name: str, value: int) -> None:
    if not 0 <= value < SEED_LIMIT:
        raise ConfigError(
            f"{name} must be in [0, 2**63); got {value}. Use a non-negative seed such as 0"
        )


def _check_device(value: str) -> None:
    if not _DEVICE.fullmatch(value):
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N; got {value!r}")


@dataclass(frozen=True)
class ArchitectureConfig:
    """An autoencoder's shape without its input size (what a study shares across data)."""

    hidden: tuple[int, ...] = _opt((100,), "Encoder layer sizes, e.g. 1000 or 1000,500.")
    activation: str = _opt(
        "sigmoid", "Encoder (and hidden decoder) nonlinearity.", choices=ACTIVATIONS
    )
    output: str = _opt(
        "auto", "Decoder output; auto: sigmoid for data in [0, 1], else linear.", choices=OUTPUTS
    )
    tied: bool = _opt(
        True, "Decoder weights are the transposed encoder weights.", flag="--tied/--untied"
    )
    input_scaling: str = _opt(
        "auto",
        "How inputs are scaled inside the model (fitted on the training split, saved with it): "
        "none; standard (per feature: mean 0, std 1); global (mean 0, one common scale, so "
        "directions and angles are kept: std 1, or an RMS norm of 5 below 25 features); auto: "
        "none for data in [0, 1] with a sigmoid decoder, else global.",
        choices=INPUT_SCALINGS,
    )
    input_gain: float = _opt(
        1.0,
        "Multiplies the scaled inputs (standard or global scaling): how large the data are "
        "for the sigmoid units, so how sharply one layer can bend around them. train's lam "
        "auto also tries twice this gain and keeps the better by its criterion (README, "
        "Choosing λ automatically); compare keeps it. Ignored with --input-scaling none.",
    )

    def __post_init__(self) -> None:
        _check_fields(self)
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError(f"hidden must list one or more sizes >= 1; got {self.hidden}")
        _positive("input_gain", self.input_gain)
        if self.input_scaling == "none" and self.input_gain != 1:
            raise ConfigError(_GAIN_UNSCALED.format(gain=self.input_gain, why="none"))

    @property
    def n_hidden(self) -> int:
        """d_h, the size of the code layer."""
        return self.hidden[-1]


@dataclass(frozen=True)
class _InputSize:
    n_features: int  # d_x, the input dimension; set from the data, so it has no flag


@dataclass(frozen=True)
class ModelConfig(ArchitectureConfig, _InputSize):
    """Architecture of an :class:`~manifold_cae.Autoencoder`: n_features, then the
    :class:`ArchitectureConfig` fields, in that order (``ModelConfig(2, (8,))``).

    ``output="auto"`` must be resolved (``runs.make_run_config``) before a model is built.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        _at_least(self, 1, "n_features")

    @classmethod
    def from_architecture(cls, arch: ArchitectureConfig, n_features: int) -> ModelConfig:
        """``arch`` on inputs of dimension ``n_features``."""
        return cls(n_features, **_values(arch, ArchitectureConfig))

    @property
    def architecture(self) -> ArchitectureConfig:
        return ArchitectureConfig(**_values(self, ArchitectureConfig))


def resolve_output(model: ModelConfig, *, in_unit_interval: bool) -> ModelConfig:
    """``model`` with ``output`` and ``input_scaling`` "auto" made concrete.

    output: sigmoid for data in [0, 1], else linear. input_scaling: none where the
    decoder is a sigmoid on [0, 1] data (images keep their pixel scale), else global.
    """
    if model.output == "auto":
        model = dataclasses.replace(model, output="sigmoid" if in_unit_interval else "linear")
    return resolve_scaling(model)


def resolve_scaling(model: ModelConfig) -> ModelConfig:
    """``input_scaling="auto"`` made concrete for a model whose output is decided:
    none for a sigmoid decoder (data in [0, 1] keep their scale), else global."""
    if model.input_scaling != "auto" or model.output == "auto":
        return model
    scaling = "none" if model.output == "sigmoid" else "global"
    if scaling == "none" and model.input_gain != 1:
        why = "auto, which is none for data in [0, 1] with a sigmoid decoder"
        raise ConfigError(_GAIN_UNSCALED.format(gain=model.input_gain, why=why))
    return dataclasses.replace(model, input_scaling=scaling)


_GAIN_UNSCALED = (
    "input_gain {gain:g} multiplies scaled inputs, but input_scaling is {why}, so it would "
    "do nothing; drop --input-gain, or scale the inputs (--input-scaling global)"
)


def _values(cfg: Any, cls: type) -> dict[str, Any]:
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cls)}


def closed_form_possible(model: ArchitectureConfig) -> bool:
    """Whether ||J||_F^2 has the cheap closed form: it needs one encoder layer."""
    return len(model.hidden) == 1


def auto_penalty(kind: str, model: ModelConfig) -> str:
    """What penalty "auto" computes for objective ``kind`` on ``model``.

    The closed form where there is one (one encoder layer; not for rcae, whose Jacobian is
    the reconstruction's); else ``exact`` where J, (d_code, d_x) for the encoder or
    (d_x, d_x) for rcae, has at most :data:`AUTO_EXACT_MAX` rows or columns; else
    ``stochastic``. Before this rule "auto" was ``exact`` for every deep encoder and every
    rcae (:func:`legacy_auto_penalty`): 78x Hutchinson's step at 200 passes.
    """
    if _closed_form_for(kind, model):
        return "closed"
    of_reconstruction = OBJECTIVE_KINDS[kind].jacobian_of == "reconstruction"
    rows = model.n_features if of_reconstruction else model.hidden[-1]
    return "exact" if min(rows, model.n_features) <= AUTO_EXACT_MAX else "stochastic"


def legacy_auto_penalty(kind: str, model: ModelConfig) -> str:
    """What "auto" computed when a run's config saved it unresolved (before
    :func:`auto_penalty`): the closed form for one encoder layer, else ``exact``."""
    return "closed" if _closed_form_for(kind, model) else "exact"


def _closed_form_for(kind: str, model: ModelConfig) -> bool:
    """Whether "auto" takes the closed form: one encoder layer, and a penalty on the
    encoder's Jacobian (rcae's is the reconstruction's, which has none)."""
    return OBJECTIVE_KINDS[kind].jacobian_of != "reconstruction" and closed_form_possible(model)


@dataclass(frozen=True)
class ObjectiveConfig:
    """What the training loss is made of. Only the pieces ``kind`` uses are read.

    Normalisation everywhere: sum over Jacobian (and pixel) entries, mean over
    the batch. ``lam="auto"`` (the default) is a request: ``runs.train_dataset`` replaces
    it by the chosen number before training, so a saved contractive run always holds a
    number. Kinds without a penalty (ae, dae) never read λ; it stays as given.
    """

    kind: str = _opt(
        "cae",
        "Objective: plain AE, CAE, denoising AE, CAE+H, or reconstruction-contractive AE.",
        flag="--model",
        choices=OBJECTIVE_KINDS,
    )
    lam: float | str = _opt(
        LAM_AUTO,
        'Weight of the contractive penalty (cae, cae-h, rcae; ae and dae have none), or "auto":'
        " chosen by a seeded search on a log grid, scored on the held-out split (a fifth of "
        "the training rows with --held-out 0), about 7.8 trainings in all, plus one per λ "
        "trained past the finalists where the best of them is the smallest or largest; "
        "recorded in the run. In train it also chooses the length (a fifth of --epochs "
        "where that scores better) and, for scaled inputs, the input gain (1 or 2 times "
        "--input-gain; 14.6 trainings, plus those past the finalists); compare keeps both. "
        "Stacked layers take 0.1 each for auto.",
    )
    noise: float = _opt(
        0.3, "DAE corruption: Gaussian std, or drop probability for masking/salt-pepper."
    )
    corruption: str = _opt("gaussian", "DAE corruption kind.", choices=CORRUPTIONS)
    gamma: float = _opt(0.1, "CAE+H: weight of the Jacobian-difference term.")
    n_corrupt: int = _opt(4, "CAE+H: corrupted copies per example.")
    hessian_sigma: float = _opt(0.1, "CAE+H: std of those corruptions.")
    penalty: str = _opt(
        "auto",
        "How ||J||_F^2 is computed: closed form (1 layer), exact torch.func, or Hutchinson; "
        f"auto: closed for one layer, exact where J has at most {AUTO_EXACT_MAX} rows or "
        "columns, else Hutchinson (saved as the one it became).",
        choices=PENALTY_METHODS,
    )
    n_probes: int = _opt(1, "Hutchinson probes per example (--penalty stochastic).")
    weight_decay: float = _opt(0.0, 'L2 penalty on the weights (the "AE+wd" of Rifai et al.).')

    def __post_init__(self) -> None:
        _check_fields(self)
        if isinstance(self.lam, str) and self.lam != LAM_AUTO:
            raise ConfigError(f'lam must be a number >= 0 or "{LAM_AUTO}"; got {self.lam!r}')
        for name in ("lam", "gamma", "weight_decay", "noise"):
            if not isinstance(getattr(self, name), str):
                _positive(name, getattr(self, name), strict=False)
        _positive("hessian_sigma", self.hessian_sigma)
        if self.corruption != "gaussian" and self.noise > 1:
            raise ConfigError(
                f"noise is a probability for {self.corruption} corruption and must be "
                f"in [0, 1]; got {self.noise}"
            )
        _at_least(self, 1, "n_probes", "n_corrupt")

    @property
    def info(self) -> ObjectiveKindInfo:
        return OBJECTIVE_KINDS[self.kind]


@dataclass(frozen=True)
class TrainConfig:
    """How the weights are optimised."""

    epochs: int | str = _opt(
        EPOCHS_AUTO,
        "Passes over the training data, or auto: enough passes for 4,000 gradient steps, "
        "but at least 50 and at most 500 (1,000 rows at batch 128: 500; 60,000: 50). With "
        "--lam auto, train may stop at a fifth of it (see --lam).",
    )
    batch_size: int = _opt(128, "Examples per gradient step.")
    lr: float = _opt(1e-2, "Learning rate.")
    optimizer: str = _opt("adam", "Optimiser.", choices=OPTIMIZERS)
    momentum: float = _opt(0.0, "SGD momentum (--optimizer sgd only).")
    seed: int = _opt(0, "Seeds the initialisation, shuffling and noise.")
    data_seed: int = _opt(0, "Draws the synthetic sample and the train/held-out split.")
    held_out: float = _opt(0.2, "Fraction of the data kept out of training.")
    device: str = _opt("cpu", "auto (cuda when available), cpu, cuda or cuda:N.")
    stacked: bool = _opt(
        False,
        "Train one CAE per --hidden layer, each on the codes of the one below, then compose "
        "them (Rifai et al. 2011). --epochs is then the total over layers and fine-tuning.",
    )
    finetune_epochs: int = _opt(0, "Stacked only: epochs of joint training after composing.")
    finetune_objective: str = _opt(
        "ae",
        "Stacked only: joint training by plain reconstruction, or with the deep penalty.",
        choices=FINETUNE_OBJECTIVES,
    )

    def __post_init__(self) -> None:
        _check_fields(self)
        if isinstance(self.epochs, str):
            if self.epochs != EPOCHS_AUTO:
                raise ConfigError(
                    f'epochs must be a whole number >= 1 or "{EPOCHS_AUTO}"; got {self.epochs!r}'
                )
        else:
            _at_least(self, 1, "epochs")
        _at_least(self, 1, "batch_size")
        _at_least(self, 0, "finetune_epochs")
        _positive("lr", self.lr)
        _positive("momentum", self.momentum, strict=False)
        if self.momentum and self.optimizer != "sgd":
            raise ConfigError(
                f"momentum applies to sgd only; got momentum={self.momentum} with optimizer "
                f"{self.optimizer}. Use --optimizer sgd, or leave momentum at 0"
            )
        _check_seed("seed", self.seed)
        _check_seed("data_seed", self.data_seed)
        if not 0 <= self.held_out < 1:
            raise ConfigError(f"held_out must be in [0, 1); got {self.held_out}")
        _check_device(self.device)


def auto_epochs(n_rows: int, batch_size: int) -> int:
    """What ``epochs="auto"`` means for ``n_rows`` training rows at ``batch_size``.

    Enough passes for ``AUTO_STEPS`` gradient steps, within ``AUTO_EPOCHS_RANGE``: a small
    data set takes few steps per pass, and 50 passes over 1,000 points (350 steps at
    batch 128) leave a CAE far from the manifold (README, "Training runs").
    """
    steps_per_epoch = max(1, math.ceil(n_rows / batch_size))
    low, high = AUTO_EPOCHS_RANGE
    return min(high, max(low, math.ceil(AUTO_STEPS / steps_per_epoch)))


def resolve_epochs(training: TrainConfig, n_rows: int) -> TrainConfig:
    """``training`` with ``epochs="auto"`` made a number for ``n_rows`` training rows."""
    if training.epochs != EPOCHS_AUTO:
        return training
    return replace(training, epochs=auto_epochs(n_rows, training.batch_size))


@dataclass(frozen=True)
class AnalysisConfig:
    """What :func:`~manifold_cae.analyze` computes and how."""

    points: int | None = _opt(2000, "Analyse at most this many points (a seeded sample).")
    top_k: int | None = _opt(
        None,
        "Tangent directions per point [default: the true tangents' dimension, else the median "
        "local dimension of the first chunk].",
    )
    layer: int | None = _opt(
        None,
        "Analyse the encoder up to this layer (1 = the first) [default: the whole encoder].",
    )
    threshold: float = _opt(1.0, "Count singular values above this.")
    dimension_method: str = _opt(
        "log-gap",
        "How the local dimension is read off each spectrum: the largest drop in log sigma "
        "(sigma below 3 sqrt(eps) sigma_1, 1e-3 sigma_1 in float32, counts as 0), or the count "
        "of sigma above 0.1 sigma_1.",
        choices=("log-gap", "relative"),
    )
    store_points: int = _opt(200, "Points whose full spectra and tangents go to spectra.npz.")
    full_spectrum: bool = _opt(
        True,
        "Only the top-k singular values (faster; counts capped at top-k).",
        flag="--no-full-spectrum",
    )
    exact: bool = _opt(False, "Full spectra by SVD, never via the Gram matrix.")
    saturation_low: float = _opt(0.05, "A unit below this (on [0, 1]) is saturated.")
    saturation_high: float = _opt(0.95, "A sigmoid or tanh unit above this is saturated.")
    n_radii: int = _opt(20, "Radii on the contraction-curve grid.")
    contraction_points: int = _opt(500, "x0 points used for the contraction curve.")
    pca_neighbors: int = _opt(20, "Neighbourhood size of the local-PCA baseline.")
    chunk_size: int | None = _opt(
        None,
        "Points per streamed chunk (bounds memory) [default: 64 on a CPU; on a GPU as many as "
        "a quarter of its free memory holds, at most 4096].",
    )
    seed: int = _opt(0, "Seeds the sample of points and the random probes.")
    device: str = _opt(
        "auto", "Where the Jacobians are computed: auto (cuda when available), cpu, cuda or cuda:N."
    )
    transformations: bool = _opt(
        False, "Images: the share of the tangents of rotation, shifts, scaling and thickening in "
        "the top-k tangents' span, vs local PCA and chance.",
    )  # fmt: skip
    image_shape: tuple[int, ...] | None = _opt(
        None, "Height,width of one image, e.g. 28,28 [default: the data set's own].",
    )  # fmt: skip

    def __post_init__(self) -> None:
        _check_fields(self)
        _check_device(self.device)
        _check_seed("seed", self.seed)
        _at_least(self, 1, "points", "top_k", "layer", "n_radii", "contraction_points")
        _at_least(self, 1, "chunk_size")
        _at_least(self, 0, "store_points")
        _at_least(self, 2, "pca_neighbors")
        _positive("threshold", self.threshold)
        if self.image_shape is not None and (
            len(self.image_shape) != 2 or min(self.image_shape) < 2
        ):
            raise ConfigError(
                f"image_shape must be (height, width), each >= 2; got {self.image_shape}"
            )
        if not 0 < self.saturation_low < self.saturation_high < 1:
            raise ConfigError(
                "need 0 < saturation_low < saturation_high < 1; got "
                f"{self.saturation_low}, {self.saturation_high}"
            )
        if self.exact and not self.full_spectrum:
            raise ConfigError(
                "exact asks for full spectra by SVD but full_spectrum is off; "
                "drop --exact or --no-full-spectrum"
            )


@dataclass(frozen=True)
class RunConfig:
    """Everything needed to rebuild and re-run a training run."""

    model: ModelConfig
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    data: dict[str, Any] = field(default_factory=dict)  # provenance: spec, shape, fingerprint

    def to_dict(self) -> dict[str, Any]:
        """As JSON holds it; ``model.input_gain`` is left out at 1, as configs saved before it
        existed hold it, so that their runs and a study's saved analyses still match."""
        d = dataclasses.asdict(self)
        if d["model"]["input_gain"] == 1:
            del d["model"]["input_gain"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are an error.

        Runs saved before ``data_seed`` existed drew their data with ``seed``,
        so that is what a missing ``data_seed`` means; runs saved before
        ``input_scaling`` existed used none.
        """
        try:
            training = dict(d.get("training", {}))
            training.setdefault("data_seed", training.get("seed", 0))
            model = {"input_scaling": "none", **d["model"]}
            return cls(
                model=ModelConfig(**model),
                objective=ObjectiveConfig(**d.get("objective", {})),
                training=TrainConfig(**training),
                data=dict(d.get("data", {})),
            )
        except (KeyError, TypeError) as e:
            raise ConfigError(f"malformed run config: {e}") from e


def resolve_penalty(config: RunConfig, *, legacy: bool = False) -> RunConfig:
    """``config`` with ``objective.penalty`` "auto" made concrete for its model, as epochs
    "auto" is, so that a saved run says how it was trained and a resume keeps it.

    ``legacy``: read "auto" as a config saved unresolved was trained
    (:func:`legacy_auto_penalty`) rather than by today's rule (:func:`auto_penalty`).
    Kinds without a Jacobian penalty (ae, dae) keep what they were given, and so does a
    stack: its layers are one-layer runs, each resolved as it trains.
    """
    obj = config.objective
    if obj.penalty != "auto" or not obj.info.jacobian_of or config.training.stacked:
        return config
    rule = legacy_auto_penalty if legacy else auto_penalty
    return replace(config, objective=replace(obj, penalty=rule(obj.kind, config.model)))


def replace(cfg: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` re-exported so callers need not import dataclasses."""
    return dataclasses.replace(cfg, **changes)
