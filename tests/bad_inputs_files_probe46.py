"""The bad input files of branch probe46's cases (``tests/bad_inputs.py``, ``PROBE46``), written into the same
workspace: image folders split into train/ and test/ where one class folder of either holds no image, and a config
and a preset whose strings hold a control character or name a dataset with a ':' it does not take."""

from __future__ import annotations

from pathlib import Path

from tests import fabricate


def build_probe46(root: Path) -> None:
    """Add probe46's inputs to the workspace ``root``."""
    img = root / "img"
    for part, empty in (("test", "empty-test-class"), ("train", "empty-train-class")):
        for side in ("train", "test"):
            fabricate.image_folder(img / empty / side, ["cat", "dog"], 2)
        for image in (img / empty / part / "dog").iterdir():
            image.unlink()
    good = (root / "presets/good.toml").read_text()
    (root / "presets/runs-newline.toml").write_text(good.replace('name = "p"', 'name = "p"\nruns = "r\\nx"', 1))
    configs = root / "configs"
    for name, text in {
        "dataset-arg.toml": '[distill]\ndataset = "digits:foo"\n',
        "data-root-newline.toml": '[distill]\ndataset = "fashion-mnist"\ndata_root = "data\\n"\n',
        "worker-synthetic-tab.toml": '[worker]\nsynthetic = "s\\tyn"\n',
    }.items():
        (configs / name).write_text(text)
