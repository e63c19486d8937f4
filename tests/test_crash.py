"""kill -9 at random instants: a run always resumes, loses at most the epoch in flight, and
ends bit for bit where an uninterrupted run ends. And two writers never share a run dir.

These start real ``python -m manifold_cae train`` processes. Replay the kill loop with more
kills by hand: ``python tests/test_crash.py 30``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
from safetensors import safe_open

import manifold_cae
from manifold_cae import load_checkpoint
from manifold_cae.checkpoint import MODEL_FILE, read_history
from manifold_cae.locks import LOCK_FILE

pytestmark = pytest.mark.slow

# One thread and one environment for every process, so that all of them compute alike.
ENV = {
    **os.environ,
    "PYTHONPATH": str(Path(manifold_cae.__file__).parents[1]),
    "OMP_NUM_THREADS": "1",
}
TRAIN = [sys.executable, "-m", "manifold_cae", "train", "--data", "circle:n_samples=200",
         "--model", "cae", "--hidden", "8", "--batch-size", "20", "-q"]  # fmt: skip


def train(run: Path, epochs: int, *, resume: bool) -> subprocess.Popen:
    cmd = [*TRAIN, "--epochs", str(epochs), "--out", str(run), *(["--resume"] * resume)]
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def disk_epoch(run: Path) -> int:
    """The epoch of the checkpoint on disk (0: none); reads the header only."""
    path = run / MODEL_FILE
    if not path.is_file():
        return 0
    with safe_open(str(path), framework="pt") as f:
        return int(f.metadata()["epoch"])


class KillStats(NamedTuple):
    kills: int  # processes killed with SIGKILL
    resume_starts: int  # starts with --resume (the first start is a fresh one)
    resumed_ok: int  # of those, the ones seen training on (the rest were killed earlier)
    max_epochs_lost: int  # over kills: the epoch in flight plus any saved epoch not found
    final_epoch: int  # where the run stood when the loop stopped


def kill_loop(run: Path, *, kills: int, epochs: int, seed: int, spread: float = 0.3) -> KillStats:
    """Train into ``run``, SIGKILL it at random instants, resume, and check each checkpoint.

    Most kills land ``U(0, spread)`` s after the run's first new epoch (so within training
    and its saves); one in five lands ``U(0, 3)`` s after the start, often during start-up.
    """
    rng = random.Random(seed)
    done = starts = resumed = lost = 0
    while done < kills:
        start = disk_epoch(run)
        proc = train(run, epochs, resume=start > 0)
        starts += start > 0
        early = rng.random() < 0.2
        t0 = time.monotonic()
        kill_at = t0 + rng.uniform(0, 3) if early else None
        seen = start  # the newest epoch seen on disk before the kill
        while proc.poll() is None:
            seen = max(seen, disk_epoch(run))
            now = time.monotonic()
            if kill_at is None and seen > start:  # training is under way
                kill_at = now + rng.uniform(0, spread)
            if kill_at is not None and now >= kill_at:
                break
            assert now - t0 < 120, "a training process hung"
            time.sleep(0.002)
        if proc.poll() is not None:  # it finished before its kill: it must have succeeded
            _, err = proc.communicate()
            assert proc.returncode == 0, err.decode()
            resumed += start > 0
            break
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        done += 1
        resumed += start > 0 and seen > start
        after = disk_epoch(run)
        assert after >= seen, f"kill {done}: the checkpoint went back from epoch {seen} to {after}"
        if after:
            history = read_history(run)
            assert [r["epoch"] for r in history] == list(range(1, after + 1))
            assert load_checkpoint(run).epoch == after
        lost = max(lost, seen + 1 - after)
    return KillStats(done, starts, resumed, lost, disk_epoch(run))


def assert_same_run(a: Path, b: Path) -> None:
    ka, kb = load_checkpoint(a), load_checkpoint(b)
    assert ka.epoch == kb.epoch
    wa, wb = ka.model.state_dict(), kb.model.state_dict()
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in read_history(a)]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in read_history(b)]


def test_kill_9_at_random_instants_loses_at_most_the_epoch_in_flight(tmp_path, seed):
    epochs = 60
    reference = train(tmp_path / "reference", epochs, resume=False)  # runs alongside
    stats = kill_loop(tmp_path / "killed", kills=4, epochs=epochs, seed=seed)
    print(stats)
    assert stats.kills >= 3, f"the run finished too soon to be killed often: {stats}"
    assert stats.max_epochs_lost <= 1
    final = train(tmp_path / "killed", epochs, resume=stats.final_epoch > 0)
    for proc in (final, reference):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    assert_same_run(tmp_path / "killed", tmp_path / "reference")
    assert sorted(p.name for p in (tmp_path / "killed").iterdir()) == [
        "history.json", "model.safetensors"
    ]  # fmt: skip  # no temporaries, no lock file


def test_a_second_train_into_the_same_out_fails_naming_the_first(tmp_path):
    run = tmp_path / "run"
    first = train(run, 100_000, resume=False)
    try:
        t0 = time.monotonic()
        while not (run / LOCK_FILE).is_file() or not (run / LOCK_FILE).read_text().strip():
            assert first.poll() is None, first.communicate()[1].decode()
            assert time.monotonic() - t0 < 120
            time.sleep(0.01)
        second = subprocess.run(
            [*TRAIN, "--epochs", "2", "--out", str(run)], env=ENV, capture_output=True, text=True
        )
        assert second.returncode == 1
        assert f"PID {first.pid}" in second.stderr and str(run) in second.stderr
        assert first.poll() is None  # the first writer is undisturbed
    finally:
        first.kill()
        first.communicate()


if __name__ == "__main__":
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    with tempfile.TemporaryDirectory() as tmp:
        t = time.monotonic()
        stats = kill_loop(Path(tmp) / "run", kills=n, epochs=40 * n, seed=0)
        print(f"{stats} in {time.monotonic() - t:.0f} s")
