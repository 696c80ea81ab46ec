"""fix62b: a training-free proxy's description says the training images its scores saw. Before, it said
``zero_cost_batch`` (64, the zero-cost papers' batch) while a training split of fewer images was taken whole (the rule of
every batch: a default capped quietly, the number used recorded); correlate's report printed that description."""

from __future__ import annotations

from pathlib import Path

from nas_proxy.data import load_dataset
from nas_proxy.protocols import DataRef
from nas_proxy.proxies.base import RunSetup
from nas_proxy.proxies.training_free import ZeroCostProxy
from nas_proxy.spaces import get_space
from tests.fabricate import image_folder


def test_a_training_free_description_says_the_images_its_scores_saw(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "pets", ["cat", "dog", "emu"], 10)
    data = DataRef(f"imagefolder:{folder}")
    n = load_dataset(data.dataset, image_size=data.image_size).split(data.split_seed, data.val_fraction).train_y.numel()
    setup = RunSetup(space=get_space("convnet-small"), data=data, out=tmp_path)
    assert n < setup.zero_cost_batch
    assert f"on {n} training images" in ZeroCostProxy(setup, "synflow").describe()
    digits = RunSetup(space=get_space("convnet-small"), data=DataRef("digits"), out=tmp_path)
    assert f"on {digits.zero_cost_batch} training images" in ZeroCostProxy(digits, "synflow").describe()  # 1,078 hold 64
