"""Out-of-core data: a float32 .npy is memory-mapped and streamed, never loaded whole, and
gives bit for bit what the same array in memory gives (fingerprint, training, analysis).

The chunk size is patched down to a few rows, so every streamed pass really runs in
several chunks."""

from __future__ import annotations

import hashlib
import mmap
import re

import numpy as np
import pytest
import torch

import manifold_cae.data.streaming as streaming
import manifold_cae.probe as probe
from manifold_cae import Autoencoder, fit, runs
from manifold_cae.config import (
    AnalysisConfig,
    ModelConfig,
    ObjectiveConfig,
    RunConfig,
    TrainConfig,
)
from manifold_cae.data import Dataset, RowView, load_dataset, rows_of, train_test_split_indices
from manifold_cae.data.streaming import column_moments
from manifold_cae.errors import DataError
from manifold_cae.models import GLOBAL_MIN_NORM

N, D = 120, 6
CHUNK_ROWS = 7  # rows per streamed chunk in these tests: N is not a multiple of it


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch) -> list[int]:
    """Chunks of CHUNK_ROWS float32 rows; returns a list that counts released pages."""
    monkeypatch.setattr(streaming, "CHUNK_BYTES", CHUNK_ROWS * D * 4)
    released = []
    release = streaming.release_pages

    def counted(X) -> None:  # only calls that can reach a memmap's pages count
        if isinstance(X, (np.memmap, RowView)):
            released.append(1)
        release(X)

    monkeypatch.setattr(streaming, "release_pages", counted)
    return released


@pytest.fixture
def X(seed) -> np.ndarray:
    return np.random.default_rng(seed).random((N, D), dtype=np.float32)  # in [0, 1)


@pytest.fixture
def npy(tmp_path, X):
    path = tmp_path / "x.npy"
    np.save(path, X)
    return path


def in_memory(X: np.ndarray, spec: str) -> Dataset:
    return Dataset.from_arrays(X.copy(), spec=spec, name="x.npy")


def test_a_float32_npy_is_memory_mapped_not_loaded(npy, X, small_chunks):
    ds = load_dataset(str(npy))
    assert isinstance(ds.X, np.memmap) and str(ds.X.filename) == str(npy.resolve())
    assert ds.X.dtype == np.float32 and ds.X.flags.c_contiguous
    np.testing.assert_array_equal(ds.X, X)
    assert len(small_chunks) >= N // CHUNK_ROWS  # validation streamed it in chunks


@pytest.mark.parametrize(
    "convert", [lambda X: X.astype(np.float64), np.asfortranarray], ids=["float64", "fortran"]
)
def test_other_npy_files_are_converted_to_float32_in_memory(tmp_path, X, convert):
    np.save(tmp_path / "y.npy", convert(X))
    ds = load_dataset(str(tmp_path / "y.npy"))
    assert not isinstance(ds.X, np.memmap) and ds.X.flags.c_contiguous
    np.testing.assert_array_equal(ds.X, X)


def test_the_fingerprint_streams_and_equals_the_in_memory_one(npy, X, small_chunks):
    ds = load_dataset(str(npy))
    small_chunks.clear()
    expected = hashlib.sha256(np.ascontiguousarray(X).tobytes()).hexdigest()
    assert ds.provenance()["sha256"] == expected
    assert in_memory(X, str(npy)).provenance() == ds.provenance()
    assert len(small_chunks) >= N // CHUNK_ROWS


def test_value_range_streams_and_matches_numpy(npy, X):
    ds = load_dataset(str(npy))
    assert ds.value_range == (float(X.min()), float(X.max()))
    assert ds.in_unit_interval
    W = X * 3 - 1
    np.save(npy.with_name("wide.npy"), W)
    wide = load_dataset(str(npy.with_name("wide.npy")))
    assert not wide.in_unit_interval
    with pytest.raises(DataError, match=re.escape(f"span [{W.min():.4g}, {W.max():.4g}] but")):
        runs.choose_output(wide, "sigmoid")


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_validation_finds_a_bad_value_in_the_middle_of_a_file(tmp_path, X, value):
    X[N // 2 + 3, 4] = value  # past the first chunks
    X[N - 1, 0] = value
    np.save(tmp_path / "bad.npy", X)
    msg = r"bad\.npy: X has 2 NaN or inf values; the first is at \(row 63, column 4\)"
    with pytest.raises(DataError, match=msg):
        load_dataset(str(tmp_path / "bad.npy"))


def test_a_row_view_reads_the_rows_asked_for_in_their_order(npy, X, seed):
    mm = np.load(npy, mmap_mode="r")
    rows = np.sort(np.random.default_rng(seed).choice(N, size=50, replace=False))
    view = rows_of(mm, rows)
    assert isinstance(view, RowView) and view.shape == (50, D) and len(view) == 50
    idx = np.random.default_rng(seed + 1).permutation(50)[:20]
    np.testing.assert_array_equal(view[idx], X[rows][idx])
    np.testing.assert_array_equal(view[3:9], X[rows][3:9])
    np.testing.assert_array_equal(view[4], X[rows[4]])
    np.testing.assert_array_equal(np.asarray(view), X[rows])
    assert rows_of(mm, np.arange(N)) is mm  # every row: the memmap itself
    assert not isinstance(rows_of(X, rows), RowView)  # in memory: a plain copy


def test_training_on_the_file_equals_training_in_memory_bit_for_bit(npy, X, monkeypatch):
    training = TrainConfig(epochs=2, batch_size=16, held_out=0.2, data_seed=3)
    fed = []
    fit = runs.fit
    monkeypatch.setattr(runs, "fit", lambda X, *a, **kw: (fed.append((X, kw)), fit(X, *a, **kw))[1])
    results = []
    for ds in (load_dataset(str(npy)), in_memory(X, str(npy))):
        config = runs.make_run_config(ds, hidden=(4,), training=training)
        results.append((config, runs.train_dataset(ds, config, progress=False)))
    (cfg_file, from_file), (cfg_mem, from_mem) = results
    assert cfg_file == cfg_mem
    assert isinstance(fed[0][0], RowView) and isinstance(fed[0][1]["X_held_out"], RowView)
    for a, b in zip(from_file.history, from_mem.history, strict=True):  # held-out loss too
        assert {**a, "seconds": 0} == {**b, "seconds": 0}
    for p, q in zip(from_file.model.parameters(), from_mem.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_analysing_a_file_equals_analysing_it_in_memory(npy, X, tmp_path):
    ds = load_dataset(str(npy))
    training = TrainConfig(epochs=1, batch_size=16, held_out=0.25)
    config = runs.make_run_config(ds, hidden=(4,), training=training)
    runs.train_dataset(ds, config, out_dir=tmp_path / "run", progress=False)
    np.savez(tmp_path / "x.npz", X=X)  # the same data, loaded into memory
    analysis = AnalysisConfig(points=20, top_k=2)
    for which in ("all", "held-out"):
        a, b = (
            runs.analyze_run(tmp_path / "run", str(p), config=analysis, which=which)
            for p in (npy, tmp_path / "x.npz")
        )
        assert a.summary.notes == b.summary.notes
        assert a.arrays.keys() == b.arrays.keys()
        for key in a.arrays:
            np.testing.assert_array_equal(a.arrays[key], b.arrays[key], err_msg=key)


def test_local_pca_reference_is_capped_by_a_seeded_sample(monkeypatch):
    rows = np.arange(10, 1010)
    assert runs.reference_sample(rows, D, seed=0) == (None, None)
    monkeypatch.setattr(runs, "REFERENCE_BYTES", 100 * D * 8)
    sample, note = runs.reference_sample(rows, D, seed=0)
    assert len(sample) == 100 and np.all(np.diff(sample) > 0) and np.isin(sample, rows).all()
    np.testing.assert_array_equal(sample, runs.reference_sample(rows, D, seed=0)[0])
    assert "sample of 100 of the 1000 reference rows" in note


def test_releasing_a_row_view_releases_its_memmaps_pages(npy):
    class Mapping:  # stands in for np.memmap's mmap.mmap, recording what it is told
        def __init__(self) -> None:
            self.advice: list[int] = []

        def madvise(self, option: int) -> None:
            self.advice.append(option)

    mm = np.load(npy, mmap_mode="r")
    mm._mmap = Mapping()
    streaming.release_pages(RowView(mm, np.arange(0, N, 2)))
    assert mm._mmap.advice == [mmap.MADV_DONTNEED]


# ------------------------------------------------- training never holds the data whole

BIG_N = 5000  # rows: each split is larger than any batch the code may read at once
MOST_ROWS_PER_READ = 1024  # the monitor's points and the held-out loss's batch


class Guarded(RowView):
    """A row view that fails if it is copied whole and records how many rows each read got."""

    def __init__(self, X, rows) -> None:
        super().__init__(X, rows)
        self.reads: list[int] = []

    def __getitem__(self, idx):
        out = super().__getitem__(idx)
        self.reads.append(1 if out.ndim == 1 else len(out))
        return out

    def __array__(self, dtype=None, copy=None):
        raise AssertionError(f"{self!r} was copied into memory whole")


@pytest.fixture
def big(tmp_path, seed) -> tuple[np.ndarray, np.memmap]:
    """(X, the same X memory-mapped from a .npy): (BIG_N, D) float32 in [0, 1)."""
    X = np.random.default_rng(seed).random((BIG_N, D), dtype=np.float32)
    np.save(tmp_path / "big.npy", X)
    return X, np.load(tmp_path / "big.npy", mmap_mode="r")


def guarded_split(mm: np.memmap, seed: int) -> tuple[Guarded, Guarded, np.ndarray, np.ndarray]:
    train, held = train_test_split_indices(BIG_N, 0.3, seed=seed)
    return Guarded(mm, train), Guarded(mm, held), train, held


# a sigmoid decoder refuses standardised targets, so the scaled case decodes linearly
@pytest.mark.parametrize(("scaling", "output"), [("standard", "linear"), ("none", "auto")])
def test_training_reads_a_split_in_batches_and_never_copies_it_whole(big, seed, scaling, output):
    """Scaling, NaN check, range (output auto), steps, monitor and held-out loss all stream,
    and the model is bit for bit the one trained on the same rows in memory."""
    X, mm = big
    train, held, train_idx, held_idx = guarded_split(mm, seed)
    config = RunConfig(
        ModelConfig(D, (4,), output=output, input_scaling=scaling),
        ObjectiveConfig(lam=0.1),
        training=TrainConfig(epochs=1, batch_size=256, seed=seed),
    )
    streamed = fit(train, config, X_held_out=held, progress=False)
    for view in (train, held):
        assert view.reads and max(view.reads) <= MOST_ROWS_PER_READ < len(view)
    in_memory = fit(X[train_idx], config, X_held_out=X[held_idx], progress=False)
    assert streamed.config == in_memory.config  # output "auto" chose the same decoder
    assert streamed.config.model.output == ("sigmoid" if output == "auto" else "linear")
    assert [{**r, "seconds": 0} for r in streamed.history] == [
        {**r, "seconds": 0} for r in in_memory.history
    ]  # the held-out loss too
    for p, q in zip(streamed.model.state_dict().values(), in_memory.model.state_dict().values(),
                    strict=True):  # fmt: skip
        assert torch.equal(p, q)  # weights and the fitted scaling


def test_a_memmap_passed_to_fit_is_read_through_a_row_view(big, monkeypatch):
    X, mm = big
    reads: list[int] = []
    getitem = RowView.__getitem__

    def counted(self, idx):
        out = getitem(self, idx)
        reads.append(len(out))
        return out

    def whole(self, dtype=None, copy=None):
        raise AssertionError("the memmap was copied into memory whole")

    monkeypatch.setattr(RowView, "__getitem__", counted)
    monkeypatch.setattr(RowView, "__array__", whole)
    config = RunConfig(ModelConfig(D, (4,), output="linear", input_scaling="global"),
                       ObjectiveConfig(lam=0.1), TrainConfig(epochs=1, batch_size=256))  # fmt: skip
    from_file = fit(mm, config, progress=False)
    assert reads and max(reads) <= MOST_ROWS_PER_READ
    from_memory = fit(X, config, progress=False)
    for p, q in zip(from_file.model.parameters(), from_memory.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_a_nan_deep_in_a_memmap_is_found_by_the_streamed_check(tmp_path):
    X = np.zeros((BIG_N, D), dtype=np.float32)
    X[BIG_N - 3, 2] = np.nan
    np.save(tmp_path / "nan.npy", X)
    mm = np.load(tmp_path / "nan.npy", mmap_mode="r")
    held = Guarded(mm, np.arange(BIG_N - 10, BIG_N))
    config = RunConfig(ModelConfig(D, (4,)), ObjectiveConfig(lam=0.1), TrainConfig(epochs=1))
    msg = r"held-out data holds NaN or inf \(first at row 7, column 2: nan\)"
    with pytest.raises(DataError, match=msg):
        fit(Guarded(mm, np.arange(100)), config, X_held_out=held, progress=False)


# ------------------------------------------------------------- streamed statistics


@pytest.mark.parametrize("offset", [0.0, 1e4], ids=["centred", "large-mean"])
def test_streamed_column_moments_equal_numpys_float64_ones(tmp_path, seed, offset):
    """Chunks of 7 rows, float64 blocks of 3: the running moments equal numpy's two-pass
    float64 mean and variance, also where the mean dwarfs the spread."""
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(N, D)) * [1.0, 0.01, 5.0, 0.0, 2.0, 1e-3] + offset).astype(np.float32)
    np.save(tmp_path / "m.npy", X)
    mm = np.load(tmp_path / "m.npy", mmap_mode="r")
    rows = np.arange(3, N - 2)
    want = X[rows].astype(np.float64)
    for source in (X[rows], Guarded(mm, rows)):
        moments = column_moments(source)
        assert moments.n == len(rows)
        np.testing.assert_allclose(moments.mean, want.mean(0), rtol=1e-13)
        np.testing.assert_allclose(moments.var, want.var(0), rtol=1e-9, atol=1e-13 * offset**2)
    a, b = column_moments(X[rows]), column_moments(Guarded(mm, rows))  # the same chunks
    assert np.array_equal(a.mean, b.mean) and np.array_equal(a.var, b.var)


@pytest.mark.parametrize("scaling", ["standard", "global"])
def test_input_scaling_from_a_row_view_equals_the_in_memory_one(npy, X, scaling):
    rows = np.arange(0, N, 3)
    config = ModelConfig(D, (4,), output="linear", input_scaling=scaling)
    streamed, in_memory = Autoencoder(config), Autoencoder(config)
    view = Guarded(np.load(npy, mmap_mode="r"), rows)
    streamed.set_input_scaling(view)
    assert max(view.reads) <= CHUNK_ROWS  # a chunk at a time
    in_memory.set_input_scaling(torch.as_tensor(X[rows]))
    assert torch.equal(streamed.input_shift, in_memory.input_shift)
    assert torch.equal(streamed.input_scale, in_memory.input_scale)
    want = X[rows].astype(np.float64)
    np.testing.assert_allclose(streamed.input_shift.numpy(), want.mean(0), rtol=1e-6)
    spread = max(1, GLOBAL_MIN_NORM / np.sqrt(D))  # global: an RMS norm of at least 5
    std = want.std(0) if scaling == "standard" else np.full(D, np.sqrt(want.var(0).mean()) / spread)
    np.testing.assert_allclose(streamed.input_scale.numpy(), std, rtol=1e-6)


# ------------------------------------------------------------------ the linear probe


def test_the_probe_streams_its_inputs_and_samples_past_its_cap(big, seed, monkeypatch):
    X, mm = big
    train, held, train_idx, held_idx = guarded_split(mm, seed)
    y = np.random.default_rng(seed).integers(0, 3, size=BIG_N) + (X[:, 0] > 0.5) * 3
    model = Autoencoder(ModelConfig(D, (4,)), generator=torch.Generator().manual_seed(seed))
    args = (y[train_idx], held, y[held_idx])
    acc = probe.linear_probe_accuracy(model, train, *args, seed=seed)
    assert max(train.reads + held.reads) <= probe._BATCH
    assert acc == probe.linear_probe_accuracy(
        model, X[train_idx], y[train_idx], X[held_idx], y[held_idx], seed=seed
    )
    monkeypatch.setattr(probe, "PROBE_BYTES", 500 * 4 * 8)  # the codes of 500 rows
    sample = probe.probe_sample(len(train_idx), 4, seed=seed)
    assert len(sample) == 500 and np.all(np.diff(sample) > 0)
    capped = probe.linear_probe_accuracy(model, train, *args, seed=seed)
    monkeypatch.setattr(probe, "PROBE_BYTES", 2**40)
    on_the_sample = probe.linear_probe_accuracy(
        model, X[train_idx][sample], y[train_idx][sample], X[held_idx], y[held_idx], seed=seed
    )
    assert capped == on_the_sample
