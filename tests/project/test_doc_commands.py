"""Every ``nasproxy COMMAND --option`` line of README.md, docs/*.md and benchmarks/README.md names a real
command and options of that command (or the global ones), spelt in full, and a value among the option's
choices where it has choices. docs/bad-inputs.md is left out: its commands are refused on purpose.
Reads the parser (:func:`nas_proxy.cli.build_parser`), which imports no torch: quick."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from nas_proxy.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "bad-inputs.md")]
PAGES.append(ROOT / "benchmarks" / "README.md")

FENCE = re.compile(r"^\s*(```|~~~)")
# a command line: at the start of a code line or span, after VAR=value words, `time` or a path to the program;
# or a launcher's `-m nas_proxy` (torchrun)
COMMAND = re.compile(r"^\s*(?:[A-Z_]+=\S*\s+)*(?:time\s+)?(?:(?:\S*/)?nasproxy|\S.*?\s-m\s+nas_proxy)\s+(.*)$")
END = re.compile(r"\s#|\s\||&&|;|\s>")  # a comment, a pipe, the next command, a redirection


def snippets(text: str) -> list[str]:
    """The code of a page: each line of a fenced block (a line ending in ``\\`` joined to the next) and each code span."""
    out, fenced, held = [], False, ""
    for line in text.splitlines():
        if FENCE.match(line):
            fenced, held = not fenced, ""
        elif fenced and line.rstrip().endswith("\\"):
            held += line.rstrip()[:-1] + " "
        elif fenced:
            out.append(held + line)
            held = ""
        else:
            out.extend(re.findall(r"`([^`]+)`", line))
    return out


def commands(text: str) -> list[list[str]]:
    """The words after ``nasproxy`` of every command line of ``text``, up to its end (``[--opt]`` brackets dropped)."""
    found = []
    for code in snippets(text):
        m = COMMAND.match(code)
        if m:
            words = END.split(m.group(1))[0].replace("[", " ").replace("]", " ").split()
            if words:
                found.append(words)
    return found


def placeholder(value: str) -> bool:
    return value.isupper() or "..." in value or "|" in value


def problems(words: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """What in one command line the parser does not know: the command, an option, or a value outside its choices."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    name = words[0]
    if name.startswith("-"):
        command, known = None, parser._option_string_actions
    elif placeholder(name):  # `nasproxy COMMAND --help`
        return []
    elif name not in sub.choices:
        return [f"no command {name!r}"]
    else:
        command = sub.choices[name]
        known = {**parser._option_string_actions, **command._option_string_actions}
    said = []
    for i, word in enumerate(words):
        if not word.startswith("--"):
            continue
        option, eq, value = word.partition("=")
        option = option.rstrip(",.:)")
        action = known.get(option)
        if action is None:
            said.append(f"{name}: no option {option}")
            continue
        if not eq and i + 1 < len(words) and not words[i + 1].startswith("-"):
            value = words[i + 1]
        if action.choices and value and not placeholder(value) and value not in action.choices:
            said.append(f"{name} {option}: {value!r} is not one of {sorted(action.choices)}")
    return said


@pytest.fixture(scope="module")
def parser() -> argparse.ArgumentParser:
    return build_parser()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_line_names_real_commands_and_options(page: Path, parser: argparse.ArgumentParser) -> None:
    wrong = [f"`nasproxy {' '.join(w)}`: {p}" for w in commands(page.read_text(encoding="utf-8")) for p in problems(w, parser)]
    assert not wrong, f"{page.relative_to(ROOT)}: " + "; ".join(wrong)


def test_the_checker_finds_a_wrong_command_option_and_choice(parser: argparse.ArgumentParser) -> None:
    page = (
        "Run `nasproxy serch --n-trials 3` or `another nasproxy process (process N)`.\n"
        "```bash\n"
        "OMP_NUM_THREADS=1 .venv/bin/nasproxy search --space convnet720 \\\n"
        "    --n-trial 3 --sampler tpe   # --not-read\n"
        "nasproxy distill --method=dam [--ipc N] --net-norm batchnorm | head\n"
        "nasproxy COMMAND --help\n"
        "torchrun --nproc-per-node 2 -m nas_proxy distill --launch 2 --distributd\n"
        "```\n"
    )
    found = commands(page)
    assert found == [
        ["serch", "--n-trials", "3"],
        ["search", "--space", "convnet720", "--n-trial", "3", "--sampler", "tpe"],
        ["distill", "--method=dam", "--ipc", "N", "--net-norm", "batchnorm"],
        ["COMMAND", "--help"],
        ["distill", "--launch", "2", "--distributd"],
    ]
    assert [problems(w, parser) for w in found] == [
        ["no command 'serch'"],
        ["search: no option --n-trial"],
        ["distill --method: 'dam' is not one of ['datadam', 'dm', 'random']"],
        [],
        ["distill: no option --distributd"],
    ]
