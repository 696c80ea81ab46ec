"""The bad input files of branch probe43's cases (``tests/bad_inputs.py``, ``PROBE43``), written into the same
workspace: calibration/evaluation splits (``calibrate --split``) of ``ladders/table.csv``'s six architectures with a
mistyped role, and with no architecture to calibrate on; a preset and a config whose paths start with a shell's '~'."""

from __future__ import annotations

from pathlib import Path


def build_probe43(root: Path) -> None:
    """Add probe43's inputs to the workspace ``root``."""
    roles = {
        "ladders/split-role-typo.csv": ["calibration"] * 5 + ["evalution"],
        "ladders/split-all-evaluation.csv": ["evaluation"] * 6,
    }
    for name, each in roles.items():
        rows = "".join(f"a{i},{role}\n" for i, role in enumerate(each))
        (root / name).write_text(f"arch_id,role\n{rows}")
    good = (root / "presets/good.toml").read_text()
    (root / "presets/runs-tilde.toml").write_text(good.replace('name = "p"', 'name = "p"\nruns = "~/nasruns"', 1))
    (root / "configs/data-root-tilde.toml").write_text('[distill]\ndata_root = "~/data"\n')
