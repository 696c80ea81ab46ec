"""The ConvNet family's architectures, as data: its options and :class:`ConvNetSpec`.

Apart from :mod:`nas_proxy.models.convnet` (the network) so that the command line and the configs
read them without importing torch (tests/cli/test_startup.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from itertools import product
from typing import Any

from nas_proxy import checks
from nas_proxy.errors import InvalidArgumentError, shown

DEPTHS = (1, 2, 3, 4)
WIDTHS = (32, 64, 128, 256)
ACTIVATIONS = ("sigmoid", "relu", "leakyrelu")
NORMALIZATIONS = ("none", "batchnorm", "layernorm", "instancenorm", "groupnorm")
POOLINGS = ("none", "maxpooling", "avgpooling")
# The 720 space (REFERENCE §3): 4 depths x 4 widths x 3 activations x 5 norms x 3 poolings.
SPACE_720: dict[str, tuple[int, ...] | tuple[str, ...]] = {
    "depth": DEPTHS,
    "width": WIDTHS,
    "activation": ACTIVATIONS,
    "normalization": NORMALIZATIONS,
    "pooling": POOLINGS,
}


@dataclass(frozen=True)
class ConvNetSpec:
    """One ConvNet architecture. The default is the field's evaluation network (ConvNet-3)."""

    depth: int = 3  # conv blocks
    width: int = 128  # channels of every conv
    activation: str = "relu"
    normalization: str = "instancenorm"  # instancenorm = GroupNorm(C, C), as in the DC code
    pooling: str = "avgpooling"  # 2x2, stride 2, after every block

    def __post_init__(self) -> None:
        for key in ("depth", "width"):
            value = getattr(self, key)
            if not isinstance(value, int) or not 1 <= value <= checks.NETWORK_MAX:
                raise InvalidArgumentError(f"ConvNet {key} must be an integer in [1, {checks.NETWORK_MAX}], got {shown(value)}")
        for key, allowed in (("activation", ACTIVATIONS), ("normalization", NORMALIZATIONS), ("pooling", POOLINGS)):
            if getattr(self, key) not in allowed:
                raise InvalidArgumentError(f"ConvNet {key} must be one of {', '.join(allowed)}; got {getattr(self, key)!r}")
        if self.normalization == "groupnorm" and self.width % 4:
            raise InvalidArgumentError(f"groupnorm uses 4 groups, so width must be a multiple of 4; got {self.width}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConvNetSpec:
        known = [f.name for f in fields(cls)]
        family = d.get("family", "convnet")
        if family != "convnet":  # else dropped, and ConvNet-3 built for a spec that named another family
            raise InvalidArgumentError(
                f"a ConvNet spec's family is 'convnet', got {shown(family)}; --model and depth=4,width=64 specs describe ConvNets only"
            )
        checks.known_keys("ConvNet spec", d, ("family", *known))
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def parse(cls, text: str) -> ConvNetSpec:
        """``"depth=4,width=64,normalization=batchnorm"``; omitted keys keep the defaults (``""``:
        ConvNet-3). No empty part and no key twice (``checks.items``); numbers are plain ASCII digits."""
        d: dict[str, Any] = {}
        for part in checks.items("model spec", text) if text.strip() else []:  # "": every key its default
            key, sep, value = (p.strip() for p in part.partition("="))
            if not sep:
                raise InvalidArgumentError(f"model spec parts are key=value, got {part!r} in {text!r}")
            if key in d:
                raise InvalidArgumentError(f"model spec names {key} twice in {text!r}; give each key once")
            try:
                d[key] = checks.parse_int(value) if value.isascii() and value.isdigit() else value
            except ValueError as e:  # a number too long to read
                raise InvalidArgumentError(f"model spec {key}: {e}") from None
        return cls.from_dict(d)

    def __str__(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.to_dict().items())

    def blocks(self, image_size: tuple[int, int]) -> list[tuple[int, tuple[int, int], tuple[int, int]]]:
        """Each block's (padding of its conv, its feature maps' size, its output's size after pooling) on images of
        ``image_size``: the one rule :class:`nas_proxy.models.convnet.ConvNet` is built by, and what a space's members
        are checked against without building them (:meth:`nas_proxy.spaces.convnet.ConvNetSpace.fits`). 28x28 inputs get
        3 pixels of padding on the first conv so that they run like 32x32 ones (the DC convention for MNIST-like data).
        An InvalidArgumentError where the blocks pool the images away."""
        hw = (int(image_size[0]), int(image_size[1]))
        out = []
        for d in range(self.depth):
            padding = 3 if d == 0 and hw == (28, 28) else 1
            features = (hw[0] + 2 * padding - 2, hw[1] + 2 * padding - 2)
            hw = features if self.pooling == "none" else (features[0] // 2, features[1] // 2)
            if min(hw) < 1:
                raise InvalidArgumentError(f"{self} pools {self.depth} times, too often for {image_size[0]}x{image_size[1]} images")
            out.append((padding, features, hw))
        return out


def space_720() -> Iterator[ConvNetSpec]:
    """All 720 architectures of the DC/DataDAM search space."""
    for depth, width, activation, normalization, pooling in product(DEPTHS, WIDTHS, ACTIVATIONS, NORMALIZATIONS, POOLINGS):
        yield ConvNetSpec(depth, width, activation, normalization, pooling)
