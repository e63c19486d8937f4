"""Saturation of the code units (SAT of Rifai et al. 2011) and their activation histogram."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from manifold_cae.analysis.metrics.base import Chunk, Context, Metric, PerPoint, Section
from manifold_cae.analysis.saturation import saturation, unit_interval_view

ACTIVATION_BINS = 50  # histogram of the code activations on [0, 1]


@dataclass(frozen=True)
class SaturationSummary(Section):
    activation: str  # the encoder's activation, which defines "saturated"
    low: float  # a unit below this (on the unit-interval view) is saturated
    high: float  # ... or above this
    mean_fraction: float  # SAT: mean over points of the fraction of saturated units
    per_unit: list[float]  # (n_hidden,): fraction of points at which each unit saturates
    activation_counts: list[int]  # (ACTIVATION_BINS,): code activations on [0, 1]
    activation_edges: list[float]  # (ACTIVATION_BINS + 1,)


class Saturation(Metric):
    name: ClassVar[str] = "saturation"
    Result = SaturationSummary

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.per_point = PerPoint(ctx.n_points)
        self.unit_sum = torch.zeros(ctx.model.n_hidden, dtype=torch.float64, device=ctx.device)
        self.hist = np.zeros(ACTIVATION_BINS, dtype=np.int64)

    def update(self, chunk: Chunk) -> None:
        cfg, act = self.ctx.config, self.ctx.model.config.activation
        a, h = chunk.code.preactivation, chunk.code.activation
        s = saturation(act, a, h, low=cfg.saturation_low, high=cfg.saturation_high)
        self.per_point.set(chunk.positions, s.per_point)
        self.unit_sum += s.per_unit.double() * a.shape[0]
        u = unit_interval_view(act, a, h).double()  # binned where it lives, as np.histogram does
        self.hist += torch.histc(u, ACTIVATION_BINS, 0, 1).long().cpu().numpy()

    def merge(self, other: Saturation) -> None:
        self.per_point.merge(other.per_point)
        self.unit_sum += other.unit_sum.to(self.unit_sum.device)
        self.hist += other.hist

    def result(self) -> SaturationSummary:
        cfg = self.ctx.config
        return SaturationSummary(
            activation=self.ctx.model.config.activation,
            low=cfg.saturation_low,
            high=cfg.saturation_high,
            mean_fraction=float(self.per_point.values.mean()),
            per_unit=(self.unit_sum / self.ctx.n_points).tolist(),
            activation_counts=self.hist.tolist(),
            activation_edges=np.linspace(0, 1, ACTIVATION_BINS + 1).tolist(),
        )

    def columns(self) -> dict[str, np.ndarray]:
        return {"saturation": self.per_point.values}
