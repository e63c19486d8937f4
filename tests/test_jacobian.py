"""Encoder Jacobians and ||J_f||_F^2 against independent references.

References: ``torch.autograd.functional.jacobian`` row by row, float64 central finite
differences, and ``numpy.linalg.svd`` (||J||_F^2 = sum of squared singular values).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.autograd.functional import jacobian as autograd_jacobian

from manifold_cae import Autoencoder, ConfigError, ModelConfig, encoder_frobenius_sq
from manifold_cae import encoder_jacobian as chain_jacobian
from manifold_cae.jacobian import (
    encoder_difference_sq,
    frobenius_sq_closed,
    frobenius_sq_exact,
    frobenius_sq_stochastic,
)

ACTIVATIONS = ("sigmoid", "tanh", "softplus", "relu", "linear")
D_X = 6
# torch's softplus is exactly linear for a > 20, so autograd's slope there is 1 where the
# closed form has sigmoid(a) = 1 - O(2e-9): allow that much relative difference.
SOFTPLUS_RTOL = 1e-7


def make_model(
    activation: str,
    hidden: tuple[int, ...],
    generator: torch.Generator,
    *,
    scale: float = 1.0,
    dtype: torch.dtype = torch.float64,
) -> Autoencoder:
    """Glorot weights times ``scale`` and non-zero biases (so bias gradients matter)."""
    model = Autoencoder(
        ModelConfig(n_features=D_X, hidden=hidden, activation=activation),
        generator=generator,
        dtype=dtype,
    )
    with torch.no_grad():
        for w, b in zip(model.enc_weights, model.enc_biases, strict=True):
            w.mul_(scale)
            b.copy_(0.5 * torch.randn(b.shape, generator=generator, dtype=dtype))
    return model


def saturating_batch(generator: torch.Generator, n: int = 8, dtype=torch.float64) -> torch.Tensor:
    # With weights scaled by 4 the pre-activations have std ~12: most units saturate.
    return 3.5 * torch.randn(n, D_X, generator=generator, dtype=dtype)


def reference_jacobian(model: Autoencoder, x: torch.Tensor, **kw) -> torch.Tensor:
    """(n, d_h, d_x) from torch.autograd.functional.jacobian, one row at a time."""
    return torch.stack([autograd_jacobian(model.encode, xi, **kw) for xi in x])


def fd_jacobian(fn, x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Central finite differences, (n, d_out, d_in); x must be float64."""
    n, d = x.shape
    step = eps * torch.eye(d, dtype=x.dtype)
    plus = fn((x[:, None, :] + step).reshape(n * d, d)).reshape(n, d, -1)
    minus = fn((x[:, None, :] - step).reshape(n * d, d)).reshape(n, d, -1)
    return ((plus - minus) / (2 * eps)).transpose(1, 2)


def assert_saturated(model: Autoencoder, x: torch.Tensor) -> None:
    """The test data really drives units into the flat parts of sigmoid / tanh."""
    h = model.trace(x)[0].activation
    act = model.config.activation
    if act == "sigmoid":
        frac = ((h < 1e-3) | (h > 1 - 1e-3)).double().mean()
        assert frac > 0.25, f"only {frac:.2f} of sigmoid units saturated"
        assert ((h > 0.05) & (h < 0.95)).any(), "no unit in the linear regime"
    elif act == "tanh":
        frac = (1 - h.abs() < 1e-3).double().mean()
        assert frac > 0.25, f"only {frac:.2f} of tanh units saturated"
    elif act == "relu":
        a = model.trace(x)[0].preactivation
        assert (a < 0).any() and (a > 0).any()
        assert a.abs().min() > 1e-4, "a pre-activation sits on the ReLU kink; FD is meaningless"


# ------------------------------------------------------------- Jacobian itself


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_single_layer_jacobian_matches_autograd_and_fd_with_saturated_units(activation, generator):
    model = make_model(activation, (10,), generator, scale=4.0)
    x = saturating_batch(generator)
    assert_saturated(model, x)

    jac = chain_jacobian(model, x)
    assert jac.shape == (8, 10, D_X)
    ref = reference_jacobian(model, x)
    rtol = SOFTPLUS_RTOL if activation == "softplus" else 1e-12
    torch.testing.assert_close(jac, ref, rtol=rtol, atol=1e-15)
    torch.testing.assert_close(chain_jacobian(model, x, method="autograd"), ref)
    torch.testing.assert_close(jac, fd_jacobian(model.encode, x), rtol=1e-6, atol=1e-8)
    # The published closed form, written out: J = diag(s'(a)) W.
    w = model.enc_weights[0].detach().numpy()
    a = x.numpy() @ w.T + model.enc_biases[0].detach().numpy()
    slope = {
        "sigmoid": lambda a: np.exp(-np.logaddexp(0, -a)) * np.exp(-np.logaddexp(0, a)),
        "tanh": lambda a: 1 / np.cosh(a) ** 2,
        "softplus": lambda a: 1 / (1 + np.exp(-a)),
        "relu": lambda a: (a > 0).astype(float),
        "linear": np.ones_like,
    }[activation](a)
    np.testing.assert_allclose(jac.detach().numpy(), slope[:, :, None] * w, rtol=1e-8, atol=1e-15)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_deep_chain_jacobian_matches_autograd_and_fd(activation, generator):
    model = make_model(activation, (8, 6, 5), generator, scale=2.0)
    x = 2.0 * torch.randn(7, D_X, generator=generator, dtype=torch.float64)
    if activation == "relu":
        for t in model.trace(x):
            assert t.preactivation.abs().min() > 1e-4
    jac = chain_jacobian(model, x)
    assert jac.shape == (7, 5, D_X)
    ref = reference_jacobian(model, x)
    rtol = SOFTPLUS_RTOL if activation == "softplus" else 1e-11
    torch.testing.assert_close(jac, ref, rtol=rtol, atol=1e-14)
    torch.testing.assert_close(jac, fd_jacobian(model.encode, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("hidden", [(10,), (8, 6, 5)])
def test_chain_jacobian_in_each_dtype(dtype, hidden, generator):
    model = make_model("sigmoid", hidden, generator, dtype=dtype)
    x = torch.randn(5, D_X, generator=generator, dtype=dtype)
    jac = chain_jacobian(model, x)
    assert jac.dtype == dtype
    ref = reference_jacobian(model, x)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 0}
    torch.testing.assert_close(jac, ref, **tol)


def test_unknown_jacobian_method_is_a_config_error(generator):
    model = make_model("sigmoid", (4,), generator)
    with pytest.raises(ConfigError, match="chain"):
        chain_jacobian(model, torch.zeros(2, D_X, dtype=torch.float64), method="bogus")


# ------------------------------------------------------------------ ||J||_F^2


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_closed_form_frobenius_equals_exact(activation, generator):
    model = make_model(activation, (10,), generator, scale=4.0)
    x = saturating_batch(generator, n=16)
    assert_saturated(model, x)
    closed = frobenius_sq_closed(model, x)
    exact = frobenius_sq_exact(model.encode, x)
    ref = reference_jacobian(model, x).square().sum(dim=(1, 2))
    assert closed.shape == (16,)
    torch.testing.assert_close(closed, exact, rtol=1e-6, atol=0)
    torch.testing.assert_close(closed, ref, rtol=1e-6, atol=0)
    torch.testing.assert_close(encoder_frobenius_sq(model, x), ref, rtol=1e-6, atol=0)


@pytest.mark.parametrize("hidden", [(10,), (8, 6, 5)])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_penalty_is_sum_of_squared_singular_values(activation, hidden, generator):
    model = make_model(activation, hidden, generator, scale=2.0)
    x = 2.0 * torch.randn(6, D_X, generator=generator, dtype=torch.float64)
    jac = reference_jacobian(model, x).numpy()
    sv = np.linalg.svd(jac, compute_uv=False)  # (n, min(d_h, d_x))
    expected = (sv**2).sum(axis=1)
    for method in ("auto", "exact"):
        got = encoder_frobenius_sq(model, x, method=method).detach().numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_closed_form_refuses_deep_encoders(generator):
    model = make_model("sigmoid", (8, 6, 5), generator)
    x = torch.zeros(2, D_X, dtype=torch.float64)
    with pytest.raises(ConfigError, match="3 layers"):
        encoder_frobenius_sq(model, x, method="closed")
    with pytest.raises(ConfigError, match="single encoder layer"):
        encoder_difference_sq(model, x, x, method="closed")
    with pytest.raises(ConfigError, match="bogus"):
        encoder_frobenius_sq(model, x, method="bogus")


def reference_penalty(model: Autoencoder, x: torch.Tensor, *, create_graph: bool) -> torch.Tensor:
    """mean_i ||J_f(x_i)||_F^2 with J from torch.autograd.functional.jacobian."""
    jac = reference_jacobian(model, x, create_graph=create_graph)
    return jac.square().sum(dim=(1, 2)).mean()


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradient_of_closed_penalty_matches_autograd_and_fd(activation, generator):
    model = make_model(activation, (7,), generator, scale=2.0)
    x = 2.0 * torch.randn(6, D_X, generator=generator, dtype=torch.float64)
    assert model.trace(x)[0].preactivation.abs().min() > 1e-4  # away from the ReLU kink
    w, b = model.enc_weights[0], model.enc_biases[0]

    def grad(value):  # for relu and linear the penalty does not depend on b
        return torch.autograd.grad(value, [w, b], allow_unused=True, materialize_grads=True)

    g_closed = grad(frobenius_sq_closed(model, x).mean())
    g_exact = grad(frobenius_sq_exact(model.encode, x).mean())
    g_ref = grad(reference_penalty(model, x, create_graph=True))
    assert g_closed[0].abs().sum() > 0  # the penalty really reaches the weights
    for got, exact, ref in zip(g_closed, g_exact, g_ref, strict=True):
        rtol = SOFTPLUS_RTOL if activation == "softplus" else 1e-9
        torch.testing.assert_close(got, exact, rtol=rtol, atol=1e-12)
        torch.testing.assert_close(got, ref, rtol=rtol, atol=1e-12)

    eps = 1e-6
    for param, grad, index in [(w, g_closed[0], (0, 0)), (w, g_closed[0], (3, 2)),
                               (b, g_closed[1], (1,))]:  # fmt: skip
        with torch.no_grad():
            old = param[index].item()
            param[index] = old + eps
            up = reference_penalty(model, x, create_graph=False).item()
            param[index] = old - eps
            down = reference_penalty(model, x, create_graph=False).item()
            param[index] = old
        fd = (up - down) / (2 * eps)
        assert grad[index].item() == pytest.approx(fd, rel=1e-5, abs=1e-8)


# ------------------------------------------------------------- Hutchinson


def singular_values(model: Autoencoder, x: torch.Tensor) -> np.ndarray:
    return np.linalg.svd(reference_jacobian(model, x).numpy(), compute_uv=False)


@pytest.mark.parametrize("hidden", [(5,), (8, 6, 5)])
def test_hutchinson_mean_converges_to_exact(hidden, generator):
    model = make_model("tanh", hidden, generator)
    x = torch.randn(3, D_X, generator=generator, dtype=torch.float64)
    exact = torch.from_numpy((singular_values(model, x) ** 2).sum(axis=1))
    est = encoder_frobenius_sq(model, x, method="stochastic", n_probes=20000, generator=generator)
    assert est.shape == (3,)
    torch.testing.assert_close(est.detach(), exact, rtol=0.05, atol=0)
    est2 = frobenius_sq_stochastic(model.encode, x, n_probes=20000, generator=generator)
    torch.testing.assert_close(est2.detach(), exact, rtol=0.05, atol=0)


def test_hutchinson_error_shrinks_like_one_over_sqrt_probes(generator):
    model = make_model("sigmoid", (5,), generator)
    x0 = torch.randn(1, D_X, generator=generator, dtype=torch.float64)
    sv2 = singular_values(model, x0)[0] ** 2
    exact, var1 = sv2.sum(), 2 * (sv2**2).sum()  # E and Var of ||J v||^2, v ~ N(0, I)
    repeats = 2000  # the same row many times: independent estimates in one call
    xs = x0.repeat(repeats, 1)
    stds = {}
    for n_probes in (4, 100):
        with torch.no_grad():
            est = frobenius_sq_stochastic(model.encode, xs, n_probes=n_probes, generator=generator)
        est = est.numpy()
        predicted = np.sqrt(var1 / n_probes)
        stds[n_probes] = est.std(ddof=1)
        assert stds[n_probes] == pytest.approx(predicted, rel=0.15)
        assert abs(est.mean() - exact) < 5 * predicted / np.sqrt(repeats)  # unbiased
    assert 4.0 < stds[4] / stds[100] < 6.25  # sqrt(100 / 4) = 5


def test_hutchinson_is_reproducible_from_the_generator(seed):
    model = make_model("sigmoid", (5,), torch.Generator().manual_seed(seed))
    x = torch.randn(4, D_X, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)

    def estimate(s: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(s)
        return encoder_frobenius_sq(model, x, method="stochastic", n_probes=3, generator=gen)

    assert torch.equal(estimate(seed), estimate(seed))
    assert not torch.equal(estimate(seed), estimate(seed + 1))


# ------------------------------------------------------------- CAE+H term


def reference_difference(model: Autoencoder, x, x2) -> torch.Tensor:
    return (reference_jacobian(model, x) - reference_jacobian(model, x2)).square().sum(dim=(1, 2))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_difference_term_closed_exact_stochastic_agree(activation, generator):
    model = make_model(activation, (6,), generator, scale=2.0)
    x = torch.randn(8, D_X, generator=generator, dtype=torch.float64)
    x2 = x + 1.5 * torch.randn(8, D_X, generator=generator, dtype=torch.float64)
    ref = reference_difference(model, x, x2)
    if activation == "relu":  # J changes only where a unit switches on or off
        assert (ref > 0).any()
    elif activation != "linear":  # a linear encoder has the same J everywhere
        assert (ref > 0).all()
    for method in ("closed", "exact", "auto"):
        got = encoder_difference_sq(model, x, x2, method=method)
        torch.testing.assert_close(got.detach(), ref, rtol=1e-9, atol=1e-14)
    est = encoder_difference_sq(
        model, x, x2, method="stochastic", n_probes=20000, generator=generator
    )
    torch.testing.assert_close(est.detach(), ref, rtol=0.05, atol=1e-12)


def test_difference_term_deep(generator):
    model = make_model("tanh", (8, 6, 5), generator, scale=2.0)
    x = torch.randn(3, D_X, generator=generator, dtype=torch.float64)
    x2 = x + 0.3 * torch.randn(3, D_X, generator=generator, dtype=torch.float64)
    ref = reference_difference(model, x, x2)
    assert (ref > 0).all()
    torch.testing.assert_close(encoder_difference_sq(model, x, x2).detach(), ref, rtol=1e-9, atol=0)
    est = encoder_difference_sq(
        model, x, x2, method="stochastic", n_probes=20000, generator=generator
    )
    torch.testing.assert_close(est.detach(), ref, rtol=0.05, atol=0)


@pytest.mark.parametrize("method", ["closed", "exact", "stochastic"])
def test_difference_term_is_zero_at_the_same_point(method, generator):
    model = make_model("sigmoid", (6,), generator, scale=2.0)
    x = torch.randn(5, D_X, generator=generator, dtype=torch.float64)
    got = encoder_difference_sq(model, x, x.clone(), method=method, n_probes=4, generator=generator)
    assert got.shape == (5,)
    assert torch.equal(got.detach(), torch.zeros(5, dtype=torch.float64))


@pytest.mark.parametrize("hidden", [(7,), (9, 5), (8, 6, 4)])
def test_factored_hutchinson_equals_the_jvp_route_value_and_gradient(hidden):
    """The trainer's Hutchinson estimate (J v through the layer factors) is the jvp one."""
    from manifold_cae.jacobian import frobenius_sq_factored, frobenius_sq_stochastic

    gen = torch.Generator().manual_seed(0)
    model = Autoencoder(ModelConfig(6, hidden, "tanh"), generator=gen, dtype=torch.float64)
    with torch.no_grad():
        model.enc_weights[0].mul_(4.0)  # saturate some units
    x = torch.randn(11, 6, generator=gen, dtype=torch.float64)
    got = frobenius_sq_factored(model, x, n_probes=3, generator=torch.Generator().manual_seed(9))
    want = frobenius_sq_stochastic(model.encode, x, n_probes=3,
                                   generator=torch.Generator().manual_seed(9))  # fmt: skip
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)
    g_got = torch.autograd.grad(got.sum(), model.enc_weights[0])[0]
    g_want = torch.autograd.grad(want.sum(), model.enc_weights[0])[0]
    torch.testing.assert_close(g_got, g_want, rtol=1e-10, atol=1e-12)


def test_row_squared_norms_value_gradient_and_double_backward(generator):
    """The hand-written backward of sum_i W_ji^2 against autograd, in float64."""
    from manifold_cae.jacobian import row_squared_norms

    w = torch.randn(7, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(row_squared_norms(w), w.detach().square().sum(1))
    assert torch.autograd.gradcheck(row_squared_norms, (w,))
    assert torch.autograd.gradgradcheck(row_squared_norms, (w,))
    w.grad = None
    g = torch.randn(7, generator=generator, dtype=torch.float64)
    (row_squared_norms(w) @ g).backward()
    torch.testing.assert_close(w.grad, 2 * g[:, None] * w.detach())
