"""Figures: every plot function draws what it returns (checked against the analysis files
it reads), skips non-finite points, and ``draw_all`` writes the figures that apply,
skipping the rest with a note instead of a traceback."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import StepPatch
from matplotlib.quiver import Quiver

from manifold_cae import plots
from manifold_cae.errors import ConfigError, DataError
from manifold_cae.plots import (
    MODEL_COLORS,
    SweepSeries,
    draw_all,
    draw_sweep,
    model_color,
    model_colors,
    plot_activation_histogram,
    plot_angle_distributions,
    plot_contraction,
    plot_count_histogram,
    plot_sat_bars,
    plot_spectrum,
    plot_sweep,
    plot_tangent_field,
    plot_tangent_images,
    plot_unit_saturation,
)
from manifold_cae.report import load_analysis

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _fig(**kw) -> Figure:
    return Figure(figsize=(6, 4), layout="constrained", **kw)


def _render(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    return buf.getvalue()


def _labels_ok(ax, *words: str) -> None:
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    text = " ".join((ax.get_xlabel(), ax.get_ylabel(), ax.get_title())).lower()
    for w in words:
        assert w.lower() in text, (w, text)


# ------------------------------------------------------------------ tangents


def test_tangent_images_rows_times_one_plus_k(dirs):
    d = load_analysis(dirs["digits"])
    s = d.spectra
    fig = _fig()
    images = plot_tangent_images(
        fig,
        s["inputs"][:3],
        s["tangents"][:3],
        s["top_values"][:3],
        (8, 8),
        pca_tangents=s["pca_tangents"][:3],
        k=2,
        point_ids=s["indices"][:3],
    )
    assert len(images) == (3 * 2) * (1 + 2)  # 3 points x (encoder + PCA rows) x (input + k)
    assert all(isinstance(im, AxesImage) for im in images)
    tangent_images = [im for im in images if im.get_cmap().name == "RdBu_r"]
    assert len(tangent_images) == 3 * 2 * 2
    for im in tangent_images:  # diverging map centred at 0
        lo, hi = im.get_clim()
        assert lo == pytest.approx(-hi) and hi > 0
    titles = [im.axes.get_title() for im in images]
    assert f"σ1={s['top_values'][0, 0]:.3g}" in titles
    assert f"x #{s['indices'][0]}" in titles
    _render(fig)


def test_tangent_images_skip_nonfinite_points(dirs):
    s = load_analysis(dirs["digits"]).spectra
    inputs = s["inputs"][:3].copy()
    inputs[1, 5] = np.nan
    images = plot_tangent_images(Figure(), inputs, s["tangents"][:3], s["top_values"][:3], (8, 8))
    assert len(images) == 2 * (1 + s["tangents"].shape[1])  # the NaN point is not drawn
    assert all(np.isfinite(im.get_array()).all() for im in images)
    with pytest.raises(ValueError, match="no point has finite"):
        plot_tangent_images(Figure(), inputs[1:2], s["tangents"][1:2], s["top_values"][1:2], (8, 8))
    with pytest.raises(ValueError, match="image_shape"):
        plot_tangent_images(Figure(), inputs, s["tangents"][:3], s["top_values"][:3], (7, 8))


def test_tangent_field_3d_draws_one_arrow_per_point_and_tangent(dirs):
    d = load_analysis(dirs["cae"])
    s = d.spectra
    fig = _fig()
    ax = fig.add_subplot(projection="3d")
    n = len(s["inputs"])
    color = np.arange(n, dtype=float)
    drawn = plot_tangent_field(
        ax,
        s["inputs"],
        s["tangents"],
        s["top_values"],
        color_by=color,
        color_label="count",
        true_tangents=s["true_tangents"],
        n_arrows=10,
    )
    scatter, *quivers = drawn
    assert len(scatter.get_offsets()) == n
    assert scatter.colorbar is not None and scatter.colorbar.ax.get_ylabel() == "count"
    k, k_true = s["tangents"].shape[1], s["true_tangents"].shape[1]
    assert [q.get_gid() for q in quivers] == [f"tangent-{j + 1}" for j in range(k)] + [
        f"true-tangent-{j + 1}" for j in range(k_true)
    ]
    _render(fig)  # 3-D segments are projected at draw time
    for q in quivers:  # a 3-D arrow is a shaft and two head strokes
        assert len(q.get_segments()) == 3 * 10
    _labels_ok(ax, "data units", "tangents")


def test_tangent_field_2d_skips_nan_and_projects(dirs):
    s = load_analysis(dirs["cae"]).spectra
    X, T, S = s["inputs"].copy(), s["tangents"], s["top_values"]
    X[0, 1] = np.nan
    fig = _fig()
    ax = fig.add_subplot()
    drawn = plot_tangent_field(ax, X, T, S)  # 3-D points on a 2-D axes: PCA projection
    quivers = [a for a in drawn if isinstance(a, Quiver)]
    assert len(quivers) == T.shape[1]
    assert all(q.N == len(X) - 1 for q in quivers)  # the NaN point has no arrow
    assert len(drawn[0].get_offsets()) == len(X) - 1
    assert np.isfinite(drawn[0].get_offsets()).all()
    assert "projected" in ax.get_title()
    with pytest.raises(ValueError, match="no point has finite"):
        plot_tangent_field(ax, np.full_like(X, np.nan), T, S)


def test_tangent_field_projects_fewer_points_than_axes():
    """Two stored points in R^4 on a 3-D axes: the projection still has three axes."""
    rng = np.random.default_rng(0)
    X, T, S = rng.normal(size=(2, 4)), rng.normal(size=(2, 1, 4)), np.ones((2, 1))
    fig = _fig()
    ax = fig.add_subplot(projection="3d")
    scatter, *quivers = plot_tangent_field(ax, X, T, S)
    assert len(scatter.get_offsets()) == 2
    assert "projected" in ax.get_title()
    assert [q.get_gid() for q in quivers] == ["tangent-1"]
    _render(fig)
    assert len(quivers[0].get_segments()) == 3 * 2  # a shaft and two head strokes per point


# ------------------------------------------------------------- spectra, counts


def _summary(path: Path):
    return load_analysis(path).summary


def test_spectrum_overlays_models_on_a_log_axis(dirs):
    fig = _fig()
    ax = fig.add_subplot()
    for name in ("cae", "dae"):
        s = _summary(dirs["digits" if name == "cae" else "digits-dae"])
        plot_spectrum(ax, s.spectrum, threshold=s.count.threshold, label=name)
    lines = [ln for ln in ax.get_lines() if ln.get_gid() == "spectrum"]
    assert len(lines) == 2
    assert ax.get_yscale() == "log"
    mean = json.loads((dirs["digits"] / "summary.json").read_text())["spectrum"]["mean"]
    np.testing.assert_allclose(lines[0].get_ydata(), mean)
    np.testing.assert_array_equal(lines[0].get_xdata(), np.arange(1, len(mean) + 1))
    assert lines[0].get_color() != lines[1].get_color()
    assert lines[0].get_color() == MODEL_COLORS["cae"]  # the model's own colour by default
    assert [ln.get_gid() for ln in ax.get_lines()].count("threshold") == 1
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["cae", "dae"]
    _labels_ok(ax, "index", "singular")


def test_spectrum_skips_nan_and_needs_full_spectra(dirs):
    sv = _summary(dirs["digits"]).spectrum
    with_nan = dataclasses.replace(sv, mean=[sv.mean[0], float("nan"), *sv.mean[2:]])
    ax = _fig().add_subplot()
    (line, *_) = plot_spectrum(ax, with_nan, threshold=1.0, label="x")
    assert np.isfinite(line.get_ydata()).all()
    assert 2 not in line.get_xdata()
    top_k_only = dataclasses.replace(sv, mean=None, q10=None, q50=None, q90=None)
    with pytest.raises(ValueError, match="no full spectrum"):
        plot_spectrum(ax, top_k_only, threshold=1.0, label="x")
    short = dataclasses.replace(sv, mean=sv.mean[:3], q10=None, q90=None)
    with pytest.raises(ValueError, match="table"):  # 3 values: a table, not a log-axis figure
        plot_spectrum(_fig().add_subplot(), short, threshold=1.0, label="x")


def test_count_histogram_draws_one_step_outline_per_model(dirs):
    ax = _fig().add_subplot()
    counts = [_summary(dirs[n]).count for n in ("cae", "digits")]
    drawn = plot_count_histogram(ax, counts, ["cae", "digits"])
    steps = [a for a in drawn if isinstance(a, StepPatch)]  # (and a note if every count is 0)
    assert len(steps) == 2 and len(drawn) <= 3
    for st, count in zip(steps, counts, strict=True):
        values, edges = st.get_data().values, st.get_data().edges
        np.testing.assert_allclose(values, 100 * np.array(count.histogram) / sum(count.histogram))
        np.testing.assert_allclose(edges, np.arange(len(count.histogram) + 1) - 0.5)
    _labels_ok(ax, "σ", "points")


def test_contraction_one_line_per_model_with_marks(dirs):
    ax = _fig().add_subplot()
    curves = [_summary(dirs[n]).contraction for n in ("cae", "dae")]
    drawn = plot_contraction(ax, curves, ["cae", "dae"])
    lines = [a for a in drawn if a.get_gid() == "contraction-curve"]
    assert len(lines) == 2
    assert ax.get_xscale() == "log"
    curve = curves[0]
    np.testing.assert_allclose(lines[0].get_xdata(), curve.radii)
    np.testing.assert_allclose(lines[0].get_ydata(), curve.ratios)
    (vline,) = [a for a in drawn if a.get_gid() == "max-distance"]
    assert vline.get_xdata()[0] == pytest.approx(curve.max_distance, rel=1e-5)
    assert vline.get_linestyle() == "--"
    marks = [a for a in drawn if a.get_gid() == "local-ratio"]
    assert len(marks) == 2
    assert marks[0].get_ydata()[0] == pytest.approx(curve.local_ratio)
    assert marks[0].get_xdata()[0] < min(curve.radii)  # at the left of every curve
    assert sum(isinstance(a, PolyCollection) for a in drawn) == 2  # +-1 std bands
    _labels_ok(ax, "radius", "ratio")


# ---------------------------------------------------------------- saturation


def test_activation_histogram_and_sat_bars(dirs):
    fig = _fig()
    ax1, ax2 = fig.subplots(1, 2)
    sats = [_summary(dirs[n]).saturation for n in ("cae", "dae")]
    drawn = plot_activation_histogram(ax1, sats, ["cae", "dae"])
    steps = [a for a in drawn if a.get_gid() == "activation-hist"]
    assert len(steps) == 2
    counts = sats[0].activation_counts
    np.testing.assert_allclose(steps[0].get_data().values, 100 * np.array(counts) / sum(counts))
    assert ax1.get_xlim() == (0, 1)
    _labels_ok(ax1, "activation")

    bars, *texts = plot_sat_bars(ax2, sats, ["cae", "dae"])
    sat = [s.mean_fraction for s in sats]
    np.testing.assert_allclose([p.get_height() for p in bars], 100 * np.array(sat))
    assert [t.get_text() for t in texts] == [f"{100 * v:.1f}%" for v in sat]
    _labels_ok(ax2, "SAT")
    _render(fig)


def test_unit_saturation_sorted(dirs):
    ax = _fig().add_subplot()
    per_unit = _summary(dirs["dae"]).saturation.per_unit
    bars, mean_line = plot_unit_saturation(ax, _summary(dirs["dae"]).saturation, "dae")
    heights = np.array([p.get_height() for p in bars])
    assert len(heights) == len(per_unit) == 16
    np.testing.assert_allclose(heights, 100 * np.sort(per_unit)[::-1])
    assert mean_line.get_ydata()[0] == pytest.approx(100 * np.mean(per_unit))
    _labels_ok(ax, "unit", "saturat")


def test_angle_distributions(dirs):
    ax = _fig().add_subplot()
    pts = load_analysis(dirs["cae"]).points
    cae, pca = pts["angle_cae_deg"], pts["angle_local_pca_deg"]
    drawn = plot_angle_distributions(ax, cae, pca, "cae", k=2)
    hists = [a for a in drawn if a.get_gid() == "angle-hist"]
    assert len(hists) == 2
    np.testing.assert_allclose(hists[0].get_data().values.sum(), 100)
    medians = [a.get_xdata()[0] for a in drawn if a.get_gid() == "angle-median"]
    np.testing.assert_allclose(medians, [np.median(cae), np.median(pca)])
    _labels_ok(ax, "degrees")
    with pytest.raises(ValueError, match="no finite angle"):
        plot_angle_distributions(_fig().add_subplot(), np.full(3, np.nan), pca, "cae")


# ---------------------------------------------------------------- colours


def test_each_model_name_keeps_its_colour():
    assert model_color("cae") == model_color("cae lam=0.1") == MODEL_COLORS["cae"]
    assert model_color("dae") == model_color("dae-g")
    assert model_colors(["dae", "cae"]) == [MODEL_COLORS["dae"], MODEL_COLORS["cae"]]
    assert model_colors(["cae"]) == model_colors(["ae", "cae"])[1:]  # whoever is beside it
    known = {MODEL_COLORS[n] for n in ("cae", "dae", "ae", "rcae", "cae-h", "dae-b", "dae-sp")}
    assert len(known) == 7  # distinct names, distinct colours
    mine = model_colors(["mine", "cae", "yours"])  # unknown labels avoid the known colours
    assert mine[1] == MODEL_COLORS["cae"] and len(set(mine)) == 3
    ax = _fig().add_subplot()
    drawn = plot_sweep(ax, [SweepSeries("cae", "lam", [0.1], [1.0], [1.0], [1.0]).line([1.0])], "y")
    assert drawn[0].lines[0].get_color() == MODEL_COLORS["cae"]


# ---------------------------------------------------------------- draw_all


def test_draw_all_writes_every_figure_that_applies(dirs, tmp_path):
    notes: list[str] = []
    paths = draw_all(
        [dirs["cae"], dirs["dae"], dirs["digits"]], tmp_path / "figs", dpi=50, log=notes.append
    )
    expected = {
        "tangent_field_cae",
        "tangent_field_dae",
        "tangents_images_digits",
        "tangent_unrolled_cae",  # the swiss roll, laid flat
        "tangent_unrolled_dae",
        "angles_cae",
        "angles_dae",
        "angles_digits",  # no truth: the angles to local PCA, mean and largest
        "unit_saturation_cae",
        "unit_saturation_dae",
        "unit_saturation_digits",
        "spectrum",
        "count_histogram",
        "contraction",
        "saturation",
        "angles",  # the overlay: cae and dae; digits has no truth and is left out with a note
    }
    assert {p.stem for p in paths} == expected
    assert any("angles: left out" in n for n in notes)
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == sorted(
        f"{s}.png" for s in expected
    )  # nothing else, no temporary files left behind
    for p in paths:
        data = p.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000, (p, len(data))
    (note,) = [n for n in notes if n.startswith("note: angles: left out")]
    assert "digits" in note and "no true tangents" in note
    (note,) = [n for n in notes if "tangent_unrolled_digits" in n]  # one line, saying why
    assert "not the swiss roll" in note


def test_draw_all_skips_missing_fields_with_a_note(dirs, tmp_path):
    d = tmp_path / "cae"
    shutil.copytree(dirs["cae"], d)
    with np.load(d / "spectra.npz") as z:  # drop the true tangents and the stored points
        arrays = {k: z[k] for k in z.files if k not in ("true_tangents", "inputs")}
    np.savez(d / "spectra.npz", **arrays)
    lines = (d / "points.csv").read_text().splitlines()
    header = lines[0].split(",")
    angles = ("angle_cae_deg", "angle_local_pca_deg", "angle_cae_vs_local_pca_mean_deg")
    keep = [i for i, c in enumerate(header) if c not in angles]
    (d / "points.csv").write_text(
        "\n".join(",".join(row.split(",")[i] for i in keep) for row in lines) + "\n"
    )
    summary = json.loads((d / "summary.json").read_text())
    for key in ("mean", "q10", "q50", "q90"):  # as if analysed with full_spectrum=False
        summary["spectrum"][key] = None
    summary["contraction"]["ratios"] = [None] * len(summary["contraction"]["radii"])
    (d / "summary.json").write_text(json.dumps(summary))

    notes: list[str] = []
    paths = draw_all([d], tmp_path / "alone", dpi=40, log=notes.append)
    assert {p.stem for p in paths} == {"unit_saturation_cae", "count_histogram", "saturation"}
    for fig in ("tangent_field_cae", "angles_cae", "spectrum", "contraction"):
        assert sum(fig in n for n in notes) == 1, (fig, notes)
    assert all("\n" not in n for n in notes)

    # beside a complete directory, the overlays keep it and leave the incomplete one out
    notes.clear()
    paths = draw_all([d, dirs["dae"]], tmp_path / "both", dpi=40, log=notes.append)
    stems = {p.stem for p in paths}
    assert {"contraction", "tangent_field_dae", "angles_dae"} <= stems
    assert not {"tangent_field_cae", "angles_cae", "spectrum"} & stems
    (spectrum,) = [n for n in notes if n.startswith("skipped spectrum")]
    assert "cae: no full spectrum" in spectrum
    assert "dae: the spectrum has only 3 singular value(s)" in spectrum  # d_x = 3: a table

    # beside a full digits spectrum, the others are left out of the overlay with a note
    notes.clear()
    paths = draw_all([d, dirs["digits"]], tmp_path / "digits", dpi=40, log=notes.append)
    assert "spectrum" in {p.stem for p in paths}
    assert any(n.startswith("note: spectrum: left out cae: no full spectrum") for n in notes)
    assert any(n.startswith("note: contraction: left out cae") for n in notes)


def test_draw_all_says_when_points_csv_is_missing(dirs, tmp_path):
    d = tmp_path / "cae"
    shutil.copytree(dirs["cae"], d)
    (d / "points.csv").unlink()
    notes: list[str] = []
    paths = draw_all([d, dirs["dae"]], tmp_path / "figs", dpi=40, log=notes.append)
    assert "skipped angles_cae: points.csv is missing" in notes
    assert "note: angles: left out cae: points.csv is missing" in notes
    assert not any("no truth" in n for n in notes)
    assert {"angles", "angles_dae", "tangent_field_cae"} <= {p.stem for p in paths}


def test_draw_all_draws_each_figure_once(dirs, tmp_path, monkeypatch):
    """Which directories an overlay can show is decided from the data, not by drawing."""
    from manifold_cae.plots import figures

    calls: dict[str, int] = {}

    def counted(fn):
        def wrapper(*args, **kw):
            calls[fn.__name__] = calls.get(fn.__name__, 0) + 1
            return fn(*args, **kw)

        return wrapper

    for name in ("plot_contraction", "plot_count_histogram", "plot_activation_histogram",
                 "plot_sat_bars", "plot_angle_overlay", "plot_spectrum"):  # fmt: skip
        monkeypatch.setattr(figures, name, counted(getattr(figures, name)))
    d = tmp_path / "cae"
    shutil.copytree(dirs["cae"], d)
    summary = json.loads((d / "summary.json").read_text())
    summary["contraction"]["ratios"] = [None] * len(summary["contraction"]["radii"])
    (d / "summary.json").write_text(json.dumps(summary))
    models = [d, dirs["dae"], dirs["digits"], dirs["digits-dae"]]
    draw_all(models, tmp_path / "figs", dpi=30, log=lambda _: None)
    assert calls == {
        "plot_contraction": 1,
        "plot_count_histogram": 1,
        "plot_activation_histogram": 1,
        "plot_sat_bars": 1,
        "plot_angle_overlay": 1,
        "plot_spectrum": 2,  # one call per line (the digits models), each drawn once
    }


@pytest.mark.parametrize(
    "text, match",
    [
        ("{}", "schema"),
        ("[]", "holds list"),
        ("not json", "corrupt"),
        (None, "n_points must be an integer"),  # a string where a number belongs
        ("count.mean", "expected a number"),
        ("provenance.n_data", "malformed provenance"),
    ],
)
def test_draw_all_rejects_a_broken_summary_with_a_data_error(dirs, tmp_path, text, match):
    d = tmp_path / "cae"
    shutil.copytree(dirs["cae"], d)
    if text is None or "." in text:
        summary = json.loads((d / "summary.json").read_text())
        section, key = text.split(".") if text else (None, "n_points")
        (summary[section] if section else summary)[key] = "twelve"
        text = json.dumps(summary)
    (d / "summary.json").write_text(text)
    with pytest.raises(DataError, match=match) as e:
        draw_all([d], tmp_path / "figs", log=lambda _: None)
    assert "summary.json" in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "figs").exists()


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _scramble(path: Path) -> None:  # a valid zip in which one member is not an array
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    with zipfile.ZipFile(path, "w") as z:
        for k, v in arrays.items():
            buf = io.BytesIO()
            np.save(buf, v)
            z.writestr(f"{k}.npy", b"not an array at all" if k == "tangents" else buf.getvalue())


def _reshape(path: Path) -> None:  # arrays of the wrong shape
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(path, **{**arrays, "tangents": arrays["tangents"][:, 0]})


@pytest.mark.parametrize(
    "file, damage",
    [
        ("spectra.npz", _truncate),
        ("spectra.npz", _scramble),
        ("spectra.npz", _reshape),
        ("spectra.npz", lambda p: p.write_bytes(b"")),
        ("points.csv", lambda p: p.write_text(p.read_text().replace("\n", ",1\n", 3))),  # ragged
        ("points.csv", lambda p: p.write_text(p.read_text().replace("\n", "\nabc,", 2))),
        ("points.csv", lambda p: p.write_bytes(b"\xff\xfe\x00bad")),
    ],
)
def test_draw_all_rejects_corrupt_arrays_with_a_data_error(dirs, tmp_path, file, damage):
    d = tmp_path / "cae"
    shutil.copytree(dirs["cae"], d)
    damage(d / file)
    with pytest.raises(DataError) as e:
        draw_all([d], tmp_path / "figs", log=lambda _: None)
    assert file in str(e.value) and "\n" not in str(e.value)


def test_draw_all_validates_its_arguments(dirs, tmp_path):
    with pytest.raises(ConfigError, match="2 labels for 1"):
        draw_all([dirs["cae"]], tmp_path, labels=["a", "b"])
    with pytest.raises(ConfigError, match="fmt must be one of png, svg, pdf"):
        draw_all([dirs["cae"]], tmp_path, fmt="jpg")
    stored = load_analysis(dirs["digits"]).spectra["indices"]
    absent = int(max(stored)) + 1000
    with pytest.raises(DataError, match=rf"indices \[{absent}\] are not among") as e:
        draw_all([dirs["digits"]], tmp_path, indices=[int(stored[0]), absent])
    assert str(int(np.sort(stored)[0])) in str(e.value)  # lists some stored ones
    assert not any(tmp_path.iterdir())  # validation happens before anything is drawn


def test_draw_all_chosen_indices_and_labels_svg(dirs, tmp_path):
    stored = load_analysis(dirs["digits"]).spectra["indices"]
    paths = draw_all(
        [dirs["digits"]],
        tmp_path,
        fmt="svg",
        dpi=40,
        labels=["my cae/1"],
        indices=[int(stored[3]), int(stored[0])],
        log=lambda _: None,
    )
    names = {p.name for p in paths}
    assert "tangents_images_my_cae_1.svg" in names  # the label made file-name safe
    svg = (tmp_path / "tangents_images_my_cae_1.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and f"x #{int(stored[3])}" in svg


def test_angle_overlay_draws_one_histogram_per_model_and_the_reference(tmp_path):
    import manifold_cae as mc
    from manifold_cae.analysis import analyze
    from manifold_cae.report import write_analysis

    ds = mc.load_dataset("circle:n_samples=200,noise=0.01", seed=0)
    dirs = []
    for kind in ("ae", "cae"):
        cfg = mc.make_run_config(
            ds, hidden=(8,), objective=mc.ObjectiveConfig(kind=kind),
            training=mc.TrainConfig(epochs=2, held_out=0.0),
        )  # fmt: skip
        model = mc.train_dataset(ds, cfg, progress=False).model
        res = analyze(model, ds.X, tangents=ds.tangents, config=mc.AnalysisConfig(points=50))
        write_analysis(res, tmp_path / kind)
        dirs.append(load_analysis(tmp_path / kind))
    fig = Figure()
    angles = [d.points["angle_cae_deg"] for d in dirs]
    ref = dirs[0].points["angle_local_pca_deg"]
    drawn = plots.plot_angle_overlay(fig.add_subplot(), angles, ["ae", "cae"], reference=ref)
    assert len(drawn) == 3
    np.testing.assert_allclose(drawn[2].get_data().values.sum(), 100)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0].startswith("ae") and labels[2].startswith("local PCA")
    assert drawn[1].get_edgecolor()[:3] == pytest.approx((0.0, 0x72 / 255, 0xB2 / 255))  # cae
    paths = plots.draw_all(
        [tmp_path / "ae", tmp_path / "cae"], tmp_path / "figs", log=lambda m: None
    )
    assert tmp_path / "figs" / "angles.png" in paths


# ---------------------------------------------------------------- sweep


def test_sweep_draws_mean_and_std_over_seeds(tmp_path):
    cae = SweepSeries(
        model="cae", parameter="lam", values=[0.1, 0.1, 1.0, 1.0],
        count_mean=[2.0, 4.0, 1.0, 1.0], sat_percent=[10.0, 20.0, 50.0, 70.0],
        angle_mean=[None, None, None, None],
    )  # fmt: skip
    dae = SweepSeries("dae", "noise", [0.1, 0.3], [3.0, 2.0], [5.0, 6.0], [10.0, float("nan")])
    ax = _fig().add_subplot()
    cae_bars, _ = plot_sweep(ax, [cae.line(cae.count_mean), dae.line(dae.count_mean)], "n")
    assert isinstance(cae_bars, ErrorbarContainer)
    line = cae_bars.lines[0]
    np.testing.assert_allclose(np.asarray(line.get_xdata(), float), [0.1, 1.0])
    np.testing.assert_allclose(
        np.asarray(line.get_ydata(), float), [3.0, 1.0]
    )  # mean over the two seeds
    assert line.get_color() == MODEL_COLORS["cae"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["cae (vs λ)", "dae (vs noise)"]
    with pytest.raises(ValueError, match="no swept run"):
        plot_sweep(_fig().add_subplot(), [cae.line(cae.angle_mean)], "angle")
    path = draw_sweep([cae, dae], tmp_path, dpi=30)
    assert path == tmp_path / "sweep.png" and path.read_bytes().startswith(PNG_MAGIC)
