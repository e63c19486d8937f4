"""The encoder nonlinearities: one registry of names, functions, slopes and saturation.

Each :class:`Activation` knows h = s(a), its slope s'(a) (computed from h where
that is cheaper and exact), and how saturation is read off it (Rifai et al.
2011 define SAT for a sigmoid; other activations are mapped to [0, 1] where
that means the same thing):

- sigmoid: u = h, saturated below ``low`` or above ``high``;
- tanh: u = (h + 1) / 2, so |h| > 0.9 is saturated at the paper's 0.05 / 0.95;
- softplus and relu flatten on one side only: u = s'(a) and only u < ``low``
  counts as saturated;
- linear units never saturate (u = 0.5).

Every module that needs an activation by name reads it here. Torch is not
imported at module load so that the configuration (and the CLI's ``--help``)
can list the names without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from manifold_cae.errors import ConfigError

if TYPE_CHECKING:
    from torch import Tensor


@dataclass(frozen=True)
class Activation:
    """An elementwise nonlinearity and what the analysis needs to know about it.

    Every function takes tensors of any one shape and returns that shape.
    """

    name: str
    fn: Callable[[Tensor], Tensor]  # a -> h = s(a)
    slope: Callable[[Tensor, Tensor], Tensor]  # (a, h) -> s'(a); relu'(0) = 0, as autograd
    unit_interval: Callable[[Tensor, Tensor], Tensor]  # (a, h) -> u in [0, 1]
    two_sided: bool  # saturates at both ends (u < low or u > high), else only u < low

    def saturated(self, a: Tensor, h: Tensor, low: float = 0.05, high: float = 0.95) -> Tensor:
        """Which units are saturated, as a bool tensor shaped like ``h``."""
        u = self.unit_interval(a, h)
        return (u < low) | (u > high) if self.two_sided else u < low


def _softplus(a: Tensor) -> Tensor:
    import torch.nn.functional  # deferred: see the module docstring

    return torch.nn.functional.softplus(a)


def _ones(a: Tensor, h: Tensor) -> Tensor:
    import torch  # deferred: see the module docstring

    return torch.ones_like(a)


def _relu_slope(a: Tensor, h: Tensor) -> Tensor:
    return (a > 0).to(a.dtype)


def _softplus_slope(a: Tensor, h: Tensor) -> Tensor:
    return a.sigmoid()


ACTIVATIONS: dict[str, Activation] = {
    act.name: act
    for act in (
        Activation(
            "sigmoid",
            fn=lambda a: a.sigmoid(),
            slope=lambda a, h: h * (1 - h),
            unit_interval=lambda a, h: h,
            two_sided=True,
        ),
        Activation(
            "tanh",
            fn=lambda a: a.tanh(),
            slope=lambda a, h: 1 - h * h,
            unit_interval=lambda a, h: (h + 1) / 2,
            two_sided=True,
        ),
        Activation(
            "softplus",
            fn=_softplus,
            slope=_softplus_slope,
            unit_interval=_softplus_slope,
            two_sided=False,
        ),
        Activation(
            "relu",
            fn=lambda a: a.relu(),
            slope=_relu_slope,
            unit_interval=_relu_slope,
            two_sided=False,
        ),
        Activation(
            "linear",
            fn=lambda a: a,
            slope=_ones,
            unit_interval=lambda a, h: _ones(a, h) / 2,
            two_sided=False,
        ),
    )
}


def get_activation(name: str) -> Activation:
    """The registered activation ``name``; a ConfigError naming the choices otherwise."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}"
        ) from None
