"""The bad input files of branch probe52's cases (``tests/bad_inputs.py``, ``PROBE52``), written into the same
workspace: a preset whose name is written decomposed (Unicode NFD, 'cafe' and a combining accent), which would name
another run folder and study than the same name typed on a keyboard (NFC), though the two print alike."""

from __future__ import annotations

from pathlib import Path

from tests.bad_inputs_files import PRESET


def build_probe52(root: Path) -> None:
    """Add probe52's inputs to the workspace ``root``."""
    folder = root / "presets" / "probe52"
    folder.mkdir(parents=True)
    (folder / "name-nfd.toml").write_text(PRESET.replace('name = "p"', 'name = "cafe\\u0301"', 1))
