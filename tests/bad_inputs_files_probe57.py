"""The bad input files of branch probe57's cases (``tests/bad_inputs.py``, ``PROBE57``), written into the same workspace:
--config files and presets of numbers as strings, booleans as 0/1, keys differing only by case or a trailing blank, and
floats that round to 0; search spaces that name themselves as a registered space or name a module; an image folder to
write into; and links that give a path a second name (an --out that is the data, a --select-by that is --out's own
file, a ground-truth table that is calibrate's --out)."""

from __future__ import annotations

import os
from pathlib import Path

from tests import fabricate
from tests.bad_inputs_files import PRESET
from tests.bad_inputs_files_probe56 import SPACE

CONFIGS = {  # --config files of distill (its [distill] table)
    "ipc-string.toml": '[distill]\nipc = "5"\n',
    "amp-int.toml": "[distill]\namp = 1\n",
    "ipc-upper.toml": "[distill]\nIPC = 1\n",
    "ipc-blank-key.toml": '[distill]\n"ipc " = 1\n',
    "table-upper.toml": "[Distill]\nipc = 1\n",
    "lambda-tiny.toml": "[distill]\nlambda_mmd = 1e-400\n",  # TOML reads it as 0.0
    "lr-tiny.toml": "[distill]\nimage_lr = 1e-400\n",
    "ipc-twice-case.toml": "[distill]\nipc = 1\nIpc = 2\n",
}

PRESETS = {  # presets of `run`
    "trials-string.toml": PRESET.replace("n_trials = 1", 'n_trials = "1"'),
    "trials-bool.toml": PRESET.replace("n_trials = 1", "n_trials = true"),
    "trials-upper.toml": PRESET.replace("n_trials = 1", "N_TRIALS = 1"),
    "search-upper.toml": PRESET.replace("[search]\n", "[Search]\n").replace("[search.proxy]", "[Search.proxy]"),
    "preset-lambda-tiny.toml": PRESET.replace("ipc = 1", "ipc = 1\nlambda_mmd = 1e-400"),
}

SPACES = {
    # a file whose space calls itself by a registered space's name, with other architectures
    "named.toml": 'name = "convnet-cpu"\n' + SPACE,
    "named-upper.toml": 'name = "ConvNet-CPU"\n' + SPACE,
    "family-module.toml": SPACE.replace('family = "convnet"', 'family = "os:system"'),
    "family-import.toml": SPACE.replace('family = "convnet"', "family = \"__import__('os')\""),
    "import-key.toml": 'import = "os"\n' + SPACE,
}


def build_probe57(root: Path) -> None:
    """Add probe57's inputs to the workspace ``root``."""
    folder = root / "p57"
    folder.mkdir()
    for group in (CONFIGS, PRESETS, SPACES):
        for name, text in group.items():
            (folder / name).write_text(text, encoding="utf-8")
    # an image folder of two classes, and the same folder by a second name
    for k, cls in enumerate(("cat", "dog")):
        (folder / "img" / cls).mkdir(parents=True)
        for i in range(3):
            _png(folder / "img" / cls / f"{i}.png", k)
    os.symlink("img", folder / "img-link")
    os.symlink("../syn", folder / "syn-link")  # the synthetic set syn by another name
    os.symlink("../archs/truth-8.json", folder / "truth-link.json")  # a ground-truth file by another name
    os.symlink("../ladders/scores.csv", folder / "scores-link.csv")
    # a ground truth whose first accuracy is written 6e-400: JSON reads it as 0.0
    truth = (root / "archs" / "truth-8.json").read_text()
    (folder / "truth-tiny.json").write_text(truth.replace('"accuracy": 60.0', '"accuracy": 6e-400', 1))


def _png(path: Path, k: int) -> None:
    from PIL import Image

    Image.fromarray(fabricate.pattern(k, 8, 3)).save(path)
