"""Local dimension from a singular-value spectrum, with no fixed threshold.

The count of sigma > 1 depends on the data's scale: multiply the inputs by 10
and every singular value falls tenfold. The rules here look at the shape of
the spectrum instead, so they do not change when it is scaled:

- ``log-gap``: the largest drop between neighbouring singular values on a
  log scale, log sigma_i - log sigma_{i+1}; the dimension is the i before it.
  A CAE that has found a d-dimensional manifold keeps d directions and
  flattens the rest, which is exactly such a drop. Singular values below
  :func:`resolution` * sigma_1 are read as that floor, i.e. as zero: the Gram
  route that computes the spectra resolves sigma only to about
  sqrt(eps) * sigma_1 (3.5e-4 sigma_1 in float32), so the drops among them are
  rounding. Without the floor, a float32 model of data in a 12-dimensional
  subspace of R^36 (BenchmarkManifolds' M6) had its largest drop between two
  rounding errors, at 29 directions; with it, the drop is the one at 12.
- ``relative``: the count of singular values above ``RELATIVE_CUT`` * sigma_1.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

DimensionMethod = Literal["log-gap", "relative"]
DIMENSION_METHODS: tuple[str, ...] = ("log-gap", "relative")
RELATIVE_CUT = 0.1  # "relative": a direction counts if sigma > 0.1 sigma_1
_FLOOR = 1e-30  # an all-zero spectrum: the floor of the floor (log of 0)


def resolution(dtype: torch.dtype) -> float:
    """The share of sigma_1 below which "log-gap" reads a singular value as zero.

    3 sqrt(eps) of the spectrum's dtype: 1.0e-3 for float32, 4.5e-8 for float64.
    """
    return 3.0 * torch.finfo(dtype).eps ** 0.5


def local_dimension(sigma: Tensor, method: DimensionMethod = "log-gap") -> Tensor:
    """The dimension each spectrum suggests.

    Args:
        sigma: (n_samples, r) singular values, descending, r >= 1, in the dtype they
            were computed in (it sets the resolution).
        method: ``log-gap`` or ``relative`` (module docstring).

    Returns:
        (n_samples,) int64 in [1, r] (``log-gap`` with r = 1 gives 1).
    """
    if method == "relative":
        return (sigma > RELATIVE_CUT * sigma[:, :1]).sum(1).clamp_min(1)
    if method != "log-gap":
        raise ValueError(f"method must be one of {', '.join(DIMENSION_METHODS)}; got {method!r}")
    if sigma.shape[1] == 1:
        return torch.ones(sigma.shape[0], dtype=torch.int64, device=sigma.device)
    cut = resolution(sigma.dtype)
    sigma = sigma.double()
    floor = (cut * sigma[:, :1]).clamp_min(_FLOOR)
    logs = torch.maximum(sigma, floor).log()
    return (logs[:, :-1] - logs[:, 1:]).argmax(dim=1) + 1
