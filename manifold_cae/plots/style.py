"""The look every figure shares: palette, one colour per model name, rc settings, helpers.

A model keeps its colour in every figure: :data:`MODEL_COLORS` maps each
model name of ``compare`` to one Okabe-Ito colour, so the CAE is blue whether
it is drawn alone, beside a DAE or left out of an overlay.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from manifold_cae._io import atomic_write
from manifold_cae.analysis.summary import AnalysisSummary

# Okabe & Ito (2008), distinguishable under the common colour-vision deficiencies.
OKABE_ITO = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#E69F00",  # orange
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow (weak on white: the rarest model gets it)
)
# One fixed colour per model name (dae is dae-g). The ninth name takes the palette's
# grey companion; references (local PCA, thresholds) are a darker grey and dashed.
MODEL_COLORS: dict[str, str] = {
    "cae": "#0072B2",
    "dae": "#D55E00",
    "dae-g": "#D55E00",
    "ae": "#000000",
    "dae-b": "#E69F00",
    "rcae": "#009E73",
    "cae-h": "#56B4E9",
    "cae-stacked": "#CC79A7",
    "cae-deep": "#999999",
    "dae-sp": "#F0E442",
}
FORMATS = ("png", "svg", "pdf")
TANGENT_CMAP = "RdBu_r"  # diverging, centred at 0 by symmetric limits
SCALAR_CMAP = "viridis"
TRUTH_COLOR = "#000000"
TANGENT_COLORS = ("#D55E00", "#CC79A7", "#E69F00", "#56B4E9", "#009E73")  # clear of viridis
GREY = "0.45"
Colors = Sequence[str] | None  # one colour per model; None: each model's own colour
RC = {
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


def model_name(label: str) -> str | None:
    """The model name a label starts with ('cae lam=0.1' -> 'cae'), if it is a known one."""
    words = label.strip().lower().split()
    return words[0] if words and words[0] in MODEL_COLORS else None


def model_color(model: str | int) -> str:
    """The colour of a model: fixed per model name; other names by a stable hash.

    An int picks the i-th Okabe-Ito colour (for callers that colour by position).
    """
    if isinstance(model, int):
        return OKABE_ITO[model % len(OKABE_ITO)]
    name = model_name(model)
    if name is not None:
        return MODEL_COLORS[name]
    return OKABE_ITO[zlib.crc32(model.encode()) % len(OKABE_ITO)]


def model_colors(labels: Sequence[str]) -> list[str]:
    """One colour per label: known model names their own, other labels distinct leftovers."""
    names = [model_name(label) for label in labels]
    used = {MODEL_COLORS[n] for n in names if n is not None}
    spare = [c for c in OKABE_ITO if c not in used] or list(OKABE_ITO)
    colors, n_other = [], 0
    for name in names:
        if name is not None:
            colors.append(MODEL_COLORS[name])
        else:
            colors.append(spare[n_other % len(spare)])
            n_other += 1
    return colors


def check_models(items: Sequence[Any], labels: Sequence[str], colors: Colors) -> list[str]:
    """One colour per model (by name unless given), after checking the lengths agree."""
    if len(items) != len(labels):
        raise ValueError(f"got {len(items)} models but {len(labels)} labels")
    if not items:
        raise ValueError("no models to plot")
    if colors is not None and len(colors) != len(items):
        raise ValueError(f"got {len(colors)} colors for {len(items)} models")
    return list(colors) if colors is not None else model_colors(labels)


def finite_rows(*arrays: np.ndarray | None) -> np.ndarray:
    """(n,) bool: rows where every given array (n, ...) is finite."""
    present = [a for a in arrays if a is not None]
    mask = np.ones(len(present[0]), dtype=bool)
    for a in present:
        mask &= np.isfinite(np.asarray(a, dtype=float).reshape(len(a), -1)).all(axis=1)
    return mask


def floats(values: Sequence[float | None] | None) -> np.ndarray:
    """A float array; None entries (JSON null) become NaN so they are masked out.

    ``values`` may be a list or a numpy array (whose truth value is not defined).
    """
    if values is None:
        return np.array([], dtype=float)
    return np.array([np.nan if v is None else v for v in values], dtype=float)


SPLIT_WORDS = {"held-out": "held-out ", "train": "training ", "all": ""}


def seed_text(s: AnalysisSummary) -> str:
    """'seed 0': the run's training seed, and the point sample's seed when it differs."""
    run = s.provenance.run_config
    sample = s.provenance.analysis.seed
    if run is None:
        return f"sample seed {sample}"
    seed = run.training.seed
    return f"seed {seed}" if sample == seed else f"seed {seed} (point sample: seed {sample})"


def where(summaries: Sequence[AnalysisSummary], points: Sequence[int] | None = None) -> str:
    """Where the numbers come from, for a caption: data set, split, point count and seed.

    Args:
        summaries: one per model drawn.
        points: (n_models,), the points each model's panel shows (default: the points
            each analysis measured, ``n_points``).
    """
    shown = [s.n_points for s in summaries] if points is None else list(points)
    names = []
    for s, n in zip(summaries, shown, strict=True):
        data = s.provenance.data
        split = "" if data is None else SPLIT_WORDS.get(data.split, f"{data.split} ")
        source = "arrays" if data is None else data.name or data.spec
        names.append(f"{source}, {n} {split}points, {seed_text(s)}")
    unique = list(dict.fromkeys(names))
    return unique[0] if len(unique) == 1 else "; ".join(unique)


def plain_log_labels(ax: Axes) -> None:
    """Tick labels such as 0.5 rather than 5x10^-1; minor ones labelled on a short range."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))

    def minor(v: float, _: int) -> str:
        lo, hi = ax.get_ylim()
        if v <= 0 or lo <= 0 or hi / lo > 20:
            return ""
        mantissa = round(v / 10 ** math.floor(math.log10(v) + 1e-9))
        return f"{v:g}" if mantissa in ((2, 3, 4, 5, 6, 8) if hi / lo < 4 else (2, 5)) else ""

    ax.yaxis.set_minor_formatter(FuncFormatter(minor))


def save(fig: Figure, path: str | os.PathLike[str], *, fmt: str, dpi: int) -> Path:
    """Write ``fig`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi))
