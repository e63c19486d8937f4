"""Contraction ratio curves (Rifai et al. 2011, section 5.3).

For a point x0 and a radius r, x1 is drawn uniformly on the sphere of radius
r around x0 and the ratio is ||f(x1) - f(x0)|| / ||x1 - x0||. Averaged over
x0 and plotted against r it shows how far the encoder contracts at each
scale. As r -> 0 the ratio for direction u tends to ||J_f(x0) u||, which
:func:`contraction_curve` also reports from the Jacobian, with the same u.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from manifold_cae.models import Autoencoder


class ContractionCurve(NamedTuple):
    radii: np.ndarray  # (n_radii,), ascending
    ratios: np.ndarray  # (n_radii,): mean over x0 of ||f(x1) - f(x0)|| / r
    ratios_std: np.ndarray  # (n_radii,): spread over x0
    local_ratio: float  # r -> 0 limit, mean over x0 of ||J_f(x0) u||
    max_distance: float  # largest pairwise distance in the data used for the grid


DISTANCE_POINTS = 4000  # points that set the contraction grid's largest radius
DISTANCE_BLOCK = 512  # rows per cdist block: bounds memory at 512 x max_points distances


def max_pairwise_distance(x: Tensor, *, max_points: int = DISTANCE_POINTS) -> float:
    """Largest pairwise Euclidean distance among the first ``max_points`` rows of x, (n, d)."""
    x = x[:max_points]
    best = 0.0
    for i in range(0, x.shape[0], DISTANCE_BLOCK):
        best = max(best, float(torch.cdist(x[i : i + DISTANCE_BLOCK], x).max()))
    return best


def default_radii(max_distance: float, n_radii: int) -> np.ndarray:
    """Log-spaced radii from max_distance / 1000 up to max_distance."""
    return np.geomspace(max_distance * 1e-3, max_distance, n_radii)


def random_directions(
    n: int, d: int, *, generator: torch.Generator, dtype: torch.dtype, device: torch.device
) -> Tensor:
    """Uniform directions on the unit sphere S^{d-1}, (n, d)."""
    u = torch.randn((n, d), generator=generator, dtype=dtype, device=device)
    return u / u.norm(dim=1, keepdim=True)


class ContractionSums(NamedTuple):
    """Mergeable sums behind a contraction curve."""

    sums: np.ndarray  # (3, n_radii): count, sum and sum of squares of the ratios
    local_sum: float  # sum over centres of ||J_f(x0) u||, the r -> 0 limit

    def curve(self, radii: np.ndarray, max_distance: float) -> ContractionCurve:
        """Means and standard deviations (over centres) from the sums."""
        n, s1, s2 = self.sums
        mean = s1 / np.maximum(n, 1)
        var = (s2 - n * mean**2) / np.maximum(n - 1, 1)
        return ContractionCurve(
            np.asarray(radii, dtype=float),
            mean,
            np.sqrt(np.clip(var, 0, None)),
            self.local_sum / max(float(n[0]) if len(n) else 0.0, 1.0),
            float(max_distance),
        )


@torch.no_grad()
def contraction_sums(
    model: Autoencoder, x0: Tensor, radii: np.ndarray, *, generator: torch.Generator
) -> ContractionSums:
    """Contraction ratios at each radius around the centres ``x0``, as sums.

    Args:
        model: the autoencoder.
        x0: (n_points, n_features), the centres.
        radii: (n_radii,), the sphere radii.
        generator: source of the directions (one per centre, shared by the radii).
    """
    h0 = model.encode(x0)
    # One direction per centre, shared by all radii: each x1 is still uniform on its
    # sphere, the curve is free of radius-to-radius sampling noise, and its r -> 0
    # limit is exactly the Jacobian value below.
    u = random_directions(*x0.shape, generator=generator, dtype=x0.dtype, device=x0.device)
    ratios = torch.stack(
        [(model.encode(x0 + float(r) * u) - h0).norm(dim=1) / float(r) for r in radii]
    ).double()  # (n_radii, n_points), on x0's device: one transfer below, not one per radius
    with torch.enable_grad():
        _, ju = torch.func.jvp(model.encode, (x0,), (u,))
    moments = torch.stack([ratios.sum(dim=1), ratios.square().sum(dim=1)])
    local = ju.norm(dim=1).double().sum()
    sums = np.concatenate([np.full((1, len(radii)), float(x0.shape[0])), moments.cpu().numpy()])
    return ContractionSums(sums, float(local))


def contraction_curve(
    model: Autoencoder,
    x0: Tensor,
    radii: np.ndarray,
    *,
    generator: torch.Generator,
    max_distance: float | None = None,
) -> ContractionCurve:
    """Mean contraction ratio at each radius.

    Args: as :func:`contraction_sums`, and ``max_distance``, recorded in the result
    (the grid's upper end, by default).

    Returns:
        :class:`ContractionCurve`.
    """
    s = contraction_sums(model, x0, radii, generator=generator)
    return s.curve(radii, max_distance if max_distance is not None else float(np.max(radii)))
