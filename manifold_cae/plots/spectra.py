"""The singular-value spectrum of J_f and the count of singular values above the threshold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator, PercentFormatter

from manifold_cae.analysis.metrics import CountSummary, SpectrumSummary
from manifold_cae.plots.style import (
    GREY,
    Colors,
    check_models,
    floats,
    model_color,
    plain_log_labels,
)

ALL_ZERO_NOTE = (
    "Every count is 0: at every point all singular values\n"
    "are below σ = {thr:g}, so the encoder contracts in every\n"
    "direction and this threshold separates nothing.\n"
    "The local dimension (the spectrum's largest drop,\n"
    "no threshold) says how many leading directions\n"
    "it keeps{dims}."
)
MIN_SPECTRUM = 4  # shorter spectra are a few numbers: they belong in the table, not on a log axis


class SpectrumCurve(NamedTuple):
    """The finite, positive part of a mean spectrum, ready for a log axis."""

    index: np.ndarray  # (m,): 1-based positions i of sigma_i
    mean: np.ndarray  # (m,)
    band: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # (index, q10, q90) where both > 0


def spectrum_curve(spectrum: SpectrumSummary) -> SpectrumCurve:
    """What :func:`plot_spectrum` draws; ``ValueError`` says why there is nothing to draw."""
    if not spectrum.mean:
        raise ValueError(
            "no full spectrum in this analysis (it kept only the top-k singular values); "
            "re-run 'manifold-cae analyze' with full spectra"
        )
    mean = floats(spectrum.mean)
    if len(mean) < MIN_SPECTRUM:
        raise ValueError(
            f"the spectrum has only {len(mean)} singular value(s): that belongs in a table "
            "(report.md lists them), not on a log axis"
        )
    x = np.arange(1, len(mean) + 1)
    ok = np.isfinite(mean) & (mean > 0)  # a log axis can't show 0
    if not ok.any():
        raise ValueError("the mean spectrum has no finite positive value")
    band = None
    if spectrum.q10 and spectrum.q90:
        q10, q90 = floats(spectrum.q10), floats(spectrum.q90)
        inside = np.isfinite(q10) & np.isfinite(q90) & (q10 > 0) & (q90 > 0)
        band = (x[inside], q10[inside], q90[inside]) if inside.any() else None
    return SpectrumCurve(x[ok], mean[ok], band)


def plot_spectrum(
    ax: Axes,
    spectrum: SpectrumSummary,
    *,
    threshold: float,
    label: str,
    color: str | None = None,
) -> list[Artist]:
    """Mean singular-value spectrum of J_f with its 10-90% band; call again to overlay.

    Args:
        ax: the axes (switched to a log y-axis).
        spectrum: the ``spectrum`` section of an analysis summary.
        threshold: the sigma threshold of the count, drawn as a dashed line.
        label: the legend entry.
        color: line colour (default: the model's colour, from ``label``).

    Returns:
        [mean line, 10-90% band (when known), threshold line (first call only)].
    """
    curve = spectrum_curve(spectrum)
    color = color or model_color(label)
    drawn: list[Artist] = []
    many = len(spectrum.mean or ()) > 30
    (line,) = ax.plot(
        curve.index, curve.mean, color=color, lw=2, label=label, marker=None if many else "o", ms=4
    )
    line.set_gid("spectrum")
    drawn.append(line)
    if curve.band is not None:
        poly = ax.fill_between(*curve.band, color=color, alpha=0.2, lw=0)
        poly.set_gid("spectrum-band")
        drawn.append(poly)
    if not any(ln.get_gid() == "threshold" for ln in ax.get_lines()):
        hl = ax.axhline(
            threshold, color=GREY, ls="--", lw=1.2, label=f"σ = {threshold:g} (threshold)"
        )
        hl.set_gid("threshold")
        drawn.append(hl)
    ax.set_yscale("log")
    plain_log_labels(ax)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("index i of the singular value (descending order)")
    ax.set_ylabel(r"$\sigma_i$ of $J_f(x)$  ($\Delta h$ per unit $\Delta x$)")
    ax.set_title("Mean singular-value spectrum of the encoder Jacobian (band: 10–90% of points)")
    order = {"spectrum": 0, "threshold": 1}
    handles = sorted(
        (ln for ln in ax.get_lines() if ln.get_gid() in order), key=lambda ln: order[ln.get_gid()]
    )
    ax.legend(handles=handles, loc="best")
    return drawn


def count_percent(count: CountSummary) -> np.ndarray:
    """(max_count + 1,): percent of points with each count; ``ValueError`` when empty."""
    hist = np.asarray(count.histogram, dtype=float)
    if len(hist) == 0 or hist.sum() <= 0:
        raise ValueError("the count histogram is empty")
    return 100 * hist / hist.sum()


def _dimensions(labels: Sequence[str], dims: Sequence[float | None] | None) -> str:
    """': median cae 2, dae 2' for the note, or '' when no dimension is known."""
    known = [(lb, d) for lb, d in zip(labels, dims or (), strict=False) if d is not None]
    return (": median " + ", ".join(f"{lb} {d:g}" for lb, d in known)) if known else ""


def plot_count_histogram(
    ax: Axes,
    counts: Sequence[CountSummary],
    labels: Sequence[str],
    *,
    colors: Colors = None,
    local_dimension: Sequence[float | None] | None = None,
) -> list[Artist]:
    """Step histograms: the percent of points with each count of sigma > threshold, per model.

    When every count is 0 (the encoder contracts everywhere) a note says so and points to
    the local dimension, quoting ``local_dimension`` when given.

    Args:
        ax: the axes to draw in.
        counts: per model, the ``count`` section of its summary (its histogram).
        labels: the legend's names of the models; each legend entry adds the mean count.
        colors: one colour per model (default: each model's own colour).
        local_dimension: (n_models,), each model's median local dimension (None: unknown).

    Returns:
        One StepPatch per model, then the note's Text when every count is 0.
    """
    colors = check_models(counts, labels, colors)
    drawn: list[Artist] = []
    last, top = 1, 0.0  # the largest count with points; the tallest step
    for i, (count, label, color) in enumerate(zip(counts, labels, colors, strict=True)):
        pct = count_percent(count)
        last, top = max(last, int(np.flatnonzero(pct > 0).max())), max(top, float(pct.max()))
        edges = np.arange(len(pct) + 1) - 0.5  # a step per integer count, centred on it
        lw = 1.5 + 1.5 * (len(counts) - 1 - i)  # earlier models wider: equal steps stay visible
        st = ax.stairs(pct, edges, color=color, lw=lw, label=f"{label} (mean {count.mean:.2f})")
        st.set_gid("count-hist")
        drawn.append(st)
    thr = counts[0].threshold
    ax.set_xlim(-0.6, last + 0.6)  # at least 0 and 1, so a lone step at 0 reads as a count
    ax.set_ylim(0, 1.25 * top)  # headroom for the legend, but no tick past 100%
    ticks = MaxNLocator(6, steps=[1, 2, 2.5, 5, 10]).tick_values(0, top)
    ax.set_yticks([t for t in ticks if t <= min(100, 1.25 * top)])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_xlabel(
        f"number of singular values σ > {thr:g} at a point"
        + (" (counted among the top-k only)" if any(c.capped_at_top_k for c in counts) else "")
    )
    ax.set_ylabel("points (%)")
    ax.set_title(f"Expanding directions per point (σ > {thr:g})")
    ax.legend()
    if all(count_percent(c)[1:].sum() == 0 for c in counts):
        note = ax.text(
            0.53, 0.55, ALL_ZERO_NOTE.format(thr=thr, dims=_dimensions(labels, local_dimension)),
            transform=ax.transAxes, ha="left",
            va="center", fontsize=9, wrap=True, bbox={"fc": "white", "ec": GREY, "lw": 0.6},
        )  # fmt: skip
        note.set_gid("all-zero-note")
        drawn.append(note)
    return drawn
