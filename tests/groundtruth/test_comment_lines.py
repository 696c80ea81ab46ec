"""A line starting with ``#`` in a table is a comment, read as a blank line by the one reader of tables.

The project writes them itself (``benchmarks/groundtruth/split.py`` one above its header) and calibrate's readers
took them as comments, but before fix55b ``read_rows`` took one above the header as the header ("line 2 has 3
fields, the header 1") and one between rows as a row of one field; ``read_data`` took one above the header for the
header, so the table's ``dataset`` column went unread."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy.errors import InvalidArgumentError
from nas_proxy.groundtruth.tables import read_data, read_rows

ROWS = "arch_id,seed,test_accuracy\na1,0,90.5\na2,0,88.25\n"


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("# split.py: seed 18\n" + ROWS, [3, 4]),  # above the header
        ("\n# one\n\n# two, with a comma\n" + ROWS, [6, 7]),  # several, among blank lines
        ("arch_id,seed,test_accuracy\n# measured on 2026-12-07\na1,0,90.5\n#\na2,0,88.25\n# end\n", [3, 5]),  # between rows
        ("arch_id,seed,test_accuracy\r\n# note\r\na1,0,90.5\r\na2,0,88.25\r\n", [3, 4]),  # CRLF
    ],
)
def test_a_comment_line_is_skipped_and_rows_keep_their_lines(tmp_path: Path, text: str, lines: list[int]) -> None:
    path = tmp_path / "t.csv"
    header, rows = read_rows("--table", path, text)
    assert header == ["arch_id", "seed", "test_accuracy"]
    assert [(n, r["arch_id"], r["test_accuracy"]) for n, r in rows] == [(lines[0], "a1", "90.5"), (lines[1], "a2", "88.25")]


def test_a_hash_inside_a_field_is_data(tmp_path: Path) -> None:
    """Only a line that starts a record is a comment: a quoted field's next line, or a quoted first field, is data."""
    text = 'spec,accuracy\n"{""a"": 1,\n#not a comment}",80\n"#x",70\nplain#,60\n'
    _, rows = read_rows("--archs", tmp_path / "a.csv", text)
    assert [(n, r["spec"], r["accuracy"]) for n, r in rows] == [
        (3, '{"a": 1,\n#not a comment}', "80"),
        (4, "#x", "70"),
        (5, "plain#", "60"),
    ]


def test_a_row_after_a_comment_is_still_checked_by_its_line(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"t\.csv line 4 has 2 fields, the header \(line 2\) 3"):
        read_rows("--table", tmp_path / "t.csv", "# c\narch_id,seed,test_accuracy\n# c\na1,0\n")


def test_the_data_column_is_read_below_a_comment(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("# built by hand\narch_id,dataset,data_sha256,test_accuracy\na1,digits,,90\n", encoding="utf-8")
    data = read_data(path, "--table")
    assert data is not None and data.dataset == "digits"


def test_a_comment_that_opens_a_quote_opens_nothing(tmp_path: Path) -> None:
    _, rows = read_rows("--table", tmp_path / "t.csv", '# a note,"on the rows\narch_id,seed\na1,0\n# "\na2,1\n')
    assert [(n, r["arch_id"]) for n, r in rows] == [(3, "a1"), (5, "a2")]
