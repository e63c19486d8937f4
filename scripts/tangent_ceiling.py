"""What the default encoder can reach when it is told the true tangents: a ceiling for
bench_geometry's tangent goals.

``bench_geometry.py --parts tangents`` measures the default CAE against local PCA. When a
goal is missed, is the λ criterion to blame, or can the function class not hold those
tangents at all? This script answers the second question. For each built-in manifold and
noise level it builds exactly the model ``manifold-cae train --data SPEC`` builds (the
architecture, the input scaling fitted on the training split, the initial weights, the
epochs, batch size, learning rate and data order of the defaults), and trains it with the
contractive penalty replaced by an oracle:

    loss = reconstruction + beta * ||J_f(x) P_N(x)||_F^2,

where P_N(x) projects on the *true* normal space at x (the data's own tangents, which only
a built-in manifold has). No direction along the manifold is penalised, so nothing competes
with the tangents but the reconstruction. beta runs over a log grid, and the table keeps the
beta whose held-out angle is best: it picks with the truth, so the angle is optimistic. A
goal that even this misses cannot be met by choosing lambda better; it needs another
encoder (width, depth, activation), and ``--hidden`` / ``--activation`` measure those.

    python scripts/tangent_ceiling.py --out ceiling.md                     # ~15 min, 1 thread
    python scripts/tangent_ceiling.py --manifolds swiss-roll:3 --hidden 100,100

The angle is bench_geometry's: the mean over the held-out points of the largest principal
angle between the top-k right singular vectors of J_f and the true tangents, in degrees.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

import manifold_cae as mc
from manifold_cae.analysis import principal_angles
from manifold_cae.jacobian import encoder_jacobian
from manifold_cae.objectives import reconstruction_loss
from manifold_cae.runs import split
from manifold_cae.train import init_model

TANGENT_DEFAULT = "circle:10,helix:50,swiss-roll:3,sphere:20,torus:30"  # as bench_geometry
BETAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


def held_out_angle(model: mc.Autoencoder, X: np.ndarray, T: np.ndarray) -> float:
    """Mean largest principal angle (degrees) between the model's top-k tangents and T.

    X: (n, D) raw points; T: (n, k, D) true orthonormal tangents.
    """
    k = T.shape[1]
    basis = mc.tangents(model, torch.as_tensor(X, dtype=torch.float32), k).basis.double()
    truth = torch.as_tensor(T, dtype=torch.float64).transpose(1, 2)  # (n, D, k)
    return float(principal_angles(basis, truth)[:, 0].rad2deg().mean())


def train_oracle(ds: mc.Dataset, config: mc.RunConfig, beta: float) -> mc.Autoencoder:
    """The default model trained with beta * ||J P_N||^2 in place of the CAE penalty.

    ``config`` is the run config of ``manifold-cae train`` for ``ds``; its training
    settings (epochs, batch size, lr, seeds) are kept, and Adam as the default.
    """
    tcfg = config.training
    tr, _ = split(ds, tcfg)
    model = init_model(config)
    model.set_input_scaling(ds.X[tr])
    X = torch.as_tensor(ds.X[tr], dtype=torch.float32)
    T = torch.as_tensor(ds.tangents[tr], dtype=torch.float32)  # (n, k, D)
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr)
    order = torch.Generator().manual_seed(tcfg.seed + 1)
    for _ in range(int(tcfg.epochs)):
        perm = torch.randperm(len(X), generator=order)
        for start in range(0, len(X), tcfg.batch_size):
            rows = perm[start : start + tcfg.batch_size]
            x, t = X[rows], T[rows]
            z = model.standardize(x)
            recon = reconstruction_loss(model.core(), z, z).mean()
            J = encoder_jacobian(model, x)  # (b, d_h, D), raw coordinates
            along = torch.einsum("bhd,bkd->bhk", J, t)  # J's part on the tangents
            normal = J.square().sum((1, 2)) - along.square().sum((1, 2))  # ||J P_N||_F^2
            loss = recon + beta * normal.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifolds", default=TANGENT_DEFAULT, help="name:ambient_dim, comma-separated")
    p.add_argument("--noise", default="0,0.02,0.05,0.1")
    p.add_argument("--betas", default=",".join(map(str, BETAS)))
    p.add_argument("--hidden", default="100", help="encoder sizes, as train's --hidden")
    p.add_argument("--activation", default="sigmoid")
    p.add_argument("--seed", type=int, default=0, help="data and training seed (as bench)")
    p.add_argument("--out", type=Path, help="write the markdown table here too")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    betas = [float(b) for b in args.betas.split(",")]
    hidden = tuple(int(h) for h in args.hidden.split(","))
    rows = []
    started = time.time()
    for item in args.manifolds.split(","):
        name, dim = item.split(":")
        for noise in args.noise.split(","):
            spec = f"{name}:n_samples=1000,noise={noise},ambient_dim={dim}"
            ds = mc.load_dataset(spec, seed=args.seed)
            training = mc.TrainConfig(seed=args.seed, data_seed=args.seed)
            config = mc.make_run_config(
                ds, hidden=hidden, activation=args.activation, training=training
            )
            _, held = split(ds, config.training)
            angles = []
            for beta in betas:
                model = train_oracle(ds, config, beta)
                angles.append(held_out_angle(model, ds.X[held], ds.tangents[held]))
            best = int(np.argmin(angles))
            rows.append((name, dim, noise, angles, betas[best]))
            print(f"{spec}: " + " ".join(f"{a:.1f}" for a in angles), file=sys.stderr)
    lines = [
        "## Tangent ceiling: the default encoder trained with the true normals",
        "",
        f"Command: `python scripts/tangent_ceiling.py {' '.join(argv or sys.argv[1:])}`",
        f"Encoder {args.hidden} {args.activation}, tied, the defaults' input scaling, epochs, "
        f"batch size and lr; seed {args.seed}; torch {torch.__version__}, 1 thread "
        f"({time.time() - started:.0f} s).",
        "Mean largest principal angle (degrees, held-out points) per beta of the oracle "
        "penalty beta ||J P_N||^2; best: the lowest, chosen with the truth.",
        "",
        "| manifold | D | noise | " + " | ".join(f"β {b:g}" for b in betas) + " | best |",
        "|" + "---|" * (len(betas) + 4),
    ]
    for name, dim, noise, angles, beta in rows:
        cells = " | ".join(f"{a:.1f}" for a in angles)
        lines.append(f"| {name} | {dim} | {noise} | {cells} | {min(angles):.1f} (β {beta:g}) |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
