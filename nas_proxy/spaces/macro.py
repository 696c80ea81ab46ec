"""Spaces of the macro family: a conditional number of stages, each with its own depth, width and kernel."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

from nas_proxy.errors import SpaceError
from nas_proxy.models.macro_spec import ACTIVATIONS, KERNELS, MacroSpec
from nas_proxy.spaces.base import Spec
from nas_proxy.spaces.declared import FAMILIES, Choices, DeclaredSpace, Param, expect_keys, suggest

if TYPE_CHECKING:  # torch: imported where a network is built; Optuna: by the search that samples; not to list or check a space
    import optuna
    from torch import nn

_DEFAULT = MacroSpec()
_KEYS = ("stages", "residual", "activation")
_STAGE_KEYS = ("depth", "width", "kernel")


@FAMILIES.register("macro")
class MacroSpace(DeclaredSpace):
    """Specs ``{"family": "macro", "stages": [{"depth", "width", "kernel"}, ...], "residual", "activation"}``.

    The trial first picks ``num_stages``, then ``stage{i}_depth``, ``stage{i}_width`` and
    ``stage{i}_kernel`` for each of those stages only (define-by-run); the ``depth``, ``width`` and
    ``kernel`` choices of a definition apply to every stage.
    """

    family = "macro"
    PARAMS: ClassVar[dict[str, Param]] = {
        "num_stages": Param(int, (len(_DEFAULT.stages),)),
        "depth": Param(int, (_DEFAULT.stages[0].depth,)),
        "width": Param(int, (_DEFAULT.stages[0].width,)),
        "kernel": Param(int, (_DEFAULT.stages[0].kernel,), KERNELS),
        "residual": Param(bool, (_DEFAULT.residual,)),
        "activation": Param(str, (_DEFAULT.activation,), ACTIVATIONS),
    }

    def sample(self, trial: optuna.trial.BaseTrial) -> Spec:
        c = self.choices
        stages = [
            {key: suggest(trial, f"stage{i}_{key}", c[key]) for key in _STAGE_KEYS}
            for i in range(suggest(trial, "num_stages", c["num_stages"]))
        ]
        residual = suggest(trial, "residual", c["residual"])
        return {"family": self.family, "stages": stages, "residual": residual, "activation": suggest(trial, "activation", c["activation"])}

    def _values(self, spec: Spec) -> list[tuple[str, Any, Choices]]:
        expect_keys(spec, _KEYS, self.family)
        stages = spec["stages"]
        if not isinstance(stages, list) or not all(isinstance(s, dict) and set(s) == set(_STAGE_KEYS) for s in stages):
            raise SpaceError(f"spec key 'stages' must be a list of {{depth, width, kernel}} dicts, got {stages!r}")
        values: list[tuple[str, Any, Choices]] = [("num_stages", len(stages), self.choices["num_stages"])]
        for i, stage in enumerate(stages):
            values += [(f"stage{i}_{key}", stage[key], self.choices[key]) for key in _STAGE_KEYS]
        return values + [(key, spec[key], self.choices[key]) for key in ("residual", "activation")]

    def size(self) -> int | None:
        per_stage = math.prod(len(self.choices[key]) for key in _STAGE_KEYS)
        rest = len(self.choices["residual"]) * len(self.choices["activation"])
        return sum(per_stage**n for n in self.choices["num_stages"]) * rest

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "per_stage": list(_STAGE_KEYS)}

    @classmethod
    def build_spec(cls, spec: Spec, channels: int, num_classes: int, image_size: tuple[int, int]) -> nn.Module:
        expect_keys(spec, _KEYS, cls.family)
        from nas_proxy.models.macro import MacroNet  # torch: imported where a network is built

        return MacroNet(channels, num_classes, image_size, MacroSpec.from_dict(spec))
