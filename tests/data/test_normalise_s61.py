"""A dataset's splits are normalised in place (stop 61): the tensors the loader made are the ones returned, and their
values are ``(x - mean) / std`` bit for bit. Before, that formula made two copies of each split, the peak of a load
(Fashion-MNIST: 638 -> 279 MiB of peak RSS growth, benchmarks/load_memory.py, RESULTS.md §28)."""

from __future__ import annotations

import numpy as np
import torch

from nas_proxy.data import base, registry


def test_normalise_is_in_place_and_bit_identical_to_the_formula() -> None:
    x = torch.rand(6, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    mean, std = (0.49, 0.48, 0.45), (0.247, 0.243, 0.261)
    expected = (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    out = base.normalise_(x, mean, std)
    assert out.data_ptr() == x.data_ptr()
    assert torch.equal(out, expected)


def test_a_loaded_split_is_the_pixels_normalised() -> None:
    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (20, 4, 4, 3), dtype=np.uint8), np.arange(20) % 2)
    test = (rng.integers(0, 256, (6, 4, 4, 3), dtype=np.uint8), np.arange(6) % 2)
    stats = ((0.5, 0.4, 0.3), (0.2, 0.25, 0.3))
    ds = registry._from_arrays("made", train, test, ["a", "b"], stats, False, "made")
    pixels = torch.from_numpy(train[0]).permute(0, 3, 1, 2).float() / 255.0
    expected = (pixels - torch.tensor(stats[0]).view(1, -1, 1, 1)) / torch.tensor(stats[1]).view(1, -1, 1, 1)
    assert torch.equal(ds.train_x, expected)
