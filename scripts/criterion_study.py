"""Does the ``--lam auto`` criterion rank runs as their true tangent error does? Two versions.

On built-in manifolds with true tangents, every λ of a grid is trained with several
recipes (learning rate, epochs); for each run, the true mean largest principal angle of
its top-k tangents on the held-out points, and the criterion in two versions:

- ``centred`` (what ``lam_search`` uses): the share of the spread of each held-out point's
  nearest training points, about their own mean, that the top-k tangents at the point miss;
- ``from the point`` (the criterion before): the same with offsets from the held-out point
  itself, which carry the point's own noise in every offset.

Per manifold: the Spearman correlation of each version with the true angle over all the
runs, the run each would pick, and the best run. k is the true dimension, so the two
versions differ only in the centring. Everything else is the CLI's default (hidden 100,
batch 128, global input scaling, seed 0, data seed 0, 20 % held out).

    python scripts/criterion_study.py --out criterion.md          # ~5 min on one thread
    python scripts/criterion_study.py --cells circle:10:0.1 --out c.md
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from manifold_cae import ObjectiveConfig, TrainConfig, fit, load_dataset, tangents
from manifold_cae.analysis import principal_angles
from manifold_cae.errors import DivergenceError
from manifold_cae.lam_search import Displacements, neighbour_displacements, tangent_fit
from manifold_cae.runs import make_run_config, split

CELLS = (
    "circle:10:0.1,helix:50:0.1,torus:30:0.1,torus:30:0.02,swiss-roll:3:0.02,helix:50:0.02,"
    "sphere:20:0.05"
)  # name:ambient_dim:noise
RECIPES = "0.001:50,0.01:50,0.01:150,0.01:500"  # lr:epochs
LAMS = "0.1,0.316,1,3.16,10"


def study_cell(cell: str, recipes: list[tuple[float, int]], lams: list[float], n: int) -> dict:
    name, ambient, noise = cell.split(":")
    ds = load_dataset(f"{name}:n_samples={n},noise={noise},ambient_dim={ambient}", seed=0)
    train_idx, held_idx = split(ds, TrainConfig())
    X, held = ds.X[train_idx], ds.X[held_idx]
    k = ds.tangents.shape[1]
    centred = neighbour_displacements(
        X, held, neighbours=20, points=len(held), reference=len(X), seed=0
    )  # every held-out point and every training row: no sample, as _neighbour_means
    # The version before: offsets from the held-out point (its neighbours' mean added back).
    near = centred.offsets + _neighbour_means(X, held)[:, None, :]
    from_point = Displacements(centred.points, near - centred.points[:, None, :])
    truth = torch.as_tensor(ds.tangents[held_idx]).double().mT  # (n, d, k)
    runs = []
    for lr, epochs in recipes:
        for lam in lams:
            config = make_run_config(
                ds, hidden=(100,), objective=ObjectiveConfig(lam=lam),
                training=TrainConfig(lr=lr, epochs=epochs),
            )  # fmt: skip
            try:
                model = fit(X, config, progress=False).model
            except DivergenceError:
                continue
            basis = tangents(model, torch.as_tensor(held, dtype=torch.float32), k).basis
            angle = float(np.degrees(principal_angles(basis.double(), truth)[:, 0].numpy()).mean())
            runs.append({
                "lr": lr, "epochs": epochs, "lam": lam, "angle": angle,
                "centred": tangent_fit(model, centred, k).missed(k),
                "from the point": tangent_fit(model, from_point, k).missed(k),
            })  # fmt: skip
            print(f"  {cell} lr {lr:g} {epochs} ep λ {lam:g}: {angle:.1f}°", flush=True)
    return {"cell": cell, "runs": runs}


def _neighbour_means(X: np.ndarray, held: np.ndarray) -> np.ndarray:
    """(n_held, d) mean of each held-out point's 20 nearest training points."""
    from sklearn.neighbors import NearestNeighbors

    idx = NearestNeighbors().fit(X).kneighbors(held, 20, return_distance=False)
    return np.asarray(X, dtype=np.float64)[idx].mean(axis=1)


def row(result: dict) -> list[str]:
    runs = result["runs"]
    angle = np.array([r["angle"] for r in runs])
    cells = [result["cell"].replace(":", " / ")]
    for version in ("from the point", "centred"):
        crit = np.array([r[version] for r in runs])
        pick = runs[int(crit.argmin())]
        said = f"lr {pick['lr']:g}, {pick['epochs']} ep, λ {pick['lam']:g}"
        cells += [f"{spearmanr(crit, angle)[0]:+.2f}", f"{pick['angle']:.1f} ({said})"]
    return [*cells, f"{angle.min():.1f}"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="markdown file for the table")
    ap.add_argument("--cells", default=CELLS, help="name:ambient_dim:noise list")
    ap.add_argument("--recipes", default=RECIPES, help="lr:epochs list")
    ap.add_argument("--lams", default=LAMS, help="λ values")
    ap.add_argument("--n", type=int, default=1000, help="points per manifold")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    recipes = [(float(a), int(b)) for a, b in (r.split(":") for r in args.recipes.split(","))]
    lams = [float(v) for v in args.lams.split(",")]
    t0 = time.perf_counter()
    rows = [row(study_cell(c, recipes, lams, args.n)) for c in args.cells.split(",")]
    header = ["manifold / D / noise", "Spearman: from the point", "picks: from the point",
              "Spearman: centred", "picks: centred", "best angle °"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    command = shlex.join(["python", "scripts/criterion_study.py", *(argv or sys.argv[1:])])
    text = (
        f"Command: `{command}`; recipes (lr:epochs) {args.recipes}, λ {args.lams}; "
        f"{time.perf_counter() - t0:.0f} s.\n\n" + "\n".join(lines) + "\n"
    )
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
