"""A dataset's images are laid out (N, C, H, W) in memory, as their shape says: before stop 60 they were a permuted view
of the files' (N, H, W, C), which torch reads as channels-last (for one channel too: strides (H*W, 1, W, 1)), and on a
CPU GroupNorm, the ConvNets' instancenorm, ran 6-12x slower on it (perf60a; a 3-epoch digits training 1.20 -> 0.85
CPU-s). The pixels are the same."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas_proxy.data import load_dataset
from nas_proxy.data.registry import _from_arrays


def _standard(x: torch.Tensor) -> bool:
    """Strides of a C-ordered (N, C, H, W) tensor, size-1 dimensions included (is_contiguous ignores those)."""
    _, c, h, w = x.shape
    return x.stride() == (c * h * w, h * w, w, 1) and not (c > 1 and x.is_contiguous(memory_format=torch.channels_last))


@pytest.mark.parametrize("channels", [1, 3])
def test_images_are_laid_out_as_their_shape_and_keep_their_pixels(channels: int) -> None:
    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (20, 6, 5, channels), dtype=np.uint8), np.arange(20) % 2)
    test = (rng.integers(0, 256, (4, 6, 5, channels), dtype=np.uint8), np.arange(4) % 2)
    ds = _from_arrays("fabricated", train, test, ["a", "b"], ((0.0,) * channels, (1.0,) * channels), False, "here")
    for x, (raw, _) in ((ds.train_x, train), (ds.test_x, test)):
        assert _standard(x), x.stride()
        assert torch.equal(x, torch.from_numpy(raw).permute(0, 3, 1, 2).float() / 255.0)


def test_digits_are_laid_out_as_their_shape() -> None:
    ds = load_dataset("digits")
    assert _standard(ds.train_x) and _standard(ds.test_x), (ds.train_x.stride(), ds.test_x.stride())
