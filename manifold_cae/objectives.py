"""Training objectives as small composable pieces.

Every piece returns one value per example; :func:`loss_terms` sums the pieces
and takes the mean over the batch. Normalisation, the same everywhere: sum
over features (reconstruction) or over Jacobian entries (penalties), mean over
the batch.

=======  ==========================================================================
kind     loss per example
=======  ==========================================================================
ae       L(x, g(f(x)))
cae      L(x, g(f(x))) + lam ||J_f(x)||_F^2
dae      L(x, g(f(x~))), x~ a corrupted copy of x
cae-h    cae + gamma * mean_c ||J_f(x) - J_f(x + eps_c)||_F^2, eps_c ~ N(0, sigma^2 I)
rcae     L(x, g(f(x))) + lam ||d g(f(x)) / dx||_F^2
=======  ==========================================================================

L is binary cross-entropy for a sigmoid decoder (data in [0, 1]) and squared
error for a linear one. ``weight_decay`` adds wd * sum ||W||^2 to any of them.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn import functional as F

from manifold_cae.config import ObjectiveConfig, auto_penalty
from manifold_cae.errors import ConfigError
from manifold_cae.jacobian import (
    encoder_difference_sq,
    encoder_frobenius_sq,
    frobenius_sq_closed,
    frobenius_sq_exact,
    frobenius_sq_factored,
    frobenius_sq_stochastic,
    require_closed_form,
    resolve_method,
)
from manifold_cae.models import Autoencoder, activation_slope
from manifold_cae.noise import draw


class LossTerms(NamedTuple):
    """Batch means of the pieces of the objective (scalars)."""

    total: Tensor  # what is minimised
    reconstruction: Tensor  # mean reconstruction loss
    penalty: Tensor  # mean weighted regulariser (0 for ae and dae)


def reconstruction_loss(
    model: Autoencoder, x_in: Tensor, target: Tensor, *, code: Tensor | None = None
) -> Tensor:
    """L(target, g(f(x_in))), summed over features.

    Args:
        model: the autoencoder.
        x_in: (n_samples, n_features), the (possibly corrupted) input.
        target: (n_samples, n_features), the clean example.
        code: f(x_in), (n_samples, n_hidden), if the caller already has it.

    Returns:
        (n_samples,).
    """
    logits = model.decode_logits(model.encode(x_in) if code is None else code)
    if model.config.output == "sigmoid":
        loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    else:
        loss = (logits - target).square()
    return loss.sum(dim=-1)


def corrupt(x: Tensor, kind: str, level: float, *, generator: torch.Generator | None) -> Tensor:
    """A corrupted copy of x; x itself is not modified.

    Args:
        x: (n_samples, n_features).
        kind: ``gaussian`` (add N(0, level^2)), ``masking`` (set each entry to 0
            with probability ``level``) or ``salt-pepper`` (set each entry, with
            probability ``level``, to 0 or 1 with equal chance).
        level: noise std or corruption probability.
        generator: source of the noise.

    Returns:
        (n_samples, n_features).
    """

    def rows(kind: str) -> Tensor:
        return draw(kind, tuple(x.shape), row_dim=0, generator=generator, dtype=x.dtype,
                    device=x.device)  # fmt: skip

    if kind == "gaussian":
        return x + level * rows("normal")
    hit = rows("uniform") < level
    if kind == "masking":
        return x.masked_fill(hit, 0.0)
    if kind == "salt-pepper":
        salt = rows("uniform") < 0.5
        return torch.where(hit, salt.to(x.dtype), x)
    raise ValueError(f"unknown corruption {kind!r}")


def contractive_penalty(
    model: Autoencoder,
    x: Tensor,
    cfg: ObjectiveConfig,
    *,
    generator: torch.Generator | None,
) -> Tensor:
    """||J_f(x)||_F^2 per example, (n_samples,), by ``cfg.penalty``."""
    return encoder_frobenius_sq(
        model, x, method=cfg.penalty, n_probes=cfg.n_probes, generator=generator
    )


def hessian_penalty(
    model: Autoencoder,
    x: Tensor,
    cfg: ObjectiveConfig,
    *,
    generator: torch.Generator | None,
) -> Tensor:
    """mean over ``cfg.n_corrupt`` copies of ||J_f(x) - J_f(x + eps)||_F^2, (n_samples,)."""
    total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for _ in range(cfg.n_corrupt):
        x_noisy = corrupt(x, "gaussian", cfg.hessian_sigma, generator=generator)
        total = total + encoder_difference_sq(
            model, x, x_noisy, method=cfg.penalty, n_probes=cfg.n_probes, generator=generator
        )
    return total / cfg.n_corrupt


def reconstruction_contractive_penalty(
    model: Autoencoder,
    x: Tensor,
    cfg: ObjectiveConfig,
    *,
    generator: torch.Generator | None,
) -> Tensor:
    """||d g(f(x)) / dx||_F^2 per example, (n_samples,).

    No closed form is used here: ``closed`` means ``exact``, and ``auto`` is ``exact`` or
    ``stochastic`` by d_x (:func:`~manifold_cae.config.auto_penalty`).
    """
    method = auto_penalty("rcae", model.config) if cfg.penalty == "auto" else cfg.penalty
    if method == "stochastic":
        return frobenius_sq_stochastic(model, x, n_probes=cfg.n_probes, generator=generator)
    return frobenius_sq_exact(model, x, d_out=model.n_features)


def weight_decay_penalty(model: Autoencoder) -> Tensor:
    """sum of squared weights of every weight matrix (biases excluded), a scalar."""
    weights = [*model.enc_weights, *model.dec_weights]
    return torch.stack([w.square().sum() for w in weights]).sum()


def loss_terms(
    model: Autoencoder,
    x: Tensor,
    cfg: ObjectiveConfig,
    *,
    generator: torch.Generator | None,
) -> LossTerms:
    """The objective ``cfg.kind`` on a batch.

    Args:
        model: the autoencoder.
        x: (n_samples, n_features), a clean batch.
        cfg: which pieces, and their weights.
        generator: source of corruption noise and Hutchinson probes.

    Returns:
        :class:`LossTerms` of batch means.
    """
    penalty = torch.zeros((), dtype=x.dtype, device=x.device)
    if isinstance(cfg.lam, str) and cfg.info.contractive:  # runs.train_dataset chooses "auto"
        raise ConfigError(
            f'lam is "{cfg.lam}": a loss needs a number; give ObjectiveConfig(lam=...) one, '
            "or train with runs.train_dataset, which chooses it"
        )
    info = cfg.info
    encoder_penalty = info.jacobian_of == "encoder"
    if info.denoising:
        recon = reconstruction_loss(
            model, corrupt(x, cfg.corruption, cfg.noise, generator=generator), x
        )
    elif encoder_penalty and (method := resolve_method(model, cfg.penalty)) != "exact":
        # One encoder pass serves both terms: the code for the decoder, the slopes for J.
        traces = model.trace(x)
        recon = reconstruction_loss(model, x, x, code=traces[-1].activation)
        act = model.config.activation
        slopes = [activation_slope(act, t.preactivation, t.activation) for t in traces]
        if cfg.lam > 0:
            if method == "closed":
                require_closed_form(model)
                j_sq = frobenius_sq_closed(model, x, slope=slopes[0])
            else:
                j_sq = frobenius_sq_factored(
                    model, x, slopes=slopes, n_probes=cfg.n_probes, generator=generator
                )
            penalty = penalty + cfg.lam * j_sq.mean()
    else:
        recon = reconstruction_loss(model, x, x)
        if encoder_penalty and cfg.lam > 0:
            penalty = (
                penalty + cfg.lam * contractive_penalty(model, x, cfg, generator=generator).mean()
            )
    recon = recon.mean()

    if info.hessian and cfg.gamma > 0:
        penalty = penalty + cfg.gamma * hessian_penalty(model, x, cfg, generator=generator).mean()
    if info.jacobian_of == "reconstruction" and cfg.lam > 0:
        penalty = (
            penalty
            + cfg.lam
            * reconstruction_contractive_penalty(model, x, cfg, generator=generator).mean()
        )
    if cfg.weight_decay > 0:
        penalty = penalty + cfg.weight_decay * weight_decay_penalty(model)
    return LossTerms(recon + penalty, recon, penalty)
