"""Spaces of the ConvNet family of dataset distillation (``convnet720`` is the DC/DataDAM space)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from nas_proxy.models.convnet_spec import ACTIVATIONS, NORMALIZATIONS, POOLINGS, ConvNetSpec
from nas_proxy.spaces.base import Spec
from nas_proxy.spaces.declared import FAMILIES, Choices, DeclaredSpace, Param, expect_keys, suggest

if TYPE_CHECKING:  # torch: imported where a network is built; Optuna: by the search that samples; not to list or check a space
    import optuna
    from torch import nn

_DEFAULT = ConvNetSpec()  # ConvNet-3, the field's evaluation network: what a silent definition fixes


@FAMILIES.register("convnet")
class ConvNetSpace(DeclaredSpace):
    """Specs ``{"family": "convnet", "depth", "width", "activation", "normalization", "pooling"}``."""

    family = "convnet"
    PARAMS: ClassVar[dict[str, Param]] = {
        "depth": Param(int, (_DEFAULT.depth,)),
        "width": Param(int, (_DEFAULT.width,)),
        "activation": Param(str, (_DEFAULT.activation,), ACTIVATIONS),
        "normalization": Param(str, (_DEFAULT.normalization,), NORMALIZATIONS),
        "pooling": Param(str, (_DEFAULT.pooling,), POOLINGS),
    }

    def sample(self, trial: optuna.trial.BaseTrial) -> Spec:
        return {"family": self.family, **{key: suggest(trial, key, choices) for key, choices in self.choices.items()}}

    def _values(self, spec: Spec) -> list[tuple[str, Any, Choices]]:
        expect_keys(spec, tuple(self.PARAMS), self.family)
        return [(key, spec[key], choices) for key, choices in self.choices.items()]

    def parse(self, text: str) -> Spec:
        """A JSON object, or the ``depth=4,width=64`` form of ``--model`` (omitted keys: ConvNet-3)."""
        if text.lstrip().startswith("{"):
            return super().parse(text)
        return {"family": self.family, **ConvNetSpec.parse(text).to_dict()}

    @classmethod
    def build_spec(cls, spec: Spec, channels: int, num_classes: int, image_size: tuple[int, int]) -> nn.Module:
        expect_keys(spec, tuple(cls.PARAMS), cls.family)
        from nas_proxy.models.convnet import ConvNet  # torch: imported where a network is built

        return ConvNet(channels, num_classes, image_size, ConvNetSpec.from_dict(spec))

    @classmethod
    def fits(cls, spec: Spec, channels: int, num_classes: int, image_size: tuple[int, int]) -> None:
        """The blocks' sizes alone (:meth:`ConvNetSpec.blocks`, the rule :class:`ConvNet` is built by): the 720
        members of ``convnet720`` built on the meta device took ~1.4 CPU-s of each ``distill --nets convnet720``."""
        expect_keys(spec, tuple(cls.PARAMS), cls.family)
        ConvNetSpec.from_dict(spec).blocks(image_size)
