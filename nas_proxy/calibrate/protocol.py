"""The proxy protocols a calibration chooses among, their cost, and their cached scores.

A protocol is a synthetic set plus the :class:`ProxyConfig` fields being calibrated (epochs, lr,
batch size, DSA on/off, and ``seeds`` where ProxyConfig has it). Every dimension is categorical, so
that the fold studies meet the same protocols and reuse their trainings: a proxy score depends on
the protocol, the architecture and the seed, never on the ground truth, so it is trained once and
kept in the calibration's storage (resumable, shareable like any study).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import optuna
import torch

from nas_proxy import checks, interrupts
from nas_proxy.calibrate.config import DEFAULT_CHOICES
from nas_proxy.calibrate.truth import Truth
from nas_proxy.digests import json_sha256
from nas_proxy.errors import DivergedError
from nas_proxy.progress import meter
from nas_proxy.spaces import SearchSpace
from nas_proxy.trainers.synthetic_set import ProxyConfig, ProxyContext, count_flops, ready_to_count_flops

# fields that change only the reports during training (pruning), never the final score
REPORT_FIELDS = ("report_every", "report_images")
CACHE_PREFIX = "score:"


@dataclass(frozen=True)
class Protocol:
    """A synthetic set (its directory as given) and the proxy training on it."""

    synthetic: str
    proxy: ProxyConfig

    def params(self, fields: Iterable[str]) -> dict[str, Any]:
        """As the Optuna parameters of a trial: the set and the calibrated fields."""
        return {"synthetic": self.synthetic, **{f: getattr(self.proxy, f) for f in fields}}


def sample(trial: optuna.Trial, synthetic: list[str], choices: dict[str, list[Any]]) -> Protocol:
    """The protocol of an Optuna trial (every dimension categorical)."""
    chosen = trial.suggest_categorical("synthetic", synthetic)
    values = {k: trial.suggest_categorical(k, list(v)) for k, v in choices.items()}
    return Protocol(str(chosen), dataclasses.replace(ProxyConfig(), **values))


@dataclass
class Score:
    """The proxy score of one architecture under one protocol, and its cost."""

    accuracy: float  # % on the validation split; 0 when training diverged (a search would never pick it)
    flops: int  # forward FLOPs of one image
    seconds: float  # measured, on the calibration's device (varies with load: reported, not optimised)
    cost: float  # FLOPs of the whole proxy: 3 x flops x epochs x images x seeds (training) + flops x validation images


class Scorer:
    """Proxy scores per (protocol, architecture): trained once, cached in a study's user attributes."""

    def __init__(self, cache: optuna.Study, space: SearchSpace, contexts: dict[str, ProxyContext], seed: int, progress: bool) -> None:
        self.cache, self.space, self.contexts, self.seed, self.progress = cache, space, contexts, seed, progress
        self.known: dict[str, Score] = {
            k.removeprefix(CACHE_PREFIX): Score(**v) for k, v in cache.user_attrs.items() if k.startswith(CACHE_PREFIX)
        }
        # forward FLOPs per (architecture, image shape, classes): all they depend on, the space being this one. Each
        # protocol scores every architecture again; counting them once (~5 ms each for a tiny net, more for a real one)
        # instead of once per protocol saves a calibration ~5 % of its CPU time on the suite's tiny sets
        self.flops: dict[tuple[str, tuple[int, int, int], int], int] = {}
        self.said: set[str] = set()  # the batch caps said (each once a calibration: fix61a's rule)
        # every score counts FLOPs: a user's family imports torch._dynamo at its first count, here and not in the first
        # training, where a Ctrl-C waited for that import (before fix56a)
        ready_to_count_flops(space)

    def key(self, protocol: Protocol, arch: Truth) -> str:
        ctx = self.contexts[protocol.synthetic]
        training = {k: v for k, v in protocol.proxy.to_dict().items() if k not in REPORT_FIELDS}
        blob = {
            "synthetic_sha256": ctx.synthetic.meta.get("tensors_sha256"),
            "proxy": training,
            "seed": self.seed,
            "arch_id": arch.arch_id,
            "device": ctx.device.type,  # the same training differs in the last bits between CPU and GPU
        }
        return json_sha256(blob)[:20]

    def scores(self, protocol: Protocol, archs: list[Truth]) -> dict[str, Score]:
        """arch id -> score of every architecture in ``archs`` (training those not cached)."""
        out: dict[str, Score] = {}
        todo = [a for a in archs if self.key(protocol, a) not in self.known]
        base = self.contexts[protocol.synthetic]
        # no intermediate reports: they cost validation passes and never change the final score
        config = dataclasses.replace(protocol.proxy, report_every=protocol.proxy.epochs)
        with checks.caps_held() as caps:  # a capped batch choice said once a calibration, not at every protocol (fix61d)
            ctx = ProxyContext(base.synthetic, base.val_x, base.val_y, base.flip, base.device, config)
        caps.held = [w for w in caps.held if str(w.message) not in self.said]
        self.said.update(str(w.message) for w in caps.held)
        caps.say()
        for arch in meter(todo, "proxy", unit="arch", enabled=self.progress and bool(todo)):
            with interrupts.interruptible():
                score = self._train(ctx, protocol, arch)
            with interrupts.deferred():  # a storage write Ctrl-C must not cut
                self.cache.set_user_attr(CACHE_PREFIX + self.key(protocol, arch), dataclasses.asdict(score))
            self.known[self.key(protocol, arch)] = score
        for a in archs:
            out[a.arch_id] = self.known[self.key(protocol, a)]
        return out

    def _train(self, ctx: ProxyContext, protocol: Protocol, arch: Truth) -> Score:
        shape = (arch.arch_id, ctx.input_shape, ctx.synthetic.num_classes)
        try:
            result = ctx.score(self.space, arch.spec, seed=self.seed, flops=self.flops.get(shape))
            acc, flops, seconds = result.accuracy, result.flops, result.seconds["total"]
        except DivergedError:
            acc, seconds, known = 0.0, math.nan, self.flops.get(shape)
            if known is not None:
                flops = known
            else:
                with torch.no_grad():
                    flops = count_flops(ctx.build(self.space, arch.spec).to(ctx.device), ctx.images)
        self.flops[shape] = flops
        n_images, n_val = int(ctx.images.shape[0]), int(ctx.val_x.shape[0])
        seeds = int(getattr(protocol.proxy, "seeds", 1))
        cost = float(flops) * (3.0 * protocol.proxy.epochs * n_images * seeds + n_val)
        return Score(float(acc), int(flops), 0.0 if math.isnan(seconds) else round(float(seconds), 4), cost)


__all__ = ["DEFAULT_CHOICES", "Protocol", "Score", "Scorer", "sample"]
