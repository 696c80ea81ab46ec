"""The bad input files of branch probe50's cases (``tests/bad_inputs.py``, ``PROBE50``), written into the same
workspace: artifacts passed between commands as a stranger mixes them up; here a synthetic set that holds the images
of some of its dataset's classes only (a set cut down by hand, or one shard's classes taken for the whole set)."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file

from tests.bad_inputs_files import _variant


def build_probe50(root: Path) -> None:
    """Add probe50's inputs to the workspace ``root``."""
    tensors = load_file(str(root / "syn" / "synthetic.safetensors"))
    half = tensors["labels"] < 5  # classes 0-4 of digits' 10, one image each (ipc 1): meta.json unchanged but its count
    _variant(root, "some-classes", {"num_images": int(half.sum())}, {"images": tensors["images"][half], "labels": tensors["labels"][half]})
