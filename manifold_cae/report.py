"""Analysis outputs on disk: summary.json, points.csv, spectra.npz, report.md.

:func:`write_analysis` writes them (each atomically); :func:`load_analysis`
reads a directory back for plotting and comparison, without re-analysis.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from manifold_cae._io import atomic_write, atomic_write_json, atomic_write_text
from manifold_cae.analysis.engine import AnalysisResult
from manifold_cae.errors import DataError

SUMMARY, POINTS, SPECTRA, REPORT = "summary.json", "points.csv", "spectra.npz", "report.md"


def _stats(x: np.ndarray | None) -> dict[str, float] | None:
    if x is None or len(x) == 0:
        return None
    return {"mean": float(np.mean(x)), "median": float(np.median(x))}


def _floats(a: np.ndarray | None) -> list[float] | None:
    return None if a is None else [float(v) for v in np.asarray(a).ravel()]


def summarize(result: AnalysisResult, provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON-ready summary of an analysis."""
    c = result.contraction
    truth = result.angle_cae_truth is not None
    angles: dict[str, Any] = {"k": result.k_compare, "reference": "truth" if truth else "local_pca"}
    if truth:
        angles["cae"] = _stats(result.angle_cae_truth)
        angles["local_pca"] = _stats(result.angle_pca_truth)
    angles["cae_vs_local_pca"] = _stats(result.angle_cae_pca)
    sv: dict[str, Any] = {"top_k_mean": _floats(result.top_values.mean(axis=0))}
    if result.spectrum_mean is not None:
        sv |= {
            "mean": _floats(result.spectrum_mean),
            "q10": _floats(result.spectrum_q10),
            "q50": _floats(result.spectrum_q50),
            "q90": _floats(result.spectrum_q90),
        }
    return {
        "n_points": result.n_points,
        "threshold": result.threshold,
        "top_k": result.top_k,
        "spectrum_method": result.spectrum_method,
        "singular_values": sv,
        "count_above_threshold": {
            "mean": float(result.count_above.mean()),
            "median": float(np.median(result.count_above)),
            "histogram": [int(v) for v in result.count_histogram],
            "capped_at_top_k": result.spectrum_mean is None,
        },
        "frobenius_norm": _stats(result.frobenius),
        "spectral_norm": _stats(result.spectral),
        "saturation": {
            "mean_fraction": result.saturation_mean,
            "per_unit": _floats(result.saturation_per_unit),
            "activation_histogram": {
                "counts": [int(v) for v in result.activation_hist],
                "edges": _floats(result.activation_edges),
            },
            "low": result.meta.get("analysis", {}).get("saturation_low"),
            "high": result.meta.get("analysis", {}).get("saturation_high"),
        },
        "contraction_curve": {
            "radii": _floats(c.radii),
            "ratios": _floats(c.ratios),
            "ratios_std": _floats(c.ratios_std),
            "local_ratio": c.local_ratio,
            "max_distance": c.max_distance,
        },
        "tangent_angles_deg": angles,
        "n_dense_fallback": result.n_dense_fallback,
        "provenance": {**result.meta, **(provenance or {})},
    }


def _points_csv(result: AnalysisResult) -> str:
    cols: dict[str, np.ndarray] = {"index": result.indices}
    for i in range(result.top_k):
        cols[f"sigma_{i + 1}"] = result.top_values[:, i]
    cols |= {
        "count_above_threshold": result.count_above,
        "frobenius_norm": result.frobenius,
        "spectral_norm": result.spectral,
        "saturation": result.saturation,
    }
    if result.angle_cae_truth is not None:
        cols["angle_cae_deg"] = result.angle_cae_truth
        cols["angle_local_pca_deg"] = result.angle_pca_truth
    cols["angle_cae_vs_local_pca_deg"] = result.angle_cae_pca
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for row in zip(*cols.values(), strict=True):
        w.writerow([int(v) if isinstance(v, np.integer) else f"{float(v):.8g}" for v in row])
    return buf.getvalue()


def _fmt(v: Any, spec: str = ".4g") -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def report_markdown(summary: dict[str, Any]) -> str:
    """A readable singular-value report with a short interpretation."""
    sv = summary["singular_values"]
    cnt = summary["count_above_threshold"]
    sat = summary["saturation"]["mean_fraction"]
    curve = summary["contraction_curve"]
    ang = summary["tangent_angles_deg"]
    data = summary["provenance"].get("data", {})
    model = summary["provenance"].get("model", {})
    thr = summary["threshold"]
    lines = [
        "# Singular-value report",
        "",
        f"Data: `{data.get('spec', '?')}`; model: hidden={model.get('hidden')}, "
        f"activation={model.get('activation')}, tied={model.get('tied')}; "
        f"{summary['n_points']} points analysed; spectra by {summary['spectrum_method']}.",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| mean count of sigma > {thr:g} | {_fmt(cnt['mean'], '.2f')} |",
        f"| median count of sigma > {thr:g} | {_fmt(cnt['median'], '.0f')} |",
        f"| mean Frobenius norm of J | {_fmt(summary['frobenius_norm']['mean'])} |",
        f"| mean spectral norm (sigma_1) | {_fmt(summary['spectral_norm']['mean'])} |",
        f"| saturation (SAT) | {100 * sat:.1f} % |",
        f"| contraction ratio, r -> 0 | {_fmt(curve['local_ratio'])} |",
        f"| contraction ratio at the largest radius ({_fmt(curve['radii'][-1])}) "
        f"| {_fmt(curve['ratios'][-1])} |",
    ]
    if ang.get("cae"):
        lines += [
            f"| tangent angle to truth, CAE (mean / median, k={ang['k']}) "
            f"| {_fmt(ang['cae']['mean'], '.2f')} / {_fmt(ang['cae']['median'], '.2f')} deg |",
            f"| tangent angle to truth, local PCA | {_fmt(ang['local_pca']['mean'], '.2f')} / "
            f"{_fmt(ang['local_pca']['median'], '.2f')} deg |",
        ]
    if ang.get("cae_vs_local_pca"):
        lines.append(
            f"| angle CAE vs local PCA (mean / median) | "
            f"{_fmt(ang['cae_vs_local_pca']['mean'], '.2f')} / "
            f"{_fmt(ang['cae_vs_local_pca']['median'], '.2f')} deg |"
        )
    top = sv.get("mean") or sv["top_k_mean"]
    lines += ["", "Mean singular values (leading 10): " + ", ".join(f"{v:.3g}" for v in top[:10])]
    lines += ["", "## What it says", ""]
    r = len(sv["mean"]) if sv.get("mean") else None
    lines.append(
        f"- On average {cnt['mean']:.2f} directions expand (sigma > {thr:g})"
        + (f" out of {r}" if r else "")
        + "; the rest contract. A CAE that has found a k-dimensional manifold keeps "
        "about k expanding directions: its tangent directions."
    )
    if sv.get("mean") and len(sv["mean"]) > 1 and sv["mean"][0] > 0:
        drop = sv["mean"][min(len(sv["mean"]) - 1, max(1, round(cnt["mean"])))] / sv["mean"][0]
        lines.append(
            f"- The mean spectrum falls to {drop:.2g} of sigma_1 just past those directions: "
            "the faster it falls, the more the encoder flattens everything off the manifold."
        )
    lines.append(
        f"- {100 * sat:.1f} % of hidden units are saturated on average; saturated units have "
        "near-zero slope, which is how a sigmoid CAE contracts (Rifai et al. 2011 report "
        "86 % for a CAE on MNIST, 18 % for a Gaussian DAE)."
    )
    if ang.get("cae"):
        better = ang["cae"]["mean"] < ang["local_pca"]["mean"]
        lines.append(
            f"- The CAE tangents are {'closer to' if better else 'further from'} the true "
            f"tangent space than local PCA on {ang['k']}-D neighbourhoods "
            f"({ang['cae']['mean']:.1f} vs {ang['local_pca']['mean']:.1f} degrees on average)."
        )
    if summary.get("n_dense_fallback"):
        lines.append(
            f"- {summary['n_dense_fallback']} points needed the dense top-k fallback "
            "(no clear gap after the k-th singular value)."
        )
    return "\n".join(lines) + "\n"


def write_analysis(
    result: AnalysisResult,
    out_dir: str | os.PathLike[str],
    *,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write the four outputs into ``out_dir``; returns their paths by name."""
    out = Path(out_dir)
    summary = summarize(result, provenance)
    arrays = {
        "indices": result.stored_indices,
        "tangents": result.stored_tangents,
        "inputs": result.stored_inputs,
        "singular_values": result.stored_spectra,
        "pca_tangents": result.stored_pca_tangents,
        "true_tangents": result.stored_true_tangents,
        "top_values": result.top_values[: len(result.stored_indices)],
    }
    arrays = {k: v for k, v in arrays.items() if v is not None}

    def save_npz(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)

    return {
        "summary": atomic_write_json(out / SUMMARY, summary),
        "points": atomic_write_text(out / POINTS, _points_csv(result)),
        "spectra": atomic_write(out / SPECTRA, save_npz),
        "report": atomic_write_text(out / REPORT, report_markdown(summary)),
    }


@dataclass
class AnalysisDir:
    """An analysis directory read back from disk."""

    path: Path
    summary: dict[str, Any]
    points: dict[str, np.ndarray]  # column name -> (n,)
    spectra: dict[str, np.ndarray]  # the arrays of spectra.npz

    @property
    def label(self) -> str:
        return str(self.summary["provenance"].get("label") or self.path.name)


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
        summary = json.loads(summary_path.read_text())
    except (ValueError, OSError) as e:
        raise DataError(f"{summary_path} is corrupt ({e}); re-run 'manifold-cae analyze'") from e
    points: dict[str, np.ndarray] = {}
    if (path / POINTS).is_file():
        with open(path / POINTS, newline="") as f:
            rows = list(csv.reader(f))
        if rows:
            header, body = rows[0], np.array(rows[1:], dtype=float).reshape(-1, len(rows[0]))
            points = {name: body[:, i] for i, name in enumerate(header)}
    spectra: dict[str, np.ndarray] = {}
    if (path / SPECTRA).is_file():
        try:
            with np.load(path / SPECTRA, allow_pickle=False) as z:
                spectra = {k: z[k] for k in z.files}
        except (ValueError, OSError) as e:
            raise DataError(
                f"{path / SPECTRA} is corrupt ({e}); re-run 'manifold-cae analyze'"
            ) from e
    return AnalysisDir(path, summary, points, spectra)
