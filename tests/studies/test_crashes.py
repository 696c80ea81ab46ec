"""Workers' crash dumps (nas_proxy.studies.crashes): one a trial can be told by, and the folder's sweep."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nas_proxy.studies.crashes import sweep_crash_folder


def test_the_sweep_judges_only_files_a_process_id_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fix49b: the sweep took any name of digits for a process id: 0-x.txt was handed to os.kill (this process's
    group), 99999999999999999999-x.txt raised OverflowError and ²-x.txt ValueError out of the start of every trial.
    Such a file names no process: kept, nothing asked."""
    asked: list[object] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: asked.append(pid))
    names = ["0-a.txt", "99999999999999999999-b.txt", "²-c.txt", "-1-d.txt"]
    for name in names:
        (tmp_path / name).write_text("\n")  # blank: what a worker killed outright leaves
    sweep_crash_folder(tmp_path)
    assert asked == [] and sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
