"""How the configs' dataclass fields become click options, and parsed options configs.

Every option of a config class is generated from its field in
:mod:`manifold_cae.config` (flag, type, default, help, choices), so nothing is
declared twice; :func:`configs` layers the dataclass defaults, a TOML file and
the flags given. :mod:`manifold_cae.cli` holds the commands that use them.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from manifold_cae.config import (
    EPOCHS_AUTO,
    LAM_AUTO,
    OBJECTIVE_KINDS,
    ObjectiveConfig,
    choices_of,
    flag_name,
    type_hints,
)
from manifold_cae.config_files import SECTIONS, build, load_toml, merge
from manifold_cae.errors import ConfigError, ManifoldCAEError

Decorator = Callable[[Any], Any]


def friendly_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn option errors into usage errors and the toolkit's errors into clean messages."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as e:
            raise click.UsageError(str(e)) from e
        except ManifoldCAEError as e:
            raise click.ClickException(str(e)) from e

    return wrapper


def csv_values(kind: type, *, unique: bool = False) -> Callable[..., tuple[Any, ...] | None]:
    """A callback parsing ``a,b,c`` into a tuple of ``kind`` (refusing repeats if ``unique``)."""

    def parse(_ctx: click.Context, _param: click.Parameter, value: Any) -> tuple[Any, ...] | None:
        if value is None or isinstance(value, tuple):
            return value
        try:
            items = tuple(kind(v.strip()) for v in str(value).split(",") if v.strip())
        except ValueError:
            raise click.BadParameter(f"expected a comma-separated list; got {value!r}") from None
        if not items:
            raise click.BadParameter(f"expected one or more values; got {value!r}")
        repeated = sorted({str(v) for v in items if items.count(v) > 1})
        if unique and repeated:
            raise click.BadParameter(
                f"{', '.join(repeated)} given more than once in {value!r}; list each value once"
            )
        return items

    return parse


def or_auto(kind: type, expected: str, auto: str) -> Callable[[str], Any]:
    """A parser of one option value: ``kind`` (``float``, ``int``) or the word ``auto``."""

    def parse(text: str) -> Any:
        if text.strip() == auto:
            return auto
        try:
            return kind(text)
        except ValueError:
            raise click.BadParameter(f'expected {expected} or "{auto}"; got {text!r}') from None

    return parse


lam_value = or_auto(float, "a number >= 0", LAM_AUTO)  # chosen on the held-out split
epochs_value = or_auto(int, "a whole number >= 1", EPOCHS_AUTO)  # 4,000 gradient steps


class EpochsType(click.ParamType):
    """``--epochs`` where it takes one value (``compare``): a whole number or "auto"."""

    name = "INT|auto"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return self.name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return value if isinstance(value, int) else epochs_value(str(value))


def int_list(ctx: click.Context, param: click.Parameter, value: Any) -> tuple[int, ...] | None:
    sizes = csv_values(int)(ctx, param, value)
    if sizes is not None and min(sizes) < 1:
        raise click.BadParameter(f"expected one or more sizes >= 1 such as 1000,500; got {value!r}")
    return sizes


def nonempty(_ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and not str(value).strip():
        raise click.BadParameter("must not be empty")
    return Path(value) if isinstance(param.type, click.Path) and value is not None else value


def field_option(cls: type, f: dataclasses.Field) -> Decorator:
    """The click option of one config field: flag, type, default and help from the field."""
    hint = type_hints(cls)[f.name]
    kw: dict[str, Any] = {"default": f.default, "help": f.metadata["help"]}
    kw["show_default"] = f.default is not None
    allowed = choices_of(f)
    if hint is bool and "/" not in flag_name(f):
        kw.update(is_flag=True, flag_value=not f.default, show_default=False)
    elif tuple in map(typing.get_origin, (hint, *typing.get_args(hint))):  # also tuple | None
        default = None if f.default is None else ",".join(map(str, f.default))
        kw.update(callback=int_list, default=default, metavar="SIZES")
    elif allowed is not None:
        kw["type"] = click.Choice(allowed)
    elif f.name == "epochs":  # a number or "auto"
        kw["type"] = EpochsType()
    elif hint is not bool:
        kw["type"] = next(h for h in typing.get_args(hint) or (hint,) if h is not type(None))
    return click.option(flag_name(f), f.name, **kw)


def per_layer_option(
    cls: type, name: str, kind: Callable[[str], Any] | None = None, metavar: str | None = None
) -> Decorator:
    """A field's option that also takes one value per stacked layer (``--lam 0.5,0.1``).

    One value parses to the field's type (or by ``kind``), as the plain option would;
    several to a tuple.
    """
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    kind = kind or type_hints(cls)[name]
    metavar = metavar or kind.__name__.upper()

    def parse(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        values = csv_values(kind)(ctx, param, value)
        return values[0] if values is not None and len(values) == 1 else values

    example = {"epochs": "20,10", "lr": "0.01,0.001"}.get(name, "0.5,0.1")
    help = f"{f.metadata['help']} With --stacked: one value per layer, e.g. {example}."
    return click.option(flag_name(f), name, type=str, default=str(f.default), callback=parse,
                        show_default=True, metavar=metavar, help=help)  # fmt: skip


def options(cls: type, *, skip: Iterable[str] = ()) -> Decorator:
    """One option per field of config class ``cls`` (except ``skip``), in field order."""
    fields = [f for f in dataclasses.fields(cls) if f.name not in set(skip)]

    def apply(fn: Any) -> Any:
        for f in reversed(fields):
            fn = field_option(cls, f)(fn)
        return fn

    return apply


def configs(
    ctx: click.Context, params: dict[str, Any], config_file: Path | None, sections: tuple[str, ...]
) -> list[Any]:
    """One config per section: dataclass defaults < the TOML file < flags given."""
    given = {
        s: {
            f.name: params[f.name]
            for f in dataclasses.fields(SECTIONS[s])
            if f.name in params
            and ctx.get_parameter_source(f.name) is not click.core.ParameterSource.DEFAULT
        }
        for s in sections
    }
    from_file = load_toml(config_file, sections) if config_file else {}
    values = merge(from_file, given)
    configs = []
    for s in sections:
        try:
            configs.append(build(values, s))
        except ConfigError as e:
            if from_file.get(s) and _builds(given, s):  # the file's values, not the flags'
                raise ConfigError(f"{config_file}: [{s}] {e}") from None
            raise
    return configs


def _builds(values: dict[str, dict[str, Any]], section: str) -> bool:
    try:
        build(values, section)
    except ConfigError:
        return False
    return True


def given(ctx: click.Context, names: Iterable[str]) -> list[str]:
    """The options among ``names`` typed on the command line (not left at their default)."""
    default = click.core.ParameterSource.DEFAULT
    return [n for n in names if ctx.get_parameter_source(n) not in (None, default)]


# The objective options each kind reads, by the flag of ObjectiveKindInfo that says so.
_USED_WHEN = {
    "lam": "contractive", "penalty": "contractive", "noise": "denoising", "corruption": "denoising",
    "gamma": "hessian", "n_corrupt": "hessian", "hessian_sigma": "hessian",
}  # fmt: skip


def refuse_unused(ctx: click.Context, objective: ObjectiveConfig) -> None:
    """Refuse options the chosen objective would ignore, naming the models that read them."""
    unused = [n for n in given(ctx, _USED_WHEN) if not getattr(objective.info, _USED_WHEN[n])]
    if unused:
        users = {
            n: ", ".join(k for k, i in OBJECTIVE_KINDS.items() if getattr(i, _USED_WHEN[n]))
            for n in unused
        }
        flags = ", ".join(f"--{n.replace('_', '-')} (read by {users[n]})" for n in unused)
        raise ConfigError(
            f"--model {objective.kind} ignores {flags}; drop them or choose a model that reads them"
        )


def path_option(flag: str, name: str, help: str, **kw: Any) -> Decorator:
    """--out / --data style options: an empty value is a usage error, not the cwd."""
    return click.option(flag, name, callback=nonempty, help=help, **kw)


def out_option(help: str, **kw: Any) -> Decorator:
    kw.setdefault("required", True)
    return path_option("--out", "out_dir", help, type=click.Path(file_okay=False), **kw)


def data_option(help: str) -> Decorator:
    return path_option("--data", "data_spec", help, required=True, metavar="SPEC")


def config_option(sections: str) -> Decorator:
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help=f"TOML file with {sections}; flags override it.",
    )


quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress display.")
