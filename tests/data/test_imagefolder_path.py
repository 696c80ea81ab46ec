"""A newcomer's own images end to end (docs/your-images.md): a fabricated image folder, with and
without train/ + test/, through ``distill -> search -> train`` on the command line, then the trained
model loaded and run on the PNG files themselves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import nas_proxy as nx
from nas_proxy.cli import main
from nas_proxy.training import accuracy

CLASSES = ("circle", "cross", "stripes")  # sorted: their indices are 0, 1, 2
SIZE = 16  # pixels of the PNG files written
IMAGE_SIZE = 8  # --image-size: what the pipeline resizes them to


def draw(label: int, rng: np.random.Generator) -> np.ndarray:
    """(SIZE, SIZE, 3) uint8: a class-coloured image with noise, different on every call."""
    img = rng.integers(0, 60, size=(SIZE, SIZE, 3), dtype=np.uint8)
    img[..., label] += 150  # the class is the dominant colour
    return img


def write_folder(root: Path, per_class: int, seed: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for k, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(draw(k, rng)).save(root / name / f"{i}.png")


def read_png(path: Path, spec: dict[str, object]) -> torch.Tensor:
    """One PNG file as the model takes it: resized as the loader does, normalised with spec.json's numbers."""
    from PIL import Image

    from nas_proxy.data.images import _resize_crop

    with Image.open(path) as im:
        pixels = np.asarray(_resize_crop(im, IMAGE_SIZE).convert("RGB"), dtype=np.float32) / 255.0  # (H, W, C)
    norm = spec["normalisation"]
    assert isinstance(norm, dict)
    mean, std = torch.tensor(norm["mean"]).view(-1, 1, 1), torch.tensor(norm["std"]).view(-1, 1, 1)
    return (torch.from_numpy(pixels).permute(2, 0, 1) - mean) / std


@pytest.mark.parametrize("layout", ["flat", "split"])
def test_your_images_distill_search_train_load(layout: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "my-images"
    if layout == "flat":
        write_folder(folder, 10, seed=0)  # no split: a fixed stratified 20 % of each class is the test set
    else:
        write_folder(folder / "train", 8, seed=0)
        write_folder(folder / "test", 3, seed=1)
    monkeypatch.chdir(tmp_path)  # studies/ goes in the working directory
    quick = ["--device", "cpu", "--quiet"]
    dataset = f"imagefolder:{folder}"
    distill = ["distill", "--dataset", dataset, "--image-size", str(IMAGE_SIZE), "--ipc", "2", "--iterations", "2"]
    assert main([*distill, "--batch-real", "4", "--out", "runs/syn", *quick]) == 0
    search = ["search", "--synthetic", "runs/syn", "--space", "convnet-small", "--study", "mine", "--n-trials", "2"]
    assert main([*search, "--epochs", "2", "--report-every", "1", "--pruner", "none", *quick]) == 0
    assert main(["train", "studies/mine", "--out", "runs/model", "--epochs", "3", "--device", "cpu"]) == 0

    spec = json.loads(Path("runs/model/spec.json").read_text())
    data = nx.load_dataset(dataset, image_size=IMAGE_SIZE)
    assert spec["dataset"] == dataset and spec["class_names"] == list(CLASSES) and spec["input_shape"] == [3, IMAGE_SIZE, IMAGE_SIZE]
    if layout == "flat":  # 10 per class: 2 held out as the test set, the other 8 all trained on (validation included)
        assert (spec["train_images"], spec["test_images"]) == (24, 6) and spec["test_split"] == "stratified 20%, seed 0"
    else:
        assert (spec["train_images"], spec["test_images"]) == (24, 9) and spec["test_split"] == "train/ and test/ folders"

    model = nx.load_trained("runs/model")
    assert 100.0 * accuracy(model, data.test_x, data.test_y, amp=False) == pytest.approx(spec["test_accuracy"], abs=1e-9)
    # the model on the user's own files, prepared with nothing but spec.json
    files = sorted((folder / "train" if layout == "split" else folder).glob("*/*.png"))
    batch = torch.stack([read_png(p, spec) for p in files])
    with torch.no_grad():
        logits = model(batch)
    assert logits.shape == (len(files), len(CLASSES)) and torch.isfinite(logits).all()
    # the preparation spec.json describes is the loader's: the file read that way is one of its tensors
    first = read_png(files[0], spec)
    assert any(torch.allclose(first, x, atol=1e-5) for x in torch.cat([data.train_x, data.test_x]))
