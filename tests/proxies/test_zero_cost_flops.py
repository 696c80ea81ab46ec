"""The ``flops`` zero-cost proxy counts with the project's one counter (``trainers.synthetic_set.count_flops``: the
networks' layers where ``models.flops`` vouches for them, torch's FlopCounterMode otherwise), not FlopCounterMode
always: before fix55b its first use in a process imported torch._dynamo and sympy (about 5 CPU-s on a loaded machine),
in every search or worker that scored ``flops``."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from nas_proxy.proxies.zero_cost import ZERO_COST
from nas_proxy.spaces import get_space


def _torchs(model: torch.nn.Module, x: torch.Tensor) -> int:
    net = model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(x[:1])
    return int(counter.get_total_flops())


def test_the_proxy_counts_convnet720s_first_50_as_torch_without_torchs_counter(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same number as FlopCounterMode on each of convnet720's first 50 architectures (at 16x16 RGB: the count
    is by layer shapes, so a smaller image costs less and proves the same), and no FlopCounterMode entered for them."""
    space = get_space("convnet720")
    every = space.specs(space.size() or 0)  # in the order the space enumerates them (its decision tree, depth first)
    assert every is not None and len(every) == 720
    specs = every[:50]
    x, y = torch.randn(2, 3, 16, 16), torch.tensor([0, 1])
    models = []
    for spec in specs:
        torch.manual_seed(0)
        models.append(space.build(spec, 3, 10, (16, 16)))
    torchs = [_torchs(m, x) for m in models]

    def entered(*_: object) -> None:
        raise AssertionError("FlopCounterMode entered for a network the layer count vouches for")

    monkeypatch.setattr(FlopCounterMode, "__enter__", entered)
    flops = ZERO_COST.get("flops")
    for spec, model, expected in zip(specs, models, torchs, strict=True):
        before = {k: v.clone() for k, v in model.state_dict().items()}
        model.train()
        assert flops(model, x, y) == float(expected) > 0, spec
        assert model.training and all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # the caller's, untouched


def test_a_network_the_layers_cannot_vouch_for_is_counted_by_torch() -> None:
    class Gram(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = x.flatten(2)
            return (f @ f.transpose(1, 2)).flatten(1)

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), Gram(), torch.nn.Linear(16, 5))
    x = torch.randn(2, 3, 8, 8)
    assert ZERO_COST.get("flops")(model, x, torch.tensor([0, 1])) == float(_torchs(model, x))
