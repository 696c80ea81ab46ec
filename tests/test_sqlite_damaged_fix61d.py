"""fix61d: a damaged SQLite storage ("database disk image is malformed") was told "is not a SQLite database ...; give a
new file", which starts the study over and loses every trial: now it is called damaged, and the recovery a user can try
first (sqlite3's .recover into a new file) is named, on one line. A file that is no SQLite database keeps its words."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from nas_proxy.studies.storage import SQLITE_HEADER, StorageError, open_storage


def refused(url: str) -> str:
    with pytest.raises(StorageError) as told:
        open_storage(url, "s")
    return str(told.value)


def test_a_damaged_sqlite_storage_names_the_recovery(tmp_path: Path) -> None:
    db = tmp_path / "my study.db"
    optuna.create_study(study_name="s", storage=open_storage(f"sqlite:///{db}", "s")[0])
    data = bytearray(db.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # its first page (the schema) overwritten past the header
    db.write_bytes(bytes(data))
    said = refused(f"sqlite:///{db}")
    assert "is a damaged SQLite database (database disk image is malformed)" in said, said
    assert f"sqlite3 '{db}' .recover | sqlite3 NEW.db, then --storage sqlite:///NEW.db" in said, said
    assert "\n" not in said


def test_a_file_that_is_no_sqlite_database_keeps_its_words(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database at all, " * 100)
    said = refused(f"sqlite:///{notes}")
    assert "is not a SQLite database (file is not a database); give a new file" in said and ".recover" not in said, said
    assert not notes.read_bytes().startswith(SQLITE_HEADER)
