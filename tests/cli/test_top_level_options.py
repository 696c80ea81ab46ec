"""An option typed before the command's name, or a single-dash word, is named in the one-line refusal.

Before fix55b ``nasproxy --hel`` said "the following arguments are required: COMMAND", ``nasproxy --conf x spaces``
"invalid choice: 'x'" (the value taken for the command), ``nasproxy --quiet search`` "unknown option --quiet; did you
mean --quiet?", and ``nasproxy -hel`` (``search -hel``) "argument -h/--help: ignored explicit argument 'el'": argparse
read ``-hel`` as ``-h`` followed by the flags ``-e -l``."""

from __future__ import annotations

import argparse

import pytest

from nas_proxy.cli import build_parser, main


def _refusal(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as refused:
        main(argv)
    err = capsys.readouterr().err
    assert refused.value.code == 2 and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--hel"], "nasproxy: error: unknown option --hel; did you mean --help? (see nasproxy --help)\n"),
        (["--he"], "nasproxy: error: unknown option --he; did you mean --help? (see nasproxy --help)\n"),
        (["--json", "--vers"], "nasproxy: error: unknown option --vers; did you mean --version? (see nasproxy --help)\n"),
        (["--config=a.toml", "--hel"], "nasproxy: error: unknown option --hel; did you mean --help? (see nasproxy --help)\n"),
        (["--conf", "x", "spaces"], "nasproxy: error: unknown option --conf; did you mean --config? (see nasproxy --help)\n"),
        (["-hel"], "nasproxy: error: unknown option -hel; did you mean --help? (see nasproxy --help)\n"),
        (["spaces", "-hel"], "nasproxy spaces: error: unknown option -hel; did you mean --help? (see nasproxy spaces --help)\n"),
        (["search", "-he"], "nasproxy search: error: unknown option -he; did you mean --help? (see nasproxy search --help)\n"),
        (
            ["--quiet", "search"],
            "nasproxy: error: --quiet is an option of search, not of nasproxy: type it after the command's name (see nasproxy --help)\n",
        ),
        (
            ["--n-trials=3", "search"],
            "nasproxy: error: --n-trials is an option of search, not of nasproxy: type it after the command's name (see nasproxy --help)\n",
        ),
        (
            ["--n-trials", "3", "search"],  # 3 is read as the command's name
            "nasproxy: error: --n-trials is an option of search and worker, not of nasproxy: type it after the "
            "command's name (see nasproxy --help)\n",
        ),
        (
            ["--quiet"],
            "nasproxy: error: --quiet is an option of every command, not of nasproxy: type it after the command's name "
            "(see nasproxy --help)\n",
        ),
    ],
)
def test_a_top_level_word_is_refused_by_its_name(argv: list[str], line: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _refusal(argv, capsys) == line


def test_what_worked_still_works(capsys: pytest.CaptureFixture[str]) -> None:
    """The options before the command, a value of --config that looks like nothing known, and a refusal the
    command's own parser words (an unknown option before a command that does not take it either) stay as they were."""
    args = build_parser().parse_args(["--json", "--debug", "--config", "x.toml", "spaces", "--quiet"])
    assert (args.command, args.json, args.debug, args.config_before_command) == ("spaces", True, True, ["x.toml"])
    assert _refusal(["--deb", "spaces"], capsys) == (
        "nasproxy spaces: error: unknown option --deb; did you mean --debug? (see nasproxy spaces --help)\n"
    )
    assert _refusal([], capsys) == "nasproxy: error: the following arguments are required: COMMAND (see nasproxy --help)\n"
    assert _refusal(["spaces", "-h=3"], capsys).startswith("nasproxy spaces: error: argument -h/--help: ignored explicit argument '3'")


def test_every_command_refuses_a_single_dash_word(capsys: pytest.CaptureFixture[str]) -> None:
    """``-h`` is the one short option of every command and takes no value: a longer single-dash word is no group of
    flags (there are none to group) but a mistyped option, refused by its name in each command."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command, parser in sub.choices.items():
        assert [o for o in parser._option_string_actions if not o.startswith("--")] == ["-h"], command
        for word in ("-hel", "-help", "-hh"):
            line = _refusal([command, word], capsys)
            assert line.startswith(f"nasproxy {command}: error: unknown option {word}"), line
