"""fix58: a stray '"' at the start of a ground-truth table's field (an architecture named ``"net1``) opens a quoted field
that the csv module reads on, across the next lines, to the next '"' in the file: those rows were read as one
architecture's name (``'net1,0.5\\nnet2,0.6\\nnet3'``) without a word, or refused at the line where the swallowed record
ended. A quoted field whose text holds a line that reads as a row of the table (as many commas as the header) is
refused at the line where it opens; a line break inside a quoted field is still data (tests/groundtruth/test_table_quotes.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nas_proxy.errors import InvalidArgumentError
from nas_proxy.groundtruth.tables import read_rows


@pytest.mark.parametrize(
    ("text", "opens", "closes"),
    [
        ('arch,acc\n"net1,0.5\nnet2,0.6\nnet3",0.7\nnet4,0.8\n', 2, 4),  # read as one row named 'net1,0.5\nnet2,0.6\nnet3'
        ('arch,acc\n"net1,0.5\nnet2,0.6\n"net3",0.7\n', 2, 4),  # closed by the next quoted name's quote
        ('arch,acc\nnet0,0.4\n"net1,0.5\nnet2",0.6\n', 3, 4),  # two lines: the first's text a row
        ('# made by hand\n\narch,acc,seed\n"net1,0.5,0\nnet2,0.6,0\nnet3",0.7,0\n', 4, 6),  # the file's own line numbers
        ('arch,acc\n"net1,0.5\nnet2,0.6\n"net3,0.7\n', 2, 4),  # swallowed rows of too few fields: named where the quote opens
    ],
)
def test_a_stray_quote_that_takes_in_rows_is_refused_at_its_line(tmp_path: Path, text: str, opens: int, closes: int) -> None:
    path = tmp_path / "t.csv"
    said = (
        f"{path} line {opens}: a quoted field opens here and takes in lines up to line {closes} that read as rows of the "
        "table (a stray '\"' in a name?); drop the quote, or close it on its line"
    )
    with pytest.raises(InvalidArgumentError, match=f"^{re.escape(said)}$"):
        read_rows("--table", path, text)


@pytest.mark.parametrize(
    "text",
    [
        'arch,acc,note\nnet1,0.5,"trained twice\nthe second kept"\nnet2,0.6,x\n',  # a note of two lines (a spreadsheet's)
        'arch,acc\n"a\n# b",1\n',
    ],
)
def test_a_line_break_inside_a_quoted_field_is_data(tmp_path: Path, text: str) -> None:
    _, rows = read_rows("--table", tmp_path / "t.csv", text, numbers=())
    assert [line for line, _ in rows] == ([3, 4] if "note" in text else [3])
