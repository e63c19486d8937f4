"""Regression tests from the hostile command-line battery (issue 10): each case once ended
in a traceback, a silently wrong result or misleading advice, and must now end in a clean
one-line error (exit 2 for bad options, 1 for bad data or runs) or the right result."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from manifold_cae import CheckpointError, load_checkpoint
from manifold_cae.cli import main

CIRCLE = "circle:n_samples=120"


def invoke(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_clean(result: Result, code: int, *fragments: str) -> None:
    """Exit ``code`` through click, with an error message and no traceback."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "Error" in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


def train(out: Path, *extra: object) -> Result:
    return invoke("train", "--data", CIRCLE, "--hidden", "4", "--epochs", "2", "-q", "--out", out,
                  *extra)  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hostile") / "run"
    result = train(out, "--lam", "0.1")  # the metadata test flips this λ
    assert result.exit_code == 0, result.output
    return out


# ------------------------------------------------------------ tracebacks before


def test_a_model_too_large_for_memory_is_refused_before_allocation(tmp_path):
    result = train(tmp_path / "r", "--hidden", "100000000000")
    assert_clean(result, 1, "parameters", "needs about", "use fewer hidden units")
    assert not (tmp_path / "r" / "model.safetensors").exists()


def test_plot_of_an_analysis_without_stored_points_skips_the_stored_figures(run, tmp_path):
    an = tmp_path / "an"
    result = invoke("analyze", run, "--data", CIRCLE, "--store-points", "0", "--out", an, "-q")
    assert result.exit_code == 0, result.output
    result = invoke("plot", an, "--out", tmp_path / "figs")
    assert result.exit_code == 0, result.output
    assert "stores no points" in result.output and "--store-points" in result.output
    assert (tmp_path / "figs" / "count_histogram.png").is_file()


def test_plot_refuses_a_negative_seed(run, tmp_path):
    an = tmp_path / "an"
    assert invoke("analyze", run, "--data", CIRCLE, "--out", an, "-q").exit_code == 0
    assert_clean(invoke("plot", an, "--seed", "-1", "--out", tmp_path / "f"), 2, "seed")


# ------------------------------------------------------------ silently wrong before


@pytest.mark.parametrize(
    ("model", "flags", "named"),
    [
        ("ae", ["--lam", "0.5"], "--lam"),
        ("cae", ["--noise", "0.5"], "--noise"),
        ("dae", ["--gamma", "1"], "--gamma"),
        ("ae", ["--penalty", "stochastic"], "--penalty"),
    ],
)
def test_options_the_model_ignores_are_refused(model, flags, named, tmp_path):
    result = train(tmp_path / "r", "--model", model, *flags)
    assert_clean(result, 2, f"--model {model} ignores {named}")
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_options_the_model_reads_are_accepted(tmp_path):
    assert train(tmp_path / "a", "--model", "dae", "--noise", "0.2").exit_code == 0
    assert train(tmp_path / "b", "--model", "cae", "--lam", "0.2").exit_code == 0


def test_compare_refuses_a_sweep_no_model_takes(tmp_path):
    result = invoke("compare", "--data", CIRCLE, "--models", "ae,cae", "--seeds", "0",
                    "--noise", "0.1,0.2", "--out", tmp_path / "s")  # fmt: skip
    assert_clean(result, 2, "--noise applies to denoising models", "dae")
    result = invoke("compare", "--data", CIRCLE, "--models", "ae,dae", "--seeds", "0",
                    "--lam", "0.1,1", "--out", tmp_path / "s")  # fmt: skip
    assert_clean(result, 2, "--lam applies to contractive models")


def test_resume_and_overwrite_together_are_refused(run, tmp_path):
    before = (run / "model.safetensors").read_bytes()
    assert_clean(train(run, "--resume", "--overwrite"), 2, "give one of them")
    assert (run / "model.safetensors").read_bytes() == before


def test_a_finite_but_exploded_loss_is_divergence(tmp_path):
    """Adam at lr 1e8 gave a loss of 1e17 and exit 0; every number was finite."""
    out = tmp_path / "r"
    result = invoke("train", "--data", "circle:n_samples=200,scale=5", "--model", "ae",
                    "--hidden", "8", "--epochs", "3", "--lr", "1e8", "-q",
                    "--out", out)  # fmt: skip
    assert_clean(result, 1, "diverged", "times its start", "--lr")
    assert not (out / "model.safetensors").exists()  # epoch 1 already blew up: nothing saved


def test_ordinary_training_is_not_called_divergence(tmp_path):
    result = invoke("train", "--data", "circle:n_samples=200,scale=5", "--model", "ae",
                    "--hidden", "8", "--epochs", "3", "--lr", "0.05", "-q",
                    "--out", tmp_path)  # fmt: skip
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("where", ["tensor", "metadata"])
def test_a_checkpoint_changed_after_saving_is_refused(run, tmp_path, where):
    """A flipped bit in the weights (or in the JSON config) loaded silently before."""
    copy = tmp_path / "run"
    copy.mkdir()
    raw = bytearray((run / "model.safetensors").read_bytes())
    if where == "tensor":
        raw[-20] ^= 0xFF
    else:
        at = raw.index(b'\\"lam\\": 0.1')
        raw[at + 12] = ord("3")  # lam 0.1 -> 0.3, still valid JSON
    (copy / "model.safetensors").write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(copy)
    result = invoke("analyze", copy, "--data", CIRCLE, "--out", tmp_path / "an", "-q")
    assert_clean(result, 1, "damaged", "checksum")


def test_checkpoints_without_a_checksum_still_load(run, tmp_path):
    """Files written before the checksum existed carry no 'sha256' in their metadata."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(run / "model.safetensors"), framework="pt") as f:
        meta = {k: v for k, v in f.metadata().items() if k != "sha256"}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    (tmp_path / "old").mkdir()
    save_file(tensors, str(tmp_path / "old" / "model.safetensors"), metadata=meta)
    assert load_checkpoint(tmp_path / "old").epoch == 2


# ------------------------------------------------------------ misleading before


def test_a_pickled_spectra_file_is_refused_without_suggesting_allow_pickle(run, tmp_path):
    an = tmp_path / "an"
    assert invoke("analyze", run, "--data", CIRCLE, "--out", an, "-q").exit_code == 0
    (an / "spectra.npz").write_bytes(pickle.dumps({"a": 1}))
    result = invoke("plot", an, "--out", tmp_path / "f")
    assert_clean(result, 1, "spectra.npz")
    assert "allow_pickle" not in result.output


def test_resuming_a_stack_without_stacked_says_to_add_it(tmp_path):
    out = tmp_path / "stack"
    result = invoke("train", "--data", CIRCLE, "--hidden", "4,2", "--stacked", "--epochs", "2",
                    "-q", "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    result = invoke("train", "--data", CIRCLE, "--hidden", "4,2", "--epochs", "4", "-q",
                    "--resume", "--out", out)  # fmt: skip
    assert_clean(result, 2, "stacked run", "add --stacked")
    assert "weights only" not in result.output
    assert json.loads((out / "history.json").read_text())  # the stack is untouched
    assert np.isfinite(load_checkpoint(out).model.enc_weights[0].detach().numpy()).all()


def test_a_stack_reports_its_layers_and_final_numbers(tmp_path):
    """StackResult's fields were filled by position after TrainResult gained start_epoch:
    the layers landed in start_epoch and the CLI's summary line came out empty."""
    from manifold_cae import ObjectiveConfig, TrainConfig, load_dataset, make_run_config
    from manifold_cae.stacking import train_stacked_dataset

    ds = load_dataset(CIRCLE)
    cfg = make_run_config(ds, hidden=(4, 2), objective=ObjectiveConfig(),
                          training=TrainConfig(epochs=2, stacked=True))  # fmt: skip
    result = train_stacked_dataset(ds, cfg, progress=False)
    assert len(result.layers) == 2 and result.finetune is None and result.start_epoch == 0
    assert {"reconstruction", "jacobian_norm"} <= set(result.composed)
    out = invoke("train", "--data", CIRCLE, "--hidden", "4,2", "--stacked", "--epochs", "2",
                 "--out", tmp_path / "s")  # fmt: skip
    assert out.exit_code == 0, out.output
    (line,) = [ln for ln in out.output.splitlines() if ln.startswith("trained a stack")]
    assert "reconstruction" in line and not line.endswith(": ")


def test_a_sigmoid_decoder_with_scaled_targets_is_refused(tmp_path):
    """Standardised targets leave [0, 1] and the cross-entropy fell without bound (to -29
    after 60 epochs of digits with --input-scaling standard), silently."""
    result = invoke("train", "--data", "digits", "--input-scaling", "standard", "--hidden", "8",
                    "--epochs", "1", "-q", "--out", tmp_path / "r")  # fmt: skip
    assert_clean(result, 2, "sigmoid decoder needs targets in [0, 1]", "--input-scaling none")
    result = invoke("train", "--data", "digits", "--input-scaling", "standard", "--output",
                    "linear", "--hidden", "8", "--epochs", "1", "-q",
                    "--out", tmp_path / "s")  # fmt: skip
    assert result.exit_code == 0, result.output


def test_a_stack_on_scaled_data_trains_its_upper_layers_on_unscaled_codes():
    """Layers 2+ inherited the data's global scaling: their sigmoid decoders then chased
    standardised codes and the cross-entropy went to -1644 on a sphere in R^50."""
    import torch

    from manifold_cae import ObjectiveConfig, TrainConfig, load_dataset, make_run_config
    from manifold_cae.stacking import train_stacked_dataset

    ds = load_dataset("sphere:n_samples=300,ambient_dim=10,noise=0.01")
    cfg = make_run_config(ds, hidden=(8, 4), objective=ObjectiveConfig(),
                          training=TrainConfig(epochs=40, stacked=True, lr=1e-2))  # fmt: skip
    assert cfg.model.input_scaling == "global"
    result = train_stacked_dataset(ds, cfg, progress=False)
    upper = result.layers[1]
    assert upper.config.model.output == "sigmoid"
    assert upper.config.model.input_scaling == "none"
    assert min(r["reconstruction"] for r in upper.history) >= 0  # a cross-entropy on [0, 1]
    # the composed model's reconstruction, in its own scaled units: raw error / scale^2
    from manifold_cae.runs import split

    model = result.model
    x = torch.as_tensor(ds.X[split(ds, cfg.training)[0]])
    with torch.no_grad():
        raw = (model(x) - x).square().sum(1).mean() / model.input_scale[0] ** 2
    assert result.composed["reconstruction"] == pytest.approx(float(raw), rel=1e-4)
