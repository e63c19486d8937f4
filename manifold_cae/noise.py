"""Random draws per batch row, so that a data-parallel rank draws exactly its rows' share.

Corruption noise and Hutchinson probes are drawn for a whole mini-batch at a
time. When ``torchrun`` splits each global batch across ranks, every rank
draws the noise of the *whole* global batch from the same generator state and
keeps its own rows (:func:`batch_rows` says which). The draws, and so the
training, are then the same whatever the number of processes; a single
process keeps all rows and draws exactly what it drew before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Rows:
    """This process's rows [start, stop) of a global batch of ``total`` rows."""

    start: int
    stop: int
    total: int


_ROWS: ContextVar[Rows | None] = ContextVar("manifold_cae_batch_rows", default=None)


@contextmanager
def batch_rows(start: int, stop: int, total: int) -> Iterator[None]:
    """Within this block, per-row draws are made for ``total`` rows and cut to [start, stop)."""
    token = _ROWS.set(Rows(start, stop, total))
    try:
        yield
    finally:
        _ROWS.reset(token)


def draw(
    kind: str, shape: tuple[int, ...], *, row_dim: int, generator: torch.Generator | None,
    dtype: torch.dtype, device: torch.device,
) -> Tensor:  # fmt: skip
    """``torch.randn`` (kind "normal") or ``torch.rand`` ("uniform") of ``shape``.

    Args:
        shape: the shape for this process's rows; ``shape[row_dim]`` counts them.
        row_dim: which dimension holds the batch rows.
    """
    rows = _ROWS.get()
    full = list(shape)
    if rows is not None:
        full[row_dim] = rows.total
    fn = torch.randn if kind == "normal" else torch.rand
    out = fn(full, generator=generator, dtype=dtype, device=device)
    if rows is None:
        return out
    return out.narrow(row_dim, rows.start, rows.stop - rows.start)
