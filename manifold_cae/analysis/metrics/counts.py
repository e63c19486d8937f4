"""The count of singular values above the threshold: the directions that expand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from manifold_cae.analysis.metrics.base import Chunk, Context, Metric, PerPoint, Section


@dataclass(frozen=True)
class CountSummary(Section):
    threshold: float  # singular values strictly above this are counted
    mean: float  # mean count per point
    median: float
    histogram: list[int]  # (max_count + 1,): points with each count
    capped_at_top_k: bool  # top-k mode: a count can be at most top_k


class CountAbove(Metric):
    name: ClassVar[str] = "count"
    Result = CountSummary

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.count = PerPoint(ctx.n_points, dtype=np.int64)

    def update(self, chunk: Chunk) -> None:
        sigma = chunk.sigma if chunk.sigma is not None else chunk.top.values
        self.count.set(chunk.positions, (sigma > self.ctx.config.threshold).sum(1))

    def merge(self, other: CountAbove) -> None:
        self.count.merge(other.count)

    def result(self) -> CountSummary:
        c = self.count.values
        return CountSummary(
            threshold=self.ctx.config.threshold,
            mean=float(c.mean()),
            median=float(np.median(c)),
            histogram=np.bincount(c, minlength=1).tolist(),
            capped_at_top_k=not self.ctx.config.full_spectrum,
        )

    def columns(self) -> dict[str, np.ndarray]:
        return {"count_above_threshold": self.count.values}
