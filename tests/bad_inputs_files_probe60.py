"""The bad input files of branch probe60's cases (``tests/bad_inputs.py``, ``PROBE60``), written into the same workspace:
space files, presets, archs files and ground-truth tables that are links to endless devices (/dev/zero, /dev/urandom) or
to a file under /proc; space files whose parameter names or choices hold a terminal escape or a right-to-left override;
and archs files whose numbers are strings, floats or booleans, or whose family or choice holds such a character."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.bad_inputs_files import PRESET
from tests.bad_inputs_files_probe56 import SPACE

ENDLESS = {  # name in p60/ -> where the link leads: a device that never ends, or a file the kernel makes up as it is read
    "space-zero.toml": "/dev/zero",
    "space-urandom.toml": "/dev/urandom",
    "space-proc.toml": "/proc/self/status",
    "preset-urandom.toml": "/dev/urandom",
    "archs-zero.json": "/dev/zero",
    "archs-proc.json": "/proc/self/status",
    "truth-urandom.csv": "/dev/urandom",  # a ground-truth table
    "config-zero.toml": "/dev/zero",
}

SPACES = {  # TOML's \u escapes: what a stranger's file can hold that a terminal acts on
    "param-escape.toml": SPACE.replace("depth = [1]", '"dep\\u001b[2Jth" = [1]'),
    "param-rlo.toml": SPACE.replace("depth = [1]", '"dep\\u202eth" = [1]'),
    "choice-escape.toml": SPACE.replace('activation = "relu"', 'activation = ["relu", "re\\u001b]0;x\\u0007lu"]'),
    "choice-rlo.toml": SPACE.replace('activation = "relu"', 'activation = ["relu", "\\u202eulér"]'),
    "choice-cr.toml": SPACE.replace('activation = "relu"', 'activation = ["relu", "gelu\\rrelu"]'),
    "family-escape.toml": SPACE.replace('family = "convnet"', 'family = "conv\\u001b[2Jnet"'),
}

PRESETS = {
    "preset-name-escape.toml": PRESET.replace('name = "p"', 'name = "p\\u001b]0;pwned\\u0007"'),
    "preset-name-rlo.toml": PRESET.replace('name = "p"', 'name = "p\\u202etxt.exe"'),
    "preset-dataset-escape.toml": PRESET.replace('dataset = "digits"', 'dataset = "dig\\u001b[2Jits"'),
}


def _specs(root: Path) -> list[dict[str, object]]:
    return json.loads((root / "archs" / "good.json").read_text())


def build_probe60(root: Path) -> None:
    """Add probe60's inputs to the workspace ``root``."""
    folder = root / "p60"
    folder.mkdir()
    for name, target in ENDLESS.items():
        os.symlink(target, folder / name)
    for group in (SPACES, PRESETS):
        for name, text in group.items():
            (folder / name).write_text(text, encoding="utf-8")
    spec = _specs(root)[0]
    assert spec["width"] == 16 and spec["depth"] == 1, spec
    archs = {
        "archs-width-string.json": [{**spec, "width": "16"}],
        "archs-width-float.json": [{**spec, "width": 16.0}],
        "archs-depth-true.json": [{**spec, "depth": True}],
        "archs-family-escape.json": [{**spec, "family": "conv\x1b[2Jnet"}],
        "archs-activation-rlo.json": [{**spec, "activation": "\u202erelu"}],
    }
    for name, value in archs.items():
        (folder / name).write_text(json.dumps(value))
