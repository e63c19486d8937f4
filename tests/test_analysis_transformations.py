"""analyze --transformations: the captured share of each image transformation's true tangent
by the model's and local PCA's tangents, against projections computed here, the CLI flag
end to end, the refusal of non-image data, and the row of true tangents in the figure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from matplotlib.figure import Figure

from manifold_cae import AnalysisConfig, Autoencoder, ConfigError, ModelConfig, analyze
from manifold_cae.analysis import TRANSFORMATIONS, transformation_tangents
from manifold_cae.cli import main
from manifold_cae.data import load_dataset
from manifold_cae.plots import draw_all, plot_tangent_images
from manifold_cae.plots import figures as figures_module
from manifold_cae.report import load_analysis

SHAPE = (7, 10)  # of the API tests' images: not square, so rows and columns cannot swap
D = 70


def share(basis_rows: np.ndarray, t: np.ndarray) -> np.ndarray:
    """||Q^T t||^2 / ||t||^2 for the span of ``basis_rows`` (k, d), by numpy's QR; t (n, d)."""
    q = np.linalg.qr(basis_rows.T)[0]  # (d, k)
    return ((t @ q) ** 2).sum(-1) / (t**2).sum(-1)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """(60, 70) Gaussian blobs of random centre and width: the first is the analysed point,
    all of them local PCA's reference."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]].astype(np.float64)
    centre = rng.uniform((2.5, 3.5), (3.5, 5.5), size=(60, 2))
    width = rng.uniform(1.2, 2.0, size=(60, 1, 1))
    r2 = (y - centre[:, 0, None, None]) ** 2 + (x - centre[:, 1, None, None]) ** 2
    return np.exp(-r2 / (2 * width**2)).reshape(60, D)


def linear_encoder(rows: np.ndarray, values: list[float]) -> Autoencoder:
    """h = diag(values) Q^T x with Q an orthonormal basis of ``rows`` (k, d): J = that matrix,
    its right singular vectors span ``rows``, its singular values are ``values``."""
    q = np.linalg.qr(rows.T)[0]  # (d, k)
    model = Autoencoder(
        ModelConfig(D, (len(values),), "linear", "linear", input_scaling="none"),
        dtype=torch.float64,
    )
    with torch.no_grad():
        model.enc_weights[0].copy_(torch.from_numpy(np.diag(values) @ q.T))
    return model


def run(model: Autoencoder, images: np.ndarray, top_k: int, neighbours: int = 12):
    config = AnalysisConfig(
        top_k=top_k, transformations=True, image_shape=SHAPE, pca_neighbors=neighbours,
        contraction_points=5, n_radii=2, device="cpu",
    )  # fmt: skip
    return analyze(model, images[:1], config=config, reference=images, progress=False)


@pytest.mark.parametrize(
    ("top_k", "neighbours"),
    [(1, 12), (2, 2)],  # k = min(top_k, neighbours - 1) = 1: the second tangent never counts
)
def test_a_basis_holding_the_rotation_tangent_captures_all_of_it(images, top_k, neighbours):
    true = transformation_tangents(images[:1], SHAPE)[0]  # (5, 70)
    rotation = true[TRANSFORMATIONS.index("rotation")]
    other = np.random.default_rng(0).standard_normal(D)  # a weaker second direction
    model = linear_encoder(np.stack([rotation, other]), [3.0, 1.0])
    res = run(model, images, top_k=top_k, neighbours=neighbours)
    t = res.summary.transformations
    assert t.k == 1 and t.chance == pytest.approx(1 / D) and t.kinds == list(TRANSFORMATIONS)
    assert t.cae["rotation"] == pytest.approx(1.0, abs=1e-9)
    want = share(rotation[None], true)  # the others: cos^2 of their angle to the rotation
    for kind, w in zip(TRANSFORMATIONS, want, strict=True):
        assert t.cae[kind] == pytest.approx(w, abs=1e-9), kind
        assert res.columns[f"captured_{kind}_cae"][0] == pytest.approx(w, abs=1e-9)
    assert want.min() < 0.9  # the test can tell the kinds apart
    # local PCA against the projection on its stored basis
    pca = res.arrays["pca_tangents"][0]  # (k, d)
    for kind, w in zip(TRANSFORMATIONS, share(pca, true), strict=True):
        assert t.local_pca[kind] == pytest.approx(w, abs=1e-9), kind


def test_the_span_of_all_five_tangents_captures_each_of_them(images):
    true = transformation_tangents(images[:1], SHAPE)[0]
    res = run(linear_encoder(true, [5.0, 4.0, 3.0, 2.0, 1.0]), images, top_k=5)
    t = res.summary.transformations
    assert t.chance == pytest.approx(5 / D)
    for kind in TRANSFORMATIONS:
        assert t.cae[kind] == pytest.approx(1.0, abs=1e-9), kind
        assert 0 <= t.local_pca[kind] <= 1


def test_the_api_needs_an_image_shape_that_fits(images):
    model = linear_encoder(images[1:3], [2.0, 1.0])
    with pytest.raises(ConfigError, match=r"image data.*image_shape=\(height, width\)"):
        analyze(model, images, config=AnalysisConfig(transformations=True), progress=False)
    with pytest.raises(ConfigError, match=r"image_shape \(5, 7\) holds 35 pixels.*70 features"):
        config = AnalysisConfig(transformations=True, image_shape=(5, 7))
        analyze(model, images, config=config, progress=False)
    with pytest.raises(ConfigError, match="image_shape must be"):
        AnalysisConfig(image_shape=(64,))


# ------------------------------------------------------------------ the CLI


def invoke(*args) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A one-epoch digits run, analysed with --transformations on its held-out split."""
    tmp = tmp_path_factory.mktemp("transformations")
    result = invoke("train", "--data", "digits", "--epochs", 1, "--hidden", 8, "--seed", 0,
                    "--lam", 0.1, "--out", tmp / "run", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    result = invoke(
        "analyze", tmp / "run", "--data", "digits", "--split", "held-out", "--transformations",
        "--points", 24, "--top-k", 3, "--store-points", 4, "--contraction-points", 5,
        "--n-radii", 2, "--out", tmp / "an", "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return {"run": tmp / "run", "an": tmp / "an", "tmp": tmp}


def test_analyze_run_takes_the_image_shape_from_the_data(analysed):
    from manifold_cae.runs import analyze_run

    config = AnalysisConfig(points=12, top_k=2, transformations=True, store_points=2,
                            contraction_points=4, n_radii=2)  # fmt: skip
    result = analyze_run(analysed["run"], "digits", which="held-out", config=config)
    t = result.summary.transformations
    assert t is not None and t.k == 2 and set(t.cae) == set(TRANSFORMATIONS)


def test_cli_writes_the_transformation_section(analysed):
    summary = json.loads((analysed["an"] / "summary.json").read_text())
    t = summary["transformations"]
    assert t["kinds"] == list(TRANSFORMATIONS) and t["k"] == 3
    assert t["chance"] == pytest.approx(3 / 64) and t["eps"] > 0
    for basis in ("cae", "local_pca"):
        assert list(t[basis]) == list(TRANSFORMATIONS)
        assert all(0 <= v <= 1 for v in t[basis].values()), t[basis]
    assert summary["provenance"]["analysis"]["image_shape"] == [8, 8]
    d = load_analysis(analysed["an"])
    for kind in TRANSFORMATIONS:
        column = d.points[f"captured_{kind}_cae"]
        assert len(column) == 24 and np.nanmean(column) == pytest.approx(t["cae"][kind], rel=1e-6)
    report = (analysed["an"] / "report.md").read_text()
    assert "## Transformation tangents" in report and "| rotation |" in report


@pytest.mark.parametrize("spec", ["swiss-roll", "file"])
def test_cli_refuses_data_that_are_not_images(analysed, spec):
    if spec == "file":  # the digits themselves, as a file: no image shape of its own
        spec = analysed["tmp"] / "digits.npy"
        np.save(spec, load_dataset("digits").X)
    out = analysed["tmp"] / "refused"
    result = invoke("analyze", analysed["run"], "--data", spec, "--transformations",
                    "--points", 8, "--out", out)  # fmt: skip
    assert result.exit_code == 2, result.output
    for fragment in ("--transformations needs image data", "digits, mnist5k, mnist:DIR",
                     "--image-shape H,W", repr(str(spec))):  # fmt: skip
        assert fragment in result.output
    assert not out.exists()


def test_cli_takes_the_shape_of_a_file_of_images(analysed):
    spec = analysed["tmp"] / "digits-file.npy"
    np.save(spec, load_dataset("digits").X)
    out = analysed["tmp"] / "file"
    result = invoke("analyze", analysed["run"], "--data", spec, "--transformations",
                    "--image-shape", "8,8", "--points", 8, "--top-k", 2, "--store-points", 2,
                    "--contraction-points", 5, "--n-radii", 2, "--out", out, "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert load_analysis(out).summary.transformations.k == 2
    wrong = invoke("analyze", analysed["run"], "--data", "digits", "--transformations",
                   "--image-shape", "4,16", "--out", out)  # fmt: skip
    assert wrong.exit_code == 2 and "whose images are 8,8" in wrong.output


# ------------------------------------------------------------------ the figure


def test_tangent_images_get_a_row_of_true_tangents(analysed):
    s = load_analysis(analysed["an"]).spectra
    inputs, k = s["inputs"][:3], 2
    true = transformation_tangents(inputs, (8, 8))
    fig = Figure()
    images = plot_tangent_images(
        fig, inputs, s["tangents"][:3], s["top_values"][:3], (8, 8),
        pca_tangents=s["pca_tangents"][:3], true_tangents=true, k=k,
    )  # fmt: skip
    columns = 1 + len(TRANSFORMATIONS)  # input + the five true tangents (more than k)
    assert len(fig.axes) == 3 * 3 * columns  # 3 points x (encoder, PCA, true) rows
    assert len(images) == 3 * ((1 + k) + (1 + k) + columns)  # unused axes hold no image
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels.count("true") == 3 and labels.count("encoder") == 3
    drawn = [im.get_array().ravel() for im in images if im.axes.get_ylabel() == ""]
    assert any(np.allclose(a, true[0, 0]) for a in drawn)  # the rotation tangent, unscaled


def test_draw_all_adds_the_true_row_for_an_analysis_with_transformations(analysed, tmp_path,
                                                                         monkeypatch):  # fmt: skip
    seen: dict[str, Figure] = {}
    save = figures_module.save

    def recording(fig: Figure, path: Path, **kw):
        seen[Path(path).stem] = fig
        return save(fig, path, **kw)

    monkeypatch.setattr(figures_module, "save", recording)
    draw_all([analysed["an"]], tmp_path, dpi=30, log=print)
    fig = seen["tangents_images_run"]  # labelled by the run dir
    n_points = len(fig.subfigs)
    assert n_points == 4  # the default draws 4 stored points
    assert len(fig.axes) == n_points * 3 * (1 + len(TRANSFORMATIONS))
    titles = [ax.get_title() for ax in fig.axes]
    assert sum(t.startswith("rotation\n") and t.endswith(" %") for t in titles) == n_points
    assert "true transformation tangents" in fig._suptitle.get_text()
    assert "seed 0" in fig._suptitle.get_text()
