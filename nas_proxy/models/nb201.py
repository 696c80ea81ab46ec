"""The NAS-Bench-201 family: one searched cell repeated in a fixed ResNet-like skeleton.

A cell is a DAG on 4 nodes; node ``i`` is the sum of one operation applied to every earlier node,
so there are 6 edges (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2), each one of :data:`OPS` (5**6 = 15,625
cells). The standard text form lists each node's inputs between bars, nodes joined by ``+``::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|

The skeleton: stem (3x3 conv + BN), then one stage of ``cells_per_stage`` cells per entry of
``widths``, a residual reduction block (stride 2) between stages, then BN-ReLU, global average
pooling and a linear head.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from functools import reduce

import torch
from torch import Tensor, nn

from nas_proxy.errors import InvalidArgumentError
from nas_proxy.models.nb201_spec import EDGES, NUM_NODES, NB201Spec
from nas_proxy.models.nb201_spec import OPS as OPS  # re-exported: the spec was defined here
from nas_proxy.models.nb201_spec import arch_string as arch_string
from nas_proxy.models.nb201_spec import parse_arch as parse_arch


class ReLUConvBN(nn.Sequential):
    """ReLU -> conv (no bias) -> BN: the ``nor_conv`` operation."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            nn.ReLU(inplace=False),  # not in place: the cell's input feeds other edges too
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


def _operation(name: str, width: int) -> nn.Module:
    """One edge of a cell; every operation keeps the shape (N, width, H, W)."""
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(width, width, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(width, width, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise AssertionError(f"no module for operation {name!r}")  # 'none' edges are dropped by Cell


class Cell(nn.Module):
    """Node ``i`` = sum of its incoming edges; the output is node 3. ``none`` edges contribute nothing."""

    def __init__(self, ops: Sequence[str], width: int) -> None:
        super().__init__()
        self.edges = [(i, j) for (i, j), op in zip(EDGES, ops, strict=True) if op != "none"]
        self.ops = nn.ModuleList(_operation(op, width) for op in ops if op != "none")

    def forward(self, x: Tensor) -> Tensor:
        nodes = [x]  # each (N, width, H, W)
        for i in range(1, NUM_NODES):
            inputs = [op(nodes[j]) for (to, j), op in zip(self.edges, self.ops, strict=True) if to == i]
            # A node whose edges are all 'none' is zero (the op 'none' multiplies by 0).
            nodes.append(reduce(operator.add, inputs) if inputs else torch.zeros_like(x))
        return nodes[-1]


class ResidualReduction(nn.Module):
    """ResNet basic block with stride 2: two ReLU-conv-BN, shortcut = 2x2 avg pool + 1x1 conv."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)  # (N, c_out, H/2, W/2)


class NB201Net(nn.Module):
    """The NAS-Bench-201 skeleton around one cell, for ``channels`` x ``image_size`` images."""

    def __init__(self, channels: int, num_classes: int, image_size: tuple[int, int], spec: NB201Spec | None = None) -> None:
        super().__init__()
        self.spec = spec or NB201Spec()
        widths = self.spec.widths
        if min(image_size) < 2 ** (len(widths) - 1):
            raise InvalidArgumentError(
                f"{len(widths)} NB201 stages halve the image {len(widths) - 1} times, too often for {image_size[0]}x{image_size[1]}"
            )
        self.stem = nn.Sequential(nn.Conv2d(channels, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]))
        layers: list[nn.Module] = []
        for s, width in enumerate(widths):
            if s > 0:
                layers.append(ResidualReduction(widths[s - 1], width))
            layers.extend(Cell(self.spec.ops, width) for _ in range(self.spec.cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(widths[-1]), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.embedding_dim = widths[-1]
        self.classifier = nn.Linear(widths[-1], num_classes)

    def embed(self, x: Tensor) -> Tensor:
        return self.head(self.cells(self.stem(x)))  # (N, widths[-1])

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.embed(x))  # (N, num_classes)
