"""Which architectures the ground-truth table holds, and in which order they are trained.

The plan is a list of blocks. Every block holds ``block_size`` distinct architectures in which
every value of every dimension of the space appears, as evenly as the block size allows (for
convnet720 and blocks of 20: each depth, width and normalization exactly 5 or 4 times, each
activation and pooling 7 or 6 times; which values get the extra place rotates from block to block,
so that the whole plan is balanced too). A block is drawn by shuffling, per dimension, the list of
its values (seeded) and zipping the shuffled lists into architectures; while an architecture repeats
one already planned or is above the FLOPs cap, two entries of one dimension are swapped (seeded; a
swap that makes more such architectures is undone), which keeps every value's count.

Blocks are the unit of progress under a deadline: the trainings run block by block, so a run cut
short leaves whole blocks, each of them stratified on its own. Within a block the costliest
architecture runs first (longest job first: the workers then finish a block together instead of
one worker training a big network alone at the end).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas_proxy.errors import InvalidArgumentError
from nas_proxy.spaces import DeclaredSpace, arch_id, build_model
from nas_proxy.trainers.synthetic_set import count_flops, count_params
from nas_proxy.utils import derive_seed

MAX_SWAPS = 5_000  # repair swaps per block before the cap and the block size are declared incompatible


@dataclass(frozen=True)
class Planned:
    """One architecture of the plan, with what it costs per image."""

    spec: dict[str, Any]
    arch_id: str
    block: int
    params: int
    flops: int  # forward FLOPs of one image

    def row(self, dims: Sequence[str]) -> dict[str, Any]:
        return {
            "arch_id": self.arch_id,
            "block": self.block,
            **{d: self.spec[d] for d in dims},
            "params": self.params,
            "flops": self.flops,
            "spec": json.dumps(self.spec, sort_keys=True),
        }


def _quota(values: Sequence[Any], size: int, block: int) -> list[Any]:
    """``size`` slots over ``values``: each value size // k times, the remainder to values rotated by block."""
    k = len(values)
    extra = {(block + i) % k for i in range(size % k)}
    return [v for i, v in enumerate(values) for _ in range(size // k + (i in extra))]


def _cost(spec: dict[str, Any], shape: tuple[int, int, tuple[int, int]]) -> tuple[int, int]:
    channels, classes, size = shape
    model = build_model(spec, channels, classes, size)
    return count_params(model), count_flops(model, torch.zeros(1, channels, *size))


def _repair(
    columns: list[list[Any]],
    dims: list[str],
    family: str,
    seen: set[str],
    allowed: Callable[[dict[str, Any]], bool],
    rng: np.random.Generator,
) -> list[dict[str, Any]] | None:
    """The rows of ``columns`` as specs, after swaps within a column (the quotas stay as they are)
    until no spec repeats one in ``seen`` or an earlier row and every spec is ``allowed``; None when
    MAX_SWAPS swaps do not get there. A swap that adds bad rows is undone."""
    size = len(columns[0])

    def specs() -> list[dict[str, Any]]:
        return [{"family": family, **{d: columns[k][r] for k, d in enumerate(dims)}} for r in range(size)]

    def bad_rows() -> list[int]:
        now = specs()
        ids = [arch_id(s) for s in now]
        return [r for r in range(size) if ids[r] in seen or ids.index(ids[r]) != r or not allowed(now[r])]

    bad = bad_rows()
    for _ in range(MAX_SWAPS):
        if not bad:
            return specs()
        r, q, k = int(rng.choice(bad)), int(rng.integers(size)), int(rng.integers(len(dims)))
        columns[k][r], columns[k][q] = columns[k][q], columns[k][r]
        now = bad_rows()
        if len(now) <= len(bad):
            bad = now
        else:
            columns[k][r], columns[k][q] = columns[k][q], columns[k][r]
    return None if bad else specs()


def plan(
    space: DeclaredSpace,
    n_archs: int,
    shape: tuple[int, int, tuple[int, int]],
    seed: int = 0,
    block_size: int = 20,
    max_flops: float | None = None,
) -> list[Planned]:
    """``n_archs`` distinct architectures in stratified blocks (the last one may be smaller), in
    training order. ``shape`` is (channels, classes, (height, width)) of the data the FLOPs are
    counted on; architectures above ``max_flops`` per image are never drawn."""
    dims = list(space.choices)
    family = space.family
    widest = max(len(v) for v in space.choices.values())
    if block_size < widest:
        raise InvalidArgumentError(
            f"--block-size {block_size} is below the {widest} values of one dimension; every block must hold all of them"
        )
    if n_archs < widest:
        raise InvalidArgumentError(f"--n-archs {n_archs}: a stratified table needs at least {widest} architectures")
    costs: dict[str, tuple[int, int]] = {}

    def cost(spec: dict[str, Any]) -> tuple[int, int]:
        key = arch_id(spec)
        if key not in costs:
            costs[key] = _cost(spec, shape)
        return costs[key]

    def allowed(spec: dict[str, Any]) -> bool:
        return max_flops is None or cost(spec)[1] <= max_flops

    chosen: list[Planned] = []
    seen: set[str] = set()
    rng = np.random.default_rng(derive_seed(seed, "groundtruth-plan"))
    for block in range((n_archs + block_size - 1) // block_size):
        size = max(min(block_size, n_archs - block * block_size), widest)  # a short last block still holds every value
        columns = [_quota(space.choices[d], size, block) for d in dims]
        for col in columns:
            rng.shuffle(col)
        specs = _repair(columns, dims, family, seen, allowed, rng)
        if specs is None:
            raise InvalidArgumentError(
                f"could not draw block {block} of {size} distinct architectures under {(max_flops or 0) / 1e6:g} MFLOPs "
                "per image; raise --max-mflops"
            )
        members = [Planned(s, arch_id(s), block, *cost(s)) for s in specs]
        seen.update(m.arch_id for m in members)
        chosen += sorted(members, key=lambda p: (-p.flops, p.arch_id))  # longest job first
    return chosen[: max(n_archs, widest)]


def coverage(planned: Sequence[Planned], space: DeclaredSpace) -> dict[str, dict[str, int]]:
    """dimension -> value -> how many planned architectures have it (every value listed, even at 0)."""
    return {d: {str(v): sum(1 for p in planned if p.spec[d] == v) for v in vals} for d, vals in space.choices.items()}


def write_plan(path: Path, planned: Sequence[Planned], dims: Sequence[str], seeds: Sequence[int]) -> None:
    """The plan as CSV, in training order (written before any training, so a cut run still says it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["order", "arch_id", "block", *dims, "params", "flops", "seeds", "spec"])
        w.writeheader()
        for n, p in enumerate(planned):
            w.writerow({"order": n, **p.row(dims), "seeds": " ".join(map(str, seeds))})
    tmp.replace(path)
