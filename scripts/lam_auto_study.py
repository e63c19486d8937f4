"""Does ``--lam auto`` choose well? Its criterion against the true tangent error (issue 9 §2).

On the built-in manifolds with true tangents, for each seed:

1. ``manifold-cae train --lam λ`` for every λ of the search grid (the full epochs), then
   ``analyze --split held-out``: the true mean largest principal angle (degrees) of each;
2. the criterion ``--lam auto`` uses (the share of the spread of each held-out point's
   nearest training points, about their mean, that the top-k tangents miss; k as the
   search estimated it) on those same full-length runs, and
   its Spearman rank correlation with the true angle over λ (+1: it ranks the λ values as
   the truth does);
3. ``manifold-cae train --lam auto`` and ``analyze``: the λ it chose and its true angle,
   against the best grid λ's (the issue's goal: within 20 %).

Everything but λ is the CLI's default (hidden 100, epochs auto: 500 on 1,000 points,
Adam 0.01, global input scaling); the grid runs take the input gain the search chose
(``--input-gain``), so that they differ from the auto run in λ alone. The analysis keeps
its defaults except a two-radius contraction curve on ten points, which the angle does not
use. The criterion's settings (20 neighbours, the top half of the grid trained to full
length, ...) were chosen on seeds 0 and 1 of these same manifolds; seed 2 was not looked at
while designing them.

    python scripts/lam_auto_study.py --out lam_auto.md                 # ~12 min per seed
    python scripts/lam_auto_study.py --seeds 0,1,2 --manifolds circle:10,helix:50 --out x.md
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

import manifold_cae
from manifold_cae import LamSearchConfig, load_checkpoint, load_dataset, search_of
from manifold_cae.lam_search import DEFAULT_GRID, neighbour_displacements, tangent_fit
from manifold_cae.report import load_analysis
from manifold_cae.runs import split

MANIFOLDS = "circle:10,helix:50,swiss-roll:3,sphere:20,torus:30"  # name:ambient_dim
WITHIN = 1.2  # the goal: auto's angle at most 20 % above the best grid λ's
ANALYSIS = ("--contraction-points", "10", "--n-radii", "2")  # the angle does not use them


class Toolkit:
    """The CLI, called in this process (so the defaults are whatever they are today)."""

    def __init__(self, work: Path) -> None:
        self.work, self.commands = work, []

    def __call__(self, *args: str) -> None:
        from manifold_cae.cli import main

        self.commands.append(shlex.join(["manifold-cae", *args]))
        with contextlib.redirect_stdout(io.StringIO()):  # each command's "wrote ..." line
            main.main(args=list(args), prog_name="manifold-cae", standalone_mode=False)

    def train(self, spec: str, name: str, lam: str, seed: int, *extra: str) -> Path:
        run = self.work / "runs" / name
        seeds = ("--seed", str(seed), "--data-seed", str(seed))
        self("train", "--data", spec, "--lam", lam, *seeds, *extra, "--out", str(run), "-q",
             "--overwrite")  # fmt: skip
        return run

    def angle(self, run: Path, spec: str) -> float:
        """Mean largest principal angle to the truth (degrees) on the held-out points."""
        out = self.work / "analyses" / run.name
        self("analyze", str(run), "--data", spec, "--split", "held-out", "--out", str(out),
             "-q", *ANALYSIS)  # fmt: skip
        return load_analysis(out).summary.angles.cae.mean


def criterion(run: Path, spec: str, k: int, settings: LamSearchConfig) -> float:
    """The search's criterion on a trained run: the same sample, neighbours, seed and k."""
    ckpt = load_checkpoint(run)
    training = ckpt.config.training
    ds = load_dataset(spec, seed=training.data_seed)
    train_idx, held_idx = split(ds, training)
    disp = neighbour_displacements(
        ds.X[train_idx], ds.X[held_idx], neighbours=settings.neighbours,
        points=settings.points, reference=settings.reference, seed=training.seed,
    )  # fmt: skip
    return tangent_fit(ckpt.model, disp, k, seed=training.seed).missed(k)


def study_one(tk: Toolkit, name: str, ambient: str, noise: float, n: int, seed: int) -> dict:
    spec = f"{name}:n_samples={n},noise={noise:g},ambient_dim={ambient}"
    tag = f"{name}-{ambient}-s{seed}"
    t0 = time.perf_counter()
    auto = tk.train(spec, f"{tag}-auto", "auto", seed)
    search_s = time.perf_counter() - t0
    record = search_of(load_checkpoint(auto).config)
    k, gain = record.rounds[-1].k, record.gain or 1.0
    angles, values = [], []
    for lam in DEFAULT_GRID:  # at the input gain the search chose, so that only λ differs
        run = tk.train(spec, f"{tag}-lam{lam:g}", f"{lam:g}", seed, "--input-gain", f"{gain:g}")
        angles.append(tk.angle(run, spec))
        values.append(criterion(run, spec, k, record.settings))
    d = int(load_dataset(spec, seed=seed).tangents.shape[1])
    best = int(np.argmin(angles))
    row = {
        "name": name, "D": ambient, "seed": seed, "d": d, "k": k, "angles": angles,
        "criterion": values, "best_lam": DEFAULT_GRID[best], "best_angle": angles[best],
        "auto_lam": record.chosen, "auto_angle": tk.angle(auto, spec),
        "rho": float(spearmanr(values, angles).statistic), "search_s": search_s, "gain": gain,
    }  # fmt: skip
    row["ratio"] = row["auto_angle"] / row["best_angle"]
    print(f"  {spec} seed {seed}: k={k} (d={d}), best λ={row['best_lam']:.3g} "
          f"{row['best_angle']:.1f}°, auto λ={row['auto_lam']:.3g} {row['auto_angle']:.1f}° "
          f"(×{row['ratio']:.2f}), ρ={row['rho']:+.2f}", flush=True)  # fmt: skip
    return row


def summary_table(rows: list[dict]) -> str:
    head = ("| manifold | D | seed | k (true / estimated) | input gain (chosen) | best grid λ "
            "(angle °) | auto λ (angle °) | auto / best | within 20 % | Spearman ρ (criterion, "
            "angle) |")  # fmt: skip
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        ok = "✓" if r["ratio"] <= WITHIN else "✗"
        lines.append(
            f"| {r['name']} | {r['D']} | {r['seed']} | {r['d']} / {r['k']} | {r['gain']:g} | "
            f"{r['best_lam']:.3g} ({r['best_angle']:.1f}) | {r['auto_lam']:.3g} "
            f"({r['auto_angle']:.1f}) | {r['ratio']:.2f} | {ok} | {r['rho']:+.2f} |"
        )
    return "\n".join(lines)


def curve_table(rows: list[dict]) -> str:
    lams = " | ".join(f"{lam:.3g}" for lam in DEFAULT_GRID)
    lines = [f"| manifold, seed | quantity | {lams} |", "|" + "---|" * (2 + len(DEFAULT_GRID))]
    for r in rows:
        who = f"{r['name']}, {r['seed']}"
        lines.append(f"| {who} | criterion | " + " | ".join(f"{v:.4f}" for v in r["criterion"])
                     + " |")  # fmt: skip
        lines.append(f"| {who} | angle ° | " + " | ".join(f"{v:.1f}" for v in r["angles"]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="markdown file for the tables")
    ap.add_argument("--manifolds", default=MANIFOLDS, help="name:ambient_dim list")
    ap.add_argument("--noise", type=float, default=0.05, help="noise level of every manifold")
    ap.add_argument("--n", type=int, default=1000, help="points per manifold (20 %% held out)")
    ap.add_argument("--seeds", default="0", help="train and data seeds (comma list)")
    ap.add_argument("--work", type=Path, help="keep the runs and analyses here [default: tmp]")
    args = ap.parse_args(argv)
    command = shlex.join(["python", "scripts/lam_auto_study.py", *(argv or sys.argv[1:])])
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="lam_auto_") as tmp:
        tk = Toolkit(args.work or Path(tmp))
        for seed in (int(s) for s in args.seeds.split(",")):
            for item in args.manifolds.split(","):
                name, _, ambient = item.partition(":")
                rows.append(study_one(tk, name, ambient, args.noise, args.n, seed))
    met = sum(r["ratio"] <= WITHIN for r in rows)
    text = (
        f"## `--lam auto` against the true tangents (manifold_cae {manifold_cae.__version__})\n\n"
        f"Command: `{command}` ({time.perf_counter() - t0:.0f} s; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads). Data `NAME:n_samples={args.n},noise="
        f"{args.noise:g},ambient_dim=D`, 20 % held out; every run with the CLI's defaults but "
        f"λ. Angles: mean largest principal angle to the true tangents on the held-out "
        f"points (`analyze --split held-out`). Criterion: the share of the spread of held-out "
        f"points' nearest training points (about their mean) that the top-k tangents miss "
        f"(lower is better), with the k the search "
        f"estimated, on the full-length grid runs. Within 20 % of the best grid λ: "
        f"{met} / {len(rows)}; median Spearman ρ {np.median([r['rho'] for r in rows]):+.2f}."
        f"\n\n{summary_table(rows)}\n\nThe curves (grid λ across):\n\n{curve_table(rows)}\n"
    )
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
