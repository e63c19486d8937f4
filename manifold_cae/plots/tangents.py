"""Tangents: encoder tangents as images, and as arrows on the points (the tangent field)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import matplotlib
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from manifold_cae.plots.style import (
    SCALAR_CMAP,
    TANGENT_CMAP,
    TANGENT_COLORS,
    TRUTH_COLOR,
    finite_rows,
)

ARROW_FRACTION = 0.12  # a typical sigma_1 arrow spans this fraction of the data's extent

# ------------------------------------------------------------------ images


def _show(ax: Axes, img: np.ndarray, shape: tuple[int, int], title: str, **kw: Any) -> Artist:
    image = ax.imshow(img.reshape(shape), interpolation="nearest", **kw)
    ax.set_title(title, fontsize=8, pad=2)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set(visible=True, linewidth=0.5, color="0.6")
    return image


def _show_tangent(ax: Axes, t: np.ndarray, shape: tuple[int, int], title: str) -> Artist:
    v = float(np.abs(t).max()) or 1.0
    return _show(ax, t, shape, title, cmap=TANGENT_CMAP, vmin=-v, vmax=v)


def _check_image_inputs(
    inputs: np.ndarray,
    tangents: np.ndarray,
    values: np.ndarray,
    shape: tuple[int, int],
    pca: np.ndarray | None,
    true: np.ndarray | None,
) -> None:
    n, d = inputs.shape
    if shape[0] * shape[1] != d:
        raise ValueError(f"image_shape {shape} does not match n_features={d}")
    if tangents.shape[0] != n or tangents.shape[2] != d or values.shape != tangents.shape[:2]:
        raise ValueError(
            f"need tangents (n_points, k, n_features) = ({n}, k, {d}) and values (n_points, k); "
            f"got {tangents.shape} and {values.shape}"
        )
    if pca is not None and (pca.shape[0] != n or pca.shape[2] != d):
        raise ValueError(f"pca_tangents must be ({n}, k_pca, {d}); got {pca.shape}")
    if true is not None and (true.ndim != 3 or true.shape[0] != n or true.shape[2] != d):
        raise ValueError(f"true_tangents must be ({n}, n_kinds, {d}); got {true.shape}")


def plot_tangent_images(
    fig: Figure,
    inputs: np.ndarray,
    tangents: np.ndarray,
    values: np.ndarray,
    image_shape: Sequence[int],
    *,
    pca_tangents: np.ndarray | None = None,
    true_tangents: np.ndarray | None = None,
    true_titles: Sequence[Sequence[str]] | None = None,
    k: int | None = None,
    point_ids: Sequence[int] | None = None,
) -> list[Artist]:
    """Input images with their leading tangents as images (Deep Learning book, Fig. 14.10).

    One row per point: the input, then its top-k encoder tangents, each titled
    with its singular value. With ``pca_tangents`` a matching row below shows
    the local-PCA tangents at the same point, and with ``true_tangents`` a row
    of the true tangents of known transformations (rotation, shifts, ...), to
    compare the learned tangents with. Tangents use a diverging colormap
    centred at 0, each with its own symmetric limits.

    Args:
        fig: an empty figure; the grid of axes is created in it.
        inputs: (n_points, n_features), the points.
        tangents: (n_points, top_k, n_features), right singular vectors of J_f.
        values: (n_points, top_k), their singular values, descending.
        image_shape: (rows, cols) with rows * cols = n_features.
        pca_tangents: (n_points, k_pca, n_features), local-PCA tangents.
        true_tangents: (n_points, n_kinds, n_features), tangents of known transformations.
        true_titles: (n_points, n_kinds) their titles (default: "true 1", "true 2", ...).
        k: tangents per row (default: all ``top_k``).
        point_ids: (n_points,), the points' positions in the data set, for titles.

    Returns:
        The AxesImages: one input and its tangents per row; rows = n_points x (1, + 1
        with PCA, + 1 with true tangents); a row has 1 + max(k, n_kinds) axes, the
        unused ones hidden.
    """
    inputs, tangents, values = (np.asarray(a, dtype=float) for a in (inputs, tangents, values))
    shape = (int(image_shape[0]), int(image_shape[1]))
    pca = None if pca_tangents is None else np.asarray(pca_tangents, dtype=float)
    true = None if true_tangents is None else np.asarray(true_tangents, dtype=float)
    _check_image_inputs(inputs, tangents, values, shape, pca, true)
    k = tangents.shape[1] if k is None else min(int(k), tangents.shape[1])
    if k < 1:
        raise ValueError(f"k must be >= 1; got {k}")
    ids = list(range(len(inputs))) if point_ids is None else [int(i) for i in point_ids]
    keep = finite_rows(inputs, tangents[:, :k], values[:, :k], pca, true)
    if not keep.any():
        raise ValueError("no point has finite inputs, tangents and singular values")
    keep_idx = np.flatnonzero(keep)

    # one subfigure per point, shaded alternately, so its encoder and PCA rows read as a pair
    groups = np.atleast_1d(fig.subfigures(len(keep_idx), 1, hspace=0.02))
    grey = {"cmap": "gray_r", "vmin": min(0.0, float(inputs[keep].min()))}
    grey["vmax"] = max(1.0, float(inputs[keep].max()))
    images: list[Artist] = []
    n_cols = max(k, 0 if true is None else true.shape[1])
    for r, i in enumerate(keep_idx):
        groups[r].set_facecolor("0.94" if r % 2 else "white")
        rows = [("encoder", tangents[i, :k], [f"σ{j + 1}={values[i, j]:.3g}" for j in range(k)])]
        if pca is not None:
            k_pca = min(k, pca.shape[1])
            rows.append(("local PCA", pca[i, :k_pca], [f"PCA {j + 1}" for j in range(k_pca)]))
        if true is not None:
            names = true_titles[i] if true_titles is not None else []
            titles = [names[j] if j < len(names) else f"true {j + 1}" for j in range(len(true[i]))]
            rows.append(("true", true[i], titles))
        grid = groups[r].subplots(len(rows), 1 + n_cols, squeeze=False)
        for row, (name, vectors, titles) in zip(grid, rows, strict=True):
            images.append(_show(row[0], inputs[i], shape, f"x #{ids[i]}", **grey))
            row[0].set_ylabel(name, fontsize=9)
            for j, ax in enumerate(row[1:]):  # a PCA row may hold fewer than k tangents
                if j < len(vectors):
                    images.append(_show_tangent(ax, vectors[j], shape, titles[j]))
                else:
                    ax.set_axis_off()
    fig.suptitle(
        "Leading tangents at each point (red +, blue −; each tangent on its own symmetric scale)"
    )
    return images


# ------------------------------------------------------------------ field


class _Field(NamedTuple):
    """The points and arrows of a tangent field, in the axes' coordinates."""

    X: np.ndarray  # (n, dims)
    T: np.ndarray  # (n, k, dims)
    S: np.ndarray  # (n, k)
    C: np.ndarray | None  # (n,)
    Tt: np.ndarray | None  # (n, k_true, dims)
    note: str  # how the points were projected, for the title


def _finite_field(
    points: np.ndarray,
    tangents: np.ndarray,
    values: np.ndarray,
    color_by: np.ndarray | None,
    true_tangents: np.ndarray | None,
) -> _Field:
    """Checked float arrays with the rows that have a non-finite entry dropped."""
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
    keep = finite_rows(X, T, S, C, Tt)
    if not keep.any():
        raise ValueError("no point has finite coordinates, tangents and singular values")
    return _Field(
        X[keep],
        T[keep],
        S[keep],
        None if C is None else C[keep],
        None if Tt is None else Tt[keep],
        "",
    )


def _to_axes(f: _Field, dims: int) -> _Field:
    """Project on the points' top principal directions (or pad with zeros) to ``dims``."""
    d = f.X.shape[1]
    if d > dims:
        mean = f.X.mean(axis=0)
        # fewer points than dims: the full V, so that there are dims directions to project on
        _, sv, vt = np.linalg.svd(f.X - mean, full_matrices=len(f.X) < dims)
        P = vt[:dims]  # (dims, d); sign: largest entry positive, so reruns agree
        P = P * np.where(P[np.arange(dims), np.abs(P).argmax(axis=1)] < 0, -1.0, 1.0)[:, None]
        explained = float((sv[:dims] ** 2).sum() / max((sv**2).sum(), 1e-300))
        note = (
            f"\n{d}-D points projected on their top {dims} PCs ({100 * explained:.0f}% of variance)"
        )
        Tt = None if f.Tt is None else f.Tt @ P.T
        return _Field((f.X - mean) @ P.T, f.T @ P.T, f.S, f.C, Tt, note)
    if d < dims:
        pad = [(0, 0), (0, dims - d)]
        Tt = None if f.Tt is None else np.pad(f.Tt, [(0, 0), *pad])
        return _Field(np.pad(f.X, pad), np.pad(f.T, [(0, 0), *pad]), f.S, f.C, Tt, f.note)
    return f


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


def _scatter(ax: Axes, f: _Field, color_label: str, dims: int) -> Artist:
    """The points, coloured by ``f.C`` with a colorbar when given."""
    kw: dict[str, Any] = {"s": 16, "alpha": 0.8, "linewidths": 0}
    kw |= {"color": "0.6"} if f.C is None else _scalar_colors(f.C)
    sc = ax.scatter(*f.X.T, **kw)
    sc.set_gid("points")
    if f.C is not None:
        cb = ax.figure.colorbar(sc, ax=ax, shrink=0.6, pad=0.0 if dims == 3 else 0.03)
        cb.set_label(color_label or "colour scale")
        if "norm" in kw:
            cb.set_ticks(np.unique(f.C))
    return sc


def _quiver(
    ax: Axes, base: np.ndarray, vec: np.ndarray, *, color: str, width: float, label: str, gid: str
) -> Artist:
    """Arrows centred on their points (a tangent's sign is a convention), 2-D or 3-D."""
    if base.shape[1] == 3:
        style = {"arrow_length_ratio": 0.25, "linewidths": width}
    else:
        style = {"angles": "xy", "scale_units": "xy", "scale": 1, "width": 0.0022 * width}
        style |= {"headwidth": 3, "headlength": 4, "headaxislength": 3.5}
    q = ax.quiver(*base.T, *vec.T, pivot="middle", color=color, label=label, **style)
    q.set_gid(gid)
    return q


def _arrows(ax: Axes, f: _Field, at: np.ndarray, scale: float, extent: float) -> list[Artist]:
    """One quiver per encoder tangent (length ∝ sigma), then one per true tangent."""
    drawn = []
    for j in range(f.T.shape[1]):
        vec = f.T[at, j] * (f.S[at, j, None] * scale)
        color, label = (
            TANGENT_COLORS[j % len(TANGENT_COLORS)],
            f"tangent {j + 1} (length ∝ σ{j + 1})",
        )
        drawn.append(
            _quiver(ax, f.X[at], vec, color=color, width=2.0, label=label, gid=f"tangent-{j + 1}")
        )
    for j in range(0 if f.Tt is None else f.Tt.shape[1]):
        vec = f.Tt[at, j] * (ARROW_FRACTION * extent)  # type: ignore[index]
        label = "true tangents" if j == 0 else "_nolegend_"
        gid = f"true-tangent-{j + 1}"
        drawn.append(_quiver(ax, f.X[at], vec, color=TRUTH_COLOR, width=0.8, label=label, gid=gid))
    return drawn


def _frame(ax: Axes, X: np.ndarray, projected: bool) -> None:
    """Axis labels, ticks and equal units on every axis, so that angles look right."""
    dims = X.shape[1]
    names = [f"PC {i + 1}" if projected else f"x{i + 1}" for i in range(dims)]
    axes = (ax.xaxis, ax.yaxis, *([ax.zaxis] if dims == 3 else []))  # type: ignore[attr-defined]
    for axis, name in zip(axes, names, strict=True):
        axis.set_major_locator(MaxNLocator(5))
        axis.set_label_text(f"{name} (data units)")
    if dims == 2:
        ax.set_aspect("equal", adjustable="datalim")
        return
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = np.maximum(hi - lo, 0.05 * float(np.ptp(X, axis=0).max() or 1.0))
    mid = (lo + hi) / 2
    ax.set_xlim(mid[0] - span[0] / 2, mid[0] + span[0] / 2)
    ax.set_ylim(mid[1] - span[1] / 2, mid[1] + span[1] / 2)
    ax.set_zlim(mid[2] - span[2] / 2, mid[2] + span[2] / 2)  # type: ignore[attr-defined]
    ax.set_box_aspect(tuple(span))


def _field_legend(ax: Axes, quivers: list[Artist]) -> None:
    """Line proxies: the default legend handle of a 2-D quiver is a filled box."""
    three_d = getattr(ax, "name", "") == "3d"
    handles = [
        Line2D(
            [],
            [],
            color=q.get_edgecolor()[0] if three_d else q.get_facecolor()[0],  # type: ignore[attr-defined]
            lw=2.0 if q.get_gid().startswith("tangent") else 1.0,  # type: ignore[union-attr]
            label=q.get_label(),
        )
        for q in quivers
        if not q.get_label().startswith("_")
    ]
    ax.legend(handles=handles, loc="upper left", fontsize=8, framealpha=0.85)


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
    dims = 3 if getattr(ax, "name", "") == "3d" else 2
    f = _to_axes(_finite_field(points, tangents, values, color_by, true_tangents), dims)
    extent = float(np.ptp(f.X, axis=0).max()) or 1.0
    at = _farthest_points(f.X, n_arrows) if n_arrows is not None else np.arange(len(f.X))
    s_ref = float(np.quantile(f.S[at, 0], 0.9))
    scale = ARROW_FRACTION * extent / (s_ref if s_ref > 0 else 1.0)
    scatter = _scatter(ax, f, color_label, dims)  # first: the arrows are drawn over the points
    quivers = _arrows(ax, f, at, scale, extent)
    _frame(ax, f.X, projected=bool(f.note))
    ax.set_title(
        f"Leading encoder tangents at {len(at)} of {len(f.X)} points "
        f"(σ=1 ↔ {scale:.2g} data units){f.note}"
    )
    _field_legend(ax, quivers)
    return [scatter, *quivers]


# ------------------------------------------------------------------ unrolled


def _in_plane(tangents: np.ndarray, true_tangents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Components of each tangent on the true basis, and the tangent plane's angle to it.

    Returns (n, k, 2) components and (n,) largest principal angles in degrees between the
    span of the first min(k, 2) tangents and the true plane.
    """
    comps = np.einsum("nkd,njd->nkj", tangents, true_tangents)  # (n, k, 2)
    lead = comps[:, : min(2, comps.shape[1])]
    cos = np.linalg.svd(lead, compute_uv=False).min(axis=1)  # smallest cosine: largest angle
    return comps, np.degrees(np.arccos(np.clip(cos, 0.0, 1.0)))


def plot_tangent_unrolled(
    ax: Axes,
    chart: np.ndarray,
    tangents: np.ndarray,
    values: np.ndarray,
    true_tangents: np.ndarray,
    *,
    axis_labels: tuple[str, str] = ("arc length along the roll", "height"),
    n_arrows: int | None = None,
) -> list[Artist]:
    """The encoder's tangents drawn on the manifold laid flat (its intrinsic coordinates).

    Each tangent is written in the true tangent basis at its point; since the chart is
    isometric and its axes follow that basis, the arrow shows where the tangent points
    *along the manifold*: along the first axis, along the second, or between. Its length
    is σ times the tangent's in-plane part, so a tangent that leaves the manifold shrinks.
    The points are coloured by the angle between the leading tangent plane and the true
    one (the largest principal angle). Arrows are centred on their points.

    Args:
        ax: a 2-D axes.
        chart: (n_points, 2), isometric intrinsic coordinates (e.g. the swiss roll's arc
            length and height, :func:`manifold_cae.data.swiss_roll_unrolled`).
        tangents: (n_points, k, n_features), the encoder's tangent directions.
        values: (n_points, k), their singular values.
        true_tangents: (n_points, 2, n_features), orthonormal, in the chart's axis order.
        axis_labels: the chart's two axes.
        n_arrows: draw arrows at this many points, spread evenly (default: all).

    Returns:
        [scatter, one quiver per tangent index].
    """
    chart, T, S, Tt = (np.asarray(a, dtype=float) for a in (chart, tangents, values, true_tangents))
    n = len(chart)
    if (
        chart.shape != (n, 2)
        or Tt.ndim != 3
        or Tt.shape[:2] != (n, 2)
        or T.ndim != 3
        or T.shape[0] != n
        or T.shape[2] != Tt.shape[2]
        or S.shape != T.shape[:2]
    ):
        raise ValueError(
            "need chart (n_points, 2), tangents (n_points, k, n_features), values "
            f"(n_points, k) and true_tangents (n_points, 2, n_features); got {chart.shape}, "
            f"{T.shape}, {S.shape} and {Tt.shape}"
        )
    keep = finite_rows(chart, T, S, Tt)
    if not keep.any():
        raise ValueError("no point has finite coordinates, tangents and singular values")
    comps, angle = _in_plane(T[keep], Tt[keep])
    flat = _Field(chart[keep], comps, S[keep], angle, None, "")
    extent = float(np.ptp(flat.X, axis=0).max()) or 1.0
    at = _farthest_points(flat.X, n_arrows) if n_arrows is not None else np.arange(len(flat.X))
    s_ref = float(np.quantile(flat.S[at, 0], 0.9))
    scale = ARROW_FRACTION * extent / (s_ref if s_ref > 0 else 1.0)
    scatter = _scatter(ax, flat, "angle of the tangent plane to the true one (°)", 2)
    quivers = _arrows(ax, flat, at, scale, extent)
    ax.set_xlabel(f"{axis_labels[0]} (true tangent 1)")
    ax.set_ylabel(f"{axis_labels[1]} (true tangent 2)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(
        f"Encoder tangents on the unrolled manifold at {len(at)} of {len(flat.X)} points\n"
        "arrow: the tangent in the true basis, length σ × its in-plane part "
        f"(σ=1 ↔ {scale:.2g} chart units)"
    )
    _field_legend(ax, quivers)
    return [scatter, *quivers]
