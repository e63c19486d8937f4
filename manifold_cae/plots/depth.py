"""Depth: one layer vs a stacked vs a jointly penalised deep encoder, side by side.

Two panels per data set: the contraction curves of every encoder, and the mean
‖J‖_F of each encoder's prefixes (the encoder up to layer l), which shows where
a deep encoder contracts: a stack contracts layer by layer, a joint encoder was
penalised on the whole.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from manifold_cae.analysis.metrics import ContractionSummary, LayerSummary
from manifold_cae.plots.contraction import plot_contraction
from manifold_cae.plots.style import RC, Colors, check_models, floats, plain_log_labels, save

DEPTH_STYLES = ("-", "--", ":", "-.")  # by depth - 1: one layer solid, two dashed, ...


def plot_prefix_norms(
    ax: Axes,
    layers: Sequence[LayerSummary],
    labels: Sequence[str],
    *,
    colors: Colors = None,
) -> list[Artist]:
    """Mean ‖J‖_F of the encoder up to each layer, one line per model, on a log axis.

    Args:
        ax: the axes to draw in.
        layers: per model, the ``layers`` section of its summary (one value per prefix).
        labels: the legend's names of the models.
        colors: one colour per model (default: each model's own colour).

    Returns:
        One line per model.
    """
    colors = check_models(layers, labels, colors)
    drawn: list[Artist] = []
    for s, label, color in zip(layers, labels, colors, strict=True):
        y = floats(s.frobenius_mean)
        if not np.isfinite(y).any():
            raise ValueError(f"{label}: no finite ‖J‖_F per layer")
        x = np.arange(1, len(y) + 1)
        style = DEPTH_STYLES[(len(y) - 1) % len(DEPTH_STYLES)]
        (line,) = ax.plot(x, y, marker="o", color=color, ls=style, lw=2, label=label)
        line.set_gid("prefix-norm")
        drawn.append(line)
    ax.set_yscale("log")
    plain_log_labels(ax)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer l (the encoder up to it: x → h_l)")
    ax.set_ylabel("mean ‖∂h_l / ∂x‖_F over points")
    ax.set_title("Where the encoder contracts: ‖J‖_F of each prefix")
    ax.legend()
    return drawn


def draw_depth(
    contraction: Sequence[ContractionSummary],
    layers: Sequence[LayerSummary],
    labels: Sequence[str],
    depths: Sequence[int],
    path: str | os.PathLike[str],
    *,
    title: str,
    colors: Colors = None,
    dpi: int = 120,
) -> Path:
    """Write one depth figure: contraction curves (left) and per-prefix ‖J‖_F (right).

    Args:
        contraction: per model, its ``contraction`` section.
        layers: per model, its ``layers`` section (one entry per layer; a one-layer
            encoder has a single value, its ‖J‖_F).
        labels: the models' names; ``depths`` their number of layers (the line style).
        depths: (n_models,), layers per encoder.
        path: the file to write; its suffix is the format.
        title: the figure's title: data set, seed and point counts.
        colors: one colour per model (default: each model's own colour).
        dpi: resolution of raster output.

    Returns:
        The path written.
    """
    colors = check_models(contraction, labels, colors)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(14, 5.2), layout="constrained")
        left, right = fig.subplots(1, 2, width_ratios=(1.5, 1))
        plot_contraction(left, contraction, labels, colors=colors, show_std=False)
        curves = [a for a in left.get_lines() if a.get_gid() == "contraction-curve"]
        for line, depth in zip(curves, depths, strict=True):
            line.set_linestyle(DEPTH_STYLES[(depth - 1) % len(DEPTH_STYLES)])
        left.get_legend().remove()  # one legend, on the right: same models, colours, styles
        left.set_yscale("log")  # deep encoders' ratios are orders of magnitude below one layer's
        left.autoscale(axis="y")
        plain_log_labels(left)
        left.set_title("Contraction ratio vs radius, log scale (◆: r → 0 limit)")
        plot_prefix_norms(right, layers, labels, colors=colors)
        fig.suptitle(title)
        path = Path(path)
        return save(fig, path, fmt=path.suffix.lstrip(".") or "png", dpi=dpi)
