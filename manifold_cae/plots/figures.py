"""``draw_all``: which figures apply to which analysis directories, and writing them.

Each figure first takes what it needs from the directories (typed summary
sections, stored arrays, points.csv columns). A directory that lacks it is
left out of an overlay with a note, and a figure nothing is left for is
skipped with a one-line note; nothing is drawn to find that out. Only then
is the figure drawn, once, and written atomically.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from manifold_cae.analysis.metrics import (
    AngleSummary,
    ContractionSummary,
    CountSummary,
    SaturationSummary,
    Section,
    SpectrumSummary,
)
from manifold_cae.errors import ConfigError, DataError
from manifold_cae.plots.angles import plot_angle_distributions, plot_angle_overlay
from manifold_cae.plots.contraction import contraction_curve, plot_contraction
from manifold_cae.plots.saturation import (
    activation_percent,
    plot_activation_histogram,
    plot_sat_bars,
    plot_unit_saturation,
    sat_percent,
)
from manifold_cae.plots.spectra import (
    count_percent,
    plot_count_histogram,
    plot_spectrum,
    spectrum_curve,
)
from manifold_cae.plots.style import FORMATS, RC, model_colors, save, where
from manifold_cae.plots.tangents import plot_tangent_field, plot_tangent_images
from manifold_cae.report import POINTS, SPECTRA, AnalysisDir, load_analysis

S = TypeVar("S", bound=Section)
T = TypeVar("T")
Log = Callable[[str], None]
MAX_TANGENT_IMAGES = 10  # tangents per row of a tangent-image figure
FIELD_ARROWS = 40  # points with arrows in a tangent field


class Skip(Exception):
    """A figure (or one model of an overlay) can't be drawn from what the directory holds."""


@dataclass(frozen=True)
class Model:
    """One analysis directory as the figures see it."""

    d: AnalysisDir
    label: str
    stem: str  # file-name-safe label
    color: str


# ------------------------------------------------------------ what a figure needs


def section(m: Model, cls: type[S]) -> S:
    s = m.d.summary.section(cls)
    if s is None:
        raise Skip(f"{m.d.path / 'summary.json'} has no {cls.__name__} section")
    return s


def stored(m: Model, *keys: str) -> list[np.ndarray]:
    """Arrays of spectra.npz; ``Skip`` naming those that are missing."""
    if not (m.d.path / SPECTRA).is_file():
        raise Skip(f"{SPECTRA} is missing")
    missing = [k for k in keys if k not in m.d.spectra]
    if missing:
        raise Skip(f"{SPECTRA} lacks {', '.join(missing)}")
    return [m.d.spectra[k] for k in keys]


def angle_columns(m: Model) -> tuple[np.ndarray, np.ndarray]:
    """(encoder, local PCA) angles to the true tangents per point, from points.csv."""
    if not (m.d.path / POINTS).is_file():
        raise Skip(f"{POINTS} is missing")
    cols = ("angle_cae_deg", "angle_local_pca_deg")
    if any(c not in m.d.points for c in cols):
        raise Skip(f"no angles to true tangents in {m.d.path / POINTS} (the data has no truth)")
    return m.d.points[cols[0]], m.d.points[cols[1]]


# spectra.npz arrays: dimensions, and whether they hold integers
STORED_ARRAYS = {
    "indices": (1, True),
    "inputs": (2, False),
    "tangents": (3, False),
    "pca_tangents": (3, False),
    "top_values": (2, False),
    "singular_values": (2, False),
    "true_tangents": (3, False),
}


def load(path: str | os.PathLike[str]) -> AnalysisDir:
    """:func:`load_analysis`, and a ``DataError`` for a spectra.npz of the wrong arrays."""
    d = load_analysis(path)
    n_stored = {len(a) for a in d.spectra.values() if isinstance(a, np.ndarray) and a.ndim}
    for name, (ndim, integer) in STORED_ARRAYS.items():
        a = d.spectra.get(name)
        if a is None:
            continue
        kinds = "iu" if integer else "iuf"
        if not isinstance(a, np.ndarray) or a.dtype.kind not in kinds or a.ndim != ndim:
            what = "integer" if integer else "numeric"
            raise DataError(
                f"{d.path / SPECTRA}: {name!r} is not a {what} array of {ndim} dimension(s); "
                "the file is damaged: re-run 'manifold-cae analyze'"
            )
    if len(n_stored) > 1:
        raise DataError(
            f"{d.path / SPECTRA}: its arrays disagree on the number of stored points "
            f"({sorted(n_stored)}); the file is damaged: re-run 'manifold-cae analyze'"
        )
    return d


def image_shape(d: AnalysisDir) -> tuple[int, int] | None:
    """(rows, cols) of image data, else None."""
    prov = d.summary.provenance
    if prov.image_shape is not None or prov.data is not None:
        return prov.image_shape  # analysed from a data set, which said whether it is images
    inputs = d.spectra.get("inputs")
    d_x = inputs.shape[1] if inputs is not None and inputs.ndim == 2 else prov.model.n_features
    side = math.isqrt(d_x)
    return (side, side) if d_x >= 16 and side * side == d_x else None


def safe_stems(labels: Sequence[str]) -> list[str]:
    """File-name-safe, unique stems for the labels."""
    stems: list[str] = []
    for label in labels:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._") or "model"
        stem, n = base, 2
        while stem in stems:
            stem, n = f"{base}_{n}", n + 1
        stems.append(stem)
    return stems


def points_to_draw(
    image_models: list[Model], indices: Sequence[int] | None, seed: int
) -> list[int]:
    """Data-set positions whose tangent images are drawn (validated against every dir)."""
    if indices is not None:
        want = [int(i) for i in indices]
        if not want:
            raise DataError("indices is empty; give at least one data-set position")
        for m in image_models:
            stored_ids = m.d.spectra["indices"]
            missing = sorted(set(want) - {int(i) for i in stored_ids})
            if missing:
                sample = ", ".join(str(int(i)) for i in np.sort(stored_ids)[:12])
                raise DataError(
                    f"indices {missing} are not among the {len(stored_ids)} points stored in "
                    f"{m.d.path / SPECTRA} ({m.label}); stored ones include {sample}, ...; "
                    "choose from those or re-analyse with a larger store_points"
                )
        return want
    ids = [{int(i) for i in m.d.spectra["indices"]} for m in image_models]
    common = set.intersection(*ids)
    pool = np.array(sorted(common or ids[0]))
    rng = np.random.default_rng(seed)
    return [int(i) for i in np.sort(rng.choice(pool, size=min(4, len(pool)), replace=False))]


def usable(
    models: Sequence[Model], need: Callable[[Model], T], what: str, log: Log
) -> list[tuple[Model, T]]:
    """The models ``need`` accepts, with what it took; a note for each one left out."""
    kept: list[tuple[Model, T]] = []
    reasons: dict[str, list[str]] = {}  # reason -> the labels it applies to
    for m in models:
        try:
            kept.append((m, need(m)))
        except (Skip, ValueError) as e:
            reasons.setdefault(str(e), []).append(m.label)
    said = [f"{', '.join(labels)}: {reason}" for reason, labels in reasons.items()]
    if not kept:
        raise Skip("; ".join(said))
    for s in said:
        log(f"note: {what}: left out {s}")
    return kept


def _titled(ax: Axes, models: Sequence[Model]) -> None:
    ax.set_title(f"{ax.get_title()}\n{where([m.d.summary for m in models])}")


# ------------------------------------------------------------ one directory


def draw_images(fig: Figure, m: Model, shape: tuple[int, int], chosen: list[int]) -> None:
    idx, inputs, tangents = stored(m, "indices", "inputs", "tangents")
    if "top_values" in m.d.spectra:
        values = m.d.spectra["top_values"]
    else:
        values = stored(m, "singular_values")[0][:, : tangents.shape[1]]
    pos = {int(v): i for i, v in enumerate(idx)}
    rows = np.array([pos[i] for i in chosen if i in pos])
    if len(rows) == 0:
        raise Skip(f"none of the points {chosen} is stored in {m.d.path / SPECTRA}")
    pca = m.d.spectra.get("pca_tangents")
    plot_tangent_images(
        fig, inputs[rows], tangents[rows], values[rows], shape,
        pca_tangents=None if pca is None else pca[rows],
        k=min(MAX_TANGENT_IMAGES, tangents.shape[1]), point_ids=idx[rows],
    )  # fmt: skip
    fig.suptitle(
        f"{m.label}: leading tangents of $J_f$ (σ above each) vs local PCA — "
        f"{where([m.d.summary])}\nred +, blue −, each tangent on its own symmetric scale"
    )


def field_colors(m: Model, idx: np.ndarray) -> tuple[np.ndarray | None, str]:
    """A per-point colour for the stored points: their count, else their ‖J_f‖_F."""
    pts = m.d.points
    if "index" not in pts:
        return None, ""
    row = {int(v): i for i, v in enumerate(pts["index"]) if np.isfinite(v)}
    take = np.array([row.get(int(i), -1) for i in idx])
    threshold = m.d.summary.provenance.analysis.threshold
    for col, name in (
        ("count_above_threshold", f"count of σ > {threshold:g}"),
        ("frobenius_norm", r"$\|J_f(x)\|_F$"),
    ):
        if col in pts and (take >= 0).all():
            c = pts[col][take]
            fin = c[np.isfinite(c)]
            if len(fin) and np.ptp(fin) > 0:  # a constant colour says nothing
                return c, name
    return None, ""


def draw_field(fig: Figure, m: Model) -> None:
    idx, inputs, tangents, values = stored(m, "indices", "inputs", "tangents", "top_values")
    d_x = inputs.shape[1]
    ax = fig.add_subplot(projection="3d" if d_x >= 3 else None)
    color, color_label = field_colors(m, idx)
    true = m.d.spectra.get("true_tangents")
    k = true.shape[1] if true is not None else min(3, tangents.shape[1])  # arrows stay legible
    plot_tangent_field(
        ax, inputs, tangents[:, :k], values[:, :k], color_by=color, color_label=color_label,
        true_tangents=true, n_arrows=min(FIELD_ARROWS, len(inputs)),
    )  # fmt: skip
    if d_x >= 3:
        ax.view_init(elev=18, azim=-75)  # type: ignore[attr-defined]
    ax.set_title(f"{m.label} — {where([m.d.summary])}\n{ax.get_title()}", fontsize=10)


def draw_angles(fig: Figure, m: Model) -> None:
    cae, pca = angle_columns(m)
    angles = m.d.summary.section(AngleSummary)
    ax = fig.add_subplot()
    plot_angle_distributions(
        ax, cae, pca, m.label, k=None if angles is None else angles.k, color=m.color,
        neighbours=m.d.summary.provenance.analysis.pca_neighbors,
    )  # fmt: skip
    _titled(ax, [m])


def draw_unit_saturation(fig: Figure, m: Model) -> None:
    sat = section(m, SaturationSummary)
    ax = fig.add_subplot()
    plot_unit_saturation(ax, sat, m.label, color=m.color)
    _titled(ax, [m])


# ------------------------------------------------------------ overlays


def _checked(m: Model, cls: type[S], *checks: Callable[[S], Any]) -> S:
    """The section ``cls`` of ``m``, once every check accepted it."""
    s = section(m, cls)
    for check in checks:
        check(s)
    return s


def _overlay_args(kept: list[tuple[Model, T]]) -> tuple[list[T], list[str], list[str]]:
    return [x for _, x in kept], [m.label for m, _ in kept], [m.color for m, _ in kept]


def draw_spectra(fig: Figure, models: list[Model], log: Log) -> None:
    kept = usable(models, lambda m: _checked(m, SpectrumSummary, spectrum_curve), "spectrum", log)
    ax = fig.add_subplot()
    for m, spectrum in kept:
        threshold = m.d.summary.provenance.analysis.threshold
        plot_spectrum(ax, spectrum, threshold=threshold, label=m.label, color=m.color)
    _titled(ax, [m for m, _ in kept])


def draw_counts(fig: Figure, models: list[Model], log: Log) -> None:
    kept = usable(
        models, lambda m: _checked(m, CountSummary, count_percent), "count_histogram", log
    )
    counts, labels, colors = _overlay_args(kept)
    ax = fig.add_subplot()
    plot_count_histogram(ax, counts, labels, colors=colors)
    _titled(ax, [m for m, _ in kept])


def draw_contraction(fig: Figure, models: list[Model], log: Log) -> None:
    need = lambda m: _checked(m, ContractionSummary, contraction_curve)  # noqa: E731
    kept = usable(models, need, "contraction", log)
    curves, labels, colors = _overlay_args(kept)
    ax = fig.add_subplot()
    plot_contraction(ax, curves, labels, colors=colors)
    _titled(ax, [m for m, _ in kept])


def draw_saturation(fig: Figure, models: list[Model], log: Log) -> None:
    need = lambda m: _checked(m, SaturationSummary, activation_percent, sat_percent)  # noqa: E731
    kept = usable(models, need, "saturation", log)
    sats, labels, colors = _overlay_args(kept)
    ax_hist, ax_bars = fig.subplots(1, 2, width_ratios=(2, 1))
    plot_activation_histogram(ax_hist, sats, labels, colors=colors)
    plot_sat_bars(ax_bars, sats, labels, colors=colors)
    fig.suptitle(f"Saturation of hidden units — {where([m.d.summary for m, _ in kept])}")


def draw_angle_overlay(fig: Figure, models: list[Model], log: Log) -> None:
    kept = usable(models, angle_columns, "angles", log)
    columns, labels, colors = _overlay_args(kept)
    ax = fig.add_subplot()
    cae = [c for c, _ in columns]
    plot_angle_overlay(ax, cae, labels, reference=columns[0][1], colors=colors)
    _titled(ax, [m for m, _ in kept])


# ------------------------------------------------------------ draw_all


def _check_args(fmt: str, dpi: int, dirs: Sequence[Any], labels: Sequence[str] | None) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"fmt must be one of {', '.join(FORMATS)}; got {fmt!r}")
    if isinstance(dpi, bool) or not isinstance(dpi, int) or dpi < 10:
        raise ConfigError(f"dpi must be an integer >= 10; got {dpi!r}")
    if not dirs:
        raise ConfigError("no analysis directories given")
    if labels is not None and len(labels) != len(dirs):
        raise ConfigError(
            f"got {len(labels)} labels for {len(dirs)} analysis directories; give one per directory"
        )


def _models(dirs: list[AnalysisDir], labels: Sequence[str] | None) -> list[Model]:
    names = [str(s) for s in labels] if labels is not None else [d.label for d in dirs]
    return [
        Model(d, label, stem, color)
        for d, label, stem, color in zip(
            dirs, names, safe_stems(names), model_colors(names), strict=True
        )
    ]


class Planned(NamedTuple):
    """A figure that may apply: its file stem, size in inches and how to draw it."""

    name: str
    size: tuple[float, float]
    draw: Callable[[Figure], None]


def _tangent_figure(m: Model, chosen: list[int], log: Log) -> Planned:
    """Tangent images for image data, else the tangent field."""
    shape, arrays = image_shape(m.d), m.d.spectra
    if shape is None:
        three_d = "inputs" in arrays and arrays["inputs"].shape[-1] >= 3
        size = (8.0, 6.8) if three_d else (7.5, 6.5)
        return Planned(f"tangent_field_{m.stem}", size, lambda f: draw_field(f, m))
    if "inputs" in arrays:
        log(f"note: no tangent field for {m.label}: image data (see tangents_images_{m.stem})")
    k = min(MAX_TANGENT_IMAGES, arrays["tangents"].shape[1]) if "tangents" in arrays else 1
    n_rows = len(chosen) * (2 if "pca_tangents" in arrays else 1)
    size = (0.95 * (1 + k) + 0.3, 1.05 * n_rows + 0.9)
    return Planned(f"tangents_images_{m.stem}", size, lambda f: draw_images(f, m, shape, chosen))


def _plan(models: list[Model], chosen: list[int], log: Log) -> list[Planned]:
    """Every figure that may apply, in drawing order."""
    figures: list[Planned] = []
    for m in models:
        figures += [
            _tangent_figure(m, chosen, log),
            Planned(f"angles_{m.stem}", (7.5, 4.6), lambda f, m=m: draw_angles(f, m)),
            Planned(
                f"unit_saturation_{m.stem}", (7.5, 4.6), lambda f, m=m: draw_unit_saturation(f, m)
            ),
        ]
    figures += [
        Planned("spectrum", (7.5, 5.2), lambda f: draw_spectra(f, models, log)),
        Planned("count_histogram", (7.5, 4.6), lambda f: draw_counts(f, models, log)),
        Planned("contraction", (8.0, 5.2), lambda f: draw_contraction(f, models, log)),
        Planned("saturation", (13.0, 4.8), lambda f: draw_saturation(f, models, log)),
    ]
    if len(models) > 1:
        figures.append(Planned("angles", (8.0, 5.2), lambda f: draw_angle_overlay(f, models, log)))
    return figures


def draw_all(
    analysis_dirs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    fmt: str = "png",
    dpi: int = 120,
    indices: Sequence[int] | None = None,
    labels: Sequence[str] | None = None,
    seed: int = 0,
    log: Log = print,
) -> list[Path]:
    """Draw every figure that applies to the analysis directories and write it into ``out_dir``.

    Per directory: ``tangents_images_<label>`` (image data), ``tangent_field_<label>``
    (d_x <= 3, or PCA-projected non-image data), ``angles_<label>`` (true tangents
    known), ``unit_saturation_<label>``. Across directories: ``spectrum``,
    ``count_histogram``, ``contraction``, ``saturation`` and, with several
    directories of data with true tangents, ``angles``. A figure whose data
    are missing is skipped with a one-line note through ``log``. Each model
    keeps its colour (by model name) in every figure.

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

    Raises:
        ConfigError: for a bad argument. DataError: for a missing or corrupt analysis file.
    """
    _check_args(fmt, dpi, analysis_dirs, labels)
    models = _models([load(p) for p in analysis_dirs], labels)
    image_models = [
        m for m in models
        if image_shape(m.d) is not None and {"indices", "inputs", "tangents"} <= m.d.spectra.keys()
    ]  # fmt: skip
    chosen = points_to_draw(image_models, indices, seed) if image_models else []
    if indices is not None and not image_models:
        log("note: indices given but no directory holds stored image data; they are unused")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with matplotlib.rc_context(RC):
        for name, size, draw in _plan(models, chosen, log):
            fig = Figure(figsize=size, layout="constrained")
            try:
                draw(fig)
            except (Skip, ValueError) as e:
                log(f"skipped {name}: {e}")
                continue
            written.append(save(fig, out / f"{name}.{fmt}", fmt=fmt, dpi=dpi))
    return written
