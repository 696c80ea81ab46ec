"""Ground truth: architectures trained on the real training split, scored on the real test set.

The trainings are the trials of their own Optuna study, one enqueued trial per (architecture,
seed), so that any number of workers on any number of machines share them (``nasproxy worker``
joins a ground-truth study as it joins a search), finished trainings are cached in the storage and
reused by every later report with the same protocol, and an interrupted run resumes.

The same training records its validation accuracy after a fraction of the first epochs: the
early-stopping proxy, scored like every other proxy on the validation split, at no extra training.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState
from tqdm import tqdm

from nas_proxy import checks, interrupts
from nas_proxy.data import load_dataset
from nas_proxy.errors import InvalidArgumentError, NasProxyError
from nas_proxy.search.proxy import count_flops, count_params
from nas_proxy.search.storage import GRACE_SECONDS, HEARTBEAT_SECONDS, open_storage
from nas_proxy.search.study import claim, fail_dead_trials, recording_failure
from nas_proxy.spaces import arch_id, build_model
from nas_proxy.training import TrainConfig, accuracy, train_model
from nas_proxy.utils import derive_seed, resolve_device

ATTR = "nasproxy_groundtruth"
MAX_FAILURES = 2  # an (architecture, seed) that failed this often is reported, not retried


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
        checks.number("ground-truth lr", self.lr, 0, low_open=True)
        checks.positive("ground-truth batch_size", self.batch_size)
        if not isinstance(self.augment, bool):
            raise InvalidArgumentError(f"ground-truth augment must be true or false, got {self.augment!r}")
        if self.images is not None:
            checks.number("--full-images", self.images, 10, integer=True)
        if not isinstance(self.early, tuple):
            raise InvalidArgumentError(f"early must be a list of epochs such as [0.1, 1.0], got {self.early!r}")
        for f in self.early:
            checks.number("early-stopping point", f)
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

    def key(self) -> dict[str, Any]:
        key: dict[str, Any] = {"dataset": self.dataset, "split_seed": self.split_seed, "val_fraction": self.val_fraction}
        if self.dataset.startswith("imagefolder:"):  # the only datasets whose size is a choice
            key["image_size"] = self.image_size
        return key


def study_name(data: DataRef, config: GroundTruthConfig) -> str:
    """One study per dataset, split and protocol: the cache key of every training in it."""
    blob = json.dumps({**data.key(), **config.to_dict()}, sort_keys=True)
    return f"groundtruth-{data.dataset.replace(':', '_').replace('/', '_')}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


class RealData:
    """The training, validation and test splits on the device, loaded once per worker."""

    def __init__(self, data: DataRef, config: GroundTruthConfig, device: torch.device) -> None:
        dataset = load_dataset(data.dataset, data.data_root, image_size=data.image_size)
        splits = dataset.split(data.split_seed, data.val_fraction)
        x, y = splits.train_x, splits.train_y
        if config.images is not None and config.images < x.shape[0]:
            from nas_proxy.data.base import stratified_split

            _, keep = stratified_split(y, config.images / x.shape[0], derive_seed(data.split_seed, "groundtruth-subset"))
            x, y = x[keep], y[keep]
        self.train_x, self.train_y = x.to(device), y.to(device)
        self.val_x, self.val_y = splits.val_x.to(device), splits.val_y.to(device)
        self.test_x, self.test_y = dataset.test_x.to(device), dataset.test_y.to(device)
        self.flip, self.device = dataset.flip, device
        self.channels, self.num_classes, self.image_size = dataset.channels, dataset.num_classes, dataset.image_size

    def facts(self) -> dict[str, Any]:
        return {
            "train_images": int(self.train_x.shape[0]),
            "val_images": int(self.val_x.shape[0]),
            "test_images": int(self.test_x.shape[0]),
        }


def train_one(spec: dict[str, Any], seed: int, data: RealData, config: GroundTruthConfig) -> dict[str, Any]:
    """Train ``spec`` on the real training split; test accuracy, early-stopping scores and costs."""
    aid = arch_id(spec)
    run_seed = derive_seed(seed, "groundtruth", aid)
    torch.manual_seed(run_seed)
    model = build_model(spec, data.channels, data.num_classes, data.image_size).to(data.device)
    params, flops = count_params(model), count_flops(model, data.train_x)
    steps = math.ceil(data.train_x.shape[0] / config.batch_size)  # per epoch
    marks = {max(1, round(f * steps)): f for f in config.early}  # global step -> epochs
    amp = config.train_config().amp  # validation autocasts (on CUDA) as the training does
    early: dict[str, dict[str, float]] = {}
    side = 0.0  # seconds spent scoring early points: not part of the training cost
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
    test = 100.0 * accuracy(model, data.test_x, data.test_y, amp=amp)
    val = 100.0 * accuracy(model, data.val_x, data.val_y, amp=amp)
    t2 = time.perf_counter()
    return {
        "test_accuracy": test,
        "val_accuracy": val,
        "early": early,  # epochs -> {val_accuracy, seconds (training up to there + that scoring)}
        "train_seconds": t1 - t0 - side,
        "score_seconds": t2 - t1,
        "params": params,
        "flops": flops,
    }


def _objective(data: RealData, config: GroundTruthConfig) -> Any:
    def objective(trial: optuna.Trial) -> float:
        claim(trial)  # first: a survivor can repair this trial from now on
        spec, seed = trial.user_attrs.get("spec"), trial.user_attrs.get("seed")
        if spec is None or seed is None:  # another worker took the last queued training first
            trial.set_user_attr("idle", True)
            raise optuna.TrialPruned("nothing left to train")
        try:
            interrupts.check()
            with recording_failure(trial), interrupts.interruptible():
                result = train_one(spec, int(seed), data, config)
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)  # not the architecture's fault: retried without limit
            raise
        for key, value in {**result, "device": str(data.device)}.items():
            trial.set_user_attr(key, value)
        return float(result["test_accuracy"])

    return objective


def open_study(storage_url: str | None, data: DataRef, config: GroundTruthConfig) -> tuple[optuna.Study, str]:
    """The ground-truth study of this data and protocol (created when missing)."""
    name = study_name(data, config)
    storage, url = open_storage(storage_url, name)
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True)
    if ATTR not in study.user_attrs:
        study.set_user_attr(
            ATTR, {"data": {**data.key(), "data_root": data.data_root, "image_size": data.image_size}, "protocol": config.to_dict()}
        )
    fail_dead_trials(study, storage)  # trainings whose process died here: failed and re-queued before counting
    return study, url


def key_of(t: FrozenTrial) -> tuple[str, int] | None:
    spec, seed = t.user_attrs.get("spec"), t.user_attrs.get("seed")
    return None if spec is None or seed is None else (arch_id(spec), int(seed))


def enqueue(study: optuna.Study, wanted: list[tuple[dict[str, Any], int]]) -> dict[str, int]:
    """Queue the (spec, seed) trainings not done, queued or running; counts of what was found."""
    done: set[tuple[str, int]] = set()
    pending: set[tuple[str, int]] = set()
    failed: dict[tuple[str, int], int] = {}
    for t in study.get_trials(deepcopy=False):
        key = key_of(t)
        if key is None:
            continue
        if t.state == TrialState.COMPLETE:
            done.add(key)
        elif t.state in (TrialState.WAITING, TrialState.RUNNING):
            pending.add(key)
        elif t.state == TrialState.FAIL and not _not_its_fault(t):
            failed[key] = failed.get(key, 0) + 1
    queued = given_up = 0
    for spec, seed in wanted:
        key = (arch_id(spec), seed)
        if key in done or key in pending:
            continue
        if failed.get(key, 0) >= MAX_FAILURES:
            given_up += 1
            continue
        study.enqueue_trial({}, user_attrs={"spec": spec, "seed": seed, "arch_id": key[0]})
        pending.add(key)
        queued += 1
    return {"cached": sum(1 for s, d in wanted if (arch_id(s), d) in done), "queued": queued, "given_up": given_up}


def _not_its_fault(t: FrozenTrial) -> bool:
    """A failure from Ctrl-C or a dead worker, which says nothing about the architecture."""
    reason = str(t.user_attrs.get("fail_reason", ""))
    died = "died during the trial" in reason and "not retried" not in reason  # retries exhausted: counted
    return bool(t.user_attrs.get("interrupted")) or died


def run_worker(
    study: optuna.Study,
    storage_url: str | None,
    device: str = "auto",
    progress: bool = True,
    data_root: str | None = None,
    heartbeat: tuple[int, int] = (HEARTBEAT_SECONDS, GRACE_SECONDS),
) -> None:
    """Train queued architectures until the queue is empty (several workers may share it); the
    trainings of workers found dead (``heartbeat``: interval and grace in seconds, for database
    storages) are re-queued and trained too."""
    stored = study.user_attrs[ATTR]
    config = GroundTruthConfig.from_dict(stored["protocol"])
    d = stored["data"]
    data_ref = DataRef(
        d["dataset"], int(d["split_seed"]), float(d["val_fraction"]), data_root or d.get("data_root"), int(d.get("image_size", 32))
    )
    storage, _ = open_storage(storage_url, study.study_name, *heartbeat)
    study = optuna.load_study(study_name=study.study_name, storage=storage)  # with these heartbeat settings
    fail_dead_trials(study, storage)
    waiting = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
    if not waiting:
        return
    data = RealData(data_ref, config, resolve_device(device))
    objective = _objective(data, config)
    bar = tqdm(total=waiting, desc="ground truth", unit="arch", disable=not progress, dynamic_ncols=True)

    def report(study: optuna.Study, trial: FrozenTrial) -> None:  # this worker's own trial
        if trial.state == TrialState.FAIL and progress:
            reason = trial.user_attrs.get("fail_reason") or trial.system_attrs.get("fail_reason", "unknown error")
            tqdm.write(f"ground truth of {trial.user_attrs.get('arch_id')} failed: {' '.join(str(reason).split())[:200]}")
        bar.update(1)

    try:
        with interrupts.deferred():  # SIGINT raises in the training and between trials, never inside ask/tell
            while True:
                fail_dead_trials(study, storage)  # before each training: re-queue what dead workers left
                if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
                    break
                study.optimize(objective, n_trials=1, catch=(NasProxyError, RuntimeError, ValueError), callbacks=[report])
    finally:
        bar.close()


def results(study: optuna.Study) -> dict[tuple[str, int], dict[str, Any]]:
    """(arch id, seed) -> the finished training's record."""
    out = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        key = key_of(t)
        if key is not None:
            out[key] = dict(t.user_attrs)
    return out


def failures(study: optuna.Study) -> dict[tuple[str, int], str]:
    """(arch id, seed) -> the last failure reason of trainings that never completed."""
    done = set(results(study))
    out = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        key = key_of(t)
        if key is not None and key not in done:
            out[key] = str(t.user_attrs.get("fail_reason") or t.system_attrs.get("fail_reason", "unknown error"))
    return out


def is_ground_truth_study(study: optuna.Study) -> bool:
    return ATTR in study.user_attrs
