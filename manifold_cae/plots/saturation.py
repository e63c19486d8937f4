"""Saturation of the hidden units: activation histograms, SAT per model, rate per unit."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

from manifold_cae.activations import get_activation
from manifold_cae.analysis.metrics import SaturationSummary
from manifold_cae.plots.style import GREY, Colors, check_models, model_color


def saturation_rule(sat: SaturationSummary) -> str:
    """When a unit counts as saturated, in words (one-sided for relu and softplus)."""
    if get_activation(sat.activation).two_sided:
        return f"u < {sat.low:g} or u > {sat.high:g}"
    return f"u < {sat.low:g}"


def activation_percent(sat: SaturationSummary) -> tuple[np.ndarray, np.ndarray]:
    """(percent per bin (n_bins,), edges (n_bins + 1,)); ``ValueError`` when there are none."""
    counts, edges = (
        np.asarray(sat.activation_counts, float),
        np.asarray(sat.activation_edges, float),
    )
    if len(counts) == 0 or len(edges) != len(counts) + 1 or not np.isfinite(edges).all():
        raise ValueError("no activation histogram")
    if counts.sum() <= 0:
        raise ValueError("the activation histogram is empty")
    return 100 * counts / counts.sum(), edges


def sat_percent(sat: SaturationSummary) -> float:
    """SAT in percent; ``ValueError`` when it was not measured."""
    if not math.isfinite(sat.mean_fraction):
        raise ValueError("no saturation fraction")
    return 100 * sat.mean_fraction


def plot_activation_histogram(
    ax: Axes, sats: Sequence[SaturationSummary], labels: Sequence[str], *, colors: Colors = None
) -> list[Artist]:
    """Distribution of hidden activations on [0, 1] per model, saturated regions shaded.

    Args:
        ax: the axes to draw in.
        sats: per model, the ``saturation`` section of its summary (activation counts on
            [0, 1], the thresholds low and high).
        labels: the models' legend labels, one per section.
        colors: one colour per model (default: each model's own colour).

    Returns:
        [shaded region(s), one step outline per model].
    """
    colors = check_models(sats, labels, colors)
    hists = [activation_percent(s) for s in sats]
    rule, low, high = saturation_rule(sats[0]), sats[0].low, sats[0].high
    drawn: list[Artist] = [ax.axvspan(0, low, color="0.85", lw=0, label=f"saturated ({rule})")]
    if get_activation(sats[0].activation).two_sided:
        drawn.append(ax.axvspan(high, 1, color="0.85", lw=0))
    for (pct, edges), label, color in zip(hists, labels, colors, strict=True):
        st = ax.stairs(pct, edges, color=color, lw=2, label=label)
        st.set_gid("activation-hist")
        drawn.append(st)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.35 * max(float(pct.max()) for pct, _ in hists))  # room for the legend
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=1))
    ax.set_xlabel("hidden activation u on [0, 1] (sigmoid: u = h; tanh: (h+1)/2; relu: slope)")
    width = hists[0][1][1] - hists[0][1][0]
    ax.set_ylabel(f"activations per bin of width {width:.2g} (%)")
    ax.set_title("Hidden-unit activations")
    ax.legend(loc="upper right")
    return drawn


def plot_unit_saturation(
    ax: Axes, sat: SaturationSummary, label: str, *, color: str | None = None
) -> list[Artist]:
    """Per-unit saturation rate, units sorted from most to least saturated.

    Args:
        ax: the axes to draw in.
        sat: the ``saturation`` section of the model's summary.
        label: the model's name, for the title.
        color: the bars' colour (default: the model's own colour).

    Returns:
        [BarContainer, mean (SAT) line].
    """
    per_unit = np.asarray(sat.per_unit, dtype=float)
    per_unit = 100 * np.sort(per_unit[np.isfinite(per_unit)])[::-1]
    if len(per_unit) == 0:
        raise ValueError(f"{label}: no per-unit saturation")
    x = np.arange(1, len(per_unit) + 1)
    color = color or model_color(label)
    bars = ax.bar(x, per_unit, width=1.0, color=color, edgecolor="none", label="units, sorted")
    mean = float(per_unit.mean())
    hl = ax.axhline(mean, color=GREY, ls="--", lw=1.5, label=f"mean = SAT = {mean:.1f}%")
    hl.set_gid("sat-mean")
    ax.set_xlim(0.5, len(per_unit) + 0.5)
    ax.set_ylim(0, 105)
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_xlabel("hidden unit, sorted by saturation rate")
    ax.set_ylabel(f"points where the unit is saturated\n({saturation_rule(sat)})")
    ax.set_title(f"{label}: saturation rate per hidden unit")
    if per_unit.max() == 0:
        ax.text(
            0.5, 0.5, "no unit is saturated at any point", transform=ax.transAxes,
            ha="center", va="center", color=GREY,
        )  # fmt: skip
    ax.legend(handles=[bars, hl], loc="upper right")
    return [bars, hl]


def plot_sat_bars(
    ax: Axes, sats: Sequence[SaturationSummary], labels: Sequence[str], *, colors: Colors = None
) -> list[Artist]:
    """SAT (the mean fraction of saturated units) per model, the value written on each bar.

    Takes the arguments of :func:`plot_activation_histogram`; ``labels`` name the bars.

    Returns:
        [BarContainer, one Text per bar].
    """
    colors = check_models(sats, labels, colors)
    vals = [sat_percent(s) for s in sats]
    x = np.arange(len(sats))
    bars = ax.bar(x, vals, color=list(colors), width=0.6)
    texts = ax.bar_label(bars, labels=[f"{v:.1f}%" for v in vals], padding=3)
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 110)
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_ylabel(f"saturated hidden units, SAT\n({saturation_rule(sats[0])}, mean over points)")
    ax.set_xlabel("model")
    ax.set_title("Saturation (SAT) per model")
    return [bars, *texts]
