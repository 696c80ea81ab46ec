"""Training a network, or K stacked copies of one, on in-memory tensors, and measuring accuracy.

One loop serves both: a network alone is the one copy of a stack (``nas_proxy.batched``). Shared by ``evaluate`` (the field's protocol), the search's proxy trials and the ground truth.
The whole training set lives on the device; an epoch is a seeded permutation of it. Nothing in an
epoch reads a value back to the host: divergence is a flag on the device, read at check points.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas_proxy.augment import DSA
from nas_proxy.errors import DivergedError
from nas_proxy.protocols import FastTrainConfig, TrainConfig
from nas_proxy.schedules import make_schedule
from nas_proxy.utils import derive_seed, generator


def graphable(config: TrainConfig, n: int, device: torch.device, drop_last: bool = False) -> bool:
    """Whether ``train_model`` captures its step as a CUDA graph: asked for, on CUDA, and every batch
    of the ``n`` images has the same shape (a graph replays one shape; a smaller last batch would need
    a second one, unless ``drop_last`` skips it). A proxy's synthetic set (~100 images) is one batch
    of 256: always graphable."""
    even = n <= config.batch_size or n % config.batch_size == 0 or drop_last
    return config.cuda_graph and device.type == "cuda" and even


class SGD(torch.optim.SGD):
    """torch's SGD, step for step, without the import of torch._dynamo its first call makes (~1.8 CPU-s in every process
    that trained: ``add_param_group``, ``zero_grad`` and ``step`` are wrapped to keep torch.compile out, and the wrapper
    imports it): each calls the function torch's wraps (its ``__wrapped__``), with gradients off as ``step``'s wrapper
    sets them. Where this torch's methods are not wrapped so, its own methods run (:func:`optimizer`)."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        _UNWRAPPED["add_param_group"](self, param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        _UNWRAPPED["zero_grad"](self, set_to_none)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        return _UNWRAPPED["step"](self, closure)


_UNWRAPPED: dict[str, Callable[..., Any]] = {
    name: f
    for name, f in (
        ("add_param_group", getattr(torch.optim.Optimizer.add_param_group, "__wrapped__", None)),
        ("zero_grad", getattr(torch.optim.Optimizer.zero_grad, "__wrapped__", None)),
        ("step", getattr(torch.optim.SGD.step, "__wrapped__", None)),
    )
    if f is not None
}


def optimizer(params: Iterable[Tensor], config: TrainConfig) -> torch.optim.Optimizer:
    """The protocol's SGD over ``params``: :class:`SGD`, or torch's own where its methods are not wrapped as expected."""
    cls = SGD if len(_UNWRAPPED) == 3 else torch.optim.SGD
    return cls(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def batch_starts(n: int, batch_size: int, drop_last: bool) -> range:
    """Where an epoch's batches start in its permutation of ``n`` images; ``drop_last`` skips a last
    smaller batch (never the only one)."""
    end = n - n % batch_size if drop_last and n >= batch_size else n
    return range(0, end, batch_size)


def mark_divergence(bad_epoch: Tensor, bad_loss: Tensor, loss: Tensor, epoch: int) -> tuple[Tensor, Tensor]:
    """The first epoch whose ``loss`` was not finite and that loss (elementwise for a stack of
    losses), kept on the device: nothing is read back to the host."""
    with torch.no_grad():
        first = (bad_epoch < 0) & ~torch.isfinite(loss)
        return torch.where(first, torch.full_like(bad_epoch, epoch), bad_epoch), torch.where(first, loss.detach().float(), bad_loss)


class Copies(Protocol):
    """K networks of one architecture trained together (``nas_proxy.batched.ModelStack``); a
    network alone is the case K = 1 (:func:`train_model` wraps it)."""

    size: int  # K

    @property
    def training(self) -> bool: ...

    def parameters(self) -> Iterable[Tensor]: ...

    def train(self, mode: bool = True) -> object: ...

    def losses(self, xb: Sequence[Tensor], yb: Sequence[Tensor]) -> Tensor:
        """The loss of each copy (K,) on its own batch ``xb[k]`` (B, C, H, W) and labels ``yb[k]``."""
        ...

    def logits(self, x: Tensor) -> Tensor:
        """Every copy on the same images: (K, N, classes)."""
        ...


class _One:
    """A network as the only copy: its own calls, so that it trains exactly as it always did."""

    size = 1

    def __init__(self, net: nn.Module, label_smoothing: float = 0.0) -> None:
        self.net, self.label_smoothing = net, label_smoothing

    @property
    def training(self) -> bool:
        return self.net.training

    def parameters(self) -> Iterable[Tensor]:
        return self.net.parameters()

    def train(self, mode: bool = True) -> object:
        return self.net.train(mode)

    def losses(self, xb: Sequence[Tensor], yb: Sequence[Tensor]) -> Tensor:
        if self.label_smoothing:
            return F.cross_entropy(self.net(xb[0]), yb[0], label_smoothing=self.label_smoothing)
        return F.cross_entropy(self.net(xb[0]), yb[0])  # () : one copy

    def logits(self, x: Tensor) -> Tensor:
        return self.net(x)[None]  # (1, N, classes)


def copies(model: nn.Module | Copies) -> Copies:
    """``model`` as :class:`Copies`: a stack as it is, a network as the one copy."""
    return _One(model) if isinstance(model, nn.Module) else model


M = TypeVar("M", bound="nn.Module | Copies")


def train_model(
    model: M,
    x: Tensor,
    y: Tensor,
    config: TrainConfig,
    seed: int | Sequence[int],
    flip: bool = True,
    on_epoch: Callable[[int, M], None] | None = None,
    on_step: Callable[[int, int, M], None] | None = None,
    check_every: int = 0,
    fast: FastTrainConfig | None = None,
) -> M:
    """Train ``model`` (already on its device) on ``x``/``y`` (moved there); returns it in eval mode.

    ``model`` is a network, or K copies of one (``nas_proxy.batched.ModelStack``) with one seed
    each in ``seed``: copy k is trained exactly as it would be alone with ``seed[k]`` (its own epoch
    permutations, DSA draws, the same optimiser and lr schedule; SGD acts element by element, so one
    optimiser over the stacked tensors is K independent ones). CUDA graphs and channels_last apply
    to a network alone.

    ``y`` holds class indices (N,) or per-image probabilities (N, classes), a set's soft labels:
    ``F.cross_entropy`` takes either, and an augmented image keeps its source image's row. With
    one-hot rows the gradients, hence the trained network, equal those of the indices bit for bit.

    ``on_epoch(epoch, model)`` runs after every epoch (the search reports to Optuna there);
    ``on_step(epoch, step, model)`` after every optimiser step (early-stopping scores).
    A non-finite loss raises :class:`DivergedError` naming the first bad epoch (and the copy). It is
    a flag on the device, read (one host sync) after every ``check_every``-th epoch, before that
    epoch's ``on_epoch``, and after the last epoch; 0 reads it at the end only.

    ``fast``: the real-data trainer's options (the lr schedule by name, warm-up, label smoothing,
    dropping a last smaller batch, torch.compile; see :class:`FastTrainConfig`); None or all off is
    today's training. Label smoothing and compile apply to a network alone.
    """
    fast = fast or FastTrainConfig()
    if not isinstance(model, nn.Module) and (fast.label_smoothing or fast.compile):
        raise ValueError("label_smoothing and compile apply to a network alone, not to a stack of copies")
    net = copies(model)
    seeds = [seed] if isinstance(seed, int) else list(seed)
    k = net.size
    if len(seeds) != k:
        raise ValueError(f"{k} copies need {k} seeds, got {len(seeds)}")
    device = next(iter(net.parameters())).device
    x, y = x.to(device), y.to(device)
    alone = model if isinstance(model, nn.Module) else None  # the single-network options need the module
    if alone is not None and config.channels_last and device.type == "cuda":  # CPU kernels would round differently: CUDA only
        alone.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if alone is not None and (fast.label_smoothing or fast.compile):  # the compiled module shares the network's parameters
        net = _One(torch.compile(alone) if fast.compile else alone, fast.label_smoothing)  # type: ignore[arg-type]  # compile() returns a module
    dsa = DSA(flip) if config.dsa else None
    opt = optimizer(net.parameters(), config)
    n = x.shape[0]
    starts = batch_starts(n, config.batch_size, fast.drop_last)  # the same every epoch
    schedule = make_schedule(fast.schedule, opt, config, config.epochs * len(starts), fast.warmup)
    amp = config.uses_amp(device)
    net.train()
    graphed = (
        GraphedStep(alone, x[: config.batch_size], y[: config.batch_size], amp, fast.label_smoothing)
        if alone is not None and graphable(config, n, device, fast.drop_last)
        else None
    )
    bad_epoch = torch.full((k,), -1, dtype=torch.long, device=device)  # per copy: first epoch whose last loss was not finite
    bad_loss = torch.zeros(k, device=device)  # that loss
    for epoch in range(config.epochs):
        net.train()
        orders = [torch.randperm(n, generator=generator(derive_seed(s, "epoch", epoch), device), device=device) for s in seeds]
        for step, start in enumerate(starts):
            idx = [order[start : start + config.batch_size] for order in orders]  # K x (B,)
            xb = [x[i] for i in idx]  # K x (B, C, H, W)
            if dsa is not None:  # each copy draws its own op and parameters, as its own training would
                xb = [dsa(b, derive_seed(s, "dsa", epoch, step)) for b, s in zip(xb, seeds, strict=True)]
            yb = [y[i] for i in idx]
            if graphed is not None:
                loss = graphed(xb[0], yb[0])  # forward + backward replayed; the gradients land in .grad
            else:
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    loss = net.losses(xb, yb)  # (K,), or () for a network alone
                opt.zero_grad(set_to_none=True)
                loss.sum().backward()  # copy k's gradient is that of its own loss: the copies share nothing
            opt.step()
            if schedule.per_step:
                schedule.scheduler.step()
            if on_step is not None:
                on_step(epoch, step, model)
        bad_epoch, bad_loss = mark_divergence(bad_epoch, bad_loss, loss.reshape(k), epoch)  # on the device: no host sync here
        if not schedule.per_step:
            schedule.scheduler.step()
        done = epoch + 1
        if (check_every > 0 and done % check_every == 0) or done == config.epochs:
            _raise_if_diverged(bad_epoch, bad_loss, None if alone is not None else seeds)
        if on_epoch is not None:
            on_epoch(epoch, model)
    if graphed is not None:
        opt.zero_grad(set_to_none=True)  # the gradients are the graph's buffers: let them go with it
    net.train(False)
    return model


def _raise_if_diverged(bad_epoch: Tensor, bad_loss: Tensor, seeds: Sequence[int] | None) -> None:
    """``seeds``: those of a stack's copies (the message names the copy), None for a network alone."""
    epochs = bad_epoch.tolist()  # the host sync of a check point
    for c, epoch in enumerate(epochs):
        if epoch < 0:
            continue
        if seeds is None:
            raise DivergedError(f"training diverged: the loss became {bad_loss[c].item()} in epoch {epoch}")
        raise DivergedError(
            f"training diverged: the loss of copy {c} (of {len(epochs)}, seed {seeds[c]}) became {bad_loss[c].item()} in epoch {epoch}"
        )


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

    def __init__(self, model: nn.Module, x: Tensor, y: Tensor, amp: bool, label_smoothing: float = 0.0) -> None:
        self.x, self.y, self.amp = x.detach().clone(), y.clone(), amp  # the graph's static inputs
        self.label_smoothing = label_smoothing  # as the eager step's (FastTrainConfig.label_smoothing)
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
            return F.cross_entropy(model(self.x), self.y, label_smoothing=self.label_smoothing)

    def __call__(self, x: Tensor, y: Tensor) -> Tensor:
        self.x.copy_(x)
        self.y.copy_(y)
        self.graph.replay()
        return self.loss


@torch.no_grad()
def hits(model: nn.Module | Copies, x: Tensor, y: Tensor, batch_size: int = 1024, *, amp: bool) -> Tensor:
    """Whether every copy of ``model`` (one for a network) predicts each image of ``x`` right: a (K, N) bool
    tensor on the model's device, in eval mode, batch by batch: ``batch_size`` images of all copies together
    (batch_size / K per copy) bound the memory. ``amp``: bf16 autocast on CUDA; no default, so that a caller
    cannot validate in bf16 a network its ``--no-amp`` trained in float32.
    """
    net = copies(model)
    device = next(iter(net.parameters())).device
    was_training = net.training
    net.train(False)
    chunk = max(1, batch_size // net.size)
    parts = []
    for start in range(0, x.shape[0], chunk):
        xb = x[start : start + chunk].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
            pred = net.logits(xb).argmax(2)  # (K, chunk)
        parts.append(pred == y[start : start + chunk].to(device))
    net.train(was_training)
    return torch.cat(parts, 1) if parts else torch.zeros(net.size, 0, dtype=torch.bool, device=device)


def hit_rates(hit: Tensor) -> list[float]:
    """Top-1 accuracy (fraction) of every copy from its :func:`hits`, counted on the device and read once."""
    return [c / max(1, hit.shape[1]) for c in hit.sum(1).tolist()]


def accuracies(model: nn.Module | Copies, x: Tensor, y: Tensor, batch_size: int = 1024, *, amp: bool) -> list[float]:
    """Top-1 accuracy (fraction) of every copy of ``model`` (one for a network) on ``x``/``y``: :func:`hits` counted."""
    return hit_rates(hits(model, x, y, batch_size, amp=amp))


def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1024, *, amp: bool) -> float:
    """Top-1 accuracy (fraction) of a network: :func:`accuracies` of its one copy."""
    return accuracies(model, x, y, batch_size, amp=amp)[0]
