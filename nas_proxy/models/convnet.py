"""The ConvNet family of dataset distillation (DC, DSA, DM, DataDAM) and its 720-architecture space.

A ConvNet is ``depth`` blocks of [3x3 conv(width) -> norm -> activation -> pool] and one linear
head. ``forward_features`` returns each block's feature map (post-activation, pre-pooling, as
attention matching needs) and the flattened embedding, without forward hooks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from itertools import product
from typing import Any

import torch
from torch import Tensor, nn

from nas_proxy import checks
from nas_proxy.errors import InvalidArgumentError

DEPTHS = (1, 2, 3, 4)
WIDTHS = (32, 64, 128, 256)
ACTIVATIONS = ("sigmoid", "relu", "leakyrelu")
NORMALIZATIONS = ("none", "batchnorm", "layernorm", "instancenorm", "groupnorm")
POOLINGS = ("none", "maxpooling", "avgpooling")
# The 720 space (REFERENCE §3): 4 depths x 4 widths x 3 activations x 5 norms x 3 poolings.
SPACE_720: dict[str, tuple[int, ...] | tuple[str, ...]] = {
    "depth": DEPTHS,
    "width": WIDTHS,
    "activation": ACTIVATIONS,
    "normalization": NORMALIZATIONS,
    "pooling": POOLINGS,
}


@dataclass(frozen=True)
class ConvNetSpec:
    """One ConvNet architecture. The default is the field's evaluation network (ConvNet-3)."""

    depth: int = 3  # conv blocks
    width: int = 128  # channels of every conv
    activation: str = "relu"
    normalization: str = "instancenorm"  # instancenorm = GroupNorm(C, C), as in the DC code
    pooling: str = "avgpooling"  # 2x2, stride 2, after every block

    def __post_init__(self) -> None:
        if not isinstance(self.depth, int) or self.depth < 1:
            raise InvalidArgumentError(f"ConvNet depth must be an integer >= 1, got {self.depth!r}")
        if not isinstance(self.width, int) or self.width < 1:
            raise InvalidArgumentError(f"ConvNet width must be an integer >= 1, got {self.width!r}")
        for key, allowed in (("activation", ACTIVATIONS), ("normalization", NORMALIZATIONS), ("pooling", POOLINGS)):
            if getattr(self, key) not in allowed:
                raise InvalidArgumentError(f"ConvNet {key} must be one of {', '.join(allowed)}; got {getattr(self, key)!r}")
        if self.normalization == "groupnorm" and self.width % 4:
            raise InvalidArgumentError(f"groupnorm uses 4 groups, so width must be a multiple of 4; got {self.width}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConvNetSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known - {"family"}
        if unknown:
            raise InvalidArgumentError(f"unknown ConvNet spec key(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def parse(cls, text: str) -> ConvNetSpec:
        """``"depth=4,width=64,normalization=batchnorm"``; omitted keys keep the defaults (``""``:
        ConvNet-3). No empty part and no key twice (``checks.items``); numbers are plain ASCII digits."""
        d: dict[str, Any] = {}
        for part in checks.items("model spec", text) if text.strip() else []:  # "": every key its default
            key, sep, value = (p.strip() for p in part.partition("="))
            if not sep:
                raise InvalidArgumentError(f"model spec parts are key=value, got {part!r} in {text!r}")
            if key in d:
                raise InvalidArgumentError(f"model spec names {key} twice in {text!r}; give each key once")
            d[key] = int(value) if value.isascii() and value.isdigit() else value
        return cls.from_dict(d)

    def __str__(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.to_dict().items())


def space_720() -> Iterator[ConvNetSpec]:
    """All 720 architectures of the DC/DataDAM search space."""
    for depth, width, activation, normalization, pooling in product(DEPTHS, WIDTHS, ACTIVATIONS, NORMALIZATIONS, POOLINGS):
        yield ConvNetSpec(depth, width, activation, normalization, pooling)


def _activation(name: str) -> nn.Module:
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "leakyrelu":
        return nn.LeakyReLU(0.01, inplace=True)
    return nn.ReLU(inplace=True)


def _norm(name: str, channels: int, hw: tuple[int, int]) -> nn.Module:
    if name == "batchnorm":
        return nn.BatchNorm2d(channels)
    if name == "layernorm":
        return nn.LayerNorm([channels, *hw])  # over (C, H, W), as in the DC code
    if name == "instancenorm":
        return nn.GroupNorm(channels, channels, affine=True)
    if name == "groupnorm":
        return nn.GroupNorm(4, channels, affine=True)
    return nn.Identity()


class Block(nn.Module):
    """conv -> norm -> activation -> pool; ``forward`` returns (pre-pool features, pooled output)."""

    def __init__(self, c_in: int, c_out: int, hw: tuple[int, int], spec: ConvNetSpec, padding: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=3, padding=padding)
        hw = (hw[0] + 2 * padding - 2, hw[1] + 2 * padding - 2)
        self.norm = _norm(spec.normalization, c_out, hw)
        self.act = _activation(spec.activation)
        self.pool: nn.Module = {"maxpooling": nn.MaxPool2d(2, 2), "avgpooling": nn.AvgPool2d(2, 2)}.get(spec.pooling, nn.Identity())
        self.out_hw = hw if spec.pooling == "none" else (hw[0] // 2, hw[1] // 2)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        f = self.act(self.norm(self.conv(x)))
        return f, self.pool(f)


class ConvNet(nn.Module):
    """A ConvNet for images of ``channels`` x ``image_size`` and ``num_classes`` classes.

    28x28 inputs get 3 pixels of padding on the first conv so that they run like 32x32 ones
    (the DC convention for MNIST-like data).
    """

    def __init__(self, channels: int, num_classes: int, image_size: tuple[int, int], spec: ConvNetSpec | None = None) -> None:
        super().__init__()
        self.spec = spec or ConvNetSpec()
        hw = tuple(image_size)
        blocks = []
        for d in range(self.spec.depth):
            padding = 3 if d == 0 and hw == (28, 28) else 1
            block = Block(channels if d == 0 else self.spec.width, self.spec.width, hw, self.spec, padding)  # type: ignore[arg-type]
            if min(block.out_hw) < 1:
                raise InvalidArgumentError(
                    f"{self.spec} pools {self.spec.depth} times, too often for {image_size[0]}x{image_size[1]} images"
                )
            blocks.append(block)
            hw = block.out_hw
        self.blocks = nn.ModuleList(blocks)
        self.embedding_dim = self.spec.width * hw[0] * hw[1]
        self.classifier = nn.Linear(self.embedding_dim, num_classes)

    def forward_features(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        """(per-block feature maps (N, width, H_l, W_l), embedding (N, embedding_dim))."""
        feats = []
        for block in self.blocks:
            f, x = block(x)
            feats.append(f)
        return feats, x.flatten(1)

    def embed(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)[1]
        return x.flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.embed(x))

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Fresh default initialisation of every layer (draws from torch's global RNG)."""
        for m in self.modules():
            reset = getattr(m, "reset_parameters", None)
            if m is not self and callable(reset):
                reset()
