"""``analyze``: stream the points through every registered metric.

Points are taken in chunks of ``config.chunk_size`` (by default 64 on a CPU,
and on a GPU as many as a quarter of its free memory holds). At each chunk the
quantities several metrics share are computed once (the Jacobian's factors,
the top-k singular triplets, the full spectrum, the local-PCA bases) and
handed to every accumulator in :data:`~manifold_cae.analysis.metrics.REGISTRY`.
Per point only a few numbers are kept; full spectra and tangent vectors are
kept for the first ``store_points`` points of the (shuffled) sample only.

Nothing here assumes one process or in-memory data: ``X`` only needs
``X[indices]``; every random draw is seeded by (seed, chunk start), so any
subset of chunks gives the numbers one process would; and every metric
merges. On a GPU a chunk stays on the device from its rows' upload to the
metrics' per-chunk results: Jacobian kernels, neighbour search, local PCA,
angles, saturation and contraction sums are batched device operations.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from manifold_cae import distributed
from manifold_cae._version import __version__
from manifold_cae.analysis.contraction import DISTANCE_POINTS, max_pairwise_distance
from manifold_cae.analysis.dimension import local_dimension
from manifold_cae.analysis.local_pca import NeighbourIndex, local_pca_tangents
from manifold_cae.analysis.metrics import REGISTRY, Chunk, Context, Metric
from manifold_cae.analysis.metrics.base import chunk_generator
from manifold_cae.analysis.metrics.transformations import check_image_shape
from manifold_cae.analysis.spectra import FactoredJacobian, full_spectrum, top_singular
from manifold_cae.analysis.summary import AnalysisSummary, Provenance
from manifold_cae.config import AnalysisConfig
from manifold_cae.device import resolve_device
from manifold_cae.errors import ConfigError, DataError
from manifold_cae.models import Autoencoder
from manifold_cae.progress import Progress

CPU_CHUNK = 64  # points per chunk on a CPU when --chunk-size is not given
MAX_GPU_CHUNK = 4096
DEFAULT_TOP_K = 10  # tangents per point when neither --top-k nor the manifold's dimension is known
_TOP_K_SALT = 0x7A  # keeps the top-k start blocks independent of other per-chunk draws
_PILOT_SALT = 0x91  # the pilot top-k that picks k when neither --top-k nor truth is given


@dataclass
class AnalysisResult:
    """Everything :func:`analyze` measured. n = analysed points, m = stored points."""

    summary: AnalysisSummary
    indices: np.ndarray  # (n,): rows of X analysed, in analysis order
    columns: dict[str, np.ndarray]  # per-point columns of points.csv, each (n,)
    arrays: dict[str, np.ndarray]  # spectra.npz: "indices" (m,), "tangents" (m, k, d_x), ...

    @property
    def n_points(self) -> int:
        return len(self.indices)

    def reindex(self, rows: np.ndarray) -> None:
        """Map indices into ``X`` to indices into a larger data set whose rows ``rows`` X is."""
        self.indices = rows[self.indices]
        self.columns["index"] = self.indices
        self.arrays["indices"] = rows[self.arrays["indices"]]


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
    check_image_shape(config, shape[1])
    if tangents is not None and (
        tangents.ndim != 3 or tangents.shape[0] != shape[0] or tangents.shape[2] != shape[1]
    ):
        raise DataError(
            f"tangents must have shape (n_samples, k, n_features) = ({shape[0]}, k, {shape[1]}); "
            f"got {tangents.shape}"
        )
    return rank


def load_rows(X: Any, idx: np.ndarray) -> np.ndarray:
    """X[idx] in the order of ``idx`` (read in sorted order, as a memmap likes), all finite."""
    rows = np.asarray(X[np.sort(idx)])[np.argsort(np.argsort(idx))]
    bad = ~np.isfinite(rows).all(axis=1)
    if bad.any():
        raise DataError(
            f"data row {int(idx[np.argmax(bad)])} holds NaN or inf; remove or impute "
            "such rows before analysing"
        )
    return rows


def sample_points(n_total: int, points: int | None, seed: int) -> np.ndarray:
    """The analysed rows in a random order, so that any prefix is a random sample, (n,)."""
    if points is None or points >= n_total:
        return np.arange(n_total)
    rng = np.random.default_rng(seed)
    return rng.permutation(np.sort(rng.choice(n_total, size=points, replace=False)))


def resolve_chunk_size(requested: int | None, model: Autoencoder, device: torch.device) -> int:
    """The chunk size: as requested, else 64 on a CPU, else what a quarter of free GPU memory holds.

    The GPU estimate counts the largest per-point buffers of the kernels: a
    dense Jacobian (d_h x d_x) and four r x r matrices (the Gram matrix, its
    reduction and the bisection's Sturm sequences), in the model's dtype.
    """
    if requested is not None:
        return requested
    if device.type != "cuda":
        return CPU_CHUNK
    itemsize = next(model.parameters()).element_size()
    widths = [model.n_features, *model.config.hidden]
    rank = min(model.n_features, model.n_hidden)
    per_point = itemsize * (max(widths) ** 2 + 4 * rank**2 + 64 * sum(widths))
    free, _ = torch.cuda.mem_get_info(device)
    fit = int(free // 4 // per_point) // CPU_CHUNK * CPU_CHUNK
    return max(CPU_CHUNK, min(MAX_GPU_CHUNK, fit))


def pilot_dimension(
    model: Autoencoder, X: Any, indices: np.ndarray, config: AnalysisConfig, rank: int,
    device: torch.device,
) -> int:  # fmt: skip
    """The median local dimension at the first chunk of points: the tangents' k when unknown."""
    rows = load_rows(X, indices[: config.chunk_size])
    x = torch.as_tensor(rows).to(device, next(model.parameters()).dtype)
    op = FactoredJacobian(model, x)
    with torch.no_grad():
        if config.full_spectrum:
            sigma = full_spectrum(op, exact=config.exact)
        else:
            gen = chunk_generator(config.seed, _PILOT_SALT, 0, device)
            sigma = top_singular(op, min(DEFAULT_TOP_K, rank), generator=gen).values
    d = local_dimension(sigma, config.dimension_method)  # type: ignore[arg-type]
    return int(min(rank, max(1, round(float(d.double().median())))))


def _context(
    model: Autoencoder, config: AnalysisConfig, n: int, rank: int, k_true: int | None,
    ref: np.ndarray, device: torch.device, pilot_k: int | None,
) -> Context:  # fmt: skip
    top_k = config.top_k or k_true or pilot_k or min(DEFAULT_TOP_K, rank)
    if k_true is not None and top_k < k_true:
        raise ConfigError(f"top_k={top_k} is below the manifold dimension {k_true}")
    dtype = next(model.parameters()).dtype
    sample = torch.as_tensor(np.array(ref[:DISTANCE_POINTS]), dtype=dtype, device=device)
    return Context(
        config=config,
        model=model,
        n_points=n,
        rank=rank,
        top_k=top_k,
        k_compare=min(top_k, k_true or top_k, config.pca_neighbors - 1),
        k_true=k_true,
        n_store=min(config.store_points, n),
        max_distance=max_pairwise_distance(sample),
        n_reference=len(ref),
        device=device,
    )


def _chunks(
    ctx: Context, X: Any, indices: np.ndarray, tangents: np.ndarray | None,
    neighbours: NeighbourIndex, starts: range,
) -> Iterator[Chunk]:  # fmt: skip
    model, cfg = ctx.model, ctx.config
    dtype = next(model.parameters()).dtype
    for start in starts:
        idx = indices[start : start + cfg.chunk_size]
        rows = load_rows(X, idx)
        xc = torch.as_tensor(rows).to(device=ctx.device, dtype=dtype)
        op = FactoredJacobian(model, xc)
        gen = chunk_generator(cfg.seed, _TOP_K_SALT, start, ctx.device)
        with torch.no_grad():
            code = model.trace(xc)[-1]
            top = top_singular(op, ctx.top_k, generator=gen)
            sigma = full_spectrum(op, exact=cfg.exact) if cfg.full_spectrum else None
        truth = None
        if tangents is not None:
            truth = torch.as_tensor(
                np.asarray(tangents[idx]), dtype=torch.float64, device=ctx.device
            ).mT
        pca = pca_true_k = None
        if ctx.local_pca:
            hood = neighbours.neighbourhoods(rows, cfg.pca_neighbors)
            pca = local_pca_tangents(hood, ctx.k_compare)
            pca_true_k = None if truth is None else local_pca_tangents(hood, truth.shape[2])
        yield Chunk(
            start=start,
            x=xc,
            op=op,
            code=code,
            top=top,
            sigma=sigma,
            pca=pca,
            pca_true_k=pca_true_k,
            truth=truth,
        )


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

    The caller's model is left as it was (device, mode); the analysis works on a copy.

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
    bad = [name for name, p in model.named_parameters() if not torch.isfinite(p).all()]
    if bad:
        raise DataError(
            f"the model's weights hold NaN or inf ({', '.join(bad)}): its training diverged. "
            "Analyse an earlier checkpoint, or retrain with a lower --lr or --lam"
        )
    device = resolve_device(config.device)
    model = copy.deepcopy(model).to(device).eval()
    requested = config
    # every rank must cut the same chunks (their starts seed the draws and shard the work)
    chunk_size = min(distributed.all_gather(resolve_chunk_size(config.chunk_size, model, device)))
    config = dataclasses.replace(config, chunk_size=chunk_size)
    ref = np.asarray(X if reference is None else reference)
    if not np.isfinite(ref).all():
        raise DataError(
            "the reference data hold NaN or inf; remove or impute those rows before analysing"
        )
    indices = sample_points(X.shape[0], config.points, config.seed)
    k_true = None if tangents is None else tangents.shape[1]
    pilot_k = None
    if config.top_k is None and k_true is None:
        pilot_k = pilot_dimension(model, X, indices, config, rank, device)
    ctx = _context(model, config, len(indices), rank, k_true, ref, device, pilot_k)
    notes = [r for m in REGISTRY.values() if (r := m.skip_reason(ctx))]
    if pilot_k is not None:
        notes.append(
            f"tangents per point: {pilot_k}, the median local dimension ({config.dimension_method})"
            f" of the first {min(config.chunk_size, len(indices))} points; set --top-k to choose"
        )
    if requested.chunk_size is None and device.type == "cuda":
        notes.append(f"chunks of {config.chunk_size} points (from free GPU memory)")
    if not ctx.local_pca and k_true is not None:
        notes.append(
            f"local-PCA baseline skipped: it needs more than {max(ctx.k_compare, k_true)} "
            f"reference points, and there are {ctx.n_reference}"
        )
    metrics = [m(ctx) for m in REGISTRY.values() if m.skip_reason(ctx) is None]

    world = distributed.current()
    all_starts = range(0, len(indices), config.chunk_size)
    starts = [all_starts[i] for i in distributed.my_share(len(all_starts), world)]
    bar = Progress(starts, total=len(starts), desc="analyse", unit="chunk",
                   enabled=progress if world.is_main else False)  # fmt: skip
    for chunk in _chunks(ctx, X, indices, tangents, NeighbourIndex(ref, device), bar):
        for m in metrics:
            m.update(chunk)
    metrics = _merge_ranks(metrics, world)
    provenance = Provenance(__version__, model.config, requested, n_data=X.shape[0])
    return collect(metrics, ctx, indices, provenance, notes)


def _merge_ranks(metrics: list[Metric], world: distributed.World) -> list[Metric]:
    """Each rank saw its share of the chunks: merge everyone's accumulators, on every rank."""
    if world.size == 1:
        return metrics
    states = distributed.all_gather([m.state() for m in metrics], world)
    for i, m in enumerate(metrics):
        for rank, theirs in enumerate(states):
            if rank != world.rank:
                m.merge(m.from_state(theirs[i]))
    return metrics


def collect(
    metrics: list[Metric],
    ctx: Context,
    indices: np.ndarray,
    provenance: Provenance,
    notes: list[str] | tuple[str, ...] = (),
) -> AnalysisResult:
    """The result of accumulators that have seen (or merged) every chunk."""
    sections = {m.name: s for m in metrics if (s := m.result()) is not None}
    columns: dict[str, np.ndarray] = {"index": indices}
    arrays: dict[str, np.ndarray] = {"indices": indices[: ctx.n_store].copy()}
    for m in metrics:
        columns |= m.columns()
        arrays |= m.arrays()
    summary = AnalysisSummary(len(indices), provenance, sections, tuple(notes))
    return AnalysisResult(summary, indices, columns, arrays)
