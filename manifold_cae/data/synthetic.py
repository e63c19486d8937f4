"""Built-in manifolds sampled with their true tangent spaces.

Each generator draws ``n_samples`` points of a k-dimensional manifold in its native
dimension, optionally embeds them isometrically in ``ambient_dim`` dimensions and adds
isotropic Gaussian noise. The tangents are those of the clean points.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from manifold_cae.data.validation import check_memory
from manifold_cae.errors import DataError

# Helix (cos t, sin t, c (t - 2 pi)) with t in [0, 4 pi]: two turns, z in [-1, 1].
HELIX_TURNS = 2
HELIX_PITCH = 1 / (2 * np.pi)  # c: z rises by 1 per turn
# scikit-learn's Swiss roll t = 1.5 pi (1 + 2u), h in [0, 21], shrunk so that |x| <~ 1.5.
ROLL_T_START = 1.5 * np.pi
ROLL_HEIGHT = 21
ROLL_SHRINK = 10
# Ring torus radii: R to the tube's centre, r of the tube.
TORUS_R, TORUS_TUBE_R = 1.0, 0.4
TORUS_EXTRA_DRAWS = 16  # rejection sampling draws 2 (missing) + this many, so it rarely loops
# Peak bytes per value of X and tangents: the float64 sample, an embedding or noise
# temporary, and the float32 copy a Dataset keeps.
PEAK_BYTES_PER_VALUE = 8 + 8 + 4


class Manifold(NamedTuple):
    """Points sampled from a known manifold, with the true tangent space at each clean point."""

    X: np.ndarray  # (n_samples, D) float64, noise included
    tangents: np.ndarray  # (n_samples, k, D) orthonormal rows
    params: np.ndarray  # (n_samples, k) intrinsic coordinates (angle, height, ...)


def _unit(v: np.ndarray) -> np.ndarray:
    """``v``: shape (..., D), scaled to unit length along the last axis."""
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


class _Draw(NamedTuple):
    """The checked common arguments of a generator and its random streams."""

    name: str
    noise: float
    ambient_dim: int
    rngs: list  # generators for the clean sample, the embedding and the noise


def _finish(X, T, params, draw: _Draw) -> Manifold:
    """Embed the native sample X (n, d0), T (n, k, d0) into ambient_dim, then add noise."""
    d0, D = X.shape[1], draw.ambient_dim
    if D != d0:
        G = draw.rngs[1].standard_normal((D, d0))
        Q, R = np.linalg.qr(G)  # (D, d0), orthonormal columns
        Q = Q * np.where(np.diag(R) < 0, -1.0, 1.0)  # sign fix: the same Q for the same seed
        X, T = X @ Q.T, T @ Q.T
    if draw.noise > 0:
        with np.errstate(over="ignore", invalid="ignore"):
            X = X + draw.noise * draw.rngs[2].standard_normal(X.shape)
        if not np.isfinite(X).all():
            raise DataError(
                f"{draw.name}: noise={draw.noise!r} overflows float64; the manifolds span "
                "about 1, so use a noise level of that order"
            )
    return Manifold(X, T, params)


def _draw(name: str, n_samples, noise, ambient_dim, *, d0: int, k: int, seed: int) -> _Draw:
    """Check the common arguments and the memory they imply; seed the three streams."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer) or n_samples < 1:
        raise DataError(f"{name}: n_samples must be an integer >= 1; got {n_samples!r}")
    if isinstance(noise, bool) or not isinstance(noise, int | float | np.number):
        raise DataError(f"{name}: noise must be a number; got {noise!r}")
    if not (math.isfinite(noise) and noise >= 0):
        raise DataError(f"{name}: noise must be finite and >= 0; got {noise!r}")
    if (
        isinstance(ambient_dim, bool)
        or not isinstance(ambient_dim, int | np.integer)
        or ambient_dim < d0
    ):
        raise DataError(
            f"{name}: ambient_dim must be an integer >= {d0} (the native dimension); "
            f"got {ambient_dim!r}"
        )
    check_memory(
        PEAK_BYTES_PER_VALUE * int(n_samples) * int(ambient_dim) * (1 + k),
        source=name,
        what=f"n_samples={n_samples} points with tangents in ambient_dim={ambient_dim}",
        fix="lower n_samples (or ambient_dim)",
    )
    # Independent streams: the clean sample, the embedding and the noise don't shift one another.
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]
    return _Draw(name, float(noise), int(ambient_dim), rngs)


def circle(
    n_samples: int = 1000, *, noise: float = 0.0, ambient_dim: int = 2, seed: int = 0
) -> Manifold:
    """Unit circle, angle uniform. k=1, native dimension 2; ``params`` is the angle.

    Returns X (n_samples, ambient_dim), tangents (n_samples, 1, ambient_dim), params
    (n_samples, 1).
    """
    s = _draw("circle", n_samples, noise, ambient_dim, d0=2, k=1, seed=seed)
    t = s.rngs[0].uniform(0, 2 * np.pi, n_samples)
    X = np.stack([np.cos(t), np.sin(t)], axis=1)  # (n, 2)
    T = np.stack([-np.sin(t), np.cos(t)], axis=1)[:, None, :]  # (n, 1, 2)
    return _finish(X, T, t[:, None], s)


def helix(
    n_samples: int = 1000, *, noise: float = 0.0, ambient_dim: int = 3, seed: int = 0
) -> Manifold:
    """Helix (cos t, sin t, c (t - 2 pi)), t uniform in [0, 4 pi], c = 1 / (2 pi).

    Two turns with z in [-1, 1]. k=1, native dimension 3; ``params`` is t.
    Returns X (n_samples, ambient_dim), tangents (n_samples, 1, ambient_dim), params
    (n_samples, 1).
    """
    s = _draw("helix", n_samples, noise, ambient_dim, d0=3, k=1, seed=seed)
    c = HELIX_PITCH
    t = s.rngs[0].uniform(0, HELIX_TURNS * 2 * np.pi, n_samples)
    X = np.stack([np.cos(t), np.sin(t), c * (t - 2 * np.pi)], axis=1)  # (n, 3)
    T = _unit(np.stack([-np.sin(t), np.cos(t), np.full_like(t, c)], axis=1))[:, None, :]
    return _finish(X, T, t[:, None], s)


def swiss_roll(
    n_samples: int = 1000, *, noise: float = 0.0, ambient_dim: int = 3, seed: int = 0
) -> Manifold:
    """scikit-learn's Swiss roll, scaled by 1/10 with the height centred.

    t = 1.5 pi (1 + 2u), h uniform in [0, 21]; x = (t cos t, h - 10.5, t sin t) / 10.
    k=2, native dimension 3; ``params`` is (t, h); tangents are d/dt and d/dh, normalised.
    Returns X (n_samples, ambient_dim), tangents (n_samples, 2, ambient_dim), params
    (n_samples, 2).
    """
    s = _draw("swiss_roll", n_samples, noise, ambient_dim, d0=3, k=2, seed=seed)
    t = ROLL_T_START * (1 + 2 * s.rngs[0].uniform(size=n_samples))
    h = ROLL_HEIGHT * s.rngs[0].uniform(size=n_samples)
    X = np.stack([t * np.cos(t), h - ROLL_HEIGHT / 2, t * np.sin(t)], axis=1) / ROLL_SHRINK
    zero, one = np.zeros_like(t), np.ones_like(t)
    d_t = _unit(np.stack([np.cos(t) - t * np.sin(t), zero, np.sin(t) + t * np.cos(t)], axis=1))
    d_h = np.stack([zero, one, zero], axis=1)
    T = np.stack([d_t, d_h], axis=1)  # (n, 2, 3)
    params = np.stack([t, h], axis=1)
    return _finish(X, T, params, s)


def swiss_roll_unrolled(params: np.ndarray) -> np.ndarray:
    """The roll laid flat: (arc length along the spiral, height), an isometric chart.

    x(t, h) = (t cos t, h - 10.5, t sin t) / 10 has |dx/dt| = sqrt(1 + t^2) / 10 and
    |dx/dh| = 1 / 10 at right angles, so s(t) = (t sqrt(1 + t^2) + asinh t) / 20 (from
    the roll's inner end) and (h - 10.5) / 10 are distances on the roll in the units of
    :func:`swiss_roll` (before any ``scale``). The chart's axes follow the true tangents
    d/dt and d/dh.

    Args:
        params: (n_samples, 2), the roll's (t, h) as :func:`swiss_roll` returns them.

    Returns:
        (n_samples, 2): (s, height) of each point.
    """
    p = np.asarray(params, dtype=float)
    if p.ndim != 2 or p.shape[1] != 2:
        raise DataError(f"swiss-roll params must have shape (n_samples, 2); got {p.shape}")

    def arc(t: np.ndarray | float) -> np.ndarray:
        return (t * np.sqrt(1 + np.square(t)) + np.arcsinh(t)) / (2 * ROLL_SHRINK)

    t, h = p[:, 0], p[:, 1]
    return np.stack([arc(t) - arc(ROLL_T_START), (h - ROLL_HEIGHT / 2) / ROLL_SHRINK], axis=1)


def sphere(
    n_samples: int = 1000, *, noise: float = 0.0, ambient_dim: int = 3, seed: int = 0
) -> Manifold:
    """Unit sphere, area-uniform. k=2, native dimension 3.

    ``params`` is (polar angle, azimuth). The tangent basis is e1 = unit(x × a), with a the
    coordinate axis least aligned with x, and e2 = x × e1; it is smooth away from the
    switches between axes, which is enough for per-point comparisons.
    Returns X (n_samples, ambient_dim), tangents (n_samples, 2, ambient_dim), params
    (n_samples, 2).
    """
    s = _draw("sphere", n_samples, noise, ambient_dim, d0=3, k=2, seed=seed)
    X = _unit(s.rngs[0].standard_normal((n_samples, 3)))  # (n, 3)
    a = np.eye(3)[np.abs(X).argmin(axis=1)]
    e1 = _unit(np.cross(X, a))
    e2 = np.cross(X, e1)
    T = np.stack([e1, e2], axis=1)  # (n, 2, 3)
    params = np.stack([np.arccos(np.clip(X[:, 2], -1, 1)), np.arctan2(X[:, 1], X[:, 0])], axis=1)
    return _finish(X, T, params, s)


def torus(
    n_samples: int = 1000, *, noise: float = 0.0, ambient_dim: int = 3, seed: int = 0
) -> Manifold:
    """Ring torus with R=1, r=0.4, area-uniform. k=2, native dimension 3.

    x = ((R + r cos v) cos u, (R + r cos v) sin u, r sin v); ``params`` is (u, v). v is drawn
    by rejection, accepted with probability (R + r cos v) / (R + r), the area element's weight.
    Returns X (n_samples, ambient_dim), tangents (n_samples, 2, ambient_dim), params
    (n_samples, 2).
    """
    R, r = TORUS_R, TORUS_TUBE_R
    s = _draw("torus", n_samples, noise, ambient_dim, d0=3, k=2, seed=seed)
    u = s.rngs[0].uniform(0, 2 * np.pi, n_samples)
    v = np.empty(0)
    while v.size < n_samples:
        prop = s.rngs[0].uniform(0, 2 * np.pi, 2 * (n_samples - v.size) + TORUS_EXTRA_DRAWS)
        keep = s.rngs[0].uniform(size=prop.size) < (R + r * np.cos(prop)) / (R + r)
        v = np.concatenate([v, prop[keep]])
    v = v[:n_samples]
    ring = R + r * np.cos(v)
    X = np.stack([ring * np.cos(u), ring * np.sin(u), r * np.sin(v)], axis=1)  # (n, 3)
    d_u = np.stack([-np.sin(u), np.cos(u), np.zeros_like(u)], axis=1)
    d_v = np.stack([-np.sin(v) * np.cos(u), -np.sin(v) * np.sin(u), np.cos(v)], axis=1)
    T = np.stack([d_u, d_v], axis=1)  # (n, 2, 3)
    return _finish(X, T, np.stack([u, v], axis=1), s)
