"""Tangent angles: principal angles between learned and reference tangent spaces.

Against the truth, the largest principal angle. Against local PCA (the only reference
when the data have no truth) also the mean principal angle: in many dimensions the
largest angle between two k-D subspaces sits near 90 degrees for nearly any pair, so
it cannot rank models, while the mean over the k angles still moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

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
    cae_vs_local_pca_mean: Stats | None = None  # the mean principal angle, degrees

    @classmethod
    def from_json(cls, d: Any, *, where: str) -> AngleSummary:
        """As :meth:`Section.from_json`; a summary written before the mean angle lacks it."""
        if isinstance(d, dict) and "cae_vs_local_pca_mean" not in d:
            d = {**d, "cae_vs_local_pca_mean": None}
        return super().from_json(d, where=where)


def _degrees(a: Tensor, b: Tensor) -> np.ndarray:
    """(n,) largest principal angles in degrees."""
    return np.degrees(principal_angles(a, b)[:, 0].cpu().numpy())


class Angles(Metric):
    name: ClassVar[str] = "angles"
    Result = AngleSummary

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        n, truth, pca = ctx.n_points, ctx.k_true is not None, ctx.local_pca
        self.cae_truth = PerPoint(n) if truth else None
        self.pca_truth = PerPoint(n) if truth and pca else None
        self.cae_pca = PerPoint(n) if pca else None
        self.cae_pca_mean = PerPoint(n) if pca else None

    @classmethod
    def skip_reason(cls, ctx: Context) -> str | None:
        if ctx.local_pca or ctx.k_true is not None:
            return None
        return (
            f"tangent angles skipped: the data hold no true tangents and local PCA needs more "
            f"than {ctx.k_compare} reference points (there are {ctx.n_reference})"
        )

    def _parts(self) -> dict[str, PerPoint]:
        parts = {
            "angle_cae_deg": self.cae_truth,
            "angle_local_pca_deg": self.pca_truth,
            "angle_cae_vs_local_pca_deg": self.cae_pca,
            "angle_cae_vs_local_pca_mean_deg": self.cae_pca_mean,
        }
        return {name: p for name, p in parts.items() if p is not None}

    def update(self, chunk: Chunk) -> None:
        vectors = chunk.top.vectors.double()
        at = chunk.positions
        if self.cae_pca is not None and self.cae_pca_mean is not None and chunk.pca is not None:
            k = self.ctx.k_compare
            angles = np.degrees(principal_angles(vectors[:, :, :k], chunk.pca).numpy())  # (m, k)
            self.cae_pca.set(at, angles[:, 0])
            self.cae_pca_mean.set(at, angles.mean(axis=1))
        if chunk.truth is not None and self.cae_truth is not None:
            self.cae_truth.set(at, _degrees(vectors[:, :, : chunk.truth.shape[2]], chunk.truth))
            if self.pca_truth is not None and chunk.pca_true_k is not None:
                self.pca_truth.set(at, _degrees(chunk.pca_true_k, chunk.truth))

    def merge(self, other: Angles) -> None:
        theirs = other._parts()
        for name, part in self._parts().items():
            part.merge(theirs[name])

    def result(self) -> AngleSummary:
        def stats(part: PerPoint | None) -> Stats | None:
            return None if part is None else Stats.of(part.values)

        return AngleSummary(
            k=self.ctx.k_compare,
            reference="truth" if self.cae_truth is not None else "local_pca",
            cae=stats(self.cae_truth),
            local_pca=stats(self.pca_truth),
            cae_vs_local_pca=stats(self.cae_pca),
            cae_vs_local_pca_mean=stats(self.cae_pca_mean),
        )

    def columns(self) -> dict[str, np.ndarray]:
        return {name: part.values for name, part in self._parts().items()}
