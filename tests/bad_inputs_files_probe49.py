"""The bad input files of branch probe49's cases (``tests/bad_inputs.py``, ``PROBE49``), written into the same
workspace: a preset that names a space file by its path beside the preset, where every path of a preset is read from
the working folder; a preset that distils with no [distill] table, or one that names no ipc."""

from __future__ import annotations

from pathlib import Path

from tests.bad_inputs_files import PRESET

BESIDE = 'family = "convnet"\n[params]\ndepth = [1]\nwidth = [16]\n'


def build_probe49(root: Path) -> None:
    """Add probe49's inputs to the workspace ``root``."""
    folder = root / "presets" / "mine"
    folder.mkdir(parents=True)
    (folder / "one-space.toml").write_text(BESIDE)
    (folder / "space-beside.toml").write_text(PRESET.replace('space = "convnet-cpu"', 'space = "one-space.toml"', 1))
    (folder / "no-distill.toml").write_text(PRESET[PRESET.index("[search]") :].replace("[search]", 'name = "p"\n[search]', 1))
    (folder / "distill-no-ipc.toml").write_text(PRESET.replace("ipc = 1\n", "", 1))
