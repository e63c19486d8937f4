"""``tangents(model, x, k)``: the learned tangent directions at given points.

The leading right singular vectors of J_f(x) span the directions the encoder
keeps: the tangent plane of the manifold it learned (Rifai et al. 2011). This
is the path the uses of the tangents call (tangent propagation in the
Manifold Tangent Classifier, walks along the manifold when sampling).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from manifold_cae.analysis.spectra import FactoredJacobian, top_singular
from manifold_cae.errors import ConfigError, DataError
from manifold_cae.models import Autoencoder


class Tangents(NamedTuple):
    """Learned tangent bases at a batch of points."""

    basis: Tensor  # (n_samples, n_features, k): orthonormal columns, sign-fixed
    singular_values: Tensor  # (n_samples, k), descending: how strongly each direction is kept


def tangents(
    model: Autoencoder, x: Tensor, k: int, *, generator: torch.Generator | None = None
) -> Tangents:
    """The top-k right singular vectors of the encoder Jacobian at each row of ``x``.

    Args:
        model: a trained autoencoder (any depth); left unchanged.
        x: (n_samples, n_features), in the model's input coordinates.
        k: directions per point, 1 <= k <= min(n_hidden, n_features).
        generator: seeds the randomized Krylov start (the result does not depend on
            it beyond float rounding; default: a generator seeded with 0).

    Returns:
        :class:`Tangents`.
    """
    if x.ndim != 2 or x.shape[1] != model.n_features:
        raise DataError(f"x must have shape (n_samples, {model.n_features}); got {tuple(x.shape)}")
    rank = min(model.n_hidden, model.n_features)
    if not 1 <= k <= rank:
        raise ConfigError(f"k must be in [1, {rank}] (min(d_h, d_x)); got {k}")
    if not torch.isfinite(x).all():
        raise DataError("x holds NaN or inf; tangents need finite points")
    param = next(model.parameters())
    x = x.to(device=param.device, dtype=param.dtype)
    gen = generator or torch.Generator(device=param.device).manual_seed(0)
    with torch.no_grad():
        top = top_singular(FactoredJacobian(model, x), k, generator=gen)
    return Tangents(top.vectors, top.values)
