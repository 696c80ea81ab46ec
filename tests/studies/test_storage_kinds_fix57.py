"""``checks.regular_file`` takes the error class of its refusal (fix57): the storage's refusals of a journal or a SQLite
file that is no regular file (a FIFO, a device, a socket) were written inline with StorageError, repeating it."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from nas_proxy import checks
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.studies.storage import StorageError, _check_database, _check_journal_path


def test_regular_file_raises_the_class_given() -> None:
    with pytest.raises(StorageError, match=r"^x is a FIFO$"):
        checks.regular_file(stat.S_IFIFO | 0o600, lambda what: f"x is {what}", StorageError)
    with pytest.raises(InvalidArgumentError, match=r"^x is a socket$"):
        checks.regular_file(stat.S_IFSOCK | 0o600, lambda what: f"x is {what}")
    checks.regular_file(stat.S_IFREG | 0o600, lambda what: f"x is {what}", StorageError)  # a file: nothing


def test_a_storage_that_is_no_regular_file_is_refused_as_a_storage_error(tmp_path: Path) -> None:
    fifo = tmp_path / "j.log"
    os.mkfifo(fifo)
    with pytest.raises(StorageError, match=f"^storage {re.escape(str(fifo))} is a FIFO, not a regular file; give a journal file path$"):
        _check_journal_path(fifo)
    with pytest.raises(StorageError, match=f"^storage {re.escape(str(tmp_path))} is a directory; give a journal file path such as"):
        _check_journal_path(tmp_path)
    url = f"sqlite:///{fifo}"
    with pytest.raises(StorageError, match=r"is a FIFO, not a regular file; give a SQLite file, such as sqlite:///studies\.db$"):
        _check_database(url)
