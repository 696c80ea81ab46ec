"""Learning-rate schedules of the real-data trainer, by name (``FastTrainConfig.schedule``).

``step`` is today's protocol (lr x0.1 at ``TrainConfig.lr_decay_at``, stepped once per epoch); the
others are stepped once per optimiser step, so that a warm-up and a decay shape any horizon the same:

- ``cosine``: linear warm-up from 0 over ``warmup`` of the steps, then half a cosine down to 0
  (SGDR without restarts, as NAS-Bench-201 trains);
- ``onecycle``: ``torch.optim.lr_scheduler.OneCycleLR`` (Smith and Topin), a linear rise to the lr over
  ``warmup`` of the steps (0: torch's 0.3), then a cosine anneal to lr / 10^4.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from nas_proxy.protocols import TrainConfig
from nas_proxy.registry import Registry


@dataclass(frozen=True)
class Schedule:
    """A scheduler for an optimiser, and whether it is stepped after every optimiser step (else after every epoch)."""

    scheduler: torch.optim.lr_scheduler.LRScheduler
    per_step: bool


Factory = Callable[[torch.optim.Optimizer, TrainConfig, int, float], Schedule]  # (optimiser, protocol, steps in all, warmup)
SCHEDULES: Registry[Factory] = Registry("lr schedule")


@SCHEDULES.register("step")
def step(opt: torch.optim.Optimizer, config: TrainConfig, total_steps: int, warmup: float) -> Schedule:
    decay_epoch = int(config.epochs * config.lr_decay_at)
    milestones = [decay_epoch] if 0 < decay_epoch < config.epochs else []
    return Schedule(torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1), per_step=False)


def cosine_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """The lr multiplier of optimiser step ``step`` (0-based): (step+1)/warmup during the warm-up, then cosine to 0."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    done = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, done)))


@SCHEDULES.register("cosine")
def cosine(opt: torch.optim.Optimizer, config: TrainConfig, total_steps: int, warmup: float) -> Schedule:
    warmup_steps = round(warmup * total_steps)
    return Schedule(torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cosine_factor(s, total_steps, warmup_steps)), per_step=True)


@SCHEDULES.register("onecycle")
def onecycle(opt: torch.optim.Optimizer, config: TrainConfig, total_steps: int, warmup: float) -> Schedule:
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config.lr, total_steps=total_steps, pct_start=warmup or 0.3, cycle_momentum=False, anneal_strategy="cos"
    )
    return Schedule(sched, per_step=True)


def make_schedule(name: str, opt: torch.optim.Optimizer, config: TrainConfig, total_steps: int, warmup: float) -> Schedule:
    """The schedule ``name`` of ``opt`` for a training of ``total_steps`` optimiser steps."""
    return SCHEDULES.get(name)(opt, config, total_steps, warmup)
