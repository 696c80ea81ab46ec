"""review61: a ``provenance.json`` beside a ground-truth table (the builder's sidecar that names the tables' data,
``nas_proxy.groundtruth.tables``) nested deeper than Python's JSON reader recurses: ``calibrate --truth t.csv`` ended in
"internal error: RecursionError: maximum recursion depth exceeded while decoding a JSON array" (json.loads raises a
RecursionError, not the ValueError the reader caught). It is refused in one line naming the file, as every other JSON
file nested so deep (``checks.too_deep``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas_proxy.errors import InvalidArgumentError
from nas_proxy.groundtruth.tables import SIDECAR, read_data

TABLE = "arch_id,seed,spec,test_accuracy\nabc,0,{},50.0\n"  # no dataset column: its data is the sidecar's to name


def test_a_sidecar_nested_too_deep_is_refused_in_one_line(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text(TABLE)
    depth = 100_000  # far past any recursion limit
    (tmp_path / SIDECAR).write_text('{"data": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(InvalidArgumentError) as e:
        read_data(table, f"--truth {table}")
    said = str(e.value)
    assert str(tmp_path / SIDECAR) in said and "nested too deeply" in said and "\n" not in said, said


def test_a_sidecar_that_names_the_table_still_gives_its_data(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text(TABLE)
    (tmp_path / SIDECAR).write_text('{"data": {"dataset": "digits", "tables": ["t.csv"]}}')
    data = read_data(table, f"--truth {table}")
    assert data is not None and data.dataset == "digits"
