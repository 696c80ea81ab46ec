"""The bad-input workspace's 4 GiB sparse file (tests/bad_inputs_files_more.py): before branch fix61c ``build(root)`` left
it beside the workspace, as ``ROOTNAME-huge.bin``, outside the folder its callers clean up. It is made inside the
workspace now, and a copy of the workspace (:func:`tests.bad_input_runner.copy_workspace`, after every case that changed
it) makes it anew, sparse, rather than writing 4 GiB of zeros."""

from __future__ import annotations

import os
from pathlib import Path

from tests.bad_input_runner import copy_workspace
from tests.bad_inputs_files_more import HUGE_BYTES, huge_file


def test_the_huge_file_is_made_inside_the_workspace(tmp_path: Path) -> None:
    root = tmp_path / "work"
    huge = huge_file(root)
    assert huge.is_relative_to(root) and huge.stat().st_size == HUGE_BYTES
    assert os.listdir(tmp_path) == ["work"]


def test_a_copy_of_the_workspace_keeps_it_sparse(tmp_path: Path) -> None:
    root = tmp_path / "work"
    huge = huge_file(root)
    (root / "link").symlink_to(os.path.relpath(huge, root))
    copy_workspace(root, tmp_path / "copy")
    copied = tmp_path / "copy" / huge.relative_to(root)
    assert copied.stat().st_size == HUGE_BYTES and copied.stat().st_blocks * 512 < 1 << 20
    assert (tmp_path / "copy" / "link").resolve() == copied.resolve()
