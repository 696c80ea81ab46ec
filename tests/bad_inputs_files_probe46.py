"""The bad input files of branch probe46's cases (``tests/bad_inputs.py``, ``PROBE46``), written into the same
workspace: image folders split into train/ and test/ where one class folder of either holds no image, and a config
and a preset whose strings hold a control character or name a dataset with a ':' it does not take, MNIST files
that cannot be one dataset's, and synthetic sets whose soft labels are float64 or float16 (the hash made to match)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests import fabricate


def build_probe46(root: Path) -> None:
    """Add probe46's inputs to the workspace ``root``."""
    img = root / "img"
    for part, empty in (("test", "empty-test-class"), ("train", "empty-train-class")):
        for side in ("train", "test"):
            fabricate.image_folder(img / empty / side, ["cat", "dog"], 2)
        for image in (img / empty / part / "dog").iterdir():
            image.unlink()
    _idx_folders(root / "data")
    good = (root / "presets/good.toml").read_text()
    (root / "presets/runs-newline.toml").write_text(good.replace('name = "p"', 'name = "p"\nruns = "r\\nx"', 1))
    configs = root / "configs"
    for name, text in {
        "dataset-arg.toml": '[distill]\ndataset = "digits:foo"\n',
        "data-root-newline.toml": '[distill]\ndataset = "fashion-mnist"\ndata_root = "data\\n"\n',
        "worker-synthetic-tab.toml": '[worker]\nsynthetic = "s\\tyn"\n',
    }.items():
        (configs / name).write_text(text)
    _soft_dtypes(root)


def _soft_dtypes(root: Path) -> None:
    """Copies of ``syn`` with soft labels stored as float64 and float16 (uniform rows: every other check passes)."""
    import torch
    from safetensors.torch import load_file

    from tests.bad_inputs_files import _variant

    tensors = load_file(str(root / "syn" / "synthetic.safetensors"))
    for dtype in (torch.float64, torch.float16):
        soft = torch.full((len(tensors["labels"]), 10), 0.1, dtype=dtype)
        _variant(root, f"soft-{str(dtype).removeprefix('torch.')}", {"soft_labels": {}}, {**tensors, "soft_labels": soft})


def _idx_folders(data: Path) -> None:
    """MNIST's four IDX files, whole, that cannot be one dataset's: test images of another size than the training
    images, a test file of no image, and training labels that leave class 9 out."""
    y = np.arange(200, dtype=np.int64) % 10  # 20 a class: the default val_fraction holds 2 out
    fabricate.idx_files(data / "idx-test-size", y, y[:20], gz=False)
    (data / "idx-test-size" / "t10k-images-idx3-ubyte").write_bytes(fabricate.idx_bytes(fabricate.images(y[:20], 20, 1)[..., 0]))
    fabricate.idx_files(data / "idx-no-test", y, y[:20], gz=False)
    for kind, shape in (("images-idx3", (0, 28, 28)), ("labels-idx1", (0,))):
        fabricate.write_idx(data / "idx-no-test" / f"t10k-{kind}-ubyte", np.zeros(shape, dtype=np.uint8))
    fabricate.idx_files(data / "idx-no-nine", y % 9, y[:20], gz=False)
