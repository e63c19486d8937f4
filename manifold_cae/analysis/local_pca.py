"""Tangent spaces to compare with: local PCA, and principal angles between subspaces.

The local-PCA baseline (Deep Learning book, Fig. 14.10) estimates the tangent
space at a point from its nearest neighbours alone, with nothing shared across
regions: the top-k principal directions of the centred neighbourhood.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from manifold_cae.analysis.spectra import fix_signs


class NeighbourIndex:
    """Nearest neighbours among reference points, by scikit-learn.

    Args:
        reference: (n_reference, n_features).
    """

    def __init__(self, reference: np.ndarray) -> None:
        from sklearn.neighbors import NearestNeighbors

        self.reference = np.ascontiguousarray(reference, dtype=np.float64)
        self._nn = NearestNeighbors().fit(self.reference)

    def neighbourhoods(self, x: np.ndarray, n_neighbors: int) -> np.ndarray:
        """The ``n_neighbors`` reference points closest to each x, (n, n_neighbors, n_features)."""
        n_neighbors = min(n_neighbors, len(self.reference))
        idx = self._nn.kneighbors(np.asarray(x, dtype=np.float64), n_neighbors, False)
        return self.reference[idx]


def local_pca_tangents(neighbourhoods: np.ndarray, k: int) -> Tensor:
    """Top-k principal directions of each centred neighbourhood.

    Args:
        neighbourhoods: (n, n_neighbors, n_features).
        k: directions per point.

    Returns:
        (n, n_features, k) orthonormal columns, sign convention of
        :func:`~manifold_cae.analysis.spectra.fix_signs`.
    """
    nb = torch.as_tensor(neighbourhoods, dtype=torch.float64)
    centred = nb - nb.mean(dim=1, keepdim=True)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)  # (n, min(nn, d), d)
    if vh.shape[1] < k:
        raise ValueError(
            f"local PCA needs at least {k + 1} neighbours for {k} directions; got {nb.shape[1]}"
        )
    return fix_signs(vh[:, :k, :].mT)


def principal_angles(a: Tensor, b: Tensor) -> Tensor:
    """Principal angles between span(a) and span(b) at each point, in radians, descending.

    Same definition as ``scipy.linalg.subspace_angles``, batched.

    Args:
        a: (n, d, k1), b: (n, d, k2) column bases (orthonormalised here).

    Returns:
        (n, min(k1, k2)), largest angle first.
    """
    qa = torch.linalg.qr(a.double()).Q
    qb = torch.linalg.qr(b.double()).Q
    cos = torch.linalg.svdvals(qa.mT @ qb).clamp(0, 1)  # descending cosines
    # arccos loses accuracy near 0; use arcsin of the sine where angles are small,
    # as scipy does.
    angles = torch.arccos(cos)
    small = cos**2 > 0.5
    if small.any():
        resid = qb - qa @ (qa.mT @ qb)  # (n, d, k2)
        sines = torch.linalg.svdvals(resid).clamp(0, 1)  # descending sines
        k = cos.shape[1]
        sines = torch.cat([sines, sines.new_zeros(sines.shape[0], max(0, k - sines.shape[1]))], 1)
        asin = torch.arcsin(sines[:, :k].flip(-1))  # ascending sines -> match descending cosines
        angles = torch.where(small, asin, angles)
    return angles.flip(-1)  # descending angles
