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
from dataclasses import dataclass
from functools import reduce
from typing import Any

import torch
from torch import Tensor, nn

from nas_proxy import checks
from nas_proxy.errors import InvalidArgumentError, shown

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (to, from) in the order of the arch string: node 1's inputs, then node 2's, then node 3's.
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_NODES = 4


def arch_string(ops: Sequence[str]) -> str:
    """The standard text form of a cell given its 6 operations in :data:`EDGES` order."""
    if len(ops) != len(EDGES):
        raise InvalidArgumentError(f"an NB201 cell has {len(EDGES)} edges, got {len(ops)} operations")
    by_edge = dict(zip(EDGES, ops, strict=True))
    nodes = ("|" + "|".join(f"{by_edge[i, j]}~{j}" for j in range(i)) + "|" for i in range(1, NUM_NODES))
    return "+".join(nodes)


def parse_arch(text: str) -> tuple[str, ...]:
    """The 6 operations (in :data:`EDGES` order) of an arch string; the inverse of :func:`arch_string`."""
    nodes = text.strip().split("+")
    if len(nodes) != NUM_NODES - 1:
        raise InvalidArgumentError(f"an NB201 arch string has {NUM_NODES - 1} nodes joined by '+', got {len(nodes)} in {text!r}")
    ops: list[str] = []
    for i, node in enumerate(nodes, start=1):
        parts = node.strip().strip("|").split("|")
        if len(parts) != i:
            raise InvalidArgumentError(f"node {i} of an NB201 cell has {i} input(s), got {len(parts)} in {node!r}")
        for j, part in enumerate(parts):
            op, sep, source = part.partition("~")
            if not sep or source != str(j):
                raise InvalidArgumentError(f"edge {i}<-{j} must read 'OP~{j}', got {part!r} in {text!r}")
            if op not in OPS:
                raise InvalidArgumentError(f"unknown NB201 operation {op!r} on edge {i}<-{j}; known: {', '.join(OPS)}")
            ops.append(op)
    return tuple(ops)


@dataclass(frozen=True)
class NB201Spec:
    """One architecture of the family: the cell and the skeleton it is repeated in."""

    ops: tuple[str, ...] = ("nor_conv_3x3",) * len(EDGES)  # one per edge, in EDGES order
    cells_per_stage: int = 5  # N in the NAS-Bench-201 paper
    widths: tuple[int, ...] = (16, 32, 64)  # channels of each stage; a reduction block between stages

    def __post_init__(self) -> None:
        arch_string(self.ops)  # checks the edge count
        if bad := [op for op in self.ops if op not in OPS]:
            raise InvalidArgumentError(f"unknown NB201 operation(s) {bad}; known: {', '.join(OPS)}")
        if not isinstance(self.cells_per_stage, int) or not 1 <= self.cells_per_stage <= checks.NETWORK_MAX:
            raise InvalidArgumentError(
                f"cells_per_stage must be an integer in [1, {checks.NETWORK_MAX}], got {shown(self.cells_per_stage)}"
            )
        if not self.widths or any(not isinstance(w, int) or not 1 <= w <= checks.NETWORK_MAX for w in self.widths):
            raise InvalidArgumentError(
                f"widths must be a non-empty list of integers in [1, {checks.NETWORK_MAX}], got {shown(list(self.widths))}"
            )

    @property
    def arch(self) -> str:
        return arch_string(self.ops)

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, "cells_per_stage": self.cells_per_stage, "widths": list(self.widths)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NB201Spec:
        unknown = set(d) - {"arch", "cells_per_stage", "widths", "family"}
        if unknown:
            raise InvalidArgumentError(f"unknown NB201 spec key(s) {sorted(unknown)}; known: arch, cells_per_stage, widths")
        default = cls()
        return cls(
            ops=parse_arch(d["arch"]) if "arch" in d else default.ops,
            cells_per_stage=d.get("cells_per_stage", default.cells_per_stage),
            widths=tuple(d.get("widths", default.widths)),
        )


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
