"""Geometry benchmark (issue 9 §4): dimension, tangents and image transformations, default flags.

Every model is trained and analysed exactly as a new user would: ``manifold-cae train
--data D --out RUN`` with no tuning flag (only the seeds, which equal the defaults unless
--seed says otherwise), then ``manifold-cae analyze RUN --data D --split held-out``. The
CLI is called in this process, so whatever the defaults are when the script runs is what
it measures (``--train-flags`` measures another recipe, and the tables say so). Three
parts, chosen with --parts:

- ``dimension``: scikit-dimension's BenchmarkManifolds (Hein & Audibert 2005; the ``bench``
  extra). The toolkit's scale-free local dimension (``summary.dimension``, mean over the
  held-out points) and its count of sigma > 1 (``summary.count``) against the global
  estimates of skdim's MLE, TwoNN and lPCA on all the points; mean percentage error
  |estimate - d| / d per manifold and overall.
- ``tangents``: the built-in manifolds with true tangents, at several noise levels. Mean
  largest principal angle (degrees, held-out points) of the CAE, of local PCA at 20
  neighbours (both from ``summary.angles``), of local PCA at the best neighbourhood size of
  a grid (an oracle: it picks the size with the truth), and of a DAE (``--model dae``).
- ``images``: the tangents of small rotations, translations, scalings and thickenings of
  each held-out image (``transformation_tangents``); the share of their energy captured
  by the top-k CAE tangents, by local PCA (20 neighbours in the training split), and by
  chance (k / d).

    python scripts/bench_geometry.py --out bench_geometry.md    # dimension, tangents: ~30 min
    python scripts/bench_geometry.py --parts images --images digits,mnist5k --out img.md  # ~17
    python scripts/bench_geometry.py --dim-all --out dim.md               # the whole suite
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

import manifold_cae
from manifold_cae import load_checkpoint, load_dataset, tangents
from manifold_cae.analysis import local_pca_tangents, principal_angles
from manifold_cae.analysis.transformations import (
    DEFAULT_EPS,
    TRANSFORMATIONS,
    captured_energy,
    transformation_tangents,
)
from manifold_cae.lam_search import search_of
from manifold_cae.report import load_analysis
from manifold_cae.runs import split

# Manifolds of dimension 1-12 in R^3-R^72, each a different kind of difficulty; --dim-all
# runs all 24.
DIM_DEFAULT = (
    "M1_Sphere,M2_Affine_3to5,M3_Nonlinear_4to6,M4_Nonlinear,M5a_Helix1d,M6_Nonlinear,"
    "M7_Roll,M8_Nonlinear,M11_Moebius,M13b_Spiral"
)
TANGENT_DEFAULT = "circle:10,helix:50,swiss-roll:3,sphere:20,torus:30"  # name:ambient_dim
PCA_NEIGHBOURS = 20  # the analysis default, the baseline the goals name
WITHIN = 1.5  # goal at noise <= 0.02: the CAE's angle within 1.5x local PCA's


class Toolkit:
    """Runs the CLI in this process and remembers each command line, for the tables."""

    def __init__(self, work: Path, seed: int, flags: tuple[str, ...] = ()) -> None:
        self.work, self.seed, self.flags, self.commands = work, seed, flags, []

    def __call__(self, *args: str) -> None:
        from manifold_cae.cli import main

        self.commands.append(shlex.join(["manifold-cae", *args]))
        main.main(args=list(args), prog_name="manifold-cae", standalone_mode=False)

    @property
    def flags_said(self) -> str:
        """How the tables name the training flags: the defaults, or what --train-flags added."""
        return f"flags {shlex.join(self.flags)}" if self.flags else "default flags"

    def train(self, data: str, name: str, *extra: str) -> Path:
        run = self.work / "runs" / name
        seeds = ("--seed", str(self.seed), "--data-seed", str(self.seed))
        self("train", "--data", data, "--out", str(run), *seeds, *self.flags, *extra, "--quiet",
             "--overwrite")  # fmt: skip
        return run

    def analyze(self, run: Path, data: str):
        """``analyze --split held-out``; returns the typed summary it wrote."""
        out = self.work / "analyses" / run.name
        self(
            "analyze", str(run), "--data", data, "--split", "held-out", "--out", str(out), "--quiet"
        )
        return load_analysis(out).summary


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


def fmt(v: float, digits: int = 2) -> str:
    return "—" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def mpe(estimate: float, d: int) -> float:
    return abs(estimate - d) / d


# ---- a. intrinsic dimension ---------------------------------------------------------------


def search_k(summary) -> float:
    """The k the run's λ search estimated (nan when --train-flags gave λ a number)."""
    search = search_of(summary.provenance.run_config)
    return float("nan") if search is None else float(search.rounds[-1].k)


def dimension_part(tk: Toolkit, args: argparse.Namespace) -> str:
    import skdim

    bm = skdim.datasets.BenchmarkManifolds(random_state=args.seed)
    data = bm.generate(n=args.dim_n)
    names = list(data) if args.dim_all else args.dim_manifolds.split(",")
    estimators = {"MLE": skdim.id.MLE, "TwoNN": skdim.id.TwoNN, "lPCA": skdim.id.lPCA}
    cols = ["toolkit local dim (mean)", "toolkit local dim (median)", "count σ>1 (mean)"]
    cols += ["λ-search k", *estimators]
    rows, errors = [], {c: [] for c in cols}
    for name in names:
        d = int(bm.truth.loc[name, "Intrinsic Dimension"])
        X = np.asarray(data[name], dtype=np.float32)
        path = tk.work / "data" / f"{name}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, X)
        s = tk.analyze(tk.train(str(path), f"dim-{name}"), str(path))
        est = [s.dimension.mean, s.dimension.median, s.count.mean, search_k(s)]
        est += [float(E().fit(X.astype(np.float64)).dimension_) for E in estimators.values()]
        for c, e in zip(cols, est, strict=True):
            errors[c].append(mpe(e, d))
        rows.append([name, str(d), str(X.shape[1]), *(fmt(e) for e in est)])
        print(
            f"  {name}: d={d}, "
            + ", ".join(f"{c} {fmt(e)}" for c, e in zip(cols, est, strict=True))
        )
    estimates = table(["manifold", "d", "D", *cols], rows)
    err_rows = [[n, *(fmt(errors[c][i], 3) for c in cols)] for i, n in enumerate(names)]
    err_rows.append(["**overall (mean)**", *(f"**{fmt(np.mean(errors[c]), 3)}**" for c in cols)])
    return (
        f"### Intrinsic dimension: BenchmarkManifolds(random_state={args.seed}).generate("
        f"n={args.dim_n}), {len(names)} manifolds\n\n"
        f"Toolkit: `manifold-cae train --data M.npy` with {tk.flags_said}, then `analyze --split "
        "held-out` (the held-out 20 %); λ-search k: the k that training's λ search estimated "
        "from the data (a global estimate; README, Choosing λ automatically); skdim "
        "estimators: global `fit(X).dimension_` on all "
        f"{args.dim_n} points.\n\nEstimates:\n\n{estimates}\n\n"
        f"Mean percentage error |estimate − d| / d:\n\n{table(['manifold', *cols], err_rows)}\n"
    )


# ---- b. tangents on the built-in manifolds -----------------------------------------------


def oracle_pca(run: Path, spec: str, grid: list[int]) -> tuple[float, int, float]:
    """Best mean largest angle (degrees) of local PCA over ``grid``, its size, and at 20."""
    from sklearn.neighbors import NearestNeighbors

    training = load_checkpoint(run).config.training
    ds = load_dataset(spec, seed=training.data_seed)
    train_idx, held_idx = split(ds, training)
    truth = torch.as_tensor(ds.tangents[held_idx]).double().mT  # (n, d, k)
    k = truth.shape[2]
    nn = NearestNeighbors().fit(ds.X[train_idx])
    angles = {}
    for size in (s for s in grid if k < s <= len(train_idx)):
        idx = nn.kneighbors(ds.X[held_idx], size, return_distance=False)
        pca = local_pca_tangents(ds.X[train_idx][idx], k)  # (n, d, k)
        angles[size] = float(np.degrees(principal_angles(pca, truth)[:, 0].numpy()).mean())
    best = min(angles, key=angles.get)
    return angles[best], best, angles.get(PCA_NEIGHBOURS, float("nan"))


def verdict(cae: float, pca: float, noise: float) -> str:
    """The issue's goal for this cell: beat local PCA at noise >= 0.05, else within 1.5x."""
    if cae < pca:
        return "beats PCA ✓"
    if cae <= WITHIN * pca:
        return f"within {WITHIN}× ✓" if noise <= 0.02 else f"within {WITHIN}× ✗ (goal: beat)"
    return f"{cae / pca:.3f}× ✗"  # 1.502x is a miss; one decimal printed it as the goal, 1.5x


def tangent_part(tk: Toolkit, args: argparse.Namespace) -> str:
    grid = [int(v) for v in args.oracle_grid.split(",")]
    rows, met = [], 0
    for item in args.tan_manifolds.split(","):
        name, _, ambient = item.partition(":")
        for noise in (float(v) for v in args.noise.split(",")):
            spec = f"{name}:n_samples={args.tan_n},noise={noise:g},ambient_dim={ambient}"
            tag = f"{name}-{ambient}-{noise:g}"
            cae = tk.analyze(tk.train(spec, f"cae-{tag}"), spec)
            dae = tk.analyze(tk.train(spec, f"dae-{tag}", "--model", "dae"), spec)
            best, size, pca20_here = oracle_pca(tk.work / "runs" / f"cae-{tag}", spec, grid)
            a_cae, a_pca = cae.angles.cae.mean, cae.angles.local_pca.mean
            v = verdict(a_cae, a_pca, noise)
            met += v.endswith("✓")
            rows.append(
                [name, ambient, f"{noise:g}", fmt(a_cae, 1), fmt(a_pca, 1),
                 f"{fmt(best, 1)} ({size} NN)", fmt(dae.angles.cae.mean, 1), v]
            )  # fmt: skip
            print(f"  {spec}: CAE {a_cae:.1f}, PCA20 {a_pca:.1f} (check {pca20_here:.1f}), "
                  f"oracle {best:.1f} @ {size}, DAE {dae.angles.cae.mean:.1f}: {v}")  # fmt: skip
    header = ["manifold", "D", "noise", "CAE", "local PCA 20 NN", "local PCA oracle", "DAE"]
    return (
        f"### Tangents: mean largest principal angle (degrees), held-out points\n\n"
        f"Data `NAME:n_samples={args.tan_n},noise=σ,ambient_dim=D`, data seed {args.seed} "
        f"(20 % held out); CAE: `manifold-cae train --data SPEC` ({tk.flags_said}), DAE: "
        f"`--model dae`; angles from `analyze --split held-out`. Oracle: local PCA at the "
        f"best size in {grid}, chosen with the true tangents. Goals (issue 9): the CAE "
        f"beats local PCA (20 NN) at noise ≥ 0.05 and is within {WITHIN}× of it at noise "
        f"≤ 0.02. Goals met: {met} / {len(rows)}.\n\n"
        f"{table([*header, 'goal'], rows)}\n"
    )


# ---- c. transformation tangents of real images -------------------------------------------


def image_part(tk: Toolkit, args: argparse.Namespace, data: str) -> str:
    from sklearn.neighbors import NearestNeighbors

    run = tk.train(data, f"img-{data}")
    ckpt = load_checkpoint(run)
    ds = load_dataset(data, seed=ckpt.config.training.data_seed)
    train_idx, held_idx = split(ds, ckpt.config.training)
    x = ds.X[held_idx]
    truth = transformation_tangents(x, ds.image_shape, TRANSFORMATIONS)  # (n, kinds, d)
    cae = tangents(ckpt.model, torch.as_tensor(x), args.k).basis  # (n, d, k)
    idx = NearestNeighbors().fit(ds.X[train_idx]).kneighbors(x, PCA_NEIGHBOURS, False)
    pca = local_pca_tangents(ds.X[train_idx][idx], args.k)  # (n, d, k)
    got_cae, got_pca = captured_energy(cae, truth), captured_energy(pca, truth)
    rows = [
        [kind, fmt(np.nanmean(got_cae.share[:, i]), 3), fmt(np.nanmean(got_pca.share[:, i]), 3),
         fmt(got_cae.chance, 3)]
        for i, kind in enumerate(TRANSFORMATIONS)
    ]  # fmt: skip
    rows.append(
        ["**mean**", f"**{fmt(np.nanmean(got_cae.share), 3)}**",
         f"**{fmt(np.nanmean(got_pca.share), 3)}**", fmt(got_cae.chance, 3)]
    )  # fmt: skip
    pca_col = f"local PCA {PCA_NEIGHBOURS} NN"
    print(f"  {data}: CAE {np.nanmean(got_cae.share):.3f}, local PCA "
          f"{np.nanmean(got_pca.share):.3f}, chance {got_cae.chance:.3f}")  # fmt: skip
    return (
        f"### Transformation tangents of `{data}` images: share of energy captured by top-{args.k}"
        f" tangents\n\n`manifold-cae train --data {data}` ({tk.flags_said}, seed {args.seed}); "
        f"{len(held_idx)} held-out images of {ds.image_shape[0]}×{ds.image_shape[1]}; tangents "
        f"by `transformation_tangents` (cubic splines, eps {DEFAULT_EPS} px); local PCA at "
        f"{PCA_NEIGHBOURS} neighbours in the {len(train_idx)} training images. Mean over "
        f"images of ‖P t‖² / ‖t‖².\n\n"
        f"{table(['transformation', 'CAE', pca_col, 'chance k/d'], rows)}\n"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="markdown file for the tables")
    ap.add_argument("--parts", default="dimension,tangents,images", help="which parts to run")
    ap.add_argument("--seed", type=int, default=0, help="train --seed/--data-seed; skdim seed")
    ap.add_argument("--work", type=Path, help="keep the runs and analyses here [default: tmp]")
    ap.add_argument("--dim-n", type=int, default=1000, help="points per BenchmarkManifold")
    ap.add_argument("--dim-manifolds", default=DIM_DEFAULT, help="comma list of skdim names")
    ap.add_argument("--dim-all", action="store_true", help="all 24 BenchmarkManifolds")
    ap.add_argument("--tan-n", type=int, default=1000, help="points per built-in manifold")
    ap.add_argument("--tan-manifolds", default=TANGENT_DEFAULT, help="name:ambient_dim list")
    ap.add_argument("--noise", default="0,0.02,0.05,0.1", help="noise levels (comma list)")
    ap.add_argument("--oracle-grid", default="5,10,20,40,80", help="local-PCA sizes to try")
    ap.add_argument("--images", default="digits", help="image sets (add mnist5k: [mnist] extra)")
    ap.add_argument("--k", type=int, default=10, help="tangents per image")
    ap.add_argument(
        "--train-flags",
        default="",
        help="extra train flags for every model, "
        "e.g. '--lr 0.01' [default: none: the defaults are what is measured]",
    )
    args = ap.parse_args(argv)
    parts = args.parts.split(",")
    unknown = set(parts) - {"dimension", "tangents", "images"}
    if unknown:
        ap.error(f"--parts takes dimension, tangents, images; got {sorted(unknown)}")

    command = shlex.join(["python", "scripts/bench_geometry.py", *(argv or sys.argv[1:])])
    with tempfile.TemporaryDirectory(prefix="bench_geometry_") as tmp:
        tk = Toolkit(args.work or Path(tmp), args.seed, tuple(shlex.split(args.train_flags)))
        runs: list[tuple[str, Callable[[], str]]] = []
        if "dimension" in parts:
            runs.append(("dimension", lambda: dimension_part(tk, args)))
        if "tangents" in parts:
            runs.append(("tangents", lambda: tangent_part(tk, args)))
        if "images" in parts:
            runs += [(f"images {d}", lambda d=d: image_part(tk, args, d)) for d in
                     args.images.split(",")]  # fmt: skip
        sections = [
            f"## Geometry benchmark (manifold_cae {manifold_cae.__version__})\n\n"
            f"Command: `{command}`\nSeeds: training and data {args.seed}, "
            f"BenchmarkManifolds random_state {args.seed}; torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads.\n"
        ]
        for name, part in runs:
            print(f"[{name}]", flush=True)
            t0 = time.perf_counter()
            sections.append(part() + f"\n({name}: {time.perf_counter() - t0:.0f} s)\n")
            args.out.write_text("\n".join(sections))  # a partial file survives a crash
        example = "\n".join(f"    {c}" for c in tk.commands[:2])
        sections.append(f"Example commands (the first of {len(tk.commands)}):\n\n{example}\n")
        args.out.write_text("\n".join(sections))
    print("\n".join(sections))


if __name__ == "__main__":
    main()
