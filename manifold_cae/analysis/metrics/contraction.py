"""The contraction curve: mean ||f(x1) - f(x0)|| / ||x1 - x0|| against the radius."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from manifold_cae.analysis.contraction import ContractionSums, contraction_sums, default_radii
from manifold_cae.analysis.metrics.base import Chunk, Context, Metric, Section, chunk_generator

# The curve's directions are drawn per chunk from a generator seeded by (seed, this
# salt, chunk start), so a sharded analysis draws exactly what one process draws.
_SALT = 0xC0


@dataclass(frozen=True)
class ContractionSummary(Section):
    radii: list[float]  # (n_radii,), ascending, in input units
    ratios: list[float]  # (n_radii,): mean over centres of the contraction ratio
    ratios_std: list[float]  # (n_radii,): spread over centres
    local_ratio: float  # r -> 0 limit, mean over centres of ||J_f(x0) u||
    max_distance: float  # largest pairwise distance in the data (the grid's upper end)
    n_centres: int  # held-out points used as centres x0


class Contraction(Metric):
    name: ClassVar[str] = "contraction"
    Result = ContractionSummary

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.n_centres = min(ctx.config.contraction_points, ctx.n_points)
        self.radii = default_radii(ctx.max_distance, ctx.config.n_radii)
        self.sums = ContractionSums(np.zeros((3, len(self.radii))), 0.0)

    @classmethod
    def skip_reason(cls, ctx: Context) -> str | None:
        if ctx.max_distance > 0:
            return None
        return (
            "contraction curve skipped: every reference point is the same point (largest "
            "pairwise distance 0), so there is no radius to probe"
        )

    def update(self, chunk: Chunk) -> None:
        m = min(chunk.x.shape[0], self.n_centres - chunk.start)
        if m <= 0:
            return
        gen = chunk_generator(self.ctx.config.seed, _SALT, chunk.start, chunk.x.device)
        self._add(contraction_sums(self.ctx.model, chunk.x[:m], self.radii, generator=gen))

    def _add(self, s: ContractionSums) -> None:
        self.sums = ContractionSums(self.sums.sums + s.sums, self.sums.local_sum + s.local_sum)

    def merge(self, other: Contraction) -> None:
        self._add(other.sums)

    def result(self) -> ContractionSummary:
        c = self.sums.curve(self.radii, self.ctx.max_distance)
        return ContractionSummary(
            radii=c.radii.tolist(),
            ratios=c.ratios.tolist(),
            ratios_std=c.ratios_std.tolist(),
            local_ratio=c.local_ratio,
            max_distance=c.max_distance,
            n_centres=self.n_centres,
        )
