"""Saturation of hidden units (Rifai et al. 2011, Table 1).

SAT is the fraction of hidden units whose activation lies below ``low`` or
above ``high`` (0.05 and 0.95 in the paper), averaged over examples. It is
defined for a sigmoid; other activations are first mapped to the unit
interval where that means the same thing:

- sigmoid: u = h;
- tanh: u = (h + 1) / 2, so |h| > 0.9 is saturated;
- softplus and relu flatten on one side only: u = s'(a) (sigmoid(a), or the
  0/1 step for relu) and only u < ``low`` counts as saturated;
- linear units never saturate.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from manifold_cae.activations import get_activation


def unit_interval_view(activation: str, a: Tensor, h: Tensor) -> Tensor:
    """The activation on [0, 1] as the module docstring defines it; same shape as ``h``."""
    return get_activation(activation).unit_interval(a, h)


def saturated(
    activation: str, a: Tensor, h: Tensor, *, low: float = 0.05, high: float = 0.95
) -> Tensor:
    """Which units are saturated.

    Args:
        activation: the encoder activation's name.
        a: pre-activations, (n_samples, n_hidden).
        h: activations s(a), (n_samples, n_hidden).

    Returns:
        bool, (n_samples, n_hidden).
    """
    return get_activation(activation).saturated(a, h, low, high)


class Saturation(NamedTuple):
    """Saturation statistics of a set of points."""

    per_point: Tensor  # (n_samples,): fraction of saturated units at each point
    per_unit: Tensor  # (n_hidden,): fraction of points at which each unit is saturated
    mean_fraction: float  # SAT: mean of per_point


def saturation(
    activation: str, a: Tensor, h: Tensor, *, low: float = 0.05, high: float = 0.95
) -> Saturation:
    """SAT and its breakdowns for activations ``h = s(a)``, each (n_samples, n_hidden)."""
    sat = saturated(activation, a, h, low=low, high=high).to(h.dtype)
    per_point = sat.mean(dim=1)
    return Saturation(per_point, sat.mean(dim=0), float(per_point.mean()))
