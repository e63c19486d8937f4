"""Frozen, typed configuration: the single source of truth for a run.

The same dataclasses are filled from CLI flags (field names match the flags),
read from a TOML file, and stored as JSON in every checkpoint so that a model
can be rebuilt exactly.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from manifold_cae.errors import ConfigError

Activation = Literal["sigmoid", "tanh", "softplus", "relu", "linear"]
Output = Literal["sigmoid", "linear"]
ObjectiveKind = Literal["ae", "cae", "dae", "cae-h", "rcae"]
Corruption = Literal["gaussian", "masking", "salt-pepper"]
PenaltyMethod = Literal["auto", "closed", "exact", "stochastic"]
Optimizer = Literal["adam", "sgd"]

ACTIVATIONS: tuple[str, ...] = ("sigmoid", "tanh", "softplus", "relu", "linear")
OUTPUTS: tuple[str, ...] = ("sigmoid", "linear")
OBJECTIVES: tuple[str, ...] = ("ae", "cae", "dae", "cae-h", "rcae")
CORRUPTIONS: tuple[str, ...] = ("gaussian", "masking", "salt-pepper")
PENALTY_METHODS: tuple[str, ...] = ("auto", "closed", "exact", "stochastic")
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _positive(name: str, value: float, *, strict: bool = True) -> None:
    ok = value > 0 if strict else value >= 0
    if not ok or not math.isfinite(value):
        bound = "> 0" if strict else ">= 0"
        raise ConfigError(f"{name} must be finite and {bound}; got {value!r}")


@dataclass(frozen=True)
class ArchitectureConfig:
    """The architecture without the input size (what a study shares across data)."""

    hidden: tuple[int, ...] = (100,)
    activation: Activation = "sigmoid"
    output: str = "auto"
    tied: bool = True


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of an :class:`~manifold_cae.Autoencoder`."""

    n_features: int  # d_x, the input dimension
    hidden: tuple[int, ...] = (100,)  # encoder layer sizes; the last one is d_h
    activation: Activation = "sigmoid"  # encoder (and hidden decoder) nonlinearity
    output: Output = "sigmoid"  # decoder output: sigmoid for data in [0, 1], linear otherwise
    tied: bool = True  # decoder weights are the transposed encoder weights

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.n_features < 1:
            raise ConfigError(f"n_features must be >= 1; got {self.n_features}")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ConfigError(f"hidden must list one or more sizes >= 1; got {self.hidden}")
        _choice("activation", self.activation, ACTIVATIONS)
        _choice("output", self.output, OUTPUTS)

    @property
    def n_hidden(self) -> int:
        """d_h, the size of the code layer."""
        return self.hidden[-1]


@dataclass(frozen=True)
class ObjectiveConfig:
    """What the training loss is made of. Only the pieces ``kind`` uses are read.

    Normalisation everywhere: sum over Jacobian (and pixel) entries, mean over
    the batch.
    """

    kind: ObjectiveKind = "cae"  # ae | cae | dae | cae-h | rcae (the CLI flag is --model)
    lam: float = 0.1  # weight of the contractive penalty (cae, cae-h, rcae)
    noise: float = 0.3  # dae corruption level: Gaussian std, or drop probability
    corruption: Corruption = "gaussian"  # dae: gaussian | masking | salt-pepper
    gamma: float = 0.1  # cae-h: weight of the Hessian (Jacobian-difference) term
    n_corrupt: int = 4  # cae-h: corrupted copies per example
    hessian_sigma: float = 0.1  # cae-h: std of the corruption used for the Hessian term
    penalty: PenaltyMethod = "auto"  # how ||J||_F^2 is computed (auto: closed form if possible)
    n_probes: int = 1  # stochastic penalty: Hutchinson probes per example
    weight_decay: float = 0.0  # L2 penalty on weights (the "AE+wd" of Rifai et al.)

    def __post_init__(self) -> None:
        _choice("model", self.kind, OBJECTIVES)
        _choice("corruption", self.corruption, CORRUPTIONS)
        _choice("penalty", self.penalty, PENALTY_METHODS)
        _positive("lam", self.lam, strict=False)
        _positive("gamma", self.gamma, strict=False)
        _positive("hessian_sigma", self.hessian_sigma)
        _positive("weight_decay", self.weight_decay, strict=False)
        _positive("noise", self.noise, strict=False)
        if self.corruption != "gaussian" and self.noise > 1:
            raise ConfigError(
                f"noise is a probability for {self.corruption} corruption and must be "
                f"in [0, 1]; got {self.noise}"
            )
        if self.n_probes < 1:
            raise ConfigError(f"n_probes must be >= 1; got {self.n_probes}")
        if self.n_corrupt < 1:
            raise ConfigError(f"n_corrupt must be >= 1; got {self.n_corrupt}")


@dataclass(frozen=True)
class TrainConfig:
    """How the weights are optimised."""

    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: Optimizer = "adam"
    momentum: float = 0.0  # sgd only
    seed: int = 0  # initialisation, shuffling and noise all derive from it
    held_out: float = 0.2  # fraction of the data kept out of training
    data_seed: int = 0  # draws the synthetic sample and the train / held-out split
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1; got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1; got {self.batch_size}")
        _positive("lr", self.lr)
        _positive("momentum", self.momentum, strict=False)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        if not 0 <= self.held_out < 1:
            raise ConfigError(f"held_out must be in [0, 1); got {self.held_out}")


@dataclass(frozen=True)
class RunConfig:
    """Everything needed to rebuild and re-run a training run."""

    model: ModelConfig
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    data: dict[str, Any] = field(default_factory=dict)  # provenance: spec, shape, fingerprint

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are an error."""
        try:
            return cls(
                model=ModelConfig(**d["model"]),
                objective=ObjectiveConfig(**d.get("objective", {})),
                training=TrainConfig(**d.get("training", {})),
                data=dict(d.get("data", {})),
            )
        except (KeyError, TypeError) as e:
            raise ConfigError(f"malformed run config: {e}") from e


def replace(cfg: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` re-exported so callers need not import dataclasses."""
    return dataclasses.replace(cfg, **changes)


@dataclass(frozen=True)
class AnalysisConfig:
    """What :func:`~manifold_cae.analyze` computes and how."""

    points: int | None = 2000  # analyse at most this many points (None: all)
    top_k: int | None = None  # tangents per point (None: the manifold's dimension, else 10)
    threshold: float = 1.0  # count singular values above this
    store_points: int = 200  # per-point spectra and tangents written to spectra.npz
    full_spectrum: bool = True  # all singular values per point (else only the top-k)
    exact: bool = False  # full spectra by SVD, never through the Gram matrix
    saturation_low: float = 0.05
    saturation_high: float = 0.95
    n_radii: int = 20  # contraction-curve grid size
    contraction_points: int = 500  # x0 points used for the contraction curve
    pca_neighbors: int = 20  # neighbourhood size of the local-PCA baseline
    chunk_size: int = 64  # points per streamed chunk (bounds peak memory)
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.points is not None and self.points < 1:
            raise ConfigError(f"points must be >= 1; got {self.points}")
        if self.top_k is not None and self.top_k < 1:
            raise ConfigError(f"top_k must be >= 1; got {self.top_k}")
        _positive("threshold", self.threshold)
        if not 0 < self.saturation_low < self.saturation_high < 1:
            raise ConfigError(
                "need 0 < saturation_low < saturation_high < 1; got "
                f"{self.saturation_low}, {self.saturation_high}"
            )
        for name in ("n_radii", "contraction_points", "chunk_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.store_points < 0:
            raise ConfigError(f"store_points must be >= 0; got {self.store_points}")
        if self.pca_neighbors < 2:
            raise ConfigError(f"pca_neighbors must be >= 2; got {self.pca_neighbors}")
