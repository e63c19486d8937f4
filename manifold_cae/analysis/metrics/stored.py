"""Per-point spectra and tangent vectors of the first ``store_points`` points (spectra.npz)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from torch import Tensor

from manifold_cae.analysis.metrics.base import Chunk, Context, Metric, PerPoint


class Stored(Metric):
    name: ClassVar[str] = "stored"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        m, d, r = ctx.n_store, ctx.model.n_features, ctx.rank
        self.parts: dict[str, PerPoint] = {
            "inputs": PerPoint(m, d),
            "tangents": PerPoint(m, ctx.top_k, d),  # right singular vectors, rows
            "top_values": PerPoint(m, ctx.top_k),
        }
        if ctx.local_pca:
            self.parts["pca_tangents"] = PerPoint(m, ctx.k_compare, d)
        if ctx.config.full_spectrum:
            self.parts["singular_values"] = PerPoint(m, r)
        if ctx.k_true is not None:
            self.parts["true_tangents"] = PerPoint(m, ctx.k_true, d)

    def update(self, chunk: Chunk) -> None:
        m = min(chunk.x.shape[0], self.ctx.n_store - chunk.start)
        if m <= 0:
            return
        rows = slice(chunk.start, chunk.start + m)
        values: dict[str, Tensor | None] = {
            "inputs": chunk.x,
            "tangents": chunk.top.vectors.mT,
            "pca_tangents": None if chunk.pca is None else chunk.pca.mT,
            "top_values": chunk.top.values,
            "singular_values": chunk.sigma,
            "true_tangents": None if chunk.truth is None else chunk.truth.mT,
        }
        for name, part in self.parts.items():
            part.set(rows, values[name][:m])  # type: ignore[index]

    def merge(self, other: Stored) -> None:
        for name, part in self.parts.items():
            part.merge(other.parts[name])

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: part.values for name, part in self.parts.items()}
