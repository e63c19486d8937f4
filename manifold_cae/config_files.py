"""TOML config files: ``[model]``, ``[objective]``, ``[training]`` and ``[analysis]`` tables.

A file fills the same dataclasses as the CLI's flags (:mod:`manifold_cae.config`), key by
key, type-checked as they are; ``merge`` layers it between the defaults and the flags.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from manifold_cae.config import (
    AnalysisConfig,
    ArchitectureConfig,
    ObjectiveConfig,
    TrainConfig,
    check_choice,
    coerce,
    flag_name,
    type_hints,
)
from manifold_cae.errors import ConfigError

# The tables a TOML config file may hold, and the dataclass each one fills.
SECTIONS: dict[str, type] = {
    "model": ArchitectureConfig,
    "objective": ObjectiveConfig,
    "training": TrainConfig,
    "analysis": AnalysisConfig,
}


def _keys(f: dataclasses.Field) -> set[str]:
    """Names a TOML key may give field ``f``: the field's and (non-bool) its flag's."""
    names = {f.name, f.name.replace("_", "-")}
    flag = flag_name(f)
    if "/" not in flag and not flag.startswith("--no-"):
        names.add(flag.removeprefix("--"))  # --model for ObjectiveConfig.kind
    return names


def load_toml(
    path: str | Path, sections: Iterable[str] = ("model", "objective", "training")
) -> dict[str, dict[str, Any]]:
    """Read a TOML config file into ``{section: {field name: checked value}}``.

    Keys may be written as the field (``batch_size``) or the flag (``batch-size``;
    ``model`` for the objective's ``kind``). A single number for ``hidden`` means
    one layer. Values are type-checked like the dataclasses do; ranges are checked
    when the configs are built.

    Raises:
        ConfigError: the file is unreadable, or has an unknown table or key, or a
            value of the wrong type; the message names the file, the key and the value.
    """
    path = Path(path)
    sections = tuple(sections)
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    out: dict[str, dict[str, Any]] = {}
    for section, table in doc.items():
        if section not in sections or not isinstance(table, dict):
            raise ConfigError(
                f"{path}: unknown section [{section}]; expected {', '.join(sections)}"
            )
        out[section] = _read_table(path, section, table)
    return out


def _read_table(path: Path, section: str, table: dict[str, Any]) -> dict[str, Any]:
    cls = SECTIONS[section]
    by_key = {k: f for f in dataclasses.fields(cls) for k in _keys(f)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{path}: [{section}] {key} = {value!r}"
        if key not in by_key:
            names = ", ".join(f.name for f in dataclasses.fields(cls))
            raise ConfigError(f"{path}: unknown key {key!r} in [{section}]; expected {names}")
        f = by_key[key]
        if f.name in values:
            raise ConfigError(f"{where}: {f.name} is already set in [{section}]")
        hint = type_hints(cls)[f.name]
        if typing.get_origin(hint) is tuple and not isinstance(value, list):
            value = [value]  # hidden = 6 is one layer, like --hidden 6
        try:
            values[f.name] = coerce(f.name, hint, value)
            check_choice(f, values[f.name])
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
    return values


def merge(*layers: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Section-wise union of ``{section: {field: value}}`` layers; later layers win.

    Call it as ``merge(load_toml(path), flags)``: the dataclass defaults fill
    whatever neither gives, so the order is defaults < TOML < flags.
    """
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for section, values in layer.items():
            merged.setdefault(section, {}).update(values)
    return merged


def build(values: Mapping[str, Mapping[str, Any]], section: str) -> Any:
    """The config object of ``section`` from merged values (defaults for the rest)."""
    return SECTIONS[section](**values.get(section, {}))
