"""The analysis kernels on a GPU: where the time goes, which route is fastest, before and after.

One run prints every figure of the README's GPU table (issue #13):

1. the card, torch, CUDA, and the TF32 switches (off: float32 means float32);
2. profiles (``torch.profiler``) of one chunk of each kernel, for the code
   before this change (``--before DIR``: an older copy of the package, run in a
   child process) and after: the top operators by GPU time and the count of
   host synchronisations and copies;
3. throughput in points per second of every route of each kernel at
   784 -> 1000 (full spectra: cuSOLVER ``eigvalsh``, LAPACK on the host's
   cores, batched Householder + bisection; top-10 tangents: QR vs Gram
   orthonormalisation, Rayleigh-Ritz on the device vs the host), with the
   accuracy columns of the CPU table against a float64 SVD of the same Jacobians;
4. the whole ``analyze`` of ``--analyze-points`` points (mnist5k tiled, with
   noise) with everything on, before (on fewer points) and after.

    python scripts/bench_gpu.py --before .bench_before       # on the GPU machine
    python scripts/bench_gpu.py --device cpu --points 32 --analyze-points 64 --small  # dry run

Model and data: ``--model`` (a ``.safetensors`` from ``manifold-cae train``)
and ``--data`` (a ``.npy``), by default the CAE 784 -> 1000 trained 10 epochs
on mnist5k that ``scripts/bench_gpu.sh`` prepares.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

SYNC_OPS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaMemcpyAsync", "cudaMemcpy")


def load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from manifold_cae import load_model

    if args.small:  # a dry run: a small random-ish CAE on small data
        from manifold_cae import Autoencoder, ModelConfig

        gen = torch.Generator().manual_seed(0)
        X = torch.rand(600, 64, generator=gen).numpy()
        return Autoencoder(ModelConfig(64, (80,)), generator=gen).eval(), X
    return load_model(args.model).eval(), np.load(args.data)


def timed(fn: Callable[[], Any], sync: Callable[[], None], repeat: int = 1) -> float:
    fn()  # warm-up: kernels, handles, allocator
    sync()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    sync()
    return (time.perf_counter() - t) / repeat


def profile(fn: Callable[[], Any], device: torch.device, out: Path | None, name: str) -> dict:
    """Top operators by device (else CPU) time, and the host-synchronising calls, of one call."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    fn()
    with prof(activities=acts) as p:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
    events = p.key_averages()
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    try:
        table = events.table(sort_by=key, row_limit=10)
    except Exception:  # older torch names it cuda_time
        key = "self_cuda_time_total" if device.type == "cuda" else key
        table = events.table(sort_by=key, row_limit=10)
    if out is not None:
        (out / f"profile_{name}.txt").write_text(table)
    syncs = {e.key: e.count for e in events if e.key in SYNC_OPS}
    launches = sum(e.count for e in events if e.key in ("cudaLaunchKernel", "cuLaunchKernel"))
    top = sorted(events, key=lambda e: getattr(e, key, 0), reverse=True)[:4]
    total = sum(getattr(e, key, 0) for e in events) or 1
    return {
        "syncs": syncs,
        "launches": launches,
        "top": [(e.key[:40], round(100 * getattr(e, key, 0) / total, 1)) for e in top],
    }


def kernels(args: argparse.Namespace) -> dict:
    """Time and profile the kernels with whatever package is on sys.path (before or after)."""
    import inspect

    from manifold_cae.analysis import FactoredJacobian, full_spectrum, top_singular

    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    model, X = load(args)
    model = model.to(device)
    xs = torch.as_tensor(X[: args.points], device=device)
    new = "ritz" in inspect.signature(top_singular).parameters
    out = Path(args.out) if args.out else None
    res: dict[str, Any] = {"new": new, "routes": {}}
    g = torch.Generator(device=device).manual_seed(0)

    def full(x: torch.Tensor, **kw: Any) -> Callable[[], Any]:
        return lambda: full_spectrum(FactoredJacobian(model, x), **kw)

    def topk(x: torch.Tensor, **kw: Any) -> Callable[[], Any]:
        return lambda: top_singular(FactoredJacobian(model, x), 10, generator=g, **kw)

    tag = "after" if new else "before"
    n_slow = min(len(xs), args.slow_points)
    if new:
        routes = {
            "full: eigvalsh (cuSOLVER)": (full, dict(method="lapack"), n_slow),
            "full: LAPACK on host cores": (full, dict(method="host"), min(len(xs), 512)),
            "full: Householder + bisection": (full, dict(method="tridiagonal"), len(xs)),
            "top-10: QR + eigh on device": (topk, dict(orth="qr", ritz="lapack"), n_slow),
            "top-10: Gram + eigh on device": (topk, dict(orth="gram", ritz="lapack"), n_slow),
            "top-10: Gram + eigh on host": (topk, dict(orth="gram", ritz="host"), len(xs)),
        }
    else:
        routes = {
            "full: eigvalsh (cuSOLVER)": (full, {}, n_slow),
            "top-10: QR + eigh on device": (topk, {}, n_slow),
        }
    for name, (make, kw, n) in routes.items():
        try:
            t = timed(make(xs[:n], **kw), sync)
            res["routes"][name] = {"points": n, "points_per_s": n / t}
        except Exception as e:  # a route that fails here is reported, not fatal
            res["routes"][name] = {"error": f"{type(e).__name__}: {e}"[:200]}
        print(f"  [{tag}] {name:<34} {res['routes'][name]}", flush=True)
    chunk = xs[: min(256, len(xs))]
    res["profile_full"] = profile(full(chunk), device, out, f"full_{tag}")
    res["profile_topk"] = profile(topk(chunk), device, out, f"topk_{tag}")
    if new:  # accuracy of the default routes against float64, as in the CPU table
        res["accuracy"] = accuracy(model, xs[: args.accuracy_points], g)
    return res


def accuracy(model, x: torch.Tensor, g: torch.Generator) -> dict:  # type: ignore[no-untyped-def]
    """Default routes against a float64 SVD of the same Jacobians (formed densely in float64)."""
    import scipy.linalg

    from manifold_cae.analysis import FactoredJacobian, full_spectrum, top_singular

    op = FactoredJacobian(model, x)
    jac = op.to(torch.float64).dense().cpu().numpy()
    _, s64, vt64 = np.linalg.svd(jac)
    s = full_spectrum(op).double().cpu().numpy()
    top = top_singular(op, 10, generator=g)
    tv = top.values.double().cpu().numpy()
    angle = max(
        scipy.linalg.subspace_angles(top.vectors[i].double().cpu().numpy(), vt64[i, :10].T).max()
        for i in range(len(x))
    )
    return {
        "full_top10_rel_err": float(np.max(np.abs(s[:, :10] - s64[:, :10]) / s64[:, :10])),
        "full_abs_err_over_sigma1": float(np.max(np.abs(s - s64) / s64[:, :1])),
        "topk_rel_err": float(np.max(np.abs(tv - s64[:, :10]) / s64[:, :10])),
        "topk_max_angle_rad": float(angle),
        "dense_fallbacks": int(top.dense_fallback.sum()),
        "points": len(x),
    }


def whole_analyze(args: argparse.Namespace, n_points: int) -> dict:
    from manifold_cae import analyze
    from manifold_cae.config import AnalysisConfig

    model, X = load(args)
    rng = np.random.default_rng(0)
    reps = -(-n_points // len(X))
    big = np.concatenate([X] * reps)[:n_points]
    big = np.clip(big + rng.normal(0, 0.01, big.shape), 0, 1).astype(np.float32)
    config = AnalysisConfig(points=None, top_k=10, device=args.device)  # the README's k
    if args.device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    result = analyze(model, big, config=config, progress=False)
    if args.device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    s = result.summary
    return {
        "points": n_points,
        "seconds": seconds,
        "points_per_s": n_points / seconds,
        "notes": list(s.notes),
        "angle_cae_vs_local_pca_mean": getattr(
            getattr(s.angles, "cae_vs_local_pca", None), "mean", None
        ),
    }


def child(args: argparse.Namespace, pythonpath: str, mode: str) -> dict:
    """Run this script's ``mode`` in a child process with another copy of the package."""
    import tempfile

    result = Path(tempfile.mkdtemp()) / "result.json"
    cmd = [sys.executable, __file__, "--mode", mode, f"--result={result}"] + [
        f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
        if k not in ("mode", "before", "small", "result") and v is not None
    ] + (["--small"] if args.small else [])  # fmt: skip
    env = {**os.environ, "PYTHONPATH": pythonpath}
    code = subprocess.run(cmd, env=env).returncode  # its progress lines stream through
    if code or not result.exists():
        return {"error": f"child exited {code}"}
    return json.loads(result.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--model", default=".bench_gpu/cae784x1000.safetensors")
    ap.add_argument("--data", default=".bench_gpu/mnist5k.npy")
    ap.add_argument("--before", help="folder holding the older manifold_cae package")
    ap.add_argument("--points", type=int, default=4096, help="points for the fast routes")
    ap.add_argument("--slow-points", type=int, default=128, help="points for the slow routes")
    ap.add_argument("--accuracy-points", type=int, default=32)
    ap.add_argument("--analyze-points", type=int, default=20000)
    ap.add_argument("--before-analyze-points", type=int, default=256)
    ap.add_argument("--out", default=os.environ.get("OUT"))
    ap.add_argument("--small", action="store_true", help="a small random model (dry run)")
    ap.add_argument("--mode", default="main", choices=("main", "kernels", "analyze"))
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.mode != "main":
        res = kernels(args) if args.mode == "kernels" else whole_analyze(args, args.analyze_points)
        Path(args.result).write_text(json.dumps(res))
        return

    dev = torch.device(args.device)
    card = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(f"bench_gpu: {card}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"TF32 matmul {torch.backends.cuda.matmul.allow_tf32}, "
          f"cuDNN TF32 {torch.backends.cudnn.allow_tf32}, host threads {torch.get_num_threads()}",
          flush=True)  # fmt: skip
    here = str(Path(__file__).resolve().parents[1])
    report: dict[str, Any] = {"card": card, "torch": torch.__version__}
    if args.before:
        report["before"] = child(args, args.before, "kernels")
        b_args = argparse.Namespace(**{**vars(args), "analyze_points": args.before_analyze_points})
        report["before_analyze"] = child(b_args, args.before, "analyze")
        print(f"  [before] analyze: {report['before_analyze']}", flush=True)
    report["after"] = child(args, here, "kernels")
    report["after_analyze"] = child(args, here, "analyze")
    print(f"  [after] analyze: {report['after_analyze']}", flush=True)
    if args.out:
        Path(args.out, "bench_gpu.json").write_text(json.dumps(report, indent=1))
    summarise(report)


def summarise(report: dict) -> None:
    print(f"\n== summary ({report['card']}, torch {report['torch']}) ==")
    for tag in ("before", "after"):
        r = report.get(tag)
        if not r or "routes" not in r:
            continue
        for name, v in r["routes"].items():
            rate = f"{v['points_per_s']:10.0f} points/s" if "points_per_s" in v else v["error"]
            print(f"{tag:<6} {name:<34} {rate}")
        for kern in ("profile_full", "profile_topk"):
            p = r[kern]
            print(f"{tag:<6} {kern:<13} launches {p['launches']:>6}  syncs {p['syncs']}")
            print(f"{'':<20} top {p['top']}")
    acc = report.get("after", {}).get("accuracy")
    if acc:
        print(f"after  accuracy vs float64: {acc}")
    for tag in ("before_analyze", "after_analyze"):
        a = report.get(tag)
        if a and "seconds" in a:
            print(f"{tag:<15} {a['points']} points in {a['seconds']:.1f} s "
                  f"({a['points_per_s']:.0f} points/s); notes {a['notes'][-1:]}")  # fmt: skip


if __name__ == "__main__":
    main()
