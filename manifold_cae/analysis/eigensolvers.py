"""Batched symmetric eigensolvers that keep an accelerator busy.

LAPACK-style solvers work one matrix at a time: on a GPU, ``torch.linalg.eigh``
and ``torch.linalg.qr`` over a batch of 784 x 784 (or 784 x 14) matrices become
one small cuSOLVER call per matrix, with the device idle between them. Here
every step is one batched operation over the whole chunk of points:

- :func:`gram_orthonormalize`: an orthonormal basis of each block's columns
  from the eigendecomposition of its small Gram matrix (twice, as CholeskyQR2
  does), instead of Householder QR;
- :func:`tridiagonalize`: blocked Householder reduction to tridiagonal form
  (LAPACK's ``sytrd``/``latrd`` scheme: each panel's reflectors update the
  trailing matrix in one rank-2b GEMM), batched over points;
- :func:`tridiagonal_eigvalsh`: every eigenvalue of the tridiagonal matrices
  by bisection on Sturm counts, all eigenvalues of all points at once, with a
  fixed number of steps (no host synchronisation, no data-dependent branch);
- :func:`eigvalsh` and :func:`eigh`: dispatch between these and LAPACK
  (on the host's cores) by device and size.

On a CPU the LAPACK routes stay the defaults (they are faster there); the
batched routes run on a CPU too, which is how they are tested without a GPU.
Which route each device uses was measured by ``scripts/bench_gpu.py``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import torch
from torch import Tensor

EigvalshMethod = Literal["auto", "lapack", "host", "tridiagonal"]
EighMethod = Literal["auto", "lapack", "host"]

# Routes chosen on CUDA by scripts/bench_gpu.py (see the README's GPU table).
CUDA_EIGVALSH: EigvalshMethod = "tridiagonal"
CUDA_EIGH_SMALL = 32  # n <= this: cuSOLVER's batched Jacobi (syevjBatched) on the device
CUDA_EIGH_LARGE: EighMethod = "host"  # larger n: LAPACK on the host's cores


def batched_routes(device: torch.device) -> bool:
    """Whether ``auto`` picks the batched routes (on accelerators) over LAPACK (on a CPU).

    The one switch behind every ``auto`` in the analysis: tests turn it on to
    run the GPU code on a CPU.
    """
    return device.type != "cpu"


def _float64_on_failure(fn):  # type: ignore[no-untyped-def]
    """``fn`` that retries in float64 where float32 LAPACK fails to converge.

    A nearly singular float32 Gram matrix (a deep, saturated encoder) can make
    ``syevd`` fail; the float64 retry is cast back to the input's dtype.
    """

    def run(a: Tensor):  # type: ignore[no-untyped-def]
        try:
            return fn(a)
        except torch.linalg.LinAlgError:
            if a.dtype == torch.float64:
                raise
            out = fn(a.double())
            return tuple(o.to(a.dtype) for o in out) if isinstance(out, tuple) else out.to(a.dtype)

    return run


def _one_thread(fn, a: Tensor):  # type: ignore[no-untyped-def]
    torch.set_num_threads(1)  # this worker thread only; the caller's setting is untouched
    return fn(a)


def _threaded(fn, a: Tensor):  # type: ignore[no-untyped-def]
    """``fn`` over a CPU batch, one matrix slice per single-threaded worker."""
    workers = min(torch.get_num_threads(), a.shape[0])
    if workers < 2:
        return fn(a)
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(lambda p: _one_thread(fn, p), a.chunk(workers)))
    if isinstance(parts[0], tuple):
        return tuple(torch.cat(p) for p in zip(*parts, strict=True))
    return torch.cat(parts)


def _on_host(fn, a: Tensor):  # type: ignore[no-untyped-def]
    """``fn`` on the CPU's cores, the result moved back to ``a``'s device (one sync)."""
    out = _threaded(fn, a.cpu())
    if isinstance(out, tuple):
        return tuple(o.to(a.device, non_blocking=True) for o in out)
    return out.to(a.device, non_blocking=True)


def _lapack(fn, a: Tensor, *, on_host: bool):  # type: ignore[no-untyped-def]
    """A LAPACK-style ``fn`` over a batch: a matrix per thread on a CPU, on the host's
    cores for a device batch when ``on_host``, else where ``a`` lives; float64 retry."""
    fn = _float64_on_failure(fn)
    if on_host and a.device.type != "cpu":
        return _on_host(fn, a)
    if a.device.type == "cpu":
        return _threaded(fn, a)
    return fn(a)


def eigh(a: Tensor, method: EighMethod = "auto") -> tuple[Tensor, Tensor]:
    """Eigenvalues (ascending) and eigenvectors of a batch of symmetric matrices.

    Args:
        a: (n, r, r) symmetric.
        method: ``lapack`` (``torch.linalg.eigh`` where ``a`` lives, on a CPU
            one matrix per thread), ``host`` (LAPACK on the host's cores, for a
            GPU batch), or ``auto`` (by device and r).

    Returns:
        (n, r) eigenvalues and (n, r, r) eigenvectors.
    """
    if method == "auto":
        small = not batched_routes(a.device) or a.shape[-1] <= CUDA_EIGH_SMALL
        method = "lapack" if small else CUDA_EIGH_LARGE
    return _lapack(torch.linalg.eigh, a, on_host=method == "host")


def eigvalsh(a: Tensor, method: EigvalshMethod = "auto") -> Tensor:
    """Eigenvalues, ascending, of a batch of symmetric matrices.

    Args:
        a: (n, r, r) symmetric.
        method: ``lapack``, ``host`` (as in :func:`eigh`), ``tridiagonal``
            (:func:`tridiagonalize` then :func:`tridiagonal_eigvalsh`, all on
            ``a``'s device), or ``auto`` (``lapack`` on a CPU, else the route
            measured fastest on CUDA).

    Returns:
        (n, r).
    """
    if method == "auto":
        small = not batched_routes(a.device) or a.shape[-1] <= CUDA_EIGH_SMALL
        method = "lapack" if small else CUDA_EIGVALSH
    if method == "tridiagonal":
        return tridiagonal_eigvalsh(*tridiagonalize(a))
    return _lapack(torch.linalg.eigvalsh, a, on_host=method == "host")


def gram_orthonormalize(v: Tensor, *, passes: int = 2) -> Tensor:
    """An orthonormal basis of each block's column span, by small Gram eigendecompositions.

    Each pass maps V to V U diag(lambda)^(-1/2), with V^T V = U diag(lambda) U^T.
    Directions whose lambda is below ``r * eps * lambda_max`` are dropped (their
    columns become zero), so a rank-deficient block gives zero columns instead
    of noise. The first pass leaves an orthogonality error of about
    eps * cond(V)^2; the second removes it (the CholeskyQR2 argument).

    Args:
        v: (n, d, b) with b <= d.

    Returns:
        (n, d, b): orthonormal or zero columns spanning (numerically) span(V).
    """
    eps = torch.finfo(v.dtype).eps
    for _ in range(passes):
        evals, u = eigh(v.mT @ v)  # (n, b), (n, b, b); b <= 32: one batched call on a GPU
        floor = evals[:, -1:].clamp_min(torch.finfo(v.dtype).tiny) * (v.shape[-1] * eps)
        inv = torch.where(evals > floor, evals.clamp_min(torch.finfo(v.dtype).tiny).rsqrt(), 0)
        v = v @ (u * inv.unsqueeze(-2))
    return v


def _householder(x: Tensor) -> tuple[Tensor, Tensor]:
    """Unit v and alpha with (I - 2 v v^T) x = alpha e_1, per row of x (n, m).

    A zero x gives v = 0 and alpha = 0 (the identity).
    """
    x0 = x[:, 0]
    norm = x.norm(dim=1)
    alpha = -torch.where(x0 < 0, -norm, norm)  # opposite sign to x0: no cancellation
    v = x.clone()
    v[:, 0] = x0 - alpha
    v = v / v.norm(dim=1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
    return v, alpha


def tridiagonalize(a: Tensor, *, panel: int = 32) -> tuple[Tensor, Tensor]:
    """Householder reduction of symmetric matrices to tridiagonal form, batched.

    Blocked as in LAPACK's ``sytrd``: within a panel of ``panel`` columns the
    reflectors are only accumulated (V, W, with the trailing matrix's pending
    update A - V W^T - W V^T); each column costs one matrix-vector product with
    the trailing matrix, and each panel ends with one rank-2*panel update. The
    eigenvalues of the result are those of ``a`` to about eps * ||a||.

    Args:
        a: (n, r, r) symmetric (only read).

    Returns:
        diagonal (n, r) and off-diagonal (n, r - 1).
    """
    a = a.clone()
    n, r, _ = a.shape
    diag = a.new_empty(n, r)
    off = a.new_empty(n, max(r - 1, 0))
    for j0 in range(0, r - 1, panel):
        nb = min(panel, r - 1 - j0)
        m = r - j0
        vs = a.new_zeros(n, m, nb)  # reflectors, rows j0.. of the panel's trailing block
        ws = a.new_zeros(n, m, nb)
        for c in range(nb):
            j = j0 + c
            col = a[:, j:, j]
            if c:
                col = col - (vs[:, c:, :c] @ ws[:, c, :c, None]).squeeze(-1)
                col = col - (ws[:, c:, :c] @ vs[:, c, :c, None]).squeeze(-1)
            diag[:, j] = col[:, 0]
            v, alpha = _householder(col[:, 1:])
            off[:, j] = alpha
            p = (a[:, j + 1 :, j + 1 :] @ v.unsqueeze(-1)).squeeze(-1)
            if c:
                vt, wt = vs[:, c + 1 :, :c], ws[:, c + 1 :, :c]
                p = p - (vt @ (wt.mT @ v.unsqueeze(-1))).squeeze(-1)
                p = p - (wt @ (vt.mT @ v.unsqueeze(-1))).squeeze(-1)
            k = (v * p).sum(dim=1, keepdim=True)
            vs[:, c + 1 :, c] = v
            ws[:, c + 1 :, c] = 2 * p - 2 * k * v
        vt, wt = vs[:, nb:], ws[:, nb:]
        trailing = a[:, j0 + nb :, j0 + nb :]
        trailing.baddbmm_(vt, wt.mT, alpha=-1).baddbmm_(wt, vt.mT, alpha=-1)
    diag[:, r - 1] = a[:, r - 1, r - 1]
    return diag, off


def tridiagonal_eigvalsh(d: Tensor, e: Tensor, *, steps: int | None = None) -> Tensor:
    """Every eigenvalue of symmetric tridiagonal matrices, by bisection on Sturm counts.

    For a shift s, the number of negative q_i in q_0 = d_0 - s,
    q_i = d_i - s - e_{i-1}^2 / q_{i-1} is the number of eigenvalues below s.
    All r eigenvalues of all n matrices are bisected at once from the
    Gershgorin interval, a fixed number of steps (the dtype's mantissa bits
    plus the bits of the interval's width in units of its largest end), so
    nothing depends on the data's values. IEEE division makes the recurrence
    safe through q_i = 0 (Demmel, Dhillon & Ren, 1995); e_i = 0 is replaced
    by the smallest normal number, a perturbation far below the result's error.

    Args:
        d: (n, r) diagonal, e: (n, r - 1) off-diagonal.
        steps: bisection steps (default from the dtype).

    Returns:
        (n, r) eigenvalues, ascending, each to about eps * max|lambda|.
    """
    n, r = d.shape
    info = torch.finfo(d.dtype)
    e2 = (e * e).clamp_min(info.tiny)
    radius = torch.zeros_like(d)
    radius[:, 1:] += e.abs()
    radius[:, :-1] += e.abs()
    lo = (d - radius).amin(dim=1, keepdim=True)
    hi = (d + radius).amax(dim=1, keepdim=True)
    width = (hi - lo).clamp_min(info.tiny)
    lo, hi = lo - 1e-3 * width, hi + 1e-3 * width  # strictly outside the spectrum
    lo, hi = lo.expand(n, r).contiguous(), hi.expand(n, r).contiguous()
    target = torch.arange(r, device=d.device)  # the k-th smallest for column k
    # rows of q are the recurrence's index i: each step of the loop is one contiguous slice
    q = torch.empty((r, n, r), dtype=d.dtype, device=d.device)
    e2t = e2.T.unsqueeze(-1).contiguous()  # (r - 1, n, 1)
    dt = d.T.unsqueeze(-1)  # (r, n, 1)
    if steps is None:
        steps = {torch.float64: 60, torch.float32: 32}.get(d.dtype, 16) + 4
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        torch.sub(dt, mid.unsqueeze(0), out=q)
        for i in range(1, r):
            torch.addcdiv(q[i], e2t[i - 1], q[i - 1], value=-1, out=q[i])
        below = (q < 0).sum(dim=0)  # (n, r): eigenvalues below each shift
        up = below > target
        hi = torch.where(up, mid, hi)
        lo = torch.where(up, lo, mid)
    return 0.5 * (lo + hi)
