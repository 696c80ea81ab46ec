"""What a correlation run is asked to do (:class:`CorrelateConfig`) and the real data it is about.

This module imports no torch, numpy or scipy: ``nasproxy correlate --help`` prints these defaults
(tests/cli/test_startup.py); :func:`data_ref` imports what reads a synthetic set when called.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from nas_proxy import checks
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.protocols import ZERO_COST_BATCH, DataRef, GroundTruthConfig, ProxyConfig, resolve_root

# fewest resamples a 95 % percentile interval is read from: at 100 each end (the 2.5th, 97.5th percentile) lies
# past 2.5 resamples; at 1 the "interval" is one resample's value, zero wide, not always around the estimate (stop 47)
N_BOOT_MIN = 100
N_BOOT_MAX = 100_000  # most bootstrap resamples: intervals are stable to 0.01 at 1000; more only fills memory (resamples x architectures)


@dataclass
class CorrelateConfig:
    """Everything a correlation run depends on; see ``nasproxy correlate --help`` for each option."""

    space: str
    synthetic: list[str] = field(default_factory=list)  # synthetic sets, each one proxy
    proxies: list[str] | None = None  # proxy tokens or families; None: every proxy the run offers
    ground_truth: GroundTruthConfig = field(default_factory=GroundTruthConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    dataset: str | None = None  # only needed without synthetic sets
    data_root: str | None = None  # None: the dataset's default location
    split_seed: int = DataRef.split_seed  # without synthetic sets: the project's split (distill's default)
    val_fraction: float = DataRef.val_fraction  # likewise distill's default
    seed: int = 0  # ground truth, proxy training and bootstrap; the ceiling uses seed + 1
    ceiling: int | None = None  # architectures trained with a second seed; None: all
    random_subset: bool = True  # add a random real subset of the synthetic sets' size
    zero_cost_batch: int = ZERO_COST_BATCH  # training images a training-free score sees (the zero-cost papers' batch)
    n_boot: int = 1000  # bootstrap resamples: intervals stable to about 0.01
    device: str = "auto"  # CUDA when there is one
    workers: int = 1  # ground-truth processes on this machine
    gt_storage: str | None = None  # None: a journal under studies/
    promote: int = 5  # "proxy + promote K": the proxy's top K trained on full data (issue 12's target: 5)

    def validate(self) -> None:
        """Every value checked before anything is trained or written."""
        checks.text("space", self.space)
        for name, value in (("synthetic", self.synthetic), ("proxies", self.proxies)):
            if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
                raise InvalidArgumentError(f"{name} must be a list of strings, got {value!r}")
        if self.synthetic:  # none: the real data alone (--dataset)
            checks.distinct_folders("--synthetic", self.synthetic)
        if self.proxies is not None:  # None: every proxy
            checks.distinct("proxies", self.proxies)
        self.ground_truth.validate()
        self.proxy.validate()
        for key, text in (("dataset", self.dataset), ("data_root", self.data_root), ("gt_storage", self.gt_storage)):
            if text is not None:
                checks.text(key, text)
        checks.number("split_seed", self.split_seed, 0, checks.SEED_MAX, integer=True)
        checks.number("val_fraction", self.val_fraction, 0, 1, low_open=True, high_open=True)
        checks.number("seed", self.seed, 0, checks.SEED_MAX - 1, integer=True)  # seed + 1 is the ceiling's seed
        checks.number("ceiling", self.ceiling, 0, integer=True, optional=True)
        if not isinstance(self.random_subset, bool):
            raise InvalidArgumentError(f"random_subset must be true or false, got {self.random_subset!r}")
        checks.positive("zero_cost_batch", self.zero_cost_batch)
        check_n_boot(self.n_boot)
        checks.text("device", self.device)
        checks.count("workers", self.workers, checks.WORKERS_MAX, checks.WORKERS_WHY)
        checks.positive("promote", self.promote)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ground_truth"] = self.ground_truth.to_dict()
        return d


def check_n_boot(n_boot: Any, key: str = "n_boot") -> None:
    """Refuse a count of bootstrap resamples outside [:data:`N_BOOT_MIN`, :data:`N_BOOT_MAX`] (``key``: how the user
    spelled it): the one rule of correlate, calibrate and the benchmark scripts."""
    checks.number(key, n_boot, N_BOOT_MIN, N_BOOT_MAX, integer=True)


def check_promote(promote: int, n_archs: int, key: str = "--promote") -> None:
    """Refuse a "proxy + promote K" whose K is not fewer than the ``n_archs`` architectures: it would
    train them all, whatever the proxy ranks (``key``: how the user spelled it, a flag or a preset key)."""
    if promote >= n_archs:
        raise InvalidArgumentError(
            f"{key} {promote} is not fewer than the {n_archs} architectures: 'proxy + promote {promote}' would train "
            f"them all, whatever the proxy ranks; "
            + (f"give K below {n_archs}, or more architectures" if n_archs > 1 else "give more architectures")
        )


def data_ref(config: CorrelateConfig) -> tuple[DataRef, list[dict[str, Any]]]:
    """The real data every synthetic set came from (they must agree), and their metas."""
    from nas_proxy.synthetic import load_synthetic

    metas = [load_synthetic(p).meta for p in config.synthetic]
    refs = {
        (m["dataset"]["name"], int(m["split"]["seed"]), float(m["split"]["val_fraction"])): p
        for m, p in zip(metas, config.synthetic, strict=True)
    }
    if len(refs) > 1:
        listed = "; ".join(f"{p}: {k[0]} split seed {k[1]}" for k, p in refs.items())
        raise InvalidArgumentError(f"the synthetic sets come from different data or splits ({listed}); correlate one dataset at a time")
    if refs:
        name, split_seed, val_fraction = next(iter(refs))
        if config.dataset is not None and config.dataset != name:
            raise InvalidArgumentError(
                f"the synthetic sets are from {name}, the ground truth was asked on {config.dataset}: a proxy must come from the data it predicts"
            )
        root = resolve_root(name, config.data_root, metas[0].get("data_root"))
        sizes = {int(m["dataset"]["image_size"][0]) for m in metas}
        if len(sizes) > 1:
            raise InvalidArgumentError(f"the synthetic sets have different image sizes ({sorted(sizes)}); correlate one size at a time")
        return DataRef(name, split_seed, val_fraction, root, sizes.pop()), metas
    if config.dataset is None:
        raise InvalidArgumentError("without --synthetic sets, name the real data with --dataset")
    return DataRef(config.dataset, config.split_seed, config.val_fraction, config.data_root), metas
