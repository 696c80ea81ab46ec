"""The macro family's architecture spec, without torch (a space lists and checks specs without building a network;
nas_proxy/models/macro.py builds them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nas_proxy import checks
from nas_proxy.errors import InvalidArgumentError, shown

ACTIVATIONS = ("relu", "leakyrelu", "silu", "gelu")
KERNELS = (1, 3, 5, 7)


@dataclass(frozen=True)
class StageSpec:
    """One stage: ``depth`` blocks of ``width`` channels and ``kernel`` x ``kernel`` convs."""

    depth: int = 2  # blocks
    width: int = 32  # channels of every conv in the stage
    kernel: int = 3  # odd, so that "same" padding keeps the size

    def __post_init__(self) -> None:
        for key in ("depth", "width"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= checks.NETWORK_MAX:
                raise InvalidArgumentError(f"macro stage {key} must be an integer in [1, {checks.NETWORK_MAX}], got {shown(value)}")
        if self.kernel not in KERNELS:
            raise InvalidArgumentError(f"macro stage kernel must be one of {', '.join(map(str, KERNELS))}; got {self.kernel!r}")


@dataclass(frozen=True)
class MacroSpec:
    """One architecture of the family. The default is a small two-stage residual net."""

    stages: tuple[StageSpec, ...] = (StageSpec(2, 32, 3), StageSpec(2, 64, 3))
    residual: bool = True  # add a shortcut around every block (1x1 conv + BN where the shape changes)
    activation: str = "relu"

    def __post_init__(self) -> None:
        if not self.stages:
            raise InvalidArgumentError("a macro net needs at least one stage")
        if not isinstance(self.residual, bool):
            raise InvalidArgumentError(f"macro residual must be true or false, got {self.residual!r}")
        if self.activation not in ACTIVATIONS:
            raise InvalidArgumentError(f"macro activation must be one of {', '.join(ACTIVATIONS)}; got {self.activation!r}")

    def to_dict(self) -> dict[str, Any]:
        stages = [{"depth": s.depth, "width": s.width, "kernel": s.kernel} for s in self.stages]
        return {"stages": stages, "residual": self.residual, "activation": self.activation}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MacroSpec:
        checks.known_keys("macro spec", d, ("family", "stages", "residual", "activation"))
        default = cls()
        try:
            stages = tuple(StageSpec(**s) for s in d["stages"]) if "stages" in d else default.stages
        except TypeError as e:  # a stage that is not a mapping of depth/width/kernel
            raise InvalidArgumentError(f"macro stages must be a list of {{depth, width, kernel}} tables: {e}") from None
        return cls(stages, d.get("residual", default.residual), d.get("activation", default.activation))
