"""The singular-value spectrum: leading values per point, mean and quantile spectra."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from manifold_cae.analysis.metrics.base import Chunk, Context, Metric, PerPoint, Section

# sigma histogram for the quantiles: log10 sigma in [-12, 4] in 3200 bins, i.e. 0.5 % resolution
LOG_MIN, LOG_MAX, LOG_BINS = -12.0, 4.0, 3200


@dataclass(frozen=True)
class SpectrumSummary(Section):
    method: str  # "gram", "svd" or "top-k only"
    top_k: int  # leading singular values kept per point
    top_mean: list[float]  # (top_k,): mean over points of sigma_1 .. sigma_k
    mean: list[float] | None  # (rank,): mean full spectrum; None in top-k mode
    q10: list[float] | None  # (rank,): 10 % quantile of each sigma_i (0.5 % resolution)
    q50: list[float] | None
    q90: list[float] | None
    n_dense_fallback: int  # points whose top-k had to be redone densely


class LogQuantiles:
    """Per-column quantiles of positive values from log-spaced histograms (mergeable)."""

    def __init__(self, n_cols: int, device: torch.device) -> None:
        self.counts = torch.zeros(n_cols * (LOG_BINS + 1), dtype=torch.int64, device=device)
        self.n_cols = n_cols

    def update(self, values: torch.Tensor) -> None:  # (n, n_cols)
        logv = torch.log10(values.double().clamp_min(10.0**LOG_MIN))
        b = ((logv - LOG_MIN) / (LOG_MAX - LOG_MIN) * LOG_BINS).long().clamp(0, LOG_BINS)
        col = torch.arange(self.n_cols, device=values.device) * (LOG_BINS + 1)
        self.counts += torch.bincount((b + col).flatten(), minlength=self.counts.numel())

    def merge(self, other: LogQuantiles) -> None:
        self.counts += other.counts.to(self.counts.device)

    def quantile(self, q: float) -> np.ndarray:
        counts = self.counts.view(self.n_cols, LOG_BINS + 1).cpu().numpy()
        cum = counts.cumsum(axis=1)
        target = q * cum[:, -1:]
        b = (cum < np.maximum(target, 1)).sum(axis=1)
        centre = LOG_MIN + (b + 0.5) * (LOG_MAX - LOG_MIN) / LOG_BINS
        return np.where(b == 0, 0.0, 10.0**centre)


class Spectrum(Metric):
    name: ClassVar[str] = "spectrum"
    Result = SpectrumSummary

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.top = PerPoint(ctx.n_points, ctx.top_k)
        full = ctx.config.full_spectrum
        self.total = torch.zeros(ctx.rank, dtype=torch.float64, device=ctx.device) if full else None
        self.quantiles = LogQuantiles(ctx.rank, ctx.device) if full else None
        self.n_fallback = 0

    def update(self, chunk: Chunk) -> None:
        self.top.set(chunk.positions, chunk.top.values)
        self.n_fallback += int(chunk.top.dense_fallback.sum())
        if chunk.sigma is not None and self.total is not None and self.quantiles is not None:
            self.total += chunk.sigma.double().sum(0)
            self.quantiles.update(chunk.sigma)

    def merge(self, other: Spectrum) -> None:
        self.top.merge(other.top)
        self.n_fallback += other.n_fallback
        if self.total is not None and other.total is not None and self.quantiles is not None:
            self.total += other.total.to(self.total.device)
            self.quantiles.merge(other.quantiles)  # type: ignore[arg-type]

    def result(self) -> SpectrumSummary:
        cfg = self.ctx.config
        method = ("svd" if cfg.exact else "gram") if cfg.full_spectrum else "top-k only"
        full = self.total is not None and self.quantiles is not None
        q = self.quantiles
        return SpectrumSummary(
            method=method,
            top_k=self.ctx.top_k,
            top_mean=self.top.values.mean(axis=0).tolist(),
            mean=(self.total / self.ctx.n_points).tolist() if full else None,  # type: ignore[operator]
            q10=q.quantile(0.1).tolist() if q is not None else None,
            q50=q.quantile(0.5).tolist() if q is not None else None,
            q90=q.quantile(0.9).tolist() if q is not None else None,
            n_dense_fallback=self.n_fallback,
        )

    def columns(self) -> dict[str, np.ndarray]:
        return {f"sigma_{i + 1}": self.top.values[:, i] for i in range(self.ctx.top_k)}
