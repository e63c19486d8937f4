"""A sweep of a comparison: count, local dimension, SAT and angle against lambda (or noise).

The caller (``compare``) hands over one :class:`SweepSeries` per swept model;
nothing here knows how a comparison stores its rows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from manifold_cae.plots.style import RC, floats, model_colors, save

PARAMETERS = {"lam": "λ", "noise": "noise"}


@dataclass(frozen=True)
class SweepLine:
    """One model's runs along its swept parameter, one metric per run (seeds repeat a value)."""

    model: str  # the model's name: picks its colour
    parameter: str  # "lam" or "noise"
    values: Sequence[float]  # (n_runs,): the swept value of each run
    y: Sequence[float | None]  # (n_runs,): the metric of each run; None or NaN when unknown


@dataclass(frozen=True)
class SweepSeries:
    """One model's runs along its swept parameter, with the metrics :func:`draw_sweep` shows."""

    model: str  # the model's name: picks its colour
    parameter: str  # "lam" or "noise"
    values: Sequence[float]  # (n_runs,): the swept value of each run
    count_mean: Sequence[float | None]  # (n_runs,): mean count of sigma > threshold
    sat_percent: Sequence[float | None]  # (n_runs,): SAT, percent
    angle_mean: Sequence[float | None]  # (n_runs,): mean tangent angle, degrees
    # (n_runs,): mean local dimension (the largest drop in log sigma); None: not drawn
    dimension_mean: Sequence[float | None] | None = None

    def line(self, y: Sequence[float | None]) -> SweepLine:
        return SweepLine(self.model, self.parameter, self.values, y)


def plot_sweep(ax: Axes, lines: Sequence[SweepLine], ylabel: str) -> list[Artist]:
    """One metric against the swept parameter, mean ± std over seeds, one line per model.

    Args:
        ax: where to draw.
        lines: one per swept model.
        ylabel: the y-axis label.

    Returns:
        One ErrorbarContainer per model with a finite value.
    """
    colors = model_colors([line.model for line in lines])
    drawn: list[Artist] = []
    for line, color in zip(lines, colors, strict=True):
        x, y = floats(line.values), floats(line.y)
        if len(x) != len(y):
            raise ValueError(f"{line.model}: {len(x)} swept values but {len(y)} metric values")
        ok = np.isfinite(x) & np.isfinite(y)
        at = np.unique(x[ok])
        if len(at) == 0:
            continue
        groups = [y[ok][x[ok] == v] for v in at]
        label = f"{line.model} (vs {PARAMETERS.get(line.parameter, line.parameter)})"
        drawn.append(
            ax.errorbar(
                at, [g.mean() for g in groups], yerr=[g.std() for g in groups],
                marker="o", capsize=3, color=color, label=label,
            )
        )  # fmt: skip
    if not drawn:
        raise ValueError(f"no swept run has a value of {ylabel}")
    ax.set_xscale("log")
    ax.set_xlabel("swept value: λ (contractive weight) or DAE noise level")
    ax.set_ylabel(ylabel)
    ax.legend()
    return drawn


def draw_sweep(
    series: Sequence[SweepSeries],
    out_dir: str | os.PathLike[str],
    *,
    threshold: float = 1.0,
    fmt: str = "png",
    dpi: int = 120,
    caption: str = "",
) -> Path:
    """Write ``sweep.<fmt>``: count of σ > threshold, local dimension, SAT and angle per model.

    The local-dimension panel stands beside the count (the count depends on the data's
    units, the local dimension does not); it is left out when no series carries it.

    Args:
        series: one per swept model.
        out_dir: where the figure goes.
        threshold: the analysis' sigma threshold, for the count panel's label.
        caption: a second title line: the data, the seeds pooled and the points per run.
        fmt: png, svg or pdf.
        dpi: resolution of raster output.

    Returns:
        The path written.
    """
    panels = [([s.line(s.count_mean) for s in series], f"mean count of σ > {threshold:g}")]
    if any(s.dimension_mean is not None for s in series):
        dims = [
            s.line(s.dimension_mean if s.dimension_mean is not None else [None] * len(s.values))
            for s in series
        ]
        panels.append((dims, "mean local dimension"))
    panels += [
        ([s.line(s.sat_percent) for s in series], "SAT (%)"),
        ([s.line(s.angle_mean) for s in series], "tangent angle (degrees)"),
    ]
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(4.7 * len(panels), 4.4), layout="constrained")
        for ax, (lines, ylabel) in zip(fig.subplots(1, len(panels)), panels, strict=True):
            try:
                plot_sweep(ax, lines, ylabel)
            except ValueError as e:
                ax.set_axis_off()
                ax.text(0.5, 0.5, str(e), ha="center", va="center", transform=ax.transAxes)
        fig.suptitle("Sweep: mean ± std over seeds" + (f"\n{caption}" if caption else ""))
        return save(fig, Path(out_dir) / f"sweep.{fmt}", fmt=fmt, dpi=dpi)
