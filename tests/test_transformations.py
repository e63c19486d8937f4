"""Transformation tangents against closed forms, and captured energy against its definition."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from manifold_cae.analysis.transformations import (
    TRANSFORMATIONS,
    captured_energy,
    transformation_tangents,
)
from manifold_cae.errors import ConfigError, DataError

H, W = 32, 36  # not square, so rows and columns cannot be swapped unnoticed
SIGMA = 3.0


def blob(x0: float, y0: float, sigma: float = SIGMA):
    """A Gaussian blob on the pixel grid, and its analytic gradient (df/dx, df/dy).

    x is the column index, y the row index.
    """
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    f = np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma**2))
    return f, -(x - x0) / sigma**2 * f, -(y - y0) / sigma**2 * f


def centred():
    """Pixel coordinates relative to the image centre, (qx, qy)."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    return x - (W - 1) / 2, y - (H - 1) / 2


def tangent(f: np.ndarray, kind: str, **kw) -> np.ndarray:
    return transformation_tangents(f.reshape(1, -1), (H, W), kinds=(kind,), **kw)[0, 0]


def assert_close(got: np.ndarray, want: np.ndarray, rel: float = 1e-2) -> None:
    """Agreement to ``rel`` of the reference's largest entry (a spline is not the function)."""
    scale = np.abs(want).max()
    assert scale > 0
    err = np.abs(got.reshape(want.shape) - want).max() / scale
    assert err < rel, f"max error {err:.2e} of the reference's scale (allowed {rel})"


def test_translation_is_minus_the_gradient_of_a_blob():
    f, fx, fy = blob(15.3, 13.7)
    assert_close(tangent(f, "translate_x"), -fx)
    assert_close(tangent(f, "translate_y"), -fy)


def test_translation_of_a_linear_ramp_is_its_slope():
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    ramp = 0.3 * x - 0.2 * y
    # Away from the jump to the zero background, whose spline ringing decays ~0.27 per pixel.
    inner = (slice(10, -10), slice(10, -10))
    tx = tangent(ramp, "translate_x").reshape(H, W)
    ty = tangent(ramp, "translate_y").reshape(H, W)
    np.testing.assert_allclose(tx[inner], -0.3, atol=1e-4)
    np.testing.assert_allclose(ty[inner], 0.2, atol=1e-4)


def test_rotation_of_a_radially_symmetric_image_is_zero():
    f, fx, _ = blob((W - 1) / 2, (H - 1) / 2)
    t = tangent(f, "rotation")
    # Compare with a moving transformation: rotating the same blob off-centre.
    assert np.abs(t).max() < 1e-3 * np.abs(fx).max() * max(H, W) / 2


def test_rotation_of_an_off_centre_blob_is_the_analytic_one():
    f, fx, fy = blob(22.0, 11.5)
    qx, qy = centred()
    assert_close(tangent(f, "rotation"), qy * fx - qx * fy)


def test_rotation_turns_the_content_by_the_stated_sense():
    """A positive angle moves a point to the right of the centre downwards (+y, +qx -> +qy)."""
    f, _, _ = blob(22.0, 15.5)  # q = (4.5, 0): to the right of the centre
    a = tangent(f, "rotation")
    # The tangent grows f where the blob moves to: below (+y) the blob's centre.
    below = np.ravel_multi_index((17, 22), (H, W))
    above = np.ravel_multi_index((14, 22), (H, W))
    assert a[below] > 0 > a[above]


def test_scaling_is_minus_q_dot_gradient():
    f, fx, fy = blob(20.0, 12.0)
    qx, qy = centred()
    assert_close(tangent(f, "scale"), -(qx * fx + qy * fy))


def test_thickness_is_the_gradient_norm():
    f, fx, fy = blob(17.0, 16.0)
    assert_close(tangent(f, "thickness"), np.hypot(fx, fy))


def test_thickness_matches_a_grey_dilation_by_a_disc():
    """On a smooth image, (dilation - erosion) by a disc of radius r over 2r is |grad f|.

    A disc of lattice points reaches a little less than r in most directions, and the
    first-order picture fails near the peak, so the check is a band where the slope is
    steep.
    """
    n, r = 96, 6
    y, x = np.mgrid[0:n, 0:n].astype(np.float64)
    f = np.exp(-((x - 47.0) ** 2 + (y - 49.0) ** 2) / (2 * 15.0**2))
    disc = np.hypot(*np.mgrid[-r : r + 1, -r : r + 1]) <= r
    morph = ndimage.grey_dilation(f, footprint=disc) - ndimage.grey_erosion(f, footprint=disc)
    got = transformation_tangents(f.reshape(1, -1), (n, n), kinds=("thickness",))[0, 0]
    steep = got > 0.3 * got.max()
    ratio = morph.ravel()[steep] / (2 * r) / got[steep]
    assert 0.85 < ratio.min() and ratio.max() < 1.1, (ratio.min(), ratio.max())


def test_tangents_do_not_depend_on_eps():
    f, _, _ = blob(20.0, 12.0)
    x = f.reshape(1, -1)
    a = transformation_tangents(x, (H, W), eps=0.1)
    b = transformation_tangents(x, (H, W), eps=0.5)
    assert_close(a, b, rel=2e-2)


def test_shapes_kinds_and_purity():
    rng = np.random.default_rng(0)
    x = rng.random((3, H * W))
    before = x.copy()
    t = transformation_tangents(x, (H, W))
    assert t.shape == (3, len(TRANSFORMATIONS), H * W)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(transformation_tangents(x.reshape(3, H, W), (H, W)), t)
    only = transformation_tangents(x, (H, W), kinds=("scale", "rotation"))
    np.testing.assert_allclose(only[:, 0], t[:, TRANSFORMATIONS.index("scale")])


@pytest.mark.parametrize(
    ("images", "shape", "kw", "error", "match"),
    [
        (np.zeros((2, 10)), (3, 4), {}, DataError, "n_samples, 12"),
        (np.zeros((2, 12)), (3, 4), {"kinds": ("shear",)}, ConfigError, "shear"),
        (np.zeros((2, 12)), (3, 4), {"eps": 0.0}, ConfigError, "eps"),
        (np.full((2, 12), np.nan), (3, 4), {}, DataError, "NaN"),
    ],
)
def test_bad_arguments_name_the_values(images, shape, kw, error, match):
    with pytest.raises(error, match=match):
        transformation_tangents(images, shape, **kw)


def test_captured_energy_is_one_inside_the_basis_and_zero_outside():
    rng = np.random.default_rng(1)
    n, d, k = 5, 12, 3
    basis = rng.normal(size=(n, d, k))  # not orthonormal: the span is what counts
    inside = np.einsum("ndk,nk->nd", basis, rng.normal(size=(n, k)))
    q = np.linalg.qr(basis, mode="complete")[0]  # (n, d, d)
    outside = q[:, :, k]
    got = captured_energy(basis, np.stack([inside, outside], axis=1))
    np.testing.assert_allclose(got.share[:, 0], 1.0, atol=1e-12)
    np.testing.assert_allclose(got.share[:, 1], 0.0, atol=1e-12)
    assert got.chance == k / d


def test_captured_energy_of_random_planes_is_k_over_d_on_average():
    rng = np.random.default_rng(2)
    n, d, k = 4000, 20, 4
    basis = rng.normal(size=(n, d, k))
    tangents = rng.normal(size=(1, 2, d)).repeat(n, axis=0)
    got = captured_energy(basis, tangents)
    # Each share is Beta(k/2, (d-k)/2): standard error sqrt(var / n).
    var = (k / d) * (1 - k / d) / (d / 2 + 1)
    assert np.abs(got.share.mean(0) - k / d).max() < 4 * np.sqrt(var / n)


def test_captured_energy_of_a_zero_tangent_is_nan_and_shapes_are_checked():
    basis = np.eye(4)[None, :, :2]
    got = captured_energy(basis, np.zeros((1, 1, 4)))
    assert np.isnan(got.share).all()
    with pytest.raises(DataError, match="same n_samples"):
        captured_energy(basis, np.zeros((2, 1, 4)))
