"""fix59: a path in a command's output is shown as the one shell word that reads back as it wherever a shell would read
it otherwise (a blank, '$', a quote, '*', '~', a leading '-'), as it was already for a character that does not show as
itself: a user copies it from the line into a shell. Before, 'best spec: runs/$x/best.json' printed the name raw, and a
paste named runs//best.json. A path of plain characters (letters of any script, digits, '/', '.', '-', '_') is shown
as it is."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from nas_proxy.cli import main
from nas_proxy.cli.common import path_shown


@pytest.mark.parametrize("name", ["runs/demo/correlate/report.html", "/tmp/a-b_c/d.e", "runs/café/set", "runs/אב/x", "runs/a@b+c=d:e,f%"])
def test_a_plain_path_is_shown_as_it_is(name: str) -> None:
    assert path_shown(name) == name
    assert path_shown(Path(name)) == str(Path(name))


@pytest.mark.parametrize(
    "name", ["runs/ok dir/set", "runs/$HOME/x", "runs/a'b", 'runs/a"b', "runs/*", "~/x", "runs/a;b", "runs/a\tb", "-x"]
)
def test_a_path_a_shell_would_read_otherwise_is_one_shell_word_naming_it(name: str) -> None:
    shown = path_shown(name)
    assert shown != name and shown.isprintable()
    read = subprocess.run(["bash", "-c", f"printf %s {shown}"], capture_output=True, text=True, check=True).stdout
    assert read == (f"./{name}" if name.startswith("-") else name)  # a leading '-': read as no option


def test_a_commands_output_names_its_folder_as_one_word(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = "my $set"
    command = ["distill", "--dataset", "digits", "--ipc", "1", "--method", "random", "--device", "cpu", "--quiet", "--out", out]  # ~0.2 s
    assert main(command) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith("wrote 'my $set'/ "), line
    assert shlex.split(line.removeprefix("wrote "))[0] == f"{out}/"
