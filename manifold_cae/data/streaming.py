"""Out-of-core access to rows: bounded chunks, fingerprints and lazy row views of a memmap.

A ``.npy`` file is opened memory-mapped, so nothing here may read X whole. Every pass over
X goes through :func:`row_chunks` (at most :data:`CHUNK_BYTES` of rows at a time), and a
subset of rows is a :class:`RowView` that reads only the rows asked for. After a chunk is
read, a memmap's pages are handed back to the page cache (``madvise(MADV_DONTNEED)``), so
the process's resident memory stays bounded as well as its allocations.
"""

from __future__ import annotations

import hashlib
import mmap
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from manifold_cae.errors import DataError

CHUNK_BYTES = 64 * 2**20  # one streamed chunk of rows
_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)
# Linux maps in up to 64 KiB of cached pages around each page fault, so a scattered row
# costs that much resident memory, however short it is.
FAULT_AROUND_BYTES = 64 * 2**10


def chunk_rows(n_features: int, itemsize: int) -> int:
    """Rows per chunk: as many as fit in :data:`CHUNK_BYTES`, at least one."""
    return max(1, CHUNK_BYTES // max(1, n_features * itemsize))


def row_chunks(X: Any) -> Iterator[tuple[int, np.ndarray]]:
    """(start, X[start : start + m]) over X's rows, m rows of at most CHUNK_BYTES at a time.

    Args:
        X: (n_samples, ...) array or memmap.

    Yields:
        the first row's index and the chunk, an array of shape (m, ...); a memmap's chunk
        is a view, whose pages are released once the caller moves on to the next.
    """
    n = X.shape[0]
    per_row = int(np.prod(X.shape[1:], dtype=np.int64))
    step = chunk_rows(per_row, X.dtype.itemsize)
    for start in range(0, n, step):
        yield start, np.asarray(X[start : start + step])
        release_pages(X)


def release_pages(X: Any) -> None:
    """Drop a memmap's resident pages; they are re-read from the page cache when touched.

    A no-op for in-memory arrays, and where the platform has no ``madvise``.
    """
    if isinstance(X, RowView):
        X = X.base
    mapping = getattr(X, "_mmap", None)  # np.memmap keeps its mmap.mmap here
    if mapping is None or _DONTNEED is None or not hasattr(mapping, "madvise"):
        return
    try:
        mapping.madvise(_DONTNEED)
    except (OSError, ValueError):  # closed, or refused: only the resident size suffers
        pass


def sha256_rows(X: Any) -> str:
    """SHA-256 of X's C-order bytes, read in chunks: ``sha256(X.tobytes())`` without the copy."""
    digest = hashlib.sha256()
    for _, chunk in row_chunks(X):
        digest.update(np.ascontiguousarray(chunk).data)
    return digest.hexdigest()


def value_range(X: Any) -> tuple[float, float] | None:
    """(min, max) over every value of X, streamed; None when X holds no values."""
    if X.size == 0:
        return None
    lows, highs = zip(*((c.min(), c.max()) for _, c in row_chunks(X) if c.size), strict=True)
    return float(min(lows)), float(max(highs))


class ColumnMoments(NamedTuple):
    """Per-column statistics of X's rows, in float64."""

    n: int  # rows seen
    mean: np.ndarray  # (n_features,)
    var: np.ndarray  # (n_features,) population variance (ddof=0)


def column_moments(X: Any) -> ColumnMoments:
    """Per-column mean and variance of X, streamed through :func:`row_chunks` in float64.

    Each block of rows gets its own two-pass mean and sum of squared deviations, merged
    into the running ones by Chan, Golub and LeVeque's pairwise update, so no float64 copy
    of X is made and no sum of squares cancels against a large mean.

    Args:
        X: (n_samples, n_features) array, memmap or :class:`RowView`, n_samples >= 1.

    Returns:
        :class:`ColumnMoments` with mean and var of shape (n_features,).
    """
    d = X.shape[1]
    n, mean, m2 = 0, np.zeros(d), np.zeros(d)
    step = chunk_rows(d, np.dtype(np.float64).itemsize)  # a float64 block: one chunk's bytes
    for _, chunk in row_chunks(X):
        for i in range(0, len(chunk), step):
            block = chunk[i : i + step].astype(np.float64)  # (m, n_features)
            m = block.shape[0]
            block_mean = block.mean(axis=0)
            block -= block_mean
            delta, total = block_mean - mean, n + m
            mean += delta * (m / total)
            m2 += np.einsum("ij,ij->j", block, block) + delta * delta * (n * m / total)
            n = total
    if n == 0:
        raise DataError(f"column_moments needs at least one row; got shape {X.shape}")
    return ColumnMoments(n, mean, m2 / n)


class RowView:
    """Rows ``rows`` of ``X``, read on demand: ``view[idx]`` is ``X[rows[idx]]``.

    What :func:`~manifold_cae.train.fit` and :func:`~manifold_cae.analysis.analyze` need
    from data (``shape``, ``dtype``, ``len`` and rows by index) without copying a split of a
    memmap into memory. Rows are read in ascending order, as a memmap likes, and returned in
    the order asked for.

    Args:
        X: (n_samples, n_features) array or memmap.
        rows: (m,) int row indices of X.
    """

    def __init__(self, X: Any, rows: np.ndarray) -> None:
        self.base = X
        self.rows = np.asarray(rows, dtype=np.int64)
        self._read = 0  # bytes mapped in since the memmap's pages were last released

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.rows), self.base.shape[1])

    @property
    def dtype(self) -> np.dtype:
        return self.base.dtype

    @property
    def ndim(self) -> int:
        return 2

    @property
    def size(self) -> int:
        return len(self.rows) * self.base.shape[1]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, idx: Any) -> np.ndarray:
        """``X[rows[idx]]`` for an int, a slice or an index array: (m, n_features)."""
        wanted = self.rows[idx]
        if wanted.ndim == 0:
            return np.asarray(self.base[int(wanted)])
        order = np.argsort(wanted, kind="stable")
        out = np.empty((len(wanted), self.base.shape[1]), dtype=self.base.dtype)
        mapped = max(out.itemsize * out.shape[1], FAULT_AROUND_BYTES)  # per scattered row
        step = max(1, CHUNK_BYTES // mapped)
        for i in range(0, len(order), step):  # pieces, so a long read stays bounded too
            piece = order[i : i + step]
            out[piece] = self.base[wanted[piece]]
            self._read += len(piece) * mapped
            if self._read >= CHUNK_BYTES:
                release_pages(self.base)
                self._read = 0
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """The rows in memory, (m, n_features): for callers that need them all at once."""
        out = np.empty(self.shape, dtype=self.dtype)
        for start, chunk in row_chunks(self):
            out[start : start + len(chunk)] = chunk
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"RowView({len(self.rows)} of {self.base.shape[0]} rows, {self.dtype})"


def rows_of(X: Any, rows: np.ndarray) -> Any:
    """X's rows ``rows`` (sorted, unique): X itself for every row, a lazy :class:`RowView` of
    a memmap (or of a RowView's memmap), or a copy of an in-memory array (already the
    cheapest way to index it)."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == X.shape[0]:
        return X
    if isinstance(X, RowView):
        return RowView(X.base, X.rows[rows])
    if isinstance(X, np.memmap):
        return RowView(X, rows)
    return X[rows]
