"""A quoted field that the end of a ground-truth table closes is refused also where a malformed quoted field comes
before it in its record (review57): stop 56 asked the csv module's strict reader whether the last record ended inside
quotes, and took its first complaint, "',' expected after '\"'" for ``"a"b``, as a closed record, so the open field's
text, its newline included, was read as the row's value ('1\\n', a number) without a word."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy.errors import InvalidArgumentError
from nas_proxy.groundtruth.tables import read_rows


@pytest.mark.parametrize("text", ['spec,acc\n"a"b,"1\n', 'spec,acc\nz,2\n"a"b,"1'])
def test_an_open_quoted_field_after_a_malformed_one_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "t.csv"
    with pytest.raises(InvalidArgumentError, match="a quoted field opens here and is not closed before the end of the file"):
        read_rows("--table", path, text)


@pytest.mark.parametrize("text", ['spec,acc\n"a"b,1\n', "spec,acc\nz,2", 'spec,acc\nz,"2"\r\n', 'spec,acc\n"a\n# b",1\n'])
def test_a_closed_last_record_is_read(tmp_path: Path, text: str) -> None:
    _, rows = read_rows("--table", tmp_path / "t.csv", text, numbers=())
    assert rows
