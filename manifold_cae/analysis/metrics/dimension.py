"""The local dimension of the learned manifold at each point, from the spectrum's shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from manifold_cae.analysis.dimension import local_dimension
from manifold_cae.analysis.metrics.base import Chunk, Distribution, IntegerPerPoint


@dataclass(frozen=True)
class DimensionSummary(Distribution):
    """Local dimension per point (Distribution's fields), and the rule that read it."""

    method: str  # "log-gap" or "relative" (analysis.dimension)


class LocalDimension(IntegerPerPoint):
    name: ClassVar[str] = "dimension"
    column: ClassVar[str] = "local_dimension"
    Result = DimensionSummary

    def value(self, chunk: Chunk) -> Tensor:
        method = self.ctx.config.dimension_method
        return local_dimension(chunk.spectrum, method)  # type: ignore[arg-type]

    def result(self) -> DimensionSummary:
        return DimensionSummary(method=self.ctx.config.dimension_method, **self.distribution())
