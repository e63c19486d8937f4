"""Figures of an analysis: tangents, spectra, counts, contraction, saturation, angles.

This is the only module of the package that imports matplotlib. It never
touches pyplot's global state: figures are :class:`matplotlib.figure.Figure`
objects, so it works headless (Agg) and in threads.

Every ``plot_*`` function draws into an ``ax`` (or a ``fig`` for multi-panel
figures) and returns the artists it drew, so plots compose and can be
tested. Non-finite points are never drawn: low-level functions drop them and
raise ``ValueError`` when nothing finite is left. :func:`draw_all` loads
analysis directories (see :mod:`manifold_cae.report`) and writes every figure
that applies; one that can't be drawn is skipped with a one-line note.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from manifold_cae._io import atomic_write
from manifold_cae.errors import ConfigError, DataError
from manifold_cae.report import AnalysisDir, load_analysis

__all__ = [
    "FORMATS",
    "OKABE_ITO",
    "draw_all",
    "draw_sweep",
    "model_color",
    "plot_activation_histogram",
    "plot_angle_distributions",
    "plot_angle_overlay",
    "plot_contraction",
    "plot_count_histogram",
    "plot_sat_bars",
    "plot_spectrum",
    "plot_sweep",
    "plot_tangent_field",
    "plot_tangent_images",
    "plot_unit_saturation",
]

# Okabe & Ito (2008), distinguishable under the common colour-vision deficiencies;
# ordered so that the first models get the most contrasting pair (blue, vermillion).
OKABE_ITO = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#E69F00",  # orange
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow (last: weak on white)
)
FORMATS = ("png", "svg", "pdf")
TANGENT_CMAP = "RdBu_r"  # diverging, centred at 0 by symmetric limits
SCALAR_CMAP = "viridis"
TRUTH_COLOR = "#000000"
TANGENT_COLORS = ("#D55E00", "#CC79A7", "#E69F00", "#56B4E9", "#009E73")  # clear of viridis
_GREY = "0.45"
_RC = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 12,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",  # SVG text stays text: searchable and editable
}

DirLike = AnalysisDir | str | os.PathLike[str]


def model_color(i: int) -> str:
    """The colour of the i-th model in every overlay figure."""
    return OKABE_ITO[i % len(OKABE_ITO)]


def _as_dir(d: DirLike) -> AnalysisDir:
    return d if isinstance(d, AnalysisDir) else load_analysis(d)


def _finite_rows(*arrays: np.ndarray | None) -> np.ndarray:
    """(n,) bool: rows where every given array (n, ...) is finite."""
    arrays = tuple(a for a in arrays if a is not None)
    mask = np.ones(len(arrays[0]), dtype=bool)
    for a in arrays:
        mask &= np.isfinite(np.asarray(a, dtype=float).reshape(len(a), -1)).all(axis=1)
    return mask


def _check_pair(
    dirs: Sequence[DirLike], labels: Sequence[str], colors: Sequence[str] | None
) -> tuple[list[AnalysisDir], list[str]]:
    """The loaded directories and one colour per model (Okabe-Ito by position by default)."""
    if len(dirs) != len(labels):
        raise ValueError(f"got {len(dirs)} analysis directories but {len(labels)} labels")
    if not dirs:
        raise ValueError("no analysis directories to plot")
    if colors is not None and len(colors) != len(dirs):
        raise ValueError(f"got {len(colors)} colors for {len(dirs)} analysis directories")
    colors = list(colors) if colors is not None else [model_color(i) for i in range(len(dirs))]
    return [_as_dir(d) for d in dirs], colors


def _where(dirs: Sequence[AnalysisDir]) -> str:
    """Where the numbers come from, for a title: data set and split."""
    names = []
    for d in dirs:
        data = d.summary.get("provenance", {}).get("data", {})
        name = data.get("name") or data.get("spec") or "data"
        split = data.get("split")
        names.append(f"{name}, {split} points" if split else str(name))
    unique = list(dict.fromkeys(names))
    return unique[0] if len(unique) == 1 else "; ".join(unique)


def _floats(values: Any) -> np.ndarray:
    """A float array; None entries (JSON null) become NaN so they are masked out."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


# ------------------------------------------------------------------ tangents


def plot_tangent_images(
    fig: Figure,
    inputs: np.ndarray,
    tangents: np.ndarray,
    values: np.ndarray,
    image_shape: Sequence[int],
    *,
    pca_tangents: np.ndarray | None = None,
    k: int | None = None,
    point_ids: Sequence[int] | None = None,
) -> list[Artist]:
    """Input images with their leading tangents as images (Deep Learning book, Fig. 14.10).

    One row per point: the input, then its top-k encoder tangents, each titled
    with its singular value. With ``pca_tangents`` a matching row below shows
    the local-PCA tangents at the same point. Tangents use a diverging
    colormap centred at 0, each with its own symmetric limits.

    Args:
        fig: an empty figure; the grid of axes is created in it.
        inputs: (n_points, n_features), the points.
        tangents: (n_points, top_k, n_features), right singular vectors of J_f.
        values: (n_points, top_k), their singular values, descending.
        image_shape: (rows, cols) with rows * cols = n_features.
        pca_tangents: (n_points, k_pca, n_features), local-PCA tangents.
        k: tangents per row (default: all ``top_k``).
        point_ids: (n_points,), the points' positions in the data set, for titles.

    Returns:
        The AxesImages: rows x (1 + k) when k_pca >= k, rows = n_points (x 2 with PCA).
    """
    inputs, tangents, values = (np.asarray(a, dtype=float) for a in (inputs, tangents, values))
    rows_px, cols_px = (int(s) for s in image_shape)
    n, d = inputs.shape
    if rows_px * cols_px != d:
        raise ValueError(f"image_shape {tuple(image_shape)} does not match n_features={d}")
    if tangents.shape[0] != n or tangents.shape[2] != d or values.shape != tangents.shape[:2]:
        raise ValueError(
            f"need tangents (n_points, k, n_features) = ({n}, k, {d}) and values (n_points, k); "
            f"got {tangents.shape} and {values.shape}"
        )
    k = tangents.shape[1] if k is None else min(int(k), tangents.shape[1])
    if k < 1:
        raise ValueError(f"k must be >= 1; got {k}")
    pca = None if pca_tangents is None else np.asarray(pca_tangents, dtype=float)
    if pca is not None and (pca.shape[0] != n or pca.shape[2] != d):
        raise ValueError(f"pca_tangents must be ({n}, k_pca, {d}); got {pca.shape}")
    k_pca = 0 if pca is None else min(k, pca.shape[1])
    ids = list(range(n)) if point_ids is None else [int(i) for i in point_ids]
    keep = _finite_rows(inputs, tangents[:, :k], values[:, :k], None if pca is None else pca)
    if not keep.any():
        raise ValueError("no point has finite inputs, tangents and singular values")
    keep_idx = np.flatnonzero(keep)

    per_point = 1 if pca is None else 2
    # one subfigure per point, shaded alternately, so its encoder and PCA rows read as a pair
    groups = np.atleast_1d(fig.subfigures(len(keep_idx), 1, hspace=0.02))
    lo, hi = min(0.0, float(inputs[keep].min())), max(1.0, float(inputs[keep].max()))
    images: list[Artist] = []

    def show(ax: Axes, img: np.ndarray, title: str, **kw: Any) -> None:
        images.append(ax.imshow(img.reshape(rows_px, cols_px), interpolation="nearest", **kw))
        ax.set_title(title, fontsize=8, pad=2)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set(visible=True, linewidth=0.5, color="0.6")

    def show_tangent(ax: Axes, t: np.ndarray, title: str) -> None:
        v = float(np.abs(t).max()) or 1.0
        show(ax, t, title, cmap=TANGENT_CMAP, vmin=-v, vmax=v)

    for r, i in enumerate(keep_idx):
        groups[r].set_facecolor("0.94" if r % 2 else "white")
        grid = groups[r].subplots(per_point, 1 + k, squeeze=False)
        row = grid[0]
        show(row[0], inputs[i], f"x #{ids[i]}", cmap="gray_r", vmin=lo, vmax=hi)
        row[0].set_ylabel("encoder", fontsize=9)
        for j in range(k):
            show_tangent(row[1 + j], tangents[i, j], f"σ{j + 1}={values[i, j]:.3g}")
        if pca is not None:
            row = grid[1]
            show(row[0], inputs[i], f"x #{ids[i]}", cmap="gray_r", vmin=lo, vmax=hi)
            row[0].set_ylabel("local PCA", fontsize=9)
            for j in range(k_pca):
                show_tangent(row[1 + j], pca[i, j], f"PCA {j + 1}")
            for j in range(k_pca, k):
                row[1 + j].set_axis_off()
    fig.suptitle(
        "Leading tangents at each point (red +, blue −; each tangent on its own symmetric scale)"
    )
    return images


def _farthest_points(x: np.ndarray, m: int) -> np.ndarray:
    """Indices of m rows of x (n, d) spread evenly by farthest-point sampling (deterministic)."""
    if m >= len(x):
        return np.arange(len(x))
    chosen = [0]
    dist = np.linalg.norm(x - x[0], axis=1)
    for _ in range(m - 1):
        nxt = int(dist.argmax())
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(x - x[nxt], axis=1))
    return np.array(sorted(chosen))


def plot_tangent_field(
    ax: Axes,
    points: np.ndarray,
    tangents: np.ndarray,
    values: np.ndarray,
    *,
    color_by: np.ndarray | None = None,
    color_label: str = "",
    true_tangents: np.ndarray | None = None,
    n_arrows: int | None = None,
) -> list[Artist]:
    """Points with arrows along their leading tangents, length proportional to sigma.

    Draws in 2-D, or in 3-D when ``ax`` is a 3-D axes. Points of more dimensions
    than the axes are projected on the leading principal components of the
    points (tangents with the same linear map), and the title says so. Arrows
    are centred on their point (a tangent's sign is a convention) and share one
    scale, chosen so the typical arrow is ~12% of the data's extent.

    Args:
        ax: a 2-D axes, or a 3-D one (``projection="3d"``).
        points: (n_points, n_features).
        tangents: (n_points, k, n_features), the encoder's tangent directions.
        values: (n_points, k), their singular values.
        color_by: (n_points,), a scalar that colours the points (with a colorbar).
        color_label: the colorbar's label.
        true_tangents: (n_points, k_true, n_features), drawn thinner in black.
        n_arrows: draw arrows at this many points, spread evenly (default: all).

    Returns:
        [scatter, one quiver per tangent index, one quiver per true tangent index].
    """
    X, T, S = (np.asarray(a, dtype=float) for a in (points, tangents, values))
    n, d = X.shape
    if T.ndim != 3 or T.shape[0] != n or T.shape[2] != d or S.shape != T.shape[:2]:
        raise ValueError(
            f"need tangents (n_points, k, n_features) = ({n}, k, {d}) and values (n_points, k); "
            f"got {T.shape} and {S.shape}"
        )
    C = None if color_by is None else np.asarray(color_by, dtype=float)
    if C is not None and C.shape != (n,):
        raise ValueError(f"color_by must have shape ({n},); got {C.shape}")
    Tt = None if true_tangents is None else np.asarray(true_tangents, dtype=float)
    if Tt is not None and (Tt.ndim != 3 or Tt.shape[0] != n or Tt.shape[2] != d):
        raise ValueError(f"true_tangents must be ({n}, k_true, {d}); got {Tt.shape}")
    keep = _finite_rows(X, T, S, C, Tt)
    if not keep.any():
        raise ValueError("no point has finite coordinates, tangents and singular values")
    X, T, S = X[keep], T[keep], S[keep]
    C = None if C is None else C[keep]
    Tt = None if Tt is None else Tt[keep]

    dims = 3 if getattr(ax, "name", "") == "3d" else 2
    note = ""
    if d > dims:  # project on the points' leading principal directions
        mean = X.mean(axis=0)
        _, sv, vt = np.linalg.svd(X - mean, full_matrices=False)
        P = vt[:dims]  # (dims, d); sign: largest entry positive, so reruns agree
        P = P * np.where(P[np.arange(dims), np.abs(P).argmax(axis=1)] < 0, -1.0, 1.0)[:, None]
        explained = float((sv[:dims] ** 2).sum() / max((sv**2).sum(), 1e-300))
        X, T = (X - mean) @ P.T, T @ P.T
        Tt = None if Tt is None else Tt @ P.T
        note = (
            f"\n{d}-D points projected on their top {dims} PCs ({100 * explained:.0f}% of variance)"
        )
    elif d < dims:
        pad = [(0, 0)] * (X.ndim - 1) + [(0, dims - d)]
        X = np.pad(X, pad)
        T = np.pad(T, [(0, 0), *pad])
        Tt = None if Tt is None else np.pad(Tt, [(0, 0), *pad])

    extent = float(np.ptp(X, axis=0).max()) or 1.0
    at = _farthest_points(X, n_arrows) if n_arrows is not None else np.arange(len(X))
    s_ref = float(np.quantile(S[at, 0], 0.9)) if len(at) else 1.0
    scale = 0.12 * extent / (s_ref if s_ref > 0 else 1.0)

    drawn: list[Artist] = []
    scatter_kw: dict[str, Any] = {"s": 16, "alpha": 0.8, "linewidths": 0}
    if C is None:
        scatter_kw["color"] = "0.6"
    else:
        scatter_kw |= _scalar_colors(C)
    sc = ax.scatter(*X.T, **scatter_kw)
    sc.set_gid("points")
    drawn.append(sc)
    if C is not None:
        cb = ax.figure.colorbar(sc, ax=ax, shrink=0.6, pad=0.0 if dims == 3 else 0.03)
        cb.set_label(color_label or "colour scale")
        if "norm" in scatter_kw:
            cb.set_ticks(np.unique(C))

    def arrows(vec: np.ndarray, color: str, width: float, label: str, gid: str) -> Artist:
        base, vec = X[at], vec[at]
        if dims == 3:
            q = ax.quiver(
                *base.T,
                *vec.T,
                pivot="middle",
                arrow_length_ratio=0.25,
                color=color,
                linewidths=width,
                label=label,
            )
        else:
            q = ax.quiver(
                *base.T,
                *vec.T,
                angles="xy",
                scale_units="xy",
                scale=1,
                pivot="middle",
                color=color,
                width=0.0022 * width,
                headwidth=3,
                headlength=4,
                headaxislength=3.5,
                label=label,
            )
        q.set_gid(gid)
        drawn.append(q)
        return q

    for j in range(T.shape[1]):
        arrows(
            T[:, j] * (S[:, j, None] * scale),
            TANGENT_COLORS[j % len(TANGENT_COLORS)],
            2.0,
            f"tangent {j + 1} (length ∝ σ{j + 1})",
            f"tangent-{j + 1}",
        )
    if Tt is not None:
        unit = 0.12 * extent  # a true tangent drawn as long as a typical sigma_1 arrow
        for j in range(Tt.shape[1]):
            arrows(
                Tt[:, j] * unit,
                TRUTH_COLOR,
                0.8,
                "true tangents" if j == 0 else "_nolegend_",
                f"true-tangent-{j + 1}",
            )

    names = [f"PC {i + 1}" if note else f"x{i + 1}" for i in range(dims)]
    for axis in (ax.xaxis, ax.yaxis, *([ax.zaxis] if dims == 3 else [])):
        axis.set_major_locator(MaxNLocator(5))
    ax.set_xlabel(f"{names[0]} (data units)")
    ax.set_ylabel(f"{names[1]} (data units)")
    if dims == 3:
        ax.set_zlabel(f"{names[2]} (data units)")
        lo, hi = X.min(axis=0), X.max(axis=0)
        span = np.maximum(hi - lo, 0.05 * extent)
        mid = (lo + hi) / 2
        ax.set_xlim(mid[0] - span[0] / 2, mid[0] + span[0] / 2)
        ax.set_ylim(mid[1] - span[1] / 2, mid[1] + span[1] / 2)
        ax.set_zlim(mid[2] - span[2] / 2, mid[2] + span[2] / 2)
        ax.set_box_aspect(tuple(span))  # equal units on all axes: angles look right
    else:
        ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(
        f"Leading encoder tangents at {len(at)} of {len(X)} points "
        f"(σ=1 ↔ {scale:.2g} data units){note}"
    )
    # line proxies: the default legend handle of a 2-D quiver is a filled box
    handles = [
        Line2D(
            [],
            [],
            color=q.get_edgecolor()[0] if dims == 3 else q.get_facecolor()[0],
            lw=2.0 if q.get_gid().startswith("tangent") else 1.0,
            label=q.get_label(),
        )
        for q in drawn[1:]
        if not q.get_label().startswith("_")
    ]
    ax.legend(handles=handles, loc="upper left", fontsize=8, framealpha=0.85)
    return drawn


def _scalar_colors(c: np.ndarray) -> dict[str, Any]:
    """Scatter colour options: a discrete map for a few integer values (counts), else viridis."""
    vals = np.unique(c)
    if np.all(vals == np.round(vals)) and len(vals) <= 12 and np.ptp(vals) <= 12:
        lo, hi = int(vals.min()), int(vals.max())
        bounds = np.arange(lo, hi + 2) - 0.5
        base = matplotlib.colormaps[SCALAR_CMAP].resampled(max(hi - lo + 1, 2))
        cmap = ListedColormap(base(np.linspace(0, 1, max(hi - lo + 1, 2)))[: hi - lo + 1])
        return {"c": c, "cmap": cmap, "norm": BoundaryNorm(bounds, cmap.N)}
    return {"c": c, "cmap": SCALAR_CMAP}


# ------------------------------------------------------------- spectra, counts


def plot_spectrum(
    ax: Axes,
    summary_or_dir: dict[str, Any] | DirLike,
    *,
    label: str,
    color: str | None = None,
) -> list[Artist]:
    """Mean singular-value spectrum of J_f with its 10-90% band; call again to overlay.

    Args:
        ax: the axes (switched to a log y-axis).
        summary_or_dir: a summary dict (summary.json), an AnalysisDir, or its path.
        label: the legend entry.
        color: line colour (default: the next Okabe-Ito colour on this axes).

    Returns:
        [mean line, 10-90% band, threshold line (first call only)].
    """
    summary = (
        summary_or_dir if isinstance(summary_or_dir, dict) else _as_dir(summary_or_dir).summary
    )
    sv = summary.get("singular_values", {})
    if not sv.get("mean"):
        raise ValueError(
            "no full spectrum in this analysis (it kept only the top-k singular values); "
            "re-run 'manifold-cae analyze' with full spectra"
        )
    mean = _floats(sv["mean"])
    x = np.arange(1, len(mean) + 1)
    ok = np.isfinite(mean) & (mean > 0)  # a log axis can't show 0
    if not ok.any():
        raise ValueError("the mean spectrum has no finite positive value")
    n_before = sum(1 for line in ax.get_lines() if line.get_gid() == "spectrum")
    color = color or model_color(n_before)
    drawn: list[Artist] = []
    (line,) = ax.plot(
        x[ok],
        mean[ok],
        color=color,
        lw=2,
        label=label,
        marker="o" if len(mean) <= 30 else None,
        ms=4,
    )
    line.set_gid("spectrum")
    drawn.append(line)
    if sv.get("q10") and sv.get("q90"):
        q10, q90 = _floats(sv["q10"]), _floats(sv["q90"])
        band = np.isfinite(q10) & np.isfinite(q90) & (q10 > 0) & (q90 > 0)
        if band.any():
            poly = ax.fill_between(x[band], q10[band], q90[band], color=color, alpha=0.2, lw=0)
            poly.set_gid("spectrum-band")
            drawn.append(poly)
    if not any(line.get_gid() == "threshold" for line in ax.get_lines()):
        thr = float(summary.get("threshold", 1.0))
        hl = ax.axhline(thr, color=_GREY, ls="--", lw=1.2, label=f"σ = {thr:g} (threshold)")
        hl.set_gid("threshold")
        drawn.append(hl)
    ax.set_yscale("log")
    _plain_log_labels(ax)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("index i of the singular value (descending order)")
    ax.set_ylabel(r"$\sigma_i$ of $J_f(x)$  ($\Delta h$ per unit $\Delta x$)")
    ax.set_title("Mean singular-value spectrum of the encoder Jacobian (band: 10–90% of points)")
    lines = [ln for ln in ax.get_lines() if ln.get_gid() == "spectrum"]
    ax.legend(
        handles=lines + [ln for ln in ax.get_lines() if ln.get_gid() == "threshold"], loc="best"
    )
    return drawn


def _plain_log_labels(ax: Axes) -> None:
    """Tick labels such as 0.5 rather than 5x10^-1; minor ones labelled on a short range."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))

    def minor(v: float, _: int) -> str:
        lo, hi = ax.get_ylim()
        if v <= 0 or lo <= 0 or hi / lo > 20:
            return ""
        mantissa = round(v / 10 ** math.floor(math.log10(v) + 1e-9))
        return f"{v:g}" if mantissa in ((2, 3, 4, 5, 6, 8) if hi / lo < 4 else (2, 5)) else ""

    ax.yaxis.set_minor_formatter(FuncFormatter(minor))


def plot_count_histogram(
    ax: Axes,
    dirs: Sequence[DirLike],
    labels: Sequence[str],
    *,
    colors: Sequence[str] | None = None,
) -> list[Artist]:
    """Grouped bars: the fraction of points with each count of sigma > threshold, per model.

    Args:
        ax: the axes to draw in.
        dirs: analysis directories (AnalysisDir or paths), one per model.
        labels: the models' legend labels, one per directory.
        colors: one colour per model (default: Okabe-Ito in order).

    Returns:
        One BarContainer per model.
    """
    ds, colors = _check_pair(dirs, labels, colors)
    width = 0.8 / len(ds)
    drawn: list[Artist] = []
    thr = float(ds[0].summary.get("threshold", 1.0))
    capped = False
    last, top = 1, 0.0  # the largest count with points; the tallest bar
    for i, (d, label) in enumerate(zip(ds, labels, strict=True)):
        cnt = d.summary.get("count_above_threshold", {})
        hist = _floats(cnt.get("histogram") or [])
        counts = np.arange(len(hist))
        ok = np.isfinite(hist)
        if not ok.any() or hist[ok].sum() <= 0:
            raise ValueError(f"{label}: no count histogram in {d.path}")
        frac = 100 * hist[ok] / hist[ok].sum()
        last, top = max(last, int(counts[ok][frac > 0].max())), max(top, float(frac.max()))
        capped |= bool(cnt.get("capped_at_top_k"))
        mean = cnt.get("mean")
        legend = f"{label} (mean {mean:.2f})" if isinstance(mean, float | int) else label
        bars = ax.bar(
            counts[ok] + (i - (len(ds) - 1) / 2) * width,
            frac,
            width=width,
            color=colors[i],
            label=legend,
            edgecolor="white",
            linewidth=0.5,
        )
        drawn.append(bars)
    ax.set_xlim(-0.6, last + 0.6)  # at least 0 and 1, so a lone bar at 0 reads as a count
    ax.set_ylim(0, 1.25 * top)  # headroom for the legend, but no tick past 100%
    ax.set_yticks(
        [
            t
            for t in MaxNLocator(6, steps=[1, 2, 2.5, 5, 10]).tick_values(0, top)
            if t <= min(100, 1.25 * top)
        ]
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_xlabel(
        f"number of singular values σ > {thr:g} at a point"
        + (" (counted among the top-k only)" if capped else "")
    )
    ax.set_ylabel("points (%)")
    ax.set_title(f"Expanding directions per point (σ > {thr:g})")
    ax.legend()
    return drawn


def plot_contraction(
    ax: Axes,
    dirs: Sequence[DirLike],
    labels: Sequence[str],
    *,
    show_std: bool = True,
    colors: Sequence[str] | None = None,
) -> list[Artist]:
    """Contraction ratio against the perturbation radius, one line per model (Rifai et al. 2011).

    Each model's r -> 0 limit (from the Jacobian) is a marker at the left; a
    dashed vertical line marks the largest pairwise distance in the data.

    Args:
        ax: the axes to draw in.
        dirs: analysis directories (AnalysisDir or paths), one per model.
        labels: the models' legend labels, one per directory.
        colors: one colour per model (default: Okabe-Ito in order).
        show_std: shade +-1 standard deviation (over x0) around each curve.

    Returns:
        Per model [curve, ±1 std band, r->0 marker], then the max-distance line(s).
    """
    ds, colors = _check_pair(dirs, labels, colors)
    curves = []
    for d, label in zip(ds, labels, strict=True):
        c = d.summary.get("contraction_curve") or {}
        r, m = _floats(c.get("radii") or []), _floats(c.get("ratios") or [])
        sd = _floats(c.get("ratios_std") or [np.nan] * len(r))
        if len(r) != len(m) or len(sd) != len(r):
            raise ValueError(f"{label}: contraction curve arrays differ in length in {d.path}")
        ok = np.isfinite(r) & np.isfinite(m) & (r > 0)
        if not ok.any():
            raise ValueError(f"{label}: no finite contraction curve in {d.path}")
        curves.append((r[ok], m[ok], sd[ok], c.get("local_ratio"), c.get("max_distance")))
    r_left = min(float(c[0].min()) for c in curves) / 2
    drawn: list[Artist] = []
    for i, ((r, m, sd, local, _), label) in enumerate(zip(curves, labels, strict=True)):
        color = colors[i]
        (line,) = ax.plot(r, m, color=color, lw=2, label=label)
        line.set_gid("contraction-curve")
        drawn.append(line)
        band = np.isfinite(sd)
        if show_std and band.any():
            poly = ax.fill_between(
                r[band],
                np.maximum(m[band] - sd[band], 0),
                m[band] + sd[band],
                color=color,
                alpha=0.18,
                lw=0,
            )
            poly.set_gid("contraction-band")
            drawn.append(poly)
        if isinstance(local, float | int) and math.isfinite(local):
            (mk,) = ax.plot([r_left], [local], marker="D", ms=7, color=color, ls="none")
            mk.set_gid("local-ratio")
            drawn.append(mk)
    dmax = sorted(
        {
            round(float(c[4]), 6)
            for c in curves
            if isinstance(c[4], float | int) and math.isfinite(c[4])
        }
    )
    for j, v in enumerate(dmax):
        vl = ax.axvline(
            v,
            color=_GREY if len(dmax) == 1 else colors[j],
            ls="--",
            lw=1.2,
            label=f"largest pairwise distance ({v:.3g})",
        )
        vl.set_gid("max-distance")
        drawn.append(vl)
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("radius r = ‖x₁ − x₀‖ (input units)")
    ax.set_ylabel("contraction ratio ‖f(x₁) − f(x₀)‖ / r")
    ax.set_title("Contraction ratio vs perturbation radius (band: ±1 std over x₀)")
    handles: list[Artist] = [a for a in drawn if a.get_gid() == "contraction-curve"]
    if any(a.get_gid() == "local-ratio" for a in drawn):
        handles.append(
            Line2D(
                [],
                [],
                marker="D",
                ms=7,
                color=_GREY,
                ls="none",
                label="r → 0 limit, from J_f (left)",
            )
        )
    handles += [a for a in drawn if a.get_gid() == "max-distance"]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    return drawn


# ---------------------------------------------------------------- saturation


def _sat_limits(d: AnalysisDir) -> tuple[float, float, str]:
    """(low, high, rule): the thresholds and, in words, when a unit counts as saturated."""
    sat = d.summary.get("saturation", {})
    low, high = sat.get("low"), sat.get("high")
    low, high = (0.05 if low is None else float(low)), (0.95 if high is None else float(high))
    act = d.summary.get("provenance", {}).get("model", {}).get("activation", "sigmoid")
    if act in ("relu", "softplus"):  # one-sided: only a flat slope counts (analysis.saturation)
        return low, high, f"u < {low:g}"
    return low, high, f"u < {low:g} or u > {high:g}"


def plot_activation_histogram(
    ax: Axes,
    dirs: Sequence[DirLike],
    labels: Sequence[str],
    *,
    colors: Sequence[str] | None = None,
) -> list[Artist]:
    """Distribution of hidden activations on [0, 1] per model, saturated regions shaded.

    Args:
        ax: the axes to draw in.
        dirs: analysis directories (AnalysisDir or paths), one per model.
        labels: the models' legend labels, one per directory.
        colors: one colour per model (default: Okabe-Ito in order).

    Returns:
        [shaded region(s), one step outline per model].
    """
    ds, colors = _check_pair(dirs, labels, colors)
    low, high, rule = _sat_limits(ds[0])
    drawn: list[Artist] = [ax.axvspan(0, low, color="0.85", lw=0, label=f"saturated ({rule})")]
    if "u >" in rule:
        drawn.append(ax.axvspan(high, 1, color="0.85", lw=0))
    for i, (d, label) in enumerate(zip(ds, labels, strict=True)):
        h = d.summary.get("saturation", {}).get("activation_histogram") or {}
        counts, edges = _floats(h.get("counts") or []), _floats(h.get("edges") or [])
        if len(edges) != len(counts) + 1 or not np.isfinite(edges).all() or len(counts) == 0:
            raise ValueError(f"{label}: no activation histogram in {d.path}")
        counts = np.where(np.isfinite(counts), counts, 0)
        if counts.sum() <= 0:
            raise ValueError(f"{label}: the activation histogram is empty in {d.path}")
        pct = 100 * counts / counts.sum()
        st = ax.stairs(pct, edges, color=colors[i], lw=2, label=label)
        st.set_gid("activation-hist")
        drawn.append(st)
    ax.set_xlim(0, 1)
    top = max(float(np.max(a.get_data().values)) for a in drawn if a.get_gid() == "activation-hist")
    ax.set_ylim(0, 1.35 * top)  # headroom so the legend clears the curves
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=1))
    ax.set_xlabel("hidden activation u on [0, 1] (sigmoid: u = h; tanh: (h+1)/2; relu: slope)")
    ax.set_ylabel(f"activations per bin of width {edges[1] - edges[0]:.2g} (%)")
    ax.set_title("Hidden-unit activations")
    ax.legend(loc="upper right")
    return drawn


def plot_unit_saturation(ax: Axes, d: DirLike, label: str) -> list[Artist]:
    """Per-unit saturation rate, units sorted from most to least saturated.

    Args:
        ax: the axes to draw in.
        d: an analysis directory (AnalysisDir or path).
        label: the model's name, for the title.

    Returns:
        [BarContainer, mean (SAT) line].
    """
    d = _as_dir(d)
    sat = d.summary.get("saturation", {})
    per_unit = _floats(sat.get("per_unit") or [])
    per_unit = 100 * np.sort(per_unit[np.isfinite(per_unit)])[::-1]
    if len(per_unit) == 0:
        raise ValueError(f"{label}: no per-unit saturation in {d.path}")
    _, _, rule = _sat_limits(d)
    bars = ax.bar(
        np.arange(1, len(per_unit) + 1),
        per_unit,
        width=1.0,
        color=model_color(0),
        edgecolor="none",
        label="units, sorted",
    )
    mean = float(per_unit.mean())
    hl = ax.axhline(mean, color=model_color(1), ls="--", lw=1.5, label=f"mean = SAT = {mean:.1f}%")
    hl.set_gid("sat-mean")
    ax.set_xlim(0.5, len(per_unit) + 0.5)
    ax.set_ylim(0, 105)
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_xlabel("hidden unit, sorted by saturation rate")
    ax.set_ylabel(f"points where the unit is saturated\n({rule})")
    ax.set_title(f"{label}: saturation rate per hidden unit ({_where([d])})")
    if per_unit.max() == 0:
        ax.text(
            0.5,
            0.5,
            "no unit is saturated at any point",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color=_GREY,
        )
    ax.legend(handles=[bars, hl], loc="upper right")
    return [bars, hl]


def plot_sat_bars(
    ax: Axes,
    dirs: Sequence[DirLike],
    labels: Sequence[str],
    *,
    colors: Sequence[str] | None = None,
) -> list[Artist]:
    """SAT (the mean fraction of saturated units) per model, the value written on each bar.

    Args:
        ax: the axes to draw in.
        dirs: analysis directories (AnalysisDir or paths), one per model.
        labels: the models' legend labels, one per directory.
        colors: one colour per model (default: Okabe-Ito in order).

    Returns:
        [BarContainer, one Text per bar].
    """
    ds, colors = _check_pair(dirs, labels, colors)
    vals = []
    for d, label in zip(ds, labels, strict=True):
        v = d.summary.get("saturation", {}).get("mean_fraction")
        if not isinstance(v, float | int) or not math.isfinite(v):
            raise ValueError(f"{label}: no saturation fraction in {d.path}")
        vals.append(100 * float(v))
    x = np.arange(len(ds))
    bars = ax.bar(x, vals, color=list(colors), width=0.6)
    texts = ax.bar_label(bars, labels=[f"{v:.1f}%" for v in vals], padding=3)
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 110)
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_ylabel(f"saturated hidden units, SAT\n({_sat_limits(ds[0])[2]}, mean over points)")
    ax.set_xlabel("model")
    ax.set_title("Saturation (SAT) per model")
    return [bars, *texts]


# -------------------------------------------------------------------- angles


def plot_angle_distributions(ax: Axes, d: DirLike, label: str) -> list[Artist]:
    """Per-point angle to the true tangent space: the encoder's tangents vs local PCA.

    The angle is the largest principal angle between the k-dimensional subspaces.

    Args:
        ax: the axes to draw in.
        d: an analysis directory (AnalysisDir or path) of data with true tangents.
        label: the model's name, for the legend and title.

    Returns:
        [encoder histogram, PCA histogram, encoder median line, PCA median line].
    """
    d = _as_dir(d)
    cols = ("angle_cae_deg", "angle_local_pca_deg")
    if any(c not in d.points for c in cols):
        raise ValueError(f"{label}: no angles to true tangents in {d.path} (the data has no truth)")
    k = d.summary.get("tangent_angles_deg", {}).get("k")
    nbr = d.summary.get("provenance", {}).get("analysis", {}).get("pca_neighbors")
    names = (f"{label} encoder tangents", "local PCA" + (f", {nbr} neighbours" if nbr else ""))
    edges = np.linspace(0, 90, 37)
    drawn: list[Artist] = []
    medians = []
    for i, (col, name) in enumerate(zip(cols, names, strict=True)):
        a = d.points[col]
        a = a[np.isfinite(a)]
        if len(a) == 0:
            raise ValueError(f"{label}: column {col} has no finite value in {d.path}")
        pct = 100 * np.histogram(np.clip(a, 0, 90), bins=edges)[0] / len(a)
        med = float(np.median(a))
        medians.append((med, i))
        st = ax.stairs(
            pct, edges, color=model_color(i), lw=2, fill=False, label=f"{name} (median {med:.1f}°)"
        )
        ax.stairs(pct, edges, color=model_color(i), alpha=0.15, fill=True)
        st.set_gid("angle-hist")
        drawn.append(st)
    for med, i in medians:
        vl = ax.axvline(med, color=model_color(i), ls="--", lw=1.2)
        vl.set_gid("angle-median")
        drawn.append(vl)
    ax.set_xlim(0, 90)
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_xlabel("largest principal angle to the true tangent space (degrees)")
    ax.set_ylabel("points per 2.5° bin (%)")
    ax.set_title(f"{label}: tangent error, k = {k} ({_where([d])})")
    ax.legend()
    return drawn


def plot_angle_overlay(
    ax: Axes,
    dirs: Sequence[DirLike],
    labels: Sequence[str],
    *,
    colors: Sequence[str] | None = None,
) -> list[Artist]:
    """Per-point tangent error of several models on one axes, local PCA as the reference.

    Args:
        ax: the axes to draw in.
        dirs: analysis directories of the same data with true tangents, one per model.
        labels: the models' legend labels.
        colors: one colour per model (default: Okabe-Ito in order).

    Returns:
        One step histogram per model, then the local-PCA one (grey, dashed).
    """
    ds, colors = _check_pair(dirs, labels, colors)
    edges = np.linspace(0, 90, 37)
    drawn: list[Artist] = []

    def hist(a: np.ndarray, **kw: Any) -> Artist:
        a = a[np.isfinite(a)]
        pct = 100 * np.histogram(np.clip(a, 0, 90), bins=edges)[0] / len(a)
        return ax.stairs(pct, edges, fill=False, lw=2, **kw)

    for d, label, color in zip(ds, labels, colors, strict=True):
        a = d.points.get("angle_cae_deg")
        if a is None or not np.isfinite(a).any():
            raise ValueError(
                f"{label}: no angles to true tangents in {d.path} (the data has no truth)"
            )
        drawn.append(hist(a, color=color, label=f"{label} (median {np.nanmedian(a):.1f}°)"))
    ref = ds[0].points["angle_local_pca_deg"]
    drawn.append(
        hist(ref, color=_GREY, ls="--", label=f"local PCA (median {np.nanmedian(ref):.1f}°)")
    )
    ax.set_xlim(0, 90)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_xlabel("largest principal angle to the true tangent space (degrees)")
    ax.set_ylabel("points per 2.5° bin (%)")
    ax.set_title("Tangent error per point, encoder tangents vs local PCA")
    ax.legend()
    return drawn


# ---------------------------------------------------------------- draw_all


class _Skip(Exception):
    """A figure that can't be drawn from what the directory holds."""


def _image_shape(d: AnalysisDir) -> tuple[int, int] | None:
    prov = d.summary.get("provenance", {})
    if "image_shape" in prov:  # written by analyze_run: None means "not images"
        shape = prov["image_shape"]
        return None if not shape else (int(shape[0]), int(shape[1]))
    inputs = d.spectra.get("inputs")
    d_x = None if inputs is None else inputs.shape[1]
    if d_x is None:
        d_x = prov.get("model", {}).get("n_features")
    if d_x and d_x >= 16 and math.isqrt(d_x) ** 2 == d_x:
        return (math.isqrt(d_x), math.isqrt(d_x))
    return None


def _n_features(d: AnalysisDir) -> int | None:
    inputs = d.spectra.get("inputs")
    if inputs is not None:
        return int(inputs.shape[1])
    n = d.summary.get("provenance", {}).get("model", {}).get("n_features")
    return None if n is None else int(n)


def _need(d: AnalysisDir, *keys: str) -> list[np.ndarray]:
    missing = [k for k in keys if k not in d.spectra]
    if missing:
        raise _Skip(f"spectra.npz lacks {', '.join(missing)}")
    return [d.spectra[k] for k in keys]


def _safe_stems(labels: Sequence[str]) -> list[str]:
    """File-name-safe, unique stems for the labels."""
    stems: list[str] = []
    for label in labels:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._") or "model"
        stem, n = base, 2
        while stem in stems:
            stem, n = f"{base}_{n}", n + 1
        stems.append(stem)
    return stems


def _points_to_draw(
    image_dirs: list[tuple[AnalysisDir, str]], indices: Sequence[int] | None, seed: int
) -> list[int]:
    """Data-set positions whose tangent images are drawn (validated against every dir)."""
    if indices is not None:
        want = [int(i) for i in indices]
        if not want:
            raise DataError("indices is empty; give at least one data-set position")
        for d, label in image_dirs:
            stored = d.spectra["indices"]
            missing = sorted(set(want) - {int(i) for i in stored})
            if missing:
                sample = ", ".join(str(int(i)) for i in np.sort(stored)[:12])
                raise DataError(
                    f"indices {missing} are not among the {len(stored)} points stored in "
                    f"{d.path / 'spectra.npz'} ({label}); stored ones include {sample}, ...; "
                    "choose from those or re-analyse with a larger store_points"
                )
        return want
    common = set.intersection(*({int(i) for i in d.spectra["indices"]} for d, _ in image_dirs))
    pool = np.array(sorted(common)) if common else np.sort(image_dirs[0][0].spectra["indices"])
    rng = np.random.default_rng(seed)
    return [int(i) for i in np.sort(rng.choice(pool, size=min(4, len(pool)), replace=False))]


def draw_all(
    analysis_dirs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    fmt: str = "png",
    dpi: int = 120,
    indices: Sequence[int] | None = None,
    labels: Sequence[str] | None = None,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Draw every figure that applies to the analysis directories and write it into ``out_dir``.

    Per directory: ``tangents_images_<label>`` (image data), ``tangent_field_<label>``
    (d_x <= 3, or PCA-projected non-image data), ``angles_<label>`` (true tangents
    known), ``unit_saturation_<label>``. Across directories: ``spectrum``,
    ``count_histogram``, ``contraction``, ``saturation`` and, with several
    directories of data with true tangents, ``angles``. A figure whose data
    are missing is skipped with a one-line note through ``log``.

    Args:
        analysis_dirs: directories written by ``manifold-cae analyze``.
        out_dir: where the figures go (created if needed; files written atomically).
        fmt: png, svg or pdf.
        dpi: resolution of raster output.
        indices: data-set positions for the tangent images; each must be among the
            points stored in spectra.npz (default: a seeded sample of 4 stored points).
        labels: one per directory (default: each directory's label).
        seed: seeds the choice of points for the tangent images.
        log: receives the one-line notes.

    Returns:
        The paths written, in drawing order.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"fmt must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if not isinstance(dpi, int) or dpi < 10:
        raise ConfigError(f"dpi must be an integer >= 10; got {dpi!r}")
    if not analysis_dirs:
        raise ConfigError("no analysis directories given")
    dirs = [load_analysis(p) for p in analysis_dirs]
    if labels is None:
        labels = [d.label for d in dirs]
    elif len(labels) != len(dirs):
        raise ConfigError(
            f"got {len(labels)} labels for {len(dirs)} analysis directories; give one per directory"
        )
    labels = [str(s) for s in labels]
    stems = _safe_stems(labels)

    image_dirs = [
        (d, lab)
        for d, lab in zip(dirs, labels, strict=True)
        if _image_shape(d) is not None and {"indices", "inputs", "tangents"} <= d.spectra.keys()
    ]
    chosen = _points_to_draw(image_dirs, indices, seed) if image_dirs else []
    if indices is not None and not image_dirs:
        log("note: indices given but no directory holds stored image data; they are unused")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    written: list[Path] = []

    def emit(name: str, figsize: tuple[float, float], draw: Callable[[Figure], None]) -> None:
        fig = Figure(figsize=figsize, layout="constrained")
        try:
            draw(fig)
        except (_Skip, ValueError) as e:
            log(f"skipped {name}: {e}")
            return
        path = out / f"{name}.{fmt}"
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi))
        written.append(path)

    with matplotlib.rc_context(_RC):
        for d, label, stem in zip(dirs, labels, stems, strict=True):
            shape = _image_shape(d)
            if shape is not None:
                k = min(10, d.spectra["tangents"].shape[1]) if "tangents" in d.spectra else 1
                n_rows = 2 * len(chosen) if "pca_tangents" in d.spectra else len(chosen)
                emit(
                    f"tangents_images_{stem}",
                    (0.95 * (1 + k) + 0.3, 1.05 * n_rows + 0.9),
                    lambda fig, d=d, label=label, s=shape: _draw_images(fig, d, label, s, chosen),
                )
            else:
                d_x = _n_features(d) or 0
                emit(
                    f"tangent_field_{stem}",
                    (8, 6.8) if d_x >= 3 else (7.5, 6.5),
                    lambda fig, d=d, label=label: _draw_field(fig, d, label),
                )
            if shape is not None and "inputs" in d.spectra:
                log(f"note: no tangent field for {label}: image data (see tangents_images_{stem})")
            emit(
                f"angles_{stem}",
                (7.5, 4.6),
                lambda fig, d=d, label=label: _one(plot_angle_distributions, fig, d, label),
            )
            emit(
                f"unit_saturation_{stem}",
                (7.5, 4.6),
                lambda fig, d=d, label=label: _one(plot_unit_saturation, fig, d, label),
            )

        emit("spectrum", (7.5, 5.2), lambda fig: _draw_spectra(fig, dirs, labels, log))
        emit(
            "count_histogram",
            (7.5, 4.6),
            lambda fig: _overlay(plot_count_histogram, fig, dirs, labels, "count_histogram", log),
        )
        emit(
            "contraction",
            (8, 5.2),
            lambda fig: _overlay(plot_contraction, fig, dirs, labels, "contraction", log),
        )
        emit("saturation", (13, 4.8), lambda fig: _draw_saturation(fig, dirs, labels, log))
        if len(dirs) > 1:
            emit(
                "angles",
                (8, 5.2),
                lambda fig: _overlay(plot_angle_overlay, fig, dirs, labels, "angles", log),
            )
    return written


def _one(fn: Callable[..., list[Artist]], fig: Figure, d: AnalysisDir, label: str) -> None:
    fn(fig.add_subplot(), d, label)


def _drawable(
    fns: Sequence[Callable[..., list[Artist]]],
    dirs: list[AnalysisDir],
    labels: list[str],
    what: str,
    log: Callable[[str], None],
) -> tuple[list[AnalysisDir], list[str], list[str]]:
    """The directories each of ``fns`` can draw alone, with their colours; notes the rest."""
    keep: list[int] = []
    reasons: list[str] = []
    for i, (d, label) in enumerate(zip(dirs, labels, strict=True)):
        try:
            for fn in fns:  # a throwaway figure: the plot function is the judge of its inputs
                fn(Figure().add_subplot(), [d], [label])
            keep.append(i)
        except ValueError as e:
            reasons.append(str(e))
    if not keep:
        raise _Skip("; ".join(reasons))
    for r in reasons:
        log(f"note: {what}: left out {r}")
    colors = [model_color(i) for i in keep]
    return [dirs[i] for i in keep], [labels[i] for i in keep], colors


def _overlay(
    fn: Callable[..., list[Artist]],
    fig: Figure,
    dirs: list[AnalysisDir],
    labels: list[str],
    what: str,
    log: Callable[[str], None],
) -> None:
    ds, labs, colors = _drawable([fn], dirs, labels, what, log)
    ax = fig.add_subplot()
    fn(ax, ds, labs, colors=colors)
    ax.set_title(f"{ax.get_title()}\n{_where(ds)}")


def _draw_images(
    fig: Figure, d: AnalysisDir, label: str, shape: tuple[int, int], chosen: list[int]
) -> None:
    idx, inputs, tangents = _need(d, "indices", "inputs", "tangents")
    if "top_values" in d.spectra:
        values = d.spectra["top_values"]
    elif "singular_values" in d.spectra:
        values = d.spectra["singular_values"][:, : tangents.shape[1]]
    else:
        raise _Skip("spectra.npz lacks top_values and singular_values")
    pos = {int(v): i for i, v in enumerate(idx)}
    rows = np.array([pos[i] for i in chosen if i in pos])
    if len(rows) == 0:
        raise _Skip(f"none of the points {chosen} is stored in {d.path / 'spectra.npz'}")
    pca = d.spectra.get("pca_tangents")
    plot_tangent_images(
        fig,
        inputs[rows],
        tangents[rows],
        values[rows],
        shape,
        pca_tangents=None if pca is None else pca[rows],
        k=min(10, tangents.shape[1]),
        point_ids=idx[rows],
    )
    fig.suptitle(
        f"{label}: leading tangents of $J_f$ (σ above each) vs local PCA — {_where([d])}\n"
        "red +, blue −, each tangent on its own symmetric scale"
    )


def _draw_field(fig: Figure, d: AnalysisDir, label: str) -> None:
    idx, inputs, tangents, values = _need(d, "indices", "inputs", "tangents", "top_values")
    d_x = inputs.shape[1]
    ax = fig.add_subplot(projection="3d" if d_x >= 3 else None)
    color, color_label = None, ""
    if d.points and "index" in d.points:
        row = {int(v): i for i, v in enumerate(d.points["index"])}
        take = np.array([row.get(int(i), -1) for i in idx])
        thr = d.summary.get("threshold", 1.0)
        for col, name in (
            ("count_above_threshold", f"count of σ > {thr:g}"),
            ("frobenius_norm", r"$\|J_f(x)\|_F$"),
        ):
            if col in d.points and (take >= 0).all():
                c = d.points[col][take]
                fin = c[np.isfinite(c)]
                if len(fin) and np.ptp(fin) > 0:  # a constant colour says nothing
                    color, color_label = c, name
                    break
    true = d.spectra.get("true_tangents")
    k = true.shape[1] if true is not None else min(3, tangents.shape[1])  # arrows stay legible
    tangents, values = tangents[:, :k], values[:, :k]
    plot_tangent_field(
        ax,
        inputs,
        tangents,
        values,
        color_by=color,
        color_label=color_label,
        true_tangents=true,
        n_arrows=min(40, len(inputs)),
    )
    if d_x >= 3:
        ax.view_init(elev=18, azim=-75)
    ax.set_title(f"{label} — {_where([d])}\n{ax.get_title()}", fontsize=10)


def _draw_spectra(
    fig: Figure, dirs: list[AnalysisDir], labels: list[str], log: Callable[[str], None]
) -> None:
    ax = fig.add_subplot()
    left_out = []
    for i, (d, label) in enumerate(zip(dirs, labels, strict=True)):
        try:
            plot_spectrum(ax, d.summary, label=label, color=model_color(i))
        except ValueError as e:
            left_out.append((label, e))
    if len(left_out) == len(dirs):
        raise _Skip("; ".join(f"{label}: {e}" for label, e in left_out))
    for label, e in left_out:
        log(f"note: spectrum of {label} left out: {e}")
    ax.set_title(f"{ax.get_title()}\n{_where(dirs)}")


def _draw_saturation(
    fig: Figure, dirs: list[AnalysisDir], labels: list[str], log: Callable[[str], None]
) -> None:
    fns = (plot_activation_histogram, plot_sat_bars)
    ds, labs, colors = _drawable(fns, dirs, labels, "saturation", log)
    ax_hist, ax_bars = fig.subplots(1, 2, width_ratios=(2, 1))
    plot_activation_histogram(ax_hist, ds, labs, colors=colors)
    plot_sat_bars(ax_bars, ds, labs, colors=colors)
    fig.suptitle(f"Saturation of hidden units — {_where(ds)}")


_SWEEP_METRICS = (
    ("count_mean", "mean count of σ > threshold"),
    ("sat_percent", "SAT (%)"),
    ("angle_mean", "tangent angle (degrees)"),
)


def plot_sweep(ax: Axes, rows: Sequence[dict[str, Any]], metric: str, ylabel: str) -> list[Artist]:
    """One metric of a comparison against its swept parameter, one line per model.

    Args:
        ax: where to draw.
        rows: per-run rows of ``comparison.json`` (keys model, sweep, value, seed, metric).
        metric: which row field to plot; mean ± std over seeds at each value.
        ylabel: the y-axis label.

    Returns:
        one ErrorbarContainer per swept model.
    """
    drawn: list[Artist] = []
    swept = [r for r in rows if r.get("sweep") and r.get(metric) is not None]
    models = list(dict.fromkeys(r["model"] for r in swept))
    for i, model in enumerate(models):
        mine = [r for r in swept if r["model"] == model and math.isfinite(float(r[metric]))]
        values = sorted({float(r["value"]) for r in mine})
        if not values:
            continue
        ys = [[float(r[metric]) for r in mine if float(r["value"]) == v] for v in values]
        param = mine[0]["sweep"]
        drawn.append(
            ax.errorbar(
                values, [np.mean(y) for y in ys], yerr=[np.std(y) for y in ys],
                marker="o", capsize=3, color=model_color(i),
                label=f"{model} (vs {'λ' if param == 'lam' else 'noise'})",
            )
        )  # fmt: skip
    if not drawn:
        raise ValueError(f"no swept runs with {metric}")
    ax.set_xscale("log")
    ax.set_xlabel("swept value: λ (contractive weight) or DAE noise level")
    ax.set_ylabel(ylabel)
    ax.legend()
    return drawn


def draw_sweep(
    rows: Sequence[dict[str, Any]], out_dir: str | os.PathLike[str], *, fmt: str = "png",
    dpi: int = 120,
) -> Path:  # fmt: skip
    """``sweep.<fmt>``: count of σ > 1, SAT and tangent angle against λ (or noise)."""
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(14, 4.4), layout="constrained")
        axes = fig.subplots(1, len(_SWEEP_METRICS))
        for ax, (metric, ylabel) in zip(axes, _SWEEP_METRICS, strict=True):
            try:
                plot_sweep(ax, rows, metric, ylabel)
            except ValueError as e:
                ax.set_axis_off()
                ax.text(0.5, 0.5, str(e), ha="center", va="center", transform=ax.transAxes)
        fig.suptitle("Sweep: mean ± std over seeds")
        path = Path(out_dir) / f"sweep.{fmt}"
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi))
    return path
