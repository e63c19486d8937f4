"""The autoencoder: forward pass against a numpy reference, tied weights really shared,
the degenerate scaling that untied weights allow, initialisation and activation slopes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from manifold_cae import (
    Autoencoder,
    ConfigError,
    ModelConfig,
    ObjectiveConfig,
    RunConfig,
    TrainConfig,
    encoder_frobenius_sq,
    init_model,
    loss_terms,
)
from manifold_cae.models import activation_slope

ACTIVATIONS = ("sigmoid", "tanh", "softplus", "relu", "linear")
D_X = 7

NP_ACT = {
    "sigmoid": lambda a: 1 / (1 + np.exp(-a)),
    "tanh": np.tanh,
    "softplus": lambda a: np.log1p(np.exp(a)),
    "relu": lambda a: np.maximum(a, 0),
    "linear": lambda a: a,
}


def make_model(hidden, generator, *, tied=True, activation="sigmoid", output="sigmoid"):
    """A float64 model with random (non-zero) biases everywhere."""
    cfg = ModelConfig(D_X, hidden, activation=activation, output=output, tied=tied)
    model = Autoencoder(cfg, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        for b in [*model.enc_biases, *model.dec_biases]:
            b.copy_(0.3 * torch.randn(b.shape, generator=generator, dtype=torch.float64))
    return model


def numpy_forward(model: Autoencoder, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(code, reconstruction) written from the definitions, on numpy copies of the weights."""
    act = NP_ACT[model.config.activation]
    enc_w = [w.detach().numpy() for w in model.enc_weights]
    enc_b = [b.detach().numpy() for b in model.enc_biases]
    dec_b = [b.detach().numpy() for b in model.dec_biases]
    if model.config.tied:
        dec_w = [w.T for w in enc_w]
    else:
        dec_w = [w.detach().numpy() for w in model.dec_weights]
    h = x
    for w, b in zip(enc_w, enc_b, strict=True):
        h = act(h @ w.T + b)
    code = h
    for layer in reversed(range(len(enc_w))):
        h = h @ dec_w[layer].T + dec_b[layer]
        if layer > 0:
            h = act(h)
    r = NP_ACT["sigmoid"](h) if model.config.output == "sigmoid" else h
    return code, r


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("hidden", [(5,), (6, 4, 3)])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_matches_numpy_reference(activation, hidden, tied, generator):
    model = make_model(hidden, generator, tied=tied, activation=activation, output="linear")
    x = torch.randn(9, D_X, generator=generator, dtype=torch.float64)
    code, recon = numpy_forward(model, x.numpy())
    h = model.encode(x)
    assert h.shape == (9, hidden[-1])
    np.testing.assert_allclose(h.detach().numpy(), code, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model(x).detach().numpy(), recon, rtol=1e-12, atol=1e-14)
    # A single example keeps its rank.
    assert model.encode(x[0]).shape == (hidden[-1],)
    np.testing.assert_allclose(model(x[0]).detach().numpy(), recon[0], rtol=1e-12, atol=1e-14)


def test_sigmoid_output_stays_in_unit_interval(generator):
    model = make_model((4,), generator, output="sigmoid")
    x = 10 * torch.randn(50, D_X, generator=generator, dtype=torch.float64)
    r = model(x)
    assert ((r >= 0) & (r <= 1)).all()
    np.testing.assert_allclose(r.detach().numpy(), numpy_forward(model, x.numpy())[1], rtol=1e-12)


def test_tied_model_holds_one_weight_per_layer(generator):
    tied = make_model((5, 4, 3), generator, tied=True)
    assert len(tied.dec_weights) == 0
    weights = [name for name, _ in tied.named_parameters() if "weights" in name]
    assert weights == ["enc_weights.0", "enc_weights.1", "enc_weights.2"]
    untied = make_model((5, 4, 3), generator, tied=False)
    assert [tuple(w.shape) for w in untied.dec_weights] == [(D_X, 5), (5, 4), (4, 3)]
    n_tied = sum(p.numel() for p in tied.parameters())
    n_untied = sum(p.numel() for p in untied.parameters())
    assert n_untied - n_tied == D_X * 5 + 5 * 4 + 4 * 3


def test_deep_tied_decoder_mirrors_encoder_layer_by_layer(generator):
    model = make_model((5, 4, 3), generator, tied=True)
    sizes = (D_X, 5, 4, 3)
    for layer in range(3):
        dec = model.decoder_weight(layer)
        enc = model.enc_weights[layer]
        assert dec.shape == (sizes[layer], sizes[layer + 1])
        assert torch.equal(dec, enc.T)
        assert dec.data_ptr() == enc.data_ptr()  # the same storage, not a copy
    with torch.no_grad():
        model.enc_weights[1][0, 0] = 123.0
    assert model.decoder_weight(1)[0, 0] == 123.0


def untied_copy(model: Autoencoder) -> Autoencoder:
    """An untied model computing exactly what the tied ``model`` computes."""
    cfg = ModelConfig(
        D_X, model.config.hidden, activation=model.config.activation,
        output=model.config.output, tied=False,
    )  # fmt: skip
    copy = Autoencoder(cfg, dtype=torch.float64)
    with torch.no_grad():
        for layer in range(model.n_layers):
            copy.enc_weights[layer].copy_(model.enc_weights[layer])
            copy.enc_biases[layer].copy_(model.enc_biases[layer])
            copy.dec_biases[layer].copy_(model.dec_biases[layer])
            copy.dec_weights[layer].copy_(model.enc_weights[layer].T)
    return copy


@pytest.mark.parametrize("hidden", [(4,), (5, 3)])
def test_tied_gradient_is_encoder_plus_transposed_decoder_gradient(hidden, generator):
    tied = make_model(hidden, generator, tied=True, activation="tanh")
    untied = untied_copy(tied)
    x = torch.rand(6, D_X, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(tied(x), untied(x), rtol=1e-14, atol=0)

    cfg = ObjectiveConfig(kind="cae", lam=0.7)
    loss_terms(tied, x, cfg, generator=None).total.backward()
    loss_terms(untied, x, cfg, generator=None).total.backward()
    for layer in range(len(hidden)):
        g_tied = tied.enc_weights[layer].grad
        g_enc = untied.enc_weights[layer].grad
        g_dec = untied.dec_weights[layer].grad
        assert g_dec.abs().sum() > 0 and g_enc.abs().sum() > 0
        torch.testing.assert_close(g_tied, g_enc + g_dec.T, rtol=1e-10, atol=1e-14)
        assert not torch.allclose(g_tied, g_enc)  # the decoder's share is really there


@pytest.mark.parametrize("eps", [1e-1, 1e-3])
def test_untied_linear_model_admits_degenerate_scaling(eps, generator):
    """Deep Learning book 14.7: scale the encoder by eps and the decoder by 1/eps."""
    model = make_model((4,), generator, tied=False, activation="linear", output="linear")
    x = torch.randn(10, D_X, generator=generator, dtype=torch.float64)
    recon = model(x).detach()
    penalty = encoder_frobenius_sq(model, x).detach()
    with torch.no_grad():
        model.enc_weights[0].mul_(eps)
        model.enc_biases[0].mul_(eps)
        model.dec_weights[0].div_(eps)
    torch.testing.assert_close(model(x).detach(), recon, rtol=1e-9, atol=1e-12)
    scaled = encoder_frobenius_sq(model, x).detach()
    torch.testing.assert_close(scaled, eps**2 * penalty, rtol=1e-10, atol=0)
    assert (scaled < penalty).all()


def test_initialisation_is_glorot_reproducible_and_leaves_global_rng_alone(seed):
    cfg = ModelConfig(D_X, (5, 3))
    before = torch.get_rng_state()
    a = Autoencoder(cfg, generator=torch.Generator().manual_seed(seed))
    b = Autoencoder(cfg, generator=torch.Generator().manual_seed(seed))
    c = Autoencoder(cfg, generator=torch.Generator().manual_seed(seed + 1))
    assert torch.equal(torch.get_rng_state(), before)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb)
        assert pa.dtype == torch.float32
        assert pc.shape == pa.shape
    assert not torch.equal(a.enc_weights[0], c.enc_weights[0])
    for w in a.enc_weights:
        fan_out, fan_in = w.shape
        bound = np.sqrt(6 / (fan_in + fan_out))
        assert w.abs().max() <= bound
        assert w.abs().max() > 0.7 * bound  # uniform on the whole interval, not a narrow one
    assert all(torch.count_nonzero(b) == 0 for b in [*a.enc_biases, *a.dec_biases])


def test_init_model_uses_the_training_seed():
    def cfg(seed):
        return RunConfig(ModelConfig(D_X, (4,)), training=TrainConfig(seed=seed))

    before = torch.get_rng_state()
    a, b, c = init_model(cfg(3)), init_model(cfg(3)), init_model(cfg(4))
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(a.enc_weights[0], b.enc_weights[0])
    assert not torch.equal(a.enc_weights[0], c.enc_weights[0])
    assert init_model(cfg(3), dtype=torch.float64).enc_weights[0].dtype == torch.float64


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_slope_matches_autograd(activation):
    from manifold_cae.activations import get_activation

    a = torch.tensor([-30.0, -5.0, -1.0, -1e-3, 0.0, 1e-3, 0.5, 3.0, 25.0], dtype=torch.float64)
    a.requires_grad_(True)
    h = get_activation(activation).fn(a)
    (ref,) = torch.autograd.grad(h.sum(), a)
    got = activation_slope(activation, a.detach(), h.detach())
    torch.testing.assert_close(got, ref, rtol=1e-8, atol=1e-15)
    if activation == "relu":
        assert got[4] == 0  # the slope at the kink is 0, as autograd takes it


def test_unknown_activation_slope_raises():
    with pytest.raises(ValueError, match="swish"):
        activation_slope("swish", torch.zeros(2), torch.zeros(2))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hidden": ()}, "hidden"),
        ({"hidden": (4, 0)}, "hidden"),
        ({"activation": "swish"}, "activation"),
        ({"output": "tanh"}, "output"),
        ({"n_features": 0}, "n_features"),
    ],
)
def test_model_config_rejects_bad_values(kwargs, match):
    args = {"n_features": D_X, **kwargs}
    with pytest.raises(ConfigError, match=match):
        ModelConfig(**args)


def test_model_config_sizes():
    cfg = ModelConfig(D_X, [8, 5])
    assert cfg.hidden == (8, 5)
    assert cfg.n_hidden == 5
    model = Autoencoder(cfg)
    assert (model.n_features, model.n_hidden, model.n_layers) == (D_X, 5, 2)
