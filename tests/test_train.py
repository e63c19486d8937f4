"""The training loop: determinism, resume bit for bit, run-directory guards, the
divergence guard, data validation at the boundary and memmap input."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch.autograd.functional import jacobian as autograd_jacobian

import manifold_cae as mc
import manifold_cae.checkpoint as checkpoint_module
import manifold_cae.config as config_module
from manifold_cae import (
    CheckpointError,
    DataError,
    DivergenceError,
    ModelConfig,
    ObjectiveConfig,
    RunConfig,
    TrainConfig,
    fit,
    load_checkpoint,
)
from manifold_cae.cli import main
from manifold_cae.config import replace
from manifold_cae.locks import LockError, directory_lock

D_X = 5
RUN_FILES = ("model.safetensors", "history.json")
LOSS_KEYS = ("loss", "reconstruction", "penalty", "jacobian_norm")


@pytest.fixture
def X(seed) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(64, D_X)).astype(np.float32)


def run_config(kind="cae", *, epochs=2, seed=0, optimizer="adam", lr=1e-2, **objective):
    return RunConfig(
        ModelConfig(D_X, (4,)),
        ObjectiveConfig(**{"kind": kind, "lam": 0.1, **objective}),
        TrainConfig(epochs=epochs, batch_size=16, seed=seed, optimizer=optimizer, lr=lr,
                    momentum=0.9 if optimizer == "sgd" else 0.0),
    )  # fmt: skip


def with_epochs(cfg: RunConfig, epochs: int) -> RunConfig:
    return replace(cfg, training=replace(cfg.training, epochs=epochs))


def params_equal(a, b) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def run_bytes(run: Path) -> dict[str, bytes]:
    return {name: (run / name).read_bytes() for name in RUN_FILES}


# ---------------------------------------------------------------- determinism


@pytest.mark.parametrize("kind", ["cae", "dae", "cae-h", "rcae"])
def test_same_seed_gives_bitwise_identical_weights(kind, X):
    a = fit(X, run_config(kind, seed=7), progress=False)
    b = fit(X, run_config(kind, seed=7), progress=False)
    c = fit(X, run_config(kind, seed=8), progress=False)
    assert params_equal(a.model, b.model)
    assert [r["loss"] for r in a.history] == [r["loss"] for r in b.history]
    assert not torch.equal(a.model.enc_weights[0], c.model.enc_weights[0])
    from_tensor = fit(torch.from_numpy(X), run_config(kind, seed=7), progress=False)
    assert params_equal(a.model, from_tensor.model)


def test_training_lowers_the_loss_and_records_each_epoch(X):
    held = X[:10] * 0.9
    result = fit(
        X, run_config("cae", epochs=15, lam=0.05, lr=0.05), X_held_out=held, progress=False
    )
    hist = result.history
    assert [r["epoch"] for r in hist] == list(range(1, 16))
    assert hist[-1]["reconstruction"] < 0.9 * hist[0]["reconstruction"]
    for r in hist:
        assert r["loss"] == pytest.approx(r["reconstruction"] + r["penalty"], rel=1e-5)
        assert r["seconds"] >= 0
    # The monitor of the last epoch, recomputed with autograd on the final weights.
    model = result.model.double()
    x = torch.from_numpy(X).double()
    norms = [autograd_jacobian(model.encode, xi).square().sum().sqrt() for xi in x]
    assert hist[-1]["jacobian_norm"] == pytest.approx(float(torch.stack(norms).mean()), rel=1e-4)
    r = model(torch.from_numpy(held).double())
    h = torch.from_numpy(held).double()
    bce = -(h * torch.log(r) + (1 - h) * torch.log(1 - r)).sum(1).mean().detach()
    assert hist[-1]["held_out_reconstruction"] == pytest.approx(float(bce), rel=1e-4)


# ---------------------------------------------------------------- resume


@pytest.mark.parametrize(
    ("kind", "optimizer"), [("cae", "adam"), ("dae", "adam"), ("cae-h", "adam"), ("cae", "sgd")]
)
def test_resume_reproduces_an_uninterrupted_run_bit_for_bit(kind, optimizer, X, tmp_path):
    cfg = run_config(kind, epochs=4, optimizer=optimizer)
    full = fit(X, cfg, out_dir=tmp_path / "full", progress=False)

    run = tmp_path / "resumed"
    first = fit(X, with_epochs(cfg, 2), out_dir=run, progress=False)
    assert len(first.history) == 2
    assert load_checkpoint(run).epoch == 2
    resumed = fit(X, cfg, out_dir=run, resume=True, progress=False)
    assert (full.start_epoch, first.start_epoch, resumed.start_epoch) == (0, 0, 2)

    assert params_equal(full.model, resumed.model)
    assert len(resumed.history) == 4
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]
    for a, b in zip(full.history, resumed.history, strict=True):
        assert {k: a[k] for k in LOSS_KEYS} == {k: b[k] for k in LOSS_KEYS}
    on_disk = json.loads((run / "history.json").read_text())
    assert [r["loss"] for r in on_disk["epochs"]] == [r["loss"] for r in full.history]
    ckpt = load_checkpoint(run)
    assert ckpt.epoch == 4
    assert params_equal(ckpt.model, full.model)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda c: replace(c, objective=replace(c.objective, lam=0.5)), "lam"),
        (lambda c: replace(c, training=replace(c.training, seed=1)), "seed"),
        (lambda c: replace(c, training=replace(c.training, lr=0.1)), "lr"),
    ],
)
def test_resume_with_a_changed_config_is_refused(change, match, X, tmp_path):
    cfg = run_config("cae", epochs=1)
    fit(X, cfg, out_dir=tmp_path, progress=False)
    before = run_bytes(tmp_path)
    with pytest.raises(CheckpointError, match=f"different configuration.*{match}"):
        fit(X, with_epochs(change(cfg), 3), out_dir=tmp_path, resume=True, progress=False)
    assert run_bytes(tmp_path) == before


def test_resume_with_a_different_architecture_is_refused(X, tmp_path):
    fit(X, run_config("cae", epochs=1), out_dir=tmp_path, progress=False)
    other = replace(run_config("cae", epochs=2), model=ModelConfig(D_X, (3,)))
    with pytest.raises(CheckpointError, match=str(tmp_path)):
        fit(X, other, out_dir=tmp_path, resume=True, progress=False)


def test_resume_without_a_run_is_refused(X, tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        fit(X, run_config(), out_dir=tmp_path / "empty", resume=True, progress=False)


def test_existing_run_needs_overwrite(X, tmp_path):
    fit(X, run_config("cae", epochs=2, seed=1), out_dir=tmp_path, progress=False)
    before = run_bytes(tmp_path)
    with pytest.raises(CheckpointError, match=r"already holds a run.*--resume.*--overwrite"):
        fit(X, run_config("cae", epochs=1), out_dir=tmp_path, progress=False)
    assert run_bytes(tmp_path) == before

    result = fit(X, run_config("cae", epochs=1), out_dir=tmp_path, overwrite=True, progress=False)
    fresh = fit(X, run_config("cae", epochs=1), progress=False)
    assert params_equal(result.model, fresh.model)
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.epoch == 1
    assert ckpt.config.training.seed == 0
    assert params_equal(ckpt.model, fresh.model)
    assert len(json.loads((tmp_path / "history.json").read_text())["epochs"]) == 1


class Killed(BaseException):
    """Stands in for SIGKILL: not an Exception, so nothing on the way up catches it."""


def die_on_call(target, n: int, *, partial: bool = False):
    """Wrap ``target`` so its ``n``-th call dies (after writing half a file, if ``partial``)."""
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            if partial:  # a torn temporary file, as kill -9 leaves it
                Path(args[1]).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{partial")
            raise Killed
        return target(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize(
    ("name", "partial"),
    [("save_file", True), ("atomic_write_text", False)],
    ids=["while writing the unit", "between the unit and history.json"],
)
def test_a_crash_anywhere_in_a_save_resumes_from_the_last_complete_epoch(
    name, partial, X, tmp_path, monkeypatch
):
    cfg = run_config("cae", epochs=5)
    full = fit(X, cfg, progress=False)
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(checkpoint_module, name, die_on_call(getattr(checkpoint_module, name), 3))
        with pytest.raises(Killed):
            fit(X, cfg, out_dir=run, progress=False)
    done = 2 if name == "save_file" else 3  # the unit of epoch 3 did or did not land
    assert load_checkpoint(run).epoch == done
    (run / ".model.safetensors.k1ll3d.tmp").write_bytes(b"torn")  # what kill -9 leaves
    resumed = fit(X, cfg, out_dir=run, resume=True, progress=False)
    assert resumed.start_epoch == done
    assert params_equal(resumed.model, full.model)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4, 5]
    assert sorted(p.name for p in run.iterdir()) == sorted(RUN_FILES)  # no temporaries left


def test_cli_says_where_a_resumed_run_started(tmp_path):
    args = ["train", "--data", "circle:n_samples=40", "--hidden", "3", "--out", str(tmp_path),
            "--lam", "1"]  # fmt: skip
    assert CliRunner().invoke(main, [*args, "--epochs", "2"]).exit_code == 0
    result = CliRunner().invoke(main, [*args, "--epochs", "3", "--resume"])
    assert result.exit_code == 0, result.output
    assert "resumed at epoch 2, trained to 3" in result.output


# --------------------------------------------------------- epochs "auto"


@pytest.mark.parametrize(
    ("n_rows", "batch_size", "epochs"),
    [(800, 128, 500), (4000, 128, 125), (1437, 128, 334), (48_000, 128, 50), (1, 128, 500)],
)
def test_auto_epochs_aims_for_a_step_budget_within_its_range(n_rows, batch_size, epochs):
    assert config_module.auto_epochs(n_rows, batch_size) == epochs


@pytest.fixture
def small_budget(monkeypatch):
    """epochs "auto" made cheap: 12 steps, 2 to 5 epochs."""
    monkeypatch.setattr(config_module, "AUTO_STEPS", 12)
    monkeypatch.setattr(config_module, "AUTO_EPOCHS_RANGE", (2, 5))


@pytest.mark.usefixtures("small_budget")
def test_fit_makes_auto_epochs_a_number_and_resumes_to_it_bit_for_bit(X, tmp_path):
    cfg = replace(run_config(), training=replace(run_config().training, epochs="auto"))
    full = fit(X, cfg, out_dir=tmp_path / "full", progress=False)
    assert full.config.training.epochs == 3 == len(full.history)  # 64 rows, batch 16: 4 steps
    assert load_checkpoint(tmp_path / "full").config.training.epochs == 3  # saved as a number

    run = tmp_path / "resumed"
    fit(X, with_epochs(cfg, 1), out_dir=run, progress=False)
    resumed = fit(X, cfg, out_dir=run, resume=True, progress=False)
    assert resumed.start_epoch == 1 and resumed.config.training.epochs == 3
    assert params_equal(full.model, resumed.model)


@pytest.mark.usefixtures("small_budget")
def test_auto_epochs_count_the_training_split_only(tmp_path):
    """1,000 points, 20 % held out: 800 training rows, 7 steps of 128, so 2 epochs (not 5)."""
    ds = mc.load_dataset("circle:n_samples=1000", seed=0)
    config = mc.make_run_config(ds, hidden=(3,), objective=ObjectiveConfig(lam=0.1))
    assert config.training.epochs == 2
    held_none = replace(config.training, held_out=0.0, epochs="auto", batch_size=500)
    assert mc.make_run_config(ds, hidden=(3,), training=held_none).training.epochs == 5  # 2 steps


def test_resume_below_the_saved_epoch_is_refused_and_trains_nothing(X, tmp_path):
    cfg = run_config(epochs=3)
    fit(X, cfg, out_dir=tmp_path, progress=False)
    before = (tmp_path / "model.safetensors").read_bytes()
    with pytest.raises(CheckpointError, match="trained for 3 epochs, more than the 2 asked for"):
        fit(X, with_epochs(cfg, 2), out_dir=tmp_path, resume=True, progress=False)
    assert (tmp_path / "model.safetensors").read_bytes() == before


def test_a_refused_resume_names_the_epochs_the_run_planned(X, tmp_path):
    cfg = run_config(epochs=2)
    fit(X, cfg, out_dir=tmp_path, progress=False)
    other = replace(cfg, training=replace(cfg.training, lr=0.5, epochs="auto"))
    with pytest.raises(CheckpointError, match=r"training.lr 0.01 vs 0.5.*the run planned 2"):
        fit(X, other, out_dir=tmp_path, resume=True, progress=False)


def test_a_config_with_unresolved_auto_epochs_is_not_saved(X, tmp_path):
    trained = fit(X, run_config(), progress=False)
    cfg = replace(trained.config, training=replace(trained.config.training, epochs="auto"))
    model = trained.model
    with pytest.raises(mc.ConfigError, match='epochs is "auto"'):
        mc.save_model(model, tmp_path / "m.safetensors", config=cfg, epoch=2)
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.usefixtures("small_budget")
def test_continue_run_makes_auto_epochs_a_number_before_comparing(tmp_path):
    from manifold_cae.runs import continue_run

    ds = mc.load_dataset("circle:n_samples=40", seed=0)
    training = TrainConfig(epochs="auto", batch_size=8)
    config = mc.make_run_config(ds, hidden=(3,), objective=ObjectiveConfig(lam=0.1),
                                training=training)  # fmt: skip
    unresolved = replace(config, training=training)
    assert continue_run(ds, unresolved, tmp_path, progress=False) == "trained"
    assert continue_run(ds, unresolved, tmp_path, progress=False) == "skipped (complete)"
    assert load_checkpoint(tmp_path).config.training.epochs == 3  # 32 rows, batch 8: 4 steps


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--epochs", "many"], 'expected a whole number >= 1 or "auto"; got \'many\''),
        (["--epochs", "0"], "epochs must be >= 1; got 0"),
        (["--epochs", "auto,3", "--hidden", "4,3", "--stacked"],
         "epochs auto cannot be one of a stack's per-layer values"),
    ],
)  # fmt: skip
def test_cli_epochs_takes_a_number_or_auto(args, fragment, tmp_path):
    result = CliRunner().invoke(
        main, ["train", "--data", "circle:n_samples=40", "--out", str(tmp_path / "r"), *args]
    )
    assert result.exit_code != 0
    assert fragment in result.output
    assert not (tmp_path / "r" / "model.safetensors").exists()


@pytest.mark.usefixtures("small_budget")
def test_cli_epochs_auto_reports_the_number_it_became(tmp_path):
    args = ["train", "--data", "circle:n_samples=40", "--hidden", "3", "--lam", "0.1", "--out",
            str(tmp_path)]  # fmt: skip
    assert CliRunner().invoke(main, [*args, "--epochs", "1"]).exit_code == 0
    result = CliRunner().invoke(main, [*args, "--epochs", "auto", "--resume"])
    assert result.exit_code == 0, result.output
    assert "resumed at epoch 1, trained to 5" in result.output  # 32 rows: 1 step an epoch


# --------------------------------------------------------- the run directory


def test_a_second_writer_fails_at_once_naming_the_holder(X, tmp_path):
    cfg = run_config("cae", epochs=1)
    with directory_lock(tmp_path):
        with pytest.raises(LockError, match=rf"{re.escape(str(tmp_path))}.*PID {os.getpid()}"):
            fit(X, cfg, out_dir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []
    fit(X, cfg, out_dir=tmp_path, progress=False)  # released: the next writer gets in
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(RUN_FILES)


def test_an_unwritable_out_fails_before_training(X, tmp_path):
    (tmp_path / "somefile").write_text("a file, not a directory")  # blocks even root
    out = tmp_path / "somefile" / "run"
    with pytest.raises(LockError, match=rf"cannot write to {re.escape(str(out))}"):
        fit(X, run_config("cae", epochs=1), out_dir=out, progress=False)
    args = ["train", "--data", "circle:n_samples=40", "--epochs", "100000", "--out", str(out)]
    result = CliRunner().invoke(main, args)  # fails at once, not after an epoch
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(out) in lines[0] and "cannot write" in lines[0]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_every_file_gets_the_umask_mode(umask, X, tmp_path):
    old = os.umask(umask)
    try:
        fit(X, run_config("cae", epochs=1), out_dir=tmp_path / "run", progress=False)
        checkpoint_module.save_model(
            load_checkpoint(tmp_path / "run").model, tmp_path / "m.safetensors",
            config=load_checkpoint(tmp_path / "run").config, epoch=1,
        )  # fmt: skip
    finally:
        os.umask(old)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 3
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in files} == {
        p.name: oct(0o666 & ~umask) for p in files
    }


# ------------------------------------------------------------------ divergence


def diverging_setup() -> tuple[np.ndarray, RunConfig]:
    """Plain SGD on a linear autoencoder with a step too large: fine for an epoch, then inf."""
    X = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    cfg = RunConfig(
        # unscaled: global scaling spreads 4 features to an RMS norm of 5, which would
        # diverge in the first epoch
        ModelConfig(4, (3,), activation="linear", output="linear", input_scaling="none"),
        ObjectiveConfig(kind="ae"),
        TrainConfig(epochs=20, batch_size=8, lr=0.5, optimizer="sgd", seed=0),
    )
    return X, cfg


def test_divergence_raises_and_keeps_the_last_good_checkpoint(tmp_path):
    X, cfg = diverging_setup()
    run = tmp_path / "run"
    with pytest.raises(DivergenceError) as info:
        fit(X, cfg, out_dir=run, progress=False)
    msg = str(info.value)
    bad = int(re.search(r"at epoch (\d+)", msg).group(1))
    assert bad >= 2, "the setup should give at least one good epoch"
    assert "Lower the learning rate" in msg and "--lr" in msg
    assert "--lam" not in msg  # a plain AE has no penalty weight to lower
    assert str(run) in msg

    ckpt = load_checkpoint(run)
    assert ckpt.epoch == bad - 1
    assert all(torch.isfinite(p).all() for p in ckpt.model.parameters())
    history = json.loads((run / "history.json").read_text())["epochs"]
    assert len(history) == bad - 1
    assert all(math.isfinite(r["loss"]) for r in history)
    good = fit(X, with_epochs(cfg, bad - 1), progress=False)
    assert params_equal(ckpt.model, good.model)

    # The same run stopped just before the bad epoch: the failing epoch must not touch it.
    run2 = tmp_path / "run2"
    fit(X, with_epochs(cfg, bad - 1), out_dir=run2, progress=False)
    before = run_bytes(run2)
    with pytest.raises(DivergenceError, match=f"at epoch {bad},"):
        fit(X, cfg, out_dir=run2, resume=True, progress=False)
    assert run_bytes(run2) == before
    assert sorted(p.name for p in run2.iterdir()) == sorted(RUN_FILES)


def test_a_diverging_cae_is_told_to_lower_lam_too():
    X, cfg = diverging_setup()
    cfg = dataclasses.replace(cfg, objective=ObjectiveConfig(kind="cae", lam=0.1))
    with pytest.raises(
        DivergenceError, match=r"--lr, now 0\.5\) or the penalty weight \(--lam, now 0\.1\)"
    ):
        fit(X, cfg, progress=False)


def test_divergence_in_the_first_epoch_names_no_checkpoint():
    X, cfg = diverging_setup()
    cfg = replace(cfg, training=replace(cfg.training, lr=5.0))
    with pytest.raises(DivergenceError, match="at epoch 1,") as info:
        fit(X, cfg, progress=False)
    assert "checkpoint" not in str(info.value)


def test_weights_that_overflow_at_the_end_of_an_epoch_are_a_divergence(tmp_path):
    X = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    cfg = RunConfig(
        ModelConfig(4, (3,), activation="linear", output="linear"),
        ObjectiveConfig(kind="ae"),
        # One batch per epoch; Adam's first step moves every weight by ~lr = 1e20.
        TrainConfig(epochs=3, batch_size=16, lr=1e20, seed=0),
    )
    with pytest.raises(DivergenceError, match="Lower the learning rate"):
        fit(X, cfg, out_dir=tmp_path, progress=False)
    if (tmp_path / "model.safetensors").exists():
        ckpt = load_checkpoint(tmp_path)
        history = json.loads((tmp_path / "history.json").read_text())["epochs"]
        assert ckpt.epoch == len(history)


def test_divergence_seen_only_in_the_held_out_reconstruction_saves_nothing(tmp_path):
    X, cfg = diverging_setup()
    cfg = with_epochs(replace(cfg, training=replace(cfg.training, lr=1e-3)), 2)
    held = X[:4].copy()
    run = tmp_path / "run"
    fit(X, cfg, out_dir=run, X_held_out=held, progress=False)
    before = run_bytes(run)
    held[1, 0] = 1e25  # finite, but its squared error is not
    with pytest.raises(
        DivergenceError, match="held out reconstruction became inf at epoch 3"
    ) as info:
        fit(X, with_epochs(cfg, 4), out_dir=run, resume=True, X_held_out=held, progress=False)
    assert f"epoch 2, is intact in {run}" in str(info.value)
    assert run_bytes(run) == before
    assert fit(X, with_epochs(cfg, 3), out_dir=run, resume=True, progress=False).start_epoch == 2


# ------------------------------------------------------------------- bad data


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_training_data_names_row_and_column(bad, X):
    X = X.copy()
    X[37, 2] = bad
    with pytest.raises(DataError, match=r"training data.*row 37, column 2"):
        fit(X, run_config(), progress=False)


def test_non_finite_held_out_data_is_rejected(X):
    held = X[:5].copy()
    held[3, 4] = np.nan
    with pytest.raises(DataError, match=r"held-out data.*row 3, column 4"):
        fit(X, run_config(), X_held_out=held, progress=False)


@pytest.mark.parametrize(
    ("shape", "match"), [((64, 3), "3 features but the model expects 5"), ((64,), "2-D"),
                         ((0, 5), "no rows")],
)  # fmt: skip
def test_wrongly_shaped_training_data_is_rejected(shape, match):
    with pytest.raises(DataError, match=match):
        fit(np.zeros(shape, dtype=np.float32), run_config(), progress=False)


# --------------------------------------------------------------------- memmap


def write_memmap(path: Path, X: np.ndarray) -> np.memmap:
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    del mm
    return np.memmap(path, dtype=np.float32, mode="r", shape=X.shape)


def test_memmap_input_trains_like_the_in_memory_array(X, tmp_path):
    mm = write_memmap(tmp_path / "x.f32", X)
    cfg = run_config("cae", epochs=3)
    from_mm = fit(mm, cfg, progress=False)
    in_mem = fit(X, cfg, progress=False)
    assert len(from_mm.history) == 3
    for p, q in zip(from_mm.model.parameters(), in_mem.model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert not np.shares_memory(X, mm)


def test_memmap_input_gives_bitwise_the_same_weights(X, tmp_path):
    mm = write_memmap(tmp_path / "x.f32", X)
    cfg = run_config("dae", epochs=2)
    assert params_equal(fit(mm, cfg, progress=False).model, fit(X, cfg, progress=False).model)
