"""Peak memory of training and analysing on a .npy larger than memory should need.

Writes a float32 .npy of random values in [0, 1] (about 2 GB by default), chunk by chunk
through ``np.lib.format.open_memmap`` so writing it needs little memory either, then runs
``manifold_cae train`` and ``manifold_cae analyze`` on it, each in its own subprocess, and
prints the file's size and each subprocess's peak resident memory (``ru_maxrss`` from
``wait4``, exact), with the sampled peaks of its anonymous memory (what it allocated) and
of its mapped file pages (which the kernel can drop at will).

    PYTHONPATH=. python scripts/bench_memory.py                # 700,000 x 784, ~2.2 GB
    PYTHONPATH=. python scripts/bench_memory.py --rows 50000   # a quick look

The file is deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from manifold_cae.data.streaming import release_pages

WRITE_ROWS = 16384  # rows written per chunk


def write_npy(path: Path, n_rows: int, n_features: int, *, seed: int) -> None:
    """A float32 .npy of shape (n_rows, n_features), uniform in [0, 1), written in chunks."""
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_rows, n_features))
    for start in range(0, n_rows, WRITE_ROWS):
        stop = min(start + WRITE_ROWS, n_rows)
        out[start:stop] = rng.random((stop - start, n_features), dtype=np.float32)
        out.flush()
        release_pages(out)
    del out


def _status_kib(pid: int) -> dict[str, int]:
    """RssAnon and RssFile of ``pid`` in KiB, from /proc (empty once it has exited)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    fields = (line.split() for line in lines if line.startswith(("RssAnon:", "RssFile:")))
    return {f[0].rstrip(":"): int(f[1]) for f in fields}


def run_measured(cmd: list[str]) -> dict[str, float]:
    """Run ``cmd``; its wall time and peak RSS, anonymous and file-backed memory (MiB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peaks = {"RssAnon": 0, "RssFile": 0}
    done = threading.Event()

    def sample() -> None:  # /proc has no peak per kind: sample it every 50 ms
        while not done.is_set():
            for key, kib in _status_kib(proc.pid).items():
                peaks[key] = max(peaks[key], kib)
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
    return {
        "seconds": time.perf_counter() - t0,
        "peak_rss_mib": usage.ru_maxrss / 1024,  # KiB on Linux
        "peak_anon_mib": peaks["RssAnon"] / 1024,
        "peak_file_mib": peaks["RssFile"] / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=700_000)
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--path", type=Path, help="where to write the .npy (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the .npy afterwards")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        work = Path(tmp)
        path = args.path or work / "big.npy"
        t0 = time.perf_counter()
        write_npy(path, args.rows, args.features, seed=0)
        size = path.stat().st_size
        print(
            f"wrote {path}: {args.rows} x {args.features} float32, {size / 1e9:.2f} GB "
            f"({size / 2**30:.2f} GiB) in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        python = [sys.executable, "-m", "manifold_cae"]
        run = work / "run"
        steps = {
            "train": [*python, "train", "--data", str(path), "--model", "cae", "--lam", "0.1",
                      "--hidden", str(args.hidden), "--epochs", "1", "--batch-size", "512",
                      "--device", "cpu", "-q", "--out", str(run)],
            "analyze": [*python, "analyze", str(run), "--data", str(path),
                        "--points", str(args.points), "--top-k", "10", "--no-full-spectrum",
                        "--device", "cpu",
                        "-q", "--out", str(work / "analysis")],
        }  # fmt: skip
        try:
            for name, cmd in steps.items():
                m = run_measured(cmd)
                print(
                    f"{name:8s} peak RSS {m['peak_rss_mib']:7.0f} MiB  (sampled peaks: "
                    f"anonymous {m['peak_anon_mib']:.0f} MiB, file pages "
                    f"{m['peak_file_mib']:.0f} MiB)  {m['seconds']:.0f} s",
                    flush=True,
                )
        finally:
            if not args.keep:
                path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
