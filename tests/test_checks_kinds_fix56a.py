"""fix56a: checks.kind names every type of file, and checks.regular_file is the one refusal of a path that is not a
regular file where nasproxy reads or replaces one (configs.check_saved, search's best.json, calibrate's --out)."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from nas_proxy.checks import file_kind, kind, regular_file
from nas_proxy.errors import InvalidArgumentError


@pytest.fixture
def every_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """The st_mode of a file of every type, made here (a block device, which only root can make, by its type bits)."""
    monkeypatch.chdir(tmp_path)  # a socket's path is short (108 bytes at most): relative
    Path("file").write_text("x")
    Path("folder").mkdir()
    os.mkfifo("fifo")
    Path("link").symlink_to("file")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind("socket")
        yield {
            "a file": os.stat("file").st_mode,
            "a directory": os.stat("folder").st_mode,
            "a FIFO": os.stat("fifo").st_mode,
            "a socket": os.stat("socket").st_mode,
            "a character device": os.stat("/dev/null").st_mode,
            "a symbolic link": os.lstat("link").st_mode,
        }


def test_kind_names_every_type_of_file(every_kind: dict[str, int]) -> None:
    assert {what: kind(mode) for what, mode in every_kind.items()} == {what: what for what in every_kind}
    assert kind(stat.S_IFBLK | 0o660) == "a block device" and kind(0) == "not a regular file"  # a disk; a type nasproxy never met
    assert file_kind("file") == "a file" and file_kind("/dev/null") == "a character device" and file_kind("link") == "a file"


def test_regular_file_refuses_every_other_type_in_the_callers_words(every_kind: dict[str, int]) -> None:
    regular_file(every_kind["a file"], lambda what: f"never said: {what}")
    for what, mode in [*every_kind.items(), ("a block device", stat.S_IFBLK)]:
        if what == "a file":
            continue
        with pytest.raises(InvalidArgumentError) as raised:
            regular_file(mode, lambda found: f"--out o holds best.json, which is {found}; give a folder of its own")
        assert str(raised.value) == f"--out o holds best.json, which is {what}; give a folder of its own"


def test_the_three_refusals_say_what_they_said(tmp_path: Path) -> None:
    """No message changed (docs/bad-inputs.md holds them): a FIFO where each reads a file."""
    import argparse

    from nas_proxy import configs
    from nas_proxy.cli.calibrate import _output
    from nas_proxy.search.runner import _not_another_study

    os.mkfifo(tmp_path / "config.toml")
    os.mkfifo(tmp_path / "best.json")
    os.mkfifo(tmp_path / "p.toml")
    with pytest.raises(InvalidArgumentError) as raised:
        configs.check_saved("--out", tmp_path, "search")
    assert (
        str(raised.value)
        == f"--out {tmp_path} holds config.toml, which is a FIFO, not search's resolved options; give a directory of its own"
    )
    with pytest.raises(InvalidArgumentError) as raised:
        _not_another_study(tmp_path, "s1")
    assert str(raised.value) == f"--out {tmp_path} holds best.json, which is a FIFO, not a search's results; give a folder of its own"
    with pytest.raises(InvalidArgumentError) as raised:
        _output(argparse.Namespace(out=str(tmp_path / "p.toml"), study="s1", ladders=None))
    assert str(raised.value) == f"--out {tmp_path / 'p.toml'} is a FIFO; give the profile's file name"
