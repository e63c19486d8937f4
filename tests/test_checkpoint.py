"""Checkpoints: exact round trips, every corrupt-file path raising CheckpointError with the
file's name, no unpickling, atomic writes, the one-file training unit and the 0.1 layout."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import manifold_cae.checkpoint as checkpoint_module
from manifold_cae import (
    Autoencoder,
    CheckpointError,
    ConfigError,
    ModelConfig,
    ObjectiveConfig,
    RunConfig,
    TrainConfig,
    fit,
    load_checkpoint,
    load_model,
    save_model,
)
from manifold_cae.checkpoint import load_resume_state, read_history, save_checkpoint
from manifold_cae.config import replace
from manifold_cae.train import check_resumable

D_X = 6


def make_run(hidden, tied, generator, dtype=torch.float32) -> tuple[Autoencoder, RunConfig]:
    mcfg = ModelConfig(D_X, hidden, activation="tanh", output="linear", tied=tied)
    model = Autoencoder(mcfg, generator=generator, dtype=dtype)
    with torch.no_grad():  # non-zero biases, so a bias mix-up would show
        for b in [*model.enc_biases, *model.dec_biases]:
            b.copy_(torch.randn(b.shape, generator=generator, dtype=dtype))
    cfg = RunConfig(
        mcfg,
        ObjectiveConfig(kind="cae-h", lam=0.25, gamma=0.5, n_corrupt=2),
        TrainConfig(epochs=9, lr=3e-3, seed=11),
        data={"spec": "swiss-roll", "n_samples": 100, "sha256": "ab" * 32},
    )
    return model, cfg


def read_raw(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata, less the checksum: an edited copy is written as another tool
    would, so that the checks behind the checksum are the ones tested."""
    with safe_open(str(path), framework="pt") as f:
        meta = {k: v for k, v in f.metadata().items() if k != "sha256"}
        return {k: f.get_tensor(k) for k in f.keys()}, meta


@pytest.fixture
def saved(tmp_path, generator) -> Path:
    model, cfg = make_run((5,), True, generator)
    return save_model(model, tmp_path / "good" / "model.safetensors", config=cfg, epoch=3)


# ------------------------------------------------------------------ round trip


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    ("hidden", "tied"), [((5,), True), ((5,), False), ((5, 4, 3), True), ((5, 4, 3), False)]
)
def test_round_trip_rebuilds_the_exact_model(hidden, tied, dtype, generator, tmp_path):
    model, cfg = make_run(hidden, tied, generator, dtype)
    path = save_model(model, tmp_path / "run", config=cfg, epoch=7)
    assert path == tmp_path / "run" / "model.safetensors"
    assert path.is_file()

    ckpt = load_checkpoint(tmp_path / "run")
    assert ckpt.config == cfg
    assert ckpt.config.model.hidden == hidden  # a tuple again, not a JSON list
    assert ckpt.epoch == 7
    assert ckpt.path == path
    loaded = ckpt.model
    assert loaded.config == model.config
    want, got = model.state_dict(), loaded.state_dict()
    assert want.keys() == got.keys()
    for k in want:
        assert got[k].dtype == dtype
        assert torch.equal(got[k], want[k]), k
    x = torch.randn(10, D_X, generator=generator, dtype=dtype)
    assert torch.equal(loaded.encode(x), model.encode(x))
    assert torch.equal(loaded(x), model(x))
    if tied:
        assert len(loaded.dec_weights) == 0


def test_load_model_accepts_run_dir_or_file(saved):
    from_dir = load_model(saved.parent)
    from_file = load_model(saved)
    from_str = load_model(str(saved))
    for other in (from_file, from_str):
        for p, q in zip(from_dir.parameters(), other.parameters(), strict=True):
            assert torch.equal(p, q)


def test_saving_with_a_config_of_another_model_is_refused(generator, tmp_path):
    model, _ = make_run((5,), True, generator)
    other = RunConfig(ModelConfig(D_X, (4,)))
    with pytest.raises(ConfigError, match="does not describe"):
        save_model(model, tmp_path / "m.safetensors", config=other, epoch=1)
    assert not (tmp_path / "m.safetensors").exists()


# -------------------------------------------------------------- corrupt files


def _missing(tmp: Path, good: Path) -> Path:
    return tmp / "absent.safetensors"


def _dir_without_model(tmp: Path, good: Path) -> Path:
    (tmp / "emptyrun").mkdir()
    return tmp / "emptyrun"


def _empty(tmp: Path, good: Path) -> Path:
    p = tmp / "empty.safetensors"
    p.write_bytes(b"")
    return p


def _truncated(tmp: Path, good: Path) -> Path:
    raw = good.read_bytes()
    p = tmp / "half.safetensors"
    p.write_bytes(raw[: len(raw) // 2])
    return p


def _last_byte_cut(tmp: Path, good: Path) -> Path:
    p = tmp / "short.safetensors"
    p.write_bytes(good.read_bytes()[:-1])
    return p


def _garbage(tmp: Path, good: Path) -> Path:
    p = tmp / "garbage.safetensors"
    p.write_bytes(np.random.default_rng(0).bytes(good.stat().st_size))
    return p


def _garbage_small_header(tmp: Path, good: Path) -> Path:
    # A plausible header length followed by bytes that are not JSON.
    p = tmp / "badheader.safetensors"
    p.write_bytes((64).to_bytes(8, "little") + np.random.default_rng(1).bytes(200))
    return p


def _foreign_safetensors(tmp: Path, good: Path) -> Path:
    tensors, _ = read_raw(good)
    p = tmp / "foreign.safetensors"
    save_file(tensors, str(p))  # no metadata at all
    return p


def _with_meta(**changes):
    def build(tmp: Path, good: Path) -> Path:
        tensors, meta = read_raw(good)
        for k, v in changes.items():
            if v is None:
                del meta[k]
            else:
                meta[k] = v
        p = tmp / f"meta_{'_'.join(changes)}.safetensors"
        save_file(tensors, str(p), metadata=meta)
        return p

    return build


def _with_tensors(edit):
    def build(tmp: Path, good: Path) -> Path:
        tensors, meta = read_raw(good)
        edit(tensors)
        p = tmp / "edited.safetensors"
        save_file(tensors, str(p), metadata=meta)
        return p

    return build


CORRUPT = {
    "missing": (_missing, "no checkpoint"),
    "dir without model": (_dir_without_model, "no checkpoint"),
    "empty": (_empty, "empty"),
    "truncated": (_truncated, "truncated or corrupt"),
    "last byte cut": (_last_byte_cut, "truncated or corrupt"),
    "garbage": (_garbage, "truncated or corrupt"),
    "garbage header": (_garbage_small_header, "truncated or corrupt"),
    "foreign safetensors": (_foreign_safetensors, "not a manifold_cae checkpoint"),
    "format_version 99": (_with_meta(format_version="99"), "format 99"),
    "no config": (_with_meta(config=None), "run config"),
    "config not json": (_with_meta(config="{model"), "run config"),
    "config unknown key": (
        _with_meta(config=json.dumps({"model": {"n_features": 6, "depth": 2}})),
        "run config",
    ),
    "tensor dropped": (
        _with_tensors(lambda t: t.pop("dec_biases.0")),
        r"missing \['dec_biases.0'\]",
    ),
    "tensor added": (
        _with_tensors(lambda t: t.update({"dec_weights.0": torch.zeros(D_X, 5)})),
        "unexpected",
    ),
    "wrong shape": (
        _with_tensors(lambda t: t.update({"enc_weights.0": torch.zeros(4, D_X)})),
        "shape mismatches",
    ),
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_bad_checkpoints_raise_checkpoint_error_naming_the_file(case, saved, tmp_path):
    build, match = CORRUPT[case]
    path = build(tmp_path, saved)
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    with pytest.raises(CheckpointError):
        load_model(path)


@pytest.mark.parametrize(
    "build",
    [
        _with_meta(format_version="one"),
        _with_meta(epoch="last"),
        _with_tensors(lambda t: t.update({k: v.to(torch.int32) for k, v in t.items()})),
    ],
    ids=["format_version not int", "epoch not int", "integer tensors"],
)
def test_malformed_metadata_or_dtypes_raise_checkpoint_error(build, saved, tmp_path):
    path = build(tmp_path, saved)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------- no pickle


def trained_state(generator, dtype=torch.float32, hidden=(5,)):
    """A model, config and Adam optimizer after two steps, so the moments are non-trivial."""
    model, cfg = make_run(hidden, True, generator, dtype)
    x = torch.randn(4, D_X, generator=generator, dtype=dtype)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        model(x).square().sum().backward()
        opt.step()
    return model, cfg, opt, x


def records(n: int) -> list[dict]:
    return [{"epoch": i + 1, "loss": 1.0 / (i + 1)} for i in range(n)]


def save_unit(run: Path, model, cfg, opt, generators=None, epochs=3) -> Path:
    return save_checkpoint(
        run, model=model, optimizer=opt, generators=generators or {}, config=cfg,
        history=records(epochs),
    )  # fmt: skip


def to_legacy_layout(run: Path) -> None:
    """Rewrite a run as manifold_cae 0.1 wrote it: weights, train state and history apart."""
    tensors, meta = read_raw(run / "model.safetensors")
    common = {"format": "manifold_cae", "format_version": "1", "config": meta["config"],
              "epoch": meta["epoch"], "package_version": "0.1.0"}  # fmt: skip
    state = {k: v for k, v in tensors.items() if k.startswith(("optim.", "rng."))}
    weights = {k: v for k, v in tensors.items() if k not in state}
    save_file(weights, str(run / "model.safetensors"), metadata=common)
    optim = {"param_groups": meta["param_groups"], "scalars": meta["scalars"]}
    save_file(state, str(run / "train_state.safetensors"), metadata={**common, **optim})
    history = {"config": json.loads(meta["config"]), "epochs": json.loads(meta["history"])}
    (run / "history.json").write_text(json.dumps(history, indent=2))


def test_loading_never_unpickles(saved, tmp_path, monkeypatch, generator):
    model, cfg, opt, _ = trained_state(generator)
    run = tmp_path / "run"
    save_unit(run, model, cfg, opt, generators={"noise": generator})

    def forbidden(*args, **kwargs):
        raise AssertionError("unpickling is not allowed when loading a checkpoint")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    ckpt = load_checkpoint(saved)
    assert ckpt.epoch == 3
    state = load_resume_state(run)
    assert state.checkpoint.epoch == 3
    assert torch.equal(state.rng_states["noise"], generator.get_state())
    to_legacy_layout(run)
    assert load_resume_state(run).checkpoint.epoch == 3


@pytest.mark.parametrize("legacy", [False, True], ids=["unit", "0.1 layout"])
def test_train_state_round_trip_restores_the_optimizer(legacy, generator, tmp_path):
    model, cfg, opt, x = trained_state(generator, torch.float64)
    save_unit(tmp_path, model, cfg, opt, epochs=2)
    if legacy:
        to_legacy_layout(tmp_path)
    state = load_resume_state(tmp_path)
    assert state.checkpoint.config == cfg
    assert state.checkpoint.epoch == 2
    assert state.history == records(2)
    twin = state.checkpoint.model
    twin_opt = torch.optim.Adam(twin.parameters(), lr=0.1)
    twin_opt.load_state_dict(state.optimizer_state)
    for m, o in ((model, opt), (twin, twin_opt)):  # one more step each: bitwise the same
        o.zero_grad()
        m(x).square().sum().backward()
        o.step()
    for p, q in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(p, q)


def test_missing_train_state_is_a_checkpoint_error(generator, tmp_path):
    model, cfg, opt, _ = trained_state(generator)
    save_unit(tmp_path, model, cfg, opt)
    to_legacy_layout(tmp_path)
    (tmp_path / "train_state.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"train_state\.safetensors is missing"):
        load_resume_state(tmp_path)


# ----------------------------------------------------------- the training unit


def test_the_unit_is_one_file_and_history_json_only_a_copy(generator, tmp_path):
    model, cfg, opt, _ = trained_state(generator)
    save_unit(tmp_path, model, cfg, opt, generators={"shuffle": generator}, epochs=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.json", "model.safetensors"]
    assert json.loads((tmp_path / "history.json").read_text())["epochs"] == records(4)
    # A stale or lost copy loses nothing: the history travels in the unit.
    (tmp_path / "history.json").write_text(json.dumps({"epochs": records(2)}))
    assert read_history(tmp_path) == records(4)
    (tmp_path / "history.json").unlink()
    assert read_history(tmp_path) == records(4)
    assert load_resume_state(tmp_path).history == records(4)
    assert load_checkpoint(tmp_path).epoch == 4


def test_the_unit_refuses_a_non_finite_history_before_writing(generator, tmp_path):
    model, cfg, opt, _ = trained_state(generator)
    with pytest.raises(ValueError, match="Out of range"):
        save_checkpoint(tmp_path, model=model, optimizer=opt, generators={}, config=cfg,
                        history=[{"epoch": 1, "loss": float("inf")}])  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_a_weights_only_file_loads_but_does_not_resume(saved):
    assert load_checkpoint(saved.parent).epoch == 3
    with pytest.raises(CheckpointError, match=r"weights only.*--overwrite"):
        load_resume_state(saved.parent)


# ------------------------------------------------------------ 0.1 run directories


def test_a_0_1_run_still_loads_for_analysis(generator, tmp_path):
    model, cfg, opt, _ = trained_state(generator)
    save_unit(tmp_path, model, cfg, opt)
    to_legacy_layout(tmp_path)
    ckpt = load_checkpoint(tmp_path)
    assert (ckpt.config, ckpt.epoch) == (cfg, 3)
    assert all(
        torch.equal(p, q) for p, q in zip(ckpt.model.parameters(), model.parameters(), strict=True)
    )
    assert read_history(tmp_path) == records(3)


def _params_equal(a, b) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def _resumed_after_edit(X, cfg: RunConfig, run: Path, edit) -> tuple:
    """(uninterrupted fit of ``cfg``, the same cut at 2 epochs, ``edit(run)``, resumed)."""
    full = fit(X, cfg, progress=False)
    fit(X, replace(cfg, training=replace(cfg.training, epochs=2)), out_dir=run, progress=False)
    edit(run)
    return full, fit(X, cfg, out_dir=run, resume=True, progress=False)


def test_a_0_1_run_resumes_bit_for_bit_in_the_new_format(tmp_path, generator):
    X = torch.rand(48, D_X, generator=generator).numpy()
    cfg = RunConfig(ModelConfig(D_X, (4,)), ObjectiveConfig(kind="cae", lam=0.1),
                    TrainConfig(epochs=4, batch_size=16))  # fmt: skip
    run = tmp_path / "run"
    full, resumed = _resumed_after_edit(X, cfg, run, to_legacy_layout)
    assert resumed.start_epoch == 2
    assert _params_equal(resumed.model, full.model)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history]
    assert sorted(p.name for p in run.iterdir()) == ["history.json", "model.safetensors"]
    assert read_raw(run / "model.safetensors")[1]["format_version"] == "2"


def test_a_0_1_run_with_a_short_history_refuses_to_resume_with_gaps(generator, tmp_path):
    model, cfg, opt, _ = trained_state(generator)
    save_unit(tmp_path, model, cfg, opt, epochs=3)
    to_legacy_layout(tmp_path)
    (tmp_path / "history.json").write_text(json.dumps({"epochs": records(2)}))
    with pytest.raises(CheckpointError, match=r"history\.json holds 2 history records.*epoch 3"):
        load_resume_state(tmp_path)
    assert load_checkpoint(tmp_path).epoch == 3  # still fine for analysis


@pytest.mark.parametrize(
    ("other", "match"),
    [
        (lambda c: (5,), r"training\.seed 11 vs 12"),  # another seed, same architecture
        (lambda c: (4,), r"model\.hidden"),  # another architecture: once a raw error in Adam
    ],
    ids=["seed", "architecture"],
)
def test_a_train_state_from_another_run_is_refused(other, match, generator, tmp_path):
    model, cfg, opt, _ = trained_state(generator)
    save_unit(tmp_path / "run", model, cfg, opt)
    to_legacy_layout(tmp_path / "run")
    hidden = other(cfg)
    model2, cfg2, opt2, _ = trained_state(generator, hidden=hidden)
    cfg2 = replace(cfg2, training=replace(cfg2.training, seed=12 if hidden == (5,) else 11))
    save_unit(tmp_path / "other", model2, cfg2, opt2)
    to_legacy_layout(tmp_path / "other")
    state = tmp_path / "run" / "train_state.safetensors"
    state.write_bytes((tmp_path / "other" / "train_state.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match=match) as info:
        load_resume_state(tmp_path / "run")
    msg = str(info.value)
    assert str(state) in msg and "another run" in msg and "--overwrite" in msg


def test_optimizer_state_that_does_not_fit_the_model_is_refused(generator, tmp_path):
    model, cfg, opt, _ = trained_state(generator)
    path = save_unit(tmp_path, model, cfg, opt)
    tensors, meta = read_raw(path)
    tensors["optim.0.exp_avg"] = torch.zeros(3, 3)
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(CheckpointError, match=r"optimizer state does not fit.*exp_avg"):
        load_resume_state(tmp_path)


# ------------------------------------------------------------- atomic writes


def failing_writer(tensors, filename, metadata=None):
    """Write part of a file, then fail, like a full disk or a crash mid-write."""
    Path(filename).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{partial")
    raise OSError("No space left on device")


def test_interrupted_write_leaves_the_previous_checkpoint_intact(saved, monkeypatch, generator):
    before = saved.read_bytes()
    newer, cfg = make_run((5,), True, generator)
    monkeypatch.setattr(checkpoint_module, "save_file", failing_writer)
    with pytest.raises(OSError, match="No space left"):
        save_model(newer, saved, config=cfg, epoch=4)
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == ["model.safetensors"]  # no temp files
    assert load_checkpoint(saved).epoch == 3


def test_interrupted_first_write_leaves_nothing(tmp_path, monkeypatch, generator):
    model, cfg = make_run((5,), True, generator)
    monkeypatch.setattr(checkpoint_module, "save_file", failing_writer)
    with pytest.raises(OSError):
        save_model(model, tmp_path / "run", config=cfg, epoch=1)
    assert list((tmp_path / "run").iterdir()) == []


# ------------------------------------------------- penalty "auto" saved unresolved


def _saved_as_auto(run: Path) -> None:
    """Rewrite ``run``'s config with penalty "auto", as runs were saved before "auto" was
    resolved (no checksum, as an edited file from another tool would have)."""
    tensors, meta = read_raw(run / "model.safetensors")
    config = json.loads(meta["config"])
    config["objective"]["penalty"] = "auto"
    meta["config"] = json.dumps(config)
    save_file(tensors, str(run / "model.safetensors"), metadata=meta)


def test_a_deep_run_saved_with_penalty_auto_resumes_as_it_was_trained(tmp_path, generator):
    # 20 inputs, 18 code units: "auto" was exact before and is Hutchinson now.
    X = torch.rand(40, 20, generator=generator).numpy()
    model = ModelConfig(20, (24, 18), output="sigmoid", input_scaling="none")  # as resolved
    cfg = RunConfig(model, ObjectiveConfig(kind="cae", lam=0.1),
                    TrainConfig(epochs=3, batch_size=16))  # fmt: skip
    exact = replace(cfg, objective=replace(cfg.objective, penalty="exact"))
    full = fit(X, exact, progress=False)
    assert not _params_equal(full.model, fit(X, cfg, progress=False).model)  # auto differs now
    run = tmp_path / "run"
    fit(X, replace(exact, training=replace(exact.training, epochs=2)), out_dir=run,
        progress=False)  # fmt: skip
    _saved_as_auto(run)
    check_resumable(load_checkpoint(run).config, cfg, run)  # as compare checks a saved run
    with pytest.raises(CheckpointError, match=r"use --penalty exact") as e:  # asked another
        fit(X, replace(cfg, objective=replace(cfg.objective, penalty="stochastic")),
            out_dir=run, resume=True, progress=False)  # fmt: skip
    assert "objective.penalty 'exact' vs 'stochastic'" in str(e.value)
    resumed = fit(X, cfg, out_dir=run, resume=True, progress=False)  # auto, as it was
    assert resumed.start_epoch == 2 and resumed.config.objective.penalty == "exact"
    assert _params_equal(resumed.model, full.model)
    assert load_checkpoint(run).config.objective.penalty == "exact"


def test_a_one_layer_run_saved_with_penalty_auto_resumes_with_auto(tmp_path, generator):
    X = torch.rand(40, D_X, generator=generator).numpy()
    cfg = RunConfig(ModelConfig(D_X, (4,)), ObjectiveConfig(kind="cae", lam=0.1),
                    TrainConfig(epochs=3, batch_size=16))  # fmt: skip
    full, resumed = _resumed_after_edit(X, cfg, tmp_path / "run", _saved_as_auto)
    assert resumed.start_epoch == 2 and _params_equal(resumed.model, full.model)
    assert load_checkpoint(tmp_path / "run").config.objective.penalty == "closed"
