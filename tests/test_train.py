"""The training loop: determinism, resume bit for bit, run-directory guards, the
divergence guard, data validation at the boundary and memmap input."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.autograd.functional import jacobian as autograd_jacobian

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
from manifold_cae.config import replace

D_X = 5
RUN_FILES = ("model.safetensors", "train_state.safetensors", "history.json")
LOSS_KEYS = ("loss", "reconstruction", "penalty", "jacobian_norm")


@pytest.fixture
def X(seed) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(64, D_X)).astype(np.float32)


def run_config(kind="cae", *, epochs=2, seed=0, optimizer="adam", lr=1e-2, **objective):
    return RunConfig(
        ModelConfig(D_X, (4,)),
        ObjectiveConfig(kind=kind, **objective),
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
    bce = -(h * torch.log(r) + (1 - h) * torch.log(1 - r)).sum(1).mean()
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


# ------------------------------------------------------------------ divergence


def diverging_setup() -> tuple[np.ndarray, RunConfig]:
    """Plain SGD on a linear autoencoder with a step too large: fine for an epoch, then inf."""
    X = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    cfg = RunConfig(
        ModelConfig(4, (3,), activation="linear", output="linear"),
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
    assert "Lower the learning rate" in msg and "--lr" in msg and "--lam" in msg
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
