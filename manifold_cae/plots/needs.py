"""What each figure needs from an analysis directory, taken before anything is drawn.

A figure asks for typed summary sections, stored arrays or points.csv columns;
a directory that lacks them raises :class:`Skip` with the reason, which
:func:`~manifold_cae.plots.figures.draw_all` turns into a one-line note.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import numpy as np

from manifold_cae.analysis.metrics import Section
from manifold_cae.errors import DataError
from manifold_cae.report import POINTS, SPECTRA, AnalysisDir, load_analysis

S = TypeVar("S", bound=Section)
T = TypeVar("T")
Log = Callable[[str], None]


class Skip(Exception):
    """A figure (or one model of an overlay) can't be drawn from what the directory holds."""


@dataclass(frozen=True)
class Model:
    """One analysis directory as the figures see it."""

    d: AnalysisDir
    label: str
    stem: str  # file-name-safe label
    color: str


# ------------------------------------------------------------ what a figure needs


def section(m: Model, cls: type[S]) -> S:
    s = m.d.summary.section(cls)
    if s is None:
        raise Skip(f"{m.d.path / 'summary.json'} has no {cls.__name__} section")
    return s


def stored(m: Model, *keys: str) -> list[np.ndarray]:
    """Arrays of spectra.npz; ``Skip`` naming those that are missing."""
    if not (m.d.path / SPECTRA).is_file():
        raise Skip(f"{SPECTRA} is missing")
    missing = [k for k in keys if k not in m.d.spectra]
    if missing:
        raise Skip(f"{SPECTRA} lacks {', '.join(missing)}")
    arrays = [m.d.spectra[k] for k in keys]
    if any(a.ndim and len(a) == 0 for a in arrays):
        raise Skip(
            f"{SPECTRA} stores no points (analysed with --store-points 0); re-run "
            "'manifold-cae analyze' with --store-points N to draw them"
        )
    return arrays


class AngleColumns(NamedTuple):
    """Per-point tangent angles from points.csv, degrees, (n_points,) each."""

    truth: bool  # True: angles to the true tangents; False: to local PCA (no truth known)
    model: np.ndarray  # the encoder's angle to the truth, or its mean angle to local PCA
    other: np.ndarray  # local PCA's angle to the truth, or the encoder's largest to local PCA


def angle_columns(m: Model) -> AngleColumns:
    """The angles to the truth when known, else the encoder's angles to local PCA."""
    if not (m.d.path / POINTS).is_file():
        raise Skip(f"{POINTS} is missing")
    pts = m.d.points
    if "angle_cae_deg" in pts and "angle_local_pca_deg" in pts:
        return AngleColumns(True, pts["angle_cae_deg"], pts["angle_local_pca_deg"])
    if "angle_cae_vs_local_pca_mean_deg" in pts:
        largest = pts["angle_cae_vs_local_pca_deg"]
        return AngleColumns(False, pts["angle_cae_vs_local_pca_mean_deg"], largest)
    if "angle_cae_vs_local_pca_deg" in pts:
        raise Skip(
            "the data have no true tangents and this analysis predates the mean angle to "
            "local PCA; re-run 'manifold-cae analyze' to get it"
        )
    raise Skip("no tangent angles: the data have no true tangents and local PCA was skipped")


# spectra.npz arrays: dimensions, and whether they hold integers
STORED_ARRAYS = {
    "indices": (1, True),
    "inputs": (2, False),
    "tangents": (3, False),
    "pca_tangents": (3, False),
    "top_values": (2, False),
    "singular_values": (2, False),
    "true_tangents": (3, False),
}


def load(path: str | os.PathLike[str]) -> AnalysisDir:
    """:func:`load_analysis`, and a ``DataError`` for a spectra.npz of the wrong arrays."""
    d = load_analysis(path)
    n_stored = {len(a) for a in d.spectra.values() if isinstance(a, np.ndarray) and a.ndim}
    for name, (ndim, integer) in STORED_ARRAYS.items():
        a = d.spectra.get(name)
        if a is None:
            continue
        kinds = "iu" if integer else "iuf"
        if not isinstance(a, np.ndarray) or a.dtype.kind not in kinds or a.ndim != ndim:
            what = "integer" if integer else "numeric"
            raise DataError(
                f"{d.path / SPECTRA}: {name!r} is not a {what} array of {ndim} dimension(s); "
                "the file is damaged: re-run 'manifold-cae analyze'"
            )
    if len(n_stored) > 1:
        raise DataError(
            f"{d.path / SPECTRA}: its arrays disagree on the number of stored points "
            f"({sorted(n_stored)}); the file is damaged: re-run 'manifold-cae analyze'"
        )
    return d


def image_shape(d: AnalysisDir) -> tuple[int, int] | None:
    """(rows, cols) of image data, else None."""
    prov = d.summary.provenance
    shape = prov.image_shape or prov.analysis.image_shape  # the data set's, else as given
    if shape is not None or prov.data is not None:
        return shape  # analysed from a data set, which said whether it is images
    inputs = d.spectra.get("inputs")
    d_x = inputs.shape[1] if inputs is not None and inputs.ndim == 2 else prov.model.n_features
    side = math.isqrt(d_x)
    return (side, side) if d_x >= 16 and side * side == d_x else None


def safe_stems(labels: Sequence[str]) -> list[str]:
    """File-name-safe, unique stems for the labels."""
    stems: list[str] = []
    for label in labels:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._") or "model"
        stem, n = base, 2
        while stem in stems:
            stem, n = f"{base}_{n}", n + 1
        stems.append(stem)
    return stems


def points_to_draw(
    image_models: list[Model], indices: Sequence[int] | None, seed: int
) -> list[int]:
    """Data-set positions whose tangent images are drawn (validated against every dir)."""
    if indices is not None:
        want = [int(i) for i in indices]
        if not want:
            raise DataError("indices is empty; give at least one data-set position")
        for m in image_models:
            stored_ids = m.d.spectra["indices"]
            missing = sorted(set(want) - {int(i) for i in stored_ids})
            if missing:
                sample = ", ".join(str(int(i)) for i in np.sort(stored_ids)[:12])
                raise DataError(
                    f"indices {missing} are not among the {len(stored_ids)} points stored in "
                    f"{m.d.path / SPECTRA} ({m.label}); stored ones include {sample}, ...; "
                    "choose from those or re-analyse with a larger store_points"
                )
        return want
    ids = [{int(i) for i in m.d.spectra["indices"]} for m in image_models]
    common = set.intersection(*ids)
    pool = np.array(sorted(common or ids[0]))
    rng = np.random.default_rng(seed)
    return [int(i) for i in np.sort(rng.choice(pool, size=min(4, len(pool)), replace=False))]


def usable(
    models: Sequence[Model], need: Callable[[Model], T], what: str, log: Log
) -> list[tuple[Model, T]]:
    """The models ``need`` accepts, with what it took; a note for each one left out."""
    kept: list[tuple[Model, T]] = []
    reasons: dict[str, list[str]] = {}  # reason -> the labels it applies to
    for m in models:
        try:
            kept.append((m, need(m)))
        except (Skip, ValueError) as e:
            reasons.setdefault(str(e), []).append(m.label)
    said = [f"{', '.join(labels)}: {reason}" for reason, labels in reasons.items()]
    if not kept:
        raise Skip("; ".join(said))
    for s in said:
        log(f"note: {what}: left out {s}")
    return kept


def unrolled_chart(m: Model, idx: np.ndarray) -> np.ndarray:
    """(n_stored, 2): the swiss roll's unrolled coordinates of the stored points.

    The roll is regenerated from the analysis' spec and the run's data seed; its
    fingerprint must match the one the analysis recorded.
    """
    from manifold_cae.data import load_dataset, swiss_roll_unrolled

    prov = m.d.summary.provenance
    if prov.data is None or prov.run_config is None:
        raise Skip("the analysis does not record its data spec and data seed")
    ds = load_dataset(prov.data.spec, seed=prov.run_config.training.data_seed)
    if ds.params is None or ds.sha256 != prov.data.sha256:
        raise Skip(f"regenerating {prov.data.spec!r} gave other data than the analysis saw")
    return swiss_roll_unrolled(ds.params[idx])
