"""Shared fixtures: an explicit, printed seed and a torch generator drawn from it.

Each test gets its own seed, derived from its node id so that tests do not share a
stream. It is printed, so a failing test shows it in its captured output; replay it with
``MANIFOLD_CAE_TEST_SEED=<seed> pytest <node id>``.
"""

from __future__ import annotations

import os
import zlib

import pytest
import torch


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    env = os.environ.get("MANIFOLD_CAE_TEST_SEED")
    value = int(env) if env else zlib.crc32(request.node.nodeid.encode()) % 2**31
    print(f"seed={value}  (replay: MANIFOLD_CAE_TEST_SEED={value} pytest '{request.node.nodeid}')")
    return value


@pytest.fixture
def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
