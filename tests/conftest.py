"""Shared fixtures: an explicit, printed seed and a torch generator drawn from it.

Each test gets its own seed, derived from its node id so that tests do not share a
stream. It is printed, so a failing test shows it in its captured output; replay it with
``MANIFOLD_CAE_TEST_SEED=<seed> pytest <node id>``.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from manifold_cae import ObjectiveConfig, TrainConfig, load_dataset, make_run_config
from manifold_cae.config import AnalysisConfig, replace
from manifold_cae.runs import analyze_run, train_dataset

ROLL = "swiss-roll:n_samples=300,noise=0.02"
SMALL = AnalysisConfig(points=150, store_points=24, contraction_points=40, n_radii=6)


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    env = os.environ.get("MANIFOLD_CAE_TEST_SEED")
    value = int(env) if env else zlib.crc32(request.node.nodeid.encode()) % 2**31
    print(f"seed={value}  (replay: MANIFOLD_CAE_TEST_SEED={value} pytest '{request.node.nodeid}')")
    return value


@pytest.fixture
def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _analysis(
    tmp: Path,
    name: str,
    spec: str,
    kind: str,
    hidden: int,
    config: AnalysisConfig,
    rows: int | None = None,
) -> Path:
    ds = load_dataset(spec)
    if rows is not None:
        ds = ds.subset(np.arange(rows))
    cfg = make_run_config(
        ds,
        hidden=(hidden,),
        objective=ObjectiveConfig(kind=kind, lam=0.1, noise=0.1),
        training=TrainConfig(epochs=3, batch_size=64, lr=1e-2),
    )
    run = tmp / "runs" / name
    train_dataset(ds, cfg, out_dir=run, progress=False)
    out = tmp / "an" / name
    analyze_run(run, spec, config=config, out_dir=out, label=name, progress=False)
    return out


@pytest.fixture(scope="session")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two swiss-roll analyses (true tangents, d_x = 3), two of digits (8x8 images)."""
    tmp = tmp_path_factory.mktemp("plots")
    return {
        "cae": _analysis(tmp, "cae", ROLL, "cae", 16, SMALL),
        "dae": _analysis(tmp, "dae", ROLL, "dae", 16, SMALL),
        "digits": _analysis(tmp, "digits", "digits", "cae", 24, replace(SMALL, top_k=3), rows=300),
        "digits-dae": _analysis(
            tmp, "digits-dae", "digits", "dae", 24, replace(SMALL, top_k=3), rows=300
        ),
    }
