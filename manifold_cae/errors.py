"""Exceptions that carry the offending file, value and fix in their message.

Every error the library raises on bad input derives from :class:`ManifoldCAEError`,
so the CLI can turn them into clean messages instead of tracebacks.
"""

from __future__ import annotations


class ManifoldCAEError(Exception):
    """Base class of the toolkit's own errors."""


class ConfigError(ManifoldCAEError, ValueError):
    """An option has an impossible value."""


class DataError(ManifoldCAEError, ValueError):
    """A data set is missing, corrupt or not usable with the requested model."""


class CheckpointError(ManifoldCAEError, ValueError):
    """A checkpoint is missing, truncated, corrupt or from an incompatible model."""


class DivergenceError(ManifoldCAEError, FloatingPointError):
    """The training loss became NaN or inf."""
