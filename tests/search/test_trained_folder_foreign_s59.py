"""``train --out`` a folder that holds other files and no trained model is refused before training (probe59: the
model's files were written among a folder of space files, exit 0); a folder holding a training's file, or only the
temporary file a killed training left, is the training's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy.errors import OutputConflictError
from nas_proxy.search.trained_folder import SPEC, TRAINING, WEIGHTS, check_not_foreign


def test_a_folder_of_other_files_is_refused_naming_one(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "b.toml").write_text("")
    with pytest.raises(OutputConflictError, match=r"is not empty \(2 entries, such as 'b.toml'\) and holds no trained model"):
        check_not_foreign(tmp_path)


@pytest.mark.parametrize("name", [SPEC, WEIGHTS, TRAINING, f".{WEIGHTS}.4242-0a1b2c3d.tmp"])
def test_a_folder_with_a_file_of_a_training_is_left_to_the_training_s_own_checks(tmp_path: Path, name: str) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / name).write_bytes(b"")
    check_not_foreign(tmp_path)


def test_a_new_or_empty_folder_is_taken(tmp_path: Path) -> None:
    check_not_foreign(tmp_path / "new")
    check_not_foreign(tmp_path)


def test_a_writability_probe_a_kill_left_is_not_a_foreign_file(tmp_path: Path) -> None:
    """review60: where the file system has no O_TMPFILE (NFS, vfat), ``files`` probes a folder with a named file, which a
    kill -9 between its creation and removal leaves: the folder was refused as "not empty (1 entries ...)"."""
    from nas_proxy.files import PROBE

    (tmp_path / f"{PROBE}4242-0a1b2c3d").write_bytes(b"")
    check_not_foreign(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")  # and one file of the user's is one entry
    with pytest.raises(OutputConflictError, match=r"is not empty \(1 entry, such as 'notes.txt'\)"):
        check_not_foreign(tmp_path)
