"""What every analysis metric is: a streaming accumulator with a typed summary section.

A metric sees the analysed points chunk by chunk (:meth:`Metric.update`),
can absorb another accumulator that saw other chunks (:meth:`Metric.merge`,
what a sharded analysis all-reduces), and finally returns its part of the
summary (:meth:`Metric.result`), its per-point columns for ``points.csv``
and its arrays for ``spectra.npz``.

The quantities every metric may need at a chunk (the Jacobian's factors, the
top-k singular triplets, the full spectrum, the neighbourhoods) are computed
once per chunk by the engine and handed over in a :class:`Chunk`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import torch
from torch import Tensor

from manifold_cae.config import AnalysisConfig
from manifold_cae.errors import DataError

if typing.TYPE_CHECKING:
    from manifold_cae.analysis.spectra import FactoredJacobian, TopSingular
    from manifold_cae.models import Autoencoder, LayerTrace


def chunk_generator(seed: int, salt: int, start: int, device: torch.device) -> torch.Generator:
    """A generator seeded by (seed, salt, start): the same draws whichever process runs a chunk.

    ``salt`` keeps the draws of different uses (top-k starts, contraction directions)
    independent; ``start`` is the chunk's first position, >= 0.
    """
    state = np.random.SeedSequence([seed, salt, start]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator(device=device).manual_seed(int(state >> 1))


@dataclass(frozen=True)
class Stats:
    """Mean and median of a per-point quantity."""

    mean: float
    median: float

    @classmethod
    def of(cls, values: np.ndarray) -> Stats | None:
        """``None`` when there are no finite values."""
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        return cls(float(v.mean()), float(np.median(v))) if len(v) else None


@dataclass(frozen=True)
class Section:
    """One metric's part of :class:`~manifold_cae.analysis.summary.AnalysisSummary`.

    Subclasses are frozen dataclasses of floats, ints, strings, lists of
    numbers, dicts of numbers by name, :class:`Stats` or ``None``; :meth:`to_json` /
    :meth:`from_json` follow their annotations, so a new section needs no serialisation code.
    """

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: Any, *, where: str) -> Self:
        if not isinstance(d, dict):
            raise DataError(f"{where}: expected an object, got {type(d).__name__}")
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name not in d:
                raise DataError(f"{where}: missing field {f.name!r}")
            kwargs[f.name] = _convert(d[f.name], hints[f.name], f"{where}.{f.name}")
        return cls(**kwargs)


def _convert(value: Any, hint: Any, where: str) -> Any:
    """Check a JSON value against a type hint (the few shapes sections use)."""
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(value, inner, where)
    if origin is list:
        if not isinstance(value, list):
            raise DataError(f"{where}: expected a list, got {type(value).__name__}")
        return [_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:  # str keys, e.g. one number per transformation
        if not isinstance(value, dict):
            raise DataError(f"{where}: expected an object, got {type(value).__name__}")
        return {str(k): _convert(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if hint is Stats:
        if not isinstance(value, dict):
            raise DataError(f"{where}: expected {{mean, median}}, got {value!r}")
        return Stats(
            _convert(value.get("mean"), float, where), _convert(value.get("median"), float, where)
        )
    if hint is float:
        if value is None:  # JSON has no NaN: a missing number was written as null
            return float("nan")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DataError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DataError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise DataError(f"{where}: expected a string, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise DataError(f"{where}: expected true or false, got {value!r}")
        return value
    raise TypeError(f"unsupported section field type {hint!r}")  # a bug in a Section subclass


@dataclass(frozen=True)
class Context:
    """What a metric knows before the first chunk."""

    config: AnalysisConfig
    model: Autoencoder
    n_points: int  # points analysed in all (over every shard)
    rank: int  # min(d_h, d_x): the length of a full spectrum
    top_k: int  # tangents per point
    k_compare: int  # dimension of the subspaces the angles compare
    k_true: int | None  # dimension of the true tangent spaces, when known
    n_store: int  # the first n_store points keep their spectra and tangents
    max_distance: float  # largest pairwise distance in the reference data
    n_reference: int  # points whose neighbourhoods give the local-PCA baseline
    device: torch.device

    @property
    def local_pca(self) -> bool:
        """Whether the reference has enough points for k-dimensional local PCA."""
        return self.n_reference > max(self.k_compare, self.k_true or 0)


@dataclass(frozen=True)
class Chunk:
    """Everything computed once at a chunk of points, shared by the metrics."""

    start: int  # position of the first point in the analysed order
    x: Tensor  # (m, n_features)
    op: FactoredJacobian
    code: LayerTrace  # pre-activations and activations of the code layer, (m, n_hidden)
    top: TopSingular  # (m, top_k) values, (m, n_features, top_k) vectors
    sigma: Tensor | None  # (m, rank) full spectrum, descending; None in top-k mode
    pca: Tensor | None  # (m, n_features, k_compare) local-PCA bases, float64; None if skipped
    pca_true_k: Tensor | None  # (m, n_features, k_true) local-PCA bases at the true dimension
    truth: Tensor | None  # (m, n_features, k_true) true tangent bases, float64
    # Every tensor lives on the analysis device.

    @property
    def spectrum(self) -> Tensor:
        """(m, r) the full spectrum, or in top-k mode the leading top_k values."""
        return self.sigma if self.sigma is not None else self.top.values

    @property
    def positions(self) -> slice:  # rows of this chunk among all analysed points
        return slice(self.start, self.start + self.x.shape[0])


class PerPoint:
    """A per-point array over all analysed points, filled chunk by chunk."""

    def __init__(self, n: int, *trailing: int, dtype: Any = float) -> None:
        self.values = np.zeros((n, *trailing), dtype=dtype)
        self.filled = np.zeros(n, dtype=bool)

    def set(self, positions: slice, values: Tensor | np.ndarray) -> None:
        v = values.detach().cpu().numpy() if isinstance(values, Tensor) else values
        self.values[positions] = v
        self.filled[positions] = True

    def merge(self, other: PerPoint) -> None:
        self.values[other.filled] = other.values[other.filled]
        self.filled |= other.filled


def _moved(v: Any, device: torch.device) -> Any:
    """``v`` with every tensor inside it (dicts, plain objects) on ``device``."""
    if isinstance(v, Tensor):
        return v.to(device)
    if isinstance(v, dict):
        return {k: _moved(x, device) for k, x in v.items()}
    if hasattr(v, "__dict__") and not isinstance(v, type):
        clone = object.__new__(type(v))
        clone.__dict__.update({k: _moved(x, device) for k, x in vars(v).items()})
        return clone
    return v


class Metric:
    """A streaming accumulator. Subclasses set ``name`` and ``Result``."""

    name: ClassVar[str]
    Result: ClassVar[type[Section] | None] = None

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @classmethod
    def skip_reason(cls, ctx: Context) -> str | None:
        """Why this metric cannot be measured here (a note for the report), "" to skip it
        without a note, or None if it can."""
        return None

    def update(self, chunk: Chunk) -> None:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        """What another process needs to merge this accumulator: its data, on the CPU."""
        cpu = torch.device("cpu")
        return {k: _moved(v, cpu) for k, v in vars(self).items() if k != "ctx"}

    def from_state(self, state: dict[str, Any]) -> Self:
        """An accumulator of this kind, in this process's context, holding ``state``."""
        other = object.__new__(type(self))
        other.ctx = self.ctx
        for k, v in state.items():
            setattr(other, k, _moved(v, self.ctx.device))
        return other

    def merge(self, other: Self) -> None:
        raise NotImplementedError

    def result(self) -> Section | None:
        return None

    def columns(self) -> dict[str, np.ndarray]:
        """Per-point columns for points.csv, each (n_points,)."""
        return {}

    def arrays(self) -> dict[str, np.ndarray]:
        """Arrays for spectra.npz."""
        return {}


@dataclass(frozen=True)
class Distribution(Section):
    """How a whole number per point is spread over the points."""

    mean: float
    median: float
    histogram: list[int]  # (max + 1,): points with each value, from 0
    capped_at_top_k: bool  # top-k mode: only the leading top_k singular values were seen


class IntegerPerPoint(Metric):
    """A metric that is one whole number per point (a count, a dimension).

    Subclasses give ``column`` (its points.csv name), :meth:`value` at a chunk and
    ``Result``, built from :meth:`distribution`.
    """

    column: ClassVar[str]

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.per_point = PerPoint(ctx.n_points, dtype=np.int64)

    def value(self, chunk: Chunk) -> Tensor:
        """(m,) the number at each point of the chunk."""
        raise NotImplementedError

    def update(self, chunk: Chunk) -> None:
        self.per_point.set(chunk.positions, self.value(chunk))

    def merge(self, other: IntegerPerPoint) -> None:
        self.per_point.merge(other.per_point)

    def distribution(self) -> dict[str, Any]:
        """mean, median and histogram (points with each value, from 0) over the points."""
        v = self.per_point.values
        return {
            "mean": float(v.mean()),
            "median": float(np.median(v)),
            "histogram": np.bincount(v, minlength=1).tolist(),
            "capped_at_top_k": not self.ctx.config.full_spectrum,
        }

    def columns(self) -> dict[str, np.ndarray]:
        return {self.column: self.per_point.values}
