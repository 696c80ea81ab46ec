"""The bad input files of branch probe62's cases (``tests/bad_inputs.py``, ``PROBE62``), written into the same workspace:
a space file of 100,000 choices, a ladder calibration's tables whose numbers a stranger typed (hexadecimal, full-width
digits, Python's True and Infinity), and a ground truth whose accuracy is beyond float (1e309)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bad_inputs_files_probe56 import SPACE

CHOICES = 100_000  # a dimension a stranger generated: some 0.9 MB, under the 1 MiB a settings file may be


def _edited(source: Path, target: Path, line: int, old: str, new: str) -> None:
    """``source`` with ``old`` replaced by ``new`` on its line ``line`` (1-based), written to ``target``."""
    rows = source.read_text().splitlines(keepends=True)
    assert old in rows[line - 1], (source, line, rows[line - 1])
    rows[line - 1] = rows[line - 1].replace(old, new, 1)
    target.write_text("".join(rows))


def build_probe62(root: Path) -> None:
    """Add probe62's inputs to the workspace ``root``."""
    folder = root / "p62"
    folder.mkdir()
    assert 'activation = "relu"' in SPACE
    choices = ", ".join(f'"a{i}"' for i in range(CHOICES))
    (folder / "space-choices.toml").write_text(SPACE.replace('activation = "relu"', f"activation = [{choices}]"))
    table, scores = root / "ladders" / "table.csv", root / "ladders" / "scores.csv"
    # line 8 is seed 1's first row: the seed whose columns the ladders read (seed 0's test_accuracy is the truth)
    _edited(table, folder / "table-seconds-hex.csv", 8, ",10\n", ",0x10\n")
    _edited(table, folder / "table-val-full-width.csv", 8, "80.5", "\uff18\uff10.5")
    _edited(scores, folder / "scores-true.csv", 2, "a0,0,", "a0,True,")
    _edited(scores, folder / "scores-infinity.csv", 2, "a0,0,", "a0,Infinity,")
    truth = (root / "archs" / "truth-8.json").read_text()
    assert '"accuracy": 60.0' in truth
    (folder / "truth-1e309.json").write_text(truth.replace('"accuracy": 60.0', '"accuracy": 1e309', 1))
    json.loads((folder / "truth-1e309.json").read_text())  # valid JSON: Python reads 1e309 as inf
