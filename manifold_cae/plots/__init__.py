"""Figures of an analysis: tangents, spectra, counts, contraction, saturation, angles, sweeps.

This is the only package of manifold_cae that imports matplotlib. It never
touches pyplot's global state: figures are :class:`matplotlib.figure.Figure`
objects, so it works headless (Agg) and in threads.

Every ``plot_*`` function draws into an ``ax`` (or a ``fig`` for multi-panel
figures) from arrays or typed summary sections, and returns the artists it
drew, so plots compose and can be tested. Non-finite points are never
drawn: the functions drop them and raise ``ValueError`` when nothing finite
is left. :func:`draw_all` loads analysis directories (see
:mod:`manifold_cae.report`) and writes every figure that applies; one that
can't be drawn is skipped with a one-line note.

Modules: :mod:`.style` (palette, one colour per model name, captions, shared
helpers), :mod:`.tangents` (images, the field, the unrolled swiss roll),
:mod:`.spectra` (spectrum, count histogram), :mod:`.contraction`,
:mod:`.saturation`, :mod:`.angles`, :mod:`.sweep`, :mod:`.depth` (one layer vs
stacked vs joint encoders), :mod:`.needs` (what each figure takes from an
analysis directory) and :mod:`.figures` (``draw_all``: which figures for which
directories, files).
"""

from manifold_cae.plots.angles import (
    plot_angle_distributions,
    plot_angle_overlay,
    plot_angles_to_local_pca,
)
from manifold_cae.plots.contraction import plot_contraction
from manifold_cae.plots.depth import draw_depth, plot_prefix_norms
from manifold_cae.plots.figures import draw_all
from manifold_cae.plots.saturation import (
    plot_activation_histogram,
    plot_sat_bars,
    plot_unit_saturation,
)
from manifold_cae.plots.spectra import plot_count_histogram, plot_spectrum
from manifold_cae.plots.style import FORMATS, MODEL_COLORS, OKABE_ITO, model_color, model_colors
from manifold_cae.plots.sweep import SweepLine, SweepSeries, draw_sweep, plot_sweep
from manifold_cae.plots.tangents import (
    plot_tangent_field,
    plot_tangent_images,
    plot_tangent_unrolled,
)

__all__ = [
    "FORMATS",
    "MODEL_COLORS",
    "OKABE_ITO",
    "SweepLine",
    "SweepSeries",
    "draw_all",
    "draw_depth",
    "draw_sweep",
    "model_color",
    "model_colors",
    "plot_activation_histogram",
    "plot_angle_distributions",
    "plot_angle_overlay",
    "plot_angles_to_local_pca",
    "plot_contraction",
    "plot_count_histogram",
    "plot_prefix_norms",
    "plot_sat_bars",
    "plot_spectrum",
    "plot_sweep",
    "plot_tangent_field",
    "plot_tangent_images",
    "plot_tangent_unrolled",
    "plot_unit_saturation",
]
