"""The field's evaluation protocol for a synthetic set (REFERENCE §2).

Fresh networks are trained on the synthetic images only and scored on the real test set; the
result is mean +- std over ``runs`` networks. This is a report, never a selection criterion.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nas_proxy import checks
from nas_proxy.data import load_dataset
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.models import ConvNet, ConvNetSpec
from nas_proxy.progress import meter
from nas_proxy.protocols import EvaluateOptions, resolve_root
from nas_proxy.synthetic import SyntheticSet, load_synthetic
from nas_proxy.training import TrainConfig, accuracy, train_model
from nas_proxy.utils import derive_seed, resolve_device


@dataclass
class EvalResult:
    path: str
    model: str
    accuracies: list[float]  # test accuracy (%) of each run
    train: dict[str, Any]
    device: str
    seconds: float
    synthetic: dict[str, Any] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accuracies)

    @property
    def std(self) -> float:
        return statistics.pstdev(self.accuracies) if len(self.accuracies) > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "model": self.model,
            "mean": round(self.mean, 3),
            "std": round(self.std, 3),
            "accuracies": [round(a, 3) for a in self.accuracies],
            "runs": len(self.accuracies),
            "train": self.train,
            "device": self.device,
            "seconds": round(self.seconds, 2),
            "synthetic": self.synthetic,
        }


def load_real_test(synthetic: SyntheticSet, data_root: str | None = None) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """The real test set of the dataset a synthetic set was distilled from (checked to match)."""
    d = synthetic.dataset
    size = int(d["image_size"][0])
    dataset = load_dataset(d["name"], resolve_root(d["name"], data_root, synthetic.meta.get("data_root")), image_size=size)
    dataset.check_described(d, str(synthetic.path))
    return dataset.test_x, dataset.test_y, dataset.flip


def evaluate(
    path: Path | str,
    runs: int = EvaluateOptions.runs,
    model: ConvNetSpec | str | None = None,
    train: TrainConfig | None = None,
    seed: int = 0,
    device: str = "auto",
    data_root: str | None = None,
    progress: bool = False,  # the library is silent unless asked; the CLI asks
    hard_labels: bool = False,
) -> EvalResult:
    """Train ``runs`` fresh ConvNets on the synthetic set at ``path``; test accuracy mean +- std.

    ``train`` is the whole protocol, epochs included (None: :class:`TrainConfig`'s defaults, the
    1000 epochs of DC/DSA/DM). A set with soft labels trains on them unless ``hard_labels``.
    """
    checks.positive("runs", runs)
    cfg = train or TrainConfig()
    cfg.validate()
    spec = ConvNetSpec.parse(model) if isinstance(model, str) else (model or ConvNetSpec())
    syn = load_synthetic(path)
    if hard_labels and syn.soft_labels is None:  # an option silently ignored is a run the user did not ask for
        raise InvalidArgumentError(f"--hard-labels changes nothing: {path} has no soft labels (distill --soft-labels N): drop it")
    test_x, test_y, flip = load_real_test(syn, data_root)
    dev = resolve_device(device)
    shape = tuple(syn.images.shape[1:])
    accs = []
    t0 = time.perf_counter()
    for r in meter(range(runs), f"evaluate {Path(path).name}", unit="net", enabled=progress):
        run_seed = derive_seed(seed, "evaluate", r)
        torch.manual_seed(run_seed)
        net = ConvNet(shape[0], syn.num_classes, (shape[1], shape[2]), spec).to(dev)
        train_model(net, syn.images, syn.targets(hard_labels), cfg, run_seed, flip)
        accs.append(100.0 * accuracy(net, test_x, test_y, amp=cfg.amp))
    info = {k: syn.meta.get(k) for k in ("method", "ipc", "iterations_done", "seed")}
    info["dataset"] = syn.dataset["name"]
    info["soft_labels"] = syn.soft_labels is not None and not hard_labels  # what the networks trained on
    protocol = cfg.to_dict() | {"amp": cfg.uses_amp(dev)}  # what ran, not what was asked: no autocast on CPU
    return EvalResult(str(path), str(spec), accs, protocol, str(dev), time.perf_counter() - t0, info)
