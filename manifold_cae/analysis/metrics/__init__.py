"""The analysis metrics, one accumulator per file, and the registry that lists them.

Adding a metric: write ``analysis/metrics/<name>.py`` with a :class:`Metric`
subclass (and its :class:`Section` if it adds to the summary), then add one
line to :data:`REGISTRY`. The engine, ``summary.json``, ``points.csv``,
``spectra.npz`` and a sharded merge pick it up from here.
"""

from manifold_cae.analysis.metrics.angles import Angles, AngleSummary
from manifold_cae.analysis.metrics.base import Chunk, Context, Metric, PerPoint, Section, Stats
from manifold_cae.analysis.metrics.contraction import Contraction, ContractionSummary
from manifold_cae.analysis.metrics.counts import CountAbove, CountSummary
from manifold_cae.analysis.metrics.dimension import DimensionSummary, LocalDimension
from manifold_cae.analysis.metrics.layers import Layers, LayerSummary
from manifold_cae.analysis.metrics.norms import Norms, NormSummary
from manifold_cae.analysis.metrics.saturation import Saturation, SaturationSummary
from manifold_cae.analysis.metrics.spectrum import Spectrum, SpectrumSummary
from manifold_cae.analysis.metrics.stored import Stored
from manifold_cae.analysis.metrics.transformations import Transformations, TransformationSummary

# Order is the order of summary sections and points.csv columns.
REGISTRY: dict[str, type[Metric]] = {
    m.name: m
    for m in (
        Spectrum, CountAbove, LocalDimension, Norms, Saturation, Contraction, Angles,
        Transformations, Layers, Stored,
    )
}  # fmt: skip

__all__ = [
    "REGISTRY",
    "AngleSummary",
    "Angles",
    "Chunk",
    "Context",
    "Contraction",
    "ContractionSummary",
    "CountAbove",
    "CountSummary",
    "DimensionSummary",
    "LayerSummary",
    "Layers",
    "LocalDimension",
    "Metric",
    "NormSummary",
    "Norms",
    "PerPoint",
    "Saturation",
    "SaturationSummary",
    "Section",
    "Spectrum",
    "SpectrumSummary",
    "Stats",
    "Stored",
    "TransformationSummary",
    "Transformations",
]
