"""``analyze``: per-point Jacobian spectra, tangents, counts, saturation and contraction.

Points are streamed in chunks of ``config.chunk_size``. Per point only a
few numbers are kept (top-k singular values, count above threshold, norms,
saturation, angles); the full spectra and tangent vectors are kept for the
first ``store_points`` points of the (shuffled) sample only. Spectrum
quantiles come from fixed log-spaced histograms, so memory does not grow with
the number of points; their resolution is 0.5% in sigma.

Nothing here assumes one process or in-memory data: ``X`` only needs
``X[indices]``, and every aggregate is a sum or a histogram that could be
all-reduced across ranks.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from manifold_cae._version import __version__
from manifold_cae.analysis.contraction import (
    ContractionCurve,
    contraction_curve,
    default_radii,
    max_pairwise_distance,
)
from manifold_cae.analysis.saturation import saturation, unit_interval_view
from manifold_cae.analysis.spectra import FactoredJacobian, full_spectrum, top_singular
from manifold_cae.analysis.tangents import NeighbourIndex, local_pca_tangents, principal_angles
from manifold_cae.config import AnalysisConfig
from manifold_cae.device import resolve_device
from manifold_cae.errors import ConfigError, DataError
from manifold_cae.models import Autoencoder

_LOG_MIN, _LOG_MAX, _LOG_BINS = -12.0, 4.0, 3200  # sigma histogram: 1e-12 .. 1e4
_ACT_BINS = 50


@dataclass
class AnalysisResult:
    """Everything :func:`analyze` measured. Arrays are numpy; n = analysed points."""

    indices: np.ndarray  # (n,): rows of X that were analysed
    threshold: float
    top_k: int  # tangents per point
    k_compare: int  # dimension of the subspaces compared by the angles
    spectrum_method: str  # "gram", "svd" or "top-k only"
    top_values: np.ndarray  # (n, top_k): leading singular values, descending
    count_above: np.ndarray  # (n,): singular values > threshold (at most top_k in top-k mode)
    frobenius: np.ndarray  # (n,): ||J||_F
    spectral: np.ndarray  # (n,): sigma_1
    saturation: np.ndarray  # (n,): fraction of saturated units
    saturation_per_unit: np.ndarray  # (n_hidden,)
    activation_hist: np.ndarray  # (50,): counts of unit-interval activations
    activation_edges: np.ndarray  # (51,)
    count_histogram: np.ndarray  # (max_count + 1,): points with each count
    contraction: ContractionCurve
    spectrum_mean: np.ndarray | None = None  # (r,), r = min(d_h, d_x)
    spectrum_q10: np.ndarray | None = None
    spectrum_q50: np.ndarray | None = None
    spectrum_q90: np.ndarray | None = None
    angle_cae_truth: np.ndarray | None = None  # (n,): largest principal angle, degrees
    angle_pca_truth: np.ndarray | None = None  # (n,)
    angle_cae_pca: np.ndarray | None = None  # (n,): CAE vs local PCA
    stored_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    stored_inputs: np.ndarray | None = None  # (m, d_x)
    stored_spectra: np.ndarray | None = None  # (m, r)
    stored_tangents: np.ndarray | None = None  # (m, top_k, d_x): right singular vectors
    stored_pca_tangents: np.ndarray | None = None  # (m, k_compare, d_x)
    stored_true_tangents: np.ndarray | None = None  # (m, k_true, d_x)
    n_dense_fallback: int = 0  # points whose top-k were redone densely
    meta: dict[str, Any] = field(default_factory=dict)  # model config, data, versions

    @property
    def n_points(self) -> int:
        return len(self.indices)

    @property
    def saturation_mean(self) -> float:
        return float(self.saturation.mean())


class _Quantiles:
    """Per-column quantiles of positive values from log-spaced histograms."""

    def __init__(self, n_cols: int, device: torch.device) -> None:
        self.counts = torch.zeros(n_cols * (_LOG_BINS + 1), dtype=torch.int64, device=device)
        self.n_cols = n_cols

    def update(self, values: torch.Tensor) -> None:  # (n, n_cols)
        logv = torch.log10(values.double().clamp_min(10.0**_LOG_MIN))
        b = ((logv - _LOG_MIN) / (_LOG_MAX - _LOG_MIN) * _LOG_BINS).long().clamp(0, _LOG_BINS)
        col = torch.arange(self.n_cols, device=values.device) * (_LOG_BINS + 1)
        self.counts += torch.bincount((b + col).flatten(), minlength=self.counts.numel())

    def quantile(self, q: float) -> np.ndarray:
        counts = self.counts.view(self.n_cols, _LOG_BINS + 1).cpu().numpy()
        cum = counts.cumsum(axis=1)
        target = q * cum[:, -1:]
        b = (cum < np.maximum(target, 1)).sum(axis=1)
        centre = _LOG_MIN + (b + 0.5) * (_LOG_MAX - _LOG_MIN) / _LOG_BINS
        return np.where(b == 0, 0.0, 10.0**centre)


def _check_inputs(model: Autoencoder, X: Any, tangents: Any, config: AnalysisConfig) -> int:
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) != 2:
        raise DataError(f"data must be 2-D (n_samples, n_features); got shape {shape}")
    if shape[0] == 0:
        raise DataError("data has no rows to analyse")
    if shape[1] != model.n_features:
        raise DataError(
            f"data has {shape[1]} features but the model was trained on {model.n_features}; "
            "analyse it with data of the model's dimension (the same --data as in training)"
        )
    rank = min(model.n_hidden, model.n_features)
    if config.top_k is not None and config.top_k > rank:
        raise ConfigError(
            f"top_k={config.top_k} exceeds min(d_h, d_x) = {rank} (d_h={model.n_hidden}, "
            f"d_x={model.n_features}); choose --top-k <= {rank}"
        )
    if tangents is not None and (
        tangents.ndim != 3 or tangents.shape[0] != shape[0] or tangents.shape[2] != shape[1]
    ):
        raise DataError(
            f"tangents must have shape (n_samples, k, n_features) = ({shape[0]}, k, {shape[1]}); "
            f"got {tangents.shape}"
        )
    return rank


def analyze(
    model: Autoencoder,
    X: Any,
    *,
    config: AnalysisConfig | None = None,
    tangents: np.ndarray | None = None,
    reference: np.ndarray | None = None,
    progress: bool | None = None,
) -> AnalysisResult:
    """Analyse the encoder's Jacobian at the points of X.

    Args:
        model: a trained autoencoder (any depth, activation, tying).
        X: (n_samples, n_features), the points (a numpy array or memmap).
        config: what to compute; :class:`~manifold_cae.config.AnalysisConfig` defaults.
        tangents: (n_samples, k, n_features) true tangent bases, when known.
        reference: (n_reference, n_features) points whose neighbourhoods give the
            local-PCA baseline (default: X itself).
        progress: progress bar; ``None`` shows it only on a terminal.

    Returns:
        :class:`AnalysisResult`.
    """
    config = config or AnalysisConfig()
    rank = _check_inputs(model, X, tangents, config)
    n_total = X.shape[0]
    rng = np.random.default_rng(config.seed)
    if config.points is not None and config.points < n_total:
        indices = np.sort(rng.choice(n_total, size=config.points, replace=False))
        indices = rng.permutation(indices)  # a random order, so any prefix is a random sample
    else:
        indices = np.arange(n_total)
    n = len(indices)
    device = resolve_device(config.device)
    dtype = next(model.parameters()).dtype
    model = model.to(device).eval()
    gen = torch.Generator(device=device).manual_seed(config.seed)

    k_true = None if tangents is None else tangents.shape[1]
    top_k = config.top_k or k_true or min(10, rank)
    if k_true is not None and top_k < k_true:
        raise ConfigError(f"top_k={top_k} is below the manifold dimension {k_true}")
    k_compare = min(top_k, k_true or top_k, config.pca_neighbors - 1)
    ref = np.asarray(X if reference is None else reference)
    if not np.isfinite(ref).all():
        raise DataError("data holds NaN or inf; remove or impute those rows before analysing")
    neighbours = NeighbourIndex(ref)
    n_store = min(config.store_points, n)

    top_values = np.zeros((n, top_k))
    count = np.zeros(n, dtype=np.int64)
    fro, spec, sat = np.zeros(n), np.zeros(n), np.zeros(n)
    ang_ct = np.zeros(n) if k_true else None
    ang_pt = np.zeros(n) if k_true else None
    ang_cp = np.zeros(n)
    unit_sat = torch.zeros(model.n_hidden, dtype=torch.float64, device=device)
    act_hist = np.zeros(_ACT_BINS, dtype=np.int64)
    spec_sum = torch.zeros(rank, dtype=torch.float64, device=device)
    quant = _Quantiles(rank, device) if config.full_spectrum else None
    stored: dict[str, list[np.ndarray]] = {}
    n_fallback = 0

    from tqdm.auto import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    for start in tqdm(
        range(0, n, config.chunk_size), desc="analyse", unit="chunk", disable=not show
    ):
        idx = indices[start : start + config.chunk_size]
        sl = slice(start, start + len(idx))
        xc = torch.as_tensor(np.asarray(X[np.sort(idx)])[np.argsort(np.argsort(idx))])
        xc = xc.to(device=device, dtype=dtype)
        op = FactoredJacobian(model, xc)
        with torch.no_grad():
            last = model.trace(xc)[-1]
            top = top_singular(op, top_k, generator=gen)
            fro[sl] = op.frobenius_sq().clamp_min(0).sqrt().cpu().numpy()
            if config.full_spectrum:
                sigma = full_spectrum(op, exact=config.exact)
                count[sl] = (sigma > config.threshold).sum(1).cpu().numpy()
                spec[sl] = sigma[:, 0].cpu().numpy()
                spec_sum += sigma.double().sum(0)
                quant.update(sigma)
            else:
                count[sl] = (top.values > config.threshold).sum(1).cpu().numpy()
                spec[sl] = top.values[:, 0].cpu().numpy()
        top_values[sl] = top.values.cpu().numpy()
        n_fallback += int(top.dense_fallback.sum())
        s = saturation(
            model.config.activation, last.preactivation, last.activation,
            low=config.saturation_low, high=config.saturation_high,
        )  # fmt: skip
        sat[sl] = s.per_point.cpu().numpy()
        unit_sat += s.per_unit.double() * len(idx)
        u = unit_interval_view(model.config.activation, last.preactivation, last.activation)
        act_hist += np.histogram(u.cpu().numpy(), bins=_ACT_BINS, range=(0, 1))[0]

        cae = top.vectors[:, :, :k_compare].double().cpu()
        hood = neighbours.neighbourhoods(xc.cpu().numpy(), config.pca_neighbors)
        pca = local_pca_tangents(hood, k_compare)
        ang_cp[sl] = np.degrees(principal_angles(cae, pca)[:, 0].numpy())
        truth = None
        if tangents is not None:
            truth = torch.as_tensor(np.asarray(tangents[idx]), dtype=torch.float64).mT
            cae_t = top.vectors[:, :, :k_true].double().cpu()
            ang_ct[sl] = np.degrees(principal_angles(cae_t, truth)[:, 0].numpy())
            pca_t = local_pca_tangents(hood, k_true)
            ang_pt[sl] = np.degrees(principal_angles(pca_t, truth)[:, 0].numpy())
        if start < n_store:
            m = min(len(idx), n_store - start)
            stored.setdefault("inputs", []).append(xc[:m].cpu().numpy())
            stored.setdefault("tangents", []).append(top.vectors[:m].mT.cpu().numpy())
            stored.setdefault("pca", []).append(pca[:m].mT.numpy())
            if config.full_spectrum:
                stored.setdefault("spectra", []).append(sigma[:m].cpu().numpy())
            if truth is not None:
                stored.setdefault("truth", []).append(truth[:m].mT.numpy())

    n_c = min(config.contraction_points, n)
    x0 = torch.as_tensor(np.asarray(X[np.sort(indices[:n_c])]), dtype=dtype, device=device)
    dmax = max_pairwise_distance(torch.as_tensor(ref[:4000], dtype=dtype, device=device))
    curve = contraction_curve(
        model, x0, default_radii(dmax, config.n_radii), generator=gen, max_distance=dmax
    )

    def cat(key: str) -> np.ndarray | None:
        return np.concatenate(stored[key]) if key in stored else None

    result = AnalysisResult(
        indices=indices,
        threshold=config.threshold,
        top_k=top_k,
        k_compare=k_compare,
        spectrum_method=("svd" if config.exact else "gram")
        if config.full_spectrum
        else "top-k only",
        top_values=top_values,
        count_above=count,
        frobenius=fro,
        spectral=spec,
        saturation=sat,
        saturation_per_unit=(unit_sat / n).cpu().numpy(),
        activation_hist=act_hist,
        activation_edges=np.linspace(0, 1, _ACT_BINS + 1),
        count_histogram=np.bincount(count, minlength=1),
        contraction=curve,
        angle_cae_truth=ang_ct,
        angle_pca_truth=ang_pt,
        angle_cae_pca=ang_cp,
        stored_indices=indices[:n_store].copy(),
        stored_inputs=cat("inputs"),
        stored_spectra=cat("spectra"),
        stored_tangents=cat("tangents"),
        stored_pca_tangents=cat("pca"),
        stored_true_tangents=cat("truth"),
        n_dense_fallback=n_fallback,
        meta={
            "model": dataclasses.asdict(model.config),
            "package_version": __version__,
            "analysis": dataclasses.asdict(config),
            "n_data": n_total,
        },
    )
    if config.full_spectrum:
        result.spectrum_mean = (spec_sum / n).cpu().numpy()
        result.spectrum_q10 = quant.quantile(0.1)
        result.spectrum_q50 = quant.quantile(0.5)
        result.spectrum_q90 = quant.quantile(0.9)
    return result
