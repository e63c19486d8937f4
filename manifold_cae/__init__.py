"""manifold_cae: train contractive autoencoders and analyse the geometry they learn.

The public API is re-exported here; implementation lives in the submodules.
"""

from manifold_cae._version import __version__
from manifold_cae.analysis import AnalysisResult, analyze
from manifold_cae.checkpoint import Checkpoint, load_checkpoint, load_model, save_model
from manifold_cae.config import (
    AnalysisConfig,
    ModelConfig,
    ObjectiveConfig,
    RunConfig,
    TrainConfig,
)
from manifold_cae.data import Dataset, list_datasets, load_dataset
from manifold_cae.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    DivergenceError,
    ManifoldCAEError,
)
from manifold_cae.jacobian import encoder_frobenius_sq, encoder_jacobian
from manifold_cae.models import Autoencoder
from manifold_cae.objectives import LossTerms, corrupt, loss_terms
from manifold_cae.runs import make_run_config, train_dataset
from manifold_cae.train import TrainResult, fit, init_model

__all__ = [
    "AnalysisConfig",
    "AnalysisResult",
    "Autoencoder",
    "Checkpoint",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "Dataset",
    "DivergenceError",
    "LossTerms",
    "ManifoldCAEError",
    "ModelConfig",
    "ObjectiveConfig",
    "RunConfig",
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
    "loss_terms",
    "make_run_config",
    "save_model",
    "train_dataset",
]
