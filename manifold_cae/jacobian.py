"""Encoder Jacobians J_f(x) = dh/dx, shape (d_h, d_x) per example, and their norms.

Three ways to get ||J_f(x)||_F^2 (sum over the d_h * d_x entries, per example):

``closed``
    One elementwise layer: J = diag(s'(a)) W, so
    ||J||_F^2 = sum_j s'(a_j)^2 sum_i W_ji^2. Cost O(n d_h + d_h d_x); J is
    never built.
``exact``
    Any differentiable row-wise map, through ``torch.func.vmap(jacrev)``.
    Builds every J: O(n d_h d_x) memory.
``stochastic``
    Hutchinson's estimator E_v ||J v||^2 = ||J||_F^2 for v ~ N(0, I_dx), with
    ``n_probes`` probes per example and J v from one forward-mode product
    (``torch.func.jvp``). Unbiased; costs about one extra encoder pass.

All are differentiable with respect to the model parameters. Random probes
come from an explicit generator and are drawn outside the function
transforms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor

from manifold_cae.config import PENALTY_METHODS, auto_penalty, closed_form_possible
from manifold_cae.errors import ConfigError
from manifold_cae.models import Autoencoder, activation_slope
from manifold_cae.noise import draw

RowMap = Callable[[Tensor], Tensor]
Method = Literal["auto", "closed", "exact", "stochastic"]


def layer_slopes(model: Autoencoder, x: Tensor) -> list[Tensor]:
    """Activation slopes s'(a_l) of each encoder layer.

    Args:
        model: the autoencoder.
        x: (n_samples, n_features).

    Returns:
        one tensor (n_samples, d_l) per encoder layer.
    """
    act = model.config.activation
    return [activation_slope(act, t.preactivation, t.activation) for t in model.trace(x)]


def encoder_jacobian(
    model: Autoencoder, x: Tensor, *, method: Literal["chain", "autograd"] = "chain"
) -> Tensor:
    """Encoder Jacobians at each example.

    ``chain`` multiplies the layer factors D_L W_L ... D_1 W_1 (exact, any depth);
    ``autograd`` uses ``torch.func.vmap(jacrev(model.encode))`` (the reference).

    Args:
        model: the autoencoder.
        x: (n_samples, n_features).

    Returns:
        J, (n_samples, n_hidden, n_features), with J[i, j, k] = dh_j/dx_k at x[i].
    """
    if method == "autograd":
        return torch.func.vmap(torch.func.jacrev(model.encode))(x)
    if method != "chain":
        raise ConfigError(f"method must be 'chain' or 'autograd'; got {method!r}")
    return chain_product(model.jacobian_weights(), layer_slopes(model, x))


def chain_product(weights: list[Tensor], slopes: list[Tensor]) -> Tensor:
    """J = D_L W_L ... D_1 W_1 from the layer factors.

    Args:
        weights: W_l, each (d_l, d_{l-1}).
        slopes: s'(a_l), each (n_samples, d_l).

    Returns:
        (n_samples, d_L, d_0).
    """
    jac = slopes[0].unsqueeze(-1) * weights[0]  # (n, d_1, d_x)
    for s, w in zip(slopes[1:], weights[1:], strict=True):
        jac = s.unsqueeze(-1) * torch.matmul(w, jac)  # (n, d_l, d_x)
    return jac


def closed_form_available(model: Autoencoder) -> bool:
    """:func:`closed_form_possible` for a built model."""
    return closed_form_possible(model.config)


def require_closed_form(model: Autoencoder) -> None:
    """Raise ConfigError unless :func:`closed_form_available`."""
    if not closed_form_available(model):
        raise ConfigError(
            f"the closed-form penalty needs a single encoder layer; this encoder has "
            f"{model.n_layers} layers {model.config.hidden}. Use penalty 'exact' or "
            f"'stochastic' (or 'auto')"
        )


class _RowSquaredNorms(torch.autograd.Function):
    """sum_i W_ji^2 per row j, with the backward 2 g_j W_j written out.

    Autograd through ``W.square().sum(1)`` keeps W^2 and builds two more
    (d_h, d_x) temporaries; this keeps only W. On a training step of a stack
    layer (784 -> 1000, batch 128, one thread) the penalty's share fell from
    14-25 % to 3-5 % of a plain AE step (scripts/bench_train.py).
    """

    @staticmethod
    def forward(ctx: Any, weight: Tensor) -> Tensor:
        ctx.save_for_backward(weight)
        return torch.linalg.vector_norm(weight, dim=1).square()  # (d_h,), no (d_h, d_x) copy

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (weight,) = ctx.saved_tensors
        return weight * (2 * grad).unsqueeze(1)  # differentiable: double backward works


def row_squared_norms(weight: Tensor) -> Tensor:
    """(n_hidden, n_features) -> (n_hidden,): sum_i W_ji^2, cheap to differentiate."""
    return _RowSquaredNorms.apply(weight)


def diag_times_w_frobenius_sq(slope: Tensor, weight: Tensor) -> Tensor:
    """||diag(s) W||_F^2 = sum_j s_j^2 sum_i W_ji^2 per row of ``slope``: the CAE's closed form.

    Args:
        slope: (n_samples, n_hidden), s'(a) (or a difference of slopes).
        weight: (n_hidden, n_features), W.

    Returns:
        (n_samples,).
    """
    return slope.square() @ row_squared_norms(weight)  # sum W^2 first: O(d_h d_x) once


def frobenius_sq_closed(model: Autoencoder, x: Tensor, *, slope: Tensor | None = None) -> Tensor:
    """||J_f(x)||_F^2 from diag(s'(a)) W, without building J.

    Args:
        model: a single-layer autoencoder.
        x: (n_samples, n_features).
        slope: s'(a) at x, (n_samples, n_hidden), if the caller already has it
            (saves a second encoder pass during training).

    Returns:
        (n_samples,).
    """
    require_closed_form(model)
    if slope is None:
        (slope,) = layer_slopes(model, x)
    return diag_times_w_frobenius_sq(slope, model.jacobian_weights()[0])


def exact_jacobian(fn: RowMap, x: Tensor, *, d_out: int | None = None) -> Tensor:
    """Jacobians of a row-wise map by ``torch.func``: forward mode when d_out > d_in.

    Args:
        fn: a map applied row by row, (n, d_in) -> (n, d_out), that also accepts (d_in,).
        x: (n_samples, d_in).
        d_out: output size, if known; picks ``jacfwd`` (d_in passes) over
            ``jacrev`` (d_out passes) when it is larger than d_in.

    Returns:
        (n_samples, d_out, d_in).
    """
    transform = (
        torch.func.jacfwd if d_out is not None and d_out > x.shape[-1] else torch.func.jacrev
    )
    return torch.func.vmap(transform(fn))(x)


def frobenius_sq_exact(fn: RowMap, x: Tensor, *, d_out: int | None = None) -> Tensor:
    """||J_fn(x)||_F^2 from the full Jacobians of :func:`exact_jacobian`.

    Returns:
        (n_samples,).
    """
    return exact_jacobian(fn, x, d_out=d_out).square().sum(dim=(-2, -1))


def hutchinson_probes(x: Tensor, n_probes: int, *, generator: torch.Generator | None) -> Tensor:
    """Standard normal probes v ~ N(0, I), (n_probes, n_samples, d_in)."""
    return draw("normal", (n_probes, *x.shape), row_dim=1, generator=generator, dtype=x.dtype,
                device=x.device)  # fmt: skip


def jvp_rows(fn: RowMap, x: Tensor, v: Tensor) -> Tensor:
    """J_fn(x_i) v_i for every row, by forward-mode differentiation.

    Args:
        fn: row-wise map (n, d_in) -> (n, d_out).
        x: (n_samples, d_in).
        v: (n_probes, n_samples, d_in).

    Returns:
        (n_probes, n_samples, d_out).
    """
    p, n, d = v.shape
    xr = x.unsqueeze(0).expand(p, n, d).reshape(p * n, d)
    _, jv = torch.func.jvp(fn, (xr,), (v.reshape(p * n, d),))
    return jv.reshape(p, n, -1)


def jv_through_factors(weights: list[Tensor], slopes: list[Tensor], v: Tensor) -> Tensor:
    """J v = D_L W_L ... D_1 W_1 v for every point, one matrix product per layer.

    Args:
        weights: per layer, (d_l, d_{l-1}).
        slopes: per layer, s'(a_l) at each point, (n_samples, d_l).
        v: (n_probes, n_samples, d_x).

    Returns:
        (n_probes, n_samples, d_L).
    """
    for w, s in zip(weights, slopes, strict=True):
        v = (v @ w.T) * s
    return v


def frobenius_sq_factored(
    model: Autoencoder, x: Tensor, *, slopes: list[Tensor] | None = None, n_probes: int = 1,
    generator: torch.Generator | None = None,
) -> Tensor:  # fmt: skip
    """Hutchinson's estimate of ||J_f(x)||_F^2, with J v pushed through the layer factors.

    The same estimator (and, for the same probes, the same value) as
    :func:`frobenius_sq_stochastic` on ``model.encode``, but it reuses the
    encoder pass that gave ``slopes`` instead of a second, forward-mode one.

    Args:
        model: the autoencoder (any depth).
        x: (n_samples, n_features).
        slopes: :func:`layer_slopes` at x, if the caller has them.

    Returns:
        (n_samples,).
    """
    slopes = layer_slopes(model, x) if slopes is None else slopes
    v = hutchinson_probes(x, n_probes, generator=generator)
    return jv_through_factors(model.jacobian_weights(), slopes, v).square().sum(-1).mean(0)


def frobenius_sq_stochastic(
    fn: RowMap, x: Tensor, *, n_probes: int = 1, generator: torch.Generator | None = None
) -> Tensor:
    """Hutchinson estimate of ||J_fn(x)||_F^2: mean over probes of ||J v||^2.

    Args:
        fn: row-wise map (n, d_in) -> (n, d_out).
        x: (n_samples, d_in).
        n_probes: probes per example.
        generator: source of the probes.

    Returns:
        (n_samples,), unbiased for the exact value.
    """
    v = hutchinson_probes(x, n_probes, generator=generator)
    return jvp_rows(fn, x, v).square().sum(-1).mean(0)


def resolve_method(model: Autoencoder, method: Method) -> str:
    """``auto`` for the encoder's ||J||_F^2 made concrete: ``closed`` for one layer, else
    ``exact`` or ``stochastic`` by J's size (:func:`~manifold_cae.config.auto_penalty`)."""
    return auto_penalty("cae", model.config) if method == "auto" else method


def encoder_frobenius_sq(
    model: Autoencoder,
    x: Tensor,
    *,
    method: Method = "auto",
    n_probes: int = 1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """||J_f(x)||_F^2 of the encoder at each example.

    Args:
        model: the autoencoder.
        x: (n_samples, n_features).
        method: ``auto`` | ``closed`` | ``exact`` | ``stochastic`` (module docstring).
        n_probes, generator: for ``stochastic`` only.

    Returns:
        (n_samples,).
    """
    method = resolve_method(model, method)
    if method == "closed":
        return frobenius_sq_closed(model, x)
    if method == "exact":
        return frobenius_sq_exact(model.encode, x, d_out=model.n_hidden)
    if method == "stochastic":
        return frobenius_sq_factored(model, x, n_probes=n_probes, generator=generator)
    raise ConfigError(f"penalty must be one of {', '.join(PENALTY_METHODS)}; got {method!r}")


def encoder_difference_sq(
    model: Autoencoder, x: Tensor, x2: Tensor, *, method: Method = "auto", n_probes: int = 1,
    generator: torch.Generator | None = None,
) -> Tensor:  # fmt: skip
    """||J_f(x) - J_f(x2)||_F^2 per example (the CAE+H Hessian term).

    Args:
        model: the autoencoder.
        x, x2: (n_samples, n_features).
        method: as in :func:`encoder_frobenius_sq`. ``stochastic`` uses the same
            probe at x and x2, so the estimate stays unbiased.

    Returns:
        (n_samples,).
    """
    method = resolve_method(model, method)
    if method == "closed":
        require_closed_form(model)
        (s1,) = layer_slopes(model, x)
        (s2,) = layer_slopes(model, x2)
        return diag_times_w_frobenius_sq(s1 - s2, model.jacobian_weights()[0])
    if method == "exact":
        j1 = exact_jacobian(model.encode, x, d_out=model.n_hidden)
        j2 = exact_jacobian(model.encode, x2, d_out=model.n_hidden)
        return (j1 - j2).square().sum(dim=(-2, -1))
    if method == "stochastic":
        v = hutchinson_probes(x, n_probes, generator=generator)
        diff = jvp_rows(model.encode, x, v) - jvp_rows(model.encode, x2, v)
        return diff.square().sum(-1).mean(0)
    raise ConfigError(f"penalty must be one of {', '.join(PENALTY_METHODS)}; got {method!r}")
