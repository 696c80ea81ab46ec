"""A command line that teaches (issue 21): every option has help, the usage shows what is required,
every missing required option is named in one error, and ``nasproxy spaces NAME`` describes a space."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from nas_proxy.cli import build_parser, main


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"nasproxy": parser, **sub.choices}


def test_every_option_of_every_command_has_help() -> None:
    bare = [f"{name} {'/'.join(a.option_strings) or a.dest}" for name, p in _commands().items() for a in p._actions if not a.help]
    assert not bare, f"options without help: {bare}"


def test_every_command_takes_quiet() -> None:
    # a script passes --quiet to each command it runs: before branch probe41 train, dashboard and spaces refused it
    lacking = [name for name, p in _commands().items() if name != "nasproxy" and "--quiet" not in p._option_string_actions]
    assert not lacking, f"commands without --quiet: {lacking}"


def test_the_dashboard_command_to_copy_hides_the_password_and_quotes_each_word() -> None:
    from nas_proxy.cli.common import dashboard_command

    line = dashboard_command("étude 1", "postgresql://u:secret@db.example/nas")  # before branch probe41: 'secret' in clear
    assert line == "nasproxy dashboard --study 'étude 1' --storage 'postgresql://u:***@db.example/nas'"


@pytest.mark.parametrize("study", ["-x", "--out"])
def test_the_dashboard_command_to_copy_of_a_study_named_with_a_leading_dash_is_read_back(study: str) -> None:
    """probe52: a preset named "-x" ran, and `run` printed "dashboard: nasproxy dashboard --study -x --storage
    studies/-x/journal.log", which, pasted, is refused ("argument --study: expected one argument")."""
    import shlex

    from nas_proxy.cli import build_parser
    from nas_proxy.cli.common import dashboard_command

    words = shlex.split(dashboard_command(study, f"studies/{study}/journal.log"))
    args = build_parser().parse_args(words[1:])
    assert (args.study, args.storage) == (study, f"studies/{study}/journal.log")


def _error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(args)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1, (code, out, err)
    return lines[0]


def test_search_with_nothing_names_every_missing_option_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(["search"], capsys)
    assert "the following arguments are required: --space, --study, --n-trials, --synthetic (or --proxy)" in line, line
    assert "space, n_trials, synthetic may also come from [search] of --config" in line and "nasproxy search --help" in line


def test_a_config_table_gives_required_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[search]\nspace = "convnet-cpu"\nsynthetic = "syn"\nn_trials = 2\n')
    line = _error(["search", "--config", str(config)], capsys)
    assert line.endswith("required: --study (see nasproxy search --help)"), line
    config.write_text("[distill]\nipc = 1\n")
    line = _error(["distill", "--config", str(config)], capsys)
    assert "required: --dataset, --out; dataset may also come from [distill] of --config" in line, line


def test_a_proxy_on_real_data_needs_no_synthetic_set(capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(["search", "--proxy", "synflow", "--dataset", "digits", "--study", "s"], capsys)
    assert "required: --space, --n-trials;" in line and "--synthetic" not in line.split(";")[0], line


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train"], "required: BEST, --out"),
        (["correlate"], "required: --out, one of --study/--archs/--sample"),
        (["calibrate", "--space", "convnet-cpu"], "required: one of --truth/--truth-study, --synthetic, --study"),
        (["--json", "worker"], "required: --study ("),  # --storage defaults to the study's journal, as elsewhere
    ],
)
def test_missing_options_and_groups_are_named_together(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert needle in _error(args, capsys)


def test_usage_shows_required_options_as_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["search", "--help"])
    assert exit_.value.code == 0
    usage = " ".join(capsys.readouterr().out.split("\n\n")[0].split())
    for required in ("--space SPACE", "--study STUDY", "--n-trials N_TRIALS"):
        assert required in usage and f"[{required}]" not in usage, usage
    assert "[--synthetic DIR]" in usage  # not needed with --proxy
    correlate = " ".join(_commands()["correlate"].format_usage().split())
    assert "(--study STUDY | --archs FILE | --sample)" in correlate and "[--out DIR]" not in correlate


def test_spaces_name_describes_the_space(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spaces"]) == 0
    listing = capsys.readouterr().out
    assert main(["spaces", "convnet-small"]) == 0
    text = capsys.readouterr().out
    assert text not in listing
    assert "convnet-small  (family convnet)" in text and "size: 6 architectures" in text
    assert "searched (2 dimensions):" in text and "depth          1, 2, 3  (3 values)" in text
    assert "fixed:" in text and "normalization  instancenorm" in text
    assert main(["spaces", "macro"]) == 0
    assert "per stage: depth, width, kernel" in capsys.readouterr().out


def test_spaces_unknown_name_suggests_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert "Did you mean 'convnet720'?" in _error(["spaces", "convnet72"], capsys)
