"""Early stopping: the validation accuracy the ground-truth training reached after a fraction of
its epochs. It costs nothing extra here (the ground truth records it on the way), but its seconds
are those of the training up to that point, what it would cost on its own."""

from __future__ import annotations

import math
from typing import Any

from nas_proxy.proxies.base import Proxy, RunSetup, Scored, cache_key, register

EARLY = "early"


@register(EARLY)
class EarlyStopProxy(Proxy):
    """``early@{epochs}ep``: validation accuracy after ``epochs`` of the full-data training."""

    order = 1
    trains = True
    cached = False  # the scores live in the ground-truth study

    def __init__(self, setup: RunSetup, epochs: float) -> None:
        super().__init__(setup, f"{EARLY}@{epochs:g}ep", EARLY)
        self.epochs = epochs

    @classmethod
    def offer(cls, setup: RunSetup) -> list[Proxy]:
        return [cls(setup, f) for f in setup.early]

    def cache_key(self) -> str:
        return f"early-{cache_key(self.setup.data.key(), self.epochs, self.setup.seed)}"

    def score(self, spec: dict[str, Any], arch_id: str) -> Scored:
        record = self.setup.truth.get((arch_id, self.setup.seed), {}).get("early", {}).get(f"{self.epochs:g}")
        if not record:  # accuracies given in a file: no training to stop early
            return Scored(math.nan, math.nan)
        return Scored(float(record["val_accuracy"]), float(record["seconds"]))

    def describe(self) -> str:
        return f"validation accuracy of the ground-truth training (seed {self.setup.seed}) after {self.epochs:g} epochs"
