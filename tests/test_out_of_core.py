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
from manifold_cae import runs
from manifold_cae.config import AnalysisConfig, TrainConfig
from manifold_cae.data import Dataset, RowView, load_dataset, rows_of
from manifold_cae.errors import DataError

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
