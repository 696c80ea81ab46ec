"""One source per option: every flag that sets a config field takes its default (and its help's
default) from the field, and no default is written out a second time anywhere in the package."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import nas_proxy
from nas_proxy import configs
from nas_proxy.calibrate.config import CalibrateConfig, LadderChoiceConfig
from nas_proxy.cli import build_parser
from nas_proxy.cli.common import FIELD, default_of, show
from nas_proxy.correlate.config import CorrelateConfig
from nas_proxy.distill.config import DistillConfig, SoftLabelConfig
from nas_proxy.protocols import DataRef, EvaluateOptions, GroundTruthConfig, ProxyConfig, TrainConfig
from nas_proxy.search.config import DashboardOptions, SearchConfig, TrainBestConfig
from nas_proxy.studies.kinds import WorkerOptions

PACKAGE = Path(nas_proxy.__file__).parent

# the dataclasses whose fields are options (flags, --config keys, preset keys): the one place of each default
CONFIGS: tuple[type, ...] = (
    DataRef,
    TrainConfig,
    ProxyConfig,
    GroundTruthConfig,
    DistillConfig,
    SoftLabelConfig,
    EvaluateOptions,
    SearchConfig,
    configs.SearchBudget,
    CorrelateConfig,
    configs.CorrelateBudget,
    CalibrateConfig,
    LadderChoiceConfig,
    WorkerOptions,
    TrainBestConfig,
    DashboardOptions,
)
# "auto" is the device resolver's word (CUDA when present), every stage's device option and every
# library function's device parameter default to it on purpose: not counted as a copy
NOT_COUNTED = {"device"}
# a flag named otherwise than its field (``--full-epochs`` is GroundTruthConfig.epochs: a suffix is fine)
RENAMED = {"--lambda": "lambda_mmd", "--soft-labels": "teachers"}


def actions() -> Iterator[tuple[str, argparse.Action]]:
    """(command, action) for every option of every command."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command, p in sub.choices.items():
        for action in p._actions:
            yield command, action


FIELD_ACTIONS = [(c, a) for c, a in actions() if hasattr(a, FIELD)]


def test_the_flags_that_set_fields_are_found() -> None:
    # a sanity floor: every command with config options has some (distill, search, correlate, ...)
    assert {c for c, _ in FIELD_ACTIONS} >= {"distill", "evaluate", "search", "score", "worker", "correlate", "calibrate", "train"}
    assert len(FIELD_ACTIONS) > 60


@pytest.mark.parametrize(("command", "action"), FIELD_ACTIONS, ids=[f"{c} {a.option_strings[0]}" for c, a in FIELD_ACTIONS])
def test_a_flag_its_field_and_its_help_agree(command: str, action: argparse.Action) -> None:
    """The flag is named after the field (the key of --config tables and presets), it defaults to
    None ("not given"), and its help states the field's own default."""
    cls, name = getattr(action, FIELD)
    assert cls in CONFIGS, f"{cls.__name__} is not a config dataclass"
    assert name in configs.fields(cls)  # the key a --config table or a preset gives it by
    names = [s.lstrip("-").replace("-", "_") for s in action.option_strings]
    assert RENAMED.get(action.option_strings[0]) == name or any(n.endswith(name) for n in names), (action.option_strings, name)
    assert action.default is None
    value = default_of(cls, name)
    assert action.help is not None
    if value is None:
        assert "default: " in action.help
    else:
        assert f"default {show(value)}" in action.help, action.help


def test_no_help_states_a_default_it_does_not_read() -> None:
    """A help that says "default X" takes X from a field (option()) or from argparse's own default
    (%(default)s); a description of what None means is written "default: ...". So no help can
    go stale when a default changes."""
    stale = []
    for command, action in actions():
        text = action.help or ""
        if hasattr(action, FIELD) or "%(default)s" in text:
            continue
        if re.search(r"\bdefault (?!:)", text):
            stale.append(f"{command} {'/'.join(action.option_strings) or action.dest}: {text}")
    assert not stale, "\n".join(stale)


def _literal(node: ast.expr | None) -> Any:
    if isinstance(node, ast.Constant) and not isinstance(node.value, bool) and node.value not in (None, 0, 1, ""):
        return node.value
    return None  # not a default worth counting: None, booleans, 0, 1 and "" are everywhere


def _sources() -> dict[str, set[Any]]:
    """Field name -> the literal defaults the config dataclasses give it."""
    out: dict[str, set[Any]] = {}
    for cls in CONFIGS:
        for f in dataclasses.fields(cls):
            if isinstance(f.default, int | float | str) and not isinstance(f.default, bool) and f.default not in (0, 1, ""):
                out.setdefault(f.name, set()).add(f.default)
    return out


def copies() -> list[str]:
    """Every place in the package a config field's literal default is written again: a function
    parameter's default, a keyword argument or another class's attribute of the same name and value."""
    sources = _sources()
    names = {cls.__name__ for cls in CONFIGS}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            pairs: list[tuple[str, ast.expr | None, int]] = []
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                a = node.args
                positional = [*a.posonlyargs, *a.args]
                pairs += [
                    (arg.arg, d, d.lineno) for arg, d in zip(positional[len(positional) - len(a.defaults) :], a.defaults, strict=True)
                ]
                pairs += [(arg.arg, d, d.lineno) for arg, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d is not None]
            elif isinstance(node, ast.Call):
                pairs += [(k.arg, k.value, k.value.lineno) for k in node.keywords if k.arg]
            elif isinstance(node, ast.ClassDef) and node.name not in names:
                pairs += [
                    (s.target.id, s.value, s.lineno) for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
                ]
            for name, value, line in pairs:
                literal = _literal(value)
                if literal is not None and name not in NOT_COUNTED and literal in sources.get(name, ()):
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name} = {literal!r}")
    return found


def test_every_option_default_is_written_once() -> None:
    """``n_boot = 1000``, ``n_archs = 20``, ``promote = 5``, ``pruner = "median"``, ... live in their
    config dataclass only: nothing else in the package writes the same name with the same value."""
    assert not copies(), "\n".join(copies())


# where one option name means a different thing: calibrate --out is the profile file, the others a folder
METAVAR_EXCEPTIONS = {("--out", "calibrate")}


def test_an_option_has_one_metavar_in_every_command() -> None:
    """``--out DIR``, ``--data-root DIR``, ``--dataset NAME``: one spelling of a concept across commands."""
    seen: dict[str, dict[str, str]] = {}
    for command, action in actions():
        if not action.option_strings or action.nargs == 0 or action.choices or (action.option_strings[0], command) in METAVAR_EXCEPTIONS:
            continue
        metavar = str(action.metavar or action.dest.upper())
        seen.setdefault(action.option_strings[0], {})[command] = metavar
    differ = {flag: by for flag, by in seen.items() if len(set(by.values())) > 1}
    assert not differ


def test_the_preset_path_applies_a_proxy_profile_under_the_presets_own_values(tmp_path: Path) -> None:
    """``nasproxy run --proxy-profile``: the profile's values where ``[search.proxy]`` sets none
    (defaults < profile < preset), as ``search --proxy-profile`` does with ``[search.proxy]``."""
    from nas_proxy.pipeline import plan
    from nas_proxy.profile import ProxyProfile, write_profile

    preset = tmp_path / "p.toml"
    preset.write_text(
        f'name = "p"\ndevice = "cpu"\nruns = "{tmp_path}"\n[distill]\ndataset = "digits"\nipc = 1\n'
        '[search]\nspace = "convnet-small"\nn_trials = 2\n[search.proxy]\nepochs = 3\n'
    )
    profile = write_profile(ProxyProfile({"epochs": 7, "lr": 0.03, "dsa": False}), tmp_path / "profile.toml")
    assert plan(preset).search.proxy == ProxyConfig(epochs=3)
    proxy = plan(preset, proxy_profile=str(profile)).search.proxy
    assert (proxy.epochs, proxy.lr, proxy.dsa) == (3, 0.03, False)  # the preset's epochs win; the profile's lr and dsa apply


def test_an_integer_too_long_to_read_is_a_one_line_error_naming_its_digits(capsys: pytest.CaptureFixture[str]) -> None:
    """An option or a JSON file with an integer of more digits than int() reads (4300): before, a
    ValueError naming sys.set_int_max_str_digits (an internal error where JSON was read)."""
    from nas_proxy import checks
    from nas_proxy.cli import main

    big = "1" + "0" * 5000
    with pytest.raises(ValueError, match="a number of 5,001 digits"):
        checks.parse_int(big)
    with pytest.raises(ValueError, match="a number of 5,001 digits"):
        checks.loads(f"[{big}]")
    assert checks.loads("[2147483647, -3]") == [2147483647, -3]
    with pytest.raises(ValueError, match="an object names key 'a' twice"):
        checks.loads('[{"b": {"a": 1, "a": 2}}]')
    with pytest.raises(SystemExit) as exit_:  # argparse's usage error
        main(["distill", "--dataset", "digits", "--ipc", big, "--out", "never"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --ipc: a number of 5,001 digits" in err and "set_int_max_str_digits" not in err and len(err.splitlines()) == 1


LIST_ACTIONS = [(c, a) for c, a in actions() if a.option_strings and a.nargs in ("+", "*")]


def test_the_list_options_are_found() -> None:
    assert {(c, a.option_strings[0]) for c, a in LIST_ACTIONS} >= {("correlate", "--synthetic"), ("calibrate", "--synthetic")}


@pytest.mark.parametrize(("command", "action"), LIST_ACTIONS, ids=lambda x: x if isinstance(x, str) else x.option_strings[0])
def test_a_list_option_given_twice_keeps_both_lists(command: str, action: argparse.Action) -> None:
    """``--synthetic a --synthetic b`` compares a and b, as calibrate's ``--scores x --scores y`` reads both (probe47:
    before, the second list replaced the first, silently: a correlate report on b alone, exit 0)."""
    namespace = argparse.Namespace(**{action.dest: action.default})
    parser = argparse.ArgumentParser(prog=command)
    flag = action.option_strings[0]
    action(parser, namespace, ["a"], flag)
    action(parser, namespace, ["b", "c"], flag)
    assert getattr(namespace, action.dest) == ["a", "b", "c"]


def test_no_option_reads_its_number_with_pythons_own_int_or_float() -> None:
    """probe53: --real-per-class, --select-every, --select-epochs and --select-archs read their value with int(), which
    takes ' 3', '1_000', '+3' and full-width digits ('１' made a set), and said argparse's "invalid int value: '3.0'"; every
    other number option reads through cli.types (integer, finite_float), one rule and one wording."""
    loose = sorted({f"{command} {action.option_strings[0]}" for command, action in actions() if action.type in (int, float)})
    assert not loose


def _abbreviations() -> Iterator[tuple[str, str, str]]:
    """(command, abbreviation, option) for every long option of every command: the option less its last letter,
    where that is no option of the command itself (``--seed`` of ``--seeds``) nor of another (whose own line names it)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command, p in sub.choices.items():
        for option in p._option_string_actions:
            short = option[:-1]
            if option.startswith("--") and len(short) > 2 and short not in p._option_string_actions and short not in p.foreign:
                yield command, short, option


ABBREVIATIONS = list(_abbreviations())


def test_every_commands_abbreviations_are_found() -> None:
    assert {c for c, _, _ in ABBREVIATIONS} >= {"distill", "search", "correlate", "calibrate", "spaces", "run"}
    assert ("search", "--epoch", "--epochs") in ABBREVIATIONS and len(ABBREVIATIONS) > 100


@pytest.mark.parametrize("command", sorted({c for c, _, _ in ABBREVIATIONS}))
def test_an_abbreviated_option_is_refused_naming_the_option_meant(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Stop 54: argparse took ``search --ep 3`` for ``--epochs 3`` (and ``--deb`` for ``--debug``); a later option
    sharing the prefix would make a recorded command fail or mean another option. Each is refused in one line that
    names what it could mean, in every command."""
    parser = build_parser()  # one per command, not one per refusal (11 CPU-ms each, 532 refusals: 6 CPU-s)
    for typed_command, short, option in ABBREVIATIONS:
        if typed_command != command:
            continue
        for word in ([short, "1"], [f"{short}=1"]):
            with pytest.raises(SystemExit) as refused:
                parser.parse_args([command, *word])
            assert refused.value.code == 2
            line = capsys.readouterr().err
            assert line.startswith(f"nasproxy {command}: error: unknown option {short}; did you mean "), line
            assert re.search(rf"{re.escape(option)}\b(?!-)", line) and line.count("\n") == 1, line


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["search", "--ep", "3"], "nasproxy search: error: unknown option --ep; did you mean --epochs? (see nasproxy search --help)\n"),
        (["--deb", "spaces"], "nasproxy spaces: error: unknown option --deb; did you mean --debug? (see nasproxy spaces --help)\n"),
        (
            ["search", "--n", "3"],
            "nasproxy search: error: unknown option --n; did you mean one of --n-trials, --no-amp, --no-dsa? (see nasproxy search --help)\n",
        ),
        (["spaces", "--jsno"], "nasproxy spaces: error: unknown option --jsno; did you mean --json? (see nasproxy spaces --help)\n"),
        (["spaces", "--zzz"], "nasproxy spaces: error: unknown option --zzz (see nasproxy spaces --help)\n"),
    ],
)
def test_an_unknown_option_is_one_line_naming_the_options_meant(argv: list[str], line: str, capsys: pytest.CaptureFixture[str]) -> None:
    from nas_proxy.cli import main

    with pytest.raises(SystemExit) as refused:
        main(argv)
    assert refused.value.code == 2 and capsys.readouterr().err == line
