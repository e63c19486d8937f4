"""Issue 10's figure leftovers: captions that state the seed and the point count, the
tangent field on the unrolled swiss roll, the mean angle to local PCA for data without
truth, the note on an all-zero count histogram, and one line per figure not drawn."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
from matplotlib.figure import Figure
from matplotlib.quiver import Quiver

from manifold_cae.analysis.metrics import AngleSummary, CountSummary, LayerSummary
from manifold_cae.data import swiss_roll, swiss_roll_unrolled
from manifold_cae.plots import (
    SweepSeries,
    draw_all,
    draw_depth,
    draw_sweep,
    plot_count_histogram,
    plot_prefix_norms,
    plot_tangent_unrolled,
)
from manifold_cae.plots import figures as figures_module
from manifold_cae.report import load_analysis, report_markdown


def _texts(fig: Figure) -> str:
    """Every title of a figure: its suptitle and its axes' titles."""
    parts = [fig._suptitle.get_text()] if fig._suptitle is not None else []
    for sub in fig.subfigs:
        parts.append(_texts(sub))
    parts += [ax.get_title() for ax in fig.axes]
    return "\n".join(parts)


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The titles of every figure draw_all saves, by file stem."""
    seen: dict[str, str] = {}
    save = figures_module.save

    def recording(fig: Figure, path: Path, **kw):
        seen[Path(path).stem] = _texts(fig)
        return save(fig, path, **kw)

    monkeypatch.setattr(figures_module, "save", recording)
    return seen


# ------------------------------------------------------------------ captions


def test_every_caption_states_the_seed_and_the_points_shown(dirs, captured, tmp_path):
    paths = draw_all([dirs["cae"], dirs["dae"], dirs["digits"]], tmp_path, dpi=30, log=print)
    assert {p.stem for p in paths} == set(captured)
    stored = len(load_analysis(dirs["cae"]).spectra["indices"])
    analysed = load_analysis(dirs["cae"]).summary.n_points
    centres = load_analysis(dirs["cae"]).summary.contraction.n_centres
    for stem, text in captured.items():
        assert "seed 0" in text, (stem, text)
        assert " points" in text, (stem, text)
    assert f"{analysed} points" in captured["count_histogram"]
    assert f"{stored} points" in captured["tangent_field_cae"]
    assert f"{centres} points" in captured["contraction"]
    assert "4 points" in captured["tangents_images_digits"]  # the four drawn


def test_sweep_caption(tmp_path, monkeypatch):
    from manifold_cae.plots import sweep

    seen: list[str] = []
    save = sweep.save

    def recording(fig: Figure, path: Path, **kw):
        seen.append("\n".join([_texts(fig), *(ax.get_ylabel() for ax in fig.axes)]))
        return save(fig, path, **kw)

    monkeypatch.setattr(sweep, "save", recording)
    series = [SweepSeries("cae", "lam", [0.1, 1.0], [1.0, 0.5], [10.0, 20.0], [5.0, 4.0])]
    assert draw_sweep(series, tmp_path, caption="circle: seeds 0, 1 pooled; 40 points").is_file()
    assert "seeds 0, 1 pooled; 40 points" in seen[0]
    assert "mean local dimension" not in seen[0]  # no series carries it: no empty panel
    with_dim = [dataclasses.replace(series[0], dimension_mean=[2.0, 1.5])]
    assert draw_sweep(with_dim, tmp_path).is_file()
    assert "mean local dimension" in seen[1] and "mean count of σ > 1" in seen[1]
    # one series with it (an array, as the other fields may be), one without: the panel
    # draws the one that has it
    mixed = [dataclasses.replace(series[0], dimension_mean=np.array([2.0, 1.5])),
             dataclasses.replace(series[0], model="dae", parameter="noise")]  # fmt: skip
    assert draw_sweep(mixed, tmp_path).is_file()
    assert "mean local dimension" in seen[2]


# ------------------------------------------------------------------ unrolled roll


def test_swiss_roll_unrolled_is_an_isometric_chart():
    """Distances between close points on the roll equal distances in the chart."""
    m = swiss_roll(3000, seed=3)
    chart = swiss_roll_unrolled(m.params)
    j = np.arange(200)
    i = np.argsort(np.linalg.norm(m.X[:, None] - m.X[None, j], axis=2), axis=0)[1]  # nearest
    on_roll = np.linalg.norm(m.X[i] - m.X[j], axis=1)  # a chord: within 0.5% of the geodesic
    flat = np.linalg.norm(chart[i] - chart[j], axis=1)
    np.testing.assert_allclose(flat, on_roll, rtol=5e-3)
    # its axes follow the true tangents d/dt and d/dh
    h = 1e-6
    p = m.params[:5]
    d_t = (swiss_roll_unrolled(p + np.array([h, 0])) - swiss_roll_unrolled(p)) / h
    d_h = (swiss_roll_unrolled(p + np.array([0, h])) - swiss_roll_unrolled(p)) / h
    assert np.all(d_t[:, 0] > 0) and np.allclose(d_t[:, 1], 0)
    assert np.allclose(d_h[:, 0], 0) and np.all(d_h[:, 1] > 0)


def test_unrolled_arrows_are_the_tangents_in_the_true_basis():
    m = swiss_roll(60, seed=1)
    chart = swiss_roll_unrolled(m.params)
    true = m.tangents  # (n, 2, 3): d/dt, d/dh
    out_of_plane = np.cross(true[:, 0], true[:, 1])
    # tangent 1 along d/dh, tangent 2 half in the plane (along d/dt), half out of it
    t2 = (true[:, 0] + out_of_plane) / np.sqrt(2)
    tangents = np.stack([true[:, 1], t2], axis=1)
    values = np.tile([2.0, 1.0], (60, 1))
    ax = Figure().add_subplot()
    scatter, q1, q2 = plot_tangent_unrolled(ax, chart, tangents, values, true)
    assert isinstance(q1, Quiver) and isinstance(q2, Quiver)
    np.testing.assert_allclose(q1.U, 0, atol=1e-9)  # along the height axis only
    assert np.all(q1.V > 0)
    np.testing.assert_allclose(q2.V, 0, atol=1e-9)  # along the arc length only
    np.testing.assert_allclose(q2.U / q1.V, 1.0 / 2.0 / np.sqrt(2))  # σ ratio × in-plane part
    # the points' colour: largest principal angle of span(t1, t2) to the true plane
    np.testing.assert_allclose(scatter.get_array(), 45.0, atol=1e-6)


def test_draw_all_draws_the_unrolled_view_only_for_the_roll(dirs, captured, tmp_path):
    notes: list[str] = []
    draw_all([dirs["cae"], dirs["digits"]], tmp_path, dpi=30, log=notes.append)
    assert "unrolled" in captured["tangent_unrolled_cae"]
    assert "tangent_unrolled_digits" not in captured
    assert sum("tangent_unrolled_digits" in n for n in notes) == 1


def test_the_unrolled_view_is_skipped_when_the_data_cannot_be_regenerated(dirs, tmp_path):
    d = tmp_path / "cae"
    shutil.copytree(dirs["cae"], d)
    summary = json.loads((d / "summary.json").read_text())
    summary["provenance"]["data"]["sha256"] = "0" * 64
    (d / "summary.json").write_text(json.dumps(summary))
    notes: list[str] = []
    paths = draw_all([d], tmp_path / "f", dpi=30, log=notes.append)
    assert "tangent_unrolled_cae" not in {p.stem for p in paths}
    assert any("other data than the analysis saw" in n for n in notes)


# ------------------------------------------------------------------ angles


def test_mean_angle_to_local_pca_matches_scipy(dirs):
    """For data without truth: the mean principal angle, against scipy's subspace_angles."""
    d = load_analysis(dirs["digits"])
    ang = d.summary.angles
    assert ang.reference == "local_pca" and ang.cae is None
    assert ang.cae_vs_local_pca_mean is not None
    assert ang.cae_vs_local_pca_mean.mean < ang.cae_vs_local_pca.mean  # mean <= largest
    s, pts = d.spectra, d.points
    row = {int(v): i for i, v in enumerate(pts["index"])}
    for i in range(5):
        a = s["tangents"][i, : ang.k].T  # (d, k)
        b = s["pca_tangents"][i, : ang.k].T
        want = np.degrees(scipy.linalg.subspace_angles(a, b))
        got_mean = pts["angle_cae_vs_local_pca_mean_deg"][row[int(s["indices"][i])]]
        got_largest = pts["angle_cae_vs_local_pca_deg"][row[int(s["indices"][i])]]
        np.testing.assert_allclose(got_mean, want.mean(), atol=1e-3)
        np.testing.assert_allclose(got_largest, want.max(), atol=1e-3)


def test_a_summary_from_before_the_mean_angle_still_loads(dirs):
    raw = json.loads((dirs["digits"] / "summary.json").read_text())
    del raw["angles"]["cae_vs_local_pca_mean"]
    angles = AngleSummary.from_json(raw["angles"], where="summary.json: angles")
    assert angles.cae_vs_local_pca_mean is None


def test_angle_figure_without_truth_shows_mean_and_largest(dirs, captured, tmp_path):
    draw_all([dirs["digits"], dirs["digits-dae"]], tmp_path, dpi=30, log=print)
    assert "local PCA" in captured["angles_digits"]
    assert "no true tangents" in captured["angles"]


def test_report_prefers_the_mean_angle_without_truth(dirs):
    text = report_markdown(load_analysis(dirs["digits"]).summary)
    assert "mean principal angle CAE vs local PCA" in text
    assert "compare models by the mean principal angle" in text


# ------------------------------------------------------------------ counts


def _count(hist: list[int]) -> CountSummary:
    n = sum(hist)
    mean = sum(i * h for i, h in enumerate(hist)) / n
    return CountSummary(mean=mean, median=0.0, histogram=hist, capped_at_top_k=False, threshold=1.0)


def test_an_all_zero_count_histogram_says_why(dirs):
    ax = Figure().add_subplot()
    drawn = plot_count_histogram(ax, [_count([50]), _count([20])], ["cae", "dae"],
                                 local_dimension=[2.0, 3.0])  # fmt: skip
    (note,) = [a for a in drawn if a.get_gid() == "all-zero-note"]
    assert "Every count is 0" in note.get_text() and "local dimension" in note.get_text()
    assert "cae 2, dae 3" in note.get_text()
    ax = Figure().add_subplot()
    drawn = plot_count_histogram(ax, [_count([20, 5]), _count([20])], ["cae", "dae"])
    assert not [a for a in drawn if a.get_gid() == "all-zero-note"]


def test_report_explains_an_all_zero_count(dirs):
    s = load_analysis(dirs["cae"]).summary
    n = sum(s.count.histogram)
    zero = dataclasses.replace(s.count, mean=0.0, median=0.0, histogram=[n])  # nothing expands
    text = report_markdown(dataclasses.replace(s, sections={**s.sections, "count": zero}))
    assert "No direction expands" in text and "local dimension" in text
    assert "On average 0.00 directions expand" not in text


# ------------------------------------------------------------------ one line per reason


def test_each_reason_for_not_drawing_is_said_once(dirs, tmp_path):
    notes: list[str] = []
    draw_all([dirs["digits"], dirs["digits-dae"]], tmp_path, dpi=30, log=notes.append)
    skipped = [n for n in notes if n.startswith("skipped")]
    assert len(skipped) == len({n.split(": ", 1)[1] for n in skipped})  # one line per reason
    (field,) = [n for n in skipped if "tangent_field" in n]
    assert field.startswith("skipped tangent_field_{digits,digits-dae}: image data")
    assert not any("no truth" in n for n in notes)


# ------------------------------------------------------------------ depth figure


def test_depth_figure_draws_each_prefix_norm(dirs, tmp_path):
    s = load_analysis(dirs["cae"]).summary
    layers = [
        LayerSummary([16], [0.9], [0.5], [0.0], [2.0]),
        LayerSummary([16, 8], [0.9, 0.3], [0.5, 0.2], [0.0, 0.0], [2.0, 2.0]),
    ]
    ax = Figure().add_subplot()
    lines = plot_prefix_norms(ax, layers, ["cae (1 layer)", "cae-stacked (2 layers)"])
    np.testing.assert_allclose(lines[1].get_ydata(), [0.9, 0.3])
    assert ax.get_yscale() == "log"
    path = draw_depth([s.contraction, s.contraction], layers, ["cae (1 layer)", "cae-deep (2)"],
                      [1, 2], tmp_path / "depth.png", title="roll, seed 0")  # fmt: skip
    assert path.read_bytes().startswith(b"\x89PNG")
