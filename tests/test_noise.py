"""Per-row draws: a rank that keeps rows [a, b) of a batch draws exactly those rows' noise."""

from __future__ import annotations

import pytest
import torch

from manifold_cae.jacobian import hutchinson_probes
from manifold_cae.noise import batch_rows
from manifold_cae.objectives import corrupt


@pytest.mark.parametrize("kind", ["gaussian", "masking", "salt-pepper"])
def test_corruption_of_a_shard_is_the_shard_of_the_corruption(kind):
    x = torch.rand(10, 4, generator=torch.Generator().manual_seed(1))
    whole = corrupt(x, kind, 0.3, generator=torch.Generator().manual_seed(7))
    parts = []
    for start, stop in ((0, 6), (6, 10)):
        with batch_rows(start, stop, 10):
            parts.append(
                corrupt(x[start:stop], kind, 0.3, generator=torch.Generator().manual_seed(7))
            )
    assert torch.equal(torch.cat(parts), whole)


def test_probes_of_a_shard_are_the_shard_of_the_probes():
    x = torch.zeros(9, 3)
    whole = hutchinson_probes(x, 2, generator=torch.Generator().manual_seed(3))
    with batch_rows(4, 9, 9):
        part = hutchinson_probes(x[4:], 2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(part, whole[:, 4:])


def test_outside_a_shard_nothing_changes():
    gen_a, gen_b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    x = torch.zeros(6, 2)
    assert torch.equal(corrupt(x, "gaussian", 1.0, generator=gen_a),
                       x + torch.randn(6, 2, generator=gen_b))  # fmt: skip
