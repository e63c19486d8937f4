"""Checks that arrays form a usable data set, and that a decoder can reproduce their range.

Everything here raises :class:`DataError` with a message that starts with where the data
came from (a spec or a path) and names the offending value and the fix.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from manifold_cae.data.streaming import row_chunks
from manifold_cae.errors import DataError

if TYPE_CHECKING:
    from manifold_cae.data.dataset import Dataset

ORTHO_TOL = 1e-3  # float32 tangents from files: Gram matrix must be I within this
FLOAT32_MAX = float(np.finfo(np.float32).max)  # X is stored as float32
# A number written as text (a CSV cell, a spec value): plain ASCII decimal or scientific
# notation, inf or nan; not Python's extras ("1_000", full-width digits) that loadtxt refuses.
NUMBER_TEXT = re.compile(
    r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf(inity)?|nan)", re.I
)
INT64_LIMIT = 2.0**63  # labels are stored as int64
MEMINFO = Path("/proc/meminfo")
CGROUP_MEMORY = Path("/sys/fs/cgroup")  # cgroup v2: memory.max and memory.current


def validate(X, *, source: str, y=None, tangents=None, allow_empty: bool = False) -> None:
    """Raise :class:`DataError` unless ``X`` (and ``y``, ``tangents``) form a usable data set.

    Parameters
    ----------
    X : array_like, shape (n_samples, n_features)
        Numeric, finite, with at least one column, and at least one row unless
        ``allow_empty``.
    source : str
        Where the data came from (spec or path); every message starts with it.
    y : array_like, shape (n_samples,), optional
        Integer-valued class labels.
    tangents : array_like, shape (n_samples, k, n_features), optional
        An orthonormal basis of the tangent space at each point (rows).
    allow_empty : bool
        Accept ``n_samples == 0`` (an empty subset); a loaded file with no rows is an error.
    """
    X = _numeric(X, source, "X")
    if X.ndim != 2:
        hint = " reshape to (n, 1) or (1, d)" if X.ndim == 1 else " pass a 2-D array"
        raise DataError(
            f"{source}: X must be 2-D (n_samples, n_features); got {X.ndim}-D array of shape "
            f"{X.shape};{hint}"
        )
    n, d = X.shape
    if d == 0 or (n == 0 and not allow_empty):
        raise DataError(f"{source}: X has shape {X.shape}; it needs at least one row and column")
    _finite(X, source, "X")
    if y is not None:
        _check_labels(y, n, source)
    if tangents is not None:
        _check_tangents(tangents, n, d, source)


def _check_labels(y, n: int, source: str) -> None:
    """``y``: array_like of shape (n,), integer-valued."""
    y = _numeric(y, source, "y")
    if y.shape != (n,):
        raise DataError(f"{source}: y must have shape ({n},) to match X's {n} rows; got {y.shape}")
    if y.dtype.kind == "f":
        _finite(y[:, None], source, "y")
        bad = np.flatnonzero(y != np.round(y))
        if bad.size:
            raise DataError(
                f"{source}: y must hold integer class labels; got {y[bad[0]]!r} at index "
                f"{bad[0]} ({bad.size} non-integer values)"
            )
    if y.dtype.kind in "fu":  # int64 holds every label below 2**63 in size
        big = np.flatnonzero(np.abs(y.astype(np.float64)) >= INT64_LIMIT)
        if big.size:
            raise DataError(
                f"{source}: y holds the label {y[big[0]].item()!r} at index {big[0]}, too large "
                "for int64; class labels must be small integers (e.g. 0 .. n_classes - 1)"
            )


def _check_tangents(tangents, n: int, d: int, source: str) -> None:
    """``tangents``: array_like of shape (n, k, d), orthonormal rows per point."""
    T = _numeric(tangents, source, "tangents")
    if T.ndim != 3 or T.shape[0] != n or T.shape[2] != d or T.shape[1] < 1:
        raise DataError(
            f"{source}: tangents must have shape (n_samples, k, n_features) = ({n}, k, {d}) "
            f"with k >= 1; got {T.shape}"
        )
    _finite(T.reshape(n, T.shape[1] * d), source, "tangents")  # column = j * d + feature
    gram = np.einsum("nkd,nld->nkl", T, T, dtype=np.float64)  # (n, k, k)
    err = np.abs(gram - np.eye(T.shape[1])).max(axis=(1, 2)) if n else np.zeros(0)
    if err.size and err.max() > ORTHO_TOL:
        i = int(err.argmax())
        raise DataError(
            f"{source}: tangent rows must be orthonormal per point; point {i} is off by "
            f"{err[i]:.3g}; orthonormalise them (e.g. np.linalg.qr of each (d, k) basis)"
        )


def _numeric(a, source: str, what: str) -> np.ndarray:
    a = a if isinstance(a, np.ndarray) else np.asarray(a)  # a memmap stays one
    if a.dtype.kind not in "biuf":
        raise DataError(
            f"{source}: {what} must be numeric (bool, int or float); got dtype {a.dtype}"
        )
    return a


def _finite(a: np.ndarray, source: str, what: str) -> None:
    """``a``: shape (n_rows, n_columns), read in chunks; the message names the first bad cell."""
    if a.dtype.kind != "f":  # bool and int values are always finite
        return
    first, count = None, 0
    for start, chunk in row_chunks(a):
        bad = ~np.isfinite(chunk)
        n_bad = int(bad.sum())
        if n_bad and first is None:
            row, col = (int(v) for v in np.argwhere(bad)[0])
            first = (start + row, col)
        count += n_bad
    if first is not None:
        raise DataError(
            f"{source}: {what} has {count} NaN or inf values; the first is at "
            f"(row {first[0]}, column {first[1]}); remove or impute those rows"
        )


def check_range_for_output(ds: Dataset, output: str) -> None:
    """Raise :class:`DataError` when a sigmoid decoder cannot reproduce the data's range."""
    if output not in ("sigmoid", "linear"):
        raise DataError(f"output must be 'sigmoid' or 'linear'; got {output!r}")
    if output == "sigmoid" and not ds.in_unit_interval:
        low, high = ds.value_range  # not None: an empty X is in the unit interval
        raise DataError(
            f"{ds.spec}: values span [{low:.4g}, {high:.4g}] but a sigmoid output "
            "only produces [0, 1]; rescale to [0, 1], or use --output linear"
        )


def available_memory() -> int | None:
    """Bytes of memory this process can still take: MemAvailable, capped by a cgroup limit.

    None when neither is readable (then no size check is made).
    """
    try:
        import psutil
    except ImportError:
        free = _meminfo_available()
    else:
        free = int(psutil.virtual_memory().available)
    try:
        limit = (CGROUP_MEMORY / "memory.max").read_text().strip()
        if limit != "max":
            used = int((CGROUP_MEMORY / "memory.current").read_text())
            room = max(int(limit) - used, 0)
            free = room if free is None else min(free, room)
    except (OSError, ValueError):
        pass
    return free


def _meminfo_available() -> int | None:
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def check_memory(nbytes: float, *, source: str, what: str, fix: str) -> None:
    """Raise :class:`DataError` before allocating ``nbytes`` when memory cannot hold them.

    ``what`` says what the size is (``"1e12 rows of 2 columns"``), ``fix`` what to do instead.
    """
    free = available_memory()
    if free is not None and nbytes > free:
        raise DataError(
            f"{source}: {what} needs about {format_bytes(nbytes)} of memory but only "
            f"{format_bytes(free)} is available; {fix}"
        )


def format_bytes(nbytes: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    units = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    i = 0
    while nbytes >= 1024 and i < len(units) - 1:
        nbytes, i = nbytes / 1024, i + 1
    return f"{nbytes:.3g} {units[i]}"
