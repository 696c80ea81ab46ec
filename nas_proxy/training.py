"""Training a network on in-memory tensors, and measuring its accuracy.

Shared by ``evaluate`` (the field's protocol), the search's proxy trials and the ground truth.
The whole training set lives on the device; an epoch is a seeded permutation of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas_proxy import checks
from nas_proxy.augment import DSA
from nas_proxy.errors import DivergedError
from nas_proxy.utils import derive_seed, generator


@dataclass(frozen=True)
class TrainConfig:
    """The evaluation protocol of DC/DSA/DM (REFERENCE §2) unless stated."""

    epochs: int = 1000  # DC/DSA/DM 1000; the DataDAM code uses 1800
    lr: float = 0.01  # SGD
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 256  # DataDAM code: 64
    lr_decay_at: float = 0.5  # lr x 0.1 at this fraction of the epochs
    dsa: bool = True  # DSA on every batch (per-image parameters)
    amp: bool = True  # bf16 autocast on CUDA

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def uses_amp(self, device: torch.device) -> bool:
        """Whether training on ``device`` autocasts: asked for, and only on CUDA."""
        return self.amp and device.type == "cuda"

    def validate(self) -> None:
        checks.positive("epochs", self.epochs)
        checks.number("lr", self.lr, 0, low_open=True)
        checks.number("momentum", self.momentum, 0, 1, high_open=True)
        checks.number("weight_decay", self.weight_decay, 0)
        checks.positive("batch_size", self.batch_size)
        checks.number("lr_decay_at", self.lr_decay_at, 0, 1)


def train_model(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    config: TrainConfig,
    seed: int,
    flip: bool = True,
    on_epoch: Callable[[int, nn.Module], None] | None = None,
    on_step: Callable[[int, int, nn.Module], None] | None = None,
) -> nn.Module:
    """Train ``model`` (already on its device) on ``x``/``y`` (moved there); returns it in eval mode.

    ``on_epoch(epoch, model)`` runs after every epoch (the search reports to Optuna there);
    ``on_step(epoch, step, model)`` after every optimiser step (early-stopping scores).
    A non-finite loss raises :class:`DivergedError` (checked once per epoch: one host sync).
    """
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    dsa = DSA(flip) if config.dsa else None
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    decay_epoch = int(config.epochs * config.lr_decay_at)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[decay_epoch] if 0 < decay_epoch < config.epochs else [], gamma=0.1)
    amp = config.uses_amp(device)
    n = x.shape[0]
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(n, generator=generator(derive_seed(seed, "epoch", epoch), device), device=device)
        for step, start in enumerate(range(0, n, config.batch_size)):
            idx = order[start : start + config.batch_size]
            xb = x[idx]
            if dsa is not None:
                xb = dsa(xb, derive_seed(seed, "dsa", epoch, step))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if on_step is not None:
                on_step(epoch, step, model)
        if not torch.isfinite(loss):
            raise DivergedError(f"training diverged: the loss became {loss.item()} in epoch {epoch}")
        sched.step()
        if on_epoch is not None:
            on_epoch(epoch, model)
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1024) -> float:
    """Top-1 accuracy (fraction) of ``model`` on ``x``/``y``, in eval mode, batch by batch."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            pred = model(xb).argmax(1)
        correct += int((pred == y[start : start + batch_size].to(device)).sum())
    model.train(was_training)
    return correct / max(1, x.shape[0])
