"""The typed analysis summary: one attribute per quantity, saved as ``summary.json``.

:class:`AnalysisSummary` holds one :class:`~manifold_cae.analysis.metrics.Section`
per metric (``summary.spectrum``, ``summary.count``, ``summary.norms``,
``summary.saturation``, ``summary.contraction``, ``summary.angles``,
``summary.transformations`` when asked for) and a
typed :class:`Provenance`. Reports, plots, comparisons and scripts read these
attributes; no module reads the JSON by string key.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, TypeVar

from manifold_cae.analysis.metrics import REGISTRY, Section
from manifold_cae.config import AnalysisConfig, ModelConfig, RunConfig
from manifold_cae.errors import ConfigError, DataError

SCHEMA_VERSION = 2  # 1: the untyped dict of manifold_cae 0.1 (no "schema_version" key)

S = TypeVar("S", bound=Section)


@dataclass(frozen=True)
class DataInfo:
    """Which data were analysed."""

    spec: str  # the --data spec
    name: str
    split: str  # "all", "train" or "held-out"
    sha256: str  # fingerprint of the whole data set's X


@dataclass(frozen=True)
class Provenance:
    """Where an analysis came from."""

    package_version: str
    model: ModelConfig
    analysis: AnalysisConfig
    n_data: int  # rows of the data the points were drawn from
    data: DataInfo | None = None  # None for an analysis of arrays through the API
    run_dir: str | None = None
    run_config: RunConfig | None = None
    checkpoint_epoch: int | None = None  # the epoch of the checkpoint analysed
    epochs_planned: int | None = None  # the run's --epochs: below it, the run was unfinished
    image_shape: tuple[int, int] | None = None  # (height, width) for image data
    label: str | None = None  # the name plots and tables use

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if self.run_config is not None:
            d["run_config"] = self.run_config.to_dict()
        return d

    @classmethod
    def from_json(cls, d: Any, *, where: str) -> Provenance:
        try:
            data = d.get("data")
            shape = d.get("image_shape")
            run_config = d.get("run_config")
            analysis = dict(d["analysis"])
            return cls(
                package_version=str(d["package_version"]),
                model=ModelConfig(**{**d["model"], "hidden": tuple(d["model"]["hidden"])}),
                analysis=AnalysisConfig(**analysis),
                n_data=int(d["n_data"]),
                data=DataInfo(**data) if data is not None else None,
                run_dir=d.get("run_dir"),
                run_config=RunConfig.from_dict(run_config) if run_config else None,
                checkpoint_epoch=d.get("checkpoint_epoch"),
                epochs_planned=d.get("epochs_planned"),
                image_shape=(int(shape[0]), int(shape[1])) if shape else None,
                label=d.get("label"),
            )
        except (KeyError, TypeError, AttributeError, IndexError, ValueError, ConfigError) as e:
            raise DataError(f"{where}: malformed provenance ({e})") from e


def _finite_or_null(v: Any) -> Any:
    """JSON has no NaN or inf: a quantity that could not be measured is written as null."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite_or_null(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_finite_or_null(x) for x in v]
    return v


@dataclass(frozen=True)
class AnalysisSummary:
    """What an analysis found, one typed section per metric."""

    n_points: int  # points analysed
    provenance: Provenance
    sections: dict[str, Section] = field(default_factory=dict)  # metric name -> section
    notes: tuple[str, ...] = ()  # what could not be measured here, and why
    schema_version: int = SCHEMA_VERSION

    def __getattr__(self, name: str) -> Any:
        sections = self.__dict__.get("sections", {})
        if name in sections:
            return sections[name]
        raise AttributeError(f"this analysis has no {name!r} section")

    def section(self, cls: type[S]) -> S | None:
        """The section of type ``cls``, or ``None`` when this analysis lacks it."""
        for s in self.sections.values():
            if isinstance(s, cls):
                return s
        return None

    @property
    def label(self) -> str | None:
        return self.provenance.label

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"schema_version": self.schema_version, "n_points": self.n_points}
        d |= {name: s.to_json() for name, s in self.sections.items()}
        d["notes"] = list(self.notes)
        d["provenance"] = self.provenance.to_json()
        return _finite_or_null(d)

    @classmethod
    def from_json(cls, d: Any, *, where: str = "summary.json") -> AnalysisSummary:
        """Rebuild from :meth:`to_json` output; ``where`` names the file in errors."""
        if not isinstance(d, dict):
            raise DataError(
                f"{where} holds {type(d).__name__}, not an analysis summary; "
                "re-run 'manifold-cae analyze' to regenerate it"
            )
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            found = "no schema version (manifold_cae 0.1)" if version is None else version
            raise DataError(
                f"{where} has summary schema {found}; this version reads schema "
                f"{SCHEMA_VERSION}. Re-run 'manifold-cae analyze RUN_DIR --data SPEC --out DIR' "
                "to regenerate it"
            )
        n_points = d.get("n_points")
        if isinstance(n_points, bool) or not isinstance(n_points, int):
            raise DataError(f"{where}: n_points must be an integer; got {n_points!r}")
        sections = {}
        for name, metric in REGISTRY.items():
            if metric.Result is not None and name in d:
                sections[name] = metric.Result.from_json(d[name], where=f"{where}: {name}")
        provenance = Provenance.from_json(d.get("provenance"), where=f"{where}: provenance")
        notes = d.get("notes", [])
        if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
            raise DataError(f"{where}: notes must be a list of strings; got {notes!r}")
        return cls(n_points, provenance, sections, tuple(notes))
