"""The bad input files of branch probe51's cases (``tests/bad_inputs.py``, ``PROBE51``), written into the same
workspace: what a stranger meets the second time, with something changed since; here a search study whose journal
was carried to another folder, its synthetic set recorded by the path its search was given there (old-place/syn),
which leads nowhere from here."""

from __future__ import annotations

from pathlib import Path


def build_probe51(root: Path) -> None:
    """Add probe51's inputs to the workspace ``root``."""
    folder = root / "carried"  # studies/done as a search run from another folder recorded it: the set at old-place/syn there
    folder.mkdir()
    journal = (root / "studies" / "done" / "journal.log").read_text()
    assert journal.count('"synthetic":"syn"') == 1, "the study records its set once"
    (folder / "journal.log").write_text(journal.replace('"synthetic":"syn"', '"synthetic":"old-place/syn"'))
