"""Stacked CAEs: the composite Jacobian and the deep penalty's gradient against float64
autograd, composition and prefixes, determinism, resume inside and between layers,
unfinished stacks, and the per-layer CLI flags."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch.autograd.functional import jacobian as autograd_jacobian

import manifold_cae.train as train_module
from manifold_cae import (
    AnalysisConfig,
    Autoencoder,
    CheckpointError,
    ConfigError,
    ModelConfig,
    ObjectiveConfig,
    RunConfig,
    TrainConfig,
    analyze,
    encoder_frobenius_sq,
    encoder_jacobian,
    load_checkpoint,
    loss_terms,
)
from manifold_cae.analysis.spectra import FactoredJacobian
from manifold_cae.checkpoint import save_model
from manifold_cae.cli import main
from manifold_cae.config import replace
from manifold_cae.data import load_dataset
from manifold_cae.runs import make_run_config
from manifold_cae.stacking import (
    LayerPlan,
    compose,
    load_stack,
    plan_layers,
    prefix,
    split_epochs,
    stacked_run_config,
    train_stacked,
)

D_X = 6
STAGE_EPOCHS = (3, 2)  # per layer; the fine-tuning adds FINETUNE
FINETUNE = 2
TOTAL = sum(STAGE_EPOCHS) + FINETUNE


def random_layers(
    sizes: tuple[int, ...],
    activation: str,
    generator: torch.Generator,
    *,
    scale: float = 4.0,
    scaling: str = "none",
) -> list[Autoencoder]:
    """One-layer float64 autoencoders that chain; large weights saturate some units. The first
    layer's ``scaling`` is fitted to data of spread 3 about 5 (far from its own units)."""
    layers = []
    for i, (d_in, d_out) in enumerate(itertools.pairwise(sizes)):
        layer = Autoencoder(
            ModelConfig(d_in, (d_out,), activation=activation, output="linear",
                        input_scaling=scaling if i == 0 else "none"),
            generator=generator,
            dtype=torch.float64,
        )  # fmt: skip
        if i == 0:
            data = 5 + 3 * torch.randn(40, d_in, generator=generator, dtype=torch.float64)
            layer.set_input_scaling(data)
        with torch.no_grad():
            layer.enc_weights[0].mul_(scale)
            layer.enc_biases[0].normal_(0.0, 1.0, generator=generator)
            layer.dec_biases[0].normal_(0.0, 1.0, generator=generator)
        layers.append(layer)
    return layers


def encode_through(layers: list[Autoencoder], x: torch.Tensor) -> torch.Tensor:
    for layer in layers:
        x = layer.encode(x)
    return x


def autograd_jacobians(fn, x: torch.Tensor) -> torch.Tensor:
    """(n, d_out, d_in) by torch.autograd, one example at a time: the reference."""
    return torch.stack([autograd_jacobian(fn, xi) for xi in x])


# ------------------------------------------------------------------ the composite Jacobian


@pytest.mark.parametrize("scaling", ["none", "standard"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("sizes", [(D_X, 5, 3), (D_X, 7, 5, 2)], ids=["2-layer", "3-layer"])
def test_composite_jacobian_matches_float64_autograd(sizes, activation, scaling, generator):
    layers = random_layers(sizes, activation, generator, scaling=scaling)
    model = compose(layers)
    x = torch.randn(12, D_X, generator=generator, dtype=torch.float64)
    if scaling != "none":  # in the data's units, as the first layer's scaling was fitted
        x = 5 + 3 * x
    preactivations = [t.preactivation for t in model.trace(x)]
    assert any(bool((a.abs() > 4).any()) for a in preactivations), "no saturated unit to test"

    reference = autograd_jacobians(lambda xi: encode_through(layers, xi), x)
    torch.testing.assert_close(encoder_jacobian(model, x), reference, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(
        encoder_jacobian(model, x, method="autograd"), reference, rtol=1e-10, atol=1e-12
    )
    eye = torch.eye(D_X, dtype=torch.float64).expand(len(x), D_X, D_X)
    factored = FactoredJacobian(model, x).matmat(eye)  # what analyze uses
    torch.testing.assert_close(factored, reference, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(
        encoder_frobenius_sq(model, x, method="exact"), reference.square().sum((-2, -1))
    )


def test_analyze_reports_the_composite_jacobian_norm(generator):
    model = compose(random_layers((D_X, 5, 3), "sigmoid", generator, scale=1.0)).float()
    x = torch.rand(30, D_X, generator=generator)
    norms = torch.linalg.matrix_norm(autograd_jacobians(model.encode, x.double().float()))
    cfg = AnalysisConfig(points=None, contraction_points=5, n_radii=3, pca_neighbors=5)
    summary = analyze(model, x.numpy(), config=cfg, progress=False).summary
    assert summary.norms.frobenius.mean == pytest.approx(float(norms.mean()), rel=1e-4)


@pytest.mark.parametrize("sizes", [(D_X, 5, 3), (D_X, 5, 4, 3)], ids=["2-layer", "3-layer"])
def test_deep_penalty_gradient_wrt_w1_matches_autograd_on_the_full_jacobian(sizes, generator):
    model = compose(random_layers(sizes, "sigmoid", generator, scale=1.5))
    x = torch.rand(8, D_X, generator=generator, dtype=torch.float64)
    terms = loss_terms(model, x, ObjectiveConfig(kind="cae", penalty="exact", lam=1.0),
                       generator=None)  # fmt: skip
    (grad,) = torch.autograd.grad(terms.penalty, model.enc_weights[0])

    w1 = model.enc_weights[0].detach().clone().requires_grad_(True)
    rest = list(zip(model.enc_weights[1:], model.enc_biases[1:], strict=True))

    def encode(xi: torch.Tensor) -> torch.Tensor:
        h = torch.sigmoid(w1 @ xi + model.enc_biases[0])
        for w, b in rest:
            h = torch.sigmoid(w @ h + b)
        return h

    full = [autograd_jacobian(encode, xi, create_graph=True) for xi in x]  # (d_h, d_x) each
    penalty = torch.stack([j.square().sum() for j in full]).mean()
    (expected,) = torch.autograd.grad(penalty, w1)
    torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ composition


def test_prefix_encodes_the_first_layers_and_the_sigmoid_decoder_mirrors_them(generator):
    layers = random_layers((D_X, 5, 4, 3), "sigmoid", generator)
    for layer in layers[1:]:  # layers on sigmoid codes reconstruct through a sigmoid
        layer.config = replace(layer.config, output="sigmoid")
    model = compose(layers)
    x = torch.randn(10, D_X, generator=generator, dtype=torch.float64)
    for i in range(1, 4):
        torch.testing.assert_close(prefix(model, i).encode(x), encode_through(layers[:i], x))
    assert prefix(model, 3).state_dict().keys() == model.state_dict().keys()
    h = torch.rand(10, 3, generator=generator, dtype=torch.float64)
    expected = h
    for layer in reversed(layers):
        expected = layer.decode(expected)
    torch.testing.assert_close(model.decode(h), expected)
    for bad in (0, 4):
        with pytest.raises(ConfigError, match=r"layer must be in 1\.\.3"):
            prefix(model, bad)


@pytest.mark.parametrize("scaling", ["standard", "global"])
def test_compose_and_prefix_keep_the_first_layers_input_scaling(scaling, generator):
    layers = random_layers((D_X, 5, 4, 3), "tanh", generator, scale=1.0, scaling=scaling)
    model = compose(layers)
    x = 5 + 3 * torch.randn(10, D_X, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(model.encode(x), encode_through(layers, x))
    torch.testing.assert_close(model.input_scale, layers[0].input_scale)
    torch.testing.assert_close(model.input_shift, layers[0].input_shift)
    for i in range(1, 4):
        torch.testing.assert_close(prefix(model, i).encode(x), encode_through(layers[:i], x))
    torch.testing.assert_close(model(x), prefix(model, 3)(x))  # both map back to x's units


def test_compose_refuses_a_code_layer_that_scales_its_inputs(generator):
    a, b = random_layers((D_X, 5, 3), "tanh", generator)
    b = Autoencoder(replace(b.config, input_scaling="global"), dtype=torch.float64)
    with pytest.raises(ConfigError, match=r"layer 2 scales its inputs.*input_scaling none"):
        compose([a, b])


def test_compose_refuses_layers_that_do_not_chain(generator):
    a, b = random_layers((D_X, 5, 3), "sigmoid", generator)
    with pytest.raises(ConfigError, match="takes 5 inputs but layer 1 gives 3"):
        compose([b, b])
    (c,) = random_layers((5, 3), "tanh", generator)
    with pytest.raises(ConfigError, match="same activation"):
        compose([a, c])


# ------------------------------------------------------------------ per-layer settings


def stack_config(*, seed=0, hidden=(5, 3), epochs=TOTAL, **training):
    return RunConfig(
        ModelConfig(D_X, hidden, output="sigmoid"),
        ObjectiveConfig(kind="cae", lam=0.1),
        TrainConfig(epochs=epochs, batch_size=16, lr=1e-2, seed=seed, stacked=True,
                    finetune_epochs=FINETUNE, **training),
    )  # fmt: skip


def test_plan_broadcasts_one_value_and_splits_the_total_epochs():
    cfg = stack_config(hidden=(5, 4, 3), epochs=10 + FINETUNE)
    plan = plan_layers(cfg, lam=(0.5, 0.2, 0.1))
    assert plan == (LayerPlan(0.5, 4, 1e-2), LayerPlan(0.2, 3, 1e-2), LayerPlan(0.1, 3, 1e-2))
    assert split_epochs(7, 3) == (3, 2, 2)
    assert plan_layers(cfg, epochs=(1,), lr=(0.1, 0.2, 0.3))[2] == LayerPlan(0.1, 1, 0.3)


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"lam": (0.5, 0.1, 0.2)}, ["--lam has 3 values", "for 2 layers", "hidden=5,3"]),
        ({"epochs": (1, 2, 3)}, ["--epochs has 3 values"]),
        ({"lr": (0.1, 0.2, 0.3)}, ["--lr has 3 values"]),
        ({"lam": (-1.0,)}, ["lam must be finite and >= 0; got -1.0"]),
    ],
)
def test_plan_errors_name_the_values(kwargs, fragments):
    with pytest.raises(ConfigError) as info:
        plan_layers(stack_config(), **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_too_few_epochs_for_the_layers_is_an_error():
    with pytest.raises(ConfigError, match="total over 2 layers and 2 fine-tuning epochs"):
        plan_layers(stack_config(epochs=3))


# ------------------------------------------------------------------ training and resume


@pytest.fixture
def X(seed) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(48, D_X)).astype(np.float32)


def params_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def losses(history: list[dict]) -> list[tuple]:
    return [(r["stage"], r["epoch"], r["loss"], r["jacobian_norm"]) for r in history]


def test_stacked_training_is_deterministic_for_a_seed(X):
    a = train_stacked(X, stack_config(seed=3), progress=False)
    b = train_stacked(X, stack_config(seed=3), progress=False)
    c = train_stacked(X, stack_config(seed=4), progress=False)
    assert params_equal(a.model, b.model)
    assert losses(a.history) == losses(b.history)
    assert not params_equal(a.model, c.model)
    assert a.model.config.hidden == (5, 3)
    assert [r["stage"] for r in a.history] == ["layer 1"] * 3 + ["layer 2"] * 2 + ["finetune"] * 2


def test_a_stacked_run_directory_holds_the_composed_model(X, tmp_path):
    result = train_stacked(X, stack_config(), out_dir=tmp_path, X_held_out=X[:8], progress=False)
    ckpt = load_checkpoint(tmp_path)
    assert params_equal(ckpt.model, result.model)
    assert ckpt.config.training.stacked and ckpt.epoch == ckpt.config.training.epochs == 7
    assert ckpt.config == stacked_run_config(stack_config())  # what compare checks it against
    assert ckpt.config.data["stack"] == [{"lam": 0.1, "epochs": 3, "lr": 0.01},
                                         {"lam": 0.1, "epochs": 2, "lr": 0.01}]  # fmt: skip
    saved = json.loads((tmp_path / "history.json").read_text())
    assert [len(h) for h in saved["layers"]] == list(STAGE_EPOCHS)
    assert len(saved["finetune"]) == FINETUNE and len(saved["epochs"]) == 7
    assert set(saved["composed"]) == {"reconstruction", "jacobian_norm", "held_out_reconstruction"}
    layer2 = load_checkpoint(tmp_path / "layers" / "2")
    assert layer2.config.model.output == "sigmoid"  # its inputs are sigmoid codes
    for layer in (1, 2):  # penalty auto: each layer is one-layer, so the closed form
        assert load_checkpoint(tmp_path / "layers" / str(layer)).config.objective.penalty == (
            "closed"
        )
    x = torch.as_tensor(X)
    torch.testing.assert_close(
        load_stack(tmp_path, layer=1).encode(x), prefix(ckpt.model, 1).encode(x)
    )


def test_a_deep_run_config_made_a_stack_trains_closed_form_layers(tmp_path):
    """make_run_config keeps penalty "auto" for a deep shape (the depth study makes the
    stack from it): were it resolved there, the layers would inherit the deep rule."""
    ds = load_dataset("sphere:n_samples=60,ambient_dim=20", seed=0)
    config = make_run_config(ds, hidden=(18, 17), objective=ObjectiveConfig(kind="cae", lam=0.1),
                             training=TrainConfig(epochs=2))  # fmt: skip
    assert config.objective.penalty == "auto"
    config = replace(config, training=replace(config.training, stacked=True))
    train_stacked(ds.X, config, out_dir=tmp_path, progress=False)
    for layer in (1, 2):
        assert load_checkpoint(tmp_path / "layers" / str(layer)).config.objective.penalty == (
            "closed"
        )


def scaled_stack_config(ds, activation: str, **training) -> RunConfig:
    return make_run_config(ds, hidden=(6, 4), activation=activation,
                           objective=ObjectiveConfig(kind="cae", lam=0.1),
                           training=TrainConfig(epochs=4, stacked=True, **training))  # fmt: skip


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])  # tanh codes: auto was global
def test_a_stack_on_data_outside_the_unit_interval_encodes_as_its_layers(activation, tmp_path):
    """The data's scaling is the first layer's and the composite's; the code layers take
    their codes as they are; the saved stack encodes as its layers do, in turn."""
    ds = load_dataset("swiss-roll:n_samples=120,noise=0.02")
    config = scaled_stack_config(ds, activation)
    assert (config.model.output, config.model.input_scaling) == ("linear", "global")
    result = train_stacked(ds.X, config, out_dir=tmp_path, progress=False)
    first, second = (r.model for r in result.layers)
    assert first.config.input_scaling == "global" and second.config.input_scaling == "none"
    x = torch.as_tensor(ds.X[:30])
    torch.testing.assert_close(result.model.encode(x), second.encode(first.encode(x)))
    torch.testing.assert_close(load_checkpoint(tmp_path).model.encode(x), result.model.encode(x))
    torch.testing.assert_close(load_stack(tmp_path, layer=1).encode(x), first.encode(x))


def test_a_stack_saved_without_its_first_layers_scaling_is_refused(tmp_path):
    """As releases before compose kept the scaling saved it: refused, naming the fix."""
    ds = load_dataset("swiss-roll:n_samples=120,noise=0.02")
    result = train_stacked(ds.X, scaled_stack_config(ds, "sigmoid"), out_dir=tmp_path,
                           progress=False)  # fmt: skip
    old = Autoencoder(result.model.config)  # shift 0, scale 1: what the old compose saved
    old.load_state_dict({**result.model.state_dict(), "input_shift": old.input_shift,
                         "input_scale": old.input_scale})  # fmt: skip
    save_model(old, tmp_path, config=load_checkpoint(tmp_path).config, epoch=4)
    for load in (load_checkpoint, load_stack):
        with pytest.raises(CheckpointError, match=r"lacks its first layer's input scaling.*"
                           r"--stacked --overwrite"):  # fmt: skip
            load(tmp_path)
    np.save(tmp_path / "x.npy", ds.X)
    out = CliRunner().invoke(main, ["analyze", str(tmp_path), "--data", str(tmp_path / "x.npy"),
                                    "--out", str(tmp_path / "analysis")])  # fmt: skip
    assert out.exit_code != 0 and "lacks its first layer's input scaling" in out.output


def test_resuming_a_stack_whose_code_layer_scaled_its_codes_is_refused(tmp_path, monkeypatch):
    """A tanh stack stopped in layer 2 by a release whose code layers scaled (auto: global)."""
    import manifold_cae.stacking as stacking

    ds = load_dataset("swiss-roll:n_samples=120,noise=0.02")
    config = scaled_stack_config(ds, "tanh")
    real = stacking.layer_run_config

    def old_layer_config(config, plan, layer):
        cfg = real(config, plan, layer)
        if layer:
            cfg = replace(cfg, model=replace(cfg.model, input_scaling="global"))
        return cfg

    monkeypatch.setattr(stacking, "layer_run_config", old_layer_config)
    count_epochs(monkeypatch, stop_after=3)  # layer 1's 2 epochs, then 1 of layer 2's
    with pytest.raises(Interrupted):
        train_stacked(ds.X, config, out_dir=tmp_path, progress=False)
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match=r"layers/2 was trained on scaled codes.*--overwrite"):
        train_stacked(ds.X, config, out_dir=tmp_path, resume=True, progress=False)


class Interrupted(Exception):
    pass


def count_epochs(monkeypatch: pytest.MonkeyPatch, *, stop_after: int | None = None) -> list[int]:
    """Count the epochs trained (of any stage); stop, as a crash would, after ``stop_after``."""
    real, done = train_module.train_epoch, [0]

    def epoch(*args, **kwargs):
        if done[0] == stop_after:
            raise Interrupted
        done[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_epoch", epoch)
    return done


STOPS = {"mid-layer-1": 1, "between-layers": 3, "mid-layer-2": 4, "before-finetune": 5,
         "mid-finetune": 6}  # fmt: skip


@pytest.mark.parametrize("stop", STOPS.values(), ids=STOPS.keys())
def test_resume_equals_an_uninterrupted_run(stop, X, tmp_path, monkeypatch):
    whole = train_stacked(X, stack_config(), out_dir=tmp_path / "whole", progress=False)
    count_epochs(monkeypatch, stop_after=stop)
    with pytest.raises(Interrupted):
        train_stacked(X, stack_config(), out_dir=tmp_path / "cut", progress=False)
    monkeypatch.undo()

    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "cut")  # an unfinished stack is not a finished model
    with pytest.raises(CheckpointError, match="unfinished stack"):
        load_stack(tmp_path / "cut")
    trained = count_epochs(monkeypatch)
    resumed = train_stacked(X, stack_config(), out_dir=tmp_path / "cut", resume=True,
                            progress=False)  # fmt: skip
    assert trained == [TOTAL - stop]  # it continued; it did not start again
    assert params_equal(resumed.model, whole.model)
    assert losses(resumed.history) == losses(whole.history)
    assert params_equal(load_stack(tmp_path / "cut"), whole.model)


def test_resume_refuses_other_settings_and_a_run_dir_is_not_reused(X, tmp_path):
    train_stacked(X, stack_config(), out_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="already holds a run"):
        train_stacked(X, stack_config(), out_dir=tmp_path, progress=False)
    other = plan_layers(stack_config(), lam=(0.5, 0.1))
    with pytest.raises(CheckpointError, match="started with other settings"):
        train_stacked(X, stack_config(), plan=other, out_dir=tmp_path, resume=True)
    with pytest.raises(CheckpointError, match="holds no stacked run"):
        train_stacked(X, stack_config(), out_dir=tmp_path / "new", resume=True)


# ------------------------------------------------------------------ the CLI


def train_cli(out: Path, *extra: str):
    args = ["train", "--data", "digits", "--hidden", "8,4", "--batch-size", "256", "--out",
            str(out), "-q", *extra]  # fmt: skip
    return CliRunner().invoke(main, args)


def test_cli_takes_one_value_per_layer(tmp_path):
    result = train_cli(tmp_path, "--stacked", "--lam", "0.5,0.1", "--epochs", "2,1",
                       "--lr", "0.01,0.02")  # fmt: skip
    assert result.exit_code == 0, result.output
    layers = [load_checkpoint(tmp_path / "layers" / str(i)).config for i in (1, 2)]
    assert [(c.objective.lam, c.training.epochs, c.training.lr) for c in layers] == [
        (0.5, 2, 0.01), (0.1, 1, 0.02),
    ]  # fmt: skip
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.model.config.hidden == (8, 4) and ckpt.epoch == 3
    again = train_cli(tmp_path, "--stacked", "--lam", "0.5,0.1", "--epochs", "2,1",
                      "--lr", "0.01,0.02", "--resume")  # fmt: skip
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--stacked", "--lam", "0.5,0.1,0.2"], "--lam has 3 values (0.5,0.1,0.2) for 2 layers"),
        (["--lam", "0.5,0.1"], "--lam apply to stacked training only; add --stacked"),
        (["--finetune-epochs", "2"], "--finetune-epochs apply to stacked training only"),
        (["--stacked", "--epochs", "2,x"], "expected a whole number >= 1 or \"auto\"; got 'x'"),
        (["--stacked", "--epochs", "1"], "total over 2 layers"),
    ],
)
def test_cli_per_layer_errors_are_usage_errors(args, fragment, tmp_path):
    result = train_cli(tmp_path / "run", *args)
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_analyze_layer_and_the_per_layer_table(tmp_path):
    """--layer i analyses the encoder up to layer i; a deep model's report has a layer table."""
    from click.testing import CliRunner

    from manifold_cae.cli import main
    from manifold_cae.report import load_analysis

    runner, spec, run = CliRunner(), "swiss-roll:n_samples=200", tmp_path / "run"
    args = ["train", "--data", spec, "--model", "cae", "--hidden", "8,4", "--stacked",
            "--epochs", "2", "--out", str(run), "-q"]  # fmt: skip
    assert runner.invoke(main, args).exit_code == 0
    base = ["analyze", str(run), "--data", spec, "--points", "40", "--top-k", "2", "-q"]
    assert runner.invoke(main, [*base, "--out", str(tmp_path / "all")]).exit_code == 0
    r = runner.invoke(main, [*base, "--layer", "1", "--out", str(tmp_path / "one")])
    assert r.exit_code == 0, r.output
    whole, first = (load_analysis(tmp_path / d).summary for d in ("all", "one"))
    assert whole.provenance.model.hidden == (8, 4) and first.provenance.model.hidden == (8,)
    layers = whole.layers
    assert layers.widths == [8, 4]
    assert layers.frobenius_mean[-1] == pytest.approx(whole.norms.frobenius.mean, rel=1e-5)
    assert layers.frobenius_mean[0] == pytest.approx(first.norms.frobenius.mean, rel=1e-5)
    assert "## Layer by layer" in (tmp_path / "all" / "report.md").read_text()
    assert "Layer by layer" not in (tmp_path / "one" / "report.md").read_text()
    bad = runner.invoke(main, [*base, "--layer", "3", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "Traceback" not in bad.output


def test_plan_layers_refuses_auto_epochs_it_cannot_resolve():
    ds = load_dataset("circle:n_samples=40", seed=0)
    config = make_run_config(ds, hidden=(4, 3), objective=ObjectiveConfig(lam=0.1))
    unresolved = replace(config, training=replace(config.training, epochs="auto"))
    with pytest.raises(ConfigError, match='epochs is "auto", which needs the data'):
        plan_layers(unresolved)
    assert len(plan_layers(unresolved, epochs=(2, 1))) == 2  # per-layer epochs need no data
