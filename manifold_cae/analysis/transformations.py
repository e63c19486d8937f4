"""Tangents of known image transformations, and how much of them a tangent basis captures.

For an image x and a small transformation T_eps (rotation, translation, scaling,
thickening) the tangent is the central difference (T_eps x - T_-eps x) / (2 eps)
(Simard et al. 1992, tangent propagation and tangent distance). How much of its
energy a model's top-k tangents capture, against local PCA and against chance
(k / d), tests the learned tangent planes on real images.

Conventions (x is the column index, to the right; y the row index, downwards;
c = ((w - 1) / 2, (h - 1) / 2) the image centre; q = p - c):

- ``translate_x``, ``translate_y``: shift the content by eps pixels; tangent
  -df/dx, -df/dy per pixel.
- ``rotation``: rotate the content about c by eps radians, (qx, qy) ->
  (qx cos - qy sin, qx sin + qy cos); tangent qy df/dx - qx df/dy per radian.
- ``scale``: magnify about c by the factor exp(eps); tangent -(q . grad f) per
  unit of log scale.
- ``thickness``: grey dilation by a disc of radius eps minus the erosion by the
  same disc, over 2 eps. As eps -> 0 a flat dilation by a disc moves each level
  line outwards at unit speed, d/dt f = |grad f| (the eikonal equation), so the
  tangent is |grad f| per pixel. A discrete grey dilation cannot move by a
  fraction of a pixel, so the limit is computed: |grad f| from the same
  central differences as the two translations. ``scipy.ndimage.grey_dilation``
  by one pixel agrees with it on smooth images (the tests check this).

Images are resampled by ``scipy.ndimage.affine_transform`` with cubic splines
and ``mode="grid-constant"``: the image sits on a zero background that is
interpolated too, so edge pixels get a smooth derivative rather than a jump
to 0 one sample past the border (what ``mode="constant"`` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from manifold_cae.errors import ConfigError, DataError

TRANSFORMATIONS: tuple[str, ...] = ("rotation", "translate_x", "translate_y", "scale", "thickness")
SPLINE_ORDER = 3
# The default step moves a pixel at the edge of the image by a quarter of a pixel: the
# spline's derivative is accurate to O(eps^2) there, and the step stays far from the
# resolution limit.
DEFAULT_EPS = 0.25


class CapturedEnergy(NamedTuple):
    """How much of each tangent lies in a basis's span."""

    share: np.ndarray  # (n_samples, n_kinds): ||P t||^2 / ||t||^2, NaN where t = 0
    chance: float  # k / n_features: the expected share for a uniformly random k-plane


def transformation_tangents(
    images: np.ndarray,
    shape: tuple[int, int],
    kinds: Sequence[str] = TRANSFORMATIONS,
    eps: float = DEFAULT_EPS,
) -> np.ndarray:
    """The tangent of each small transformation at each image, by central differences.

    Args:
        images: (n_samples, n_features) flattened images, or (n_samples, h, w);
            n_features = h * w, row-major. Background 0.
        shape: (h, w) of one image.
        kinds: names from :data:`TRANSFORMATIONS` (module docstring for each).
        eps: step in pixels of displacement at the image's edge: translations move
            by eps, rotation by eps / r radians and scaling by the factor
            exp(eps / r), r = max(h, w) / 2. Tangents are returned per unit of each
            transformation's own parameter (pixels, radians, log scale), whatever eps.

    Returns:
        (n_samples, len(kinds), n_features) float64 tangents.
    """
    h, w = _check_shape(shape)
    x = np.asarray(images, dtype=np.float64)
    if x.ndim not in (2, 3) or x.shape[1:] not in ((h * w,), (h, w)):
        raise DataError(
            f"images must have shape (n_samples, {h * w}) or (n_samples, {h}, {w}) for image "
            f"shape {shape}; got {x.shape}"
        )
    if not np.isfinite(x).all():
        raise DataError("images hold NaN or inf; transformation tangents need finite pixels")
    unknown = [k for k in kinds if k not in TRANSFORMATIONS]
    if unknown or not kinds:
        raise ConfigError(
            f"kinds must be a non-empty selection of {', '.join(TRANSFORMATIONS)}; got {kinds!r}"
        )
    if not (np.isfinite(eps) and 0 < eps <= 1):
        raise ConfigError(f"eps must be in (0, 1] pixels; got {eps!r}")
    x = x.reshape(len(x), h, w)
    r = max(h, w) / 2
    grad = None
    if {"translate_x", "translate_y", "thickness"} & set(kinds):
        grad = (
            _central(x, lambda t: _translation(0.0, t), eps),  # -df/dx
            _central(x, lambda t: _translation(t, 0.0), eps),  # -df/dy
        )
    out = []
    for kind in kinds:
        if kind == "translate_x":
            t = grad[0]
        elif kind == "translate_y":
            t = grad[1]
        elif kind == "thickness":
            t = np.hypot(*grad)
        elif kind == "rotation":
            t = _central(x, lambda a: _rotation(a, h, w), eps / r)
        else:  # scale
            t = _central(x, lambda a: _scaling(a, h, w), eps / r)
        out.append(t.reshape(len(x), h * w))
    return np.stack(out, axis=1)  # (n, n_kinds, d)


def captured_energy(basis, tangents) -> CapturedEnergy:
    """The share of each tangent's squared norm that lies in span(basis).

    Args:
        basis: (n_samples, n_features, k) column bases (orthonormalised here, so any
            basis of the plane will do); a torch tensor or numpy array.
        tangents: (n_samples, n_kinds, n_features), e.g. from
            :func:`transformation_tangents`.

    Returns:
        :class:`CapturedEnergy`: share (n_samples, n_kinds) in [0, 1] (NaN for a zero
        tangent), and the chance level k / n_features.
    """
    b = torch.as_tensor(np.asarray(basis, dtype=np.float64))
    t = torch.as_tensor(np.asarray(tangents, dtype=np.float64))
    if b.ndim != 3 or t.ndim != 3 or b.shape[0] != t.shape[0] or b.shape[1] != t.shape[2]:
        raise DataError(
            "basis must be (n_samples, n_features, k) and tangents (n_samples, n_kinds, "
            f"n_features) with the same n_samples and n_features; got {tuple(b.shape)} and "
            f"{tuple(t.shape)}"
        )
    n_features, k = b.shape[1], b.shape[2]
    if not 1 <= k <= n_features:
        raise DataError(f"basis needs 1 <= k <= n_features = {n_features} columns; got {k}")
    q = torch.linalg.qr(b).Q  # (n, d, k)
    inside = (t @ q).square().sum(-1)  # (n, n_kinds): ||Q^T t||^2
    total = t.square().sum(-1)
    share = torch.where(total > 0, inside / total.clamp_min(1e-300), torch.nan)
    return CapturedEnergy(share.clamp(0, 1).numpy(), k / n_features)


def _check_shape(shape) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise DataError(f"shape must be (height, width); got {shape!r}") from None
    if h < 2 or w < 2:
        raise DataError(f"images must be at least 2x2 pixels; got shape {shape!r}")
    return h, w


class _Affine(NamedTuple):
    """output[o] = input[matrix @ o + offset], in (row, col) coordinates (scipy's)."""

    matrix: np.ndarray  # (2, 2)
    offset: np.ndarray  # (2,)


def _about_centre(matrix: np.ndarray, h: int, w: int) -> _Affine:
    c = np.array([(h - 1) / 2, (w - 1) / 2])
    return _Affine(matrix, c - matrix @ c)


def _translation(dy: float, dx: float) -> _Affine:
    return _Affine(np.eye(2), np.array([-dy, -dx]))


def _rotation(angle: float, h: int, w: int) -> _Affine:
    # The output pixel q samples the input at R(-angle) q; in (row, col) = (y, x) order.
    cos, sin = np.cos(angle), np.sin(angle)
    return _about_centre(np.array([[cos, -sin], [sin, cos]]), h, w)


def _scaling(log_factor: float, h: int, w: int) -> _Affine:
    return _about_centre(np.eye(2) * np.exp(-log_factor), h, w)


def _apply(x: np.ndarray, a: _Affine) -> np.ndarray:
    from scipy.ndimage import affine_transform

    return np.stack(
        [
            affine_transform(img, a.matrix, a.offset, order=SPLINE_ORDER, mode="grid-constant")
            for img in x
        ]
    )


def _central(x: np.ndarray, transform, step: float) -> np.ndarray:
    """(T_step x - T_-step x) / (2 step) for a one-parameter family ``transform(step)``."""
    return (_apply(x, transform(step)) - _apply(x, transform(-step))) / (2 * step)
