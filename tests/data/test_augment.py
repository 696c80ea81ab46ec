"""Differentiable siamese augmentation: seeded sampling, identical transforms for images that share
a row (real and synthetic images of one class), gradients through every op, exact crops and cutouts."""

from __future__ import annotations

import math

import pytest
import torch

from nas_proxy.augment import DSA, OPS, DSAConfig, DSAParams
from tests.close import assert_close

PARAM_COLUMNS = {"color": 3, "crop": 2, "cutout": 2, "flip": 1, "scale": 2, "rotate": 1}


def params_for(dsa: DSA, op: str, rows: int, start: int = 0) -> DSAParams:
    """The first ``sample`` from seed ``start`` on that draws ``op``."""
    for seed in range(start, start + 500):
        params = dsa.sample(rows, seed)
        if params.op == op:
            return params
    raise AssertionError(f"no seed in [{start}, {start + 500}) draws {op}")


def images(n: int, channels: int = 3, side: int = 16, seed: int = 0) -> torch.Tensor:
    """(n, channels, side, side) values in [0.5, 1.5): no pixel is zero, so a zeroed one shows."""
    return torch.rand(n, channels, side, side, generator=torch.Generator().manual_seed(seed)) + 0.5


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """out[i, j] = x[i + dy, j + dx], zero where that falls outside: torch.roll with zero fill."""
    out = torch.roll(x, shifts=(-dy, -dx), dims=(-2, -1))
    h, w = x.shape[-2:]
    rows, cols = torch.arange(h).view(h, 1) + dy, torch.arange(w).view(1, w) + dx
    return out * ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w))


def test_ops_table_is_complete() -> None:
    assert set(OPS) == set(PARAM_COLUMNS)


@pytest.mark.parametrize("op", OPS)
def test_sample_shapes_and_ranges(op: str) -> None:
    c = DSAConfig()
    v = params_for(DSA(), op, rows=64).values
    assert v.shape == (64, PARAM_COLUMNS[op]) and v.dtype == torch.float32
    if op == "color":
        assert v[:, 0].abs().max() <= 0.5 * c.brightness and v[:, 1].min() >= 0 and v[:, 1].max() <= c.saturation
        assert v[:, 2].min() >= c.contrast and v[:, 2].max() <= 1 + c.contrast
    elif op == "crop":
        assert v.abs().max() <= c.crop_ratio
    elif op == "cutout":
        assert v.min() >= 0 and v.max() < 1
    elif op == "flip":
        assert set(v.flatten().tolist()) == {0.0, 1.0}
    elif op == "scale":
        assert v.min() >= 1 / c.scale and v.max() <= c.scale
    else:
        assert v.abs().max() <= math.radians(c.rotate_degrees)


def test_same_seed_same_params_other_seed_other_params() -> None:
    dsa = DSA()
    for seed in range(12):
        a, b, c = dsa.sample(5, seed), dsa.sample(5, seed), dsa.sample(5, seed + 1000)
        assert a.op == b.op and a.values.equal(b.values)
        assert a.op != c.op or not a.values.equal(c.values)
    assert len({dsa.sample(5, seed).op for seed in range(60)}) == len(OPS)  # every op gets drawn


@pytest.mark.parametrize("op", OPS)
def test_siamese_same_row_same_transform(op: str) -> None:
    dsa = DSA()
    params = params_for(dsa, op, rows=4)
    x = images(4)
    assert dsa.apply(x, params).equal(dsa.apply(x.clone(), params))


@pytest.mark.parametrize("op", OPS)
def test_siamese_real_and_synthetic_images_of_a_class_share_a_transform(op: str) -> None:
    """One row per class; ``index`` = labels. A synthetic image equal to a real image of its class
    comes out equal; the same image under another class's row comes out different."""
    dsa = DSA()
    real_y = torch.tensor([0, 2, 1, 0, 2, 1])
    syn_y = torch.tensor([0, 0, 1, 1, 2, 2])
    real = images(6)
    first_of_class = [int((real_y == k).nonzero()[0]) for k in syn_y.tolist()]
    syn = real[first_of_class].clone()  # syn[j] is a copy of a real image of class syn_y[j]

    params = params_for(dsa, op, rows=3)
    if op == "flip":  # need rows that differ to tell classes apart
        seed = 0
        while params.values.unique().numel() < 2:
            seed += 1
            params = params_for(dsa, op, rows=3, start=seed)
    out_real, out_syn = dsa.apply(real, params, real_y), dsa.apply(syn, params, syn_y)
    assert out_syn.equal(out_real[first_of_class])

    same_image = real[:1].expand(3, -1, -1, -1)  # one image under the rows of classes 0, 1, 2
    out = dsa.apply(same_image, params, torch.arange(3))
    assert not (out[0].equal(out[1]) and out[1].equal(out[2]))


@pytest.mark.parametrize("op", OPS)
def test_every_op_is_differentiable_in_the_pixels(op: str) -> None:
    dsa = DSA()
    params = params_for(dsa, op, rows=4)
    x = images(4).requires_grad_()
    weights = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    (dsa.apply(x, params) * weights).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert (x.grad.flatten(1).abs().sum(1) > 0).all()  # reaches every image


def test_flip_is_left_out_when_asked() -> None:
    assert "flip" not in DSA(flip=False).ops and "flip" in DSA().ops
    assert all(DSA(flip=False).sample(2, seed).op != "flip" for seed in range(300))
    assert any(DSA().sample(2, seed).op == "flip" for seed in range(300))


def test_flip_mirrors_exactly_the_flagged_images() -> None:
    x = images(2)
    out = DSA().apply(x, DSAParams("flip", torch.tensor([[1.0], [0.0]])))
    assert out[0].equal(x[0].flip(-1)) and out[1].equal(x[1])


def test_crop_shifts_by_whole_pixels_with_zero_fill() -> None:
    dsa = DSA()
    params = params_for(dsa, "crop", rows=32)
    x = images(32)
    out = dsa.apply(x, params)
    shifts = (params.values * 16).round().int()  # (rows, 2): (x, y) shift in pixels
    assert (shifts[:, 0] != 0).any() and (shifts[:, 1] != 0).any()
    for i, (dx, dy) in enumerate(shifts.tolist()):
        assert_close(out[i], shifted(x[i], dy, dx), atol=1e-5, rtol=0)


@pytest.mark.parametrize("ratio", [0.5, 0.25])
def test_cutout_zeroes_a_square_of_the_configured_size(ratio: float) -> None:
    dsa = DSA(config=DSAConfig(cutout_ratio=ratio))
    side, size = 16, round(16 * ratio)
    params = params_for(dsa, "cutout", rows=32)
    x = images(32)
    out = dsa.apply(x, params)
    whole = 0
    for i, (cy, cx) in enumerate((params.values * side).floor().int().tolist()):
        top, left = cy - size // 2, cx - size // 2
        expected = torch.zeros(side, side, dtype=torch.bool)
        expected[max(top, 0) : top + size, max(left, 0) : left + size] = True
        zeroed = (out[i] == 0).all(0)  # (H, W), every channel
        assert zeroed.equal(expected), f"image {i}: centre ({cy}, {cx})"
        assert out[i][:, ~expected].equal(x[i][:, ~expected])  # the rest is untouched
        whole += int(expected.sum() == size * size)
    assert whole > 0  # some squares lie wholly inside: their size is exactly size x size


def test_color_params_do_what_they_say() -> None:
    dsa, x = DSA(), images(1)
    brighter = dsa.apply(x, DSAParams("color", torch.tensor([[0.2, 1.0, 1.0]])))
    assert_close(brighter, x + 0.2)
    grey = dsa.apply(x, DSAParams("color", torch.tensor([[0.0, 0.0, 1.0]])))  # no saturation
    assert_close(grey, x.mean(1, keepdim=True).expand_as(x))
    flat = dsa.apply(x, DSAParams("color", torch.tensor([[0.0, 1.0, 0.0]])))  # no contrast
    assert_close(flat, x.mean().expand_as(x))


def test_identity_geometry_and_quarter_turn() -> None:
    dsa, x = DSA(), images(1)
    assert_close(dsa.apply(x, DSAParams("scale", torch.tensor([[1.0, 1.0]]))), x)
    assert_close(dsa.apply(x, DSAParams("rotate", torch.tensor([[0.0]]))), x)
    quarter = dsa.apply(x, DSAParams("rotate", torch.tensor([[math.pi / 2]])))
    assert_close(quarter, torch.rot90(x, 1, (2, 3)), atol=1e-5, rtol=0)
    zoomed_out = dsa.apply(x, DSAParams("scale", torch.tensor([[2.0, 2.0]])))  # content shrinks: zero border
    assert zoomed_out[..., 0].abs().max() < 0.5 * x[..., 0].abs().min()


def test_call_draws_one_row_per_image() -> None:
    dsa, x = DSA(), images(5)
    params = dsa.sample(5, seed=3)
    assert dsa(x, seed=3).equal(dsa.apply(x, params))
