"""Sharded analysis: two gloo processes give what one process gives.

The processes are real (torch.multiprocessing, and torchrun for the CLI) and
talk over a file rendezvous or loopback TCP; nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import manifold_cae as mc
import manifold_cae.report
from manifold_cae.config import ModelConfig

pytestmark = pytest.mark.slow

CONFIG = dict(points=150, chunk_size=32, store_points=40, contraction_points=70)


def assert_close(a, b, path="summary"):
    """Equal JSON, numbers to float tolerance (sums may be added in another order)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-12), path
    else:
        assert a == b, path


def _analyse(rank: int, world: int, tmp: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rdzv{world}", rank=rank,
                            world_size=world)  # fmt: skip
    try:
        ds = mc.load_dataset("swiss-roll:n_samples=300,noise=0.02")
        gen = torch.Generator().manual_seed(0)
        model = mc.Autoencoder(ModelConfig(3, (16,), output="linear"), generator=gen)
        res = mc.analyze(model, ds.X, tangents=ds.tangents, config=mc.AnalysisConfig(**CONFIG))
        arrays = {f"c_{k}": v for k, v in res.columns.items()}
        arrays |= {f"a_{k}": v for k, v in res.arrays.items()}
        np.savez(f"{tmp}/rank{rank}_of{world}.npz", **arrays)
        Path(f"{tmp}/rank{rank}_of{world}.json").write_text(json.dumps(res.summary.to_json()))
    finally:
        dist.destroy_process_group()


def test_two_processes_equal_one(tmp_path):
    for world in (1, 2):
        mp.spawn(_analyse, args=(world, str(tmp_path)), nprocs=world)
    one = np.load(tmp_path / "rank0_of1.npz")
    summary = json.loads((tmp_path / "rank0_of1.json").read_text())
    for rank in (0, 1):  # every rank ends with the merged result
        two = np.load(tmp_path / f"rank{rank}_of2.npz")
        assert sorted(one.files) == sorted(two.files)
        for k in one.files:
            np.testing.assert_allclose(one[k], two[k], rtol=1e-6, atol=1e-9, err_msg=k)
        assert_close(summary, json.loads((tmp_path / f"rank{rank}_of2.json").read_text()))


def test_torchrun_analyze_writes_what_one_process_writes(tmp_path):
    spec = "circle:n_samples=200,noise=0.02,ambient_dim=4"
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "manifold_cae"]
    train = [*base, "train", "--data", spec, "--hidden", "8", "--epochs", "2", "--out", str(run),
             "-q"]  # fmt: skip
    subprocess.run(train, check=True, env=env, capture_output=True)
    analyse = ["analyze", str(run), "--data", spec, "--points", "120", "--chunk-size", "16", "-q"]
    subprocess.run([*base, *analyse, "--out", str(tmp_path / "one")], check=True, env=env,
                   capture_output=True)  # fmt: skip
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
              "--master-port", "29533", "-m", "manifold_cae"]  # fmt: skip
    out = subprocess.run([*launch, *analyse, "--out", str(tmp_path / "two")], env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    one, two = tmp_path / "one", tmp_path / "two"
    summaries = [json.loads((d / "summary.json").read_text()) for d in (one, two)]
    summaries[1]["provenance"]["run_dir"] = summaries[0]["provenance"]["run_dir"]
    assert_close(*summaries)
    points = [mc.report.load_analysis(d).points for d in (one, two)]
    for k, column in points[0].items():
        np.testing.assert_allclose(column, points[1][k], rtol=1e-6, err_msg=k)
    with np.load(one / "spectra.npz") as a, np.load(two / "spectra.npz") as b:
        for k in a.files:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-9, err_msg=k)
