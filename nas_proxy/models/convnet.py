"""The ConvNet family of dataset distillation (DC, DSA, DM, DataDAM) and its 720-architecture space.

A ConvNet is ``depth`` blocks of [3x3 conv(width) -> norm -> activation -> pool] and one linear
head. ``forward_features`` returns each block's feature map (post-activation, pre-pooling, as
attention matching needs) and the flattened embedding, without forward hooks.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nas_proxy.models.convnet_spec import (  # re-exported: the spec was defined here
    ACTIVATIONS,
    DEPTHS,
    NORMALIZATIONS,
    POOLINGS,
    SPACE_720,
    WIDTHS,
    ConvNetSpec,
    space_720,
)


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

    def __init__(self, c_in: int, c_out: int, features: tuple[int, int], spec: ConvNetSpec, padding: int) -> None:
        """``features``: the size of its feature maps, ``padding``: of its conv (:meth:`ConvNetSpec.blocks`)."""
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=3, padding=padding)
        self.norm = _norm(spec.normalization, c_out, features)
        self.act = _activation(spec.activation)
        self.pool: nn.Module = {"maxpooling": nn.MaxPool2d(2, 2), "avgpooling": nn.AvgPool2d(2, 2)}.get(spec.pooling, nn.Identity())

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
        sizes = self.spec.blocks(image_size)  # raises where the blocks pool the images away
        width = self.spec.width
        self.blocks = nn.ModuleList(
            Block(channels if d == 0 else width, width, features, self.spec, padding) for d, (padding, features, _) in enumerate(sizes)
        )
        hw = sizes[-1][2]
        self.embedding_dim = width * hw[0] * hw[1]
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


__all__ = ["ACTIVATIONS", "DEPTHS", "NORMALIZATIONS", "POOLINGS", "SPACE_720", "WIDTHS", "Block", "ConvNet", "ConvNetSpec", "space_720"]
