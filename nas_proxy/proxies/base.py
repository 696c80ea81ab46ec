"""The proxy interface: what every way of guessing an architecture's full-data accuracy provides.

A proxy kind is one class derived from :class:`Proxy` and registered with :func:`register`. Its
:meth:`Proxy.offer` says which proxies of that kind a run can have (one per synthetic set, one per
early-stopping point, ...), each with a token name (``datadam-ipc10``, ``early@1ep``, ``synflow``)
and a family (``datadam``, ``early``, ``training-free``) that selects all of them at once.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from torch import Tensor

from nas_proxy.digests import json_sha256
from nas_proxy.protocols import ZERO_COST_BATCH
from nas_proxy.registry import Registry, registers
from nas_proxy.spaces import SearchSpace
from nas_proxy.trainers.fulldata import DataRef, GroundTruthConfig
from nas_proxy.trainers.synthetic_set import ProxyConfig


class DataSource(Protocol):
    """Which real data (``nas_proxy.groundtruth.study.DataRef`` is one)."""

    @property
    def dataset(self) -> str: ...
    @property
    def split_seed(self) -> int: ...
    @property
    def val_fraction(self) -> float: ...
    @property
    def data_root(self) -> str | None: ...
    @property
    def image_size(self) -> int: ...

    def key(self) -> dict[str, Any]: ...


# ``report(step, value)``: an intermediate score while a proxy scores (a search's ``trial.report``;
# it may raise ``optuna.TrialPruned``). Steps are the proxy's own (epochs of a synthetic-set training).
Report = Callable[[int, float], None]


@dataclass(frozen=True)
class Scored:
    """One architecture's proxy score (higher predicts better) and the seconds it took.

    ``curve``: the ``(step, value)`` points a proxy that :attr:`Proxy.reports` passed on the way, and
    its last one after training (a search reports it as the final intermediate value); empty for the
    others. ``details``: what the proxy knows about this scoring beyond value and seconds (a
    search stores them as trial attributes: the cost by phase, the set's hash, per-seed scores; each a
    scalar, which the dashboard can list, sort and plot)."""

    value: float
    seconds: float
    curve: tuple[tuple[int, float], ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class RunSetup:
    """What every proxy of one run shares. ``truth`` is filled with the ground-truth trainings
    (``(arch_id, seed) -> record``) before the proxies are prepared; early stopping reads it
    (without it, it trains up to its point itself)."""

    space: SearchSpace
    data: DataRef
    out: Path  # the run's directory: score caches, the random subset made for it
    training: ProxyConfig = field(default_factory=ProxyConfig)  # how a synthetic-set proxy trains
    ground_truth: GroundTruthConfig = field(default_factory=GroundTruthConfig)  # the real-data training early stopping stops
    synthetic: list[str] = field(default_factory=list)  # synthetic-set directories, each one proxy
    random_subset: bool = True  # offer a random real subset of the synthetic sets' size
    early: tuple[float, ...] = ()  # early-stopping points (epochs) the ground truth records
    zero_cost_batch: int = ZERO_COST_BATCH  # training images a training-free score sees (the zero-cost papers' size)
    seed: int = 0
    device: str = "cpu"
    # None: no ground truth in this run (a search), and early stopping trains on its own
    truth: Mapping[tuple[str, int], dict[str, Any]] | None = None
    # scores a search already made on ``synthetic[0]``: arch id -> (tensors sha256, value, seconds)
    searched: Mapping[str, tuple[str | None, float | None, float | None]] = field(default_factory=dict)
    _batch: tuple[Tensor, Tensor, int, int, tuple[int, int]] | None = field(default=None, init=False, repr=False, compare=False)
    _shape: tuple[int, int, tuple[int, int]] | None = field(default=None, init=False, repr=False, compare=False)
    _content: str | None = field(default=None, init=False, repr=False, compare=False)

    def device_type(self) -> str:
        """``cpu`` or ``cuda``: what :attr:`device` resolves to here (``auto`` included)."""
        from nas_proxy.utils import resolve_device

        return resolve_device(self.device).type

    def shape(self) -> tuple[int, int, tuple[int, int]]:
        """``(channels, classes, image size)`` of the real data (loaded once)."""
        if self._shape is None:
            self._read()
        assert self._shape is not None
        return self._shape

    def content_sha256(self) -> str:
        """The real data's :meth:`~nas_proxy.data.base.Dataset.content_sha256` (pixels and labels; loaded once):
        recorded with every cached score, which data found changed since is not reused for."""
        if self._content is None:
            self._read()
        assert self._content is not None
        return self._content

    def _read(self) -> None:
        from nas_proxy.data import load_dataset

        ref = self.data
        dataset = load_dataset(ref.dataset, ref.data_root, image_size=ref.image_size)
        self._shape = (dataset.channels, dataset.num_classes, dataset.image_size)
        self._content = dataset.content_sha256()

    def real_batch(self) -> tuple[Tensor, Tensor, int, int, tuple[int, int]]:
        """``(x, y, channels, classes, image size)``: ``zero_cost_batch`` seeded training images on
        the device, drawn once per run and shared by every training-free score."""
        if self._batch is None:
            import torch

            from nas_proxy.data import load_dataset
            from nas_proxy.utils import derive_seed, generator, resolve_device

            ref = self.data
            dataset = load_dataset(ref.dataset, ref.data_root, image_size=ref.image_size)
            splits = dataset.split(ref.split_seed, ref.val_fraction)
            g = generator(derive_seed(self.seed, "zero-cost-batch"))
            pick = torch.randperm(splits.train_x.shape[0], generator=g)[: self.zero_cost_batch]
            device = resolve_device(self.device)
            x, y = splits.train_x[pick].to(device), splits.train_y[pick].to(device)
            self._batch = (x, y, dataset.channels, dataset.num_classes, dataset.image_size)
            self._shape, self._content = self._batch[2:], dataset.content_sha256()  # read once: shape() and the caches' need
        return self._batch


def cache_key(*parts: Any) -> str:
    """12 hex digits of the sha256 of ``parts`` as JSON: a name for what determines a score."""
    return json_sha256(parts, default=str)[:12]


class Proxy(ABC):
    """One proxy of one run: prepared once, then asked for one architecture at a time."""

    kind: ClassVar[str]  # the registry name of the class
    trains: ClassVar[bool]  # whether it trains the network (False: a score at initialisation)
    cached: ClassVar[bool] = True  # whether the caller caches its scores (False: they live elsewhere)
    pattern: ClassVar[str] = ""  # the names :meth:`named` makes, for errors (``early@Xep``); empty: none
    reports: ClassVar[bool] = False  # whether score() takes ``report`` and passes intermediate values (a search can prune it)
    order: ClassVar[int] = 100  # where its rows come in a report (lower first); new kinds go last

    def __init__(self, setup: RunSetup, name: str, family: str) -> None:
        self.setup = setup
        self.name = name  # a token: no spaces, unique in a run
        self.family = family  # a token that selects every proxy of the family
        self.one_off_seconds = 0.0  # paid once per run, not per architecture (distillation)
        self.real_data = True  # scores from the real data of ``setup.data`` (False: from a synthetic set given by path)

    @classmethod
    @abstractmethod
    def offer(cls, setup: RunSetup) -> list[Proxy]:
        """The proxies of this kind that ``setup`` can have (possibly none)."""

    @classmethod
    def named(cls, setup: RunSetup, token: str) -> Proxy | None:
        """The proxy of this kind that ``token`` names when the kind makes proxies by name alone
        (``early@2ep``, ``random-ipc50``), beyond those :meth:`offer` lists; None: not one of those
        (the default). A malformed name of this kind is refused here, naming the rule."""
        return None

    def check(self) -> None:  # noqa: B027 (an optional hook: most proxies make nothing that the data can refuse)
        """Before :meth:`prepare`, refuse in one line what it could not make from the run's data, writing nothing: a
        search's ladder asks every rung before its first rung makes anything."""

    def prepare(self) -> None:  # noqa: B027 (an optional hook: most proxies need nothing)
        """Once per run, before :meth:`cache_key` and :meth:`score` (make files, read metadata)."""

    def ready(self) -> None:  # noqa: B027 (an optional hook: most proxies load nothing)
        """After :meth:`prepare`, load now what :meth:`score` would load at its first call, so that its
        problems show before a study is made (a search calls it for the proxy it scores with itself)."""

    @abstractmethod
    def cache_key(self) -> str:
        """A file-name-safe key of everything that determines the scores (same inputs, same key)."""

    @abstractmethod
    def score(self, spec: dict[str, Any], arch_id: str) -> Scored:
        """The score of one architecture; expensive loading happens on the first call. A proxy
        that :attr:`reports` also takes ``report`` (a :data:`Report`, default None) and calls it
        with every intermediate value before the last; it may raise to stop the scoring."""

    def known(self) -> dict[str, Scored]:
        """Scores already made elsewhere with the same inputs (a search's own), by arch id."""
        return {}

    def facts(self) -> dict[str, Any]:
        """What the report records about this proxy's inputs (a synthetic set's path and hash)."""
        return {}

    def describe(self) -> str:
        """One sentence: how this proxy scores an architecture (the report's protocol)."""
        return ""


P = TypeVar("P", bound=type[Proxy])
PROXY_KINDS: Registry[type[Proxy]] = Registry("proxy kind")  # kind -> class


def register(kind: str) -> Callable[[P], P]:
    """Class decorator: ``@register("mine")`` makes the class's proxies available to every run."""

    @registers  # a refused registration names the user's @register line, not this one
    def add(cls: P) -> P:
        PROXY_KINDS.add(kind, cls)
        cls.kind = kind
        return cls

    return add


def nan_scored() -> Scored:
    """What a proxy returns for an architecture it cannot score."""
    return Scored(math.nan, math.nan)
