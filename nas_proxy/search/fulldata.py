"""Training an architecture on the real training split: the protocol, the data, one training.

The full-data training behind two steps: ``correlate``'s ground truth (scored on the test set) and
``search --promote`` (scored on the validation split only: it chooses, so it never sees the test set).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from nas_proxy import checks
from nas_proxy.data import load_dataset
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.search.proxy import count_flops, count_params
from nas_proxy.spaces import arch_id, build_model
from nas_proxy.training import TrainConfig, accuracy, train_model
from nas_proxy.utils import derive_seed


@dataclass(frozen=True)
class GroundTruthConfig:
    """How an architecture is trained on real data (recorded in the study and every report)."""

    epochs: int = 10  # on the training split; chosen in benchmarks/RESULTS.md §5
    lr: float = 0.01  # SGD, momentum 0.9, weight decay 5e-4, lr x0.1 at half way
    batch_size: int = 256
    augment: bool = False  # DSA on every batch (off: the full split is large enough, and cheaper)
    images: int | None = None  # training images: None, the whole training split; N, a seeded stratified subset
    early: tuple[float, ...] = (0.1, 1.0)  # epochs after which the validation accuracy is recorded

    def validate(self) -> None:
        checks.positive("ground-truth epochs", self.epochs)
        checks.number("ground-truth lr", self.lr, 0, checks.LR_MAX, low_open=True)
        checks.positive("ground-truth batch_size", self.batch_size)
        if not isinstance(self.augment, bool):
            raise InvalidArgumentError(f"ground-truth augment must be true or false, got {self.augment!r}")
        if self.images is not None:
            checks.number("--full-images", self.images, 10, integer=True)
        if not isinstance(self.early, tuple):
            raise InvalidArgumentError(f"early must be a list of epochs such as [0.1, 1.0], got {self.early!r}")
        for f in self.early:
            checks.number("early-stopping point", f)
        checks.distinct("early (the early-stopping points)", self.early, show=lambda f: f"{f:g}")
        if any(not 0 < f < self.epochs for f in self.early):  # at `epochs` it would be the ground-truth network itself
            raise InvalidArgumentError(f"early-stopping points must lie strictly between 0 and {self.epochs} epochs, got {self.early}")

    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, lr=self.lr, batch_size=self.batch_size, dsa=self.augment)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "early": list(self.early)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GroundTruthConfig:
        return cls(**{**d, "early": tuple(d.get("early", ()))})


@dataclass(frozen=True)
class DataRef:
    """Which real data: the dataset and the validation split of the synthetic sets."""

    dataset: str
    split_seed: int = 0
    val_fraction: float = 0.1
    data_root: str | None = None
    image_size: int = 32  # image folders only: the side the synthetic sets were made at

    @classmethod
    def of_synthetic(cls, meta: dict[str, Any], data_root: str | None = None) -> DataRef:
        """The real data and split a synthetic set was made from (``meta``: its ``meta.json``)."""
        split, dataset = meta["split"], meta["dataset"]
        root = data_root or meta.get("data_root")
        return cls(dataset["name"], int(split["seed"]), float(split["val_fraction"]), root, int(dataset["image_size"][0]))

    def key(self) -> dict[str, Any]:
        key: dict[str, Any] = {"dataset": self.dataset, "split_seed": self.split_seed, "val_fraction": self.val_fraction}
        if self.dataset.startswith("imagefolder:"):  # the only datasets whose size is a choice
            key["image_size"] = self.image_size
        return key


def cache_name(prefix: str, data: DataRef, config: GroundTruthConfig) -> str:
    """``PREFIX-DATASET-HASH``: one study per dataset, split and protocol, the cache key of every training in it."""
    blob = json.dumps({**data.key(), **config.to_dict()}, sort_keys=True)
    return f"{prefix}-{data.dataset.replace(':', '_').replace('/', '_')}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


class RealData:
    """The training, validation and (``test``: unless it must not be seen) test splits on the
    device, loaded once per worker."""

    def __init__(self, data: DataRef, config: GroundTruthConfig, device: torch.device, test: bool = True) -> None:
        dataset = load_dataset(data.dataset, data.data_root, image_size=data.image_size)
        splits = dataset.split(data.split_seed, data.val_fraction)
        x, y = splits.train_x, splits.train_y
        if config.images is not None and config.images < x.shape[0]:
            from nas_proxy.data.base import stratified_split

            _, keep = stratified_split(y, config.images / x.shape[0], derive_seed(data.split_seed, "groundtruth-subset"))
            x, y = x[keep], y[keep]
        self.train_x, self.train_y = x.to(device), y.to(device)
        self.val_x, self.val_y = splits.val_x.to(device), splits.val_y.to(device)
        self.test_x: torch.Tensor | None = dataset.test_x.to(device) if test else None
        self.test_y: torch.Tensor | None = dataset.test_y.to(device) if test else None
        self.flip, self.device = dataset.flip, device
        self.channels, self.num_classes, self.image_size = dataset.channels, dataset.num_classes, dataset.image_size

    def facts(self) -> dict[str, Any]:
        return {
            "train_images": int(self.train_x.shape[0]),
            "val_images": int(self.val_x.shape[0]),
            "test_images": 0 if self.test_x is None else int(self.test_x.shape[0]),
        }


def train_one(spec: dict[str, Any], seed: int, data: RealData, config: GroundTruthConfig) -> dict[str, Any]:
    """Train ``spec`` on the real training split; validation and (with a test split) test accuracy,
    early-stopping scores and costs."""
    aid = arch_id(spec)
    run_seed = derive_seed(seed, "groundtruth", aid)
    torch.manual_seed(run_seed)
    model = build_model(spec, data.channels, data.num_classes, data.image_size).to(data.device)
    params, flops = count_params(model), count_flops(model, data.train_x)
    steps = math.ceil(data.train_x.shape[0] / config.batch_size)  # per epoch
    marks = {max(1, round(f * steps)): f for f in config.early}  # global step -> epochs
    early: dict[str, dict[str, float]] = {}
    side = 0.0  # seconds spent scoring early points: not part of the training cost
    amp = config.train_config().amp  # validation autocasts (on CUDA) as the training does
    t0 = time.perf_counter()

    def on_step(epoch: int, step: int, net: torch.nn.Module) -> None:
        nonlocal side
        done = epoch * steps + step + 1
        if done in marks:
            if data.device.type == "cuda":
                torch.cuda.synchronize()
            s0 = time.perf_counter()
            acc = 100.0 * accuracy(net, data.val_x, data.val_y, amp=amp)
            scoring = time.perf_counter() - s0
            # its cost: the training up to here (earlier scorings excluded) plus this scoring
            early[f"{marks[done]:g}"] = {"val_accuracy": acc, "seconds": (s0 - t0 - side) + scoring}
            side += scoring
            net.train()

    train_model(model, data.train_x, data.train_y, config.train_config(), run_seed, data.flip, on_step=on_step)
    t1 = time.perf_counter()
    test = (
        {} if data.test_x is None or data.test_y is None else {"test_accuracy": 100.0 * accuracy(model, data.test_x, data.test_y, amp=amp)}
    )
    val = 100.0 * accuracy(model, data.val_x, data.val_y, amp=amp)
    t2 = time.perf_counter()
    return {
        **test,
        "val_accuracy": val,
        "early": early,  # epochs -> {val_accuracy, seconds (training up to there + that scoring)}
        "train_seconds": t1 - t0 - side,
        "score_seconds": t2 - t1,
        "params": params,
        "flops": flops,
    }
