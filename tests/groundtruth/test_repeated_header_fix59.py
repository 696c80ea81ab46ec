"""fix59: a header repeated inside a table (two tables joined with ``cat``) was refused as a bad row, "line 6: seed,
test_accuracy or spec is not valid", or, where the table has a ``dataset`` column, as a table that "mixes datasets:
line 2 names digits, line 6 dataset". It is refused as what it is, at its line, by every reader of a table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nas_proxy.calibrate.truth import from_file
from nas_proxy.correlate.archs import read_archs
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.groundtruth.tables import read_data, read_rows

SPEC = '"{""family"": ""convnet"", ""depth"": %d}"'
ROWS = [f"0,{SPEC % i},{50 + i}" for i in range(4)]


def said(path: Path, line: int) -> str:
    return "^" + re.escape(f"{path} line {line} repeats the header (two tables joined?); drop that line") + "$"


@pytest.mark.parametrize(
    ("header", "again", "suffix"),
    [
        ("seed,spec,test_accuracy", "seed,spec,test_accuracy", ""),
        ("seed,spec,test_accuracy", "\ufeff seed , spec,test_accuracy ", ""),  # a second file's byte-order mark, blanks
        ("seed,spec,test_accuracy,dataset", "seed,spec,test_accuracy,dataset", ",digits"),  # read_data read it first
    ],
)
def test_a_repeated_header_is_refused_as_one(tmp_path: Path, header: str, again: str, suffix: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text("\n".join([header, *(r + suffix for r in ROWS), again, *(r + suffix for r in ROWS)]) + "\n", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match=said(path, 6)):
        from_file(path)
    with pytest.raises(InvalidArgumentError, match=said(path, 6)):
        read_rows("--table", path)


def test_a_list_of_architectures_with_its_header_again_is_refused_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "archs.csv"
    path.write_text("# two lists joined\narch_id,spec\na,{}\n\narch_id,spec\nb,{}\n", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match=said(path, 5)):
        read_archs(path)


def test_a_row_that_only_resembles_the_header_is_data(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("name,dataset\nname,x\ndataset,digits\n", encoding="utf-8")
    assert [row for _, row in read_rows("--table", path)[1]] == [{"name": "name", "dataset": "x"}, {"name": "dataset", "dataset": "digits"}]
    with pytest.raises(InvalidArgumentError, match="mixes datasets"):  # two names in the column, neither its header
        read_data(path, f"--table {path}")
