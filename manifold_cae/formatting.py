"""Number formatting shared by the markdown reports."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def fmt(v: Any, spec: str = ".4g") -> str:
    """``v`` formatted with ``spec``, or "n/a" for a missing or NaN value."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return format(v, spec)


def fmt_spread(stat: Mapping[str, float] | None, spec: str = ".3g", scale: float = 1.0) -> str:
    """'mean ± std' of a {"mean", "std"} record (a study's aggregate), or "n/a"."""
    if stat is None or not math.isfinite(stat["mean"]):
        return "n/a"
    return f"{stat['mean'] * scale:{spec}} ± {stat['std'] * scale:{spec}}"
