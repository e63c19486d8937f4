"""``draw_all``: which figures apply to which analysis directories, and writing them.

Each figure first takes what it needs from the directories (typed summary
sections, stored arrays, points.csv columns). A directory that lacks it is
left out of an overlay with a note, and a figure nothing is left for is
skipped with a one-line note; nothing is drawn to find that out. Only then
is the figure drawn, once, and written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
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
    DimensionSummary,
    SaturationSummary,
    Section,
    SpectrumSummary,
    TransformationSummary,
)
from manifold_cae.analysis.metrics.transformations import column
from manifold_cae.analysis.transformations import transformation_tangents
from manifold_cae.config import SEED_LIMIT
from manifold_cae.errors import ConfigError
from manifold_cae.plots.angles import (
    plot_angle_distributions,
    plot_angle_overlay,
    plot_angles_to_local_pca,
)
from manifold_cae.plots.contraction import contraction_curve, plot_contraction
from manifold_cae.plots.needs import (
    Model,
    Skip,
    angle_columns,
    image_shape,
    load,
    points_to_draw,
    safe_stems,
    section,
    stored,
    unrolled_chart,
    usable,
)
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
from manifold_cae.plots.style import FORMATS, RC, finite_rows, model_colors, save, where
from manifold_cae.plots.tangents import (
    plot_tangent_field,
    plot_tangent_images,
    plot_tangent_unrolled,
)
from manifold_cae.report import SPECTRA, AnalysisDir

S = TypeVar("S", bound=Section)
T = TypeVar("T")
Log = Callable[[str], None]
MAX_TANGENT_IMAGES = 10  # tangents per row of a tangent-image figure
FIELD_ARROWS = 40  # points with arrows in a tangent field


def _titled(ax: Axes, models: Sequence[Model], points: Sequence[int] | None = None) -> None:
    """Add the caption line: data, split, the points each model shows (default: all
    analysed) and the seed."""
    ax.set_title(f"{ax.get_title()}\n{where([m.d.summary for m in models], points)}")


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
    trans = m.d.summary.section(TransformationSummary)
    true, titles = true_transformations(m, inputs[rows], idx[rows], shape)
    plot_tangent_images(
        fig, inputs[rows], tangents[rows], values[rows], shape,
        pca_tangents=None if pca is None else pca[rows], true_tangents=true, true_titles=titles,
        k=min(MAX_TANGENT_IMAGES, tangents.shape[1]), point_ids=idx[rows],
    )  # fmt: skip
    lines = [f"{m.label}: leading tangents of $J_f$ (σ above each)", "vs local PCA"]
    if trans is not None:
        lines[1] += " and true transformation tangents"
        lines.append(f"(under each: its share in the top {trans.k} tangents' span)")
    lines += [where([m.d.summary], [len(rows)]), "red +, blue −, each on its own symmetric scale"]
    fig.suptitle("\n".join(lines))


def true_transformations(
    m: Model, inputs: np.ndarray, idx: np.ndarray, shape: tuple[int, int]
) -> tuple[np.ndarray | None, list[list[str]] | None]:
    """The true transformation tangents of the stored images, when the analysis measured them.

    Returns (n, n_kinds, d_x) tangents and their titles: the kind, and the share of it the
    model's top-k tangents capture at that point (from points.csv), or (None, None).
    """
    trans = m.d.summary.section(TransformationSummary)
    if trans is None:
        return None, None
    true = transformation_tangents(inputs, shape, trans.kinds, trans.eps)
    pts = m.d.points
    row = {int(v): i for i, v in enumerate(pts.get("index", [])) if np.isfinite(v)}
    shares = [pts.get(column(kind, "cae")) for kind in trans.kinds]  # (n_points,) or None
    titles = []
    for r in (row.get(int(i)) for i in idx):
        titles.append([
            kind.replace("translate_", "shift ")
            + ("" if c is None or r is None or not np.isfinite(c[r]) else f"\n{100 * c[r]:.0f} %")
            for kind, c in zip(trans.kinds, shares, strict=True)
        ])  # fmt: skip
    return true, titles


def field_colors(m: Model, idx: np.ndarray) -> tuple[np.ndarray | None, str]:
    """A per-point colour for the stored points: their count, else their ‖J_f‖_F."""
    pts = m.d.points
    if "index" not in pts:
        return None, ""
    row = {int(v): i for i, v in enumerate(pts["index"]) if np.isfinite(v)}
    take = np.array([row.get(int(i), -1) for i in idx], dtype=np.int64)
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
    shown = [int(finite_rows(inputs, tangents[:, :k], values[:, :k]).sum())]
    ax.set_title(f"{m.label} — {where([m.d.summary], shown)}\n{ax.get_title()}", fontsize=10)


def draw_unrolled(fig: Figure, m: Model) -> None:
    idx, tangents, values, true = stored(m, "indices", "tangents", "top_values", "true_tangents")
    chart = unrolled_chart(m, idx)
    ax = fig.add_subplot()
    k = min(2, tangents.shape[1])
    plot_tangent_unrolled(
        ax, chart, tangents[:, :k], values[:, :k], true,
        axis_labels=("arc length along the spiral, roll units", "height, roll units"),
        n_arrows=min(FIELD_ARROWS, len(idx)),
    )  # fmt: skip
    shown = [int(finite_rows(chart, tangents[:, :k], values[:, :k], true).sum())]
    ax.set_title(f"{m.label} — {where([m.d.summary], shown)}\n{ax.get_title()}", fontsize=10)


def draw_angles(fig: Figure, m: Model) -> None:
    cols = angle_columns(m)
    angles = m.d.summary.section(AngleSummary)
    ax = fig.add_subplot()
    plot = plot_angle_distributions if cols.truth else plot_angles_to_local_pca
    plot(
        ax, cols.model, cols.other, m.label, k=None if angles is None else angles.k,
        color=m.color, neighbours=m.d.summary.provenance.analysis.pca_neighbors,
    )  # fmt: skip
    _titled(ax, [m], [int(np.isfinite(cols.model).sum())])


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
    dims = [m.d.summary.section(DimensionSummary) for m, _ in kept]
    ax = fig.add_subplot()
    plot_count_histogram(
        ax, counts, labels, colors=colors,
        local_dimension=[None if d is None else d.median for d in dims],
    )  # fmt: skip
    _titled(ax, [m for m, _ in kept])


def draw_contraction(fig: Figure, models: list[Model], log: Log) -> None:
    need = lambda m: _checked(m, ContractionSummary, contraction_curve)  # noqa: E731
    kept = usable(models, need, "contraction", log)
    curves, labels, colors = _overlay_args(kept)
    ax = fig.add_subplot()
    plot_contraction(ax, curves, labels, colors=colors)
    _titled(ax, [m for m, _ in kept], [c.n_centres for c in curves])


def draw_saturation(fig: Figure, models: list[Model], log: Log) -> None:
    need = lambda m: _checked(m, SaturationSummary, activation_percent, sat_percent)  # noqa: E731
    kept = usable(models, need, "saturation", log)
    sats, labels, colors = _overlay_args(kept)
    ax_hist, ax_bars = fig.subplots(1, 2, width_ratios=(2, 1))
    plot_activation_histogram(ax_hist, sats, labels, colors=colors)
    plot_sat_bars(ax_bars, sats, labels, colors=colors)
    fig.suptitle(f"Saturation of hidden units\n{where([m.d.summary for m, _ in kept])}")


def draw_angle_overlay(fig: Figure, models: list[Model], log: Log) -> None:
    kept = usable(models, angle_columns, "angles", log)
    if len({c.truth for _, c in kept}) > 1:  # one reference per figure: the truth when known
        left = ", ".join(m.label for m, c in kept if not c.truth)
        log(f"note: angles: left out {left}: its data have no true tangents")
        kept = [(m, c) for m, c in kept if c.truth]
    columns, labels, colors = _overlay_args(kept)
    ax = fig.add_subplot()
    model = [c.model for c in columns]
    reference = columns[0].other if columns[0].truth else None
    ks = [getattr(m.d.summary.section(AngleSummary), "k", None) for m, _ in kept]
    if reference is None:  # without truth each model's k is its own local dimension: say it
        labels = [f"{label}, k = {k}" if k else label for label, k in zip(labels, ks, strict=True)]
    plot_angle_overlay(ax, model, labels, reference=reference, colors=colors)
    if reference is None and len(set(ks)) > 1:
        ax.set_title(f"{ax.get_title()}\nk differs between models, so do the subspaces "
                     "compared: analyse with one --top-k to rank them")  # fmt: skip
    _titled(ax, [m for m, _ in kept], [int(np.isfinite(a).sum()) for a in model])


# ------------------------------------------------------------ draw_all


def _check_args(
    fmt: str, dpi: int, dirs: Sequence[Any], labels: Sequence[str] | None, seed: int
) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise ConfigError(f"seed must be an integer in [0, 2**63), such as 0; got {seed!r}")
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


NotDrawn = Callable[[str, str], None]  # (figure name, why it does not apply)


def _tangent_figure(m: Model, chosen: list[int], not_drawn: NotDrawn) -> Planned:
    """Tangent images for image data, else the tangent field."""
    shape, arrays = image_shape(m.d), m.d.spectra
    if shape is None:
        three_d = "inputs" in arrays and arrays["inputs"].shape[-1] >= 3
        size = (8.0, 6.8) if three_d else (7.5, 6.5)
        return Planned(f"tangent_field_{m.stem}", size, lambda f: draw_field(f, m))
    if "inputs" in arrays:
        not_drawn(f"tangent_field_{m.stem}", "image data: its tangents are drawn as images instead")
    k = min(MAX_TANGENT_IMAGES, arrays["tangents"].shape[1]) if "tangents" in arrays else 1
    trans = m.d.summary.section(TransformationSummary)
    k = max(k, 0 if trans is None else len(trans.kinds))
    n_rows = len(chosen) * (1 + ("pca_tangents" in arrays) + (trans is not None))
    size = (0.95 * (1 + k) + 0.3, 1.05 * n_rows + 1.2)  # the title takes 4 or 5 lines
    return Planned(f"tangents_images_{m.stem}", size, lambda f: draw_images(f, m, shape, chosen))


def _unrolled_figure(m: Model, not_drawn: NotDrawn) -> list[Planned]:
    """The tangents on the unrolled swiss roll, when the analysis is of one with its truth."""
    data, true = m.d.summary.provenance.data, m.d.spectra.get("true_tangents")
    name = f"tangent_unrolled_{m.stem}"
    if data is None or data.name != "swiss-roll":
        if "tangents" in m.d.spectra:
            not_drawn(name, "the data are not the swiss roll, the one manifold drawn unrolled")
        return []
    if true is None or true.shape[1] != 2:
        not_drawn(name, f"{SPECTRA} lacks the true tangents")
        return []
    return [Planned(name, (8.5, 4.4), lambda f: draw_unrolled(f, m))]


def _plan(models: list[Model], chosen: list[int], log: Log, not_drawn: NotDrawn) -> list[Planned]:
    """Every figure that may apply, in drawing order; ``not_drawn`` hears of those that don't."""
    figures: list[Planned] = []
    for m in models:
        figures += [
            _tangent_figure(m, chosen, not_drawn),
            *_unrolled_figure(m, not_drawn),
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


def _said_once(skipped: dict[str, list[str]], stems: Sequence[str]) -> list[str]:
    """One line per reason: 'skipped angles_{ae,cae}: why' (per-model names grouped)."""
    lines = []
    for reason, names in skipped.items():
        kinds: dict[str, list[str]] = {}
        for name in names:
            stem = next((s for s in stems if name.endswith(f"_{s}")), None)
            kind = name[: -len(stem) - 1] if stem else name
            kinds.setdefault(kind, []).append(stem or "")
        shown = []
        for kind, of in kinds.items():
            if of == [""]:  # an overlay
                shown.append(kind)
            else:
                shown.append(f"{kind}_{of[0]}" if len(of) == 1 else f"{kind}_{{{','.join(of)}}}")
        lines.append(f"skipped {', '.join(shown)}: {reason}")
    return lines


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
    _check_args(fmt, dpi, analysis_dirs, labels, seed)
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
    skipped: dict[str, list[str]] = {}  # why -> the figures it keeps from being drawn

    def not_drawn(name: str, why: str) -> None:
        skipped.setdefault(why, []).append(name)

    with matplotlib.rc_context(RC):
        for name, size, draw in _plan(models, chosen, log, not_drawn):
            fig = Figure(figsize=size, layout="constrained")
            try:
                draw(fig)
            except (Skip, ValueError) as e:
                not_drawn(name, str(e))
                continue
            written.append(save(fig, out / f"{name}.{fmt}", fmt=fmt, dpi=dpi))
    for line in _said_once(skipped, [m.stem for m in models]):
        log(line)
    return written
