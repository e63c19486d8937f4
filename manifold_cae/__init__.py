"""manifold_cae: train contractive autoencoders and analyse the geometry they learn.

The public API is re-exported here; implementation lives in the submodules.
Names are imported on first use (PEP 562), so ``import manifold_cae`` (and the
CLI's ``--help``) does not pay for torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from manifold_cae._version import __version__

# Submodule -> the public names it provides.
_SOURCES: dict[str, tuple[str, ...]] = {
    "analysis": ("AnalysisResult", "AnalysisSummary", "Tangents", "analyze", "tangents"),
    "checkpoint": ("Checkpoint", "load_checkpoint", "load_model", "save_model"),
    "config": (
        "AnalysisConfig", "ArchitectureConfig", "ModelConfig", "ObjectiveConfig", "RunConfig",
        "TrainConfig",
    ),
    "data": ("Dataset", "list_datasets", "load_dataset"),
    "errors": (
        "CheckpointError", "ConfigError", "DataError", "DivergenceError", "ManifoldCAEError",
    ),
    "jacobian": ("encoder_frobenius_sq", "encoder_jacobian"),
    "lam_search": ("LamSearchConfig", "LamSearchResult", "search_lam", "search_of"),
    "models": ("Autoencoder",),
    "objectives": ("LossTerms", "corrupt", "loss_terms"),
    "runs": ("make_run_config", "train_dataset"),
    "stacking": ("load_stack", "prefix", "train_stacked"),
    "train": ("TrainResult", "fit", "init_model"),
}  # fmt: skip
_WHERE = {name: module for module, names in _SOURCES.items() for name in names}

__all__ = [
    "AnalysisConfig",
    "AnalysisResult",
    "AnalysisSummary",
    "ArchitectureConfig",
    "Autoencoder",
    "Checkpoint",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "Dataset",
    "DivergenceError",
    "LamSearchConfig",
    "LamSearchResult",
    "LossTerms",
    "ManifoldCAEError",
    "ModelConfig",
    "ObjectiveConfig",
    "RunConfig",
    "Tangents",
    "TrainConfig",
    "TrainResult",
    "__version__",
    "analyze",
    "corrupt",
    "encoder_frobenius_sq",
    "encoder_jacobian",
    "fit",
    "init_model",
    "list_datasets",
    "load_checkpoint",
    "load_dataset",
    "load_model",
    "load_stack",
    "loss_terms",
    "make_run_config",
    "prefix",
    "save_model",
    "search_lam",
    "search_of",
    "tangents",
    "train_dataset",
    "train_stacked",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'manifold_cae' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"manifold_cae.{_WHERE[name]}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
