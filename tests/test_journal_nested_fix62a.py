"""fix62a: a storage file whose first line is JSON nested deeper than Python's parser recurses is not an Optuna journal.
Before, check_journal's json.loads raised RecursionError (not caught there: 'cannot open storage ...: maximum recursion
depth exceeded while decoding a JSON array', or an internal error); now the one line every foreign file gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy.studies.storage import StorageError, check_journal


def test_a_storage_whose_first_line_is_nested_too_deeply_is_not_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    path.write_text("[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(StorageError, match=r"is not an Optuna journal \(its first line is not a journal record\)"):
        check_journal(path)
