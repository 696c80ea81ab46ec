"""The NAS-Bench-201 family's cell and architecture spec, without torch (a space lists and checks specs without
building a network; nas_proxy/models/nb201.py builds them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
        checks.known_keys("NB201 spec", d, ("family", "arch", "cells_per_stage", "widths"))
        default = cls()
        return cls(
            ops=parse_arch(d["arch"]) if "arch" in d else default.ops,
            cells_per_stage=d.get("cells_per_stage", default.cells_per_stage),
            widths=tuple(d.get("widths", default.widths)),
        )
