"""User data files: .npy, .csv and .npz, read without pickle, with errors that name the fix.

A .npy header (and each array's header inside an .npz) is read first, so a file that needs
pickle, lies about its size or would not fit in memory is refused before anything is loaded.
A .npy of float32 in C order is memory-mapped and never loaded whole (out of core); any
other .npy is mapped too, then converted to float32 in memory.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from manifold_cae.data.csvfile import read_csv
from manifold_cae.data.dataset import Dataset
from manifold_cae.data.validation import check_memory, format_bytes
from manifold_cae.errors import DataError

FILE_FORMATS: dict[str, str] = {  # suffix: what the file holds (``manifold-cae datasets``)
    ".npy": "2-D array X (n_samples, n_features)",
    ".csv": "numeric comma-separated rows, optional header row",
    ".npz": "arrays X, optional y (labels) and tangents (n, k, d)",
}
NPZ_ARRAYS = ("X", "y", "tangents")
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
CSV_PEAK_PER_BYTE = 6  # the bytes, the decoded text, its lines and the float64 array
FLOAT32_BYTES = 4  # X is kept as float32
NPZ_PEAK_PER_BYTE = 1.5  # an .npz array is read whole, then X's float32 copy (from float64)
SAVE_NPY = "save a numeric array instead: np.save(path, np.asarray(X, dtype=np.float32))"


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
        raise DataError(f"{path} is not a file (a directory?); pass the data file itself")
    size = path.stat().st_size
    if size == 0:
        raise DataError(
            f"{path} is empty (0 bytes); write the data into it (np.save, np.savetxt, np.savez)"
        )
    y = tangents = None
    with open_binary(path) as f:
        if suffix == ".csv":
            what = f"reading this {format_bytes(size)} CSV"
            fix = "convert it to .npy in chunks and load the .npy"
            check_memory(CSV_PEAK_PER_BYTE * size, source=str(path), what=what, fix=fix)
            X = read_csv(path, f.read())
        elif suffix == ".npy":
            X = _read_npy(path, f, size)
        else:
            X, y, tangents = _read_npz(path, f)
    return Dataset.from_arrays(X, y=y, tangents=tangents, spec=str(path), name=path.name)


def open_binary(path: Path) -> BinaryIO:
    """``path`` opened for reading bytes, or a :class:`DataError` that says why it cannot be."""
    try:
        return open(path, "rb")  # the caller closes it
    except PermissionError:
        raise DataError(
            f"{path}: permission denied; make it readable (chmod u+r) or copy it somewhere "
            "you can read"
        ) from None
    except OSError as e:
        raise DataError(f"{path}: cannot open it ({e.strerror or e}); check the path") from None


def _read_npy(path: Path, f: BinaryIO, size: int) -> np.ndarray:
    start = f.read(len(NPY_MAGIC))
    if start.startswith(ZIP_MAGIC[:2]):
        raise DataError(f"{path} is an .npz archive named .npy; rename it to .npz")
    if start != NPY_MAGIC:
        raise DataError(
            f"{path}: cannot read it: not a .npy file (it does not start with the .npy "
            f"signature); {SAVE_NPY}"
        )
    f.seek(0)
    nbytes = _header(f, size, where=str(path))
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False) if nbytes else None
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: cannot read it ({e}); is it corrupt? {SAVE_NPY}") from None
    if X is None or X.dtype.kind not in "biuf":
        f.seek(0)  # nothing to map, or refused by validation with its own message
        return _read_array(f, where=str(path))
    if X.dtype != np.float32 or not X.flags.c_contiguous:
        _check_fits(path, X.size * FLOAT32_BYTES, "its array as float32")
    return X  # float32 in C order is read from disk as needed, never whole


def _read_npz(path: Path, f: BinaryIO) -> tuple:
    """(X, y or None, tangents or None) from the .npz file open as ``f``."""
    start = f.read(len(ZIP_MAGIC))
    if start.startswith(NPY_MAGIC[:4]):
        raise DataError(f"{path} holds a single .npy array; rename it to .npy")
    f.seek(0)
    try:
        archive = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise DataError(
            f"{path}: cannot read it as .npz ({e}); is it corrupt? Write an .npz with "
            "np.savez(path, X=X)"
        ) from None
    with archive:
        members = {name.removesuffix(".npy"): name for name in archive.namelist()}
        if "X" not in members:
            raise DataError(
                f"{path}: no array named 'X'; keys present: {sorted(members) or 'none'}"
            )
        extra = sorted(set(members) - set(NPZ_ARRAYS))
        if extra:
            raise DataError(
                f"{path}: unexpected arrays {extra}; an .npz holds X and optionally y (labels) "
                "and tangents: rename or drop the others"
            )
        infos = {key: archive.getinfo(members[key]) for key in NPZ_ARRAYS if key in members}
        headers = {key: _member_header(path, archive, info) for key, info in infos.items()}
        _check_fits(path, sum(headers.values()) * NPZ_PEAK_PER_BYTE, "its arrays")
        arrays = {}
        for key, info in infos.items():
            with archive.open(info) as member:
                arrays[key] = _read_array(member, where=f"{path} (array {key!r})")
    return tuple(arrays.get(key) for key in NPZ_ARRAYS)


def _member_header(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> int:
    try:
        with archive.open(info) as member:
            where = f"{path} (array {info.filename.removesuffix('.npy')!r})"
            return _header(member, info.file_size, where=where)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read it as .npz ({e}); is it corrupt?") from None


def _header(f: BinaryIO, size: int, *, where: str) -> int:
    """The bytes of the array's data, from the .npy header at ``f``'s start.

    Raises for a header that is corrupt, that needs pickle or that disagrees with ``size``.
    """
    try:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else None
        shape, _, dtype = (read or np.lib.format.read_array_header_2_0)(f)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(
            f"{where}: cannot read its .npy header ({e}); the file is corrupt: {SAVE_NPY}"
        ) from None
    if dtype.hasobject:
        raise DataError(
            f"{where}: cannot read it: it holds Python objects (dtype {dtype}), which only "
            f"pickle can load, and this loader never unpickles; {SAVE_NPY}"
        )
    nbytes = math.prod(shape) * dtype.itemsize
    body = size - f.tell()
    if body != nbytes:
        what = "truncated" if body < nbytes else "longer than its header says"
        raise DataError(
            f"{where} is {what}: its header says shape {shape} of {dtype}, {nbytes} bytes, "
            f"but {body} bytes follow it; the file is corrupt: re-save it with np.save"
        )
    return nbytes


def _check_fits(path: Path, nbytes: float, what: str) -> None:
    check_memory(
        nbytes,
        source=str(path),
        what=f"loading {what}",
        fix=(
            "load fewer rows: memory-map it and save a slice, e.g. "
            "np.save('part.npy', np.load(path, mmap_mode='r')[:100_000]); a .npy of "
            "float32 in C order is read from disk as needed, whatever its size"
        ),
    )


def _read_array(f: BinaryIO, *, where: str) -> np.ndarray:
    """The array of the .npy stream ``f``, whose header has been checked."""
    try:
        return np.lib.format.read_array(f, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"{where}: cannot read it ({e}); is it corrupt? {SAVE_NPY}") from None
