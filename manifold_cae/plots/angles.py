"""Tangent error per point: the largest principal angle to the true tangent space.

Without true tangents the reference is local PCA, and the figures show the mean
principal angle beside the largest: between k-D subspaces of a high-dimensional space
the largest angle is near 90 degrees for almost any pair, so it cannot tell models apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator, PercentFormatter

from manifold_cae.plots.style import GREY, Colors, check_models, model_color

EDGES = np.linspace(0, 90, 37)  # 2.5-degree bins
PCA_COLOR = GREY  # local PCA is the reference in every angle figure


def finite_angles(a: np.ndarray, what: str) -> np.ndarray:
    """The finite angles of ``a`` (n,), in degrees; ``ValueError`` naming ``what`` when none."""
    a = np.asarray(a, dtype=float)
    a = a[np.isfinite(a)]
    if len(a) == 0:
        raise ValueError(f"{what} has no finite angle")
    return a


def _hist(ax: Axes, a: np.ndarray, *, fill: bool = False, **kw: Any) -> Artist:
    """A step histogram of angles in percent of points per bin."""
    pct = 100 * np.histogram(np.clip(a, 0, 90), bins=EDGES)[0] / len(a)
    st = ax.stairs(pct, EDGES, fill=False, **({"lw": 2} | kw))
    if fill:
        ax.stairs(pct, EDGES, color=kw.get("color"), alpha=0.15, fill=True)
    st.set_gid("angle-hist")
    return st


TRUTH_XLABEL = "largest principal angle to the true tangent space (degrees)"
PCA_XLABEL = "principal angle to the local-PCA tangents (degrees)"
PCA_MEAN_XLABEL = "mean principal angle to the local-PCA tangents (degrees)"


def _frame(ax: Axes, title: str, xlabel: str = TRUTH_XLABEL) -> None:
    ax.set_xlim(0, 90)
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("points per 2.5° bin (%)")
    ax.set_title(title)
    ax.legend()


def plot_angle_distributions(
    ax: Axes,
    cae_deg: np.ndarray,
    pca_deg: np.ndarray,
    label: str,
    *,
    k: int | None = None,
    neighbours: int | None = None,
    color: str | None = None,
) -> list[Artist]:
    """Per-point angle to the true tangent space: the encoder's tangents vs local PCA.

    The angle is the largest principal angle between the k-dimensional subspaces.

    Args:
        ax: the axes to draw in.
        cae_deg: (n_points,), the encoder's angles (points.csv ``angle_cae_deg``).
        pca_deg: (n_points,), local PCA's angles (``angle_local_pca_deg``).
        label: the model's name, for the legend and title.
        k: the subspaces' dimension, for the title.
        neighbours: local PCA's neighbourhood size, for the legend.
        color: the encoder's colour (default: the model's own colour).

    Returns:
        [encoder histogram, PCA histogram, encoder median line, PCA median line].
    """
    pca_name = "local PCA" + (f", {neighbours} neighbours" if neighbours else "")
    series = (
        (finite_angles(cae_deg, f"{label}: angle_cae_deg"), f"{label} encoder tangents"),
        (finite_angles(pca_deg, f"{label}: angle_local_pca_deg"), pca_name),
    )
    colors = (color or model_color(label), PCA_COLOR)
    drawn: list[Artist] = []
    for (a, name), color in zip(series, colors, strict=True):
        legend = f"{name} (median {np.median(a):.1f}°)"
        drawn.append(_hist(ax, a, fill=True, color=color, label=legend))
    for (a, _), color in zip(series, colors, strict=True):
        vl = ax.axvline(float(np.median(a)), color=color, ls="--", lw=1.2)
        vl.set_gid("angle-median")
        drawn.append(vl)
    _frame(ax, f"{label}: tangent error, k = {k}" if k else f"{label}: tangent error")
    return drawn


def plot_angles_to_local_pca(
    ax: Axes,
    mean_deg: np.ndarray,
    largest_deg: np.ndarray,
    label: str,
    *,
    k: int | None = None,
    neighbours: int | None = None,
    color: str | None = None,
) -> list[Artist]:
    """Per-point angle between the encoder's tangents and local PCA's, for data without truth.

    Both are principal angles between the k-dimensional subspaces: the mean over the k
    angles (filled) and the largest (dashed), which crowds near 90° in high dimensions.

    Args:
        ax: the axes to draw in.
        mean_deg: (n_points,), points.csv ``angle_cae_vs_local_pca_mean_deg``.
        largest_deg: (n_points,), points.csv ``angle_cae_vs_local_pca_deg``.
        label: the model's name, for the legend and title.
        k: the subspaces' dimension, for the title.
        neighbours: local PCA's neighbourhood size, for the title.
        color: the encoder's colour (default: the model's own colour).

    Returns:
        [mean-angle histogram, largest-angle histogram, mean median line, largest median line].
    """
    color = color or model_color(label)
    mean = finite_angles(mean_deg, f"{label}: angle_cae_vs_local_pca_mean_deg")
    largest = finite_angles(largest_deg, f"{label}: angle_cae_vs_local_pca_deg")
    drawn = [
        _hist(ax, mean, fill=True, color=color,
              label=f"mean angle (median {np.median(mean):.1f}°)"),
        _hist(ax, largest, color=color, ls="--", lw=1.2,
              label=f"largest angle (median {np.median(largest):.1f}°)"),
    ]  # fmt: skip
    for a, ls in ((mean, "-"), (largest, "--")):
        vl = ax.axvline(float(np.median(a)), color=color, ls=ls, lw=1.0, alpha=0.7)
        vl.set_gid("angle-median")
        drawn.append(vl)
    where = f"local PCA{f' ({neighbours} neighbours)' if neighbours else ''}"
    title = f"{label}: encoder tangents vs {where}" + (f", k = {k}" if k else "")
    _frame(ax, f"{title}\n(no true tangents known: local PCA is the reference)", PCA_XLABEL)
    return drawn


def plot_angle_overlay(
    ax: Axes,
    angles: Sequence[np.ndarray],
    labels: Sequence[str],
    *,
    reference: np.ndarray | None,
    colors: Colors = None,
) -> list[Artist]:
    """Per-point tangent error of several models on one axes, local PCA as the reference.

    Args:
        ax: the axes to draw in.
        angles: per model, (n_points,) angles of its tangents to the truth, degrees; or,
            with ``reference=None`` (data without truth), mean principal angles to local PCA.
        labels: the models' legend labels.
        reference: (n_points,), local PCA's angles to the truth, degrees; None without truth.
        colors: one colour per model (default: each model's own colour).

    Returns:
        One step histogram per model, then the local-PCA one (grey, dashed) when given.
    """
    colors = check_models(angles, labels, colors)
    series = [finite_angles(a, label) for a, label in zip(angles, labels, strict=True)]
    drawn = [
        _hist(ax, a, color=color, label=f"{label} (median {np.median(a):.1f}°)")
        for a, label, color in zip(series, labels, colors, strict=True)
    ]
    if reference is None:
        _frame(ax, "Encoder tangents vs local PCA per point (no true tangents known)",
               PCA_MEAN_XLABEL)  # fmt: skip
        return drawn
    ref = finite_angles(reference, "local PCA")
    drawn.append(
        _hist(ax, ref, color=PCA_COLOR, ls="--", label=f"local PCA (median {np.median(ref):.1f}°)")
    )
    _frame(ax, "Tangent error per point, encoder tangents vs local PCA")
    return drawn
