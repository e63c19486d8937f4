"""The count of singular values above the threshold: the directions that expand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from manifold_cae.analysis.metrics.base import Chunk, Distribution, IntegerPerPoint


@dataclass(frozen=True)
class CountSummary(Distribution):
    """Count of singular values above ``threshold`` per point (Distribution's fields)."""

    threshold: float  # singular values strictly above this are counted


class CountAbove(IntegerPerPoint):
    name: ClassVar[str] = "count"
    column: ClassVar[str] = "count_above_threshold"
    Result = CountSummary

    def value(self, chunk: Chunk) -> Tensor:
        return (chunk.spectrum > self.ctx.config.threshold).sum(1)

    def result(self) -> CountSummary:
        return CountSummary(threshold=self.ctx.config.threshold, **self.distribution())
