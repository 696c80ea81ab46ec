"""The three architecture families refuse an unknown spec key with one wording (checks.known_keys)."""

from __future__ import annotations

from typing import Any

import pytest

from nas_proxy.errors import InvalidArgumentError
from nas_proxy.models.convnet_spec import ConvNetSpec
from nas_proxy.models.macro_spec import MacroSpec
from nas_proxy.models.nb201_spec import NB201Spec


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (ConvNetSpec, "unknown ConvNet spec key(s) ['colour', 'kernal']; known: family, depth, width, activation, normalization, pooling"),
        (MacroSpec, "unknown macro spec key(s) ['colour', 'kernal']; known: family, stages, residual, activation"),
        (NB201Spec, "unknown NB201 spec key(s) ['colour', 'kernal']; known: family, arch, cells_per_stage, widths"),
    ],
)
def test_unknown_spec_keys_one_wording(cls: Any, message: str) -> None:
    spec = cls().to_dict()
    with pytest.raises(InvalidArgumentError) as e:
        cls.from_dict({**spec, "kernal": 3, "colour": "red"})
    assert str(e.value) == message
    assert cls.from_dict(spec) == cls()  # its own keys are known
