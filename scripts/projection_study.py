"""Tangents at the model's reconstruction: are J_f's tangents better at r^n(x) than at x?

A trained autoencoder's reconstruction r = g∘f pulls a noisy point toward the manifold it
learned (for a CAE or a DAE, r(x) - x estimates the direction toward higher density;
Alain and Bengio 2014). This study measures what that does to the tangents: for each CAE
run of a tangent benchmark, the top-k right singular vectors of J_f at r^n(x) (n
reconstructions in a row; n = 0 is what ``tangents`` and ``analyze`` report) are compared
with the true tangents of the held-out points (mean largest principal angle, degrees,
against the clean point's tangents, as ``bench_geometry.py`` does), and with the issue-9
goals against local PCA at 20 neighbours (read from the run's own analysis). It also
asks whether the ``--lam auto`` criterion (``lam_search``: the share of each held-out
point's training neighbours' spread, about their mean, that the tangents miss; k = the
true dimension here) could choose n from the data: the n it scores best, and that n's
angle.

For the image runs of ``bench_geometry.py --parts images`` (``img-*``), the same question
on the share of the known transformations' tangents (rotation, translations, scaling,
thickening) that the top-k tangents at r^n(x) capture, against the image itself's
transformations (``transformation_tangents``), as the benchmark measures.

It reads the runs a benchmark kept, so run that first with ``--work``:

    OMP_NUM_THREADS=1 python scripts/bench_geometry.py --parts tangents --seed 0 \\
        --work runs-s0 --out tan0.md                                  # ~12 min here
    OMP_NUM_THREADS=1 python scripts/projection_study.py --work runs-s0 --out proj0.md   # ~2 min
    OMP_NUM_THREADS=1 python scripts/bench_geometry.py --parts images --images digits,mnist5k \\
        --work runs-img --out img.md                                  # ~6 min
    OMP_NUM_THREADS=1 python scripts/projection_study.py --work runs-img --out proj-img.md
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from bench_geometry import verdict  # the goal rule, one copy (this script sits beside it)

from manifold_cae import load_checkpoint, load_dataset, tangents
from manifold_cae.analysis import principal_angles
from manifold_cae.analysis.transformations import (
    TRANSFORMATIONS,
    captured_energy,
    transformation_tangents,
)
from manifold_cae.lam_search import LamSearchConfig, neighbour_displacements, tangent_fit
from manifold_cae.report import load_analysis
from manifold_cae.runs import split

SHOWN = (0, 1, 2, 3, 4, 6, 8)  # the n the table prints (all n up to --steps are scored)


class Cell(NamedTuple):
    """One benchmark CAE run, scored at r^n(x) for n = 0..steps."""

    spec: str  # its data
    noise: float  # the data's noise level (the goal depends on it)
    pca: float  # local PCA's mean largest angle at 20 neighbours (the run's own analysis)
    analysed: float  # the CAE's mean largest angle in that analysis (n = 0 should equal it)
    angles: list[float]  # (steps + 1,) mean largest angle to the truth at r^n(x), degrees
    missed: list[float]  # (steps + 1,) the λ criterion at r^n(x): lower is better

    def met(self, n: int) -> bool:
        """Whether the tangents at r^n(x) meet the cell's issue-9 goal."""
        return verdict(self.angles[n], self.pca, self.noise).endswith("✓")

    @property
    def pick(self) -> int:
        """The n the criterion scores best (the first, on a tie)."""
        return int(np.argmin(self.missed))


def noise_of(spec: str) -> float:
    """The noise parameter of a synthetic spec such as ``circle:noise=0.1,ambient_dim=10``."""
    params = dict(item.split("=", 1) for item in spec.partition(":")[2].split(",") if item)
    return float(params.get("noise", 0))


def study_run(run: Path, analysis: Path, steps: int) -> Cell:
    """Angles and criterion at r^n(x), n = 0..steps, for one benchmark CAE run."""
    if not (analysis / "summary.json").is_file():
        raise SystemExit(
            f"{run} has no analysis at {analysis}; keep both with bench_geometry.py --work"
        )
    summary = load_analysis(analysis).summary
    ckpt = load_checkpoint(run)
    training = ckpt.config.training
    spec = ckpt.config.data["spec"]
    ds = load_dataset(spec, seed=training.data_seed)
    if ds.tangents is None:
        raise SystemExit(f"{run}: its data ({spec}) carry no true tangents; use a tangent run")
    train_idx, held_idx = split(ds, training)
    k = ds.tangents.shape[1]
    model = ckpt.model.double().eval()
    search = LamSearchConfig()
    disp = neighbour_displacements(
        ds.X[train_idx], ds.X[held_idx], neighbours=search.neighbours, points=len(held_idx),
        reference=len(train_idx), seed=training.seed,
    )  # every held-out point, in order, so row i of disp is row i of the truth  # fmt: skip
    truth = torch.as_tensor(ds.tangents[held_idx]).double().mT  # (n_held_out, n_features, k)
    x = torch.as_tensor(disp.points)  # (n_held_out, n_features) float64, moved below
    angles, missed = [], []
    for _ in range(steps + 1):
        basis = tangents(model, x, k).basis  # (n_held_out, n_features, k)
        angles.append(float(np.degrees(principal_angles(basis, truth)[:, 0].numpy()).mean()))
        # the tangents at r^n(x) scored on x's own neighbours
        missed.append(tangent_fit(model, disp._replace(points=x.numpy()), k).missed(k))
        with torch.no_grad():
            x = model(x)  # one more reconstruction, in the data's coordinates
    return Cell(
        spec, noise_of(spec), summary.angles.local_pca.mean, summary.angles.cae.mean, angles,
        missed,
    )  # fmt: skip


def study_images(run: Path, steps: int, k: int) -> tuple[str, list[float]]:
    """(data spec, (steps + 1,) mean share of the transformation tangents captured by the
    top-k tangents at r^n(x)) for one image run."""
    ckpt = load_checkpoint(run)
    spec = ckpt.config.data["spec"]
    ds = load_dataset(spec, seed=ckpt.config.training.data_seed)
    held = ds.X[split(ds, ckpt.config.training)[1]]  # (n_held_out, n_features)
    truth = transformation_tangents(held, ds.image_shape, TRANSFORMATIONS)  # (n, kinds, d)
    model = ckpt.model.double().eval()
    x = torch.as_tensor(held).double()
    shares = []
    for _ in range(steps + 1):
        got = captured_energy(tangents(model, x, k).basis, truth)
        shares.append(float(np.nanmean(got.share)))
        with torch.no_grad():
            x = model(x)
    return spec, shares


def image_report(images: list[tuple[str, list[float]]], steps: int, k: int) -> str:
    """The markdown table of :func:`study_images`' shares, one row per image set."""
    header = ["data", *(f"n={n}" for n in range(steps + 1))]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [f"| `{spec}` | " + " | ".join(f"{v:.3f}" for v in shares) + " |"
              for spec, shares in images]  # fmt: skip
    return (
        f"### Transformation tangents at r^n(x): mean share captured by the top-{k} "
        "tangents, held-out images\n\n" + "\n".join(lines) + "\n"
    )


def report(cells: list[Cell], steps: int, work: Path) -> str:
    """The markdown tables: per cell the angles at the shown n, then goals and means per n."""
    ns = range(steps + 1)
    shown = [n for n in SHOWN if n <= steps]
    header = ["data", "local PCA 20 NN", *(f"n={n}" for n in shown), "criterion's n: angle"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for c in cells:
        marks = [f"{c.angles[n]:.2f}" + ("" if c.met(n) else " ✗") for n in shown]
        edge = " (last n scored)" if c.pick == steps and steps > 0 else ""
        pick = f"{c.pick}{edge}: {c.angles[c.pick]:.2f}" + ("" if c.met(c.pick) else " ✗")
        lines.append(f"| `{c.spec}` | {c.pca:.2f} | " + " | ".join(marks) + f" | {pick} |")
    totals = [
        "| n | " + " | ".join(str(n) for n in ns) + " | criterion's n |",
        "|" + "---|" * (steps + 3),
        "| goals met | " + " | ".join(str(sum(c.met(n) for c in cells)) for n in ns)
        + f" | {sum(c.met(c.pick) for c in cells)} |",
        "| mean angle | " + " | ".join(f"{np.mean([c.angles[n] for c in cells]):.2f}" for n in ns)
        + f" | {np.mean([c.angles[c.pick] for c in cells]):.2f} |",
    ]  # fmt: skip
    same = all(abs(c.angles[0] - c.analysed) < 0.01 for c in cells)
    return (
        f"### Tangents at r^n(x): mean largest principal angle (degrees), held-out points\n\n"
        f"Runs: `{work}/runs/cae-*` (`bench_geometry.py --parts tangents`); k = the true "
        f"dimension; ✗: the cell misses its goal (`bench_geometry.verdict`: beat local PCA "
        f"at noise ≥ 0.05, within 1.5× at noise ≤ 0.02). n = 0 equals the benchmark's own "
        f"analysis in every cell: {'yes' if same else 'NO (check the runs)'}.\n\n"
        + "\n".join(lines) + "\n\n" + "\n".join(totals) + "\n"
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--work", type=Path, required=True,
                    help="a bench_geometry.py --work directory (tangents or images)")  # fmt: skip
    ap.add_argument("--steps", type=int, default=8, help="largest n [default: 8]")
    ap.add_argument("--k", type=int, default=10, help="tangents per image, as bench_geometry")
    ap.add_argument("--out", type=Path, required=True, help="markdown file for the tables")
    args = ap.parse_args(argv)
    if args.steps < 0:
        ap.error(f"--steps must be >= 0; got {args.steps}")
    runs = sorted((args.work / "runs").glob("cae-*"))
    image_runs = sorted((args.work / "runs").glob("img-*"))
    if not runs and not image_runs:
        ap.error(
            f"{args.work}/runs holds no cae-* or img-* run; run bench_geometry.py with --work first"
        )
    cells, images = [], []
    for run in runs:
        cells.append(study_run(run, args.work / "analyses" / run.name, args.steps))
        print(f"  {cells[-1].spec}: " + " ".join(f"{a:.2f}" for a in cells[-1].angles), flush=True)
    for run in image_runs:
        images.append(study_images(run, args.steps, args.k))
        print(f"  {images[-1][0]}: " + " ".join(f"{v:.3f}" for v in images[-1][1]), flush=True)
    command = shlex.join(["python", "scripts/projection_study.py", *(argv or sys.argv[1:])])
    sections = [f"Command: `{command}`\n"]
    if cells:
        sections.append(report(cells, args.steps, args.work))
    if images:
        sections.append(image_report(images, args.steps, args.k))
    args.out.write_text("\n".join(sections))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
