"""The configuration: one flag per field with the dataclass default, TOML and flags that
agree, strict types in the dataclasses and in TOML files, the registries, and old
checkpoints' JSON."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click
import pytest
import torch

from manifold_cae import (
    AnalysisConfig,
    ArchitectureConfig,
    ConfigError,
    ModelConfig,
    ObjectiveConfig,
    RunConfig,
    TrainConfig,
)
from manifold_cae.activations import ACTIVATIONS, get_activation
from manifold_cae.cli import main
from manifold_cae.cli_options import configs
from manifold_cae.config import (
    OBJECTIVE_KINDS,
    PENALTY_METHODS,
    closed_form_possible,
    flag_name,
    resolve_output,
    type_hints,
)
from manifold_cae.config_files import SECTIONS, load_toml, merge

# The command whose flags fill each section, and the arguments it needs besides them.
COMMANDS = {
    "model": ("train", ["--data", "d", "--out", "o"]),
    "objective": ("train", ["--data", "d", "--out", "o"]),
    "training": ("train", ["--data", "d", "--out", "o"]),
    "analysis": ("analyze", ["run", "--data", "d", "--out", "o"]),
}
CASES = [(s, f) for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]
IDS = [f"{s}.{f.name}" for s, f in CASES]


def context(command: str, args: list[str]) -> click.Context:
    return main.commands[command].make_context(command, list(args))


def flags_of(option: click.Option) -> list[str]:
    return [*option.opts, *option.secondary_opts]


# ----------------------------------------------------------- one flag per field


@pytest.mark.parametrize(("section", "f"), CASES, ids=IDS)
def test_every_field_has_exactly_one_flag_with_the_field_default(section, f):
    command, args = COMMANDS[section]
    options = [p for p in main.commands[command].params if p.name == f.name]
    assert len(options) == 1, f"{command} has {len(options)} options for {f.name}"
    for flag in flag_name(f).split("/"):
        assert flag in flags_of(options[0])
    assert context(command, args).params[f.name] == f.default


@pytest.mark.parametrize("command", ["train", "analyze"])
def test_no_config_option_is_left_without_a_field(command):
    sections = {s for s, (c, _) in COMMANDS.items() if c == command}
    fields = {f.name for s in sections for f in dataclasses.fields(SECTIONS[s])}
    own = {"data_spec", "out_dir", "config_file", "resume", "overwrite", "quiet", "which",
           "run_dir", "help"}  # fmt: skip
    assert {p.name for p in main.commands[command].params} - own == fields


def other_value(cls: type, f: dataclasses.Field) -> Any:
    """A valid value of ``f`` different from its default."""
    hint = type_hints(cls)[f.name]
    special = {"held_out": 0.3, "saturation_low": 0.1, "saturation_high": 0.9, "device": "auto",
               "lam": 0.25, "image_shape": (7, 3), "epochs": 7}  # fmt: skip
    if f.name in special:
        return special[f.name]
    if "choices" in f.metadata:
        return next(c for c in reversed(f.metadata["choices"]) if c != f.default)
    if hint is bool:
        return not f.default
    if f.default is None:
        return 3
    if isinstance(f.default, tuple):
        return (7, 3)
    return f.default + 1 if isinstance(f.default, int) else f.default * 2 + 0.05


def as_flag(f: dataclasses.Field, value: Any) -> list[str]:
    flag = flag_name(f)
    if isinstance(value, bool):
        on, _, off = flag.partition("/")
        return [on if value or not off else off] if off else [flag]
    if isinstance(value, tuple):
        return [flag, ",".join(map(str, value))]
    return [flag, str(value)]


def as_toml(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return repr(list(value))
    return f'"{value}"' if isinstance(value, str) else repr(value)


@pytest.mark.parametrize(("section", "f"), CASES, ids=IDS)
def test_toml_and_flags_give_the_same_config(section, f, tmp_path):
    command, args = COMMANDS[section]
    value = other_value(SECTIONS[section], f)
    extra = ["--optimizer", "sgd"] if f.name == "momentum" else []  # momentum needs sgd
    by_flag = context(command, [*args, *extra, *as_flag(f, value)])
    toml = tmp_path / "c.toml"
    toml.write_text(f"[{section}]\n{f.name} = {as_toml(value)}\n")
    by_file = context(command, [*args, *extra])
    from_flags = configs(by_flag, by_flag.params, None, (section,))[0]
    from_file = configs(by_file, by_file.params, toml, (section,))[0]
    assert getattr(from_flags, f.name) == value
    assert from_flags == from_file


# -------------------------------------------------------------------- TOML files


def toml_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("[training]\nepochs = 1.7\n", ["run.toml", "epochs = 1.7", "whole number"]),
        ("[training]\nepochs = true\n", ["run.toml", "epochs = True", "whole number"]),
        ('[training]\nlr = "0.01"\n', ["run.toml", "lr = '0.01'", "must be a number"]),
        ("[model]\ntied = 1\n", ["run.toml", "tied = 1", "true or false"]),
        ('[model]\nhidden = "16"\n', ["run.toml", "hidden", "'16'"]),
        ("[model]\nhidden = [8, 2.5]\n", ["run.toml", "2.5"]),
        ("[model]\nn_features = 3\n", ["run.toml", "unknown key 'n_features'"]),
        ('[objective]\nmodel = "vae"\n', ["run.toml", "model = 'vae'", "one of ae, cae"]),
        ('[objective]\nmodel = "dae"\nkind = "cae"\n', ["run.toml", "kind is already set"]),
        ("[analysis]\npoints = 10\n", ["run.toml", "unknown section [analysis]"]),
        ("[training\n", ["cannot read", "run.toml"]),
    ],
)
def test_bad_toml_values_name_the_file_key_and_value(text, fragments, tmp_path):
    with pytest.raises(ConfigError) as e:
        load_toml(toml_file(tmp_path, text))
    for fragment in fragments:
        assert fragment in str(e.value)


def test_toml_spellings_and_merge_order(tmp_path):
    path = toml_file(
        tmp_path,
        '[model]\nhidden = 6\n[objective]\nmodel = "dae"\n[training]\nbatch-size = 64\nlr = 1\n',
    )
    values = load_toml(path)
    assert values == {
        "model": {"hidden": (6,)},
        "objective": {"kind": "dae"},
        "training": {"batch_size": 64, "lr": 1.0},
    }
    merged = merge(values, {"training": {"lr": 0.5}, "objective": {}})
    assert merged["training"] == {"batch_size": 64, "lr": 0.5}  # flags win over the file
    assert TrainConfig(**merged["training"]).epochs == TrainConfig().epochs  # defaults fill in


# ------------------------------------------------------------- strict dataclasses


@pytest.mark.parametrize(
    ("make", "fragments"),
    [
        (lambda: TrainConfig(epochs=2.5), ["epochs", "2.5", "whole number"]),
        (lambda: TrainConfig(epochs=True), ["epochs", "True", "whole number"]),
        (lambda: TrainConfig(batch_size="64"), ["batch_size", "'64'"]),
        (lambda: AnalysisConfig(points=2.5), ["points", "2.5"]),
        (lambda: AnalysisConfig(full_spectrum=1), ["full_spectrum", "true or false"]),
        (lambda: ModelConfig(4, hidden="16"), ["hidden", "'16'", "(1000, 500)"]),
        (lambda: ModelConfig(4, hidden=(8, True)), ["hidden", "True"]),
        (lambda: ModelConfig(4.0, hidden=(8,)), ["n_features", "4.0"]),
        (lambda: ObjectiveConfig(lam="0.1"), ["lam", "'0.1'"]),
        (lambda: TrainConfig(seed=-1), ["seed", "-1", "non-negative"]),
        (lambda: TrainConfig(seed=2**63), ["seed", str(2**63), "[0, 2**63)"]),
        (lambda: TrainConfig(data_seed=-1), ["data_seed", "-1"]),
        (lambda: AnalysisConfig(seed=-3), ["seed", "-3"]),
        (lambda: TrainConfig(device="meta"), ["device", "'meta'", "cuda:N"]),
        (lambda: AnalysisConfig(device="cuda:x"), ["device", "'cuda:x'"]),
        (lambda: TrainConfig(momentum=0.9), ["momentum", "adam", "--optimizer sgd"]),
        (lambda: AnalysisConfig(exact=True, full_spectrum=False), ["exact", "full_spectrum"]),
        (lambda: ArchitectureConfig(activation="swish"), ["activation", "swish", "sigmoid"]),
        (lambda: ObjectiveConfig(kind="vae"), ["kind", "vae", "cae-h"]),
    ],
)
def test_wrong_types_and_ranges_are_config_errors(make, fragments):
    with pytest.raises(ConfigError) as e:
        make()
    for fragment in fragments:
        assert fragment in str(e.value)


def test_lenient_where_the_meaning_is_plain():
    cfg = TrainConfig(lr=1, seed=2**63 - 1, optimizer="sgd", momentum=0.9, device="cuda:1")
    assert isinstance(cfg.lr, float) and cfg.seed == 2**63 - 1
    assert ModelConfig(4, [8, 5]).hidden == (8, 5)  # a list is fine, and stored as a tuple
    assert AnalysisConfig(points=None, top_k=None).points is None


# ------------------------------------------------------------ model and run configs


def test_model_config_is_an_architecture_plus_n_features():
    arch = ArchitectureConfig(hidden=(8, 4), activation="tanh", output="linear", tied=False)
    model = ModelConfig.from_architecture(arch, 5)
    assert model == ModelConfig(5, (8, 4), "tanh", "linear", False)
    assert model.architecture == arch
    assert (model.n_features, model.n_hidden) == (5, 4)
    assert ModelConfig(n_features=3).output == "auto"
    assert TrainConfig().held_out == 0.2 and TrainConfig().data_seed == 0


def test_run_config_round_trip_and_old_checkpoints():
    cfg = RunConfig(ModelConfig(3, (4,)), training=TrainConfig(seed=5, data_seed=2))
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    old = cfg.to_dict()
    del old["training"]["data_seed"]  # saved before data_seed existed: data came from seed
    old["model"]["output"] = "sigmoid"
    loaded = RunConfig.from_dict(old)
    assert loaded.training.data_seed == 5
    assert loaded.model.output == "sigmoid"
    with pytest.raises(ConfigError, match="malformed"):
        RunConfig.from_dict({"model": {"n_features": 3, "width": 4}})


# --------------------------------------------------------------------- registries


def test_objective_registry_is_the_vocabulary():
    kind = next(f for f in dataclasses.fields(ObjectiveConfig) if f.name == "kind")
    assert kind.metadata["choices"] == tuple(OBJECTIVE_KINDS)
    assert {k for k, i in OBJECTIVE_KINDS.items() if i.contractive} == {"cae", "cae-h", "rcae"}
    assert {k for k, i in OBJECTIVE_KINDS.items() if i.denoising} == {"dae"}
    assert {k for k, i in OBJECTIVE_KINDS.items() if i.hessian} == {"cae-h"}
    assert ObjectiveConfig(kind="dae").info.denoising
    penalty = next(f for f in dataclasses.fields(ObjectiveConfig) if f.name == "penalty")
    assert penalty.metadata["choices"] == tuple(PENALTY_METHODS)


def test_closed_form_needs_one_layer():
    assert closed_form_possible(ArchitectureConfig(hidden=(8,)))
    assert not closed_form_possible(ModelConfig(3, (8, 4)))


def test_activation_choices_come_from_the_registry():
    activation = next(f for f in dataclasses.fields(ArchitectureConfig) if f.name == "activation")
    assert activation.metadata["choices"] == tuple(ACTIVATIONS)
    assert set(ACTIVATIONS) == {"sigmoid", "tanh", "softplus", "relu", "linear"}
    with pytest.raises(ConfigError, match="unknown activation 'swish'; choose from sigmoid"):
        get_activation("swish")


PRE = torch.tensor([-30.0, -5.0, -1.0, -1e-3, 0.0, 1e-3, 0.5, 2.0, 5.0, 30.0], dtype=torch.float64)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_slope_is_autograds_derivative_in_float64(name):
    act = get_activation(name)
    a = PRE.clone().requires_grad_(True)
    h = act.fn(a)
    (grad,) = torch.autograd.grad(h.sum(), a)
    slope = act.slope(a.detach(), h.detach())
    assert slope.dtype == torch.float64 and slope.shape == a.shape
    torch.testing.assert_close(slope, grad, rtol=1e-12, atol=1e-300)


REFERENCE_FN = {
    "sigmoid": lambda a: 1 / (1 + torch.exp(-a)),
    "tanh": lambda a: (torch.exp(2 * a) - 1) / (torch.exp(2 * a) + 1),
    "softplus": lambda a: torch.log1p(torch.exp(a)),
    "relu": lambda a: torch.where(a > 0, a, 0.0),
    "linear": lambda a: a,
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_fn_matches_its_textbook_definition(name):
    a = PRE[(PRE.abs() < 10)]  # where the textbook formulas do not overflow
    torch.testing.assert_close(get_activation(name).fn(a), REFERENCE_FN[name](a))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Rifai et al.'s SAT: a sigmoid unit below 0.05 or above 0.95 is saturated.
        ("sigmoid", [True, True, False, False, False, False, False, False, True, True]),
        ("tanh", [True, True, False, False, False, False, False, True, True, True]),
        # One-sided: flat only for negative pre-activations.
        ("softplus", [True, True, False, False, False, False, False, False, False, False]),
        ("relu", [True, True, True, True, True, False, False, False, False, False]),
        ("linear", [False] * 10),
    ],
)
def test_saturation_rule(name, expected):
    act = get_activation(name)
    h = act.fn(PRE)
    assert act.saturated(PRE, h).tolist() == expected
    u = act.unit_interval(PRE, h)
    assert bool(((u >= 0) & (u <= 1)).all())


def test_auto_output_resolves_from_the_data_range():
    auto = ModelConfig(3, (4,))
    assert resolve_output(auto, in_unit_interval=True).output == "sigmoid"
    assert resolve_output(auto, in_unit_interval=False).output == "linear"
    fixed = ModelConfig(3, (4,), output="linear", input_scaling="none")
    assert resolve_output(fixed, in_unit_interval=True) is fixed
    # input scaling: none for a sigmoid decoder on [0, 1] data, else global
    assert resolve_output(auto, in_unit_interval=True).input_scaling == "none"
    assert resolve_output(auto, in_unit_interval=False).input_scaling == "global"
    linear = ModelConfig(3, (4,), output="linear")
    assert resolve_output(linear, in_unit_interval=True).input_scaling == "global"
