"""The proxy trial: train a candidate on the synthetic set, score it on the real validation split.

Everything a worker needs is loaded once (:class:`ProxyContext`): the synthetic images on the
device and the held-out validation split the distillation never saw. Never the test set.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from nas_proxy import checks
from nas_proxy.batched import ModelStack, stack_accuracy, train_stack
from nas_proxy.data import load_dataset
from nas_proxy.spaces import SearchSpace, arch_id
from nas_proxy.synthetic import SyntheticSet, load_synthetic
from nas_proxy.training import TrainConfig, accuracy, train_model
from nas_proxy.utils import derive_seed, resolve_device


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
        checks.positive("proxy epochs", self.epochs)
        checks.number("proxy lr", self.lr, 0, checks.LR_MAX, low_open=True)
        checks.positive("proxy batch_size", self.batch_size)
        checks.positive("proxy report_every", self.report_every)
        checks.positive("proxy report_images", self.report_images)
        checks.positive("proxy seeds", self.seeds)

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


@dataclass
class ProxyResult:
    """The proxy score of one architecture and what it cost."""

    arch_id: str
    spec: dict[str, Any]
    accuracy: float  # % on the real validation split
    params: int
    flops: int  # forward FLOPs of one image (torch's counter)
    seconds: dict[str, float]  # build, train, validate, total
    curve: list[tuple[int, float]] = field(default_factory=list)  # (epoch, % on the report images)
    seed_scores: list[float] = field(default_factory=list)  # % of every copy when seeds > 1 (accuracy is their mean)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not self.seed_scores:  # one seed: the record it always had
            del d["seed_scores"]
        return d

    def seed_attrs(self) -> dict[str, Any]:
        """The per-seed scores and their spread (sample std, points) as trial attributes; none for one seed."""
        if not self.seed_scores:
            return {}
        return {"seed_scores": [round(a, 4) for a in self.seed_scores], "seed_std": round(statistics.stdev(self.seed_scores), 4)}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, sample: Tensor) -> int:
    """Forward FLOPs of one image, counted by torch (convolutions and matrix products)."""
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(sample[:1])
    model.train(was_training)
    return int(counter.get_total_flops())


class ProxyContext:
    """A synthetic set and the real validation split, loaded once per worker."""

    def __init__(
        self, synthetic: SyntheticSet, val_x: Tensor, val_y: Tensor, flip: bool, device: torch.device, config: ProxyConfig
    ) -> None:
        self.synthetic, self.config, self.device, self.flip = synthetic, config, device, flip
        self.images = synthetic.images.to(device)  # (N, C, H, W): the whole set stays on the device
        self.labels = synthetic.targets(config.hard_labels).to(device)  # (N,) classes, or (N, classes) soft labels
        self.val_x, self.val_y = val_x.to(device), val_y.to(device)
        g = torch.Generator().manual_seed(0)  # a fixed subset: every trial is judged on the same images
        subset = torch.randperm(val_x.shape[0], generator=g)[: config.report_images].to(device)
        self.report_x, self.report_y = self.val_x[subset], self.val_y[subset]
        self.vectorize: bool | None = None  # seeds > 1: ModelStack's default (a loop over the copies) unless set

    @classmethod
    def load(
        cls, synthetic_dir: Path | str, device: str = "auto", config: ProxyConfig | None = None, data_root: str | None = None
    ) -> ProxyContext:
        syn = load_synthetic(synthetic_dir)
        d, split = syn.dataset, syn.meta["split"]
        dataset = load_dataset(d["name"], data_root or syn.meta.get("data_root"), image_size=int(d["image_size"][0]))
        splits = dataset.split(int(split["seed"]), float(split["val_fraction"]))
        return cls(syn, splits.val_x, splits.val_y, dataset.flip, resolve_device(device), config or ProxyConfig())

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def build(self, space: SearchSpace, spec: dict[str, Any]) -> nn.Module:
        c, h, w = self.input_shape
        return space.build(spec, c, self.synthetic.num_classes, (h, w))

    def score(
        self, space: SearchSpace, spec: dict[str, Any], seed: int = 0, report: Callable[[int, float], None] | None = None
    ) -> ProxyResult:
        """Train ``spec`` on the synthetic set and score it on the validation split.

        ``report(epoch, accuracy)`` receives the scores on the report images every ``report_every``
        epochs (Optuna's ``trial.report``), and once more after the last epoch; before the last
        it may raise ``optuna.TrialPruned``. The reports are the trial's only host syncs before
        the final score (each also checks for divergence). The network's initialisation depends only on
        ``seed`` and the architecture, so the same candidate scores the same in every study.
        """
        if self.config.seeds > 1:
            return self._score_stack(space, spec, seed, report)
        aid = arch_id(spec)
        run_seed = derive_seed(seed, "proxy", aid)
        t0 = time.perf_counter()
        torch.manual_seed(run_seed)
        model = self.build(space, spec).to(self.device)
        params, flops = count_params(model), count_flops(model, self.images)
        t1 = time.perf_counter()
        curve: list[tuple[int, float]] = []
        every, amp = max(1, self.config.report_every), self.config.amp

        def on_epoch(epoch: int, net: nn.Module) -> None:
            done = epoch + 1
            if done % every == 0 and done < self.config.epochs:
                acc = 100.0 * accuracy(net, self.report_x, self.report_y, amp=amp)
                curve.append((done, acc))
                if report is not None:
                    report(done, acc)

        train_model(model, self.images, self.labels, self.config.train_config(), run_seed, self.flip, on_epoch, check_every=every)
        t2 = time.perf_counter()
        final = 100.0 * accuracy(model, self.val_x, self.val_y, amp=amp)
        curve.append((self.config.epochs, 100.0 * accuracy(model, self.report_x, self.report_y, amp=amp)))
        t3 = time.perf_counter()
        if report is not None:
            report(*curve[-1])
        seconds = {"build": t1 - t0, "train": t2 - t1, "validate": t3 - t2, "total": t3 - t0}
        return ProxyResult(aid, spec, final, params, flops, {k: round(v, 4) for k, v in seconds.items()}, curve)

    def _score_stack(self, space: SearchSpace, spec: dict[str, Any], seed: int, report: Callable[[int, float], None] | None) -> ProxyResult:
        """``score`` with ``seeds`` = K > 1: copy k is the network ``score`` trains with seed ``seed + k``
        (same initialisation, batches and augmentation), all K trained at once (``nas_proxy.batched``).
        The reports and the score are the mean accuracy of the copies."""
        aid, k = arch_id(spec), self.config.seeds
        run_seeds = [derive_seed(seed + c, "proxy", aid) for c in range(k)]
        t0 = time.perf_counter()
        models = []
        for s in run_seeds:
            torch.manual_seed(s)
            models.append(self.build(space, spec).to(self.device))
        params, flops = count_params(models[0]), count_flops(models[0], self.images)
        stack = ModelStack(models, self.vectorize)
        del models
        t1 = time.perf_counter()
        curve: list[tuple[int, float]] = []
        every, amp = max(1, self.config.report_every), self.config.amp

        def mean_accuracy(x: Tensor, y: Tensor) -> float:
            return 100.0 * statistics.fmean(stack_accuracy(stack, x, y, amp=amp))

        def on_epoch(epoch: int, _: ModelStack) -> None:
            done = epoch + 1
            if done % every == 0 and done < self.config.epochs:
                curve.append((done, mean_accuracy(self.report_x, self.report_y)))
                if report is not None:
                    report(*curve[-1])

        train_stack(stack, self.images, self.labels, self.config.train_config(), run_seeds, self.flip, on_epoch, check_every=every)
        t2 = time.perf_counter()
        per_seed = [100.0 * a for a in stack_accuracy(stack, self.val_x, self.val_y, amp=amp)]
        curve.append((self.config.epochs, mean_accuracy(self.report_x, self.report_y)))
        t3 = time.perf_counter()
        if report is not None:
            report(*curve[-1])
        seconds = {"build": t1 - t0, "train": t2 - t1, "validate": t3 - t2, "total": t3 - t0}
        rounded = {name: round(v, 4) for name, v in seconds.items()}
        return ProxyResult(aid, spec, statistics.fmean(per_seed), params, flops, rounded, curve, per_seed)
