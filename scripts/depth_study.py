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
(:func:`manifold_cae.analyze`): mean ||J_f||_F of the whole encoder and of each
prefix (the encoder up to layer l), mean count of singular values above 1, the
median local dimension, SAT of the code layer, the contraction curve's endpoints
(smallest and largest radius), the tangent angle (largest principal angle to
the true tangents on the sphere; mean principal angle to local PCA on data
without truth, marked "PCA"), and a linear probe on the codes (labelled sets,
:func:`manifold_cae.probe.linear_probe_accuracy`). With ``--figures DIR`` each
data set gets ``DIR/depth_<data>.png``: the contraction curves and the
per-prefix ||J||_F of every encoder.

    python scripts/depth_study.py --out depth.md                        # a few minutes
    python scripts/depth_study.py --data digits,sphere --epochs 200,200 --points 0 \
        --out depth.md --figures figures/depth
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
from manifold_cae.analysis.metrics import LayerSummary
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
COLUMNS = ("data", "model", "hidden", "epochs", "recon. fall, last 1/5 (%)", "held-out recon",
           "‖J‖_F", "‖J‖_F per prefix", "σ>1", "local dim.", "SAT", "contraction r_min → r_max",
           "angle °", "probe acc", "train s")  # fmt: skip


def load(name: str, n_points: int, seed: int) -> Any:
    """The data set, subsampled to ``n_points`` rows (0: all) with a seeded draw."""
    ds = load_dataset(DATASETS[name].format(n=n_points or 1000), seed=seed)
    if n_points and ds.n_samples > n_points:
        rows = np.sort(np.random.default_rng(seed).choice(ds.n_samples, n_points, replace=False))
        ds = ds.subset(rows)
    return ds


def settled(result: Any) -> str:
    """How much the training reconstruction still fell over each stage's last fifth of
    epochs, in percent: near 0 means the stage had converged (a stack lists its layers)."""
    stages = getattr(result, "layers", None) or [result]
    if getattr(result, "finetune", None) is not None:
        stages = [*stages, result.finetune]
    drops = []
    for stage in stages:
        recon = [r["reconstruction"] for r in stage.history]
        before = recon[-1 - max(1, len(recon) // 5)]
        drops.append(f"{100 * (before - recon[-1]) / abs(before):.1f}")
    return " / ".join(drops)


def train_models(
    ds: Any, X: np.ndarray, training: TrainConfig, args: argparse.Namespace
) -> dict[str, tuple[Any, float, str]]:
    """name -> (trained model, seconds, :func:`settled`), all trained on ``X``, the train
    split of ``ds``."""

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
        result = run()
        out[name] = (result.model, time.perf_counter() - t0, settled(result))
        print(f"  {ds.name}: trained {name} in {out[name][1]:.1f} s; reconstruction fell "
              f"{out[name][2]} % over the last fifth", flush=True)  # fmt: skip
    return out


def prefix_norms(s: Any) -> LayerSummary:
    """The ``layers`` section, or for one layer the same numbers from the whole encoder."""
    if "layers" in s.sections:
        return s.layers
    return LayerSummary(
        widths=[s.provenance.model.hidden[0]], frobenius_mean=[s.norms.frobenius.mean],
        spectral_mean=[s.norms.spectral.mean], count_mean=[s.count.mean],
        dimension_median=[s.dimension.median],
    )  # fmt: skip


def measure(
    model: Any, train: Any, held: Any, args: argparse.Namespace
) -> tuple[dict[str, Any], Any]:
    """The table's numbers for one encoder, analysed on the held-out split, and its summary."""
    # One top_k for every encoder: angles to local PCA compare subspaces of one size.
    cfg = AnalysisConfig(points=args.analysis_points, contraction_points=args.analysis_points,
                         n_radii=8, store_points=0, pca_neighbors=10, top_k=args.top_k,
                         seed=args.seed)  # fmt: skip
    s = analyze(model, held.X, config=cfg, tangents=held.tangents, reference=train.X,
                progress=False).summary  # fmt: skip
    ratios = s.contraction.ratios
    angles = s.sections.get("angles")
    angle = ""
    if angles is not None and angles.cae is not None:
        angle = f"{angles.cae.mean:.1f}"
    elif angles is not None and angles.cae_vs_local_pca_mean is not None:
        angle = f"{angles.cae_vs_local_pca_mean.mean:.1f} PCA"
    probe = None
    if train.y is not None:
        probe = linear_probe_accuracy(model, train.X, train.y, held.X, held.y, seed=args.seed)
    with torch.no_grad():  # in the model's own (scaled) units, as training records it
        recon = mean_reconstruction(model.core(), model.standardize(torch.as_tensor(held.X)))
    return {
        "held-out recon": f"{recon:.3g}",
        "‖J‖_F": f"{s.norms.frobenius.mean:.3g}",
        "‖J‖_F per prefix": " → ".join(f"{v:.3g}" for v in prefix_norms(s).frobenius_mean),
        "σ>1": f"{s.count.mean:.2f}",
        "local dim.": f"{s.dimension.median:g}",
        "SAT": f"{s.saturation.mean_fraction:.1%}",
        "contraction r_min → r_max": f"{ratios[0]:.3g} → {ratios[-1]:.3g}",
        "angle °": angle,
        "probe acc": "" if probe is None else f"{probe:.3f}",
    }, s


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    head = (
        f"Depth study: hidden={','.join(map(str, args.hidden))}, epochs in all per model as "
        f"listed, lam={args.lam}, lr={args.lr}, batch {args.batch_size}, seed {args.seed}, "
        f"{args.points or 'all'} points per data set, analysis on "
        f"{args.analysis_points} held-out points, top-{args.top_k} tangents. Angle: largest "
        "principal angle to the true tangents, or (PCA) mean principal angle to local-PCA "
        "tangents.\n\n"
    )
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in COLUMNS) + " |" for r in rows]
    return head + "\n".join(lines) + "\n"


def figure(name: str, n: int, summaries: dict[str, Any], args: argparse.Namespace) -> None:
    """``args.figures/depth_<name>.png``: contraction curves and per-prefix ||J||_F."""
    from manifold_cae.plots import draw_depth  # matplotlib only when figures are asked for

    labels = {"cae-1": "cae (1 layer)"} | {
        f"{kind}-{d}": f"cae-{'stacked' if kind == 'stacked' else 'deep'} ({d} layers)"
        for kind in ("stacked", "joint") for d in args.depths
    }  # fmt: skip
    names = list(summaries)
    path = draw_depth(
        [summaries[m].contraction for m in names],
        [prefix_norms(summaries[m]) for m in names],
        [labels[m] for m in names],
        [len(summaries[m].provenance.model.hidden) for m in names],
        args.figures / f"depth_{name}.png",
        title=f"{name}: one layer vs stacked vs joint deep CAE — {n} held-out points "
        f"({args.analysis_points} analysed), seed {args.seed}",
    )
    print(f"  wrote {path}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--data", default="digits,sphere,mnist5k", help="comma list of " + ",".join(DATASETS)
    )
    ap.add_argument("--hidden", default="64,32,16", help="layer widths; depth L uses the first L")
    ap.add_argument("--depths", default="2,3")
    ap.add_argument("--points", type=int, default=1000, help="rows per data set (0: all)")
    ap.add_argument(
        "--epochs", default="12", help="total epochs of every model: one value, or one per --data"
    )
    ap.add_argument("--lam", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--analysis-points", type=int, default=150)
    ap.add_argument("--top-k", type=int, default=5, help="tangents per point, for every encoder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True, help="markdown file for the table")
    ap.add_argument("--figures", type=Path, default=None, help="folder for depth_<data>.png")
    args = ap.parse_args()
    args.hidden = tuple(int(h) for h in args.hidden.split(","))
    args.depths = tuple(int(d) for d in args.depths.split(","))
    names = args.data.split(",")
    epochs = [int(e) for e in args.epochs.split(",")]
    if len(epochs) not in (1, len(names)):
        ap.error(f"--epochs needs one value or one per data set ({len(names)}); got {epochs}")
    if max(args.depths) > len(args.hidden):
        ap.error(f"--depths {max(args.depths)} needs that many --hidden widths; got {args.hidden}")

    rows = []
    for name, n_epochs in zip(names, epochs * len(names) if len(epochs) == 1 else epochs,
                              strict=False):  # fmt: skip
        training = TrainConfig(epochs=n_epochs, batch_size=args.batch_size, lr=args.lr,
                               seed=args.seed, data_seed=args.seed)  # fmt: skip
        ds = load(name, args.points, args.seed)
        train_idx, held_idx = split(ds, training)
        train, held = ds.subset(train_idx), ds.subset(held_idx)
        summaries = {}
        trained = train_models(ds, train.X, training, args)
        for model_name, (model, seconds, fall) in trained.items():
            hidden = ",".join(map(str, model.config.hidden))
            numbers, summaries[model_name] = measure(model, train, held, args)
            rows.append({"data": name, "model": model_name, "hidden": hidden, "epochs": n_epochs,
                         "recon. fall, last 1/5 (%)": fall, "train s": f"{seconds:.1f}",
                         **numbers})  # fmt: skip
        if args.figures is not None:
            figure(name, held.n_samples, summaries, args)
    text = markdown(rows, args)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
