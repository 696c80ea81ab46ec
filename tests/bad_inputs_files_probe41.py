"""The bad input files of branch probe41's cases (``tests/bad_inputs.py``, ``PROBE41``), written into
the same workspace: two folders of Fashion-MNIST-format IDX files with the same shapes and classes but
other labels (as MNIST's files are to Fashion-MNIST's), and a set distilled from the first; a proxy
profile calibrated on a set of another dataset (cifar10), and config files naming the set ``syn``.
"""

from __future__ import annotations

from pathlib import Path

from nas_proxy.distill import DistillConfig, distill
from tests import fabricate
from tests.bad_inputs_files import PROFILE


def build_probe41(root: Path) -> None:
    """Add probe41's inputs to the workspace ``root``."""
    data = root / "data"
    for name, seeds in (("fm-a", (1, 2)), ("fm-b", (3, 4))):  # same sizes, classes and format; other labels
        train_y, test_y = (fabricate.shuffled_labels(list(range(10)), n, s) for n, s in zip((3, 1), seeds, strict=True))
        fabricate.idx_files(data / name, train_y, test_y, gz=False)
    config = DistillConfig(
        dataset="fashion-mnist",
        data_root=str(data / "fm-a"),
        ipc=1,
        iterations=1,
        batch_real=1,  # its classes hold 1 image each (a larger one is capped, with a warning since probe58)
        net_width=8,
        device="cpu",
        val_fraction=0.5,
    )
    distill(config, root / "art" / "fm-a", progress=False)
    other = '[calibration]\nsynthetic = "sets/cifar"\nsynthetic_sha256 = "%s"\ndataset = "cifar10"\n' % ("ab" * 32)
    (root / "profiles" / "other-dataset.toml").write_text(PROFILE + other)
    # fix41b: the set a command takes from its --config (as `correlate --study` takes its search's)
    (root / "configs" / "search-syn.toml").write_text('[search]\nsynthetic = "syn"\n')
    (root / "configs" / "correlate-syn.toml").write_text('[correlate]\nsynthetic = ["syn"]\n')
