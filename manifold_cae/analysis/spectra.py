"""Singular values and right singular vectors of encoder Jacobians, batched over points.

The encoder Jacobian at a point is a product of factors,
J = D_L W_L ... D_1 W_1 with D_l = diag(s'(a_l)). :class:`FactoredJacobian`
applies J and J^T to blocks of vectors without forming J, one GEMM per
factor for a whole chunk of points. On top of it:

- :func:`full_spectrum`: every singular value, through the smaller Gram matrix
  (J J^T or J^T J) and a batched symmetric eigensolver
  (:mod:`~manifold_cae.analysis.eigensolvers`), or through ``svdvals`` (``exact``).
  The Gram route squares the condition number: a singular value below about
  sqrt(eps) * sigma_1 (3e-4 * sigma_1 in float32) keeps little relative
  accuracy, while the leading ones are as accurate as the SVD's.
- :func:`top_singular`: the leading k singular values and right singular
  vectors by randomized block Krylov iteration on J^T J (Musco & Musco, 2015)
  with Rayleigh-Ritz extraction, every step batched over the chunk. Points
  whose Ritz residual stays above the tolerance are redone with a deeper
  Krylov space, then a dense eigendecomposition, so the answer is accurate
  even where the spectrum has no gap after k.

Singular values come in descending order; each singular vector's sign is
fixed so that its largest-magnitude entry is positive.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import Tensor

from manifold_cae.analysis.eigensolvers import (
    EighMethod,
    EigvalshMethod,
    batched_routes,
    eigh,
    eigvalsh,
    gram_orthonormalize,
)
from manifold_cae.jacobian import chain_product, diag_times_w_frobenius_sq, layer_slopes
from manifold_cae.models import Autoencoder

OrthMethod = Literal["auto", "qr", "gram"]


class FactoredJacobian:
    """J_f at a chunk of points, held as its factors.

    Args:
        model: the autoencoder.
        x: (n_samples, n_features), the points.
    """

    _dense: Tensor | None = None  # J, once formed

    def __init__(self, model: Autoencoder, x: Tensor) -> None:
        with torch.no_grad():
            self.slopes = layer_slopes(model, x)  # one (n, d_l) per layer
        self.weights = [w.detach() for w in model.jacobian_weights()]  # (d_l, d_{l-1})
        self.n_samples, self.n_features = x.shape
        self.n_hidden = self.weights[-1].shape[0]

    def matmat(self, v: Tensor) -> Tensor:
        """J v for every point: (n, d_x, m) -> (n, d_h, m)."""
        rows = v.mT  # (n, m, d): rows let one large GEMM serve the whole chunk
        for w, s in zip(self.weights, self.slopes, strict=True):
            rows = _rows_times(rows, w.T) * s.unsqueeze(1)
        return rows.mT

    def rmatmat(self, u: Tensor) -> Tensor:
        """J^T u for every point: (n, d_h, m) -> (n, d_x, m)."""
        rows = u.mT
        for w, s in zip(reversed(self.weights), reversed(self.slopes), strict=True):
            rows = _rows_times(rows * s.unsqueeze(1), w)
        return rows.mT

    def subset(self, mask: Tensor) -> FactoredJacobian:
        """The Jacobians at the points where ``mask`` (n,) is true."""
        sub = FactoredJacobian.__new__(FactoredJacobian)
        sub.weights = self.weights
        sub.slopes = [s[mask] for s in self.slopes]
        sub.n_samples = int(mask.sum())
        sub.n_features, sub.n_hidden = self.n_features, self.n_hidden
        return sub

    def prefix(self, n_layers: int) -> FactoredJacobian:
        """The Jacobians of the encoder's first ``n_layers`` layers at the same points."""
        sub = FactoredJacobian.__new__(FactoredJacobian)
        sub.weights, sub.slopes = self.weights[:n_layers], self.slopes[:n_layers]
        sub.n_samples, sub.n_features = self.n_samples, self.n_features
        sub.n_hidden = sub.weights[-1].shape[0]
        return sub

    def to(self, dtype: torch.dtype) -> FactoredJacobian:
        """A copy in another dtype."""
        out = FactoredJacobian.__new__(FactoredJacobian)
        out.weights = [w.to(dtype) for w in self.weights]
        out.slopes = [s.to(dtype) for s in self.slopes]
        out.n_samples, out.n_features, out.n_hidden = self.n_samples, self.n_features, self.n_hidden
        return out

    def dense(self) -> Tensor:
        """J itself, (n, d_h, d_x); formed once, since deep encoders need it twice per chunk."""
        if self._dense is None:
            self._dense = chain_product(self.weights, self.slopes)
        return self._dense

    def frobenius_sq(self) -> Tensor:
        """||J||_F^2 per point, (n,). Closed form for one layer, else from the dense J."""
        if len(self.weights) == 1:
            return diag_times_w_frobenius_sq(self.slopes[0], self.weights[0])
        return self.dense().square().sum(dim=(-2, -1))

    def gram(self) -> Tensor:
        """The smaller Gram matrix per point: (n, r, r) with r = min(d_h, d_x)."""
        if len(self.weights) == 1:
            w, s = self.weights[0], self.slopes[0]
            if self.n_hidden <= self.n_features:  # J J^T = D (W W^T) D: no per-point matmul
                return s.unsqueeze(-1) * (w @ w.T) * s.unsqueeze(-2)
            ws = w.unsqueeze(0) * s.unsqueeze(-1)  # (n, d_h, d_x) = D W
            return ws.mT @ ws
        jac = self.dense()
        return jac @ jac.mT if self.n_hidden <= self.n_features else jac.mT @ jac


def _rows_times(rows: Tensor, mat: Tensor) -> Tensor:
    """(n, m, a) @ (a, b) -> (n, m, b) as one (n*m, a) x (a, b) GEMM."""
    n, m, a = rows.shape
    return (rows.reshape(n * m, a) @ mat).reshape(n, m, mat.shape[1])


def full_spectrum(
    op: FactoredJacobian, *, exact: bool = False, method: EigvalshMethod = "auto"
) -> Tensor:
    """All min(d_h, d_x) singular values per point, descending.

    Args:
        op: the Jacobians of a chunk of points.
        exact: use ``torch.linalg.svdvals`` on J instead of the Gram route.
        method: the Gram route's eigensolver (:func:`~manifold_cae.analysis.eigensolvers.eigvalsh`).

    Returns:
        (n_samples, min(n_hidden, n_features)).
    """
    if exact:
        return torch.linalg.svdvals(op.dense())
    evals = eigvalsh(op.gram(), method)  # ascending
    return evals.flip(-1).clamp_min(0).sqrt()


def fix_signs(v: Tensor) -> Tensor:
    """Flip each vector so its largest-magnitude entry is positive.

    Args:
        v: (..., d, k), k column vectors of length d.

    Returns:
        same shape, with the sign convention applied.
    """
    idx = v.abs().argmax(dim=-2, keepdim=True)
    sign = torch.sign(torch.gather(v, -2, idx))
    return v * torch.where(sign == 0, torch.ones_like(sign), sign)


class TopSingular(NamedTuple):
    """Leading singular triplets of J at each point."""

    values: Tensor  # (n_samples, k), descending
    vectors: Tensor  # (n_samples, n_features, k): right singular vectors, the tangents
    residual: Tensor  # (n_samples,): max_i ||J^T J v_i - s_i^2 v_i|| / s_1^2
    dense_fallback: Tensor  # (n_samples,) bool: points solved densely (SVD of J): rank <= the
    # Krylov space, or not converged


def orthonormalize(v: Tensor, method: OrthMethod = "auto") -> Tensor:
    """Orthonormal columns spanning each block, (n, d, b) -> (n, d, b).

    ``qr`` is Householder QR (LAPACK; one cuSOLVER call per matrix on a GPU);
    ``gram`` is :func:`~manifold_cae.analysis.eigensolvers.gram_orthonormalize`
    (batched GEMMs and one batched b x b eigensolve; zero columns where the
    block is rank-deficient). ``auto``: ``qr`` on a CPU, ``gram`` elsewhere.
    """
    if method == "auto":
        method = "gram" if batched_routes(v.device) else "qr"
    return torch.linalg.qr(v).Q if method == "qr" else gram_orthonormalize(v)


def top_singular(
    op: FactoredJacobian,
    k: int,
    *,
    generator: torch.Generator | None = None,
    block: int | None = None,
    n_blocks: int = 8,
    tol: float = 1e-5,
    orth: OrthMethod = "auto",
    ritz: EighMethod = "auto",
) -> TopSingular:
    """Leading ``k`` singular values and right singular vectors of J at each point.

    Randomized block Krylov: span{Q, A Q, ..., A^(q-1) Q} with A = J^T J,
    re-orthogonalised block by block, then Rayleigh-Ritz through the SVD of J
    restricted to that span.

    Args:
        op: the Jacobians of a chunk of points.
        k: how many triplets (k <= min(d_h, d_x)).
        generator: source of the starting block.
        block: block width (default k + 4).
        n_blocks: Krylov depth q.
        tol: relative residual above which a point is redone densely.
        orth: how each block is orthonormalised (:func:`orthonormalize`).
        ritz: the eigensolver of the (q b) x (q b) Rayleigh-Ritz problem
            (:func:`~manifold_cae.analysis.eigensolvers.eigh`).

    Every step is batched over the chunk; the only host synchronisation is the
    one test of whether any point needs redoing (and, with ``ritz="host"``,
    the Rayleigh-Ritz problem's trip to the host's cores).

    Returns:
        :class:`TopSingular`.
    """
    n, d = op.n_samples, op.n_features
    rank = min(op.n_hidden, d)
    if not 1 <= k <= rank:
        raise ValueError(f"k must be in [1, min(d_h, d_x) = {rank}]; got {k}")
    b = min(block or k + 4, d)
    q = max(1, min(n_blocks, d // b))
    m = q * b
    if rank <= m:  # the Krylov space would span J's whole row space: the SVD of J is cheaper
        values, vectors = _dense_top(op, k)
        ones = torch.ones(n, dtype=torch.bool, device=values.device)
        return TopSingular(values, fix_signs(vectors), torch.zeros_like(values[:, 0]), ones)
    w0 = op.weights[0]
    start = torch.randn((n, d, b), generator=generator, dtype=w0.dtype, device=w0.device)
    basis = torch.empty((n, d, m), dtype=w0.dtype, device=w0.device)  # Q_0 .. Q_{q-1}
    jq = torch.empty((n, op.n_hidden, m), dtype=w0.dtype, device=w0.device)  # J Q_i
    basis[:, :, :b] = orthonormalize(start, orth)
    for i in range(q):
        cur = slice(i * b, (i + 1) * b)
        jq[:, :, cur] = op.matmat(basis[:, :, cur])  # kept: J on the Krylov space, for free
        if i == q - 1:
            break
        nxt = op.rmatmat(jq[:, :, cur])
        done = basis[:, :, : (i + 1) * b]
        for _ in range(2):  # twice is enough (Kahan-Parlett) to keep the basis orthogonal
            nxt = nxt - done @ (done.mT @ nxt)
        basis[:, :, (i + 1) * b : (i + 2) * b] = orthonormalize(nxt, orth)
    # Rayleigh-Ritz through the small Gram (J Q)^T (J Q): only its top-k pairs are used,
    # and those are far above the Gram route's accuracy floor.
    evals, z = eigh(jq.mT @ jq, ritz)
    z = z.flip(-1)[:, :, :k]
    values = evals.flip(-1)[:, :k].clamp_min(0).sqrt()
    vectors = basis @ z  # (n, d_x, k)

    av = op.rmatmat(jq @ z)  # J^T J v, with J v = (J Q) z
    resid = (av - vectors * values.square().unsqueeze(1)).norm(dim=1)  # (n, k)
    scale = values[:, :1].square().clamp_min(torch.finfo(values.dtype).tiny)
    residual = (resid / scale).amax(dim=1)
    redo = residual > tol
    dense = torch.zeros_like(redo)
    if redo.any():
        values, vectors, residual = values.clone(), vectors.clone(), residual.clone()
        sub = op.subset(redo)
        if 2 * q * b <= d // 2 and 2 * q * b < rank:  # deeper Krylov: still cheaper than dense
            again = top_singular(
                sub, k, generator=generator, block=b, n_blocks=2 * q, tol=tol, orth=orth, ritz=ritz
            )
            values[redo], vectors[redo] = again.values, again.vectors
            residual[redo], dense[redo] = again.residual, again.dense_fallback
        else:
            values[redo], vectors[redo] = _dense_top(sub, k)
            residual[redo], dense[redo] = 0.0, True
    return TopSingular(values, fix_signs(vectors), residual, dense)


def _dense_top(op: FactoredJacobian, k: int) -> tuple[Tensor, Tensor]:
    """Top-k by a float64 SVD of J itself: O(d_h d_x min(d_h, d_x)) a point, where an
    eigendecomposition of J^T J costs O(d_x^3) (about 60x more for 100 x 784)."""
    jac = op.to(torch.float64).dense()  # (m, d_h, d_x)
    _, s, vh = torch.linalg.svd(jac, full_matrices=False)  # descending, (m, r), (m, r, d_x)
    values, vectors = s[:, :k], vh[:, :k, :].mT
    dtype = op.weights[0].dtype
    return values.to(dtype), vectors.to(dtype)
