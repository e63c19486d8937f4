"""Input scaling inside the model: fitted on the training split, saved, and invisible to callers.

Public functions take raw inputs: J_f is the Jacobian with respect to the raw x,
which is the scaled model's own Jacobian times diag(1/scale).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import manifold_cae as mc
from manifold_cae.analysis import FactoredJacobian, principal_angles
from manifold_cae.config import ModelConfig, resolve_output
from manifold_cae.models import GLOBAL_MIN_NORM


def scaled_data(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(240, 5)) * [30.0, 3.0, 0.3, 1.0, 10.0] + 7.0).astype(np.float32)


def train(X: np.ndarray, scaling: str, *, epochs: int = 3) -> mc.TrainResult:
    config = mc.RunConfig(
        ModelConfig(5, (6,), output="linear", input_scaling=scaling),
        mc.ObjectiveConfig(kind="cae", lam=0.2),
        mc.TrainConfig(epochs=epochs, batch_size=32, lr=0.01, seed=1),
    )
    return mc.fit(X, config, progress=False)


@pytest.mark.parametrize("gain", [1.0, 2.5])
@pytest.mark.parametrize("scaling", ["standard", "global"])
def test_the_scaling_is_fitted_on_the_training_data_saved_and_restored(scaling, gain, tmp_path):
    X = scaled_data()
    model_config = ModelConfig(5, (4,), output="linear", input_scaling=scaling, input_gain=gain)
    result = mc.fit(X, mc.RunConfig(model_config, mc.ObjectiveConfig(lam=0.1),
                                    training=mc.TrainConfig(epochs=1)), out_dir=tmp_path,
                    progress=False)  # fmt: skip
    model = result.model
    np.testing.assert_allclose(model.input_shift.numpy(), X.mean(0), rtol=1e-5)
    std = X.astype(np.float64).std(0)
    # global, 5 features: RMS norm spread to GLOBAL_MIN_NORM = 5, i.e. sqrt(5) per feature;
    # the gain then makes the scaled data that many times as large
    want = std if scaling == "standard" else np.full(5, np.sqrt((std**2).mean() / 5))
    np.testing.assert_allclose(model.input_scale.numpy(), want / gain, rtol=1e-5)
    loaded = mc.load_model(tmp_path)
    assert loaded.config.input_gain == gain
    assert torch.equal(loaded.input_scale, model.input_scale)
    assert torch.equal(loaded.input_shift, model.input_shift)
    x = torch.as_tensor(X[:7])
    torch.testing.assert_close(loaded.encode(x), model.encode(x))


@pytest.mark.parametrize(("scaling", "gain"), [("standard", 1.0), ("global", 1.0),
                                             ("global", 3.0)])  # fmt: skip
def test_raw_jacobian_is_the_scaled_models_jacobian_times_the_scaling(scaling, gain):
    """Against float64 autograd, with saturated units (the weights are inflated)."""
    gen = torch.Generator().manual_seed(0)
    config = ModelConfig(5, (6, 4), "tanh", output="linear", input_scaling=scaling,
                         input_gain=gain)  # fmt: skip
    model = mc.Autoencoder(config, generator=gen, dtype=torch.float64)
    model.set_input_scaling(scaled_data())
    with torch.no_grad():
        model.enc_weights[0].mul_(5.0)
    x = torch.as_tensor(scaled_data(1)[:9], dtype=torch.float64)
    raw = torch.func.vmap(torch.func.jacrev(model.encode))(x)  # d h / d x, by autograd
    inner = torch.func.vmap(torch.func.jacrev(model.core().encode))(model.standardize(x))
    torch.testing.assert_close(raw, inner / model.input_scale, rtol=1e-10, atol=1e-12)
    for method in ("chain", "autograd"):
        torch.testing.assert_close(mc.encoder_jacobian(model, x, method=method), raw,
                                   rtol=1e-10, atol=1e-12)  # fmt: skip
    sq = (raw**2).sum(dim=(1, 2))
    torch.testing.assert_close(mc.encoder_frobenius_sq(model, x, method="exact"), sq)
    op = FactoredJacobian(model, x)
    torch.testing.assert_close(op.dense(), raw, rtol=1e-10, atol=1e-12)


def test_a_globally_scaled_model_equals_a_model_of_hand_scaled_data():
    """Training runs on z = (x - mean) / c: the same weights, and the same tangent directions."""
    X = scaled_data()
    auto = train(X, "global")
    c = np.sqrt(X.astype(np.float64).var(0).mean()) / max(1, GLOBAL_MIN_NORM / np.sqrt(5))
    by_hand = train(((X - X.mean(0)) / c).astype(np.float32), "none")
    for a, b in zip(auto.model.parameters(), by_hand.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    x = torch.as_tensor(X[:20])
    t_auto = mc.tangents(auto.model, x, 2)
    t_hand = mc.tangents(
        by_hand.model, by_hand.model.standardize((x - x.new_tensor(X.mean(0))) / c), 2
    )
    angles = principal_angles(t_auto.basis.double(), t_hand.basis.double())
    assert float(angles.max()) < 1e-3
    torch.testing.assert_close(t_auto.singular_values * c, t_hand.singular_values, rtol=1e-3,
                               atol=1e-5)  # fmt: skip


@pytest.mark.parametrize("n_features", [3, 25, 40])
def test_global_scaling_spreads_low_dimensional_data_to_a_norm_of_five(n_features):
    X = np.random.default_rng(n_features).normal(size=(500, n_features)) * 0.3 + 2.0
    model = mc.Autoencoder(ModelConfig(n_features, (4,), output="linear", input_scaling="global"),
                           dtype=torch.float64)  # fmt: skip
    model.set_input_scaling(X)
    z = model.standardize(torch.as_tensor(X)).numpy()
    rms_norm = np.sqrt((z**2).sum(1).mean())
    assert rms_norm == pytest.approx(max(np.sqrt(n_features), GLOBAL_MIN_NORM), rel=1e-9)
    assert np.ptp(model.input_scale.numpy()) == 0  # one scale: directions and angles kept


@pytest.mark.parametrize("gain", [0, -1.0, float("inf"), float("nan")])
def test_a_gain_must_be_finite_and_positive(gain):
    with pytest.raises(mc.ConfigError, match="input_gain must be finite and > 0"):
        ModelConfig(5, (4,), input_gain=gain)


def test_a_gain_of_one_is_saved_as_configs_were_before_it_existed():
    config = mc.RunConfig(ModelConfig(5, (4,), output="linear", input_scaling="global"),
                          mc.ObjectiveConfig(lam=0.1))  # fmt: skip
    saved = config.to_dict()
    assert "input_gain" not in saved["model"]  # what a run saved before it holds
    assert mc.RunConfig.from_dict(saved) == config
    doubled = mc.config.replace(config, model=mc.config.replace(config.model, input_gain=2.0))
    assert doubled.to_dict()["model"]["input_gain"] == 2.0
    assert mc.RunConfig.from_dict(doubled.to_dict()) == doubled


@pytest.mark.parametrize("output", ["sigmoid", "auto"])
def test_a_gain_without_scaling_is_refused(output):
    with pytest.raises(mc.ConfigError, match="input_gain 2 multiplies scaled inputs"):
        if output == "sigmoid":
            ModelConfig(5, (4,), input_scaling="none", input_gain=2.0)
        else:  # auto scaling on [0, 1] data with a sigmoid decoder is none
            resolve_output(ModelConfig(5, (4,), input_gain=2.0), in_unit_interval=True)


def test_a_stack_scales_only_its_first_layer_by_the_gain():
    from manifold_cae.stacking import layer_run_config, plan_layers

    config = mc.RunConfig(
        ModelConfig(5, (6, 4), "tanh", output="linear", input_scaling="global", input_gain=2.0),
        mc.ObjectiveConfig(lam=0.1), mc.TrainConfig(epochs=4, stacked=True),
    )  # fmt: skip
    plan = plan_layers(config)
    gains = [layer_run_config(config, plan, i).model.input_gain for i in range(2)]
    assert gains == [2.0, 1.0]


def test_reconstruction_comes_back_in_the_datas_units():
    X = scaled_data()
    model = train(X, "standard", epochs=30).model
    x = torch.as_tensor(X[:50])
    err_raw = (model(x) - x).square().mean().item()
    assert err_raw < X.var(0).mean() * 0.5  # far better than predicting the mean


def test_auto_scaling_keeps_images_and_scales_the_rest():
    auto = ModelConfig(5, (4,))
    assert resolve_output(auto, in_unit_interval=True).input_scaling == "none"
    assert resolve_output(auto, in_unit_interval=False).input_scaling == "global"
    ds = mc.load_dataset("circle:n_samples=100,scale=5")
    assert mc.make_run_config(ds, hidden=(4,)).model.input_scaling == "global"
    digits = mc.load_dataset("digits")
    assert mc.make_run_config(digits, hidden=(4,)).model.input_scaling == "none"
