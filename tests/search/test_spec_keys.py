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


@pytest.mark.parametrize(
    ("name", "known"),  # one space of each family
    [
        ("convnet-small", "family, depth, width, activation, normalization, pooling"),
        ("macro", "family, stages, residual, activation"),
        ("nb201", "family, arch, cells_per_stage, widths"),
    ],
)
def test_a_space_refuses_unknown_spec_keys_with_the_same_wording(name: str, known: str) -> None:
    """fix53a: a space's check (spaces/declared.expect_keys) worded it a fourth way, naming the first unknown key only:
    "unknown convnet spec key 'colour'; a convnet spec has keys family, ...". Now checks.known_keys' wording, all named."""
    import optuna

    from nas_proxy.errors import SpaceError
    from nas_proxy.spaces import get_space

    space = get_space(name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    spec = space.sample(study.ask())
    with pytest.raises(SpaceError) as e:
        space.validate({**spec, "kernal": 3, "colour": "red"})
    assert str(e.value) == f"unknown {space.family} spec key(s) ['colour', 'kernal']; known: {known}"
    space.validate(spec)  # its own keys are known
