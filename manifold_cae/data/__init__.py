"""Data: built-in manifolds with their true tangents, real image sets, user files, validation.

Every loader ends in a :class:`Dataset`, whose construction validates the arrays once, so
the rest of the package can trust them: ``X`` is finite float32, C-contiguous, of shape
``(n_samples, n_features)``. :func:`load_dataset` turns the CLI's ``--data SPEC`` into one.

The modules, one job each: ``validation`` (checks, memory), ``dataset`` (the container and
splits), ``synthetic`` (manifolds), ``real`` (image sets), ``files`` (user files),
``csvfile`` (CSV text), ``registry`` (the named data sets and spec parsing) and
``streaming`` (chunked passes and lazy row views, so a memory-mapped .npy is never read
whole). Sizes are checked against the memory available before anything large is allocated.
"""

from manifold_cae.data.dataset import Dataset, Split, train_test_split_indices
from manifold_cae.data.files import FILE_FORMATS, load_file
from manifold_cae.data.real import load_digits_data, load_mnist5k, load_mnist_idx
from manifold_cae.data.registry import DatasetInfo, list_datasets, load_dataset
from manifold_cae.data.streaming import RowView, rows_of
from manifold_cae.data.synthetic import (
    Manifold,
    circle,
    helix,
    sphere,
    swiss_roll,
    swiss_roll_unrolled,
    torus,
)
from manifold_cae.data.validation import check_memory, check_range_for_output, validate

__all__ = [
    "FILE_FORMATS",
    "Dataset",
    "DatasetInfo",
    "Manifold",
    "RowView",
    "Split",
    "check_memory",
    "check_range_for_output",
    "circle",
    "helix",
    "list_datasets",
    "load_dataset",
    "load_digits_data",
    "load_file",
    "load_mnist5k",
    "load_mnist_idx",
    "rows_of",
    "sphere",
    "swiss_roll",
    "swiss_roll_unrolled",
    "torus",
    "train_test_split_indices",
    "validate",
]
