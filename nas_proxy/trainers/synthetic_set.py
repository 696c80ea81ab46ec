"""Training a candidate on a synthetic set and scoring it on the real validation split (the
synthetic-set proxy, and a search trial on it).

Everything a worker needs is loaded once (:class:`ProxyContext`): the synthetic images on the
device and the held-out validation split the distillation never saw. Never the test set.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from nas_proxy import checks
from nas_proxy.batched import ModelStack
from nas_proxy.data import load_dataset
from nas_proxy.data.base import Dataset
from nas_proxy.models.flops import module_flops
from nas_proxy.protocols import ProxyConfig, resolve_root
from nas_proxy.spaces import ConvNetSpace, MacroSpace, NB201Space, SearchSpace, arch_id
from nas_proxy.synthetic import SyntheticSet, load_synthetic
from nas_proxy.training import accuracies, hit_rates, hits, train_model
from nas_proxy.utils import derive_seed, resolve_device


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


# A network's initial weights come from torch's global generator, seeded just before it is built, and counting its
# FLOPs installs global module hooks: a process that runs trials on several threads builds one network at a time.
_INIT_LOCK = threading.Lock()


def count_flops(model: nn.Module, sample: Tensor) -> int:
    """Forward FLOPs of one image as torch's FlopCounterMode counts them (convolutions and matrix products): from the
    layers where :func:`~nas_proxy.models.flops.module_flops` vouches for the count (the project's own networks), by
    FlopCounterMode otherwise."""
    flops = module_flops(model, sample[:1])
    if flops is not None:
        return flops
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(sample[:1])
    model.train(was_training)
    return int(counter.get_total_flops())


# spaces whose every network is one of the project's own (nas_proxy/models/flops.py counts them): exact types, as a
# subclass (a user's family) may build another
COUNTED_SPACES: tuple[type[SearchSpace], ...] = (ConvNetSpace, MacroSpace, NB201Space)


def ready_to_count_flops(space: SearchSpace | None = None) -> None:
    """Make FlopCounterMode's one-off set-up now, before any trial: its first use imports torch._dynamo
    (and sympy: seconds), and a Ctrl-C during an import is held until it ends (:mod:`nas_proxy.interrupts`),
    so a first trial that counted its FLOPs acted on Ctrl-C 5 to 10 s late (found by drill42). A later call
    costs a tiny forward pass. Nothing where the networks to count are all ``space``'s, and its networks are
    counted without FlopCounterMode (:data:`COUNTED_SPACES`)."""
    if space is not None and type(space) in COUNTED_SPACES:
        return
    from torch.utils.flop_counter import FlopCounterMode

    with _INIT_LOCK, torch.no_grad(), FlopCounterMode(display=False):
        nn.Linear(1, 1)(torch.zeros(1, 1))


def data_of(syn: SyntheticSet, data_root: str | None = None) -> Dataset:
    """The real data ``syn`` was made from, as found now (``data_root``: where to look, else where its meta.json says),
    refused in one line where it is not those (:meth:`~nas_proxy.data.base.Dataset.check_described`): else every trial
    fails at the first layer that meets the validation images, or scores the set against images changed since."""
    d = syn.dataset
    dataset = load_dataset(d["name"], resolve_root(d["name"], data_root, syn.meta.get("data_root")), image_size=int(d["image_size"][0]))
    dataset.check_described(d, str(syn.path))
    return dataset


class ProxyContext:
    """A synthetic set and the real validation split, loaded once per worker."""

    def __init__(
        self, synthetic: SyntheticSet, val_x: Tensor, val_y: Tensor, flip: bool, device: torch.device, config: ProxyConfig
    ) -> None:
        self.synthetic, self.config, self.device, self.flip = synthetic, config, device, flip
        self.images = synthetic.images.to(device)  # (N, C, H, W): the whole set stays on the device
        self.labels = synthetic.targets(config.hard_labels).to(device)  # (N,) classes, or (N, classes) soft labels
        self.val_x, self.val_y = val_x.to(device), val_y.to(device)
        n, v = int(self.images.shape[0]), int(val_x.shape[0])  # what the batch and the report images are taken from: a
        # value above them is capped, said once a process (the rule of every batch, fix61a: before, capped without a word)
        self.batch_size = checks.batch(
            "proxy batch_size", config.batch_size, n, f"images of {synthetic.path}", ProxyConfig.batch_size, f"each step trains on all {n}"
        )
        self.report_images = checks.batch(
            "proxy report_images",
            config.report_images,
            v,
            "images of the validation split",
            ProxyConfig.report_images,
            f"each report scores all {v}",
        )
        g = torch.Generator().manual_seed(0)  # a fixed subset: every trial is judged on the same images
        self.report_index = torch.randperm(val_x.shape[0], generator=g)[: self.report_images].to(device)
        self.report_x, self.report_y = self.val_x[self.report_index], self.val_y[self.report_index]
        self.vectorize: bool | None = None  # seeds > 1: ModelStack's default (a loop over the copies) unless set

    @classmethod
    def load(
        cls, synthetic: Path | str | SyntheticSet, device: str = "auto", config: ProxyConfig | None = None, data_root: str | None = None
    ) -> ProxyContext:
        """The context of the set in folder ``synthetic``, or of the set a caller already loaded (and so checked and
        digested: before fix55a a search read its set again here, after its checks and its proxy's prepare had)."""
        syn = synthetic if isinstance(synthetic, SyntheticSet) else load_synthetic(synthetic)
        split = syn.meta["split"]
        dataset = data_of(syn, data_root)
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
        self,
        space: SearchSpace,
        spec: dict[str, Any],
        seed: int = 0,
        report: Callable[[int, float], None] | None = None,
        flops: int | None = None,
    ) -> ProxyResult:
        """Train ``spec`` on the synthetic set and score it on the validation split.

        ``report(epoch, accuracy)`` receives the scores on the report images every ``report_every``
        epochs before the last (Optuna's ``trial.report``); it may raise ``optuna.TrialPruned``.
        The score after the last epoch ends the result's ``curve`` (a search reports it then). The
        reports are the trial's only host syncs before the final score (each also checks for
        divergence). The network's initialisation depends only on ``seed`` and the architecture, so
        the same candidate scores the same in every study.

        With ``seeds`` = K > 1, copy k is the network this trains with seed ``seed + k`` (same
        initialisation, batches and augmentation), all K trained at once as a ``ModelStack``; the
        reports and the score are the mean accuracy of the copies.

        ``flops``: the forward FLOPs of ``spec`` on one of this context's images where the caller already has them
        (a calibration scores each architecture under several protocols); counted here otherwise.
        """
        aid, k = arch_id(spec), self.config.seeds
        run_seeds = [derive_seed(seed + c, "proxy", aid) for c in range(k)]  # copy c: the network seed + c alone would train
        t0 = time.perf_counter()
        models = []
        with _INIT_LOCK:  # several trials in one process (threads, one CUDA stream each) must not interleave here
            for s in run_seeds:
                torch.manual_seed(s)
                models.append(self.build(space, spec).to(self.device))
            params, flops = count_params(models[0]), count_flops(models[0], self.images) if flops is None else flops
        net: nn.Module | ModelStack = models[0] if k == 1 else ModelStack(models, self.vectorize)
        del models
        t1 = time.perf_counter()
        curve: list[tuple[int, float]] = []
        every, amp = max(1, self.config.report_every), self.config.amp

        def mean_accuracy(x: Tensor, y: Tensor) -> float:
            return 100.0 * statistics.fmean(accuracies(net, x, y, amp=amp))

        def on_epoch(epoch: int, _: object) -> None:
            done = epoch + 1
            if done % every == 0 and done < self.config.epochs:
                curve.append((done, mean_accuracy(self.report_x, self.report_y)))
                if report is not None:
                    report(*curve[-1])

        train = replace(self.config.train_config(), batch_size=self.batch_size)  # the batch used (the same steps as asked)
        train_model(net, self.images, self.labels, train, run_seeds, self.flip, on_epoch, check_every=every)
        t2 = time.perf_counter()
        hit = hits(net, self.val_x, self.val_y, amp=amp)  # (K, N)
        per_seed = [100.0 * a for a in hit_rates(hit)]
        # the last report: the report images' hits among the final score's (the report images are validation images,
        # scored once; scoring them again cost ~5 % of a Fashion-MNIST trial: benchmarks/RESULTS.md §30)
        curve.append((self.config.epochs, 100.0 * statistics.fmean(hit_rates(hit[:, self.report_index]))))
        t3 = time.perf_counter()
        seconds = {"build": t1 - t0, "train": t2 - t1, "validate": t3 - t2, "total": t3 - t0}
        rounded = {name: round(v, 4) for name, v in seconds.items()}
        return ProxyResult(aid, spec, statistics.fmean(per_seed), params, flops, rounded, curve, per_seed if k > 1 else [])
