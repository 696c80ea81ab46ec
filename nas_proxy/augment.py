"""Differentiable siamese augmentation (DSA; Zhao & Bilen, ICML 2021).

Every call picks one operation at random and draws its parameters as *rows*; ``apply`` maps each
image to a row through ``index``. Distillation draws one row per class and applies it to the real
and the synthetic images of that class: identical parameters on both sides (the siamese property)
in one vectorised call. Training draws one row per image. All ops are differentiable in the pixels.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from nas_proxy.utils import derive_seed

OPS = ("color", "crop", "cutout", "flip", "scale", "rotate")


@dataclass(frozen=True)
class DSAConfig:
    """DSA strengths, as published (identical in DC/DSA/DM/DataDAM)."""

    brightness: float = 1.0  # add U(-0.5, 0.5) * brightness
    saturation: float = 2.0  # scale the deviation from the channel mean by U(0, 1) * saturation
    contrast: float = 0.5  # scale the deviation from the image mean by U(0, 1) + contrast
    crop_ratio: float = 0.125  # translate by up to this fraction of the side, zero fill
    cutout_ratio: float = 0.5  # zero a square of this fraction of the side
    scale: float = 1.2  # per-axis scale in [1/scale, scale]
    rotate_degrees: float = 15.0  # rotation in [-r, r]
    flip_p: float = 0.5  # horizontal flip probability; the op is left out for digit datasets


@dataclass(frozen=True)
class DSAParams:
    """One op and its parameters: ``values`` is (rows, k)."""

    op: str
    values: Tensor


class DSA:
    """The augmentation of one run. ``flip=False`` removes the flip op (digits are not symmetric)."""

    def __init__(self, flip: bool = True, config: DSAConfig | None = None) -> None:
        self.config = config or DSAConfig()
        self.ops = OPS if flip else tuple(o for o in OPS if o != "flip")

    def sample(self, rows: int, seed: int, device: torch.device | str = "cpu") -> DSAParams:
        """Draw an op (on the host: no device sync) and ``rows`` parameter rows (on ``device``)."""
        op = random.Random(seed).choice(self.ops)
        g = torch.Generator(device=device).manual_seed(derive_seed(seed, "dsa"))
        u = torch.rand(rows, 3, generator=g, device=device)  # (rows, 3) in [0, 1)
        c = self.config
        if op == "color":
            values = torch.stack([(u[:, 0] - 0.5) * c.brightness, u[:, 1] * c.saturation, u[:, 2] + c.contrast], 1)
        elif op == "crop":
            values = (u[:, :2] * 2 - 1) * c.crop_ratio  # shift as a fraction of the side, (rows, 2)
        elif op == "cutout":
            values = u[:, :2]  # centre as a fraction of the side, (rows, 2)
        elif op == "flip":
            values = (u[:, :1] < c.flip_p).float()
        elif op == "scale":
            values = u[:, :2] * (c.scale - 1 / c.scale) + 1 / c.scale
        else:  # rotate
            values = (u[:, :1] * 2 - 1) * math.radians(c.rotate_degrees)
        return DSAParams(op, values)

    def apply(self, x: Tensor, params: DSAParams, index: Tensor | None = None) -> Tensor:
        """Augment ``x`` (N, C, H, W); image i uses row ``index[i]`` (row i when index is None)."""
        v = params.values if index is None else params.values[index]  # (N, k)
        n, _, h, w = x.shape
        if params.op == "color":
            x = x + v[:, 0].view(n, 1, 1, 1)
            m = x.mean(1, keepdim=True)
            x = (x - m) * v[:, 1].view(n, 1, 1, 1) + m
            m = x.mean((1, 2, 3), keepdim=True)
            return (x - m) * v[:, 2].view(n, 1, 1, 1) + m
        if params.op == "flip":
            return torch.where(v.view(n, 1, 1, 1) > 0, x.flip(3), x)
        if params.op == "cutout":
            size_h, size_w = round(h * self.config.cutout_ratio), round(w * self.config.cutout_ratio)
            top = (v[:, 0] * h).floor().view(n, 1, 1) - size_h // 2  # (N, 1, 1)
            left = (v[:, 1] * w).floor().view(n, 1, 1) - size_w // 2
            ys = torch.arange(h, device=x.device).view(1, h, 1)
            xs = torch.arange(w, device=x.device).view(1, 1, w)
            inside = (ys >= top) & (ys < top + size_h) & (xs >= left) & (xs < left + size_w)  # (N, H, W)
            return x * (~inside).unsqueeze(1).to(x.dtype)
        theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
        if params.op == "crop":
            # whole-pixel shifts: sampling at shifted pixel centres copies pixels exactly
            theta[:, 0, 0] = theta[:, 1, 1] = 1
            theta[:, 0, 2] = (v[:, 0] * w).round() * 2 / w
            theta[:, 1, 2] = (v[:, 1] * h).round() * 2 / h
        elif params.op == "scale":
            theta[:, 0, 0], theta[:, 1, 1] = v[:, 0], v[:, 1]
        else:  # rotate
            cos, sin = torch.cos(v[:, 0]), torch.sin(v[:, 0])
            theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def __call__(self, x: Tensor, seed: int) -> Tensor:
        """Per-image random augmentation (training on a synthetic set)."""
        return self.apply(x, self.sample(x.shape[0], seed, x.device))
