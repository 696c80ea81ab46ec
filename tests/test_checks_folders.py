"""A path a command needs as a folder, and that is something else, is named by what it is.

Before fix55b ``distill --data-root /dev/null`` said "data root /dev/null does not exist (or is not a directory)",
and so did a FIFO, a socket and a link to nothing, though each is there (``ls`` lists it)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from nas_proxy import checks
from nas_proxy.data import load_dataset
from nas_proxy.errors import DataNotFoundError, InvalidArgumentError


@pytest.fixture()
def paths(tmp_path: Path) -> dict[str, Path]:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "file.txt").write_text("x\n", encoding="utf-8")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    sock = tmp_path / "sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock))
    s.close()
    (tmp_path / "folder").mkdir()
    (tmp_path / "to-folder").symlink_to(tmp_path / "folder")
    return {p.name: p for p in tmp_path.iterdir()}


def test_what_is_not_a_folder_is_said(paths: dict[str, Path]) -> None:
    said = {name: checks.not_a_folder("data root", p) for name, p in paths.items()}
    assert said["folder"] is None and said["to-folder"] is None
    assert said["fifo"] == f"data root {paths['fifo']} is a FIFO, not a directory"
    assert said["sock"] == f"data root {paths['sock']} is a socket, not a directory"
    assert said["file.txt"] == f"data root {paths['file.txt']} is a file, not a directory"
    assert (
        said["dangling"] == f"data root {paths['dangling']} is a symbolic link to {paths['dangling'].parent / 'gone'}, which does not exist"
    )
    assert checks.not_a_folder("data root", "/dev/null") == "data root /dev/null is a character device, not a directory"
    assert checks.not_a_folder("data root", paths["file.txt"] / "x") == f"data root {paths['file.txt'] / 'x'} does not exist"


def test_a_symbolic_link_loop_is_refused_as_everywhere(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(InvalidArgumentError, match="is a symbolic link loop"):
        checks.not_a_folder("data root", tmp_path / "loop")


@pytest.mark.parametrize("name", ["fifo", "sock", "dangling", "devnull"])
def test_a_data_root_says_what_it_is(paths: dict[str, Path], name: str) -> None:
    root = Path("/dev/null") if name == "devnull" else paths[name]
    with pytest.raises(DataNotFoundError) as refused:
        load_dataset("mnist", root)
    said = str(refused.value)
    assert said.startswith(f"{checks.not_a_folder('data root', root)}; give the folder that holds the mnist files"), said
    assert "(or is not a directory)" not in said
    assert (refused.value.missing is not None) == (name == "dangling")  # run: whether a path its preset writes is missing
