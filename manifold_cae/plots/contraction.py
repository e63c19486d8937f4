"""The contraction curve: contraction ratio against the perturbation radius (Rifai et al. 2011)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from manifold_cae.analysis.metrics import ContractionSummary
from manifold_cae.plots.style import GREY, Colors, check_models, floats


class Curve(NamedTuple):
    """The finite part of one model's contraction curve."""

    radii: np.ndarray  # (m,), > 0
    ratios: np.ndarray  # (m,)
    std: np.ndarray  # (m,), NaN where unknown
    local_ratio: float  # r -> 0 limit; NaN when unknown
    max_distance: float  # NaN when unknown


def contraction_curve(c: ContractionSummary) -> Curve:
    """What :func:`plot_contraction` draws; ``ValueError`` says why there is nothing to draw."""
    r, m, sd = floats(c.radii), floats(c.ratios), floats(c.ratios_std)
    if len(sd) == 0:
        sd = np.full(len(r), np.nan)
    if len(r) != len(m) or len(sd) != len(r):
        raise ValueError(
            f"the contraction curve's arrays differ in length: {len(r)} radii, {len(m)} ratios, "
            f"{len(sd)} standard deviations"
        )
    ok = np.isfinite(r) & np.isfinite(m) & (r > 0)
    if not ok.any():
        raise ValueError("no finite contraction curve")
    return Curve(r[ok], m[ok], sd[ok], float(c.local_ratio), float(c.max_distance))


def _max_distance_lines(ax: Axes, curves: Sequence[Curve], colors: Sequence[str]) -> list[Artist]:
    """A dashed line at the largest pairwise distance (one per distinct value)."""
    dmax = sorted({round(c.max_distance, 6) for c in curves if math.isfinite(c.max_distance)})
    drawn: list[Artist] = []
    for j, v in enumerate(dmax):
        color = GREY if len(dmax) == 1 else colors[j]
        vl = ax.axvline(
            v, color=color, ls="--", lw=1.2, label=f"largest pairwise distance ({v:.3g})"
        )
        vl.set_gid("max-distance")
        drawn.append(vl)
    return drawn


def plot_contraction(
    ax: Axes,
    curves: Sequence[ContractionSummary],
    labels: Sequence[str],
    *,
    show_std: bool = True,
    colors: Colors = None,
) -> list[Artist]:
    """Contraction ratio against the perturbation radius, one line per model.

    Each model's r -> 0 limit (from the Jacobian) is a marker at the left; a
    dashed vertical line marks the largest pairwise distance in the data.

    Args:
        ax: the axes to draw in.
        curves: the ``contraction`` sections of the models' summaries.
        labels: the models' legend labels, one per section.
        show_std: shade +-1 standard deviation (over x0) around each curve.
        colors: one colour per model (default: each model's own colour).

    Returns:
        Per model [curve, ±1 std band, r->0 marker], then the max-distance line(s).
    """
    colors = check_models(curves, labels, colors)
    finite = [contraction_curve(c) for c in curves]
    r_left = min(float(c.radii.min()) for c in finite) / 2
    drawn: list[Artist] = []
    for c, label, color in zip(finite, labels, colors, strict=True):
        (line,) = ax.plot(c.radii, c.ratios, color=color, lw=2, label=label)
        line.set_gid("contraction-curve")
        drawn.append(line)
        band = np.isfinite(c.std)
        if show_std and band.any():
            lo = np.maximum(c.ratios[band] - c.std[band], 0)
            poly = ax.fill_between(
                c.radii[band], lo, c.ratios[band] + c.std[band], color=color, alpha=0.18, lw=0
            )
            poly.set_gid("contraction-band")
            drawn.append(poly)
        if math.isfinite(c.local_ratio):
            (mk,) = ax.plot([r_left], [c.local_ratio], marker="D", ms=7, color=color, ls="none")
            mk.set_gid("local-ratio")
            drawn.append(mk)
    drawn += _max_distance_lines(ax, finite, colors)
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("radius r = ‖x₁ − x₀‖ (input units)")
    ax.set_ylabel("contraction ratio ‖f(x₁) − f(x₀)‖ / r")
    ax.set_title("Contraction ratio vs perturbation radius (band: ±1 std over x₀)")
    handles: list[Artist] = [a for a in drawn if a.get_gid() == "contraction-curve"]
    if any(a.get_gid() == "local-ratio" for a in drawn):
        limit = "r → 0 limit, from J_f (left)"
        handles.append(Line2D([], [], marker="D", ms=7, color=GREY, ls="none", label=limit))
    handles += [a for a in drawn if a.get_gid() == "max-distance"]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    return drawn
