"""Where a ground-truth table's records begin and end is the csv module's to say (stop 56), also for its comment lines:
a line is a comment where a record starts with '#'. Before, a count of the quotes on each line decided it (quote
parity): a quote inside an unquoted field (``ab"c``, which the csv module reads as it is) turned every later comment
into a row, read as data without a word; and a quoted field never closed was refused at the file's last line as a row
of too few fields, "a comma inside a field needs quotes", not at the line where the quote opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy.errors import InvalidArgumentError
from nas_proxy.groundtruth.tables import read_rows


def test_a_quote_inside_an_unquoted_field_keeps_later_comments_comments(tmp_path: Path) -> None:
    header, rows = read_rows("--table", tmp_path / "t.csv", 'spec,acc\nab"c,1\n# a note, "x\nd,2\n')
    assert header == ["spec", "acc"] and rows == [(2, {"spec": 'ab"c', "acc": "1"}), (4, {"spec": "d", "acc": "2"})]


def test_a_quoted_field_holding_a_newline_is_one_field_and_a_hash_inside_it_is_data(tmp_path: Path) -> None:
    _, rows = read_rows("--table", tmp_path / "t.csv", 'spec,acc\n"a\n# b",1\n# a note\nc,2\n')
    assert rows == [(3, {"spec": "a\n# b", "acc": "1"}), (5, {"spec": "c", "acc": "2"})]


@pytest.mark.parametrize(("text", "line"), [('spec,acc\n"a,1\nb,2\nc,3\n', 2), ('spec,acc\na,1\nb,"2\n', 3), ('# n\nspec,acc\n"a,1\n', 3)])
def test_a_quoted_field_never_closed_is_refused_at_the_line_it_opens(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "t.csv"
    with pytest.raises(InvalidArgumentError) as refused:
        read_rows("--table", path, text)
    assert str(refused.value) == (
        f"{path} line {line}: a quoted field opens here and is not closed before the end of the file (an odd number of '\"'); "
        "close it, or drop the quote"
    )
