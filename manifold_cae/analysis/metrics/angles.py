"""Tangent angles: the largest principal angle between learned and reference tangent spaces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from torch import Tensor

from manifold_cae.analysis.local_pca import principal_angles
from manifold_cae.analysis.metrics.base import Chunk, Context, Metric, PerPoint, Section, Stats


@dataclass(frozen=True)
class AngleSummary(Section):
    k: int  # dimension of the subspaces compared with local PCA
    reference: str  # "truth" when true tangents are known, else "local_pca"
    cae: Stats | None  # model vs truth, degrees (None without truth)
    local_pca: Stats | None  # local PCA vs truth, degrees (None without truth)
    cae_vs_local_pca: Stats | None  # model vs local PCA, degrees


def _degrees(a: Tensor, b: Tensor) -> np.ndarray:
    return np.degrees(principal_angles(a, b)[:, 0].numpy())


class Angles(Metric):
    name: ClassVar[str] = "angles"
    Result = AngleSummary

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        n, truth = ctx.n_points, ctx.k_true is not None
        self.cae_truth = PerPoint(n) if truth else None
        self.pca_truth = PerPoint(n) if truth else None
        self.cae_pca = PerPoint(n)

    def update(self, chunk: Chunk) -> None:
        vectors = chunk.top.vectors.double().cpu()
        self.cae_pca.set(chunk.positions, _degrees(vectors[:, :, : self.ctx.k_compare], chunk.pca))
        if chunk.truth is not None and self.cae_truth is not None and self.pca_truth is not None:
            k = chunk.truth.shape[2]
            self.cae_truth.set(chunk.positions, _degrees(vectors[:, :, :k], chunk.truth))
            self.pca_truth.set(chunk.positions, _degrees(chunk.pca_true_k, chunk.truth))

    def merge(self, other: Angles) -> None:
        self.cae_pca.merge(other.cae_pca)
        if self.cae_truth is not None and self.pca_truth is not None:
            self.cae_truth.merge(other.cae_truth)  # type: ignore[arg-type]
            self.pca_truth.merge(other.pca_truth)  # type: ignore[arg-type]

    def result(self) -> AngleSummary:
        truth = self.cae_truth is not None and self.pca_truth is not None
        return AngleSummary(
            k=self.ctx.k_compare,
            reference="truth" if truth else "local_pca",
            cae=Stats.of(self.cae_truth.values) if self.cae_truth is not None else None,
            local_pca=Stats.of(self.pca_truth.values) if self.pca_truth is not None else None,
            cae_vs_local_pca=Stats.of(self.cae_pca.values),
        )

    def columns(self) -> dict[str, np.ndarray]:
        cols = {}
        if self.cae_truth is not None and self.pca_truth is not None:
            cols["angle_cae_deg"] = self.cae_truth.values
            cols["angle_local_pca_deg"] = self.pca_truth.values
        cols["angle_cae_vs_local_pca_deg"] = self.cae_pca.values
        return cols
