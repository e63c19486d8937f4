"""Objectives and corruption against hand-written references.

Reconstruction: binary cross-entropy -[x log r + (1 - x) log(1 - r)] for a sigmoid decoder,
squared error for a linear one, summed over features and averaged over the batch.
Penalties: ||J||_F^2 from torch.autograd.functional.jacobian.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.autograd.functional import jacobian as autograd_jacobian

from manifold_cae import (
    Autoencoder,
    ConfigError,
    ModelConfig,
    ObjectiveConfig,
    RunConfig,
    TrainConfig,
    corrupt,
    fit,
    loss_terms,
)

D_X = 6
CORRUPTIONS = ("gaussian", "masking", "salt-pepper")


def make_model(hidden=(5,), *, generator, output="sigmoid", tied=True, activation="sigmoid"):
    cfg = ModelConfig(D_X, hidden, activation=activation, output=output, tied=tied)
    model = Autoencoder(cfg, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        for b in [*model.enc_biases, *model.dec_biases]:
            b.copy_(0.3 * torch.randn(b.shape, generator=generator, dtype=torch.float64))
    return model


def unit_batch(generator, n=8) -> torch.Tensor:
    return torch.rand(n, D_X, generator=generator, dtype=torch.float64)


def reference_reconstruction(model: Autoencoder, x_in, target) -> torch.Tensor:
    r = model(x_in)
    if model.config.output == "sigmoid":
        per_entry = -(target * torch.log(r) + (1 - target) * torch.log(1 - r))
    else:
        per_entry = (r - target) ** 2
    return per_entry.sum(dim=1).mean()


def jacobian_sq(fn, x: torch.Tensor, **kw) -> torch.Tensor:
    """||J_fn(x_i)||_F^2 per row, from torch.autograd.functional.jacobian."""
    return torch.stack([autograd_jacobian(fn, xi, **kw).square().sum() for xi in x])


# ---------------------------------------------------------------- corruption


def test_gaussian_corruption_statistics(generator):
    x = torch.rand(400, 50, generator=generator, dtype=torch.float64)
    before = x.clone()
    out = corrupt(x, "gaussian", 0.3, generator=generator)
    assert torch.equal(x, before)  # the input is not modified
    noise = (out - x).numpy()
    assert abs(noise.mean()) < 0.01
    assert noise.std() == pytest.approx(0.3, rel=0.03)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_masking_corruption_statistics(p, generator):
    x = 0.1 + 0.8 * torch.rand(400, 50, generator=generator, dtype=torch.float64)  # never 0
    before = x.clone()
    out = corrupt(x, "masking", p, generator=generator)
    assert torch.equal(x, before)
    hit = out != x
    assert hit.double().mean().item() == pytest.approx(p, abs=0.015)
    assert (out[hit] == 0).all()
    assert torch.equal(out[~hit], x[~hit])


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_salt_pepper_corruption_statistics(p, generator):
    x = 0.1 + 0.8 * torch.rand(400, 50, generator=generator, dtype=torch.float64)  # never 0 or 1
    before = x.clone()
    out = corrupt(x, "salt-pepper", p, generator=generator)
    assert torch.equal(x, before)
    hit = out != x
    assert hit.double().mean().item() == pytest.approx(p, abs=0.015)
    values = out[hit]
    assert ((values == 0) | (values == 1)).all()
    assert (values == 1).double().mean().item() == pytest.approx(0.5, abs=0.04)
    assert torch.equal(out[~hit], x[~hit])


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_corruption_is_determined_by_the_generator(kind, seed):
    x = torch.rand(20, D_X, generator=torch.Generator().manual_seed(seed))

    def draw(s):
        return corrupt(x, kind, 0.3, generator=torch.Generator().manual_seed(s))

    assert torch.equal(draw(seed), draw(seed))
    assert not torch.equal(draw(seed), draw(seed + 1))
    assert draw(seed).shape == x.shape
    assert draw(seed).dtype == x.dtype


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_zero_corruption_is_identity(kind, generator):
    x = torch.rand(20, D_X, generator=generator)
    assert torch.equal(corrupt(x, kind, 0.0, generator=generator), x)


def test_unknown_corruption_raises(generator):
    with pytest.raises(ValueError, match="blur"):
        corrupt(torch.zeros(2, 2), "blur", 0.1, generator=generator)


# ------------------------------------------------------------ reconstruction


@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_ae_loss_is_the_reconstruction(output, generator):
    model = make_model(generator=generator, output=output)
    x = unit_batch(generator)
    terms = loss_terms(model, x, ObjectiveConfig(kind="ae"), generator=None)
    ref = reference_reconstruction(model, x, x)
    torch.testing.assert_close(terms.reconstruction, ref, rtol=1e-12, atol=0)
    torch.testing.assert_close(terms.total, ref, rtol=1e-12, atol=0)
    assert terms.penalty == 0
    assert terms.total.shape == ()


def test_bce_and_squared_error_really_differ(generator):
    x = unit_batch(generator)
    sig = make_model(generator=generator, output="sigmoid")
    lin = make_model(generator=generator, output="linear")
    with torch.no_grad():
        lin.load_state_dict(sig.state_dict())
    ae = ObjectiveConfig(kind="ae")
    bce = loss_terms(sig, x, ae, generator=None).reconstruction
    sq = loss_terms(lin, x, ae, generator=None).reconstruction
    # The linear decoder outputs the logits: its error is (z - x)^2, not BCE of sigmoid(z).
    z = lin(x)
    torch.testing.assert_close(sq, ((z - x) ** 2).sum(1).mean(), rtol=1e-12, atol=0)
    assert not torch.isclose(bce, sq)


# ------------------------------------------------------------------ penalties


@pytest.mark.parametrize(
    ("hidden", "penalty"), [((5,), "auto"), ((5,), "closed"), ((5,), "exact"), ((6, 4), "auto"),
                            ((6, 4), "exact")],
)  # fmt: skip
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_cae_total_is_reconstruction_plus_lam_mean_jacobian_norm(
    activation, hidden, penalty, generator
):
    model = make_model(hidden, generator=generator, activation=activation)
    x = unit_batch(generator)
    lam = 0.37
    terms = loss_terms(model, x, ObjectiveConfig(kind="cae", lam=lam, penalty=penalty),
                       generator=None)  # fmt: skip
    recon = reference_reconstruction(model, x, x)
    pen = lam * jacobian_sq(model.encode, x).mean()
    torch.testing.assert_close(terms.reconstruction, recon, rtol=1e-12, atol=0)
    torch.testing.assert_close(terms.penalty, pen, rtol=1e-10, atol=0)
    torch.testing.assert_close(terms.total, recon + pen, rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", ["cae", "rcae"])
def test_stochastic_penalty_in_the_loss_is_close_to_exact(kind, generator):
    model = make_model((5,), generator=generator)
    x = unit_batch(generator, n=4)
    cfg = ObjectiveConfig(kind=kind, lam=1.0, penalty="stochastic", n_probes=20000)
    terms = loss_terms(model, x, cfg, generator=generator)
    fn = model.encode if kind == "cae" else model
    ref = jacobian_sq(fn, x).mean()
    assert terms.penalty.item() == pytest.approx(ref.item(), rel=0.05)


@pytest.mark.parametrize("hidden", [(5,), (6, 4)])
def test_penalty_gradient_reaches_the_weights(hidden, generator):
    """Not a detached copy: d(penalty)/dW equals the reference's gradient."""
    model = make_model(hidden, generator=generator, activation="tanh")
    x = unit_batch(generator)
    terms = loss_terms(model, x, ObjectiveConfig(kind="cae", lam=0.5), generator=None)
    params = [*model.enc_weights, *model.enc_biases]
    got = torch.autograd.grad(terms.penalty, params)
    ref = torch.autograd.grad(0.5 * jacobian_sq(model.encode, x, create_graph=True).mean(), params)
    for g, r in zip(got, ref, strict=True):
        assert r.abs().sum() > 0
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-14)


def test_cae_with_zero_lam_is_the_ae(generator):
    model = make_model(generator=generator)
    x = unit_batch(generator)
    cae = loss_terms(model, x, ObjectiveConfig(kind="cae", lam=0.0), generator=None)
    ae = loss_terms(model, x, ObjectiveConfig(kind="ae"), generator=None)
    assert torch.equal(cae.total, ae.total)
    assert cae.penalty == 0


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_dae_reconstructs_the_clean_input_from_a_corrupted_copy(corruption, seed):
    model = make_model(generator=torch.Generator().manual_seed(seed))
    x = unit_batch(torch.Generator().manual_seed(seed + 1))
    cfg = ObjectiveConfig(kind="dae", noise=0.4, corruption=corruption)
    terms = loss_terms(model, x, cfg, generator=torch.Generator().manual_seed(seed))
    x_tilde = corrupt(x, corruption, 0.4, generator=torch.Generator().manual_seed(seed))
    ref = reference_reconstruction(model, x_tilde, x)
    torch.testing.assert_close(terms.total, ref, rtol=1e-12, atol=0)
    assert terms.penalty == 0
    clean = reference_reconstruction(model, x, x)
    assert not torch.isclose(terms.total, clean)


@pytest.mark.parametrize("hidden", [(5,), (6, 4)])
def test_cae_h_adds_the_jacobian_difference_term(hidden, seed):
    model = make_model(hidden, generator=torch.Generator().manual_seed(seed))
    x = unit_batch(torch.Generator().manual_seed(seed + 1), n=5)
    lam, gamma, sigma, n_c = 0.3, 0.7, 0.2, 3
    cfg = ObjectiveConfig(kind="cae-h", lam=lam, gamma=gamma, hessian_sigma=sigma, n_corrupt=n_c)
    terms = loss_terms(model, x, cfg, generator=torch.Generator().manual_seed(seed))

    gen = torch.Generator().manual_seed(seed)  # the same noise stream, drawn by hand
    j_x = torch.stack([autograd_jacobian(model.encode, xi) for xi in x])
    diff = torch.zeros(x.shape[0], dtype=x.dtype)
    for _ in range(n_c):
        x_noisy = corrupt(x, "gaussian", sigma, generator=gen)
        j_noisy = torch.stack([autograd_jacobian(model.encode, xi) for xi in x_noisy])
        diff += (j_x - j_noisy).square().sum(dim=(1, 2))
    ref_pen = lam * j_x.square().sum(dim=(1, 2)).mean() + gamma * (diff / n_c).mean()
    torch.testing.assert_close(terms.penalty, ref_pen, rtol=1e-10, atol=0)
    torch.testing.assert_close(terms.reconstruction, reference_reconstruction(model, x, x))
    assert (diff > 0).all()


@pytest.mark.parametrize("penalty", ["auto", "exact"])
@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_rcae_penalty_is_the_jacobian_of_the_whole_model(output, penalty, generator):
    model = make_model((4,), generator=generator, output=output, tied=False)
    x = unit_batch(generator)
    lam = 0.25
    terms = loss_terms(model, x, ObjectiveConfig(kind="rcae", lam=lam, penalty=penalty),
                       generator=None)  # fmt: skip
    jac = torch.stack([autograd_jacobian(model, xi) for xi in x])  # (n, d_x, d_x)
    assert jac.shape == (8, D_X, D_X)
    ref = lam * jac.square().sum(dim=(1, 2)).mean()
    torch.testing.assert_close(terms.penalty, ref, rtol=1e-10, atol=0)
    enc_only = lam * jacobian_sq(model.encode, x).mean()
    assert not torch.isclose(terms.penalty, enc_only)  # d g(f(x))/dx, not d f(x)/dx


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("kind", ["ae", "cae", "dae"])
def test_weight_decay_adds_wd_times_sum_of_squared_weights(kind, tied, seed):
    model = make_model((5, 3), generator=torch.Generator().manual_seed(seed), tied=tied)
    x = unit_batch(torch.Generator().manual_seed(seed + 1))
    wd = 0.05

    def terms(weight_decay):
        cfg = ObjectiveConfig(kind=kind, lam=0.2, weight_decay=weight_decay)
        return loss_terms(model, x, cfg, generator=torch.Generator().manual_seed(seed))

    with_wd, without = terms(wd), terms(0.0)
    weights = [w.detach().numpy() for w in model.enc_weights]
    if not tied:
        weights += [w.detach().numpy() for w in model.dec_weights]
    assert len(weights) == (2 if tied else 4)  # a tied weight is one parameter, counted once
    expected = wd * sum(float(np.sum(w**2)) for w in weights)
    assert (with_wd.total - without.total).item() == pytest.approx(expected, rel=1e-10)
    assert (with_wd.penalty - without.penalty).item() == pytest.approx(expected, rel=1e-10)
    assert torch.equal(with_wd.reconstruction, without.reconstruction)


@pytest.mark.parametrize("kind", ["cae", "cae-h"])
def test_closed_penalty_on_a_deep_model_is_a_config_error_in_fit(kind):
    X = np.random.default_rng(0).uniform(size=(20, D_X)).astype(np.float32)
    cfg = RunConfig(
        ModelConfig(D_X, (6, 4)),
        ObjectiveConfig(kind=kind, lam=0.1, penalty="closed"),
        TrainConfig(epochs=1, batch_size=10),
    )
    with pytest.raises(ConfigError, match=r"single encoder layer.*\(6, 4\)"):
        fit(X, cfg, progress=False)


def test_closed_penalty_on_a_deep_model_is_a_config_error_in_loss_terms(generator):
    model = make_model((6, 4), generator=generator)
    cfg = ObjectiveConfig(kind="cae", lam=0.1, penalty="closed")
    with pytest.raises(ConfigError, match="single encoder layer"):
        loss_terms(model, unit_batch(generator), cfg, generator=None)


# ------------------------------------------------------------------ penalty "auto"


@pytest.mark.parametrize(
    "kind, n_features, hidden, want",
    [
        ("cae", 784, (500,), "closed"),
        ("cae-h", 784, (500,), "closed"),
        ("cae", 784, (500, 16), "exact"),  # 16 code units: 16 passes
        ("cae", 784, (500, 17), "stochastic"),
        ("cae-h", 784, (500, 200), "stochastic"),
        ("cae", 16, (100, 100), "exact"),  # 16 inputs
        ("cae", 17, (100, 100), "stochastic"),
        ("rcae", 16, (100,), "exact"),  # J of the reconstruction is (d_x, d_x)
        ("rcae", 64, (100,), "stochastic"),
        ("rcae", 20, (8,), "stochastic"),  # sized by d_x, not by the code width
        ("rcae", 8, (50, 30), "exact"),
    ],
)
def test_auto_penalty_is_the_closed_form_else_exact_only_where_j_is_small(
    kind, n_features, hidden, want
):
    from manifold_cae.config import AUTO_EXACT_MAX, auto_penalty, legacy_auto_penalty

    assert AUTO_EXACT_MAX == 16
    model = ModelConfig(n_features, hidden)
    assert auto_penalty(kind, model) == want
    assert legacy_auto_penalty(kind, model) == ("closed" if want == "closed" else "exact")


def test_resolve_penalty_leaves_chosen_methods_stacks_and_unpenalised_kinds_alone():
    from manifold_cae.config import replace, resolve_penalty

    deep = RunConfig(ModelConfig(784, (500, 200)), ObjectiveConfig(kind="cae", lam=0.1))
    assert resolve_penalty(deep).objective.penalty == "stochastic"
    assert resolve_penalty(deep, legacy=True).objective.penalty == "exact"
    for kept in (
        replace(deep, objective=replace(deep.objective, penalty="exact")),
        replace(deep, objective=replace(deep.objective, kind="dae")),
        replace(deep, training=replace(deep.training, stacked=True)),  # each layer resolves
    ):
        assert resolve_penalty(kept) == kept


@pytest.mark.parametrize("kind", ["cae", "cae-h", "rcae"])
def test_auto_computes_what_it_resolves_to(kind, generator):
    """loss_terms with "auto" (a caller who never resolved it) equals the method it names."""
    from manifold_cae.config import auto_penalty

    n = 20  # over AUTO_EXACT_MAX: Hutchinson for the deep encoder and for rcae
    for hidden in ((7,), (9, 18)):
        model = Autoencoder(ModelConfig(n, hidden), generator=generator, dtype=torch.float64)
        x = torch.rand(5, n, generator=generator, dtype=torch.float64)
        method = auto_penalty(kind, model.config)
        terms = {}
        for penalty in ("auto", method):
            cfg = ObjectiveConfig(kind=kind, lam=0.5, gamma=0.5, penalty=penalty)
            gen = torch.Generator().manual_seed(3)
            terms[penalty] = loss_terms(model, x, cfg, generator=gen).total
        assert terms["auto"].item() == terms[method].item()
    # the rule did change something here: a 2-layer encoder of 18 code units is Hutchinson
    assert auto_penalty("cae", ModelConfig(n, (9, 18))) == "stochastic"


def test_fit_saves_the_penalty_auto_became(generator, tmp_path):
    from manifold_cae import load_checkpoint

    X = torch.rand(32, 20, generator=generator).numpy()
    for hidden, want in (((8,), "closed"), ((12, 4), "exact"), ((12, 18), "stochastic")):
        cfg = RunConfig(ModelConfig(20, hidden), ObjectiveConfig(kind="cae", lam=0.1),
                        TrainConfig(epochs=1, batch_size=16))  # fmt: skip
        result = fit(X, cfg, out_dir=tmp_path / str(len(hidden)) / want, progress=False)
        assert result.config.objective.penalty == want
        assert load_checkpoint(tmp_path / str(len(hidden)) / want).config.objective.penalty == want
