"""The bad input files of branch fix42a's cases (``tests/bad_inputs.py``, ``FIX42A``), written into the
same workspace: proxy profiles calibrated on another search space (by name, and by a space file edited
since under its old name), one with a malformed space digest, and copies of ``syn`` whose meta.json
holds informational counts and times out of range."""

from __future__ import annotations

import json
from pathlib import Path

from nas_proxy.spaces import get_space
from tests.bad_inputs_files import PROFILE, _variant

SHIPPED = Path(__file__).resolve().parents[1] / "search_spaces" / "convnet-cpu.toml"


def build_fix42a(root: Path) -> None:
    """Add fix42a's inputs to the workspace ``root``."""
    nb201 = get_space("nb201").definition_sha256()
    profiles = root / "profiles"
    (profiles / "other-space.toml").write_text(PROFILE + f'[calibration]\nspace = "nb201"\nspace_sha256 = "{nb201}"\n')
    # calibrated on spaces/edited-42.toml when it held convnet-cpu's choices; the file was edited since
    (root / "spaces" / "edited-42.toml").write_text(SHIPPED.read_text().replace("[16, 32, 64]", "[16, 24, 64]", 1))
    was = get_space("convnet-cpu").definition_sha256()
    (profiles / "edited-space.toml").write_text(PROFILE + f'[calibration]\nspace = "spaces/edited-42.toml"\nspace_sha256 = "{was}"\n')
    (profiles / "space-sha.toml").write_text(PROFILE + '[calibration]\nspace = "convnet-cpu"\nspace_sha256 = "convnet-cpu"\n')
    meta = json.loads((root / "syn" / "meta.json").read_text())
    _variant(root, "seconds-huge", {"seconds": 1e300})  # before: a search's cost column added 1e300 s
    _variant(root, "train-size-negative", {"dataset": {**meta["dataset"], "train_size": -5}})
    _variant(root, "val-size-text", {"split": {**meta["split"], "val_size": "a tenth"}})
