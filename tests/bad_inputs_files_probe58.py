"""The bad input files of branch probe58's cases (``tests/bad_inputs.py``, ``PROBE58``), written into the same workspace:
ground-truth tables as spreadsheets and other tools write them (CRLF line ends, a header repeated in the middle, an
architecture twice with two scores, scores of 101 % and -1, NaN and infinity), --config files, presets and space files
with TOML's own nan and inf, an image folder with an empty image file, and a FIFO where a data folder is asked."""

from __future__ import annotations

import os
from pathlib import Path

from tests.bad_inputs_files import PRESET
from tests.bad_inputs_files_probe56 import SPACE

CONFIGS = {  # --config files of distill and evaluate: TOML reads nan and inf as floats
    "lr-nan.toml": "[distill]\nimage_lr = nan\n",
    "lambda-inf.toml": "[distill]\nlambda_mmd = -inf\n",
    "eval-lr-inf.toml": "[evaluate.train]\nlr = +inf\n",
}

PRESETS = {
    "preset-lr-nan.toml": PRESET.replace("ipc = 1", "ipc = 1\nimage_lr = nan"),
    "preset-timeout-inf.toml": PRESET.replace("n_trials = 1", "n_trials = 1\ntimeout = inf"),
}

SPACES = {
    "width-nan.toml": SPACE.replace("width = [", "width = [nan, "),
    "width-inf.toml": SPACE.replace("width = [", "width = [inf, "),
}


def _csv(root: Path, rows: list[str]) -> str:
    """The header and ``rows`` (data lines) of a ground-truth table, from the workspace's archs/table-underscore.csv."""
    header, *lines = (root / "archs" / "table-underscore.csv").read_text().splitlines()
    lines = [line.rsplit(",", 1)[0] + ",6" + str(k) for k, line in enumerate(lines)]  # its 6_0 made plain
    return "\n".join([header, *(rows or lines)]) + "\n"


def build_probe58(root: Path) -> None:
    """Add probe58's inputs to the workspace ``root``."""
    folder = root / "p58"
    folder.mkdir()
    for group in (CONFIGS, PRESETS, SPACES):
        for name, text in group.items():
            (folder / name).write_text(text, encoding="utf-8")
    header, *lines = _csv(root, []).splitlines()
    tables = {
        "truth-crlf.csv": "\r\n".join([header, *lines]) + "\r\n",  # as Excel writes a CSV: taken
        "truth-header-twice.csv": "\n".join([header, *lines[:4], header, *lines[4:]]) + "\n",
        "truth-dup-rows.csv": "\n".join([header, *lines, lines[0].rsplit(",", 1)[0] + ",99"]) + "\n",
        "truth-101.csv": "\n".join([header, lines[0].rsplit(",", 1)[0] + ",101", *lines[1:]]) + "\n",
        "truth-minus-1.csv": "\n".join([header, lines[0].rsplit(",", 1)[0] + ",-1", *lines[1:]]) + "\n",
        "truth-nan.csv": "\n".join([header, lines[0].rsplit(",", 1)[0] + ",nan", *lines[1:]]) + "\n",
        "truth-inf.csv": "\n".join([header, lines[0].rsplit(",", 1)[0] + ",inf", *lines[1:]]) + "\n",
    }
    for name, text in tables.items():
        (folder / name).write_bytes(text.encode())
    os.mkfifo(folder / "data-fifo")  # --data-root on a FIFO: never opened
    # an image folder of two classes whose one image is an empty file
    from tests.bad_inputs_files_probe57 import _png

    for k, cls in enumerate(("cat", "dog")):
        (folder / "img-empty" / cls).mkdir(parents=True)
        for i in range(3):
            _png(folder / "img-empty" / cls / f"{i}.png", k)
    (folder / "img-empty" / "dog" / "1.png").write_bytes(b"")
