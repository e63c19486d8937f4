"""torch.distributed: two gloo processes give what one process gives, for analysis and training.

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
import manifold_cae.checkpoint
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


def _exit_now() -> None:
    """End a spawned rank whose work is done and saved as ``distributed.finish`` ends a
    torchrun command: in the skipped teardown about one two-rank gloo process in a hundred
    aborts (SIGABRT) after its last Python frame, failing a test whose work had passed.
    mp.spawn reads the status 0 as success; an error never gets here (it propagates to
    spawn, which reports it)."""
    from manifold_cae import distributed

    distributed.exit_at_once()


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
    _exit_now()


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


TRAIN_CASES = {
    "cae": dict(kind="cae", lam=0.3),
    "dae": dict(kind="dae", noise=0.2),  # noise: each rank draws its rows of the batch's noise
    "cae-deep": dict(kind="cae", penalty="stochastic", lam=0.3),
}


def _train(rank: int, world: int, tmp: str, case: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{tmp}/train{case}{world}", rank=rank,
                            world_size=world)  # fmt: skip
    try:
        ds = mc.load_dataset("circle:n_samples=203,noise=0.05,ambient_dim=5")
        hidden = (12, 6) if case == "cae-deep" else (12,)
        cfg = mc.make_run_config(
            ds, hidden=hidden, objective=mc.ObjectiveConfig(**TRAIN_CASES[case]),
            training=mc.TrainConfig(epochs=3, batch_size=50, lr=0.01, seed=4),
        )  # fmt: skip
        result = mc.train_dataset(ds, cfg, out_dir=f"{tmp}/run{case}{world}", progress=False)
        if rank == 0:
            torch.save({k: v.clone() for k, v in result.model.state_dict().items()},
                       f"{tmp}/w{case}{world}.pt")  # fmt: skip
    finally:
        dist.destroy_process_group()
    _exit_now()


@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_two_process_training_equals_one(tmp_path, case):
    """Same global batch and seed: the loss curve and final weights of 2 gloo ranks match 1."""
    for world in (1, 2):
        mp.spawn(_train, args=(world, str(tmp_path), case), nprocs=world)
    histories = [mc.checkpoint.read_history(tmp_path / f"run{case}{w}") for w in (1, 2)]
    for one, two in zip(*histories, strict=True):
        for key in ("loss", "reconstruction", "penalty", "jacobian_norm"):
            assert two[key] == pytest.approx(one[key], rel=1e-5, abs=1e-7), key
    assert histories[1][-1]["world_size"] == 2 and histories[1][-1]["backend"] == "gloo"
    w1, w2 = (torch.load(tmp_path / f"w{case}{w}.pt") for w in (1, 2))
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], rtol=1e-4, atol=1e-6)


def _diverge_on_rank_1(rank: int, tmp: str) -> None:
    """Rank 1 alone sees a NaN in its epoch-2 record: both ranks must stop with it."""
    import datetime

    import manifold_cae.train as train_module

    dist.init_process_group("gloo", init_method=f"file://{tmp}/diverge", rank=rank,
                            world_size=2, timeout=datetime.timedelta(seconds=60))  # fmt: skip
    try:
        if rank == 1:
            real, calls = train_module.mean_jacobian_norm, []

            def mean_jacobian_norm(*args, **kw):
                calls.append(None)
                return float("nan") if len(calls) == 2 else real(*args, **kw)

            train_module.mean_jacobian_norm = mean_jacobian_norm
        ds = mc.load_dataset("circle:n_samples=100,noise=0.05,ambient_dim=4")
        cfg = mc.make_run_config(ds, hidden=(6,), objective=mc.ObjectiveConfig(lam=0.1),
                                 training=mc.TrainConfig(epochs=4, batch_size=25))  # fmt: skip
        try:
            mc.train_dataset(ds, cfg, progress=False)
        except mc.DivergenceError as e:
            Path(f"{tmp}/diverged{rank}").write_text(str(e))
    finally:
        dist.destroy_process_group()
    _exit_now()


def test_a_divergence_seen_by_one_rank_stops_every_rank(tmp_path):
    """Without the epoch's agreed check, rank 0 would wait in the next all-reduce (a hang)."""
    mp.spawn(_diverge_on_rank_1, args=(str(tmp_path),), nprocs=2)
    assert "the jacobian norm became nan at epoch 2" in (tmp_path / "diverged1").read_text()
    assert "the record of another rank became" in (tmp_path / "diverged0").read_text()


def _on_main(rank: int, tmp: str) -> None:
    from manifold_cae import distributed

    dist.init_process_group("gloo", init_method=f"file://{tmp}/on_main", rank=rank, world_size=2)
    try:
        ran = []

        def compute(fail: bool) -> int:
            ran.append(rank)
            if fail:
                raise mc.ConfigError(f"scoring failed on rank {rank}")
            return 10 + rank

        value = distributed.on_main(lambda: compute(False))
        try:
            distributed.on_main(lambda: compute(True))
        except mc.ConfigError as e:
            error = str(e)
        Path(f"{tmp}/on_main{rank}").write_text(json.dumps([value, ran, error]))
    finally:
        dist.destroy_process_group()
    _exit_now()


def test_on_main_sends_rank_0s_result_and_raises_its_error_on_every_rank(tmp_path):
    """Rank 0 computes alone; when it raises, every rank raises (else the others would wait
    in the broadcast for a result that never comes: a hang)."""
    mp.spawn(_on_main, args=(str(tmp_path),), nprocs=2)
    for rank, ran in ((0, [0, 0]), (1, [])):
        got = json.loads((tmp_path / f"on_main{rank}").read_text())
        assert got == [10, ran, "scoring failed on rank 0"]


def _late_stack(rank: int, tmp: str) -> None:
    """Rank 1 starts after rank 0 has started the stack's run dir."""
    import time

    from manifold_cae.stacking import train_stacked_dataset

    dist.init_process_group("gloo", init_method=f"file://{tmp}/stack", rank=rank, world_size=2)
    try:
        if rank == 1:
            while not Path(f"{tmp}/run/stack.json").exists():
                time.sleep(0.05)
        ds = mc.load_dataset("swiss-roll:n_samples=100,noise=0.02")
        cfg = mc.make_run_config(ds, hidden=(6, 4), objective=mc.ObjectiveConfig(lam=0.1),
                                 training=mc.TrainConfig(epochs=4, stacked=True))  # fmt: skip
        train_stacked_dataset(ds, cfg, out_dir=f"{tmp}/run", progress=False)
        Path(f"{tmp}/done{rank}").touch()
    finally:
        dist.destroy_process_group()
    _exit_now()


def test_only_rank_0_starts_a_stacks_run_dir(tmp_path):
    """Rank 1 would otherwise find rank 0's stack.json and refuse a run dir that 'already
    holds a run'."""
    mp.spawn(_late_stack, args=(str(tmp_path),), nprocs=2)
    assert (tmp_path / "done0").exists() and (tmp_path / "done1").exists()
    assert mc.load_checkpoint(tmp_path / "run").config.training.stacked


def test_torchrun_stack_equals_one_process(tmp_path):
    """Rank 0 alone starts and finishes the stack's run dir; the weights are one process's."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["train", "--data", "swiss-roll:n_samples=150,noise=0.02", "--model", "cae", "-q",
            "--hidden", "8,4", "--stacked", "--epochs", "4", "--batch-size", "32"]  # fmt: skip
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
              "--master-port", "29535", "-m", "manifold_cae", *args]  # fmt: skip
    two = subprocess.run([*launch, "--out", str(tmp_path / "two")], env=env, capture_output=True,
                         text=True)  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    subprocess.run([sys.executable, "-m", "manifold_cae", *args, "--out", str(tmp_path / "one")],
                   check=True, env=env, capture_output=True)  # fmt: skip
    one, two = (mc.load_checkpoint(tmp_path / d).model for d in ("one", "two"))
    for k, v in one.state_dict().items():
        torch.testing.assert_close(two.state_dict()[k], v, rtol=1e-4, atol=1e-6)


def _finish(rank: int, tmp: str) -> None:
    from manifold_cae import distributed

    dist.init_process_group("gloo", init_method=f"file://{tmp}/finish", rank=rank, world_size=2)
    codes = []
    os._exit = codes.append  # this spawned process's own os module: recorded, not exited
    distributed.finish()
    Path(f"{tmp}/finished{rank}").write_text(json.dumps([codes, dist.is_initialized()]))


def test_finish_exits_every_rank_of_a_group_and_returns_in_a_world_of_one(tmp_path, monkeypatch):
    """In a group: the group is destroyed, then os._exit(0). Alone (the CLI in-process, as
    the CliRunner tests run it): finish returns and touches nothing."""
    mp.spawn(_finish, args=(str(tmp_path),), nprocs=2)
    for rank in (0, 1):
        assert json.loads((tmp_path / f"finished{rank}").read_text()) == [[0], False]
    from manifold_cae import distributed

    codes = []
    monkeypatch.setattr(os, "_exit", codes.append)
    distributed.finish()
    assert codes == []


def _search(rank: int, world: int, tmp: str) -> None:
    """A λ search (input gains included) in ``world`` gloo ranks; rank 1 scores badly."""
    import manifold_cae.lam_search as ls
    from manifold_cae.runs import split

    dist.init_process_group("gloo", init_method=f"file://{tmp}/search{world}", rank=rank,
                            world_size=world)  # fmt: skip
    try:
        if rank == 1:  # as another card might: its scores favour the later candidates
            real, calls = ls.tangent_fit, []

            def tangent_fit(*args, **kw):
                fit = real(*args, **kw)
                calls.append(None)
                return fit._replace(shares=fit.shares * len(calls) / 100, along=fit.along * 0)

            ls.tangent_fit = tangent_fit

            def neighbourhood_fit(disp, n):  # flat: it would cut no k
                calls.append(None)
                return ls.TangentFit(np.full(n, 1 / n), 4)

            ls.neighbourhood_fit = neighbourhood_fit
        ds = mc.load_dataset("circle:n_samples=200,noise=0.05,ambient_dim=4", seed=0)
        config = mc.make_run_config(
            ds, hidden=(8,), objective=mc.ObjectiveConfig(lam="auto"),
            training=mc.TrainConfig(epochs=5, batch_size=64, seed=0),
        )  # fmt: skip
        train_idx, held_idx = split(ds, config.training)
        search = mc.LamSearchConfig(grid=(0.01, 1.0, 100.0), keep=2, points=30)
        result = mc.search_lam(ds.X[train_idx], ds.X[held_idx], config, search=search)
        Path(f"{tmp}/search{rank}_of{world}.json").write_text(json.dumps(result.to_dict()))
        if rank == 1:
            Path(f"{tmp}/scored{rank}_of{world}").write_text(str(len(calls)))
    finally:
        dist.destroy_process_group()
    _exit_now()


def test_two_rank_lam_search_takes_rank_0s_scores_and_matches_one_process(tmp_path):
    """Every decision of the search (finalists, k, λ, length, gain) is rank 0's on every rank:
    rank 1, whose scores would choose otherwise, scores nothing; and it is what one process
    chooses (the candidates train data-parallel, equal to one process to float tolerance)."""
    for world in (1, 2):
        mp.spawn(_search, args=(world, str(tmp_path)), nprocs=world)
    assert (tmp_path / "scored1_of2").read_text() == "0"  # rank 0 alone scored
    one, zero, other = (
        json.loads((tmp_path / f"search{r}_of{w}.json").read_text())
        for r, w in ((0, 1), (0, 2), (1, 2))
    )
    assert other == zero  # rank 1 recorded rank 0's scores, local PCA and choices, not its own
    assert zero["local_lifts"] == pytest.approx(one["local_lifts"], rel=1e-12)
    assert zero["gain"] == one["gain"] and zero["by_gain"] is not None
    assert len(zero["by_gain"]) == 2  # the circle is scaled: both gains were searched
    for a, b in zip(zero["rounds"], one["rounds"], strict=True):
        assert (a["lams"], a["k"], a["epochs"]) == (b["lams"], b["k"], b["epochs"])
        assert a["missed"] == pytest.approx(b["missed"], rel=1e-4, abs=1e-6)
    assert (zero["chosen"], zero.get("epochs")) == (one["chosen"], one.get("epochs"))


def test_torchrun_training_resumes_with_another_world_size(tmp_path):
    """2 ranks for 2 epochs, then 1 process to 4 epochs, equals 1 process for 4 epochs."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["train", "--data", "circle:n_samples=150,noise=0.05,ambient_dim=4", "--model", "dae",
            "--hidden", "8", "--batch-size", "32", "--lr", "0.01", "-q"]  # fmt: skip
    base = [sys.executable, "-m", "manifold_cae", *args]
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
              "--master-port", "29534", "-m", "manifold_cae", *args]  # fmt: skip
    two = subprocess.run([*launch, "--epochs", "2", "--out", str(tmp_path / "split")], env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    subprocess.run([*base, "--epochs", "4", "--resume", "--out", str(tmp_path / "split")],
                   check=True, env=env, capture_output=True)  # fmt: skip
    subprocess.run([*base, "--epochs", "4", "--out", str(tmp_path / "whole")], check=True,
                   env=env, capture_output=True)  # fmt: skip
    split, whole = (mc.load_checkpoint(tmp_path / d) for d in ("split", "whole"))
    assert split.epoch == whole.epoch == 4
    for k, v in whole.model.state_dict().items():
        torch.testing.assert_close(split.model.state_dict()[k], v, rtol=1e-4, atol=1e-6)
    history = mc.checkpoint.read_history(tmp_path / "split")
    assert [r.get("world_size", 1) for r in history] == [2, 2, 1, 1]
