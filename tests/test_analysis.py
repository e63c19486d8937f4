"""The analysis engine against independent references: float64 numpy SVD of autograd
Jacobians, scipy's subspace angles, SAT's definition, and a linear encoder's exact
contraction ratio."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import scipy.linalg
import torch
from click.testing import CliRunner

from manifold_cae import (
    Autoencoder,
    ConfigError,
    DataError,
    ModelConfig,
    ObjectiveConfig,
    TrainConfig,
    load_dataset,
    make_run_config,
    train_dataset,
)
from manifold_cae.analysis import (
    FactoredJacobian,
    analyze,
    contraction_curve,
    full_spectrum,
    local_pca_tangents,
    principal_angles,
    saturation,
    top_singular,
)
from manifold_cae.analysis.metrics import AngleSummary, ContractionSummary
from manifold_cae.cli import main
from manifold_cae.config import AnalysisConfig
from manifold_cae.report import load_analysis, report_markdown

CASES = [
    ((12,), "sigmoid", 10),
    ((7,), "tanh", 10),  # d_h < d_x: the J J^T Gram route
    ((9, 6), "sigmoid", 10),
    ((8, 11), "tanh", 10),
    ((16,), "softplus", 6),
]


def make_model(hidden, activation, d_x, seed, *, scale=1.0, dtype=torch.float64) -> Autoencoder:
    gen = torch.Generator().manual_seed(seed)
    model = Autoencoder(ModelConfig(d_x, hidden, activation), generator=gen, dtype=dtype)
    with torch.no_grad():
        for w, b in zip(model.enc_weights, model.enc_biases, strict=True):
            w.mul_(scale)
            b.copy_(torch.randn(b.shape, generator=gen, dtype=dtype) * scale)
    return model


def reference_svd(model: Autoencoder, x: torch.Tensor):
    """float64 numpy SVD of torch.autograd Jacobians, one point at a time."""
    m64 = Autoencoder(model.config, dtype=torch.float64)
    m64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    jacs = np.stack(
        [torch.autograd.functional.jacobian(m64.encode, xi.double()).numpy() for xi in x]
    )
    _, s, vt = np.linalg.svd(jacs)
    return s, vt


@pytest.mark.parametrize(("hidden", "activation", "d_x"), CASES)
@pytest.mark.parametrize("scale", [1.0, 6.0])  # 6.0 saturates most units
@pytest.mark.parametrize(
    ("exact", "method"), [(False, "lapack"), (False, "tridiagonal"), (True, "auto")]
)
def test_full_spectrum_matches_numpy_svd(hidden, activation, d_x, scale, exact, method, seed):
    model = make_model(hidden, activation, d_x, seed, scale=scale)
    x = torch.randn(9, d_x, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    s_ref, _ = reference_svd(model, x)
    s = full_spectrum(FactoredJacobian(model, x), exact=exact, method=method).numpy()
    assert s.shape == s_ref.shape
    assert np.all(np.diff(s, axis=1) <= 1e-12), "singular values must be descending"
    # The Gram route's documented trade-off: absolute error ~ sqrt(eps) * sigma_1, so a
    # (near-)zero singular value comes back as ~1e-8 * sigma_1 in float64.
    floor = (1e-7 if not exact else 1e-12) * s_ref.max()
    np.testing.assert_allclose(s, s_ref, rtol=1e-6, atol=floor)


def test_saturated_case_really_saturates(seed):
    model = make_model((12,), "sigmoid", 10, seed, scale=6.0)
    x = torch.randn(50, 10, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    h = model.encode(x)
    assert ((h < 0.01) | (h > 0.99)).double().mean() > 0.5


@pytest.mark.parametrize(("hidden", "activation", "d_x"), CASES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("orth", ["qr", "gram"])  # gram: the GPU route, run here on the CPU
def test_top_k_matches_numpy_svd(hidden, activation, d_x, dtype, orth, seed):
    k = 3
    model = make_model(hidden, activation, d_x, seed, scale=2.0, dtype=dtype)
    x = torch.randn(16, d_x, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    s_ref, vt_ref = reference_svd(model, x)
    gen = torch.Generator().manual_seed(seed)
    top = top_singular(FactoredJacobian(model, x), k, generator=gen, orth=orth, ritz="host")
    rtol = 1e-4
    np.testing.assert_allclose(top.values.double().numpy(), s_ref[:, :k], rtol=rtol)
    gap = s_ref[:, k - 1] / s_ref[:, k]
    for i in range(len(x)):
        if gap[i] < 1.01:  # no well-defined subspace to compare
            continue
        angle = scipy.linalg.subspace_angles(top.vectors[i].double().numpy(), vt_ref[i, :k].T).max()
        assert angle < 1e-3, f"point {i}: subspace angle {angle} rad"
    # the sign convention: largest-magnitude entry of each vector positive
    v = top.vectors.double()
    idx = v.abs().argmax(dim=1, keepdim=True)
    assert (torch.gather(v, 1, idx) > 0).all()


def test_top_k_of_a_low_rank_jacobian_is_its_svd(seed):
    """d_h = 20 << d_x = 200: the Krylov space (8 blocks of 7) would span the whole row
    space, so the SVD of J (20 x 200) is taken directly; it must equal the reference."""
    model = make_model((20,), "sigmoid", 200, seed, scale=2.0)
    x = torch.randn(5, 200, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    top = top_singular(FactoredJacobian(model, x), 3, generator=torch.Generator().manual_seed(0))
    assert top.dense_fallback.all() and (top.residual == 0).all()
    s_ref, vt_ref = reference_svd(model, x)
    np.testing.assert_allclose(top.values.numpy(), s_ref[:, :3], rtol=1e-10)
    for i in range(len(x)):
        angle = scipy.linalg.subspace_angles(top.vectors[i].numpy(), vt_ref[i, :3].T).max()
        assert angle < 1e-8, f"point {i}: subspace angle {angle} rad"


def test_top_k_fallback_kicks_in_without_convergence(seed):
    model = make_model((30,), "sigmoid", 25, seed)
    x = torch.randn(6, 25, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    op = FactoredJacobian(model, x)
    top = top_singular(op, 4, generator=torch.Generator().manual_seed(0), n_blocks=1, tol=0.0)
    assert top.dense_fallback.all()
    s_ref, _ = reference_svd(model, x)
    np.testing.assert_allclose(top.values.numpy(), s_ref[:, :4], rtol=1e-10)


def test_principal_angles_match_scipy(seed):
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(20, 9, 3, generator=gen, dtype=torch.float64)
    b = a + 1e-4 * torch.randn(20, 9, 3, generator=gen, dtype=torch.float64)  # tiny angles
    b[10:] = torch.randn(10, 9, 3, generator=gen, dtype=torch.float64)  # large angles
    ours = principal_angles(a, b).numpy()
    ref = np.stack([scipy.linalg.subspace_angles(a[i].numpy(), b[i].numpy()) for i in range(20)])
    np.testing.assert_allclose(ours, ref, atol=1e-10)


def test_local_pca_recovers_a_plane(seed):
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(6, 2)))[0]  # a 2-plane in R^6
    pts = rng.normal(size=(4, 30, 2)) @ basis.T
    t = local_pca_tangents(pts, 2)
    ang = principal_angles(t, torch.as_tensor(basis).expand(4, 6, 2))
    assert ang.max() < 1e-8


def test_saturation_matches_definition():
    h = torch.tensor([[0.01, 0.5, 0.96, 0.2], [0.049, 0.051, 0.949, 0.951]])
    a = torch.logit(h)
    s = saturation("sigmoid", a, h)
    # row 0: 0.01 and 0.96 saturated; row 1: 0.049 and 0.951 saturated
    np.testing.assert_allclose(s.per_point.numpy(), [0.5, 0.5])
    np.testing.assert_allclose(s.per_unit.numpy(), [1.0, 0.0, 0.5, 0.5])
    assert s.mean_fraction == pytest.approx(0.5)
    # tanh: (h + 1) / 2 on the unit interval, so |h| > 0.9 is saturated
    ht = torch.tensor([[0.95, -0.95, 0.5, 0.89]])
    st = saturation("tanh", torch.atanh(ht), ht)
    np.testing.assert_allclose(st.per_unit.numpy(), [1, 1, 0, 0])
    # relu: only the flat side counts
    ar = torch.tensor([[-1.0, 0.0, 2.0, 50.0]])
    sr = saturation("relu", ar, torch.relu(ar))
    np.testing.assert_allclose(sr.per_unit.numpy(), [1, 1, 0, 0])


def test_contraction_of_linear_encoder_equals_its_scale(seed):
    """h = c Q x with orthonormal Q: every ratio equals c, at every radius."""
    d_x, d_h, c = 5, 8, 0.37
    model = Autoencoder(ModelConfig(d_x, (d_h,), "linear", "linear"), dtype=torch.float64)
    q = torch.linalg.qr(
        torch.randn(d_h, d_x, generator=torch.Generator().manual_seed(seed)).double()
    ).Q
    with torch.no_grad():
        model.enc_weights[0].copy_(c * q)
    x0 = torch.randn(40, d_x, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    curve = contraction_curve(
        model, x0, np.geomspace(1e-3, 10, 6), generator=torch.Generator().manual_seed(1)
    )
    np.testing.assert_allclose(curve.ratios, c, rtol=1e-10)
    assert curve.local_ratio == pytest.approx(c, rel=1e-10)


def test_contraction_small_radius_approaches_jacobian_value(seed):
    model = make_model((12,), "sigmoid", 6, seed, scale=2.0)
    x0 = torch.randn(30, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    radii = np.array([1e-1, 1e-3, 1e-5])
    curve = contraction_curve(model, x0, radii, generator=torch.Generator().manual_seed(1))
    err = np.abs(curve.ratios - curve.local_ratio) / curve.local_ratio
    assert err[-1] < 1e-3
    assert err[-1] < err[0]


@pytest.fixture(scope="module")
def sphere_model():
    ds = load_dataset("sphere:n_samples=400,noise=0.01", seed=0)
    cfg = make_run_config(
        ds,
        hidden=(32,),
        objective=ObjectiveConfig(kind="cae", lam=0.1),
        training=TrainConfig(epochs=5, batch_size=64, held_out=0.0),
    )
    return ds, train_dataset(ds, cfg, progress=False).model


def test_streaming_equals_one_batch(sphere_model):
    ds, model = sphere_model
    kwargs = dict(points=150, store_points=20, contraction_points=50, seed=3)
    small = analyze(
        model, ds.X, tangents=ds.tangents, config=AnalysisConfig(chunk_size=7, **kwargs)
    )
    big = analyze(
        model, ds.X, tangents=ds.tangents, config=AnalysisConfig(chunk_size=500, **kwargs)
    )
    np.testing.assert_array_equal(small.indices, big.indices)
    for name, column in small.columns.items():
        np.testing.assert_allclose(column, big.columns[name], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        small.arrays["singular_values"], big.arrays["singular_values"], rtol=1e-5, atol=1e-7
    )
    for name in ("spectrum", "saturation"):
        a, b = getattr(small.summary, name), getattr(big.summary, name)
        np.testing.assert_allclose(
            a.mean if name == "spectrum" else a.per_unit,
            b.mean if name == "spectrum" else b.per_unit,
            rtol=1e-5, atol=1e-7,
        )  # fmt: skip
    np.testing.assert_allclose(
        np.abs(small.arrays["tangents"]), np.abs(big.arrays["tangents"]), atol=1e-4
    )
    assert small.summary.count.histogram == big.summary.count.histogram


def test_analyze_counts_and_norms_match_reference(sphere_model):
    ds, model = sphere_model
    res = analyze(model, ds.X, config=AnalysisConfig(points=40, store_points=40, threshold=0.3))
    x = torch.as_tensor(ds.X[res.indices])
    s_ref, _ = reference_svd(model, x)
    np.testing.assert_allclose(res.arrays["singular_values"], s_ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(res.columns["count_above_threshold"], (s_ref > 0.3).sum(1))
    np.testing.assert_allclose(res.columns["frobenius_norm"], np.sqrt((s_ref**2).sum(1)), rtol=1e-5)
    np.testing.assert_allclose(res.columns["spectral_norm"], s_ref[:, 0], rtol=1e-5)
    np.testing.assert_allclose(res.summary.spectrum.mean, s_ref.mean(0), rtol=1e-4)
    # quantiles from the histograms: within their 1% resolution of numpy's
    np.testing.assert_allclose(res.summary.spectrum.q50, np.quantile(s_ref, 0.5, axis=0), rtol=0.03)


def test_well_trained_cae_finds_the_circle_tangent():
    # Seed 0 of this setting gives a median angle of about 3 degrees (local PCA: 20, as
    # the noise fills 8 normal directions). Not every seed trains this well: seed 2 of
    # the same setting stalls at about 21 degrees, so the seed is pinned here.
    ds = load_dataset("circle:n_samples=1000,noise=0.02,ambient_dim=10", seed=0)
    cfg = make_run_config(
        ds,
        hidden=(64,),
        objective=ObjectiveConfig(kind="cae", lam=0.1),
        training=TrainConfig(epochs=300, batch_size=64, lr=1e-2, held_out=0.1, seed=0),
    )
    model = train_dataset(ds, cfg, progress=False).model
    res = analyze(model, ds.X, tangents=ds.tangents, config=AnalysisConfig(points=300))
    cae, pca = res.columns["angle_cae_deg"], res.columns["angle_local_pca_deg"]
    assert np.median(cae) < 10.0, np.median(cae)
    assert np.median(cae) < np.median(pca)


def test_bad_inputs_give_clear_errors(sphere_model):
    ds, model = sphere_model
    with pytest.raises(DataError, match="features but the model"):
        analyze(model, np.zeros((5, 4), dtype=np.float32))
    with pytest.raises(ConfigError, match="top_k=4 exceeds"):
        analyze(model, ds.X, config=AnalysisConfig(top_k=4))
    with pytest.raises(DataError, match="2-D"):
        analyze(model, ds.X[0])
    with pytest.raises(ConfigError):
        AnalysisConfig(saturation_low=0.9, saturation_high=0.1)


def test_analyze_cli_writes_all_outputs(tmp_path):
    runner = CliRunner()
    run, out = tmp_path / "run", tmp_path / "an"
    spec = "swiss-roll:n_samples=300"
    r = runner.invoke(main, ["train", "--data", spec, "--hidden", "16", "--epochs", "2",
                             "--out", str(run), "-q"])  # fmt: skip
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["analyze", str(run), "--data", spec, "--out", str(out),
                             "--points", "100", "--store-points", "10", "-q"])  # fmt: skip
    assert r.exit_code == 0, r.output
    summary = load_analysis(out).summary
    assert json.loads((out / "summary.json").read_text())["n_points"] == summary.n_points == 100
    for key in ("mean", "q10", "q50", "q90"):
        assert len(getattr(summary.spectrum, key)) == 3
    assert sum(summary.count.histogram) == 100
    assert summary.angles.cae is not None and summary.angles.local_pca is not None
    assert len(summary.contraction.radii) == 20
    assert summary.provenance.data.spec == spec
    assert summary.provenance.checkpoint_epoch == 2
    lines = (out / "points.csv").read_text().splitlines()
    assert len(lines) == 101 and lines[0].startswith("index,sigma_1,sigma_2,")
    with np.load(out / "spectra.npz") as z:
        assert z["singular_values"].shape == (10, 3)
        assert z["tangents"].shape == (10, 2, 3)
        assert z["indices"].shape == (10,)
    assert "Singular-value report" in (out / "report.md").read_text()

    bad = runner.invoke(
        main, ["analyze", str(tmp_path / "nope"), "--data", spec, "--out", str(out)]
    )
    assert bad.exit_code == 1 and "no checkpoint" in bad.output
    bad = runner.invoke(main, ["analyze", str(run), "--data", "digits", "--out", str(out)])
    assert bad.exit_code == 1 and "64 features" in bad.output
    bad = runner.invoke(
        main, ["analyze", str(run), "--data", spec, "--top-k", "9", "--out", str(out)]
    )
    assert bad.exit_code == 2 and "top_k=9" in bad.output


@pytest.mark.parametrize(("hidden", "activation", "d_x"), CASES)
@pytest.mark.parametrize("scale", [1.0, 6.0])  # 6.0 saturates most units
def test_tangents_span_the_leading_right_singular_vectors(hidden, activation, d_x, scale, seed):
    """tangents(model, x, k) against float64 numpy SVD of autograd Jacobians."""
    from manifold_cae.analysis import tangents

    model = make_model(hidden, activation, d_x, seed, scale=scale)
    x = torch.randn(6, d_x, generator=torch.Generator().manual_seed(seed))
    k = 2
    t = tangents(model, x, k)
    s_ref, vt_ref = reference_svd(model, x)
    assert t.basis.shape == (6, d_x, k)
    np.testing.assert_allclose(t.singular_values.numpy(), s_ref[:, :k], rtol=1e-4, atol=1e-7)
    gap = s_ref[:, k - 1] > 1.05 * s_ref[:, k]  # the subspace is defined where there is a gap
    angles = principal_angles(t.basis.double(), torch.as_tensor(vt_ref[:, :k].swapaxes(1, 2)))
    assert float(angles[gap].max()) < 1e-3
    with pytest.raises(ConfigError, match="k must be in"):
        tangents(model, x, 0)
    with pytest.raises(DataError, match="shape"):
        tangents(model, x[:, :1], 1)


def test_what_cannot_be_measured_is_skipped_and_said(sphere_model):
    """Three rows and constant data: analyse what can be analysed, say what was skipped."""
    ds, model = sphere_model
    few = analyze(model, ds.X[:3], config=AnalysisConfig(top_k=3))
    assert few.summary.n_points == 3 and few.summary.norms.frobenius.mean > 0
    assert few.summary.section(AngleSummary) is None  # no truth, too few rows for local PCA
    assert any("tangent angles skipped" in n for n in few.summary.notes)
    same = np.repeat(ds.X[:1], 12, axis=0)
    flat = analyze(model, same, config=AnalysisConfig(top_k=2))
    assert flat.summary.section(ContractionSummary) is None
    assert any("contraction curve skipped" in n for n in flat.summary.notes)
    assert "Not measured: contraction curve skipped" in report_markdown(flat.summary)


def test_nan_weights_and_nan_rows_are_refused(sphere_model):
    ds, model = sphere_model
    X = ds.X.copy()
    X[7, 1] = np.nan
    with pytest.raises(DataError, match="data row 7 holds NaN"):
        analyze(model, X, reference=ds.X, config=AnalysisConfig(points=None))
    broken = copy.deepcopy(model)
    with torch.no_grad():
        broken.enc_weights[0][0, 0] = float("nan")
    with pytest.raises(DataError, match="weights hold NaN"):
        analyze(broken, ds.X)


def test_analyze_leaves_the_callers_model_alone(sphere_model):
    ds, model = sphere_model
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    analyze(model, ds.X, config=AnalysisConfig(points=20))
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("method", ["log-gap", "relative"])
def test_local_dimension_of_synthetic_spectra(method):
    from manifold_cae.analysis.dimension import local_dimension

    sigma = torch.tensor([[5.0, 4.0, 3.0, 0.02, 0.01], [2.0, 0.01, 0.009, 0.008, 0.001],
                          [1.0, 0.9, 0.8, 0.7, 0.6]])  # fmt: skip
    expected = [3, 1, 5] if method == "relative" else [3, 1, 4]  # the last has no gap
    assert local_dimension(sigma, method).tolist() == expected
    assert local_dimension(sigma * 1e-4, method).tolist() == expected  # scale-free
    assert local_dimension(sigma[:, :1], method).tolist() == [1, 1, 1]


def test_local_dimension_reads_rounding_below_the_resolution_as_zero():
    """The drops among singular values below 3 sqrt(eps) sigma_1 are rounding, not structure."""
    from manifold_cae.analysis.dimension import local_dimension, resolution

    assert resolution(torch.float32) == pytest.approx(1.04e-3, rel=0.01)
    assert resolution(torch.float64) == pytest.approx(4.47e-8, rel=0.01)
    sigma = torch.tensor([[1.0, 0.6, 0.3, 2e-4, 1e-7, 1e-12], [3.0, 2.0, 1e-5, 0.0, 0.0, 0.0]])
    assert local_dimension(sigma).tolist() == [3, 2]
    just_above = torch.tensor([[1.0, 0.5, 3e-3, 1e-9]])  # kept: above the float32 floor
    assert local_dimension(just_above).tolist() == [2]  # 0.5 -> 3e-3 is the largest drop left
    # float64 resolves far smaller values: these kept directions sit at 2 % of sigma_1
    small = torch.tensor([[1.0, 0.02, 0.015, 1e-6, 1e-7]], dtype=torch.float64)
    assert local_dimension(small).tolist() == [3]
    assert local_dimension(small.float()).tolist() == [1]  # float32 cannot tell 1e-6 from 0


def test_local_dimension_of_a_float32_rank_deficient_encoder():
    """A float32 model whose Jacobian has rank 4 of 12: the Gram route's tail is rounding."""
    d_x, d_h, rank = 12, 16, 4
    gen = torch.Generator().manual_seed(1)
    model = Autoencoder(ModelConfig(d_x, (d_h,), "sigmoid", output="linear"), generator=gen)
    with torch.no_grad():
        a, b = torch.randn(d_h, rank, generator=gen), torch.randn(rank, d_x, generator=gen)
        model.enc_weights[0].copy_(a @ b / 3)
    X = torch.randn(40, d_x, generator=gen).numpy()
    res = analyze(model, X, config=AnalysisConfig(top_k=4, full_spectrum=True))
    assert (res.columns["local_dimension"] == rank).all()


def test_local_dimension_of_a_linear_encoder_by_construction():
    """J = W for a linear encoder, so W's singular values set the spectrum exactly."""
    d_x, d_h, s = 8, 6, torch.tensor([4.0, 2.5, 1.5, 1e-3, 5e-4, 1e-4], dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(d_h, d_h, generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(d_x, d_h, generator=gen, dtype=torch.float64))
    for scale in (1.0, 1e-3):  # the count of sigma > 1 changes with scale; the dimension not
        model = Autoencoder(ModelConfig(d_x, (d_h,), "linear", output="linear"),
                            dtype=torch.float64, generator=gen)  # fmt: skip
        with torch.no_grad():
            model.enc_weights[0].copy_(scale * u @ torch.diag(s) @ v.T)
        X = torch.randn(30, d_x, generator=gen, dtype=torch.float64).numpy()
        res = analyze(model, X, config=AnalysisConfig(top_k=3))
        assert res.summary.dimension.median == 3 and res.summary.dimension.mean == 3
        assert (res.columns["local_dimension"] == 3).all()
        assert res.summary.count.median == (3 if scale == 1.0 else 0)
        auto = analyze(model, X)  # no --top-k and no truth: k from the local dimension
        assert auto.summary.spectrum.top_k == 3 and auto.arrays["tangents"].shape[1] == 3
        assert any("median local dimension" in n for n in auto.summary.notes)


def test_top_k_mode_without_top_k_picks_k_from_the_pilot(sphere_model):
    """--no-full-spectrum without --top-k: the pilot's k comes from the top values."""
    ds, model = sphere_model
    res = analyze(model, ds.X, config=AnalysisConfig(points=30, full_spectrum=False))
    assert 1 <= res.summary.spectrum.top_k <= 3
    assert res.summary.dimension.capped_at_top_k
