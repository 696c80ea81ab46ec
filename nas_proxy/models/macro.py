"""The macro family: a plain or residual CNN whose stages differ in depth, width and kernel size.

stem (3x3 conv -> BN -> act) -> stage 0 -> stage 1 -> ... -> global average pool -> linear.
A stage is ``depth`` blocks of [conv(k) -> BN -> act -> conv(k) -> BN] (+ shortcut when
``residual``) -> act; the first block of every stage after the first has stride 2, so each
stage halves the feature map.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from nas_proxy.errors import InvalidArgumentError
from nas_proxy.models.macro_spec import ACTIVATIONS as ACTIVATIONS  # re-exported: the spec was defined here
from nas_proxy.models.macro_spec import KERNELS as KERNELS
from nas_proxy.models.macro_spec import MacroSpec
from nas_proxy.models.macro_spec import StageSpec as StageSpec


def _activation(name: str) -> nn.Module:
    factories: dict[str, Callable[[], nn.Module]] = {
        "relu": nn.ReLU,
        "leakyrelu": lambda: nn.LeakyReLU(0.01),
        "silu": nn.SiLU,
        "gelu": nn.GELU,
    }
    return factories[name]()


class Block(nn.Module):
    """conv -> BN -> act -> conv -> BN (+ shortcut) -> act."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, residual: bool, activation: str) -> None:
        super().__init__()
        pad = kernel // 2
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=pad, bias=False),
            nn.BatchNorm2d(c_out),
            _activation(activation),
            nn.Conv2d(c_out, c_out, kernel, padding=pad, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut: nn.Module | None = None
        if residual:
            same = c_in == c_out and stride == 1
            self.shortcut = (
                nn.Identity() if same else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
            )
        self.act = _activation(activation)

    def forward(self, x: Tensor) -> Tensor:
        out = self.body(x)  # (N, c_out, H/stride, W/stride)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.act(out)


class MacroNet(nn.Module):
    """A macro-family network for ``channels`` x ``image_size`` images and ``num_classes`` classes."""

    def __init__(self, channels: int, num_classes: int, image_size: tuple[int, int], spec: MacroSpec | None = None) -> None:
        super().__init__()
        self.spec = spec or MacroSpec()
        stages = self.spec.stages
        if min(image_size) < 2 ** (len(stages) - 1):
            raise InvalidArgumentError(
                f"{len(stages)} macro stages halve the image {len(stages) - 1} times, too often for {image_size[0]}x{image_size[1]}"
            )
        act = self.spec.activation
        self.stem = nn.Sequential(
            nn.Conv2d(channels, stages[0].width, 3, padding=1, bias=False), nn.BatchNorm2d(stages[0].width), _activation(act)
        )
        blocks: list[nn.Module] = []
        c_in = stages[0].width
        for i, stage in enumerate(stages):
            for b in range(stage.depth):
                stride = 2 if i > 0 and b == 0 else 1
                blocks.append(Block(c_in, stage.width, stage.kernel, stride, self.spec.residual, act))
                c_in = stage.width
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.embedding_dim = c_in
        self.classifier = nn.Linear(c_in, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        return self.pool(self.blocks(self.stem(x)))  # (N, last width)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.embed(x))  # (N, num_classes)
