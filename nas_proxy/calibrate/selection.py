"""The ranker of selection by ranking (``nasproxy distill --select-by FILE``).

A distillation with ``select_by`` hands its synthetic set, every ``select_every`` iterations, to
:class:`CalibrationRanker`: each calibration architecture is trained on the set with the proxy
protocol (:class:`~nas_proxy.trainers.synthetic_set.ProxyContext`, the search's own trial) and scored on the
validation split (never the test split); the set's score is the Spearman correlation of those
scores with the architectures' ground truth. The distillation keeps the best-scoring set
(``nas_proxy.distill.selection``). The calibration architectures are recorded in ``meta.json``, so
that no result is reported on them (``benchmarks/fidelity.py`` refuses an overlap).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nas_proxy.calibrate.truth import Truth, check_data, from_file
from nas_proxy.correlate.metrics import spearman
from nas_proxy.distill.config import DistillConfig
from nas_proxy.distill.selection import Ranker, Ranking
from nas_proxy.errors import InvalidArgumentError, NasProxyError
from nas_proxy.spaces import get_space
from nas_proxy.synthetic import SyntheticSet
from nas_proxy.trainers.synthetic_set import ProxyConfig, ProxyContext, count_flops
from nas_proxy.utils import derive_seed

MIN_CALIBRATION = 3  # a rank correlation needs three architectures


class CalibrationRanker(Ranker):
    """Scores a synthetic set by how well the proxy trained on it ranks ``config.select_by``'s architectures."""

    def __init__(self, config: DistillConfig) -> None:
        assert config.select_by is not None
        self.file, self.seed = config.select_by, config.seed
        self.space_name, self.space = config.select_space, get_space(config.select_space)
        self.max_mflops, self.subset = config.select_max_mflops, config.select_archs
        self.proxy = ProxyConfig() if config.select_epochs is None else ProxyConfig(epochs=config.select_epochs)
        self.truths = from_file(config.select_by, self.space, "--select-by")
        self.dataset = config.dataset
        self.check_data(None)  # the data is not loaded yet: its name is checked before any work (its digest: by distill)
        for t in self.truths:
            try:
                self.space.validate(t.spec)
            except NasProxyError as e:
                raise InvalidArgumentError(
                    f"--select-by {self.file}: architecture {t.arch_id} is outside --select-space {self.space_name!r} ({e}); "
                    "name the space the file's architectures come from"
                ) from None
        self.chosen: list[Truth] = []
        self.over_cap: list[str] = []

    def check_data(self, content_sha256: str | None) -> None:
        """Refuse a --select-by table measured on another dataset (before fix51a it chose the iterate, exit 0: probe50), or,
        with ``content_sha256`` (the loaded data's), on other images or labels of the same name: before stop 52 only the
        name was compared, and a table naming the digest of another copy chose the iterate without a word."""
        check_data(
            self.truths,
            self.dataset,
            content_sha256,
            "the set distilled (--dataset)",
            f"give --select-by architectures measured on {self.dataset}, or distill the data they were measured on",
        )

    def start(self, val_x: Tensor, val_y: Tensor, flip: bool, num_classes: int, device: torch.device) -> None:
        self.val_x, self.val_y, self.flip, self.num_classes, self.device = val_x, val_y, flip, num_classes, device
        chosen = list(self.truths)
        if self.max_mflops is not None:
            sample, (c, h, w) = val_x[:1], val_x.shape[1:]
            flops = {t.arch_id: count_flops(self.space.build(t.spec, c, num_classes, (h, w)), sample) for t in chosen}
            self.over_cap = [t.arch_id for t in chosen if flops[t.arch_id] > self.max_mflops * 1e6]
            chosen = [t for t in chosen if t.arch_id not in self.over_cap]
        if self.subset is not None and self.subset < len(chosen):
            rng = np.random.default_rng(derive_seed(self.seed, "select"))
            chosen = [chosen[i] for i in sorted(rng.choice(len(chosen), size=self.subset, replace=False))]
        if len(chosen) < MIN_CALIBRATION:
            raise InvalidArgumentError(
                f"--select-by {self.file}: {len(chosen)} calibration architectures left (of {len(self.truths)}; "
                f"{len(self.over_cap)} above --select-max-mflops); a rank correlation needs {MIN_CALIBRATION}: raise the cap or add architectures"
            )
        if len({t.accuracy for t in chosen}) == 1:
            raise InvalidArgumentError(
                f"--select-by {self.file}: all {len(chosen)} calibration architectures have the same accuracy ({chosen[0].accuracy:g} %): "
                "no iteration ranks a constant truth better than another; give the accuracies the architectures really reached"
            )
        self.chosen = chosen

    def calibration(self) -> list[str]:
        return [t.arch_id for t in self.chosen]

    def rank(self, images: Tensor, labels: Tensor) -> Ranking:
        synthetic = SyntheticSet(images, labels, {"dataset": {"num_classes": self.num_classes}}, Path())
        context = ProxyContext(synthetic, self.val_x, self.val_y, self.flip, self.device, self.proxy)
        scores = {t.arch_id: context.score(self.space, t.spec, self.seed).accuracy for t in self.chosen}
        rho = spearman([scores[t.arch_id] for t in self.chosen], [t.accuracy for t in self.chosen])
        return Ranking(rho, scores)

    def describe(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "space": self.space_name,
            "calibration": self.calibration(),  # never report a result on these architectures
            "left_out_over_mflops": self.over_cap,
            "of": len(self.truths),
            "protocol": self.proxy.to_dict(),
            "seed": self.seed,
            "scored_on": "validation split",
        }


def ranker(config: DistillConfig) -> CalibrationRanker | None:
    """The ranker ``distill(..., ranker=)`` needs for ``config.select_by`` (the config checked first); None without it."""
    config.validate()
    return None if config.select_by is None else CalibrationRanker(config)
