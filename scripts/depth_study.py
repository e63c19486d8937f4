"""Depth study: one CAE layer vs a stacked CAE vs a jointly penalised deep CAE.

For each data set, on the same split, seed, optimiser and total epochs:

- ``cae-1``: one sigmoid layer (the first width), closed-form penalty;
- ``stacked-L``: L one-layer CAEs trained one after another, each on the codes
  of the one below, then composed (:func:`manifold_cae.stacking.train_stacked`,
  the total epochs split over the layers);
- ``joint-L``: the same L-layer encoder trained at once with the penalty on its
  full Jacobian, estimated by Hutchinson with one probe.

A stack is contractive layer by layer: each layer's penalty bounds
d h_l / d h_{l-1}, the Jacobian of that layer with respect to its own input.
That is not the same as a jointly penalised encoder, whose penalty bounds the
composite d h_L / dx. The stack's composite Jacobian is a product of
contractive factors, so it is small too, but it was never minimised as such;
the table reports the composite ||J||_F of both kinds so they can be compared.

Each encoder is analysed on held-out points with the public API
(:func:`manifold_cae.analyze`): mean ||J_f||_F, mean count of singular values
above 1, SAT of the code layer, the contraction curve's endpoints (smallest and
largest radius), mean principal angle to the true tangents (sphere), and a
linear probe on the codes (labelled sets,
:func:`manifold_cae.probe.linear_probe_accuracy`).

    python scripts/depth_study.py --out depth.md                        # a few minutes
    python scripts/depth_study.py --data digits --epochs 30 --points 0 --out depth.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from manifold_cae import (
    AnalysisConfig,
    ObjectiveConfig,
    TrainConfig,
    analyze,
    fit,
    load_dataset,
    make_run_config,
)
from manifold_cae.config import replace
from manifold_cae.probe import linear_probe_accuracy
from manifold_cae.runs import split
from manifold_cae.stacking import train_stacked
from manifold_cae.train import mean_reconstruction

DATASETS = {
    "digits": "digits",
    "sphere": "sphere:ambient_dim=50,n_samples={n},noise=0.01",
    "mnist5k": "mnist5k",
}
COLUMNS = ("data", "model", "hidden", "held-out recon", "‖J‖_F", "σ>1", "SAT",
           "contraction r_min → r_max", "angle °", "probe acc", "train s")  # fmt: skip


def load(name: str, n_points: int, seed: int) -> Any:
    """The data set, subsampled to ``n_points`` rows (0: all) with a seeded draw."""
    ds = load_dataset(DATASETS[name].format(n=n_points or 1000), seed=seed)
    if n_points and ds.n_samples > n_points:
        rows = np.sort(np.random.default_rng(seed).choice(ds.n_samples, n_points, replace=False))
        ds = ds.subset(rows)
    return ds


def train_models(
    ds: Any, X: np.ndarray, training: TrainConfig, args: argparse.Namespace
) -> dict[str, tuple[Any, float]]:
    """name -> (trained model, seconds), all trained on ``X``, the train split of ``ds``."""

    def config(hidden: tuple[int, ...], **objective: Any) -> Any:
        obj = ObjectiveConfig(kind="cae", lam=args.lam, **objective)
        return make_run_config(ds, hidden=hidden, objective=obj, training=training)

    runs: dict[str, Any] = {"cae-1": lambda: fit(X, config(args.hidden[:1]), progress=False)}
    for depth in args.depths:
        hidden = args.hidden[:depth]
        stacked = config(hidden)
        stacked = replace(stacked, training=replace(stacked.training, stacked=True))
        runs[f"stacked-{depth}"] = lambda c=stacked: train_stacked(X, c, progress=False)
        joint = config(hidden, penalty="stochastic", n_probes=1)
        runs[f"joint-{depth}"] = lambda c=joint: fit(X, c, progress=False)
    out = {}
    for name, run in runs.items():
        t0 = time.perf_counter()
        out[name] = (run().model, time.perf_counter() - t0)
        print(f"  {ds.name}: trained {name} in {out[name][1]:.1f} s", flush=True)
    return out


def measure(model: Any, train: Any, held: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The table's numbers for one encoder, analysed on the held-out split."""
    cfg = AnalysisConfig(points=args.analysis_points, contraction_points=args.analysis_points,
                         n_radii=8, store_points=0, pca_neighbors=10, seed=args.seed)  # fmt: skip
    s = analyze(model, held.X, config=cfg, tangents=held.tangents, reference=train.X,
                progress=False).summary  # fmt: skip
    ratios = s.contraction.ratios
    angles = s.sections.get("angles")
    angle = angles.cae.mean if angles is not None and angles.cae is not None else None
    probe = None
    if train.y is not None:
        probe = linear_probe_accuracy(model, train.X, train.y, held.X, held.y, seed=args.seed)
    with torch.no_grad():
        recon = mean_reconstruction(model, torch.as_tensor(held.X))
    return {
        "held-out recon": f"{recon:.3g}",
        "‖J‖_F": f"{s.norms.frobenius.mean:.3g}",
        "σ>1": f"{s.count.mean:.2f}",
        "SAT": f"{s.saturation.mean_fraction:.1%}",
        "contraction r_min → r_max": f"{ratios[0]:.3g} → {ratios[-1]:.3g}",
        "angle °": "" if angle is None else f"{angle:.1f}",
        "probe acc": "" if probe is None else f"{probe:.3f}",
    }


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    head = (
        f"Depth study: hidden={','.join(map(str, args.hidden))}, {args.epochs} epochs in all "
        f"per model, lam={args.lam}, lr={args.lr}, batch {args.batch_size}, seed {args.seed}, "
        f"{args.points or 'all'} points per data set, analysis on "
        f"{args.analysis_points} held-out points.\n\n"
    )
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in COLUMNS) + " |" for r in rows]
    return head + "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--data", default="digits,sphere,mnist5k", help="comma list of " + ",".join(DATASETS)
    )
    ap.add_argument("--hidden", default="64,32,16", help="layer widths; depth L uses the first L")
    ap.add_argument("--depths", default="2,3")
    ap.add_argument("--points", type=int, default=1000, help="rows per data set (0: all)")
    ap.add_argument("--epochs", type=int, default=12, help="total epochs of every model")
    ap.add_argument("--lam", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--analysis-points", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True, help="markdown file for the table")
    args = ap.parse_args()
    args.hidden = tuple(int(h) for h in args.hidden.split(","))
    args.depths = tuple(int(d) for d in args.depths.split(","))
    if max(args.depths) > len(args.hidden):
        ap.error(f"--depths {max(args.depths)} needs that many --hidden widths; got {args.hidden}")

    training = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                           seed=args.seed, data_seed=args.seed)  # fmt: skip
    rows = []
    for name in args.data.split(","):
        ds = load(name, args.points, args.seed)
        train_idx, held_idx = split(ds, training)
        train, held = ds.subset(train_idx), ds.subset(held_idx)
        for model_name, (model, seconds) in train_models(ds, train.X, training, args).items():
            hidden = ",".join(map(str, model.config.hidden))
            numbers = measure(model, train, held, args)
            rows.append({"data": name, "model": model_name, "hidden": hidden,
                         "train s": f"{seconds:.1f}", **numbers})  # fmt: skip
    text = markdown(rows, args)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
