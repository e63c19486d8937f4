"""Per-layer geometry of a deep encoder: each prefix h_1, h_2, ... as an encoder of its own.

A stacked CAE is contractive layer by layer; a jointly penalised one only as a
whole. This table shows where along the depth the contraction happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from manifold_cae.analysis.dimension import local_dimension
from manifold_cae.analysis.metrics.base import Chunk, Context, Metric, Section, chunk_generator
from manifold_cae.analysis.spectra import full_spectrum, top_singular

_SALT = 0x1A0  # + the prefix's index: the top-k start blocks of each prefix, per chunk


@dataclass(frozen=True)
class LayerSummary(Section):
    widths: list[int]  # (n_layers,): the code size after each layer
    frobenius_mean: list[float]  # (n_layers,): mean ||J||_F of the encoder up to each layer
    spectral_mean: list[float]  # mean sigma_1 of each prefix
    count_mean: list[float]  # mean count of sigma above the threshold, per prefix
    dimension_median: list[float]  # median local dimension, per prefix


class Layers(Metric):
    name: ClassVar[str] = "layers"
    Result = LayerSummary

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.sums = np.zeros((3, ctx.model.n_layers))  # frobenius, sigma_1, count
        self.dims: list[list[np.ndarray]] = [[] for _ in range(ctx.model.n_layers)]

    @classmethod
    def skip_reason(cls, ctx: Context) -> str | None:
        return None if ctx.model.n_layers > 1 else ""  # one layer: nothing to tabulate, no note

    def update(self, chunk: Chunk) -> None:
        cfg, n_layers = self.ctx.config, self.ctx.model.n_layers
        for i in range(n_layers):
            if i + 1 == n_layers:  # the whole encoder: the engine already has its spectrum
                op, sigma = chunk.op, chunk.spectrum
            elif cfg.full_spectrum:
                op = chunk.op.prefix(i + 1)
                sigma = full_spectrum(op, exact=cfg.exact)
            else:
                op = chunk.op.prefix(i + 1)
                k = min(self.ctx.top_k, op.n_hidden, op.n_features)
                gen = chunk_generator(cfg.seed, _SALT + i, chunk.start, chunk.x.device)
                sigma = top_singular(op, k, generator=gen).values
            self.sums[0, i] += float(op.frobenius_sq().clamp_min(0).sqrt().double().sum())
            self.sums[1, i] += float(sigma[:, 0].double().sum())
            self.sums[2, i] += float((sigma > cfg.threshold).sum())
            self.dims[i].append(local_dimension(sigma, cfg.dimension_method).cpu().numpy())  # type: ignore[arg-type]

    def merge(self, other: Layers) -> None:
        self.sums += other.sums
        for mine, theirs in zip(self.dims, other.dims, strict=True):
            mine.extend(theirs)

    def result(self) -> LayerSummary:
        n = self.ctx.n_points
        return LayerSummary(
            widths=list(self.ctx.model.config.hidden),
            frobenius_mean=(self.sums[0] / n).tolist(),
            spectral_mean=(self.sums[1] / n).tolist(),
            count_mean=(self.sums[2] / n).tolist(),
            dimension_median=[float(np.median(np.concatenate(d))) for d in self.dims],
        )
