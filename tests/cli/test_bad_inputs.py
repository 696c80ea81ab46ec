"""Every bad input of ``tests/bad_inputs.py``: one line, a non-zero exit, nothing written; and the
table in docs/bad-inputs.md is what these cases print today."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import Field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import pytest

from tests import bad_input_runner, bad_inputs_files
from tests.bad_input_runner import Case, Outcome
from tests.bad_inputs import CASES

DOC = Path(__file__).resolve().parents[2] / "docs" / "bad-inputs.md"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every case run once, in-process, in one workspace of broken files (restored after a case
    that changed it)."""
    root = tmp_path_factory.mktemp("bad-inputs")
    workspace, pristine = root / "work", root / "pristine"
    bad_inputs_files.build(workspace)
    bad_input_runner.copy_workspace(workspace, pristine)
    return {case.args: outcome for case, outcome in bad_input_runner.run_all(CASES, workspace, pristine)}


def _command(case: Case) -> str:
    """The command a case runs (its first word after any ``NAME=value``), or its first word where it names none."""
    words = bad_input_runner.split_environment(case.args)[1].split(" ")
    return words[0] or "(no arguments)"


# one test a command, each case of it judged and named in its message (stop 61, perf61b: one test a case was 1,457 items
# that pytest, and xdist's workers and controller, set up, reported and sent between processes: this file with -n 2
# 27.4 -> 22.7 CPU-s, with -n 0 16.3 -> 14.7; the cases run as before, once each, in the module's fixture)
BY_COMMAND: dict[str, list[tuple[int, Case]]] = {}
for _number, _case in enumerate(CASES, start=1):
    BY_COMMAND.setdefault(_command(_case), []).append((_number, _case))


@pytest.mark.parametrize("command", sorted(BY_COMMAND))
def test_bad_inputs_of_each_command_are_refused_in_one_line_writing_nothing(command: str, outcomes: dict[str, Outcome]) -> None:
    mishandled = []
    for number, case in BY_COMMAND[command]:
        outcome = outcomes[case.args]
        found = bad_input_runner.problems(case, outcome)
        if outcome.code != 2:  # NasProxyError's code and argparse's, for every refused input
            found.append(f"exit {outcome.code}, not 2")
        if found:
            mishandled.append(f"case {number}: nasproxy {case.args[:300]}\n  {'; '.join(found)}\n  stderr: {outcome.stderr[-1000:]!r}")
    cases = len(BY_COMMAND[command])
    assert not mishandled, f"{len(mishandled)} of the {cases} bad inputs of {command} mishandled:\n" + "\n".join(mishandled)


def test_the_cases_cover_every_command_and_are_distinct() -> None:
    from nas_proxy.cli import build_parser

    commands = {c.args.split()[0] for c in CASES if c.args}
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) <= commands  # type: ignore[arg-type]
    assert len({c.args for c in CASES}) == len(CASES) >= 150


def test_the_table_in_the_docs_is_up_to_date(outcomes: dict[str, Outcome]) -> None:
    expected = bad_input_runner.table([(case, outcomes[case.args]) for case in CASES])
    found = DOC.read_text()
    first = next((i for i, (a, b) in enumerate(zip(found.splitlines(), expected.splitlines(), strict=False)) if a != b), None)
    where = (
        f"line {first + 1}: {found.splitlines()[first][:300]!r} is now {expected.splitlines()[first][:300]!r}"
        if first is not None
        else "length"
    )
    assert found == expected, f"docs/bad-inputs.md is stale ({where}): python -m tests.bad_inputs --write docs/bad-inputs.md"


class _Config(Protocol):
    """A config dataclass of the Python API: its fields, and ``validate``."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    def validate(self) -> None: ...


def _configs() -> list[_Config]:
    from nas_proxy.correlate import CorrelateConfig, GroundTruthConfig
    from nas_proxy.distill import DistillConfig
    from nas_proxy.search import ProxyConfig, SearchConfig
    from nas_proxy.training import TrainConfig

    return [
        DistillConfig(),
        TrainConfig(),
        ProxyConfig(),
        GroundTruthConfig(),
        SearchConfig("syn", "convnet-cpu"),
        CorrelateConfig("convnet-cpu"),
    ]


def _float_fields() -> list[tuple[_Config, str]]:
    import dataclasses

    return [
        (config, f.name)
        for config in _configs()
        for f in dataclasses.fields(config)
        if isinstance(getattr(config, f.name), float) or (f.name in ("image_lr", "lambda_mmd"))
    ]


@pytest.mark.parametrize(("config", "field"), _float_fields(), ids=lambda v: v if isinstance(v, str) else type(v).__name__)
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_every_float_option_of_the_python_api_refuses_non_finite_values(config: _Config, field: str, value: float) -> None:
    import dataclasses

    from nas_proxy.errors import InvalidArgumentError

    config.validate()  # the defaults are valid
    bad = dataclasses.replace(config, **{field: value})
    with pytest.raises(InvalidArgumentError, match=f"{field} must be a finite number"):
        bad.validate()


def test_a_model_spec_number_too_long_to_read_is_refused_in_one_line() -> None:
    """``--model depth=<4,301 digits>``: before branch probe31, int()'s ValueError, an internal error
    (kept out of the table: the command line would fill a page of the docs)."""
    from nas_proxy.errors import InvalidArgumentError
    from nas_proxy.models.convnet_spec import ConvNetSpec

    with pytest.raises(InvalidArgumentError, match="model spec depth: a number of 4,301 digits"):
        ConvNetSpec.parse("depth=1" + "0" * 4300)


def test_values_quoted_in_errors_are_shortened() -> None:
    from nas_proxy.errors import shown

    assert shown("x" * 10) == repr("x" * 10)
    assert shown("9" * 5000) == "'99999999999999999999999...(5,002 characters)"
    assert "digits" in shown(10**5000)  # repr() itself refuses an int this long


def test_the_runner_s_watched_snapshot_is_the_walk_after_every_kind_of_change(tmp_path: Path) -> None:
    """A case's changes are found by listing again only the folders inotify saw touched (tests/bad_input_runner.py):
    after each kind of change it must see what a whole walk sees (a file made, written, removed; a folder made with
    files in it, written into, then removed; a nested folder's file; a link; a mode), or a case that wrote would pass."""
    root = tmp_path / "ws"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f").write_text("x")
    (root / "g").write_text("y")
    watch = bad_input_runner._Watch.start(root)
    assert watch is not None, "inotify could not watch the workspace"  # Linux: as where the suite runs
    deep = root / "a" / "made" / "deep"

    def make_deep() -> None:
        deep.mkdir(parents=True)
        (deep / "h").write_text("1")

    def remove_deep() -> None:
        (deep / "h").unlink()
        deep.rmdir()

    changes: list[Callable[[], object]] = [
        lambda: (root / "new").write_text("z"),
        lambda: (root / "a" / "b" / "f").write_text("longer"),
        lambda: (root / "g").unlink(),
        make_deep,
        lambda: (deep / "h").write_text("in a folder made after the watch started"),
        lambda: (root / "a" / "b" / "link").symlink_to("../../nowhere"),
        lambda: (root / "a" / "b" / "f").chmod(0o600),
        lambda: None,
        remove_deep,
        lambda: (root / "new").write_text("again"),
    ]
    try:
        before = bad_input_runner.snapshot(root)
        for change in changes:
            change()
            after = watch.snapshot_after(before)
            assert after == bad_input_runner.snapshot(root)
            before = after
    finally:
        watch.close()
