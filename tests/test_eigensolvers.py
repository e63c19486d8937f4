"""The batched (GPU) routes of the analysis, run on the CPU against independent references.

Each route is checked against LAPACK in float64 (numpy / scipy), and the whole
``analyze`` with every batched route switched on against the CPU defaults. The
tests marked ``cuda`` run the same comparisons on a GPU where one is present.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from manifold_cae import Autoencoder, ModelConfig, analyze
from manifold_cae.analysis import eigensolvers
from manifold_cae.analysis.eigensolvers import (
    eigh,
    eigvalsh,
    gram_orthonormalize,
    tridiagonal_eigvalsh,
    tridiagonalize,
)
from manifold_cae.analysis.engine import CPU_CHUNK, resolve_chunk_size
from manifold_cae.analysis.local_pca import NeighbourIndex, local_pca_tangents, principal_angles
from manifold_cae.config import AnalysisConfig
from manifold_cae.data import load_dataset

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _symmetric(n: int, r: int, gen: torch.Generator) -> torch.Tensor:
    a = torch.randn(n, r, r, generator=gen, dtype=torch.float64)
    return a + a.mT


@pytest.mark.parametrize("r", [1, 2, 3, 17, 70])
@pytest.mark.parametrize("panel", [4, 32])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_tridiagonal_eigenvalues_match_lapack(r, panel, dtype, generator):
    a = _symmetric(5, r, generator)
    if r > 3:  # a rank-2 matrix: the reduction meets zero columns
        a[1] = 0
        a[1, :2, :2] = torch.tensor([[1.0, 2.0], [2.0, 5.0]], dtype=torch.float64)
    ref = np.linalg.eigvalsh(a.numpy())
    d, e = tridiagonalize(a.to(dtype), panel=panel)
    got = tridiagonal_eigvalsh(d, e).double().numpy()
    tol = 50 * r * torch.finfo(dtype).eps * np.abs(ref).max(axis=1, keepdims=True)
    assert np.all(np.abs(got - ref) <= tol)
    assert np.all(np.diff(got, axis=1) >= 0), "eigenvalues must be ascending"


def test_tridiagonal_route_on_zero_and_diagonal_matrices():
    zero = torch.zeros(2, 6, 6)
    np.testing.assert_allclose(eigvalsh(zero, "tridiagonal").numpy(), 0.0, atol=1e-30)
    diag = torch.diag_embed(torch.tensor([[3.0, -1.0, 2.0, 0.0]], dtype=torch.float64))
    got = eigvalsh(diag, "tridiagonal").numpy()
    np.testing.assert_allclose(got, [[-1.0, 0.0, 2.0, 3.0]], atol=1e-15)


def test_gram_route_matches_lapack_on_a_saturated_jacobian(generator):
    """Gram of J = D W with most sigmoid units saturated: eigenvalues span many decades."""
    w = torch.randn(60, 40, generator=generator, dtype=torch.float64) * 3
    h = torch.sigmoid(torch.randn(8, 60, generator=generator, dtype=torch.float64) * 8)
    assert ((h < 0.01) | (h > 0.99)).double().mean() > 0.5, "the units must saturate"
    s = h * (1 - h)
    gram = (w.T * s.square().unsqueeze(1)) @ w  # (8, 40, 40) = J^T J
    ref = np.linalg.eigvalsh(gram.numpy())
    for dtype in (torch.float64, torch.float32):
        got = eigvalsh(gram.to(dtype), "tridiagonal").double().numpy()
        tol = 200 * torch.finfo(dtype).eps * ref.max(axis=1, keepdims=True)
        assert np.all(np.abs(got - ref) <= tol)


def test_eigh_routes_agree(generator):
    a = _symmetric(6, 40, generator)
    ref_w, ref_v = np.linalg.eigh(a.numpy())
    for method in ("lapack", "host", "auto"):
        w, v = eigh(a, method)
        np.testing.assert_allclose(w.numpy(), ref_w, atol=1e-10)
        overlap = np.abs(np.einsum("nij,nij->nj", v.numpy(), ref_v))  # same vectors up to sign
        np.testing.assert_allclose(overlap, 1.0, atol=1e-8)


def test_gram_orthonormalize_spans_and_drops_dependent_columns(generator):
    v = torch.randn(4, 50, 6, generator=generator, dtype=torch.float64)
    v[:, :, 5] = 2 * v[:, :, 1] - v[:, :, 0]  # rank 5
    q = gram_orthonormalize(v)
    norms = q.norm(dim=1)
    live = norms > 0.5
    assert (live.sum(dim=1) == 5).all(), "the dependent direction must come back as a zero column"
    np.testing.assert_allclose(norms[~live].numpy(), 0.0, atol=1e-12)
    gram = q.mT @ q
    np.testing.assert_allclose(gram.numpy(), torch.diag_embed(live.double()).numpy(), atol=1e-12)
    inside = v - q @ (q.mT @ v)  # v lies in span(q)
    assert inside.norm() / v.norm() < 1e-12


@pytest.mark.parametrize(("k1", "k2"), [(3, 3), (2, 4), (4, 2), (1, 1)])
def test_principal_angles_by_gram_match_scipy(k1, k2, generator):
    a = torch.randn(6, 20, k1, generator=generator, dtype=torch.float64)
    b = torch.randn(6, 20, k2, generator=generator, dtype=torch.float64)
    k = min(k1, k2)  # point 1: tiny angles, where arccos alone loses accuracy
    b[1, :, :k] = a[1, :, :k] + 1e-7 * torch.randn(20, k, generator=generator, dtype=torch.float64)
    ref = np.stack(
        [np.sort(scipy.linalg.subspace_angles(a[i].numpy(), b[i].numpy()))[::-1] for i in range(6)]
    )
    for method in ("svd", "gram"):
        np.testing.assert_allclose(principal_angles(a, b, method).numpy(), ref, atol=1e-12)


def test_neighbours_by_gemm_equal_scikit_learn(monkeypatch, generator):
    ref = torch.randn(300, 12, generator=generator, dtype=torch.float64).numpy()
    query = torch.randn(25, 12, generator=generator, dtype=torch.float64).numpy()
    want = NeighbourIndex(ref).neighbourhoods(query, 9)
    monkeypatch.setattr("manifold_cae.analysis.local_pca._REFERENCE_BLOCK", 64)  # several blocks
    monkeypatch.setattr(eigensolvers, "batched_routes", lambda device: True)
    monkeypatch.setattr("manifold_cae.analysis.local_pca.batched_routes", lambda device: True)
    got = NeighbourIndex(ref).neighbourhoods(query, 9)
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_local_pca_by_gram_spans_what_svd_spans(generator):
    hood = torch.randn(10, 20, 15, generator=generator, dtype=torch.float64)
    hood[:, :, :3] *= 10  # three dominant directions
    a, b = local_pca_tangents(hood, 3, "svd"), local_pca_tangents(hood, 3, "gram")
    assert principal_angles(a, b).max() < 1e-10
    eye = np.broadcast_to(np.eye(3), (10, 3, 3))
    np.testing.assert_allclose((b.mT @ b).numpy(), eye, atol=1e-12)


def test_chunk_size_resolution():
    model = Autoencoder(ModelConfig(5, (4,)))
    assert resolve_chunk_size(None, model, torch.device("cpu")) == CPU_CHUNK
    assert resolve_chunk_size(17, model, torch.device("cpu")) == 17


def _sphere_analysis(config: AnalysisConfig):
    ds = load_dataset("sphere:n_samples=300,ambient_dim=6,noise=0.01")
    gen = torch.Generator().manual_seed(0)
    model = Autoencoder(ModelConfig(6, (40,), "sigmoid"), generator=gen)
    with torch.no_grad():
        model.enc_weights[0].mul_(4)  # spread the units over the sigmoid's range
    return analyze(model, ds.X, tangents=ds.tangents, config=config, progress=False)


def test_analyze_with_every_batched_route_equals_the_cpu_routes(monkeypatch):
    """The GPU code path, run on the CPU, gives the CPU path's numbers."""
    config = AnalysisConfig(
        points=120, chunk_size=50, store_points=30, contraction_points=60, device="cpu"
    )
    want = _sphere_analysis(config)
    for module in ("eigensolvers", "spectra", "local_pca"):
        monkeypatch.setattr(f"manifold_cae.analysis.{module}.batched_routes", lambda d: True)
    got = _sphere_analysis(config)
    for name, column in want.columns.items():
        np.testing.assert_allclose(got.columns[name], column, rtol=1e-4, atol=1e-4, err_msg=name)
    np.testing.assert_allclose(
        got.arrays["singular_values"], want.arrays["singular_values"], rtol=1e-4, atol=1e-6
    )
    assert got.summary.saturation.activation_counts == want.summary.saturation.activation_counts
    np.testing.assert_allclose(got.summary.contraction.ratios, want.summary.contraction.ratios)


@cuda
def test_analyze_on_cuda_matches_cpu():
    config = AnalysisConfig(
        points=120, chunk_size=50, store_points=30, contraction_points=60, device="cpu"
    )
    want = _sphere_analysis(config)
    got = _sphere_analysis(AnalysisConfig(**{**vars(config), "device": "cuda"}))
    for name in ("count_above_threshold", "local_dimension", "saturation"):
        np.testing.assert_allclose(got.columns[name], want.columns[name], rtol=1e-3, atol=1e-3)
    # the angles depend on random Krylov starts only through round-off
    np.testing.assert_allclose(
        got.columns["angle_cae_deg"], want.columns["angle_cae_deg"], rtol=1e-3, atol=1e-2
    )


@cuda
def test_cuda_routes_match_lapack(generator):
    a = _symmetric(64, 100, generator)
    ref = np.linalg.eigvalsh(a.numpy())
    got = eigvalsh(a.float().cuda()).double().cpu().numpy()
    assert np.abs(got - ref).max() < 1e-4 * np.abs(ref).max()
    assert resolve_chunk_size(None, Autoencoder(ModelConfig(5, (4,))), torch.device("cuda")) >= 64
    from manifold_cae.device import resolve_device

    assert resolve_device("auto").type == "cuda"


def test_lapack_routes_retry_in_float64_when_float32_fails(monkeypatch):
    """A nearly singular float32 Gram matrix made LAPACK fail and the analysis crash."""
    real_eigvalsh, real_eigh = torch.linalg.eigvalsh, torch.linalg.eigh

    def fails_in_float32(real):  # type: ignore[no-untyped-def]
        def fn(a):  # type: ignore[no-untyped-def]
            if a.dtype == torch.float32:
                raise torch.linalg.LinAlgError("linalg.eigh: failed to converge")
            return real(a)

        return fn

    monkeypatch.setattr(torch.linalg, "eigvalsh", fails_in_float32(real_eigvalsh))
    monkeypatch.setattr(torch.linalg, "eigh", fails_in_float32(real_eigh))
    g = torch.randn(6, 4, 4, generator=torch.Generator().manual_seed(0))
    a = g @ g.mT
    want = np.linalg.eigvalsh(a.double().numpy())
    for method in ("lapack", "host"):
        got = eigvalsh(a, method)
        assert got.dtype == torch.float32
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)
        w, v = eigh(a, method)
        assert w.dtype == v.dtype == torch.float32
        np.testing.assert_allclose(w.numpy(), want, rtol=1e-5)
