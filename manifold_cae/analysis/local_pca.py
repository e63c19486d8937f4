"""Tangent spaces to compare with: local PCA, and principal angles between subspaces.

The local-PCA baseline (Deep Learning book, Fig. 14.10) estimates the tangent
space at a point from its nearest neighbours alone, with nothing shared across
regions: the top-k principal directions of the centred neighbourhood.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

from manifold_cae.analysis.eigensolvers import batched_routes, eigh, eigvalsh, gram_orthonormalize
from manifold_cae.analysis.spectra import fix_signs

Method = Literal["auto", "svd", "gram"]
_REFERENCE_BLOCK = 1 << 16  # reference rows per distance GEMM on a device


class NeighbourIndex:
    """Nearest neighbours among reference points.

    On a CPU, scikit-learn's index; on an accelerator the reference lives on the device
    in float64 and neighbours come from blocked distance GEMMs and ``topk``, so
    a chunk never visits the host.

    Args:
        reference: (n_reference, n_features).
        device: where queries arrive and neighbourhoods are returned.
    """

    def __init__(self, reference: np.ndarray, device: torch.device | None = None) -> None:
        self.device = device or torch.device("cpu")
        self.n_reference = len(reference)
        self._sklearn = not batched_routes(self.device)
        if self._sklearn:
            from sklearn.neighbors import NearestNeighbors

            self.reference = np.ascontiguousarray(reference, dtype=np.float64)
            self._nn = NearestNeighbors().fit(self.reference)
        else:
            ref = torch.as_tensor(np.asarray(reference), dtype=torch.float64, device=self.device)
            self._ref, self._ref_sq = ref, ref.square().sum(dim=1)

    def neighbourhoods(self, x: np.ndarray | Tensor, n_neighbors: int) -> Tensor:
        """The ``n_neighbors`` reference points closest to each x, (n, n_neighbors, n_features).

        float64, on the index's device; the nearest first.
        """
        n_neighbors = min(n_neighbors, self.n_reference)
        if self._sklearn:
            q = x.detach().cpu().numpy() if isinstance(x, Tensor) else x
            idx = self._nn.kneighbors(np.asarray(q, dtype=np.float64), n_neighbors, False)
            return torch.from_numpy(self.reference[idx])
        return self._ref[
            self._nearest(torch.as_tensor(x, device=self.device).double(), n_neighbors)
        ]

    def _nearest(self, x: Tensor, k: int) -> Tensor:
        """Indices (n, k) of the k nearest reference rows, by squared distance."""
        best_d = best_i = None
        x_sq = x.square().sum(dim=1, keepdim=True)
        for lo in range(0, self.n_reference, _REFERENCE_BLOCK):
            ref, ref_sq = (
                self._ref[lo : lo + _REFERENCE_BLOCK],
                self._ref_sq[lo : lo + _REFERENCE_BLOCK],
            )
            dist = (x_sq - 2 * x @ ref.T + ref_sq).clamp_min(0)  # (n, block)
            d, i = dist.topk(min(k, dist.shape[1]), dim=1, largest=False)
            if best_d is not None:
                d, j = torch.cat([best_d, d], 1).topk(k, dim=1, largest=False)
                i = torch.cat([best_i, i + lo], 1).gather(1, j)
            best_d, best_i = d, i
        return best_i  # type: ignore[return-value]


def local_pca_tangents(
    neighbourhoods: np.ndarray | Tensor, k: int, method: Method = "auto"
) -> Tensor:
    """Top-k principal directions of each centred neighbourhood.

    Args:
        neighbourhoods: (n, n_neighbors, n_features).
        k: directions per point.
        method: ``svd`` of the centred neighbourhood, or ``gram``: the
            eigendecomposition of its small (n_neighbors x n_neighbors) Gram
            matrix, one batched call on a GPU; ``auto``: ``svd`` on a CPU.
            A direction with no variance in a rank-deficient neighbourhood is
            a zero column in the ``gram`` route.

    Returns:
        (n, n_features, k) float64 orthonormal (or zero) columns, on the input's
        device, sign convention of :func:`~manifold_cae.analysis.spectra.fix_signs`.
    """
    nb = torch.as_tensor(neighbourhoods, dtype=torch.float64)
    if min(nb.shape[1], nb.shape[2]) < k:
        raise ValueError(
            f"local PCA needs at least {k + 1} neighbours for {k} directions; got {nb.shape[1]}"
        )
    centred = nb - nb.mean(dim=1, keepdim=True)
    if method == "auto":
        method = "gram" if batched_routes(nb.device) else "svd"
    if method == "svd":
        _, _, vh = torch.linalg.svd(centred, full_matrices=False)  # (n, min(nn, d), d)
        return fix_signs(vh[:, :k, :].mT)
    evals, u = eigh(centred @ centred.mT)  # ascending, (n, nn), (n, nn, nn)
    evals, u = evals.flip(-1)[:, :k], u.flip(-1)[:, :, :k]
    floor = evals[:, :1] * (nb.shape[1] * torch.finfo(torch.float64).eps)
    inv = torch.where(evals > floor, evals.clamp_min(torch.finfo(torch.float64).tiny).rsqrt(), 0)
    return fix_signs(centred.mT @ (u * inv.unsqueeze(1)))


def principal_angles(a: Tensor, b: Tensor, method: Method = "auto") -> Tensor:
    """Principal angles between span(a) and span(b) at each point, in radians, descending.

    Same definition as ``scipy.linalg.subspace_angles``, batched.

    Args:
        a: (n, d, k1), b: (n, d, k2) column bases (orthonormalised here).
        method: ``svd``: QR then singular values (LAPACK); ``gram``: the same
            cosines and sines from k x k Gram eigenvalues in float64, one batched
            call each on a GPU; ``auto``: ``svd`` on a CPU.

    Returns:
        (n, min(k1, k2)), largest angle first.
    """
    if a.shape[2] < b.shape[2]:  # the angles are symmetric; the sines need k1 >= k2
        a, b = b, a
    if method == "auto":
        method = "gram" if batched_routes(a.device) else "svd"
    if method == "gram":
        return _angles_by_gram(a.double(), b.double())
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


def _angles_by_gram(a: Tensor, b: Tensor) -> Tensor:
    """:func:`principal_angles` through Gram eigenvalues: cos^2 and sin^2, both float64."""
    qa, qb = gram_orthonormalize(a), gram_orthonormalize(b)
    k = min(a.shape[2], b.shape[2])
    m = qa.mT @ qb  # (n, k1, k2)
    small = m @ m.mT if m.shape[1] <= m.shape[2] else m.mT @ m
    cos = eigvalsh(small).flip(-1)[:, :k].clamp(0, 1).sqrt()  # descending
    resid = qb - qa @ m  # the part of span(b) outside span(a)
    sin = eigvalsh(resid.mT @ resid)[:, -k:].clamp(0, 1).sqrt()  # the k largest, ascending
    angles = torch.where(cos**2 > 0.5, torch.arcsin(sin), torch.arccos(cos))
    return angles.flip(-1)
