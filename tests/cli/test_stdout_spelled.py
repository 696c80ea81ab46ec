"""The lines a command prints that are not error lines (its stdout, a progress line) spell every character a terminal
acts on or shows as other text, as error lines do (fix57b): arguments cannot hold one (stop 56), but a name read from a
file or a storage can (a set's meta.json, a space file's description)."""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

import pytest

import nas_proxy
from nas_proxy.cli import main
from nas_proxy.cli.common import ProgressBars, path_shown, say, shell_word
from nas_proxy.progress import Progress

NAME = "a\x1b[2Jb\u202ec\rd\ne\tf\u2028g"  # clears the screen, reverses what follows, rewrites the line's start, breaks it
SPELLED = "a\\x1b[2Jb\\u202ec\\rd\\ne\\tf\\u2028g"


def shown_as_text(out: str) -> bool:
    """Whether every line of ``out`` is printable text (the newlines that end them aside)."""
    return all(line.isprintable() for line in out.split("\n"))


def test_say_prints_each_line_as_one_spelled_line(capsys: pytest.CaptureFixture[str]) -> None:
    say(f"name: {NAME}", "café 180° אב — 'x' \\ y")
    out = capsys.readouterr().out
    assert out == f"name: {SPELLED}\ncafé 180° אב — 'x' \\ y\n"


@pytest.mark.parametrize(
    "name", ["runs/a\x1b[2Jb", "runs/rtl\u202eevil", "runs/x\ny", "runs/-\u2028", "runs/ok dir/set", "runs/$x", "runs/plain/café"]
)
def test_a_path_is_shown_as_a_shell_word_that_names_it(name: str) -> None:
    """A path holding a character that would not show as itself, or that a shell would read otherwise (a blank, `$`), is
    shown as the shell word that reads back as it: the line is one printable line and a paste names the file (a plain
    one, letters of any script included, is shown as it is)."""
    shown = path_shown(name)
    assert shown.isprintable()
    if name == "runs/plain/café":
        assert shown == name
        return
    read = subprocess.run(["bash", "-c", f"printf %s {shown}"], capture_output=True, text=True, check=True).stdout
    assert read == name


def test_a_command_to_copy_quotes_a_reordering_character() -> None:
    """Before fix57b only characters below 32 (and 127) were escaped: '\\u202e' stood in the printed command as itself."""
    assert shell_word("a\u202eb") == "$'a\\xe2\\x80\\xaeb'"


def test_a_space_files_description_is_spelled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain, odd = tmp_path / "plain.toml", tmp_path / "odd.toml"
    for path, description in ((plain, "quick"), (odd, NAME)):
        path.write_text(f'family = "convnet"\ndescription = {json.dumps(description)}\n[params]\ndepth = [1, 2]\n')
    assert main(["spaces", str(plain)]) == 0
    lines = capsys.readouterr().out.count("\n")
    assert main(["spaces", str(odd)]) == 0
    out = capsys.readouterr().out
    assert shown_as_text(out) and out.count("\n") == lines, out
    assert f"  {SPELLED}\n" in out


def test_a_sets_recorded_device_is_spelled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same distill command run again prints the set's line from its meta.json, which another program may have written."""
    command = ["distill", "--dataset", "digits", "--ipc", "1", "--method", "random", "--device", "cpu", "--quiet"]  # ~0.2 s
    assert main([*command, "--out", str(tmp_path / "set")]) == 0
    meta = tmp_path / "set" / "meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "device": NAME}))
    capsys.readouterr()
    assert main([*command, "--out", str(tmp_path / "set")]) == 0
    out = capsys.readouterr().out
    assert shown_as_text(out) and out.count("\n") == 2, out
    assert f" s on {SPELLED}\n" in out


def test_a_progress_line_and_note_are_spelled(capsys: pytest.CaptureFixture[str]) -> None:
    bars = ProgressBars()
    bars.on_progress(Progress("stage", message=f"scored {NAME}"))
    bars.on_progress(Progress(f"search {NAME}", done=1, total=3, note=NAME))
    bars.__exit__()
    err = capsys.readouterr().err
    assert f"scored {SPELLED}\n" in err
    assert f"search {SPELLED}: " in err and f", {SPELLED}]" in err  # the bar's stage and its note (tqdm draws the rest)
    assert not any(c in err for c in ("\x1b[2J", "\u202e", "\u2028", "\t")), err


def test_every_stdout_line_of_the_commands_goes_through_say() -> None:
    """In nas_proxy/cli, ``print`` writes on stdout only inside :func:`say` and :func:`print_json` (whose JSON escapes
    every such character); any other ``print`` is an error line on stderr (said through errors.one_line)."""
    found = []
    for path in sorted((Path(nas_proxy.__file__).parent / "cli").glob("*.py")):
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef) or function.name in ("say", "print_json"):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                    to = next((ast.unparse(k.value) for k in node.keywords if k.arg == "file"), "")
                    if to != "sys.stderr":
                        found.append(f"{path.name}:{node.lineno}")
    assert found == []
