"""The benchmark scripts take their options in full, as nasproxy does: before fix55b their own argparse parsers took
``--ou x`` for ``--out x`` (allow_abbrev), so a command recorded in RESULTS.md could mean another option, or none,
once a script gained an option sharing the prefix."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from nas_proxy.cli.common import ScriptParser

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_no_script_builds_a_parser_of_its_own() -> None:
    """Every parser of a script is :class:`ScriptParser` (argparse's own takes abbreviations)."""
    scripts = sorted(BENCHMARKS.rglob("*.py"))
    own = []
    for script in scripts:
        for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "ArgumentParser":
                own.append(f"{script.relative_to(BENCHMARKS)}:{node.lineno}")
    assert not own and len(scripts) > 20, own


def test_a_scripts_abbreviation_is_refused_naming_the_option(bench_modules: None, capsys: pytest.CaptureFixture[str]) -> None:
    """gpu_check.py's parser (a script whose --out is required): an abbreviation is named first, not taken and not
    hidden behind "the following arguments are required: --out"."""
    import gpu_check

    assert gpu_check.parse_args(["--out", "o", "--dry-run"]).out == Path("o")
    for argv in (["--ou", "o"], ["--ou=o", "--dry-run"], ["--out", "o", "--dry"]):
        with pytest.raises(SystemExit) as refused:
            gpu_check.parse_args(argv)
        assert refused.value.code == 2
        last = capsys.readouterr().err.splitlines()[-1]
        option = argv[0].partition("=")[0] if argv[0] != "--out" else "--dry"
        assert last.endswith(f"error: unknown option {option}; did you mean {'--out' if option == '--ou' else '--dry-run'}?"), last


def test_a_script_parser_leaves_values_and_words_after_double_dash_alone(capsys: pytest.CaptureFixture[str]) -> None:
    p = ScriptParser(prog="s.py")
    p.add_argument("scores")
    p.add_argument("--out", required=True)
    p.add_argument("--args", default="")
    args = p.parse_args(["--args", "--batch-real 32", "--out=-x", "--", "--ou"])  # a value with a space is no option
    assert (args.args, args.out, args.scores) == ("--batch-real 32", "-x", "--ou")
    with pytest.raises(SystemExit):
        p.parse_args(["x", "y", "--out", "o"])
    assert capsys.readouterr().err.splitlines()[-1] == "s.py: error: unrecognized arguments: y"


def test_a_single_dash_word_is_no_group_of_flags(capsys: pytest.CaptureFixture[str]) -> None:
    p = ScriptParser(prog="s.py")
    p.add_argument("--out")
    with pytest.raises(SystemExit):
        p.parse_args(["-hel"])
    assert capsys.readouterr().err.splitlines()[-1] == "s.py: error: unknown option -hel; did you mean --help?"
