"""Jacobian spectral analysis: spectra, tangents, counts, contraction, saturation."""

from manifold_cae.analysis.contraction import ContractionCurve, contraction_curve
from manifold_cae.analysis.engine import AnalysisResult, analyze
from manifold_cae.analysis.local_pca import local_pca_tangents, principal_angles
from manifold_cae.analysis.saturation import Saturation, saturation
from manifold_cae.analysis.spectra import (
    FactoredJacobian,
    TopSingular,
    fix_signs,
    full_spectrum,
    top_singular,
)
from manifold_cae.analysis.summary import AnalysisSummary, DataInfo, Provenance
from manifold_cae.analysis.tangent_space import Tangents, tangents
from manifold_cae.analysis.transformations import (
    TRANSFORMATIONS,
    CapturedEnergy,
    captured_energy,
    transformation_tangents,
)

__all__ = [
    "TRANSFORMATIONS",
    "AnalysisResult",
    "AnalysisSummary",
    "CapturedEnergy",
    "ContractionCurve",
    "DataInfo",
    "FactoredJacobian",
    "Provenance",
    "Saturation",
    "Tangents",
    "TopSingular",
    "analyze",
    "captured_energy",
    "contraction_curve",
    "fix_signs",
    "full_spectrum",
    "local_pca_tangents",
    "principal_angles",
    "saturation",
    "tangents",
    "top_singular",
    "transformation_tangents",
]
