"""Singular values and right singular vectors of encoder Jacobians, batched over points.

The encoder Jacobian at a point is a product of factors,
J = D_L W_L ... D_1 W_1 with D_l = diag(s'(a_l)). :class:`FactoredJacobian`
applies J and J^T to blocks of vectors without forming J, one GEMM per
factor for a whole chunk of points. On top of it:

- :func:`full_spectrum`: every singular value, through the smaller Gram matrix
  (J J^T or J^T J) and ``eigvalsh``, or through ``svdvals`` (``exact``).
  The Gram route squares the condition number: a singular value below about
  sqrt(eps) * sigma_1 (3e-4 * sigma_1 in float32) keeps little relative
  accuracy, while the leading ones are as accurate as the SVD's.
- :func:`top_singular`: the leading k singular values and right singular
  vectors by randomized block Krylov iteration on J^T J (Musco & Musco, 2015)
  with Rayleigh-Ritz extraction. Points whose Ritz residual stays above the
  tolerance are redone with a dense eigendecomposition, so the answer is
  accurate even where the spectrum has no gap after k.

Singular values come in descending order; each singular vector's sign is
fixed so that its largest-magnitude entry is positive.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from manifold_cae.jacobian import chain_product, diag_times_w_frobenius_sq, layer_slopes
from manifold_cae.models import Autoencoder


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


def full_spectrum(op: FactoredJacobian, *, exact: bool = False) -> Tensor:
    """All min(d_h, d_x) singular values per point, descending.

    Args:
        op: the Jacobians of a chunk of points.
        exact: use ``torch.linalg.svdvals`` on J instead of the Gram route.

    Returns:
        (n_samples, min(n_hidden, n_features)).
    """
    if exact:
        return torch.linalg.svdvals(op.dense())
    evals = batched_eigvalsh(op.gram())  # ascending
    return evals.flip(-1).clamp_min(0).sqrt()


def _eigvalsh(a: Tensor) -> Tensor:
    try:
        return torch.linalg.eigvalsh(a)
    except torch.linalg.LinAlgError:
        # float32 LAPACK can fail on a nearly singular Gram (a deep, saturated encoder)
        return torch.linalg.eigvalsh(a.double()).to(a.dtype)


def _one_thread_eigvalsh(a: Tensor) -> Tensor:
    torch.set_num_threads(1)  # this worker thread only; the caller's setting is untouched
    return _eigvalsh(a)


def batched_eigvalsh(a: Tensor) -> Tensor:
    """``torch.linalg.eigvalsh`` over a batch, one matrix per CPU thread.

    LAPACK's tridiagonalisation gains little from a second thread, so on CPU
    the batch is split over single-threaded workers instead (about 1.6x faster
    on 2 cores at 784 x 784).

    Args:
        a: (n, r, r) symmetric.

    Returns:
        (n, r) eigenvalues, ascending.
    """
    workers = min(torch.get_num_threads(), a.shape[0])
    if a.device.type != "cpu" or workers < 2:
        return _eigvalsh(a)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        return torch.cat(list(pool.map(_one_thread_eigvalsh, a.chunk(workers))))


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
    dense_fallback: Tensor  # (n_samples,) bool: points that needed the dense eigendecomposition


def _orthonormalize(v: Tensor) -> Tensor:
    return torch.linalg.qr(v).Q


def top_singular(
    op: FactoredJacobian,
    k: int,
    *,
    generator: torch.Generator | None = None,
    block: int | None = None,
    n_blocks: int = 8,
    tol: float = 1e-5,
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
    w0 = op.weights[0]
    start = torch.randn((n, d, b), generator=generator, dtype=w0.dtype, device=w0.device)
    basis = torch.empty((n, d, m), dtype=w0.dtype, device=w0.device)  # Q_0 .. Q_{q-1}
    jq = torch.empty((n, op.n_hidden, m), dtype=w0.dtype, device=w0.device)  # J Q_i
    basis[:, :, :b] = _orthonormalize(start)
    for i in range(q):
        cur = slice(i * b, (i + 1) * b)
        jq[:, :, cur] = op.matmat(basis[:, :, cur])  # kept: J on the Krylov space, for free
        if i == q - 1:
            break
        nxt = op.rmatmat(jq[:, :, cur])
        done = basis[:, :, : (i + 1) * b]
        for _ in range(2):  # twice is enough (Kahan-Parlett) to keep the basis orthogonal
            nxt = nxt - done @ (done.mT @ nxt)
        basis[:, :, (i + 1) * b : (i + 2) * b] = _orthonormalize(nxt)
    # Rayleigh-Ritz through the small Gram (J Q)^T (J Q): only its top-k pairs are used,
    # and those are far above the Gram route's accuracy floor.
    evals, z = torch.linalg.eigh(jq.mT @ jq)
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
        if 2 * q * b <= d // 2:  # a deeper Krylov space is still much cheaper than dense
            again = top_singular(sub, k, generator=generator, block=b, n_blocks=2 * q, tol=tol)
            values[redo], vectors[redo] = again.values, again.vectors
            residual[redo], dense[redo] = again.residual, again.dense_fallback
        else:
            values[redo], vectors[redo] = _dense_top(sub, k)
            residual[redo], dense[redo] = 0.0, True
    return TopSingular(values, fix_signs(vectors), residual, dense)


def _dense_top(op: FactoredJacobian, k: int) -> tuple[Tensor, Tensor]:
    """Top-k by a float64 eigendecomposition of J^T J."""
    jac = op.to(torch.float64).dense()
    evals, evecs = torch.linalg.eigh(jac.mT @ jac)  # ascending, (m, d_x), (m, d_x, d_x)
    values = evals.flip(-1)[:, :k].clamp_min(0).sqrt()
    vectors = evecs.flip(-1)[:, :, :k]
    dtype = op.weights[0].dtype
    return values.to(dtype), vectors.to(dtype)
