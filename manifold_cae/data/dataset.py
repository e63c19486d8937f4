"""The :class:`Dataset` every loader returns, and seeded train/test splits of its rows."""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import InitVar, dataclass
from typing import NamedTuple

import numpy as np

from manifold_cae.data.streaming import row_chunks, sha256_rows, value_range
from manifold_cae.data.validation import validate
from manifold_cae.errors import DataError


@dataclass(frozen=True)
class Dataset:
    """A validated data set. Construction checks the arrays once and converts them.

    Loaders build it through :meth:`from_arrays` (``allow_empty=False``): a file with no
    rows is an error, while an empty subset of a valid data set is not.
    """

    X: np.ndarray  # (n_samples, n_features) float32, C-contiguous
    y: np.ndarray | None  # (n_samples,) int64 labels
    tangents: np.ndarray | None  # (n_samples, k, n_features) float32, orthonormal rows
    spec: str  # the spec string it was loaded from
    name: str  # short name: "swiss-roll", "digits", a file name
    image_shape: tuple[int, int] | None = None  # (rows, cols) when X holds flattened images
    params: np.ndarray | None = None  # (n_samples, k) intrinsic coordinates (synthetic only)
    allow_empty: InitVar[bool] = True  # init-only, not stored: accept n_samples == 0

    def __post_init__(self, allow_empty: bool) -> None:
        validate(
            self.X, source=self.spec, y=self.y, tangents=self.tangents, allow_empty=allow_empty
        )
        object.__setattr__(self, "X", _as_float32(self.X, self.spec))
        if self.y is not None:
            object.__setattr__(self, "y", np.asarray(self.y).astype(np.int64))
        if self.tangents is not None:
            T = np.ascontiguousarray(self.tangents, dtype=np.float32)
            object.__setattr__(self, "tangents", T)
        if self.image_shape is not None:
            shape = tuple(int(s) for s in self.image_shape)
            if len(shape) != 2 or shape[0] * shape[1] != self.X.shape[1]:
                raise DataError(
                    f"{self.spec}: image_shape {self.image_shape} does not match "
                    f"n_features={self.X.shape[1]}"
                )
            object.__setattr__(self, "image_shape", shape)

    @classmethod
    def from_arrays(
        cls, X, *, spec: str, name: str, y=None, tangents=None, image_shape=None, params=None
    ) -> Dataset:
        """The loaders' constructor: like ``Dataset(...)``, but X needs at least one row.

        Shapes as the fields: X (n_samples, n_features), y (n_samples,), tangents
        (n_samples, k, n_features), params (n_samples, k).
        """
        return cls(X, y, tangents, spec, name, image_shape, params, allow_empty=False)

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def intrinsic_dim(self) -> int | None:
        """k, the number of tangent directions, or None without tangents."""
        return None if self.tangents is None else self.tangents.shape[1]

    @functools.cached_property
    def value_range(self) -> tuple[float, float] | None:
        """(min, max) of X, read in chunks once; None when X holds no values."""
        return value_range(self.X)

    @property
    def in_unit_interval(self) -> bool:
        """True when every value of X lies in [0, 1] (what a sigmoid decoder can produce)."""
        span = self.value_range
        return span is None or (span[0] >= 0 and span[1] <= 1)

    @functools.cached_property
    def sha256(self) -> str:
        """SHA-256 of X's float32 C-order bytes, read in chunks once: X's fingerprint."""
        return sha256_rows(self.X)

    def subset(self, indices: np.ndarray) -> Dataset:
        """The rows ``indices``: ints of shape (m,), or a boolean mask of shape (n_samples,)."""
        idx = np.asarray(indices)
        idx = idx.astype(np.int64) if idx.size == 0 else idx
        if idx.ndim != 1 or idx.dtype.kind not in "biu":
            raise DataError(
                f"{self.spec}: indices must be 1-D int or bool; got {idx.dtype} "
                f"of shape {idx.shape}"
            )
        try:
            X = self.X[idx]
        except IndexError as e:
            raise DataError(f"{self.spec}: bad indices for {self.n_samples} rows: {e}") from e

        def take(a):
            return None if a is None else a[idx]

        return derived(
            self, X=X, y=take(self.y), tangents=take(self.tangents), params=take(self.params)
        )

    def provenance(self) -> dict:
        """JSON-ready record of where the data came from, with a fingerprint of X."""
        return {
            "spec": self.spec,
            "name": self.name,
            "n_samples": self.n_samples,
            "n_features": self.n_features,
            "sha256": self.sha256,
            "has_labels": self.y is not None,
            "has_tangents": self.tangents is not None,
        }


def _as_float32(X: np.ndarray, spec: str) -> np.ndarray:
    """X as C-contiguous float32; a float32 memmap stays one, so it is never read whole."""
    if isinstance(X, np.memmap) and X.dtype == np.float32 and X.flags.c_contiguous:
        return X
    with np.errstate(over="ignore"):
        X32 = np.ascontiguousarray(X, dtype=np.float32)
    if X32.dtype == np.asarray(X).dtype:
        return X32  # validate() has found it finite already
    for start, chunk in row_chunks(X32):
        bad = ~np.isfinite(chunk)
        if bad.any():
            row, col = (int(v) for v in np.argwhere(bad)[0])
            raise DataError(
                f"{spec}: values overflow float32 (|x| > 3.4e38), the first "
                f"{np.asarray(X)[start + row, col].item()!r} at (row {start + row}, column "
                f"{col}); rescale X"
            )
    return X32


def derived(ds: Dataset, **changes) -> Dataset:
    """A copy of ``ds`` with ``changes`` (rows or names of its already validated arrays).

    Rows of valid arrays are valid, so the copy is not checked again: each array is
    validated once, when its :class:`Dataset` is first built.
    """
    fields = {f.name for f in dataclasses.fields(Dataset)}
    if not set(changes) <= fields:
        raise TypeError(f"unknown Dataset fields {sorted(set(changes) - fields)}")
    new = object.__new__(Dataset)
    for name in fields:
        object.__setattr__(new, name, changes.get(name, getattr(ds, name)))
    return new


class Split(NamedTuple):
    """Row indices of a train/test split, each sorted ascending, int64."""

    train: np.ndarray  # (n_train,)
    test: np.ndarray  # (n_test,)


def train_test_split_indices(n_samples: int, held_out: float, *, seed: int) -> Split:
    """Hold out ``round(held_out * n_samples)`` random rows (at least 1 when held_out > 0).

    Parameters
    ----------
    n_samples : int
    held_out : float in [0, 1)
    seed : int
        Seeds ``np.random.default_rng`` for the permutation.

    Returns
    -------
    Split
        ``train`` of shape (n_train,) and ``test`` of shape (n_test,), int64 row indices;
        ``test`` is empty when held_out is 0.
    """
    if n_samples < 1:
        raise DataError(f"n_samples must be >= 1; got {n_samples}")
    if not (math.isfinite(held_out) and 0 <= held_out < 1):
        raise DataError(f"held_out must be in [0, 1); got {held_out}")
    n_test = round(held_out * n_samples)
    if held_out > 0:
        n_test = max(n_test, 1)
    if n_test >= n_samples:
        raise DataError(
            f"held_out={held_out} keeps {n_test} of {n_samples} samples out, leaving none "
            "to train on; lower held_out or use more data"
        )
    perm = np.random.default_rng(seed).permutation(n_samples)
    return Split(np.sort(perm[n_test:]).astype(np.int64), np.sort(perm[:n_test]).astype(np.int64))
