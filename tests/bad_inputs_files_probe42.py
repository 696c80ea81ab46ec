"""The bad input files of branch probe42's cases (``tests/bad_inputs.py``, ``PROBE42``), written into the same
workspace: image folders in the train/test layout whose training classes are too small for the validation split
asked (1 image each, which no fraction can split; 4 each, which 0.1 does not)."""

from __future__ import annotations

from pathlib import Path

from tests import fabricate


def build_probe42(root: Path) -> None:
    """Add probe42's inputs to the workspace ``root``."""
    for name, per_class in (("img/train-one", 1), ("img/train-four", 4)):
        fabricate.image_folder(root / name / "train", ["cat", "dog"], per_class)
        fabricate.image_folder(root / name / "test", ["cat", "dog"], 1)
