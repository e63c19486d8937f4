"""Writers of small data files for the data tests: each returns ``write(path)``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

Writer = Callable[[Path], None]


def npy(arr: np.ndarray) -> Writer:
    return lambda p: np.save(p, arr)


def npz(**arrays: np.ndarray) -> Writer:
    return lambda p: np.savez(p, **arrays)


def text(s: str) -> Writer:
    return lambda p: p.write_text(s)
