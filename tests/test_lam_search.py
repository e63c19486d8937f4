"""``lam="auto"``: the criterion against numpy references, a deterministic and recorded
search, its place in train / resume / compare, and clean refusals."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result

import manifold_cae as mc
from manifold_cae import (
    ConfigError,
    LamSearchConfig,
    LamSearchResult,
    ObjectiveConfig,
    load_checkpoint,
    search_lam,
    search_of,
)
from manifold_cae.cli import main
from manifold_cae.compare import StudyConfig, run_study
from manifold_cae.config import ArchitectureConfig, ModelConfig, TrainConfig
from manifold_cae.config_files import load_toml
from manifold_cae.lam_search import (
    DEFAULT_GRID,
    TangentFit,
    _beyond,
    estimate_dimension,
    neighbour_displacements,
    neighbourhood_fit,
    tangent_fit,
)
from manifold_cae.runs import split

SPEC = "circle:n_samples=200,noise=0.05,ambient_dim=4"
SMALL = LamSearchConfig(grid=(0.01, 1.0, 100.0), keep=2, points=30)


def invoke(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def train(out: Path, *extra: object, epochs: int = 5) -> Result:
    return invoke("train", "--data", SPEC, "--epochs", epochs, "--hidden", "8", "--out", out,
                  "--lam", "auto", *extra)  # fmt: skip


def one_line_error(result: Result, code: int, *fragments: str) -> None:
    """Exit ``code`` with every fragment on the single ``Error:`` line, no traceback."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    (line,) = [ln for ln in result.output.splitlines() if ln.startswith("Error:")]
    for fragment in fragments:
        assert fragment in line, result.output


def small_run(lam: float | str = "auto", epochs: int = 5, seed: int = 0):
    ds = mc.load_dataset(SPEC, seed=0)
    config = mc.make_run_config(
        ds, hidden=(8,), objective=ObjectiveConfig(lam=lam),
        training=TrainConfig(epochs=epochs, batch_size=64, seed=seed),
    )  # fmt: skip
    return ds, config


# ------------------------------------------------------------------ the criterion


def test_displacements_are_the_nearest_training_points_about_their_mean(seed):
    rng = np.random.default_rng(seed)
    X, held = rng.normal(size=(50, 3)), rng.normal(size=(7, 3))
    d = neighbour_displacements(X, held, neighbours=4, points=100, reference=100, seed=seed)
    dist = ((held[:, None, :] - X[None]) ** 2).sum(-1)  # brute force, (7, 50)
    near = X[np.argsort(dist, axis=1)[:, :4]]  # (7, 4, 3)
    np.testing.assert_allclose(d.points, held)
    np.testing.assert_allclose(d.offsets, near - near.mean(axis=1, keepdims=True))


def test_displacements_need_two_training_rows_to_have_a_spread():
    X, held = np.zeros((1, 3)), np.ones((4, 3))
    with pytest.raises(ConfigError, match=r"1 training row\(s\) have none; give --lam a number"):
        neighbour_displacements(X, held, neighbours=20, points=10, reference=10, seed=0)


def test_criterion_ignores_the_held_out_points_own_noise(seed):
    """Training points on the x axis, held-out points far above it (their own noise, along y).

    Offsets from the held-out point would be mostly along y, and an encoder whose tangent is
    y (the noise) would capture them; offsets about the neighbours' mean are along x, and the
    encoder whose tangent is the axis wins, as the true tangent error says it should.
    """
    rng = np.random.default_rng(seed)
    X = np.stack([np.linspace(-5, 5, 200), 0.01 * rng.normal(size=200)], axis=1)
    held = np.stack([rng.uniform(-4, 4, 20), np.full(20, 3.0)], axis=1)
    disp = neighbour_displacements(X, held, neighbours=10, points=100, reference=500, seed=seed)

    def encoder(direction: list[float]) -> mc.Autoencoder:
        cfg = ModelConfig(2, (1,), activation="linear", output="linear", input_scaling="none")
        model = mc.Autoencoder(cfg, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            model.enc_weights[0].copy_(torch.tensor([direction]))
        return model

    along, across = encoder([1.0, 0.0]), encoder([0.0, 1.0])
    assert tangent_fit(along, disp, 1).missed(1) < 0.01
    assert tangent_fit(across, disp, 1).missed(1) > 0.99


def test_displacements_sample_is_seeded_and_capped(seed):
    rng = np.random.default_rng(seed)
    X, held = rng.normal(size=(80, 3)), rng.normal(size=(40, 3))
    kw = dict(neighbours=3, points=10, reference=20)
    a = neighbour_displacements(X, held, **kw, seed=seed)
    b = neighbour_displacements(X, held, **kw, seed=seed)
    assert a.offsets.shape == (10, 3, 3)
    np.testing.assert_array_equal(a.offsets, b.offsets)


def test_tangent_fit_matches_the_right_singular_vectors_of_a_linear_encoder(seed):
    """J = W for a linear encoder: the shares are those of W's right singular vectors."""
    rng = np.random.default_rng(seed)
    d_x, d_h = 6, 4
    U, _ = np.linalg.qr(rng.normal(size=(d_h, d_h)))
    V, _ = np.linalg.qr(rng.normal(size=(d_x, d_x)))
    W = U @ np.diag([4.0, 2.0, 1.0, 0.5]) @ V[:, :d_h].T  # (d_h, d_x), known spectrum
    cfg = ModelConfig(d_x, (d_h,), activation="linear", output="linear", input_scaling="none")
    model = mc.Autoencoder(cfg, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    with torch.no_grad():
        model.enc_weights[0].copy_(torch.as_tensor(W))
    X, held = rng.normal(size=(60, d_x)), rng.normal(size=(12, d_x))
    disp = neighbour_displacements(X, held, neighbours=5, points=100, reference=100, seed=seed)
    got = tangent_fit(model, disp, 3, seed=seed)
    off = disp.offsets.reshape(-1, d_x)
    expected = ((off @ V[:, :3]) ** 2).sum(0) / (off**2).sum()
    np.testing.assert_allclose(got.shares, expected, rtol=1e-8)
    assert got.missed(2) == pytest.approx(1 - expected[:2].sum())
    np.testing.assert_allclose(got.lifts, expected * d_x)


def test_dimension_is_where_the_lifts_drop_most():
    # lifts 3, 3, 0.8, 0.7 at the sharpest fit: k = 2; a flatter fit elsewhere does not win
    sharp = TangentFit(np.array([3.0, 3.0, 0.8, 0.7]) / 10, 10)
    flat = TangentFit(np.array([1.5, 1.2, 1.0, 0.9]) / 10, 10)
    assert estimate_dimension([flat, sharp]) == 2
    assert estimate_dimension([TangentFit(np.array([2.0, 0.5, 0.5]) / 3, 3)]) == 1
    assert estimate_dimension([TangentFit(np.array([0.4]), 3)]) == 1  # one direction only


def test_one_over_contracted_fit_cannot_set_k_alone():
    """Four fits drop after three tangents (ratio 5); a fifth, over-contracted, holds one
    dominant tangent, and its drop (27 to 5) is the largest of any fit. Read at that fit
    alone, k would be 1 (mnist5k's λ 100 finalist); on the fits' mean log-lifts it is 3."""
    D = 20
    agree = [TangentFit(np.array([5.0 + i / 10, 5.0, 5.0, 1.0, 0.9, 0.8]) / D, D) for i in range(4)]
    outlier = TangentFit(np.array([27.0, 5.0, 4.0, 3.0, 2.0, 1.0]) / D, D)
    assert np.log(27 / 5) > np.log(5.0 / 1.0)  # the outlier's drop is the largest
    assert estimate_dimension([outlier]) == 1
    assert estimate_dimension([*agree, outlier]) == 3
    assert estimate_dimension([outlier, *agree]) == 3  # the order of the fits does not matter
    with pytest.raises(ValueError, match="6 and 3 directions"):  # no common spectrum to average
        estimate_dimension([*agree, TangentFit(np.array([6.0, 6.0, 6.0]) / D, D)])


def test_neighbourhood_fit_is_local_pca_and_no_subspace_holds_more(seed):
    """Against numpy's eigenvalues of each point's scatter; a random k-plane holds no more."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(80, 5)) * np.array([3.0, 2.0, 1.0, 0.3, 0.1])
    held = rng.normal(size=(15, 5))
    disp = neighbour_displacements(X, held, neighbours=6, points=100, reference=100, seed=seed)
    got = neighbourhood_fit(disp, 7)  # more axes than the offsets' rank (5): zeros beyond
    eig = np.stack([np.linalg.eigvalsh(o.T @ o)[::-1] for o in disp.offsets])  # (15, 5)
    total = (disp.offsets**2).sum()
    np.testing.assert_allclose(got.shares[:5], eig.sum(0) / total, rtol=1e-10, atol=1e-15)
    np.testing.assert_array_equal(got.shares[5:], 0.0)
    np.testing.assert_allclose(got.along.sum(0) / got.total.sum(), got.shares, rtol=1e-12)
    Q, _ = np.linalg.qr(rng.normal(size=(5, 2)))  # any fixed 2-plane, at every point
    plane = ((disp.offsets @ Q) ** 2).sum(axis=(1, 2))  # (15,)
    assert (plane <= got.along[:, :2].sum(1) * (1 + 1e-12)).all()


def test_the_curvature_cut_reads_the_neighbourhoods_not_the_candidate():
    """The torus in R^30 without noise: a candidate's tilted tangents hold 14, 12.7, 3.2, so
    its own lifts keep a third direction; local PCA's 18, 11, 0.75 cut it (the true 2)."""
    tilted = TangentFit(np.array([14.0, 12.7, 3.2, 1e-4]) / 30, 30)
    local = TangentFit(np.array([18.0, 11.0, 0.75, 1e-12]) / 30, 30)
    assert estimate_dimension([tilted]) == 3
    assert estimate_dimension([tilted], local) == 2
    # local PCA only cuts: where its lifts stay above a tenth, the drop's k stands
    flat = TangentFit(np.array([8.0, 7.0, 6.0, 5.0]) / 30, 30)
    assert estimate_dimension([tilted], flat) == 3


def test_a_search_on_a_clean_circle_takes_k_1_from_the_data(monkeypatch):
    """Scripted candidates whose lifts drop after two directions, the second well above a
    tenth; the real local PCA of a noise-free circle holds almost nothing off its tangent,
    so k is 1 in every round."""
    import manifold_cae.lam_search as ls

    def candidate(X, config, lam, epochs, disp, n_dirs):
        return TangentFit(np.array([0.6, 0.39, 1e-6, 1e-6]), 4)

    monkeypatch.setattr(ls, "_candidate", candidate)
    ds = mc.load_dataset("circle:n_samples=200,noise=0,ambient_dim=4", seed=0)
    config = mc.make_run_config(
        ds, hidden=(8,), objective=ObjectiveConfig(lam="auto"),
        training=TrainConfig(epochs=5, batch_size=64, seed=0),
    )  # fmt: skip
    train_idx, held_idx = split(ds, config.training)
    result = search_lam(ds.X[train_idx], ds.X[held_idx], config, search=SMALL)
    assert [r.k for r in result.rounds] == [1, 1]
    lifts = np.array(result.local_lifts)
    assert lifts[1] < 0.1 * lifts[0]  # the circle's curvature: far under a tenth
    assert "local PCA's lifts" in result.report()
    assert LamSearchResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


@pytest.mark.parametrize(
    ("lifts", "k"),
    [
        ([9.97, 0.029, 1e-9, 1e-9], 1),  # circle without noise: its span is 2, its dimension 1
        ([10.9, 9.0, 0.137, 1e-9], 2),  # sphere without noise: span 3, dimension 2
        ([10.0, 8.0, 2.0, 1e-9], 3),  # a third direction above a tenth of the first is kept
        ([2.8, 0.8, 0.8, 0.8], 1),  # noisy: the drop alone, unchanged
        ([10.0, 0.5, 5.0, 1e-9], 1),  # cut before the first weak tangent: k scores in order
    ],
)
def test_dimension_drops_curvature_directions_far_below_the_tangents(lifts, k):
    assert estimate_dimension([TangentFit(np.array(lifts) / 10, 10)]) == k


# ------------------------------------------------------------------ the search


def test_search_is_deterministic_for_a_seed_and_follows_its_schedule():
    ds, config = small_run()
    train_idx, held_idx = split(ds, config.training)
    X, held = ds.X[train_idx], ds.X[held_idx]
    a = search_lam(X, held, config, search=SMALL)
    b = search_lam(X, held, config, search=SMALL)
    assert a == b
    first, second = a.rounds
    assert (first.epochs, first.lams) == (1, SMALL.grid)  # epochs // 5, the whole grid
    finalists = [lam for lam in second.lams if lam not in second.added]
    assert second.epochs == 5 and len(finalists) == SMALL.keep
    assert set(second.lams) <= set(first.lams)
    ranked = sorted(zip(first.missed, first.lams, strict=True))
    assert set(finalists) == {lam for _, lam in ranked[: SMALL.keep]}  # the best survive
    assert a.chosen == min(zip(second.missed, second.lams, strict=True))[1]
    assert a.k_source == "estimated" and 1 <= second.k <= 4


def test_a_diverged_candidate_ranks_last(monkeypatch):
    import manifold_cae.lam_search as ls

    real_fit = ls.fit

    def fit(X, config, **kw):
        if config.objective.lam == 0.01:
            raise mc.DivergenceError("boom")
        return real_fit(X, config, **kw)

    monkeypatch.setattr(ls, "fit", fit)
    ds, config = small_run()
    train_idx, held_idx = split(ds, config.training)
    result = search_lam(ds.X[train_idx], ds.X[held_idx], config, search=SMALL)
    assert result.rounds[0].missed[0] is None and result.rounds[0].lifts[0] == ()
    assert 0.01 not in result.rounds[1].lams and result.chosen != 0.01
    assert "diverged" in result.table()


def test_a_given_k_is_used_in_every_round():
    ds, config = small_run()
    train_idx, held_idx = split(ds, config.training)
    search = LamSearchConfig(grid=(0.1, 10.0), keep=1, points=20, k=1)
    result = search_lam(ds.X[train_idx], ds.X[held_idx], config, search=search)
    assert [r.k for r in result.rounds] == [1, 1] and result.k_source == "given"
    with pytest.raises(ConfigError, match="k=9 tangents asked for, but the model has at most 4"):
        search_lam(ds.X[train_idx], ds.X[held_idx], config, search=LamSearchConfig(k=9))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"grid": ()}, "distinct finite values > 0"),
        ({"grid": (0.1, -1.0)}, "distinct finite values > 0"),
        ({"grid": (0.1, 0.1)}, "distinct finite values > 0"),
        ({"keep": 0}, "keep must be >= 1; got 0"),
        ({"k": 0}, "k must be >= 1; got 0"),
        ({"neighbours": 1}, "neighbours must be >= 2; got 1"),  # one point has no spread
        ({"neighbours": 30, "reference": 10}, "reference (10) must be at least neighbours (30)"),
    ],
)
def test_search_settings_are_validated(kwargs, fragment):
    with pytest.raises(ConfigError) as e:
        LamSearchConfig(**kwargs)
    assert fragment in str(e.value)


def test_default_grid_is_two_per_decade():
    assert DEFAULT_GRID[0] == 0.01 and DEFAULT_GRID[-1] == 100.0 and len(DEFAULT_GRID) == 9
    np.testing.assert_allclose(np.diff(np.log10(DEFAULT_GRID)), 0.5, atol=1e-5)


# ------------------------------------------------------------------ runs and records


def test_auto_run_records_the_search_and_equals_a_run_with_the_chosen_lam(tmp_path):
    """The saved run says which λ and that it was chosen; it is that λ's ordinary run."""
    ds, config = small_run()
    auto = mc.train_dataset(ds, config, out_dir=tmp_path / "auto", search=SMALL)
    record = search_of(auto.config)
    assert record is not None and record.settings == SMALL
    assert auto.config.objective.lam == record.chosen
    # the run config in the checkpoint and the copy in history.json both carry it
    saved = load_checkpoint(tmp_path / "auto").config
    assert search_of(saved) == record and saved.objective.lam == record.chosen
    history = json.loads((tmp_path / "auto" / "history.json").read_text())
    assert history["config"]["data"]["lam_search"] == record.to_dict()
    assert history["config"]["objective"]["lam"] == record.chosen
    assert LamSearchResult.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    assert record.gain in SMALL.gains and auto.config.model.input_gain == record.gain
    _, fixed_config = small_run(lam=record.chosen)
    fixed_config = mc.config.replace(
        fixed_config, model=mc.config.replace(fixed_config.model, input_gain=record.gain)
    )
    fixed = mc.train_dataset(ds, fixed_config)
    for a, b in zip(auto.model.state_dict().values(), fixed.model.state_dict().values(),
                    strict=True):  # fmt: skip
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_fit_refuses_an_unresolved_auto():
    ds, config = small_run()
    with pytest.raises(ConfigError, match=r'lam is "auto" \(the default\): give ObjectiveConfig'):
        mc.fit(ds.X, config)


def test_auto_is_the_default_and_kinds_without_a_penalty_never_read_it():
    assert ObjectiveConfig().lam == "auto" == ObjectiveConfig(kind="rcae").lam
    dae = ObjectiveConfig(kind="dae")
    assert dae.lam == "auto" and mc.config.replace(dae, kind="cae").lam == "auto"
    ds, config = small_run()
    config = mc.config.replace(config, objective=dae)
    result = mc.train_dataset(ds, config, search=SMALL)  # nothing searched, nothing refused
    assert search_of(result.config) is None and result.config.objective.lam == "auto"
    with pytest.raises(ConfigError, match="no contractive penalty"):
        search_lam(ds.X, None, config, search=SMALL)


def test_cli_default_chooses_lam(tmp_path):
    result = invoke("train", "--data", SPEC, "--epochs", 2, "--hidden", "8", "--out",
                    tmp_path / "r")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "λ chosen automatically" in result.output
    saved = load_checkpoint(tmp_path / "r").config
    assert search_of(saved) is not None and saved.objective.lam == search_of(saved).chosen


def test_report_gives_the_searchs_k_beside_the_spectrum(tmp_path):
    """report.md names the k the search estimated; a run with a given λ has no such line."""
    for name, lam in (("auto", "auto"), ("fixed", "0.5")):
        result = invoke("train", "--data", SPEC, "--epochs", 2, "--hidden", "8", "--lam", lam,
                        "--out", tmp_path / name, "-q")  # fmt: skip
        assert result.exit_code == 0, result.output
        result = invoke("analyze", tmp_path / name, "--data", SPEC, "--points", 20,
                        "--out", tmp_path / f"an-{name}", "-q")  # fmt: skip
        assert result.exit_code == 0, result.output
    k = search_of(load_checkpoint(tmp_path / "auto").config).rounds[-1].k
    report = (tmp_path / "an-auto" / "report.md").read_text()
    assert f"Training's λ search estimated the dimension at k = {k}:" in report
    assert "λ search" not in (tmp_path / "an-fixed" / "report.md").read_text()


def test_a_held_out_record_is_saved_as_before_scored_on_existed():
    ds, config = small_run()
    train_idx, held_idx = split(ds, config.training)
    record = search_lam(ds.X[train_idx], ds.X[held_idx], config, search=SMALL).to_dict()
    assert "scored_on" not in record  # so runs saved before it resume (their records match)
    assert LamSearchResult.from_dict(record).scored_on == "the held-out split"


def test_an_old_dae_run_saved_with_lam_resumes_under_the_auto_default(tmp_path):
    """Before auto became the default, ae and dae runs were saved with lam 0.1."""
    ds, config = small_run(epochs=2)
    old = mc.config.replace(config, objective=ObjectiveConfig(kind="dae", lam=0.1))
    mc.train_dataset(ds, old, out_dir=tmp_path / "r")
    result = invoke("train", "--data", SPEC, "--model", "dae", "--epochs", 3, "--hidden", "8",
                    "--batch-size", 64, "--resume", "--out", tmp_path / "r", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert load_checkpoint(tmp_path / "r").epoch == 3


def test_without_a_held_out_split_a_fifth_of_the_training_rows_scores():
    ds, config = small_run()
    config = mc.config.replace(config, training=mc.config.replace(config.training, held_out=0.0))
    a = search_lam(ds.X, None, config, search=SMALL)
    assert a == search_lam(ds.X, np.empty((0, ds.X.shape[1])), config, search=SMALL)
    assert "a fifth of the training rows" in a.scored_on and a.scored_on in a.report()
    assert LamSearchResult.from_dict(a.to_dict()) == a
    # the candidates train on the other four fifths: not the run's rows, so not its numbers
    held = search_lam(ds.X[:160], ds.X[160:], config, search=SMALL)
    assert held.scored_on == "the held-out split" and held.rounds != a.rounds
    run = mc.train_dataset(ds, config, search=SMALL)  # held_out 0 with lam auto: it trains
    assert run.config.objective.lam == a.chosen and search_of(run.config) == a


def test_a_stack_takes_the_stacked_default_for_auto(tmp_path):
    from manifold_cae.stacking import (
        STACKED_LAM,
        compose,
        finetune_run_config,
        plan_layers,
        stacked_run_config,
    )

    _, config = small_run()
    config = mc.config.replace(
        config, model=mc.config.replace(config.model, hidden=(8, 4)),
        training=mc.config.replace(config.training, stacked=True),
    )  # fmt: skip
    assert [p.lam for p in plan_layers(config)] == [STACKED_LAM, STACKED_LAM]
    assert [p.lam for p in plan_layers(config, lam=(0.5, 0.2))] == [0.5, 0.2]
    assert stacked_run_config(config).objective.lam == STACKED_LAM  # saved as a number
    ae = mc.config.replace(config, objective=ObjectiveConfig(kind="ae"), training=mc.config.replace(
        config.training, finetune_epochs=2, finetune_objective="cae"))  # fmt: skip
    tuned = finetune_run_config(
        stacked_run_config(ae),  # what train_stacked fine-tunes from: λ resolved to a number
        compose(
            [mc.Autoencoder(mc.ModelConfig(4, (8,))), mc.Autoencoder(mc.ModelConfig(8, (4,)))]
        ).config,
    )
    assert tuned.objective.lam == STACKED_LAM  # --finetune-objective cae: not λ 0


def test_compare_records_a_stacks_lam_as_a_number(tmp_path):
    study = StudyConfig(
        data=SPEC, architecture=ArchitectureConfig(hidden=(8, 4)), models=("ae", "cae-stacked"),
        seeds=(0,), training=TrainConfig(epochs=2, batch_size=64),
        analysis=mc.AnalysisConfig(points=10, store_points=2, contraction_points=4, n_radii=2),
    )  # fmt: skip
    from manifold_cae.compare import run_study

    ae, stack = run_study(study, tmp_path, progress=False, log=lambda _m: None,
                          figures=False).rows  # fmt: skip
    assert stack["lam"] == 0.1 and not stack["lam_auto"]
    assert ae["lam"] is None and not ae["lam_auto"]


def test_objective_and_toml_accept_auto_and_refuse_near_misses(tmp_path):
    assert ObjectiveConfig(lam="auto").lam == "auto"
    assert ObjectiveConfig(lam=1).lam == 1.0
    with pytest.raises(ConfigError, match="lam must be a number >= 0 or \"auto\"; got 'autox'"):
        ObjectiveConfig(lam="autox")
    with pytest.raises(ConfigError, match="lam must be a number; got True"):
        ObjectiveConfig(lam=True)
    toml = tmp_path / "s.toml"
    toml.write_text('[objective]\nlam = "auto"\n')
    assert load_toml(toml)["objective"]["lam"] == "auto"


# ------------------------------------------------------------------ command line


def test_cli_auto_is_deterministic_and_prints_the_curve(tmp_path):
    a, b = train(tmp_path / "a"), train(tmp_path / "b", "-q")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert "λ chosen automatically" in a.output and "<- chosen" in a.output
    ra, rb = (search_of(load_checkpoint(tmp_path / r).config) for r in "ab")
    assert ra == rb and ra.settings == LamSearchConfig()
    ma, mb = mc.load_model(tmp_path / "a"), mc.load_model(tmp_path / "b")
    for pa, pb in zip(ma.parameters(), mb.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)


def test_cli_toml_auto(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('[objective]\nlam = "auto"\n[training]\nepochs = 2\n')
    result = invoke("train", "--data", SPEC, "--hidden", "8", "--config", toml,
                    "--out", tmp_path / "r", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert search_of(load_checkpoint(tmp_path / "r").config) is not None
    toml.write_text("[objective]\nlam = 0.3\n[training]\nepochs = 2\n")  # a number: no search
    result = invoke("train", "--data", SPEC, "--hidden", "8", "--config", toml,
                    "--out", tmp_path / "n", "-q")  # fmt: skip
    saved = load_checkpoint(tmp_path / "n").config
    assert result.exit_code == 0 and saved.objective.lam == 0.3 and search_of(saved) is None


def test_cli_resume_reuses_the_choice_without_searching(tmp_path, monkeypatch):
    run = tmp_path / "run"
    assert train(run, "-q", epochs=3).exit_code == 0
    before = search_of(load_checkpoint(run).config)
    import manifold_cae.lam_search as ls

    def no_search(*_a, **_k):
        raise AssertionError("the search ran again on resume")

    monkeypatch.setattr(ls, "search_lam", no_search)
    result = train(run, "--resume", epochs=5)
    assert result.exit_code == 0, result.output
    assert "chosen automatically when the run started" in result.output
    ckpt = load_checkpoint(run)
    assert ckpt.epoch == 5 and search_of(ckpt.config) == before
    assert ckpt.config.objective.lam == before.chosen


def test_cli_resume_of_a_fixed_lam_run_with_auto_is_refused(tmp_path):
    run = tmp_path / "run"
    fixed = invoke("train", "--data", SPEC, "--epochs", 2, "--hidden", "8", "--out", run, "-q",
                   "--lam", "0.1")  # fmt: skip
    assert fixed.exit_code == 0
    one_line_error(train(run, "--resume", "-q"), 1, "trained with lam=0.1", "--lam 0.1")


def test_cli_existing_run_fails_before_the_search(tmp_path):
    run = tmp_path / "run"
    assert train(run, "-q", epochs=2).exit_code == 0
    result = train(run, epochs=2)
    one_line_error(result, 1, "already holds a run", "--overwrite")
    assert "λ search" not in result.output


@pytest.mark.parametrize(
    ("args", "code", "fragments"),
    [
        (["--lam", "-1"], 2, ["lam must be finite and >= 0; got -1.0"]),
        (["--lam", "autox"], 2, ["--lam", 'expected a number >= 0 or "auto"', "'autox'"]),
        (["--lam", "auto", "--model", "dae"], 2, ["--model dae ignores --lam"]),
        (
            ["--lam", "auto,0.1", "--stacked", "--hidden", "8,4"],
            2,
            ["cannot be one of a stack's per-layer values", "--lam 0.5,0.1"],
        ),
    ],
)
def test_cli_bad_lam_gets_a_one_line_error(args, code, fragments, tmp_path):
    result = invoke("train", "--data", SPEC, "--epochs", 2, "--hidden", "8",
                    "--out", tmp_path / "r", "-q", *args)  # fmt: skip
    one_line_error(result, code, *fragments)
    assert not (tmp_path / "r" / "model.safetensors").exists()


# ------------------------------------------------------------------ compare


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"lam": ("auto", 0.1)}, "cannot be part of a sweep"),
        ({"lam": (0.1, "auto")}, "cannot be part of a sweep"),
    ],
)
def test_study_refuses_auto_where_it_cannot_apply(kwargs, fragment):
    arch = ArchitectureConfig(hidden=(8, 4))
    with pytest.raises(ConfigError, match=fragment):
        StudyConfig(data=SPEC, architecture=arch, **kwargs)


def test_compare_auto_chooses_per_run_and_reuses_it(tmp_path):
    args = ["compare", "--data", SPEC, "--models", "ae,cae", "--seeds", "0", "--lam", "auto",
            "--epochs", 2, "--hidden", "8", "--points", 20, "--out", tmp_path / "s",
            "-q"]  # fmt: skip
    assert invoke(*args).exit_code == 0
    rows = {
        r["model"]: r for r in json.loads((tmp_path / "s" / "comparison.json").read_text())["runs"]
    }
    chosen = search_of(load_checkpoint(tmp_path / "s" / "runs" / "cae-s0").config).chosen
    assert rows["cae"]["lam"] == chosen and rows["cae"]["lam_auto"] is True
    assert rows["ae"]["lam"] is None and not rows["ae"]["lam_auto"]
    assert f"cae-s0 {chosen:g}" in (tmp_path / "s" / "report.md").read_text()
    again = CliRunner().invoke(main, [str(a) for a in args if a != "-q"])
    assert again.exit_code == 0, again.output
    assert "cae-s0: skipped (complete) (lam auto" in again.output
    assert "analysis reused" in again.output


def test_a_loss_refuses_an_unresolved_auto():
    from manifold_cae.objectives import loss_terms

    _, config = small_run()
    model = mc.Autoencoder(config.model)
    with pytest.raises(ConfigError, match='lam is "auto": a loss needs a number'):
        loss_terms(model, torch.zeros(2, config.model.n_features), config.objective, generator=None)


# ------------------------------------------------------------------ the chosen length


# λ 1 and 100 reach round 2 (k is 1 in both rounds: the largest drop follows the first
# tangent); λ 100 is the best full-length run, λ 1's first-round run beats it
SHORT_WINS = {
    (0.01, 1): [0.50, 0.01], (1.0, 1): [0.80, 0.01], (100.0, 1): [0.60, 0.01],
    (1.0, 5): [0.70, 0.01], (100.0, 5): [0.75, 0.01],
}  # fmt: skip


def scripted_candidates(monkeypatch, shares: dict[tuple[float, int], list[float]]) -> list:
    """Replace the trained candidates by fits with the given shares per (λ, epochs).

    Two shares [a, b] stand for [a, b, b, b] (k is 1 where a > b); four are taken as they are.
    The data's local PCA is made flat, so that it cuts no k: the scripted lifts alone set k.
    Returns the list of (λ, epochs) the search asked for, in order.
    """
    import manifold_cae.lam_search as ls

    asked = []

    def candidate(X, config, lam, epochs, disp, n_dirs):
        asked.append((lam, epochs))
        given = shares[lam, epochs]
        return TangentFit(np.array(given if len(given) == n_dirs else given + given[1:] * 2), 4)

    monkeypatch.setattr(ls, "_candidate", candidate)
    monkeypatch.setattr(ls, "neighbourhood_fit", lambda disp, n: TangentFit(np.full(n, 1 / n), 4))
    return asked


def searched(config=None) -> LamSearchResult:
    ds, config = small_run() if config is None else (mc.load_dataset(SPEC, seed=0), config)
    train_idx, held_idx = split(ds, config.training)
    return search_lam(ds.X[train_idx], ds.X[held_idx], config, search=SMALL)


def test_a_first_round_run_that_scores_better_is_chosen_with_its_length(monkeypatch):
    scripted_candidates(monkeypatch, SHORT_WINS)
    result = searched()
    assert [r.k for r in result.rounds] == [1, 1]
    assert result.rounds[1].lams == (1.0, 100.0)  # the full round alone would choose 100
    assert (result.chosen, result.epochs, result.chosen_epochs) == (1.0, 1, 1)
    assert result.rescored == pytest.approx((0.5, 0.2, 0.4))
    assert "for 1 epochs: its first-round run scored better than every 5-epoch one" in (
        result.report()
    )
    assert "<- chosen (1 ep)" in result.table()
    assert LamSearchResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_a_tie_keeps_the_full_length(monkeypatch):
    scripted_candidates(monkeypatch, {
        (0.01, 1): [0.50, 0.01], (1.0, 1): [0.75, 0.01], (100.0, 1): [0.60, 0.01],
        (1.0, 5): [0.70, 0.01], (100.0, 5): [0.75, 0.01],
    })  # fmt: skip
    result = searched()
    assert (result.chosen, result.epochs, result.chosen_epochs) == (100.0, 5, 5)
    assert "<- chosen\n" in result.table() + "\n" and "first-round" not in result.report()


def test_the_first_round_is_compared_at_the_last_rounds_k(monkeypatch):
    """Round 1 estimates k=1, round 2 k=2: the finalists' runs of both rounds compete at k=2."""
    scripted_candidates(monkeypatch, {
        (0.01, 1): [0.90, 0.001], (1.0, 1): [0.30, 0.65, 0.001, 0.001], (100.0, 1): [0.40, 0.001],
        (0.01, 5): [0.5, 0.40, 1e-4, 1e-4], (100.0, 5): [0.45, 0.44, 1e-3, 1e-3],
    })  # fmt: skip
    result = searched()
    assert [r.k for r in result.rounds] == [1, 2]
    assert result.rounds[1].lams == (0.01, 100.0)  # at k=1, λ 1 was dropped
    # at k=2, λ 1's first-round run misses 0.05, but the first round dropped λ 1: it is no
    # finalist and cannot come back; finalist 0.01's first-round run (0.099) beats every
    # full-length run (0.10, 0.11) and wins with its length
    assert (result.chosen, result.chosen_epochs) == (0.01, 1)
    assert result.rescored == pytest.approx((0.099, 0.05, 0.599))
    assert result.rounds[1].missed == pytest.approx((0.10, 0.11))
    assert "at k=2 (1 ep)" in result.table()
    assert "0.0500" not in result.table()  # λ 1 competed in no round at k=2: not shown there


def test_a_finalist_whose_first_run_diverged_has_no_short_run(monkeypatch):
    """Fewer than keep candidates survive round 1: a diverged one is a finalist too."""
    import manifold_cae.lam_search as ls

    def candidate(X, config, lam, epochs, disp, n_dirs):
        if epochs == 1 and lam != 1.0:
            return None  # diverged
        return TangentFit(np.array([0.6, 0.01, 0.01, 0.01]), 4)

    monkeypatch.setattr(ls, "_candidate", candidate)
    result = searched()
    assert result.rounds[0].missed.count(None) == 2 and len(result.rounds[1].lams) == 2
    assert result.chosen_epochs == 5  # λ 1's short run ties its full one: the full length


def test_a_run_trains_for_the_chosen_length_and_resumes_as_it(tmp_path, monkeypatch):
    scripted_candidates(monkeypatch, SHORT_WINS)
    ds, config = small_run()
    run = tmp_path / "run"
    auto = mc.train_dataset(ds, config, out_dir=run, search=SMALL)
    assert auto.config.training.epochs == 1 and auto.config.objective.lam == 1.0
    assert load_checkpoint(run).epoch == 1 and len(auto.history) == 1
    _, fixed = small_run(lam=1.0, epochs=1)  # the same run as a fixed λ and length
    for a, b in zip(auto.model.parameters(), mc.train_dataset(ds, fixed).model.parameters(),
                    strict=True):  # fmt: skip
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    again = mc.train_dataset(ds, config, out_dir=run, resume=True, search=SMALL)
    assert len(again.history) == 1 and again.config == auto.config  # the same length: done
    _, longer = small_run(epochs=3)  # another length asked for: the chosen λ trains on
    on = mc.train_dataset(ds, longer, out_dir=run, resume=True, search=SMALL)
    assert load_checkpoint(run).epoch == 3 and len(on.history) == 3
    assert on.config.objective.lam == 1.0
    lines = []  # the first command again: the run's own plan (3), not refused below it
    same = mc.train_dataset(ds, config, out_dir=run, resume=True, search=SMALL, log=lines.append)
    assert load_checkpoint(run).epoch == 3 and same.config.training.epochs == 3
    assert any("the run plans 3 epochs, not the 5 its λ search was made for" in ln
               for ln in lines)  # fmt: skip


def test_compare_keeps_the_studys_epochs(tmp_path, monkeypatch):
    """A study's models train for the same epochs: its search chooses λ only."""
    shares = {(lam, e): [0.5, 0.01] for lam in DEFAULT_GRID for e in (1, 5)}  # the study's grid
    shares.update({(1.0, 1): [0.80, 0.01], (100.0, 1): [0.60, 0.01], (1.0, 5): [0.70, 0.01],
                   (100.0, 5): [0.75, 0.01]})  # fmt: skip
    scripted_candidates(monkeypatch, shares)
    ds, config = small_run()
    train_idx, held_idx = split(ds, config.training)
    fixed = search_lam(ds.X[train_idx], ds.X[held_idx], config, search=SMALL, choose_length=False)
    assert fixed.epochs is None and fixed.rescored is None and fixed.chosen_epochs == 5
    assert fixed.chosen == 100.0  # the full round's best, though λ 1 at 1 epoch scored better
    study = StudyConfig(
        data=SPEC, architecture=ArchitectureConfig(hidden=(8,)), models=("ae", "cae"), seeds=(0,),
        training=TrainConfig(epochs=5, batch_size=64),
        analysis=mc.AnalysisConfig(points=10, store_points=2, contraction_points=4, n_radii=2),
    )  # fmt: skip
    result = run_study(study, tmp_path / "s")
    assert [r["epochs"] for r in result.rows] == [5, 5]
    saved = load_checkpoint(tmp_path / "s" / "runs" / "cae-s0")
    assert saved.epoch == 5 and search_of(saved.config).epochs is None


def test_a_record_saved_before_the_length_choice_keeps_its_full_length():
    ds, config = small_run()
    train_idx, held_idx = split(ds, config.training)
    record = search_lam(ds.X[train_idx], ds.X[held_idx], config, search=SMALL).to_dict()
    old = {k: v for k, v in record.items() if k not in ("epochs", "rescored")}
    result = LamSearchResult.from_dict(old)
    assert result.epochs is None and result.chosen_epochs == result.full_epochs == 5
    assert result.to_dict() == old  # so runs saved before it still resume
    assert mc.lam_search.with_search(config, result).training.epochs == 5


# ------------------------------------------------------------------ the input gain


def scripted_by_gain(monkeypatch, shares_of) -> list:
    """Candidates whose shares ``shares_of(gain, lam, epochs)`` gives (two shares: as
    :func:`scripted_candidates`, or None: diverged); returns the (gain, λ, epochs) asked."""
    import manifold_cae.lam_search as ls

    asked = []

    def candidate(X, config, lam, epochs, disp, n_dirs):
        asked.append((config.model.input_gain, lam, epochs))
        given = shares_of(config.model.input_gain, lam, epochs)
        return None if given is None else TangentFit(np.array(given + given[1:] * 2), 4)

    monkeypatch.setattr(ls, "_candidate", candidate)
    return asked


def test_the_gain_whose_choice_scores_best_is_chosen_and_recorded(monkeypatch):
    # gain 1: every run misses 0.4; gain 2: λ 1 misses 0.1 at full length
    asked = scripted_by_gain(
        monkeypatch,
        lambda g, lam, ep: [0.9, 0.01] if (g, lam, ep) == (2.0, 1.0, 5) else [0.6, 0.01],
    )
    result = searched()
    assert {g for g, _, _ in asked} == {1.0, 2.0}
    assert result.gain == 2.0 and result.chosen == 1.0 and result.gain_k == 1
    assert [(c.gain, c.lam, c.epochs) for c in result.by_gain] == [(1.0, 0.01, 5), (2.0, 1.0, 5)]
    assert [round(c.missed, 6) for c in result.by_gain] == [0.4, 0.1]
    assert LamSearchResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    assert "input gain chosen: 2× --input-gain" in result.report()
    _, config = small_run()
    assert mc.lam_search.with_search(config, result).model.input_gain == 2.0


def test_a_tie_between_gains_keeps_the_first(monkeypatch):
    scripted_by_gain(monkeypatch, lambda g, lam, ep: [0.6, 0.01])
    assert searched().gain == 1.0


def test_a_gain_whose_every_run_diverged_loses_and_all_diverged_raises(monkeypatch):
    scripted_by_gain(monkeypatch, lambda g, lam, ep: None if g == 2.0 else [0.6, 0.01])
    result = searched()
    assert result.gain == 1.0 and result.by_gain[1] == (2.0, None, None, None, None)
    assert "2×: diverged" in result.report()
    assert LamSearchResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    scripted_by_gain(monkeypatch, lambda g, lam, ep: None)
    with pytest.raises(mc.DivergenceError, match="every λ of the search diverged"):
        searched()


@pytest.mark.parametrize("how", ["compare", "no scaling"])
def test_the_gain_is_not_searched_for_a_study_or_an_unscaled_model(how, monkeypatch):
    asked = scripted_by_gain(monkeypatch, lambda g, lam, ep: [0.6, 0.01])
    ds, config = small_run()
    if how == "no scaling":
        config = mc.config.replace(
            config, model=mc.config.replace(config.model, input_scaling="none")
        )
    train_idx, held_idx = split(ds, config.training)
    result = search_lam(ds.X[train_idx], ds.X[held_idx], config, search=SMALL,
                        choose_gain=how != "compare")  # fmt: skip
    assert result.gain is None and result.by_gain is None and {g for g, _, _ in asked} == {1.0}
    assert mc.lam_search.with_search(config, result).model == config.model


def test_one_gain_is_searched_at_and_recorded(monkeypatch):
    asked = scripted_by_gain(monkeypatch, lambda g, lam, ep: [0.6, 0.01])
    ds, config = small_run()
    train_idx, held_idx = split(ds, config.training)
    search = dataclasses.replace(SMALL, gains=(2.0,))
    result = search_lam(ds.X[train_idx], ds.X[held_idx], config, search=search)
    assert {g for g, _, _ in asked} == {2.0} and result.gain == 2.0 and result.by_gain is None
    assert mc.lam_search.with_search(config, result).model.input_gain == 2.0


def test_a_hand_built_config_with_auto_scaling_gets_the_gain_search(monkeypatch):
    """fit decides "auto" scaling from the data; the search decides it the same way first."""
    asked = scripted_by_gain(monkeypatch, lambda g, lam, ep: [0.6, 0.01])
    ds, _ = small_run()
    config = mc.RunConfig(ModelConfig(ds.n_features, (8,)), ObjectiveConfig(lam="auto"),
                          TrainConfig(epochs=5, batch_size=64))  # fmt: skip
    train_idx, held_idx = split(ds, config.training)
    result = search_lam(ds.X[train_idx], ds.X[held_idx], config, search=SMALL)
    assert {g for g, _, _ in asked} == {1.0, 2.0} and result.gain == 1.0


def test_a_record_saved_before_the_gain_search_loads_and_resumes_as_it_was():
    ds, config = small_run()
    train_idx, held_idx = split(ds, config.training)
    record = search_lam(ds.X[train_idx], ds.X[held_idx], config, search=SMALL,
                        choose_gain=False).to_dict()  # fmt: skip
    old = json.loads(json.dumps(record))
    del old["settings"]["gains"]  # what a run saved before the gain search holds
    result = LamSearchResult.from_dict(old)
    assert result.settings.gains == (1.0,) and result.gain is None
    assert result.to_dict() == old
    assert mc.lam_search.with_search(config, result).model.input_gain == 1.0


def test_the_gains_are_validated():
    with pytest.raises(ConfigError, match="the input gains must hold distinct finite values > 0"):
        LamSearchConfig(gains=(1.0, 0.0))


def test_a_run_trains_and_resumes_at_the_chosen_gain(tmp_path, monkeypatch):
    asked = scripted_by_gain(
        monkeypatch, lambda g, lam, ep: [0.9, 0.01] if (g, lam) == (2.0, 1.0) else [0.6, 0.01]
    )
    ds, config = small_run()
    first = mc.train_dataset(ds, config, out_dir=tmp_path / "r", search=SMALL)
    assert first.config.model.input_gain == 2.0 and first.model.config.input_gain == 2.0
    n_asked = len(asked)
    longer = mc.config.replace(config, training=mc.config.replace(config.training, epochs=7))
    resumed = mc.train_dataset(ds, longer, out_dir=tmp_path / "r", resume=True)
    assert len(asked) == n_asked  # the recorded choice, not a new search
    assert resumed.config.model.input_gain == 2.0 and resumed.history[-1]["epoch"] == 7
    torch.testing.assert_close(resumed.model.input_scale, first.model.input_scale)


def test_a_resume_takes_the_saved_gain_or_the_start_gain_and_refuses_another(tmp_path, monkeypatch):
    scripted_by_gain(
        monkeypatch, lambda g, lam, ep: [0.9, 0.01] if (g, lam) == (2.0, 1.0) else [0.6, 0.01]
    )
    out = tmp_path / "r"
    assert train(out, "--epochs", 5).exit_code == 0
    assert load_checkpoint(out).config.model.input_gain == 2.0
    for gain, epochs in (("1", 6), ("2", 7)):  # the gain it started with, or the one it holds
        result = train(out, "--resume", "--input-gain", gain, epochs=epochs)
        assert result.exit_code == 0, result.output
        saved = load_checkpoint(out)
        assert saved.config.model.input_gain == 2.0 and saved.epoch == epochs
    one_line_error(
        train(out, "--resume", "--input-gain", "3", epochs=8),
        1,
        "trains at input_gain 2",
        "--input-gain 1 (the start's) or 2 (the run's)",
    )


def test_an_old_record_resumes_with_explicit_search_settings(tmp_path):
    ds, config = small_run()
    config = mc.config.replace(config, model=mc.config.replace(config.model, input_scaling="none"))
    search = dataclasses.replace(SMALL, gains=(1.0,))
    mc.train_dataset(ds, config, out_dir=tmp_path / "r", search=search)  # as before gains
    saved = load_checkpoint(tmp_path / "r").config
    assert "gains" not in saved.data["lam_search"]["settings"]
    longer = mc.config.replace(config, training=mc.config.replace(config.training, epochs=6))
    resumed = mc.train_dataset(ds, longer, out_dir=tmp_path / "r", resume=True, search=SMALL)
    assert resumed.history[-1]["epoch"] == 6


def test_gains_whose_misses_are_below_the_resolution_tie(monkeypatch):
    """At a k that every run fills, misses are rounding: the first gain stays."""
    from manifold_cae.lam_search import RESOLVED_MISS

    tiny = [1 - RESOLVED_MISS / 10, RESOLVED_MISS / 30]  # misses 1e-5 at k = 1
    smaller = [1 - RESOLVED_MISS / 100, RESOLVED_MISS / 300]  # misses 1e-6
    scripted_by_gain(monkeypatch, lambda g, lam, ep: smaller if g == 2.0 else tiny)
    result = searched()
    assert result.gain == 1.0 and result.by_gain[1].missed < result.by_gain[0].missed


def per_point_fit(missed_each: np.ndarray) -> TangentFit:
    """A fit of len(missed_each) points, each of energy 1, whose top tangent misses that much."""
    along = np.stack([1 - missed_each, missed_each / 3, missed_each / 3, missed_each / 3], 1)
    return TangentFit(along.sum(0) / len(along), 4, along, np.ones(len(along)))


def test_advantage_is_the_paired_difference_in_bootstrap_standard_errors():
    from manifold_cae.lam_search import advantage

    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.4, 400)
    same = per_point_fit(base), per_point_fit(base)
    assert advantage(*same, 1, seed=0) is None  # no spread in the difference
    noisy = per_point_fit(np.clip(base - 0.001 + rng.normal(0, 0.05, 400), 0, 1))
    clear = per_point_fit(base - 0.05)
    z_noisy = advantage(per_point_fit(base), noisy, 1, seed=0)
    z_clear = advantage(per_point_fit(base), clear, 1, seed=0)
    assert z_noisy is not None and abs(z_noisy) < 2  # 0.001 against an SE of about 0.0025
    assert z_clear is None  # the same 0.05 at every point: no spread, a sure difference
    d = per_point_fit(base).missed(1) - noisy.missed(1)
    diffs = noisy.along[:, 0] - per_point_fit(base).along[:, 0]  # equal totals: a plain mean
    assert z_noisy == pytest.approx(d / (diffs.std() / np.sqrt(400)), rel=0.1)
    assert (
        advantage(*same, 1, seed=3) is None
        and advantage(TangentFit(base, 4), clear, 1, seed=0) is None
    )


@pytest.mark.parametrize(("shift", "noise", "gain"), [(0.05, 0.01, 2.0), (0.003, 0.05, 1.0)])
def test_a_later_gain_must_miss_less_by_more_than_two_standard_errors(monkeypatch, shift, noise,
                                                                      gain):  # fmt: skip
    import manifold_cae.lam_search as ls

    rng = np.random.default_rng(1)
    base = rng.uniform(0.2, 0.4, 300)
    scatter = rng.normal(0, noise, 300)
    other = base - shift + scatter - scatter.mean()  # misses ``shift`` less on average

    def candidate(X, config, lam, epochs, disp, n_dirs):
        return per_point_fit(other if config.model.input_gain == 2.0 else base)

    monkeypatch.setattr(ls, "_candidate", candidate)
    result = searched()
    assert result.by_gain[1].missed < result.by_gain[0].missed  # gain 2 misses less either way
    assert result.gain == gain and (result.by_gain[1].z > 2) == (gain == 2.0)
    assert f"{result.by_gain[1].z:+.1f} SE" in result.report()


def test_a_run_whose_search_chose_no_gain_refuses_another_gain_on_resume(tmp_path):
    """The record has no gain (as compare's, or one saved before): a changed --input-gain is
    the resume check's to refuse, naming the field, not a crash in the λ resolution."""
    ds, config = small_run()
    train_idx, held_idx = split(ds, config.training)
    X, held = ds.X[train_idx], ds.X[held_idx]
    result = search_lam(X, held, config, search=SMALL, choose_gain=False)
    mc.fit(X, mc.lam_search.with_search(config, result), out_dir=tmp_path / "r",
           X_held_out=held, progress=False)  # fmt: skip
    doubled = mc.config.replace(config, model=mc.config.replace(config.model, input_gain=2.0))
    with pytest.raises(mc.CheckpointError, match="input_gain"):
        mc.train_dataset(ds, doubled, out_dir=tmp_path / "r", resume=True)


# ------------------------------------------------------------------ past the finalists

WIDE = LamSearchConfig(grid=(0.01, 0.1, 1.0, 10.0, 100.0), keep=2, points=30)


def _wide_search(monkeypatch, shares):
    """A search over WIDE at one gain with scripted candidates: (what it trained, result)."""
    asked = scripted_candidates(monkeypatch, shares)
    ds, config = small_run()
    train_idx, held_idx = split(ds, config.training)
    result = search_lam(ds.X[train_idx], ds.X[held_idx], config, search=WIDE,
                        choose_gain=False)  # fmt: skip
    return asked, result


def test_beyond_is_the_next_grid_lam_past_a_best_at_an_edge_of_those_trained():
    grid, fit = WIDE.grid, TangentFit(np.ones(2), 2)
    assert _beyond(grid, dict.fromkeys((10.0, 100.0), fit), 10.0) == [1.0]
    assert _beyond(grid, dict.fromkeys((1.0, 10.0), fit), 10.0) == [100.0]
    assert _beyond(grid, dict.fromkeys((0.1, 1.0, 10.0), fit), 1.0) == []  # flanked
    assert _beyond(grid, dict.fromkeys((0.01, 0.1), fit), 0.01) == []  # the grid's own end
    assert _beyond(grid, {1.0: fit}, 1.0) == [0.1, 10.0]  # keep 1: both sides
    assert _beyond(grid, {0.1: None, 1.0: fit}, 1.0) == [10.0]  # a diverged λ flanks too
    assert _beyond((100.0, 1.0, 10.0), dict.fromkeys((10.0, 100.0), fit), 10.0) == [1.0]


# The first round keeps 10 and 100; at full length 10 is best, so 1 is trained, beats it and
# is trained past in turn (0.1), which is worse: 1 is chosen, and 0.01 is never trained.
PAST_THE_FINALISTS = {
    **{(lam, 1): [0.30, 0.01] for lam in (0.01, 0.1, 1.0)},
    (10.0, 1): [0.40, 0.01], (100.0, 1): [0.35, 0.01],
    (10.0, 5): [0.60, 0.01], (100.0, 5): [0.50, 0.01],
    (1.0, 5): [0.70, 0.01], (0.1, 5): [0.65, 0.01],
}  # fmt: skip


def test_the_search_trains_past_a_best_finalist_at_the_edge_until_it_is_flanked(monkeypatch):
    asked, result = _wide_search(monkeypatch, PAST_THE_FINALISTS)
    assert asked[5:] == [(10.0, 5), (100.0, 5), (1.0, 5), (0.1, 5)]
    last = result.rounds[-1]
    assert (last.lams, last.added, last.k) == ((0.1, 1.0, 10.0, 100.0), (0.1, 1.0), 1)
    assert last.missed == pytest.approx((0.35, 0.30, 0.40, 0.50))
    assert (result.chosen, result.chosen_epochs) == (1.0, 5)  # its 1-epoch run: 0.70 missed
    assert "past the finalists" in result.table()
    assert LamSearchResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_past_the_largest_finalist_too_and_not_past_the_grid(monkeypatch):
    asked, result = _wide_search(monkeypatch, {
        **{(lam, 1): [0.30, 0.01] for lam in (0.1, 10.0, 100.0)},
        (0.01, 1): [0.40, 0.01], (1.0, 1): [0.35, 0.01],
        (0.01, 5): [0.50, 0.01], (1.0, 5): [0.60, 0.01], (10.0, 5): [0.70, 0.01],
        (100.0, 5): [0.80, 0.01],
    })  # fmt: skip
    assert asked[5:] == [(0.01, 5), (1.0, 5), (10.0, 5), (100.0, 5)]  # 100: the grid's end
    assert result.rounds[-1].added == (10.0, 100.0) and result.chosen == 100.0


def test_a_record_without_added_rounds_loads_and_saves_as_it_was():
    record = {
        "chosen": 1.0, "k_source": "estimated", "criterion": "c",
        "settings": dataclasses.asdict(SMALL),
        "rounds": [{"epochs": 5, "lams": [1.0], "missed": [0.1], "k": 1, "lifts": [[2.0]]}],
    }  # fmt: skip
    result = LamSearchResult.from_dict(json.loads(json.dumps(record)))
    assert result.rounds[0].added == ()
    assert result.to_dict()["rounds"] == record["rounds"]


def test_a_tie_past_the_finalists_keeps_the_best_and_ends_the_walk(monkeypatch):
    """Else ties (exact 0 misses where k fills the span) would walk to the grid's end."""
    asked, result = _wide_search(monkeypatch, {
        **PAST_THE_FINALISTS, (1.0, 5): [0.60, 0.01], (0.1, 5): [0.99, 0.01],
    })  # fmt: skip
    assert asked[5:] == [(10.0, 5), (100.0, 5), (1.0, 5)]
    assert result.chosen == 10.0 and result.rounds[-1].added == (1.0,)


def test_a_lam_trained_past_the_finalists_competes_at_full_length_only(monkeypatch):
    """Round 1 reads k=1 and drops λ 1; round 2 reads k=2. λ 1 is trained past the finalists
    (10 is the smaller) and loses; its first-round run would win at k=2 (0.05 missed against
    10's 0.10), but the first round dropped it, as only finalists' short runs compete."""
    drop_after_1, drop_after_2 = [0.001] * 3, [1e-4, 1e-4]
    asked, result = _wide_search(monkeypatch, {
        (0.01, 1): [0.2, *drop_after_1], (0.1, 1): [0.2, *drop_after_1],
        (1.0, 1): [0.30, 0.65, 0.001, 0.001],
        (10.0, 1): [0.60, *drop_after_1], (100.0, 1): [0.55, *drop_after_1],
        (10.0, 5): [0.50, 0.40, *drop_after_2], (100.0, 5): [0.45, 0.44, 1e-3, 1e-3],
        (1.0, 5): [0.45, 0.35, *drop_after_2],
    })  # fmt: skip
    assert [r.k for r in result.rounds] == [1, 2]
    assert asked[5:] == [(10.0, 5), (100.0, 5), (1.0, 5)] and result.rounds[-1].added == (1.0,)
    assert (result.chosen, result.chosen_epochs) == (10.0, 5)
    assert "at k=2 (1 ep)" in result.table() and result.rescored[2] == pytest.approx(0.05)
