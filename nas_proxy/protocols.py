"""Training protocols: how a network is trained, as plain dataclasses.

- :class:`TrainConfig`: the field's evaluation protocol (``evaluate``), and what the others become;
- :class:`ProxyConfig`: a search candidate on the synthetic set (the proxy);
- :class:`GroundTruthConfig`: an architecture on the real training split (ground truth, promotion);
- :class:`EvaluateOptions`: what ``evaluate`` trains besides its TrainConfig;
- :data:`TRAINING_PROTOCOLS`: named real-data protocols (``standard``, ``fast``) that promotion, a
  ladder's ``full`` rung and ``nasproxy train`` take by name (``--promote-protocol``, ``--protocol``).

This module imports no torch: the command line reads these defaults for its ``--help``, and a
config file is checked against them, without waiting seconds for torch (tests/cli/test_startup.py).
The code that trains lives in :mod:`nas_proxy.training`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas_proxy import checks
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.registry import Registry

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class TrainConfig:
    """The evaluation protocol of DC/DSA/DM (REFERENCE §2) unless stated.

    ``amp``, ``channels_last`` and ``cuda_graph`` change how a CUDA device runs the same training;
    on the CPU they do nothing (CUDA graphs do not exist there; channels_last would take other CPU
    kernels, which round differently), so CPU results are the same with them on or off.
    """

    epochs: int = 1000  # DC/DSA/DM 1000; the DataDAM code uses 1800
    lr: float = 0.01  # SGD
    momentum: float = 0.9  # DC/DSA/DM
    weight_decay: float = 5e-4  # DC/DSA/DM
    batch_size: int = 256  # DataDAM code: 64
    lr_decay_at: float = 0.5  # lr x 0.1 at this fraction of the epochs
    dsa: bool = True  # DSA on every batch (per-image parameters)
    amp: bool = True  # bf16 autocast on CUDA, training and validation
    channels_last: bool = False  # NHWC weights and batches on CUDA; off until measured to pay (benchmarks/gpu_check)
    cuda_graph: bool = False  # forward + backward replayed as one CUDA graph when every batch has one shape

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def uses_amp(self, device: torch.device) -> bool:
        """Whether training on ``device`` autocasts: asked for, and only on CUDA."""
        return self.amp and device.type == "cuda"

    def validate(self) -> None:
        checks.epochs("epochs", self.epochs)
        checks.number("lr", self.lr, 0, checks.LR_MAX, low_open=True)
        checks.number("momentum", self.momentum, 0, 1, high_open=True)
        checks.number("weight_decay", self.weight_decay, 0)
        checks.positive("batch_size", self.batch_size)
        checks.number("lr_decay_at", self.lr_decay_at, 0, 1)


# the most copies of a candidate trained as one batched model (--proxy-seeds): more fill memory before the
# first step (a million were built for minutes, then killed); a calibration chooses among 1, 2 and 4
SEEDS_MAX = 1024


@dataclass(frozen=True)
class ProxyConfig:
    """How a candidate is trained on the synthetic set (see benchmarks/RESULTS.md for the choice)."""

    epochs: int = 50  # on the synthetic set; as good for ranking as 100 or 200 (benchmarks/RESULTS.md §5)
    lr: float = 0.01  # SGD, momentum 0.9, weight decay 5e-4, lr x0.1 at half way (as evaluate)
    batch_size: int = 256  # as the evaluation protocol (TrainConfig)
    dsa: bool = True  # DSA augmentation on every batch
    report_every: int = 10  # epochs between validation reports to Optuna (pruning, curves)
    report_images: int = 1000  # validation images scored at those reports (the final score uses all)
    # how a CUDA device runs the trial (no effect on the CPU; see TrainConfig):
    amp: bool = True  # bf16 autocast for training and validation
    channels_last: bool = False  # NHWC tensors; off until measured to pay
    cuda_graph: bool = False  # forward + backward replayed as CUDA graphs (the synthetic set is one batch)
    # K > 1: K copies (seeds seed..seed+K-1) trained as one batched model, scored by their mean
    # accuracy (nas_proxy.batched; eager: no CUDA graph, no channels_last). 1 is the single network.
    seeds: int = 1
    # a set with soft labels (distill --soft-labels) trains on them; True: on its class indices instead
    hard_labels: bool = False

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch_size,
            dsa=self.dsa,
            amp=self.amp,
            channels_last=self.channels_last,
            cuda_graph=self.cuda_graph,
        )

    def validate(self) -> None:
        """Counts at least 1 and a finite lr > 0 (a NaN lr would train nothing and score garbage)."""
        checks.epochs("proxy epochs", self.epochs)
        checks.number("proxy lr", self.lr, 0, checks.LR_MAX, low_open=True)
        checks.positive("proxy batch_size", self.batch_size)
        checks.positive("proxy report_every", self.report_every)
        checks.positive("proxy report_images", self.report_images)
        checks.number("proxy seeds", self.seeds, 1, SEEDS_MAX, integer=True)

    def to_dict(self) -> dict[str, Any]:
        """The fields; ``seeds`` only when above 1 and ``hard_labels`` only when true, so that the
        dict of a proxy without them (cache keys, stored study settings) is the one it had before
        they existed."""
        d = asdict(self)
        if self.seeds == 1:
            del d["seeds"]
        if not self.hard_labels:
            del d["hard_labels"]
        return d


SCHEDULES = ("step", "cosine", "onecycle")  # nas_proxy.schedules.SCHEDULES has the code; named here for --help without torch


@dataclass(frozen=True)
class FastTrainConfig:
    """How the real-data trainer may run faster or converge in fewer epochs (issue 20). Every field's
    default is today's training: with all of them, the training is bit for bit the one before they
    existed (tests/search/test_fast_trainer.py). The split is already resident on the device (one copy per
    worker, ``trainers.fulldata.RealData``), batches are taken by a device permutation, bf16 autocast
    is already on for CUDA (``TrainConfig.amp``), and nothing in an epoch reads back to the host:
    those need no option.
    """

    schedule: str = "step"  # lr schedule by name (nas_proxy.schedules): step (x0.1 half way, per epoch), cosine, onecycle
    warmup: float = 0.0  # cosine/onecycle: fraction of all steps over which the lr rises linearly from 0 (onecycle: 0 means 0.3)
    label_smoothing: float = 0.0  # cross-entropy label smoothing (0: none)
    drop_last: bool = False  # skip an epoch's last smaller batch: every batch has one shape (CUDA graphs, torch.compile)
    channels_last: bool = False  # NHWC weights and batches, CUDA only (TrainConfig.channels_last)
    cuda_graph: bool = False  # forward + backward replayed as one CUDA graph, CUDA only; needs equal batches (drop_last)
    compile: bool = False  # torch.compile the network (any device; the first steps pay the compilation)

    def is_default(self) -> bool:
        return self == FastTrainConfig()

    def validate(self) -> None:
        checks.text("schedule", self.schedule, SCHEDULES)
        checks.number("warmup", self.warmup, 0, 1, high_open=True)
        checks.number("label_smoothing", self.label_smoothing, 0, 1, high_open=True)
        if self.warmup > 0 and self.schedule == "step":
            raise InvalidArgumentError(
                f"warmup applies to the cosine and onecycle schedules, got warmup={self.warmup:g} with schedule=step: choose one of them, or warmup 0"
            )
        if self.compile and self.cuda_graph:
            raise InvalidArgumentError(
                "compile and cuda_graph both capture the step: choose one (compile's mode reduce-overhead uses CUDA graphs itself)"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GroundTruthConfig:
    """How an architecture is trained on real data (recorded in the study and every report)."""

    epochs: int = 10  # on the training split; chosen in benchmarks/RESULTS.md §5
    lr: float = 0.01  # SGD, momentum 0.9, weight decay 5e-4, lr x0.1 at half way
    batch_size: int = 256
    augment: bool = False  # DSA on every batch (off: the full split is large enough, and cheaper)
    images: int | None = None  # training images: None, the whole training split; N, a seeded stratified subset
    early: tuple[float, ...] = (0.1, 1.0)  # epochs after which the validation accuracy is recorded
    fast: FastTrainConfig = field(default_factory=FastTrainConfig)  # the fast trainer's options: all off by default

    def default_early_fitted(self) -> tuple[GroundTruthConfig, tuple[float, ...]]:
        """This config with the default early-stopping points that are not before ``epochs`` left out, and those
        left out (the defaults must fit each other: a 1-epoch ground truth has no early stopping at 1 epoch).
        For ``early`` not set on purpose; points given are checked by :meth:`validate`, even when they equal the
        defaults."""
        dropped = tuple(f for f in self.early if f >= self.epochs)
        return replace(self, early=tuple(f for f in self.early if f < self.epochs)), dropped

    def validate(self) -> None:
        checks.epochs("ground-truth epochs", self.epochs)
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
        self.fast.validate()

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch_size,
            dsa=self.augment,
            channels_last=self.fast.channels_last,
            cuda_graph=self.fast.cuda_graph,
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields; ``fast`` only when an option is on, so that the dict of today's protocol (the
        ground-truth studies' names and cache keys) is the one it had before the options existed."""
        d = {**asdict(self), "early": list(self.early)}
        if self.fast.is_default():
            del d["fast"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GroundTruthConfig:
        fast = d.get("fast")
        return cls(**{**d, "early": tuple(d.get("early", ())), "fast": FastTrainConfig(**fast) if fast else FastTrainConfig()})


# Real-data training protocols by name: one definition shared by a search's promotion, a ladder's full rung,
# `nasproxy train` and the GPU benchmarks (benchmarks/gpu_trainer.py). Each leaves epochs and images to its caller.
TRAINING_PROTOCOLS: Registry[GroundTruthConfig] = Registry("training protocol")
DEFAULT_PROTOCOL = "standard"
# The ground truth's: SGD lr 0.01, momentum 0.9, lr x0.1 half way, batch 256 (the 3- and 10-epoch tables').
TRAINING_PROTOCOLS.add(DEFAULT_PROTOCOL, GroundTruthConfig(early=()))
# Issue 20's first choice for converging in few epochs on a GPU, NOT yet chosen by measurement (the GPU section
# `horizon` measures its ranking): batch 512, one-cycle lr peaking at 0.05 (5x the standard's at twice the batch),
# 20 % warm-up, label smoothing 0.1, equal batches (drop_last) so the step can be one CUDA graph, channels_last.
# channels_last and the CUDA graph apply on CUDA only; on a CPU it is the same schedule in the plain layout.
TRAINING_PROTOCOLS.add(
    "fast",
    GroundTruthConfig(
        lr=0.05,
        batch_size=512,
        early=(),
        fast=FastTrainConfig(schedule="onecycle", warmup=0.2, label_smoothing=0.1, drop_last=True, channels_last=True, cuda_graph=True),
    ),
)


def training_protocol(name: str, epochs: int, images: int | None = None) -> GroundTruthConfig:
    """The protocol registered as ``name`` for ``epochs`` on ``images`` training images (None: all);
    an unknown name is a one-line error listing the known ones."""
    return replace(TRAINING_PROTOCOLS.get(name), epochs=epochs, images=images)


@dataclass
class EvaluateOptions:
    """What ``nasproxy evaluate`` trains, besides the training protocol."""

    runs: int = 5  # fresh networks per synthetic set, as the DC/DSA/DM/DataDAM papers report (mean +- std of 5)
    model: str = ""  # ConvNet spec text; "": ConvNet-3, the papers' evaluation network
    seed: int = 0  # seeds every network and batch order; 0 as every other stage
    device: str = "auto"  # CUDA when present
    data_root: str | None = None  # None: where distill found the real data
    train: TrainConfig = field(default_factory=TrainConfig)  # the protocol (TrainConfig's own defaults)
    hard_labels: bool = False  # a set with soft labels trains on them; true: on its class indices

    def validate(self) -> None:
        """The options alone, before the set is read: ``nasproxy evaluate`` refuses them before it reads the set's meta.json
        (fix60) and imports torch, and :func:`nas_proxy.evaluate.evaluate` checks them for the library's callers (the model's
        spec is parsed by each: the models are a layer above this module)."""
        checks.count("runs", self.runs, checks.RUNS_MAX, checks.RUNS_WHY)
        checks.number("seed", self.seed, 0, checks.SEED_MAX, integer=True)  # as every other stage's: before probe46, -1 and 2**31 ran
        self.train.validate()


ZERO_COST_BATCH = 64  # training images a training-free score sees (the zero-cost papers' batch)


# the datasets that read no data root (an idle --data-root: DistillConfig.idle_options), and where their images come from
NO_ROOT = {"digits": "scikit-learn's copy, installed with nasproxy", "imagefolder": "its images are in the folder it names"}


def reads_no_root(dataset: str) -> str | None:
    """Where the images of ``dataset`` come from when it reads no data root (:data:`NO_ROOT`); None when it reads one."""
    return NO_ROOT.get(dataset.partition(":")[0])


def image_folder(arg: str) -> Path:
    """The folder ``imagefolder:ARG`` reads, as its dataset's name records it (``~`` expanded)."""
    return Path(arg).expanduser()


def canonical_dataset(name: str) -> str:
    """``name`` as datasets are compared: an image folder by its resolved path (``imagefolder:photos``,
    ``imagefolder:./photos/`` and its absolute path are one dataset; a relative one is read from here),
    the others as they are."""
    kind, colon, arg = name.partition(":")
    return f"{kind}:{image_folder(arg).resolve()}" if colon and kind == "imagefolder" and arg else name


def resolve_root(dataset: str, typed: str | None, recorded: str | None = None) -> str | None:
    """Where ``dataset``'s files are: ``typed`` (``--data-root``, this machine's) over ``recorded`` (where a
    set's or a study's machine had them). Typed with a dataset that reads no root it would change
    nothing, and is refused; a recorded one is passed on as it is (a set made before distill refused it)."""
    if typed is not None and (where := reads_no_root(dataset)) is not None:
        raise InvalidArgumentError(f"--data-root changes nothing with dataset {dataset} ({where}): drop it")
    return typed or recorded


IMAGE_SIZE_MAX = 1024  # pixels, an image folder's side after resizing: 2,147,483,647 overflowed PIL's resize (an internal
# error), and 100,000 asked for 30 GB per image (probe42); ImageNet's 224 fits with room to spare


@dataclass(frozen=True)
class DataRef:
    """Which real data: the dataset and the validation split of the synthetic sets."""

    dataset: str
    split_seed: int = 0  # the project's split (distill's default)
    val_fraction: float = 0.1  # fraction of each class held out as validation
    data_root: str | None = None
    image_size: int = 32  # image folders only: the side the synthetic sets were made at

    @classmethod
    def of_synthetic(cls, meta: dict[str, Any], data_root: str | None = None) -> DataRef:
        """The real data and split a synthetic set was made from (``meta``: its ``meta.json``)."""
        split, dataset = meta["split"], meta["dataset"]
        root = resolve_root(dataset["name"], data_root, meta.get("data_root"))
        return cls(dataset["name"], int(split["seed"]), float(split["val_fraction"]), root, int(dataset["image_size"][0]))

    def key(self) -> dict[str, Any]:
        key: dict[str, Any] = {"dataset": self.dataset, "split_seed": self.split_seed, "val_fraction": self.val_fraction}
        if self.dataset.startswith("imagefolder:"):  # the only datasets whose size is a choice
            key["image_size"] = self.image_size
        return key


__all__ = [
    "DEFAULT_PROTOCOL",
    "IMAGE_SIZE_MAX",
    "NO_ROOT",
    "SCHEDULES",
    "TRAINING_PROTOCOLS",
    "ZERO_COST_BATCH",
    "DataRef",
    "EvaluateOptions",
    "FastTrainConfig",
    "GroundTruthConfig",
    "ProxyConfig",
    "TrainConfig",
    "canonical_dataset",
    "image_folder",
    "reads_no_root",
    "resolve_root",
    "training_protocol",
]
