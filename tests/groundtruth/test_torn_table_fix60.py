"""fix60: the ground-truth builder reads the commit and device of each row back from its previous table
(``benchmarks/groundtruth/table.py``). A previous table cut short (a torn last write, a copy cut off) fed the new one:
its last row's commit, cut mid-field, was kept as that row's commit. Only whole rows are read back now, and the
builder says in one line that the rows past the cut get this run's commit and device."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
FIELDS = ["arch_id", "block", "depth", "seed", "test_accuracy", "device", "commit", "trial", "spec"]


def _table_module() -> ModuleType:
    sys.path.insert(0, str(ROOT / "benchmarks"))  # table.py imports benchmarks/provenance.py lazily
    spec = importlib.util.spec_from_file_location("groundtruth_table_fix60", ROOT / "benchmarks" / "groundtruth" / "table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TABLE = _table_module()


def _whole(path: Path, n: int = 3) -> bytes:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for i in range(n):
            w.writerow({"arch_id": f"a{i}", "block": 0, "depth": i + 1, "seed": 0, "test_accuracy": 50.5, "device": "cpu (x)",
                        "commit": "862969a-dirty", "trial": i, "spec": json.dumps({"depth": i + 1})})  # fmt: skip
    return path.read_bytes()


def test_a_whole_table_is_read_back_row_by_row(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    _whole(path)
    known, note = TABLE.previous_rows(path)
    assert note is None
    assert {k: r["commit"] for k, r in known.items()} == {(f"a{i}", "0", str(i)): "862969a-dirty" for i in range(3)}


def test_a_table_cut_inside_its_last_row_gives_only_its_whole_rows_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    data = _whole(path)
    for cut in (len(data) - 1, len(data) - 4, data.rindex(b"862969a") + 3, data.rindex(b"\na2,") + 3):
        path.write_bytes(data[:cut])
        known, note = TABLE.previous_rows(path)
        assert set(known) == {("a0", "0", "0"), ("a1", "0", "1")}, cut  # the cut row is not read: its commit was cut too
        assert all(r["commit"] == "862969a-dirty" and r["device"] == "cpu (x)" for r in known.values())
        assert note is not None and "\n" not in note and str(path) in note and "cut short" in note
        assert f"{cut} bytes" in note and "this run's commit and device" in note


def test_a_table_cut_inside_its_header_or_emptied_feeds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    data = _whole(path)
    for cut in (0, 5, data.index(b"\n")):
        path.write_bytes(data[:cut])
        known, note = TABLE.previous_rows(path)
        assert known == {} and note is not None and "cut short" in note, cut


def test_a_row_with_too_few_fields_in_the_middle_is_not_read_back(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    lines = _whole(path).decode().splitlines(keepends=True)
    lines[2] = lines[2][: lines[2].index("862969a")] + "\r\n"  # a line cut short, then whole rows (a damaged copy)
    path.write_text("".join(lines), newline="")
    known, note = TABLE.previous_rows(path)
    assert set(known) == {("a0", "0", "0"), ("a2", "0", "2")}
    assert note is not None and "line 3" in note


def test_no_previous_table_is_no_note(tmp_path: Path) -> None:
    assert TABLE.previous_rows(tmp_path / "absent.csv") == ({}, None)
