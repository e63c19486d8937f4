"""Transformation tangents: how much of the true tangent of each image transformation the
top-k tangents capture, against local PCA on the same k and against chance (k / d).

At every analysed image the tangents of rotation, the two translations, scaling and
thickening are taken by central differences
(:func:`~manifold_cae.analysis.transformations.transformation_tangents`); the share of
each one's squared norm that lies in a k-plane is
:func:`~manifold_cae.analysis.transformations.captured_energy`. k is the angles' k
(top_k, at most pca_neighbors - 1), so the model and local PCA span planes of one size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from manifold_cae.analysis.metrics.base import Chunk, Context, Metric, PerPoint, Section
from manifold_cae.analysis.transformations import (
    DEFAULT_EPS,
    TRANSFORMATIONS,
    captured_energy,
    transformation_tangents,
)
from manifold_cae.config import AnalysisConfig
from manifold_cae.errors import ConfigError

IMAGE_DATA = "digits, mnist5k, mnist:DIR"  # the built-in data sets that are images


@dataclass(frozen=True)
class TransformationSummary(Section):
    kinds: list[str]  # (n_kinds,) the transformations, in the order of every other field
    k: int  # dimension of the planes compared (the model's leading k tangents, local PCA's k)
    eps: float  # central-difference step, in pixels of displacement at the image's edge
    chance: float  # k / n_features: the mean share a uniformly random k-plane captures
    cae: dict[str, float]  # kind -> mean share captured by the model's top-k tangents
    local_pca: dict[str, float] | None  # kind -> mean share captured by local PCA (None: skipped)


def column(kind: str, basis: str) -> str:
    """The points.csv column of one transformation's captured share, e.g. captured_rotation_cae."""
    return f"captured_{kind}_{basis}"


def check_image_shape(config: AnalysisConfig, n_features: int) -> None:
    """Refuse an image shape that does not fit n_features, and ``transformations`` without one."""
    shape = config.image_shape
    if shape is None and config.transformations:
        raise ConfigError(
            f"transformations needs image data, but no image shape is known for these "
            f"{n_features}-feature points; pass AnalysisConfig(image_shape=(height, width)) "
            f"(the CLI takes it from {IMAGE_DATA}, or from --image-shape H,W)"
        )
    if shape is not None and shape[0] * shape[1] != n_features:
        raise ConfigError(
            f"image_shape {tuple(shape)} holds {shape[0] * shape[1]} pixels but the data have "
            f"{n_features} features; give the shape of one image (height, width)"
        )


def with_image_shape(
    config: AnalysisConfig, own: tuple[int, int] | None, data_spec: str
) -> AnalysisConfig:
    """``config`` with the data set's image shape ``own`` (None: not images; ``data_spec``
    names the data in messages), when ``transformations`` needs it; a given
    ``image_shape`` is checked against it.

    Raises:
        ConfigError: the data are not images and no image_shape is given, or the given
            shape is not the data set's own.
    """
    if not config.transformations and config.image_shape is None:
        return config
    given = config.image_shape
    if own is None and given is None:
        raise ConfigError(
            f"--transformations needs image data ({IMAGE_DATA}, or a file of flattened "
            f"images with --image-shape H,W); {data_spec!r} holds no images. Drop "
            "--transformations, or analyse an image data set"
        )
    if own is not None and given is not None and tuple(given) != own:
        raise ConfigError(
            f"--image-shape {','.join(map(str, given))} does not fit {data_spec!r}, whose "
            f"images are {own[0]},{own[1]}; drop --image-shape"
        )
    return dataclasses.replace(config, image_shape=own or given)


class Transformations(Metric):
    name: ClassVar[str] = "transformations"
    Result = TransformationSummary

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        n, kinds = ctx.n_points, len(TRANSFORMATIONS)
        self.cae = PerPoint(n, kinds)
        self.pca = PerPoint(n, kinds) if ctx.local_pca else None

    @classmethod
    def skip_reason(cls, ctx: Context) -> str | None:
        return None if ctx.config.transformations else ""  # not asked for: no note

    def update(self, chunk: Chunk) -> None:
        shape = self.ctx.config.image_shape
        assert shape is not None  # checked before the first chunk (check_image_shape)
        images = chunk.x.detach().double().cpu().numpy()
        true = transformation_tangents(images, shape, TRANSFORMATIONS, DEFAULT_EPS)  # (m, 5, d)
        k = self.ctx.k_compare
        cae = chunk.top.vectors[:, :, :k].detach().cpu()  # (m, d, k)
        self.cae.set(chunk.positions, captured_energy(cae, true).share)
        if self.pca is not None and chunk.pca is not None:
            self.pca.set(chunk.positions, captured_energy(chunk.pca.cpu(), true).share)

    def merge(self, other: Transformations) -> None:
        self.cae.merge(other.cae)
        if self.pca is not None and other.pca is not None:
            self.pca.merge(other.pca)

    def result(self) -> TransformationSummary:
        def means(part: PerPoint) -> dict[str, float]:
            v = part.values  # (n, n_kinds); NaN where a tangent is 0 (a blank image)
            seen = np.isfinite(v).sum(axis=0)
            total = np.where(np.isfinite(v), v, 0.0).sum(axis=0)
            mean = np.where(seen > 0, total / np.maximum(seen, 1), np.nan)
            return dict(zip(TRANSFORMATIONS, mean.tolist(), strict=True))

        return TransformationSummary(
            kinds=list(TRANSFORMATIONS),
            k=self.ctx.k_compare,
            eps=DEFAULT_EPS,
            chance=self.ctx.k_compare / self.ctx.model.n_features,
            cae=means(self.cae),
            local_pca=None if self.pca is None else means(self.pca),
        )

    def columns(self) -> dict[str, np.ndarray]:
        parts = {"cae": self.cae, "local_pca": self.pca}
        return {
            column(kind, basis): part.values[:, i]
            for basis, part in parts.items()
            if part is not None
            for i, kind in enumerate(TRANSFORMATIONS)
        }
