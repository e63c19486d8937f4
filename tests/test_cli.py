"""The ``manifold-cae`` command through click's CliRunner: help, training runs, resume,
TOML configs, and clean errors (exit 2 for bad options, 1 for bad data or runs; never a
traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result

from manifold_cae import __version__, load_checkpoint, load_dataset, load_model
from manifold_cae.cli import _study_from_options, main
from manifold_cae.config import AnalysisConfig, ArchitectureConfig, ObjectiveConfig, TrainConfig

SPEC = "swiss-roll:n_samples=200"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def train(out: Path, *extra: str, epochs: int = 1) -> Result:
    return invoke("train", "--data", SPEC, "--epochs", epochs, "--hidden", "8", "--out", out,
                  "-q", *extra)  # fmt: skip


def assert_clean_failure(result: Result, code: int, *fragments: str) -> None:
    """Exit ``code`` through click (SystemExit), with a message and no traceback."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert "Error" in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


def history(run: Path) -> list[dict]:
    return json.loads((run / "history.json").read_text())["epochs"]


# ----------------------------------------------------------------------- help


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--help"], ["contractive autoencoders", "train", "datasets"]),
        (["train", "--help"], ["Train an autoencoder", "--data", "--model", "--resume", "--lam"]),
        (["datasets", "--help"], ["List the built-in data sets"]),
    ],
)
def test_help(args, expected):
    result = invoke(*args)
    assert result.exit_code == 0
    for text in expected:
        assert text in result.output


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert __version__ in result.output


def test_datasets_lists_builtin_sets():
    result = invoke("datasets")
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines() if line.strip()]
    assert "swiss-roll" in names
    assert "digits" in names


# ---------------------------------------------------------------------- train


def test_train_writes_a_loadable_run(tmp_path):
    run = tmp_path / "cae"
    result = train(run, "--model", "cae", epochs=2)
    assert result.exit_code == 0, result.output
    assert "trained" not in result.output  # -q
    assert (run / "model.safetensors").is_file()
    assert len(history(run)) == 2
    ds = load_dataset(SPEC)
    code = load_model(run).encode(torch.from_numpy(ds.X))
    assert code.shape == (200, 8)
    assert torch.isfinite(code).all()
    cfg = load_checkpoint(run).config
    assert cfg.objective.kind == "cae"
    assert cfg.model.hidden == (8,)
    assert cfg.model.output == "linear"  # auto: swiss-roll is not in [0, 1]
    assert cfg.training.epochs == 2
    assert cfg.data["spec"] == SPEC


def test_train_without_quiet_reports_what_it_wrote(tmp_path):
    result = invoke("train", "--data", SPEC, "--epochs", "1", "--hidden", "3", "--out",
                    tmp_path / "r")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "trained cae on swiss-roll for 1 epochs" in result.output
    assert str(tmp_path / "r" / "model.safetensors") in result.output


@pytest.mark.parametrize("kind", ["ae", "dae", "cae-h", "rcae"])
def test_each_model_kind_trains(kind, tmp_path):
    result = train(tmp_path, "--model", kind)
    assert result.exit_code == 0, result.output
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.config.objective.kind == kind
    assert ckpt.epoch == 1
    assert np.isfinite(history(tmp_path)[0]["loss"])


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--lam", "-1"], "lam must be finite and >= 0"),
        (["--hidden", "0"], "--hidden"),
        (["--hidden", "8,x"], "--hidden"),
        (["--model", "foo"], "foo"),
        (["--noise", "2", "--corruption", "masking"], "noise"),
        (["--penalty", "closed", "--hidden", "8,4", "--model", "cae"], "closed"),
        (["--epochs", "0"], "epochs"),
        (["--held-out", "1.5"], "held_out"),
    ],
)
def test_bad_options_exit_2_with_a_message(args, fragment, tmp_path):
    result = train(tmp_path / "run", *args)
    assert_clean_failure(result, 2, fragment)
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_existing_run_needs_resume_or_overwrite(tmp_path):
    assert train(tmp_path).exit_code == 0
    before = (tmp_path / "model.safetensors").read_bytes()
    result = train(tmp_path)
    assert_clean_failure(result, 1, "already holds a run", "--resume")
    assert (tmp_path / "model.safetensors").read_bytes() == before
    assert train(tmp_path, "--overwrite").exit_code == 0


def test_resume_continues_to_the_requested_epochs(tmp_path):
    run = tmp_path / "resumed"
    assert train(run, epochs=1).exit_code == 0
    result = train(run, "--resume", epochs=3)
    assert result.exit_code == 0, result.output
    assert [r["epoch"] for r in history(run)] == [1, 2, 3]
    assert load_checkpoint(run).epoch == 3
    straight = tmp_path / "straight"
    assert train(straight, epochs=3).exit_code == 0
    a, b = load_model(run).state_dict(), load_model(straight).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_with_changed_options_is_refused(tmp_path):
    assert train(tmp_path).exit_code == 0
    result = train(tmp_path, "--resume", "--lam", "0.5", epochs=2)
    assert_clean_failure(result, 1, "different configuration", "lam")


# ------------------------------------------------------------------------ TOML


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_config_file_is_applied_and_flags_override_it(tmp_path):
    toml = write_toml(
        tmp_path / "run.toml",
        '[model]\nhidden = [6]\n\n[objective]\nmodel = "dae"\nnoise = 0.2\n\n'
        "[training]\nepochs = 1\nbatch-size = 64\n",
    )
    result = invoke("train", "--data", SPEC, "--config", toml, "--out", tmp_path / "a", "-q")
    assert result.exit_code == 0, result.output
    cfg = load_checkpoint(tmp_path / "a").config
    assert cfg.model.hidden == (6,)
    assert cfg.objective.kind == "dae"
    assert cfg.objective.noise == 0.2
    assert cfg.training.epochs == 1
    assert cfg.training.batch_size == 64
    assert len(history(tmp_path / "a")) == 1

    result = invoke("train", "--data", SPEC, "--config", toml, "--out", tmp_path / "b", "-q",
                    "--epochs", "2", "--hidden", "5", "--model", "cae")  # fmt: skip
    assert result.exit_code == 0, result.output
    cfg = load_checkpoint(tmp_path / "b").config
    assert (cfg.model.hidden, cfg.objective.kind, cfg.training.epochs) == ((5,), "cae", 2)
    assert cfg.objective.noise == 0.2  # not overridden: still from the file
    assert len(history(tmp_path / "b")) == 2


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[model]\nhiddden = [6]\n", "hiddden"),
        ("[optimiser]\nlr = 0.1\n", "optimiser"),
        ("[model\nhidden = [6]\n", "cannot read"),
        # out of range: named with the file and table they came from
        ('[training]\nepochs = "many"\n', "{toml}: [training] epochs must be a whole number >= 1"),
        ("[objective]\nlam = -1.0\n", "{toml}: [objective] lam must be finite and >= 0; got -1.0"),
        ("[training]\nbatch_size = 0\n", "{toml}: [training] batch_size must be >= 1; got 0"),
    ],
)
def test_bad_config_file_exits_2(text, fragment, tmp_path):
    toml = write_toml(tmp_path / "bad.toml", text)
    result = invoke("train", "--data", SPEC, "--config", toml, "--out", tmp_path / "r", "-q")
    assert_clean_failure(result, 2, fragment.format(toml=toml))


def test_a_bad_flag_is_not_blamed_on_the_config_file(tmp_path):
    toml = write_toml(tmp_path / "fine.toml", "[training]\nlr = 0.01\n")
    result = invoke("train", "--data", SPEC, "--config", toml, "--batch-size", "0",
                    "--out", tmp_path / "r", "-q")  # fmt: skip
    assert_clean_failure(result, 2, "batch_size must be >= 1; got 0")
    assert str(toml) not in result.output


@pytest.mark.parametrize("text", ["[model]\nhidden = 6\n", '[training]\nlr = "0.01"\n'])
def test_config_file_values_of_the_wrong_type_do_not_crash(text, tmp_path):
    toml = write_toml(tmp_path / "typed.toml", text)
    result = invoke("train", "--data", SPEC, "--epochs", "1", "--config", toml,
                    "--out", tmp_path / "r", "-q")  # fmt: skip
    assert result.exit_code in (0, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


# ------------------------------------------------------------------- bad data


def test_missing_data_file_exits_1_naming_it(tmp_path):
    missing = tmp_path / "nowhere.npy"
    result = invoke("train", "--data", missing, "--out", tmp_path / "r", "-q")
    assert_clean_failure(result, 1, str(missing))


def test_data_with_nan_exits_1_naming_file_and_position(tmp_path):
    X = np.random.default_rng(0).uniform(size=(30, 4))
    X[12, 3] = np.nan
    path = tmp_path / "points.npy"
    np.save(path, X)
    result = invoke("train", "--data", path, "--out", tmp_path / "r", "-q")
    assert_clean_failure(result, 1, str(path), "row 12", "column 3")


def test_sigmoid_output_on_data_outside_unit_interval_is_refused(tmp_path):
    result = train(tmp_path / "r", "--output", "sigmoid")
    assert_clean_failure(result, 1, "sigmoid", "[0, 1]", "--output linear")
    assert not (tmp_path / "r" / "model.safetensors").exists()


def test_toml_values_of_a_near_miss_type_are_refused(tmp_path):
    """epochs = 1.7 used to train one epoch; now it is an error naming the file and key."""
    toml = write_toml(tmp_path / "typed.toml", "[training]\nepochs = 1.7\n")
    result = invoke("train", "--data", SPEC, "--config", toml, "--out", tmp_path / "r", "-q")
    assert_clean_failure(result, 2, "typed.toml", "epochs = 1.7", "whole number")
    assert not (tmp_path / "r").exists()


def test_analyze_reads_an_analysis_table(tmp_path):
    run = tmp_path / "run"
    assert train(run).exit_code == 0
    toml = write_toml(tmp_path / "an.toml", "[analysis]\npoints = 30\nstore-points = 4\n")
    result = invoke("analyze", run, "--data", SPEC, "--config", toml, "--out", tmp_path / "a",
                    "--n-radii", "3", "--contraction-points", "10", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["n_points"] == 30


# ------------------------------------------------------- contradictions and usage


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--momentum", "0.9"], ["momentum", "adam", "--optimizer sgd"]),
        (["--momentum", "0.9", "--optimizer", "adam"], ["momentum", "adam"]),
        (["--device", "meta"], ["device", "'meta'", "cuda:N"]),
        (["--seed", "-1"], ["seed", "-1"]),
        (["--data-seed", str(2**63)], ["data_seed", "2**63"]),
    ],
)
def test_contradictory_or_impossible_train_options_exit_2(args, fragments, tmp_path):
    result = train(tmp_path / "run", *args)
    assert_clean_failure(result, 2, *fragments)
    assert not (tmp_path / "run").exists()


def test_exact_with_no_full_spectrum_is_refused(tmp_path):
    result = invoke("analyze", tmp_path / "no-run", "--data", SPEC, "--out", tmp_path / "a",
                    "--exact", "--no-full-spectrum")  # fmt: skip
    assert_clean_failure(result, 2, "--exact", "--no-full-spectrum")


@pytest.mark.parametrize("command", ["train", "analyze", "compare"])
@pytest.mark.parametrize("empty", ["--out", "--data"])
def test_empty_out_or_data_is_a_usage_error(command, empty, tmp_path):
    values = {"--out": str(tmp_path / "o"), "--data": SPEC, empty: ""}
    args = [command, *(["run"] if command == "analyze" else [])]
    result = invoke(*args, *[x for kv in values.items() for x in kv])
    assert_clean_failure(result, 2, empty, "must not be empty")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--seeds", "0,0"], "0 given more than once"),
        (["--models", "ae,cae,ae"], "ae given more than once"),
        (["--lam", "0.1,0.1"], "0.1 given more than once"),
        (["--noise", "0.1,x"], "comma-separated"),
    ],
)
def test_compare_refuses_repeats(args, fragment, tmp_path):
    result = invoke("compare", "--data", SPEC, "--models", "ae,cae", "--out", tmp_path / "s",
                    *args)  # fmt: skip
    assert_clean_failure(result, 2, fragment)
    assert not (tmp_path / "s").exists()


def test_study_from_options_passes_every_option():
    arch = ArchitectureConfig(hidden=(6, 3), activation="tanh", output="linear", tied=False)
    study = _study_from_options(
        "digits", arch, ObjectiveConfig(gamma=0.3, penalty="stochastic", n_probes=3),
        TrainConfig(epochs=3, batch_size=16, lr=0.01, held_out=0.25, device="auto",
                    optimizer="sgd", momentum=0.9, data_seed=3),
        AnalysisConfig(points=50), models=("ae", "cae"), seeds=(4, 5), lam=(0.2,), noise=None,
    )  # fmt: skip
    assert study.architecture == arch
    tr = study.training
    assert (tr.epochs, tr.batch_size, tr.lr, tr.held_out) == (3, 16, 0.01, 0.25)
    assert (tr.device, study.objective.gamma) == ("auto", 0.3)
    assert (tr.momentum, tr.data_seed, study.objective.n_probes) == (0.9, 3, 3)
    assert (study.models, study.seeds) == (("ae", "cae"), (4, 5))
    assert study.lam == (0.2,) and study.noise is None  # noise: the objective's own value
    assert study.analysis.points == 50


# ------------------------------------------------------------------- start-up


@pytest.mark.parametrize("argv", [["--help"], ["datasets"], ["train", "--help"]])
def test_help_and_datasets_do_not_import_torch(argv):
    """Start-up stays quick: torch is imported by the commands that train or analyse."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom manifold_cae.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr


def test_package_exports_are_lazy_and_complete():
    import manifold_cae

    assert set(manifold_cae.__all__) == {*manifold_cae._WHERE, "__version__"}
    for name in manifold_cae.__all__:
        assert getattr(manifold_cae, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = manifold_cae.nope
