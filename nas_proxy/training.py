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

from nas_proxy import checks
from nas_proxy.augment import DSA
from nas_proxy.errors import DivergedError
from nas_proxy.utils import derive_seed, generator


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
        checks.positive("epochs", self.epochs)
        checks.number("lr", self.lr, 0, checks.LR_MAX, low_open=True)
        checks.number("momentum", self.momentum, 0, 1, high_open=True)
        checks.number("weight_decay", self.weight_decay, 0)
        checks.positive("batch_size", self.batch_size)
        checks.number("lr_decay_at", self.lr_decay_at, 0, 1)


def graphable(config: TrainConfig, n: int, device: torch.device) -> bool:
    """Whether ``train_model`` captures its step as a CUDA graph: asked for, on CUDA, and every batch
    of the ``n`` images has the same shape (a graph replays one shape; a smaller last batch would need
    a second one). A proxy's synthetic set (~100 images) is one batch of 256: always graphable."""
    return config.cuda_graph and device.type == "cuda" and (n <= config.batch_size or n % config.batch_size == 0)


def mark_divergence(bad_epoch: Tensor, bad_loss: Tensor, loss: Tensor, epoch: int) -> tuple[Tensor, Tensor]:
    """The first epoch whose ``loss`` was not finite and that loss (elementwise for a stack of
    losses), kept on the device: nothing is read back to the host."""
    with torch.no_grad():
        first = (bad_epoch < 0) & ~torch.isfinite(loss)
        return torch.where(first, torch.full_like(bad_epoch, epoch), bad_epoch), torch.where(first, loss.detach().float(), bad_loss)


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

    ``y`` holds class indices (N,) or per-image probabilities (N, classes), a set's soft labels:
    ``F.cross_entropy`` takes either, and an augmented image keeps its source image's row. With
    one-hot rows the gradients, hence the trained network, equal those of the indices bit for bit.

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
    amp = config.uses_amp(device)
    n = x.shape[0]
    model.train()
    graphed = GraphedStep(model, x[: config.batch_size], y[: config.batch_size], amp) if graphable(config, n, device) else None
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
            if graphed is not None:
                loss = graphed(xb, y[idx])  # forward + backward replayed; the gradients land in .grad
            else:
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    loss = F.cross_entropy(model(xb), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
            opt.step()
            if on_step is not None:
                on_step(epoch, step, model)
        bad_epoch, bad_loss = mark_divergence(bad_epoch, bad_loss, loss, epoch)  # on the device: no host sync here
        sched.step()
        done = epoch + 1
        if (check_every > 0 and done % check_every == 0) or done == config.epochs:
            _raise_if_diverged(bad_epoch, bad_loss)
        if on_epoch is not None:
            on_epoch(epoch, model)
    if graphed is not None:
        opt.zero_grad(set_to_none=True)  # the gradients are the graph's buffers: let them go with it
    return model.eval()


def _raise_if_diverged(bad_epoch: Tensor, bad_loss: Tensor) -> None:
    epoch = int(bad_epoch)  # the host sync of a check point
    if epoch >= 0:
        raise DivergedError(f"training diverged: the loss became {bad_loss.item()} in epoch {epoch}")


class GraphedStep:
    """A training step (forward, loss, backward) captured as one CUDA graph for batches shaped like
    ``x``/``y``; calling it copies a batch into the graph's inputs, replays it and returns the loss.

    The gradients land in the parameters' ``.grad``, buffers of the graph that every replay
    overwrites: the caller must not zero them between steps. The warm-up passes before the capture
    use ``torch.autograd.grad`` (``.grad`` untouched) and the buffers they move (BatchNorm
    statistics) are put back; capturing records kernels without running them. So the first replay
    starts from the same state as the first eager step would.
    """

    WARMUP = 3  # eager passes on a side stream before capturing (lazy initialisation), as torch's make_graphed_callables

    def __init__(self, model: nn.Module, x: Tensor, y: Tensor, amp: bool) -> None:
        self.x, self.y, self.amp = x.detach().clone(), y.clone(), amp  # the graph's static inputs
        params = [p for p in model.parameters() if p.requires_grad]
        saved = [b.detach().clone() for b in model.buffers()]
        ambient = torch.cuda.current_stream(x.device)
        side = torch.cuda.Stream(x.device)  # capture needs a stream other than the default one
        side.wait_stream(ambient)
        with torch.cuda.stream(side):
            for _ in range(self.WARMUP):
                torch.autograd.grad(self._loss(model), params)
            for p in params:
                p.grad = None  # backward then allocates .grad inside the graph's memory pool
            self.graph = torch.cuda.CUDAGraph()
            # capture_begin/end rather than torch.cuda.graph(), which also synchronises, empties the
            # allocator's cache (every trial would cudaMalloc afresh) and, in older torch, runs gc.collect()
            self.graph.capture_begin()
            try:
                self.loss = self._loss(model)
                self.loss.backward()
            finally:
                self.graph.capture_end()
        ambient.wait_stream(side)
        with torch.no_grad():
            for buffer, value in zip(model.buffers(), saved, strict=True):
                buffer.copy_(value)

    def _loss(self, model: nn.Module) -> Tensor:
        # no autocast weight cache: cached casts would outlive the capture
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp, cache_enabled=False):
            return F.cross_entropy(model(self.x), self.y)

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        self.x.copy_(x)
        self.y.copy_(y)
        self.graph.replay()
        return self.loss


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1024, *, amp: bool) -> float:
    """Top-1 accuracy (fraction) of ``model`` on ``x``/``y``, in eval mode, batch by batch.

    The correct predictions are counted on the device and read once. ``amp``: bf16 autocast on CUDA;
    no default, so that a caller cannot validate in bf16 a network its ``--no-amp`` trained in float32.
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
