"""Spaces of NAS-Bench-201 cells: a choice of operations per edge, in a fixed skeleton."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, ClassVar

from nas_proxy.errors import InvalidArgumentError, SpaceError
from nas_proxy.models.nb201_spec import EDGES, NUM_NODES, OPS, NB201Spec, arch_string, parse_arch
from nas_proxy.spaces.base import Spec
from nas_proxy.spaces.declared import FAMILIES, Choices, DeclaredSpace, Param, expect_keys, suggest

if TYPE_CHECKING:  # torch: imported where a network is built; Optuna: by the search that samples; not to list or check a space
    import optuna
    from torch import nn

EDGE_PARAMS = tuple(f"edge_{i}_{j}" for i, j in EDGES)  # the trial params, in arch-string order
_DEFAULT = NB201Spec()
_KEYS = ("arch", "cells_per_stage", "widths")


@FAMILIES.register("nb201")
class NB201Space(DeclaredSpace):
    """Specs ``{"family": "nb201", "arch": "|op~0|+|...", "cells_per_stage": 5, "widths": [16, 32, 64]}``.

    A definition lists the operations of every edge under ``ops`` and may override single edges
    (``edge_2_1 = ["none", "skip_connect"]``); ``cells_per_stage`` and ``widths`` fix the skeleton.
    """

    family = "nb201"
    PARAMS: ClassVar[dict[str, Param]] = {"ops": Param(str, OPS, OPS), **{edge: Param(str, OPS, OPS) for edge in EDGE_PARAMS}}
    SETTINGS: ClassVar[dict[str, Param]] = {
        "cells_per_stage": Param(int, (_DEFAULT.cells_per_stage,)),
        "widths": Param(int, (list(_DEFAULT.widths),), sequence=True),
    }

    def _complete(self, given: dict[str, Choices]) -> dict[str, Choices]:
        ops = given.get("ops", OPS)
        choices = {edge: given.get(edge, ops) for edge in EDGE_PARAMS}
        # before stop 46 a space whose every cell is cut ("ops = ['none']") was searched, exit 0: each candidate's
        # cells pass nothing on, and the search ranked networks that all learn the same nothing (probe46)
        reached = {0}
        for (to, src), edge in zip(EDGES, EDGE_PARAMS, strict=True):  # in topological order
            if src in reached and any(op != "none" for op in choices[edge]):
                reached.add(to)
        if NUM_NODES - 1 not in reached:
            raise SpaceError(
                "no architecture of this space connects a cell's input to its output: every path from node 0 to node "
                f"{NUM_NODES - 1} has an edge whose only choice is 'none'; allow another operation on one of them"
            )
        return choices

    def sample(self, trial: optuna.trial.BaseTrial) -> Spec:
        ops = [suggest(trial, edge, self.choices[edge]) for edge in EDGE_PARAMS]
        return {"family": self.family, "arch": arch_string(ops), **copy.deepcopy(self.settings)}

    def _values(self, spec: Spec) -> list[tuple[str, Any, Choices]]:
        expect_keys(spec, _KEYS, self.family)
        ops = _parse(spec["arch"])
        edges = [(edge, op, self.choices[edge]) for edge, op in zip(EDGE_PARAMS, ops, strict=True)]
        return edges + [(key, spec[key], (value,)) for key, value in self.settings.items()]

    def parse(self, text: str) -> Spec:
        """A JSON object, or an arch string ``|op~0|+|op~0|op~1|+|...|`` in this space's skeleton."""
        if text.lstrip().startswith("{"):
            return super().parse(text)
        return {"family": self.family, "arch": arch_string(_parse(text)), **copy.deepcopy(self.settings)}

    @classmethod
    def build_spec(cls, spec: Spec, channels: int, num_classes: int, image_size: tuple[int, int]) -> nn.Module:
        expect_keys(spec, _KEYS, cls.family)
        from nas_proxy.models.nb201 import NB201Net  # torch: imported where a network is built

        return NB201Net(channels, num_classes, image_size, NB201Spec.from_dict(spec))


def _parse(arch: Any) -> tuple[str, ...]:
    if not isinstance(arch, str):
        raise SpaceError(f"spec key 'arch' must be an NB201 arch string, got {arch!r}")
    try:
        return parse_arch(arch)
    except InvalidArgumentError as e:
        raise SpaceError(f"spec key 'arch': {e}") from None
