"""Analysis outputs on disk: summary.json, points.csv, spectra.npz, report.md.

:func:`write_analysis` writes them (each atomically); :func:`load_analysis`
reads a directory back for plotting and comparison, without re-analysis.
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from manifold_cae._io import atomic_write, atomic_write_json, atomic_write_text
from manifold_cae.analysis.engine import AnalysisResult
from manifold_cae.analysis.metrics import (
    AngleSummary,
    ContractionSummary,
    DimensionSummary,
    LayerSummary,
    TransformationSummary,
)
from manifold_cae.analysis.summary import AnalysisSummary
from manifold_cae.errors import DataError
from manifold_cae.formatting import fmt

SUMMARY, POINTS, SPECTRA, REPORT = "summary.json", "points.csv", "spectra.npz", "report.md"


def _search_k(summary: AnalysisSummary) -> str | None:
    """How the run's λ search set its k, for the report; None if λ was given."""
    from manifold_cae.lam_search import search_of  # the search builds on the analysis

    config = summary.provenance.run_config
    search = None if config is None else search_of(config)
    if search is None:
        return None
    k = search.rounds[-1].k
    if search.k_source == "given":
        return f"- Training's λ search scored the top {k} tangents, the data's own dimension."
    return (
        f"- Training's λ search estimated the dimension at k = {k}: a second, global "
        "estimate, from the candidates' tangents held against the data's neighbourhoods "
        "rather than from σ alone. It is the number of leading tangents that hold the "
        "spread of held-out points' training neighbours, past which one more tangent adds "
        'least (README, "Choosing λ automatically").'
    )


def _points_csv(columns: dict[str, np.ndarray]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in zip(*columns.values(), strict=True):
        w.writerow([int(v) if isinstance(v, np.integer) else f"{float(v):.8g}" for v in row])
    return buf.getvalue()


def _dimension_rows(dim: DimensionSummary | None) -> list[str]:
    if dim is None:
        return []
    return [f"| local dimension ({dim.method}), mean / median | {dim.mean:.2f} / {dim.median:g} |"]


def _layer_table(layers: LayerSummary | None, threshold: float) -> list[str]:
    if layers is None:
        return []
    rows = zip(layers.widths, layers.frobenius_mean, layers.spectral_mean, layers.count_mean,
               layers.dimension_median, strict=True)  # fmt: skip
    return [
        "", "## Layer by layer", "",
        "The encoder up to each layer, as an encoder of its own (means over the points).", "",
        f"| up to layer | width | ‖J‖_F | σ_1 | count of σ > {threshold:g} | local dimension |",
        "|---|---|---|---|---|---|",
        *(f"| {i} | {w} | {fmt(f)} | {fmt(s)} | {c:.2f} | {d:g} |"
          for i, (w, f, s, c, d) in enumerate(rows, start=1)),
        "",
    ]  # fmt: skip


def _transformation_table(t: TransformationSummary | None, neighbours: int) -> list[str]:
    if t is None:
        return []
    pca = t.local_pca or {}
    return [
        "", "## Transformation tangents", "",
        "The share of each true transformation tangent's squared norm that lies in a "
        f"{t.k}-plane (mean over the points): the model's top {t.k} tangents, local PCA's on "
        f"{neighbours} neighbours, and a random plane (chance, k/d). Tangents by central "
        f"differences, steps of {t.eps:g} px at the image's edge.", "",
        "| transformation | CAE | local PCA | chance |",
        "|---|---|---|---|",
        *(f"| {kind} | {fmt(t.cae[kind], '.3f')} | {fmt(pca.get(kind), '.3f')} | "
          f"{fmt(t.chance, '.3f')} |" for kind in t.kinds),
        "",
        f"Above chance: the CAE for {_above(t.cae, t.chance)} of {len(t.kinds)}"
        + (f", local PCA for {_above(pca, t.chance)}." if pca else "."),
    ]  # fmt: skip


def _above(shares: dict[str, float], chance: float) -> int:
    return sum(v > chance for v in shares.values())  # NaN (no tangent anywhere) is not above


def report_markdown(summary: AnalysisSummary) -> str:
    """A readable singular-value report with a short interpretation."""
    prov = summary.provenance
    sv, cnt, sat = summary.spectrum, summary.count, summary.saturation
    norms = summary.norms
    curve = summary.section(ContractionSummary)
    ang = summary.section(AngleSummary)
    thr = cnt.threshold
    model = prov.model
    data = prov.data.spec if prov.data else "arrays"
    epoch = ""
    if prov.checkpoint_epoch is not None:
        epoch = f" at epoch {prov.checkpoint_epoch}"
        if prov.epochs_planned is not None and prov.checkpoint_epoch < prov.epochs_planned:
            epoch += f" of {prov.epochs_planned} (the run was not finished)"
    lines = [
        "# Singular-value report",
        "",
        f"Data: `{data}`; model: hidden={list(model.hidden)}, activation={model.activation}, "
        f"tied={model.tied}{epoch}; {summary.n_points} points analysed; spectra by {sv.method}.",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| mean count of sigma > {thr:g} | {fmt(cnt.mean, '.2f')} |",
        f"| median count of sigma > {thr:g} | {fmt(cnt.median, '.0f')} |",
        *_dimension_rows(summary.section(DimensionSummary)),
        f"| mean Frobenius norm of J | {fmt(norms.frobenius.mean)} |",
        f"| mean spectral norm (sigma_1) | {fmt(norms.spectral.mean)} |",
        f"| saturation (SAT) | {100 * sat.mean_fraction:.1f} % |",
    ]
    if curve is not None:
        lines += [
            f"| contraction ratio, r -> 0 | {fmt(curve.local_ratio)} |",
            f"| contraction ratio at the largest radius ({fmt(curve.radii[-1])}) "
            f"| {fmt(curve.ratios[-1])} |",
        ]
    if ang is not None and ang.cae is not None and ang.local_pca is not None:
        lines += [
            f"| tangent angle to truth, CAE (mean / median, k={ang.k}) "
            f"| {fmt(ang.cae.mean, '.2f')} / {fmt(ang.cae.median, '.2f')} deg |",
            f"| tangent angle to truth, local PCA | {fmt(ang.local_pca.mean, '.2f')} / "
            f"{fmt(ang.local_pca.median, '.2f')} deg |",
        ]
    if ang is not None and ang.cae_vs_local_pca is not None:
        lines.append(
            f"| angle CAE vs local PCA (mean / median) | {fmt(ang.cae_vs_local_pca.mean, '.2f')}"
            f" / {fmt(ang.cae_vs_local_pca.median, '.2f')} deg |"
        )
    if ang is not None and ang.cae is None and ang.cae_vs_local_pca_mean is not None:
        mean = ang.cae_vs_local_pca_mean
        lines.append(
            f"| mean principal angle CAE vs local PCA (mean / median) | {fmt(mean.mean, '.2f')}"
            f" / {fmt(mean.median, '.2f')} deg |"
        )
    top = sv.mean or sv.top_mean
    lines += ["", "Mean singular values (leading 10): " + ", ".join(f"{v:.3g}" for v in top[:10])]
    lines += ["", "## What it says", ""]
    r = len(sv.mean) if sv.mean else None
    if cnt.histogram and sum(cnt.histogram[1:]) == 0:
        lines.append(
            f"- No direction expands: at every point every singular value is below {thr:g} "
            f"(sigma_1 is {fmt(norms.spectral.mean, '.3g')} on average), so the encoder "
            f"contracts everywhere and the count of sigma > {thr:g} is 0 throughout. That "
            "count says nothing here; the local dimension below, read from the spectrum's "
            "largest drop with no threshold, gives the number of leading directions."
        )
    else:
        lines.append(
            f"- On average {cnt.mean:.2f} directions expand (sigma > {thr:g})"
            + (f" out of {r}" if r else "")
            + "; the rest contract. A CAE that has found a k-dimensional manifold keeps "
            "about k expanding directions: its tangent directions."
        )
    dim = summary.section(DimensionSummary)
    if dim is not None:
        d = max(1, round(dim.median))
        gap = ""
        if sv.mean and len(sv.mean) > d and sv.mean[0] > 0:
            gap = (
                f"; past them the mean spectrum falls from {sv.mean[d - 1] / sv.mean[0]:.2g} to "
                f"{sv.mean[d] / sv.mean[0]:.2g} of sigma_1. The sharper that drop, the more the "
                "encoder flattens everything off the manifold"
            )
        lines.append(
            f"- The spectrum's shape ({dim.method} rule, no threshold) puts the local dimension "
            f"at {dim.median:g} (median; mean {dim.mean:.2f}){gap}."
            + (" Only the leading top-k values were computed." if dim.capped_at_top_k else "")
        )
    search = _search_k(summary)
    if search is not None:
        lines.append(search)
    lines.append(
        f"- {100 * sat.mean_fraction:.1f} % of hidden units are saturated on average; saturated "
        "units have near-zero slope, which is how a sigmoid CAE contracts (Rifai et al. 2011 "
        "report 86 % for a CAE on MNIST, 18 % for a Gaussian DAE)."
    )
    if ang is not None and ang.cae is not None and ang.local_pca is not None:
        better = ang.cae.mean < ang.local_pca.mean
        lines.append(
            f"- The CAE tangents are {'closer to' if better else 'further from'} the true "
            f"tangent space than local PCA on {ang.k}-D neighbourhoods "
            f"({ang.cae.mean:.1f} vs {ang.local_pca.mean:.1f} degrees on average)."
        )
    if ang is not None and ang.cae is None and ang.cae_vs_local_pca_mean is not None:
        lines.append(
            f"- No true tangents are known, so the reference is local PCA. Between {ang.k}-D "
            "subspaces of a high-dimensional space the largest principal angle is near 90 "
            "degrees for almost any pair (here "
            f"{ang.cae_vs_local_pca.mean if ang.cae_vs_local_pca else float('nan'):.1f}), so "
            "compare models by the mean principal angle "
            f"({ang.cae_vs_local_pca_mean.mean:.1f} degrees on average)."
        )
    if sv.n_dense_fallback:
        lines.append(
            f"- {sv.n_dense_fallback} points needed the dense top-k fallback "
            "(no clear gap after the k-th singular value)."
        )
    lines += _layer_table(summary.section(LayerSummary), thr)
    lines += [f"- Not measured: {note}." for note in summary.notes]
    trans = summary.section(TransformationSummary)
    lines += _transformation_table(trans, prov.analysis.pca_neighbors)
    return "\n".join(lines) + "\n"


def write_analysis(result: AnalysisResult, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the four outputs into ``out_dir``; returns their paths by name."""
    out = Path(out_dir)

    def save_npz(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **result.arrays)

    return {
        "summary": atomic_write_json(out / SUMMARY, result.summary.to_json()),
        "points": atomic_write_text(out / POINTS, _points_csv(result.columns)),
        "spectra": atomic_write(out / SPECTRA, save_npz),
        "report": atomic_write_text(out / REPORT, report_markdown(result.summary)),
    }


@dataclass
class AnalysisDir:
    """An analysis directory read back from disk."""

    path: Path
    summary: AnalysisSummary
    points: dict[str, np.ndarray]  # column of points.csv -> (n,); empty when the file is absent
    spectra: dict[str, np.ndarray]  # the arrays of spectra.npz; empty when the file is absent

    @property
    def label(self) -> str:
        return self.summary.label or self.path.name


def _read_points(path: Path) -> dict[str, np.ndarray]:
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path} cannot be read ({e}); re-run 'manifold-cae analyze'") from e
    if not rows:
        return {}
    header, body = rows[0], rows[1:]
    ragged = next((i for i, r in enumerate(body, start=2) if len(r) != len(header)), None)
    if ragged is not None:
        raise DataError(
            f"{path}: line {ragged} has {len(body[ragged - 2])} cells, the header "
            f"{len(header)}; the file is damaged: re-run 'manifold-cae analyze'"
        )
    try:
        table = np.array(body, dtype=float).reshape(-1, len(header))
    except ValueError as e:
        raise DataError(
            f"{path} holds a non-numeric cell ({e}); re-run 'manifold-cae analyze'"
        ) from e
    return {name: table[:, i] for i, name in enumerate(header)}


def _read_spectra(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        # numpy's own message for a pickle suggests allow_pickle=True: never pass that on
        why = "it holds pickled objects, which are never loaded" if "pickle" in str(e) else e
        raise DataError(f"{path} is corrupt ({why}); re-run 'manifold-cae analyze'") from e


def load_analysis(path: str | os.PathLike[str]) -> AnalysisDir:
    """Read an analysis directory written by :func:`write_analysis`."""
    path = Path(path)
    summary_path = path / SUMMARY
    if not summary_path.is_file():
        raise DataError(
            f"{path} is not an analysis directory: {SUMMARY} is missing; "
            "create one with 'manifold-cae analyze RUN_DIR --data SPEC --out DIR'"
        )
    try:
        raw = json.loads(summary_path.read_text())
    except (ValueError, OSError, UnicodeDecodeError) as e:
        raise DataError(f"{summary_path} is corrupt ({e}); re-run 'manifold-cae analyze'") from e
    summary = AnalysisSummary.from_json(raw, where=str(summary_path))
    points = _read_points(path / POINTS) if (path / POINTS).is_file() else {}
    spectra = _read_spectra(path / SPECTRA) if (path / SPECTRA).is_file() else {}
    return AnalysisDir(path, summary, points, spectra)
