"""Training-free proxies: each score of :mod:`nas_proxy.proxies.zero_cost` on the untrained network."""

from __future__ import annotations

from typing import Any

from nas_proxy.proxies.base import Proxy, RunSetup, Scored, cache_key, register
from nas_proxy.proxies.zero_cost import ZERO_COST, score_all

FAMILY = "training-free"  # the token that selects every training-free score


@register("zero-cost")
class ZeroCostProxy(Proxy):
    """One registered zero-cost score of a seeded untrained network on one real minibatch."""

    order = 2
    trains = False

    def __init__(self, setup: RunSetup, score_name: str) -> None:
        super().__init__(setup, score_name, FAMILY)
        ZERO_COST.get(score_name)  # unknown names: one line listing the known ones

    @classmethod
    def offer(cls, setup: RunSetup) -> list[Proxy]:
        return [cls(setup, name) for name in ZERO_COST.names()]

    def cache_key(self) -> str:
        s = self.setup
        return f"zero-cost-{self.name}-{cache_key(s.data.key(), s.zero_cost_batch, s.seed)}"

    def ready(self) -> None:  # its minibatch drawn from the training split: data too small to split refused before a
        self.setup.real_batch()  # study is made (before stop 52: every trial failed on it, and `run` went on to correlate none)

    def score(self, spec: dict[str, Any], arch_id: str) -> Scored:
        import torch

        from nas_proxy.spaces import build_model
        from nas_proxy.utils import derive_seed

        x, y, channels, classes, size = self.setup.real_batch()
        torch.manual_seed(derive_seed(self.setup.seed, "zero-cost", arch_id))  # the same network for every score
        model = build_model(spec, channels, classes, size).to(x.device)
        value, seconds = score_all(model, x, y, [self.name])[self.name]
        return Scored(float(value), float(seconds))

    def describe(self) -> str:
        images = self.setup.real_batch()[0].shape[0]  # zero_cost_batch capped to the training split: the images used (fix62b)
        return f"`{self.name}` of the untrained network (seeded per architecture) on {images} training images"
