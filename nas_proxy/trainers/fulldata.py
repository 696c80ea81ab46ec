"""Training an architecture on the real training split: the protocol, the data, one training.

The full-data training behind two steps: ``correlate``'s ground truth (scored on the test set) and
``search --promote`` (scored on the validation split only: it chooses, so it never sees the test set).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

from nas_proxy import checks
from nas_proxy.data import Dataset, load_dataset, stratified_split
from nas_proxy.errors import InvalidArgumentError, SpaceError
from nas_proxy.protocols import DEFAULT_PROTOCOL, DataRef, GroundTruthConfig, training_protocol
from nas_proxy.spaces import arch_id, build_model
from nas_proxy.spaces.declared import family_class
from nas_proxy.trainers.synthetic_set import COUNTED_SPACES, count_flops, count_params, ready_to_count_flops
from nas_proxy.training import accuracy, batch_starts, train_model
from nas_proxy.utils import derive_seed


def cache_name(prefix: str, data: DataRef, config: GroundTruthConfig) -> str:
    """``PREFIX-DATASET-HASH``: one study per dataset, split and protocol, the cache key of every training in it."""
    blob = json.dumps({**data.key(), **config.to_dict()}, sort_keys=True)
    return f"{prefix}-{data.dataset.replace(':', '_').replace('/', '_')}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def check_images(data: DataRef, images: int | None, flag: str) -> None:
    """Refuse ``images`` (typed as ``flag``) more than the training split of ``data`` holds, before
    anything trains: :class:`RealData` would quietly train on every one (None: all of them, asked)."""
    if images is None:
        return
    split = load_dataset(data.dataset, data.data_root, image_size=data.image_size).split(data.split_seed, data.val_fraction)
    if images > split.train_y.numel():
        raise InvalidArgumentError(
            f"{flag} {images} is more than the {split.train_y.numel()} training images of the {data.dataset} split; "
            "give fewer, or leave it out for all of them"
        )


def batch_used(data: DataRef, config: GroundTruthConfig, flag: str, images_flag: str = "--full-images") -> int:
    """The batch a real-data training of ``config`` on ``data`` steps with: its ``batch_size`` capped to its training
    images (``images``, else the training split: read only then), said where ``flag`` set it above them (the rule of every
    batch, :func:`nas_proxy.checks.batch`; before fix61a, capped without a word and the asked batch reported)."""
    if config.images is not None and config.batch_size <= config.images:
        return config.batch_size
    n = (
        config.images
        or load_dataset(data.dataset, data.data_root, image_size=data.image_size).split(data.split_seed, data.val_fraction).train_y.numel()
    )
    what = f"training images ({images_flag})" if config.images is not None else f"training images of the {data.dataset} split"
    return checks.batch(flag, config.batch_size, n, what, GroundTruthConfig.batch_size, f"each step trains on all {n}")


def protocol_batch(data: DataRef, name: str | None, images: int | None, flag: str, images_flag: str) -> int:
    """The batch a training with the protocol ``name`` (of :data:`~nas_proxy.protocols.TRAINING_PROTOCOLS`; None: the
    default) steps with on ``images`` of ``data``'s training split (None: all), said where it is capped (:func:`batch_used`,
    the rule of every batch: the default protocol's batch, the default 256, quietly). ``flag`` names the protocol's option,
    ``images_flag`` the images'. Before fix62b a named protocol's batch was capped without a word."""
    name = name or DEFAULT_PROTOCOL
    return batch_used(data, training_protocol(name, 1, images), f"{flag} {name}'s batch_size", images_flag)


def images_trained(dataset: Dataset, data: DataRef, config: GroundTruthConfig) -> int:
    """The training images a training of ``config`` on ``data``'s training split steps through (:class:`RealData`'s, of
    ``dataset`` loaded): a stated subset rounds per class. What its batch is capped to (fix62b)."""
    y = dataset.split(data.split_seed, data.val_fraction).train_y
    if config.images is None or config.images >= y.numel():
        return int(y.numel())
    return int(stratified_split(y, config.images / y.numel(), derive_seed(data.split_seed, "groundtruth-subset"))[1].numel())


def ready_to_count(specs: Iterable[dict[str, Any]]) -> None:
    """:func:`~nas_proxy.trainers.synthetic_set.ready_to_count_flops` for the networks of ``specs`` (a worker's queued
    trainings: it knows their specs, not a space): FlopCounterMode's one-off import now, before the first training
    counts its network's FLOPs where a Ctrl-C waits for it, unless every spec is of a family whose networks are counted
    from their layers. A spec of no known family is left to its training, which fails with the error it says."""
    for spec in specs:
        try:
            family = family_class(spec.get("family"))
        except SpaceError:
            continue
        if family not in COUNTED_SPACES:
            ready_to_count_flops()
            return


class RealData:
    """The training, validation and (``test``: unless it must not be seen) test splits on the
    device, loaded once per worker."""

    def __init__(self, data: DataRef, config: GroundTruthConfig, device: torch.device, test: bool = True, whole: bool = False) -> None:
        """``whole``: train on the training and validation splits together (the whole training set,
        as a chosen network is trained at the end); the validation split is then empty."""
        dataset = load_dataset(data.dataset, data.data_root, image_size=data.image_size)
        self.described = dataset.describe()  # name, class names, normalisation, sizes (the tensors are not kept)
        if whole:
            x, y = dataset.train_x, dataset.train_y
            val_x, val_y = x[:0], y[:0]
        else:
            splits = dataset.split(data.split_seed, data.val_fraction)
            x, y, val_x, val_y = splits.train_x, splits.train_y, splits.val_x, splits.val_y
        if config.images is not None and config.images < x.shape[0]:
            from nas_proxy.data.base import stratified_split

            _, keep = stratified_split(y, config.images / x.shape[0], derive_seed(data.split_seed, "groundtruth-subset"))
            x, y = x[keep], y[keep]
        self.train_x, self.train_y = x.to(device), y.to(device)
        self.val_x, self.val_y = val_x.to(device), val_y.to(device)
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


@dataclass
class Trained:
    """A network trained by :func:`train_network`, in eval mode, and what it cost."""

    model: torch.nn.Module
    early: dict[str, dict[str, float]]  # epochs -> {val_accuracy, seconds (training up to there + that scoring)}
    train_seconds: float  # early-stopping scorings excluded
    params: int
    flops: int
    stopped: bool = False  # stopped at ``until``: the model is part-trained


class _ReachedError(Exception):
    """Raised by the step hook of :func:`train_network` once its ``until`` point is scored."""


def train_network(spec: dict[str, Any], seed: int, data: RealData, config: GroundTruthConfig, until: float | None = None) -> Trained:
    """Build ``spec`` (initialised from ``seed`` and its ``arch_id``) and train it on ``data``'s
    training split with ``config``'s protocol, scoring the early-stopping points on the validation split.

    ``until``: one of ``config.early``; the training stops once that point is scored. Up to there it
    is the full training step for step (the schedule is ``config.epochs``'), so its early scores are
    the full training's, bit for bit (early stopping on its own, as ``search --proxy early@Xep`` runs it)."""
    aid = arch_id(spec)
    run_seed = derive_seed(seed, "groundtruth", aid)
    torch.manual_seed(run_seed)
    model = build_model(spec, data.channels, data.num_classes, data.image_size).to(data.device)
    params, flops = count_params(model), count_flops(model, data.train_x)
    steps = len(batch_starts(data.train_x.shape[0], config.batch_size, config.fast.drop_last))  # per epoch
    marks = {max(1, round(f * steps)): f for f in config.early}  # global step -> epochs
    if until is not None and until not in config.early:
        raise ValueError(f"until={until} is not an early-stopping point of {config.early}")
    stop = None if until is None else max(1, round(until * steps))  # the global step after which nothing is trained
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
        if done == stop:
            raise _ReachedError

    try:
        train_model(model, data.train_x, data.train_y, config.train_config(), run_seed, data.flip, on_step=on_step, fast=config.fast)
    except _ReachedError:
        return Trained(model, early, time.perf_counter() - t0 - side, params, flops, stopped=True)
    return Trained(model, early, time.perf_counter() - t0 - side, params, flops)


def train_one(spec: dict[str, Any], seed: int, data: RealData, config: GroundTruthConfig, until: float | None = None) -> dict[str, Any]:
    """Train ``spec`` on the real training split; validation and (with a test split) test accuracy,
    early-stopping scores and costs. With ``until`` (see :func:`train_network`) the record holds
    ``early``, ``train_seconds``, ``params`` and ``flops`` only."""
    trained = train_network(spec, seed, data, config, until)
    if trained.stopped:
        return {"early": trained.early, "train_seconds": trained.train_seconds, "params": trained.params, "flops": trained.flops}
    model, amp = trained.model, config.train_config().amp
    t1 = time.perf_counter()
    test = (
        {} if data.test_x is None or data.test_y is None else {"test_accuracy": 100.0 * accuracy(model, data.test_x, data.test_y, amp=amp)}
    )
    val = 100.0 * accuracy(model, data.val_x, data.val_y, amp=amp)
    t2 = time.perf_counter()
    return {
        **test,
        "val_accuracy": val,
        "early": trained.early,  # epochs -> {val_accuracy, seconds (training up to there + that scoring)}
        "train_seconds": trained.train_seconds,
        "score_seconds": t2 - t1,
        "params": trained.params,
        "flops": trained.flops,
    }
