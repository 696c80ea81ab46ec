"""Early stopping: the validation accuracy of the full-data training after a fraction of its epochs.

In ``correlate`` it costs nothing extra (the ground truth records it on the way); anywhere else (a
search on ``early@Xep``) the proxy trains the architecture itself with the same protocol and stops
there, which gives the same score bit for bit (:func:`nas_proxy.trainers.fulldata.train_one`). Its
seconds are those of the training up to that point, what it costs on its own."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from nas_proxy import checks
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.proxies.base import Proxy, RunSetup, Scored, cache_key, register

if TYPE_CHECKING:
    from nas_proxy.protocols import GroundTruthConfig

EARLY = "early"
_NAME = re.compile(r"early@(?P<epochs>.*)ep")


@register(EARLY)
class EarlyStopProxy(Proxy):
    """``early@{epochs}ep``: validation accuracy after ``epochs`` of the full-data training."""

    order = 1
    trains = True
    cached = False  # the scores live in the ground-truth study (or, trained here, nowhere: a search stores them)
    pattern = "early@Xep"

    def __init__(self, setup: RunSetup, epochs: float) -> None:
        super().__init__(setup, f"{EARLY}@{epochs:g}ep", EARLY)
        self.epochs = epochs
        self._data: Any = None  # the real splits, loaded on the first training of its own

    @classmethod
    def offer(cls, setup: RunSetup) -> list[Proxy]:
        return [cls(setup, f) for f in setup.early]

    @classmethod
    def named(cls, setup: RunSetup, token: str) -> Proxy | None:
        match = _NAME.fullmatch(token)
        if match is None:
            return None
        total = setup.ground_truth.epochs
        try:  # plain ASCII decimal, as every number typed (not 1_0, ١, nor a subnormal 1e-320)
            epochs = checks.parse_float(match["epochs"])
        except ValueError:
            epochs = math.nan
        if not 0 < epochs < total:  # NaN too; at `total` it would be the ground-truth network itself
            raise InvalidArgumentError(
                f"early@Xep needs 0 < X < {total} epochs (the full-data training it stops), X in plain digits, got {token!r}; write e.g. early@1ep"
            )
        return cls(setup, epochs)

    def cache_key(self) -> str:
        return f"early-{cache_key(self.setup.data.key(), self.epochs, self.setup.seed, self.setup.ground_truth.to_dict())}"

    def score(self, spec: dict[str, Any], arch_id: str) -> Scored:
        s = self.setup
        # no ground truth in this run (a search): train up to the point here
        record = self._train(spec) if s.truth is None else s.truth.get((arch_id, s.seed))
        point = (record or {}).get("early", {}).get(f"{self.epochs:g}")
        if not point:  # accuracies given in a file: no training to stop early
            return Scored(math.nan, math.nan)
        return Scored(float(point["val_accuracy"]), float(point["seconds"]), details={"early_epochs": self.epochs})

    def ready(self) -> None:  # the real splits it trains on, loaded now: data too small to split refused before a study
        if self.setup.truth is None:  # is made (before stop 52: every trial of a search failed on it)
            self._real()

    def _config(self) -> GroundTruthConfig:
        return replace(self.setup.ground_truth, early=(self.epochs,))

    def _real(self) -> Any:
        from nas_proxy.trainers.fulldata import RealData
        from nas_proxy.utils import resolve_device

        if self._data is None:
            self._data = RealData(self.setup.data, self._config(), resolve_device(self.setup.device), test=False)  # never the test set
        return self._data

    def _train(self, spec: dict[str, Any]) -> dict[str, Any]:
        from nas_proxy.trainers.fulldata import train_one

        return train_one(spec, self.setup.seed, self._real(), self._config(), until=self.epochs)

    def facts(self) -> dict[str, Any]:
        return {"ground_truth": self.setup.ground_truth.to_dict()}

    def describe(self) -> str:
        return f"validation accuracy of the ground-truth training (seed {self.setup.seed}) after {self.epochs:g} epochs"
