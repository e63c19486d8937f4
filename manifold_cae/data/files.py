"""User data files: .npy, .csv and .npz, read without pickle, with errors that name the line."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from manifold_cae.data.dataset import Dataset
from manifold_cae.errors import DataError

FILE_FORMATS: dict[str, str] = {  # suffix: what the file holds (``manifold-cae datasets``)
    ".npy": "2-D array X (n_samples, n_features)",
    ".csv": "numeric comma-separated rows, optional header row",
    ".npz": "arrays X, optional y (labels) and tangents (n, k, d)",
}


def load_file(path) -> Dataset:
    """Load X (and optionally y, tangents) from a .npy, .csv or .npz file.

    .npy holds X, shape (n_samples, n_features). .csv holds numeric comma-separated rows, with
    an optional header row. .npz holds ``X``, optional ``y`` of shape (n_samples,) and optional
    ``tangents`` of shape (n_samples, k, n_features). Pickled objects are never loaded.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in FILE_FORMATS:
        raise DataError(
            f"{path}: unsupported file format {path.suffix!r}; supported: {', '.join(FILE_FORMATS)}"
        )
    if not path.is_file():
        raise DataError(f"{path} is not a file")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty (0 bytes)")
    y = tangents = None
    if suffix == ".csv":
        X = _read_csv(path)
    else:
        try:
            loaded = np.load(path, allow_pickle=False)
        except Exception as e:  # corrupt bytes surface as ValueError, OSError, BadZipFile, ...
            raise DataError(f"{path}: cannot read it as {suffix} ({e}); is it corrupt?") from e
        if suffix == ".npy":
            if not isinstance(loaded, np.ndarray):
                raise DataError(f"{path} is an .npz archive named .npy; rename it to .npz")
            X = loaded
        else:
            if isinstance(loaded, np.ndarray):
                raise DataError(f"{path} holds a single .npy array; rename it to .npy")
            X, y, tangents = _read_npz(path, loaded)
    return Dataset.from_arrays(X, y=y, tangents=tangents, spec=str(path), name=path.name)


def _read_npz(path: Path, archive) -> tuple:
    """(X, y or None, tangents or None) from an open .npz archive, which it closes."""
    with archive:
        keys = sorted(archive.files)
        if "X" not in keys:
            raise DataError(f"{path}: no array named 'X'; keys present: {keys or 'none'}")
        try:
            return tuple(archive[k] if k in keys else None for k in ("X", "y", "tangents"))
        except Exception as e:
            raise DataError(f"{path}: cannot read its arrays ({e}); is the file corrupt?") from e


def _read_csv(path: Path) -> np.ndarray:
    """X of shape (n_rows, n_columns), float64."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a UTF-8 text file ({e})") from e
    start = 0 if _parses(lines[0]) else 1  # a first row that is not numbers is a header
    if not any(line.strip() for line in lines[start:]):
        raise DataError(f"{path}: no data rows (only a header or blank lines)")
    try:
        return np.loadtxt(lines[start:], delimiter=",", dtype=np.float64, ndmin=2, comments=None)
    except ValueError as e:
        _locate_csv_error(path, lines, start)  # raises with a line number when it can
        raise DataError(f"{path}: cannot parse as numeric CSV ({e})") from e


def _parses(line: str) -> bool:
    try:
        [float(c) for c in line.split(",")]
    except ValueError:
        return False
    return True


def _locate_csv_error(path: Path, lines: list[str], start: int) -> None:
    width = first = None
    for lineno, line in enumerate(lines[start:], start + 1):
        if not line.strip():
            continue
        cells = line.split(",")
        if width is None:
            width, first = len(cells), lineno
        elif len(cells) != width:
            raise DataError(
                f"{path}, line {lineno}: {len(cells)} values but line {first} has {width}; "
                "every row needs the same number of columns"
            )
        for j, cell in enumerate(cells, 1):
            try:
                float(cell)
            except ValueError:
                raise DataError(
                    f"{path}, line {lineno}, column {j}: cannot parse {cell.strip()!r} as a "
                    "number; every cell must be numeric"
                ) from None
