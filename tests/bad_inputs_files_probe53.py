"""The bad input files of branch probe53's cases (``tests/bad_inputs.py``, ``PROBE53``), written into the same
workspace: a --config whose seed is 2**64, a number no seed of numpy or torch holds (TOML reads any integer)."""

from __future__ import annotations

from pathlib import Path


def build_probe53(root: Path) -> None:
    """Add probe53's inputs to the workspace ``root``."""
    folder = root / "configs" / "probe53"
    folder.mkdir(parents=True)
    (folder / "seed-2-64.toml").write_text("[distill]\nseed = 18446744073709551616\n")
