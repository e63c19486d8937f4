"""The local dimension of the learned manifold at each point, from the spectrum's shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from manifold_cae.analysis.dimension import local_dimension
from manifold_cae.analysis.metrics.base import Chunk, Context, Metric, PerPoint, Section


@dataclass(frozen=True)
class DimensionSummary(Section):
    method: str  # "log-gap" or "relative" (analysis.dimension)
    mean: float  # mean local dimension over points
    median: float
    histogram: list[int]  # (max_dimension + 1,): points with each dimension
    capped_at_top_k: bool  # top-k mode: only the leading top_k values were seen


class LocalDimension(Metric):
    name: ClassVar[str] = "dimension"
    Result = DimensionSummary

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.dimension = PerPoint(ctx.n_points, dtype=np.int64)

    def update(self, chunk: Chunk) -> None:
        sigma = chunk.sigma if chunk.sigma is not None else chunk.top.values
        method = self.ctx.config.dimension_method
        self.dimension.set(chunk.positions, local_dimension(sigma, method))  # type: ignore[arg-type]

    def merge(self, other: LocalDimension) -> None:
        self.dimension.merge(other.dimension)

    def result(self) -> DimensionSummary:
        d = self.dimension.values
        return DimensionSummary(
            method=self.ctx.config.dimension_method,
            mean=float(d.mean()),
            median=float(np.median(d)),
            histogram=np.bincount(d, minlength=1).tolist(),
            capped_at_top_k=not self.ctx.config.full_spectrum,
        )

    def columns(self) -> dict[str, np.ndarray]:
        return {"local_dimension": self.dimension.values}
