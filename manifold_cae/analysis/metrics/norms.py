"""Norms of the Jacobian per point: Frobenius (what the CAE penalises) and spectral."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from manifold_cae.analysis.metrics.base import Chunk, Context, Metric, PerPoint, Section, Stats


@dataclass(frozen=True)
class NormSummary(Section):
    frobenius: Stats  # ||J_f(x)||_F over points
    spectral: Stats  # sigma_1 over points


class Norms(Metric):
    name: ClassVar[str] = "norms"
    Result = NormSummary

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.frobenius = PerPoint(ctx.n_points)
        self.spectral = PerPoint(ctx.n_points)

    def update(self, chunk: Chunk) -> None:
        self.frobenius.set(chunk.positions, chunk.op.frobenius_sq().clamp_min(0).sqrt())
        self.spectral.set(chunk.positions, chunk.spectrum[:, 0])

    def merge(self, other: Norms) -> None:
        self.frobenius.merge(other.frobenius)
        self.spectral.merge(other.spectral)

    def result(self) -> NormSummary:
        return NormSummary(
            Stats.of(self.frobenius.values),  # type: ignore[arg-type]
            Stats.of(self.spectral.values),  # type: ignore[arg-type]
        )

    def columns(self) -> dict[str, np.ndarray]:
        return {"frobenius_norm": self.frobenius.values, "spectral_norm": self.spectral.values}
