"""perf57a: a path longer than the system takes is refused before any folder is made on the way to it. Its own mkdir
fails so whatever comes before; before, ``make_dirs`` and ``output_lock`` made (and then removed) every folder above it,
2,048 of them for the bad input ``--out a/a/.../x`` (docs/bad-inputs.md), each walked from the top: 1.6 CPU-s."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from nas_proxy import files
from nas_proxy.files import PATH_MAX, FileWriteError

TOO_LONG = Path("a/" * 2100 + "x")  # 4,201 bytes, each name short


def test_a_path_longer_than_the_system_takes_makes_no_folder_on_the_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(os.fsencode(TOO_LONG)) > PATH_MAX
    monkeypatch.chdir(tmp_path)
    made: list[Path] = []
    mkdir = Path.mkdir

    def counted(self: Path, *args: Any, **kwargs: Any) -> None:
        made.append(self)
        mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", counted)
    with pytest.raises(FileWriteError, match=r"cannot write .*: it is 4,201 bytes long, longer than the system takes \(4,095 at most\)"):
        files.make_dirs(TOO_LONG)
    with files.output_lock(TOO_LONG) as locked:  # unlocked: the command refuses the path in its own words
        assert not locked
    assert made == [] and list(tmp_path.iterdir()) == []
    files.make_dirs(Path("b/c"))  # a path the system takes: made as before
    assert made == [Path("b"), Path("b/c"), Path("b/c")] and (tmp_path / "b" / "c").is_dir()
