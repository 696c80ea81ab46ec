"""The proxy a search scores its candidates with: one member of the proxy registry.

``--synthetic DIR`` alone searches on that set's own proxy (as ``correlate`` names it,
``datadam-ipc10``); ``--proxy TOKEN`` names any other member: ``random-ipcN`` (a random real subset
made from the seeded training split of ``--dataset``), ``early@Xep`` (the full-data training stopped
after X epochs), a training-free score (``synflow``). Every trial calls the same
:meth:`Proxy.score` ``correlate`` calls, so a search's score of an architecture is the registry's.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas_proxy.errors import InvalidArgumentError
from nas_proxy.protocols import resolve_root
from nas_proxy.proxies import Proxy, RunSetup, Scored, offered
from nas_proxy.proxies.base import Report
from nas_proxy.proxies.choose import check_training_used, resolve, training_changed
from nas_proxy.search.config import SearchConfig, default_pruner
from nas_proxy.spaces import SearchSpace, get_space
from nas_proxy.synthetic import read_meta
from nas_proxy.trainers.fulldata import DataRef
from nas_proxy.utils import resolve_device


@dataclass
class SearchProxy:
    """The prepared proxy of one search worker, with the data facts the study records."""

    proxy: Proxy
    setup: RunSetup

    @property
    def name(self) -> str:
        """The proxy's token (``datadam-ipc10``, ``early@1ep``): recorded in the study and every trial."""
        return self.proxy.name

    @property
    def synthetic(self) -> str | None:
        """The synthetic set it trains on (given, or a random subset made for the search); None: none."""
        path = self.proxy.facts().get("synthetic")
        return None if path is None else str(path)

    @property
    def device(self) -> torch.device:
        return resolve_device(self.setup.device)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        channels, _, (h, w) = self.setup.shape()
        return channels, h, w

    @property
    def num_classes(self) -> int:
        return self.setup.shape()[1]

    def build(self, space: SearchSpace, spec: dict[str, Any]) -> nn.Module:
        """The candidate's network for this data (untrained; the proxy builds its own to score)."""
        c, h, w = self.input_shape
        return space.build(spec, c, self.num_classes, (h, w))

    def score(self, spec: dict[str, Any], arch_id: str, report: Report | None = None) -> Scored:
        """The registry's score of ``spec``; ``report`` hears the intermediate values of a proxy that has them."""
        if self.proxy.reports:
            return self.proxy.score(spec, arch_id, report=report)  # type: ignore[call-arg]  # reports=True: it takes report=
        return self.proxy.score(spec, arch_id)

    def dataset_facts(self) -> dict[str, Any]:
        c, h, w = self.input_shape
        return {"name": self.setup.data.dataset, "channels": c, "image_size": [h, w], "num_classes": self.num_classes}

    def fingerprint(self, space: SearchSpace) -> dict[str, Any]:
        """What identifies a search's inputs: the space, the proxy, the set's tensors (if any), the data."""
        return {**self.known(space), "synthetic_sha256": self.proxy.facts().get("tensors_sha256")}

    def known(self, space: SearchSpace) -> dict[str, Any]:
        """The :meth:`fingerprint` but the set's tensors: what is known before the proxy is prepared (nothing drawn, the
        data read), which an existing study is checked against before anything is made for it (study.check_before)."""
        return {
            "space_description": space.describe(),
            # the data's pixels and labels too: a real-data proxy's study resumed on images changed in place since mixed
            # old and new scores, exit 0, before stop 50 (fix50e); a set's study is kept apart by the set's own check
            "dataset": {**self.dataset_facts(), "content_sha256": self.setup.content_sha256()},
            "proxy": self.name,
            "proxy_trains": self.proxy.trains,
        }


def _data(config: SearchConfig) -> DataRef:
    """The real data: the set's (``--synthetic``) or ``--dataset``'s, with the default split."""
    token = f"--ladder {config.ladder!r}" if config.ladder else f"--proxy {config.proxy_name}" if config.proxy_name else "a search"
    if config.synthetic is not None and config.dataset is not None:
        raise InvalidArgumentError(
            f"--synthetic {config.synthetic} and --dataset {config.dataset} both name the data; a set's proxy uses the set's own data: "
            "give --synthetic DIR alone, or --dataset NAME with a --proxy that uses real data (random-ipcN, early@Xep, synflow)"
        )
    if config.synthetic is not None:  # its meta.json alone: the set's proxy reads and checks the whole set once, as it is offered
        return DataRef.of_synthetic(read_meta(Path(config.synthetic)), config.data_root)  # (before fix55a, here too)
    if config.dataset is None:
        raise InvalidArgumentError(
            f"{token} needs data: --dataset NAME for a proxy on real data (random-ipcN, early@Xep, a training-free score), "
            "--synthetic DIR for a distilled set's own proxy"
        )
    if config.proxy_name is None:
        raise InvalidArgumentError(
            f"--dataset {config.dataset} needs --proxy TOKEN, the proxy that scores on it (random-ipc10, early@1ep, synflow, ...); "
            "or search on a distilled set with --synthetic DIR"
        )
    return DataRef(config.dataset, data_root=resolve_root(config.dataset, config.data_root))


def _setup(config: SearchConfig, workdir: Path, data: DataRef | None) -> RunSetup:
    return RunSetup(
        space=get_space(config.space),
        data=_data(config) if data is None else data,
        out=workdir,
        training=config.proxy,
        synthetic=[config.synthetic] if config.synthetic is not None else [],
        random_subset=False,  # made by name (random-ipcN) when asked for, not offered beside a set
        seed=config.seed,
        device=config.device,
    )


def _choose(config: SearchConfig, setup: RunSetup, token: str | None) -> Proxy:
    """The proxy ``token`` names (None: the --synthetic set's own), not prepared; one that scores on real
    data beside a --synthetic set is refused."""
    proxy = next(p for p in offered(setup) if not p.real_data) if token is None else resolve(setup, token)
    if proxy.real_data and config.synthetic is not None:
        raise InvalidArgumentError(
            f"--proxy {proxy.name} scores on real data, not on --synthetic {config.synthetic}: "
            "drop --synthetic and give --dataset NAME (the set's data is its meta.json's dataset)"
        )
    return proxy


def check_options_used(
    config: SearchConfig, tokens: list[str | None], asked: Collection[str] | None = None, made: Proxy | None = None
) -> None:
    """Refuse what changes nothing for the proxies ``tokens`` name (a search's one proxy, None for the
    set's own, or a ladder's rungs below ``full``): proxy-training options that none of them uses
    (:func:`~nas_proxy.proxies.choose.check_training_used`), and a pruner other than the default or
    none when the first (the only one a pruner judges) reports no intermediate values. Nothing is
    prepared or written. ``asked``: the proxy-training fields the user set (flags, a config file's
    ``[search.proxy]``), so that a proxy profile's values, which serve whichever proxy it is used
    with, are never refused; None: every field. ``made``: the proxy of ``tokens``' only one, already resolved (the
    search's own, by :func:`open_proxy`): not resolved again, so its set is not read again."""
    pruner = config.pruner not in (default_pruner(config.objectives), "none")
    if not pruner and not training_changed(config.proxy, asked):
        return
    if made is not None and len(tokens) == 1:
        proxies = [made]
    else:
        first = config if config.proxy_name is not None else replace(config, proxy_name=tokens[0])  # a ladder's: its first rung
        setup = _setup(first, Path("."), None)  # resolved, never prepared: no folder is read or made
        proxies = [_choose(config, setup, token) for token in tokens]
    check_training_used(config.proxy, proxies, asked, "search")
    if pruner and not proxies[0].reports:
        raise InvalidArgumentError(
            f"--pruner {config.pruner} changes nothing with {proxies[0].name}, which reports no intermediate values to prune on "
            "(only a set's training does): drop it, or --pruner none"
        )


def open_proxy(config: SearchConfig, workdir: Path, data: DataRef | None = None, prepare: bool = True) -> SearchProxy:
    """The search's proxy, resolved through the registry and prepared (a random subset is made in
    ``workdir``, once: the study's other workers find it there). One-line errors for a token
    nothing knows, a malformed one, and data given twice or not at all. ``data``: the real data
    (a ladder's upper rungs: the first rung's), instead of the config's. ``prepare=False``: resolved
    only, nothing made (its data's shape is known): the caller checks first (:meth:`~nas_proxy.proxies.base.Proxy.check`
    among them), then prepares it."""
    resolve_device(config.device)  # an unknown device is refused here, before a study is made
    setup = _setup(config, workdir, data)
    proxy = _choose(config, setup, config.proxy_name)
    if prepare:
        proxy.prepare()
    return SearchProxy(proxy, setup)


__all__ = ["SearchProxy", "check_options_used", "open_proxy"]
