"""Training a network on in-memory tensors, and measuring its accuracy.

Shared by ``evaluate`` (the field's protocol), the search's proxy trials and the ground truth.
The whole training set lives on the device; an epoch is a seeded permutation of it. Nothing in an
epoch reads a value back to the host: divergence is a flag on the device, read at check points.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas_proxy.augment import DSA
from nas_proxy.errors import DivergedError
from nas_proxy.utils import derive_seed, generator


@dataclass(frozen=True)
class TrainConfig:
    """The evaluation protocol of DC/DSA/DM (REFERENCE §2) unless stated.

    ``amp``, ``channels_last`` and ``cuda_graph`` change how a CUDA device runs the same training;
    on the CPU they do nothing, so CPU results are the same with them on or off.
    """

    epochs: int = 1000  # DC/DSA/DM 1000; the DataDAM code uses 1800
    lr: float = 0.01  # SGD
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 256  # DataDAM code: 64
    lr_decay_at: float = 0.5  # lr x 0.1 at this fraction of the epochs
    dsa: bool = True  # DSA on every batch (per-image parameters)
    amp: bool = True  # bf16 autocast on CUDA, training and validation
    channels_last: bool = False  # NHWC weights and batches on CUDA; off until measured to pay (benchmarks/gpu_check)
    cuda_graph: bool = False  # replay forward + backward as CUDA graphs when every batch has one shape (CUDA only)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def graphable(config: TrainConfig, n: int, device: torch.device) -> bool:
    """Whether ``train_model`` captures CUDA graphs: asked for, on CUDA, and every batch of the ``n``
    images has the same shape (a graph replays one shape; a smaller last batch would need another)."""
    return config.cuda_graph and device.type == "cuda" and (n <= config.batch_size or n % config.batch_size == 0)


def train_model(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    config: TrainConfig,
    seed: int,
    flip: bool = True,
    on_epoch: Callable[[int, nn.Module], None] | None = None,
    on_step: Callable[[int, int, nn.Module], None] | None = None,
    check_every: int = 0,
) -> nn.Module:
    """Train ``model`` (already on its device) on ``x``/``y`` (moved there); returns it in eval mode.

    ``on_epoch(epoch, model)`` runs after every epoch (the search reports to Optuna there);
    ``on_step(epoch, step, model)`` after every optimiser step (early-stopping scores).
    A non-finite loss raises :class:`DivergedError` naming the first bad epoch. It is a flag on the
    device, read (one host sync) after every ``check_every``-th epoch, before that epoch's
    ``on_epoch``, and after the last epoch; 0 reads it at the end only.
    """
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    if config.channels_last and device.type == "cuda":  # CPU kernels would round differently: CUDA only
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    dsa = DSA(flip) if config.dsa else None
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    decay_epoch = int(config.epochs * config.lr_decay_at)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[decay_epoch] if 0 < decay_epoch < config.epochs else [], gamma=0.1)
    amp = config.amp and device.type == "cuda"
    n = x.shape[0]
    model.train()
    if graphable(config, n, device):
        model = capture_graphs(model, x[: config.batch_size], amp)
    bad_epoch = torch.full((), -1, dtype=torch.long, device=device)  # first epoch whose last loss was not finite
    bad_loss = torch.zeros((), device=device)  # that loss
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(n, generator=generator(derive_seed(seed, "epoch", epoch), device), device=device)
        for step, start in enumerate(range(0, n, config.batch_size)):
            idx = order[start : start + config.batch_size]
            xb = x[idx]
            if dsa is not None:
                xb = dsa(xb, derive_seed(seed, "dsa", epoch, step))
            # no autocast weight cache: CUDA graphs need it off, and each weight is cast once per forward anyway
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp, cache_enabled=False):
                loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if on_step is not None:
                on_step(epoch, step, model)
        with torch.no_grad():  # the divergence flag, on the device: no host sync here
            first = (bad_epoch < 0) & ~torch.isfinite(loss)
            bad_epoch = torch.where(first, torch.full_like(bad_epoch, epoch), bad_epoch)
            bad_loss = torch.where(first, loss.detach().float(), bad_loss)
        sched.step()
        done = epoch + 1
        if (check_every > 0 and done % check_every == 0) or done == config.epochs:
            _raise_if_diverged(bad_epoch, bad_loss)
        if on_epoch is not None:
            on_epoch(epoch, model)
    vars(model).pop("forward", None)  # drop a graphed forward: its graphs and their memory go with it
    return model.eval()


def _raise_if_diverged(bad_epoch: Tensor, bad_loss: Tensor) -> None:
    epoch = int(bad_epoch)  # the host sync of a check point
    if epoch >= 0:
        raise DivergedError(f"training diverged: the loss became {bad_loss.item()} in epoch {epoch}")


def capture_graphs(model: nn.Module, sample: Tensor, amp: bool) -> nn.Module:
    """Make ``model``'s training-mode forward and backward replay CUDA graphs for batches shaped like
    ``sample`` (eval mode still runs eagerly). Returns the same module.

    The capture runs a few warm-up forwards; the buffers they move (BatchNorm statistics) are put
    back, so the first real step starts from the same state as without graphs. ``train_model``
    removes the graphed forward when it is done.
    """
    saved = [b.detach().clone() for b in model.buffers()]
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp, cache_enabled=False):
        graphed = torch.cuda.make_graphed_callables(model, (sample.detach().clone(),))
    with torch.no_grad():
        for buffer, value in zip(model.buffers(), saved, strict=True):
            buffer.copy_(value)
    assert isinstance(graphed, nn.Module)
    return graphed


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1024, amp: bool = True) -> float:
    """Top-1 accuracy (fraction) of ``model`` on ``x``/``y``, in eval mode, batch by batch.

    The correct predictions are counted on the device and read once. ``amp``: bf16 autocast on CUDA.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
            pred = model(xb).argmax(1)
        correct += (pred == y[start : start + batch_size].to(device)).sum()
    model.train(was_training)
    return int(correct) / max(1, x.shape[0])
