"""K independently initialised copies of one network, trained together as one batched model.

The copies' parameters and buffers are stacked along a new leading dimension
(``torch.func.stack_module_state``) and one template module runs them all under ``torch.func.vmap``
with ``functional_call``: a convolution becomes one grouped convolution over the K copies, so a
step is one sequence of kernels instead of K. Copy ``k`` is trained exactly as ``train_model`` trains
one network with ``seeds[k]``: its own epoch permutations, its own DSA draws, the same optimiser
and lr schedule. SGD (momentum, weight decay) acts element by element, so one optimiser over the
stacked tensors is K independent optimisers. The results equal K separate trainings up to float32
rounding (grouped kernels sum in another order), not bit for bit.

BatchNorm works unchanged: its running statistics are stacked buffers, updated in place per copy
under ``vmap``. Instance, group and layer norm have no buffers. The batched path runs eagerly: CUDA
graphs and channels_last (``TrainConfig``) are single-network options and are not applied here.

The default is ``vectorize=False``: the copies run one after the other on views of the same stacked
tensors, with the same optimiser; its results equal K separate trainings bit for bit. Measured:
on the CPU grouped kernels are slower than K dense ones (benchmarks/RESULTS.md §9: a vmapped trial
took 1.9x (K = 2) and 4.4x (K = 4) the CPU time of the loop); on an H100 (torch 2.11, cuDNN 9.19)
batch norm under ``vmap`` fails ("NYI: querying is_contiguous inside of vmap"), so vmap is opt-in
(``vectorize=True``) until a GPU run shows where it pays.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from nas_proxy.augment import DSA
from nas_proxy.errors import DivergedError
from nas_proxy.training import TrainConfig, mark_divergence
from nas_proxy.utils import derive_seed, generator


class ModelStack:
    """``len(models)`` networks of one architecture, as stacked tensors and a template module.

    The networks must share the architecture (same parameter names and shapes) and device.
    ``vectorize``: all copies in one vmapped call (opt-in, see the module docstring), or (default)
    one call per copy on views of the stacked tensors.
    """

    def __init__(self, models: Sequence[nn.Module], vectorize: bool | None = None) -> None:
        if not models:
            raise ValueError("a ModelStack needs at least one network")
        self.size = len(models)
        params, buffers = stack_module_state(list(models))  # name -> (K, *shape); params are leaves with grad
        self.params: dict[str, Tensor] = params
        self.buffers: dict[str, Tensor] = buffers
        self.template = copy.deepcopy(models[0]).to("meta")  # holds the structure only; tensors come from the stack
        self.vectorize = bool(vectorize)  # None: the default, the loop (vmap is opt-in: module docstring)

    def _call(self, params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(self.template, (params, buffers), (x,))

    def __call__(self, x: Tensor, shared: bool = False) -> Tensor:
        """Logits (K, N, classes): copy k on ``x[k]`` (x is (K, N, C, H, W)), or every copy on the
        same ``x`` (N, C, H, W) when ``shared``."""
        if self.vectorize:
            return vmap(self._call, in_dims=(0, 0, None if shared else 0))(self.params, self.buffers, x)
        copies = []
        for k in range(self.size):  # views of copy k's slices: gradients and BatchNorm updates land in the stack
            params = {name: t[k] for name, t in self.params.items()}
            buffers = {name: t[k] for name, t in self.buffers.items()}
            copies.append(self._call(params, buffers, x if shared else x[k]))
        return torch.stack(copies)

    def train(self, mode: bool = True) -> ModelStack:
        self.template.train(mode)
        return self

    def eval(self) -> ModelStack:
        return self.train(False)

    @property
    def training(self) -> bool:
        return self.template.training

    def unstack(self, k: int, model: nn.Module) -> nn.Module:
        """Copy ``k``'s tensors into ``model`` (a network of the same architecture); returns it."""
        with torch.no_grad():
            state = {name: t[k] for name, t in {**self.params, **self.buffers}.items()}
            model.load_state_dict(state)
        return model


def train_stack(
    stack: ModelStack,
    x: Tensor,
    y: Tensor,
    config: TrainConfig,
    seeds: Sequence[int],
    flip: bool = True,
    on_epoch: Callable[[int, ModelStack], None] | None = None,
    check_every: int = 0,
) -> ModelStack:
    """Train copy k of ``stack`` as ``train_model(copy, x, y, config, seeds[k], flip)`` would, all
    copies in each step at once; returns the stack in eval mode. ``y``: class indices (N,) or
    probabilities (N, classes), as ``train_model``'s.

    ``on_epoch(epoch, stack)`` runs after every epoch. A non-finite loss of any copy raises
    :class:`DivergedError` naming the copy and its first bad epoch, read at the same check points
    as ``train_model``'s (one host sync each).
    """
    if len(seeds) != stack.size:
        raise ValueError(f"{stack.size} copies need {stack.size} seeds, got {len(seeds)}")
    device = next(iter(stack.params.values())).device
    x, y = x.to(device), y.to(device)
    dsa = DSA(flip) if config.dsa else None
    params = list(stack.params.values())
    opt = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    decay_epoch = int(config.epochs * config.lr_decay_at)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[decay_epoch] if 0 < decay_epoch < config.epochs else [], gamma=0.1)
    amp = config.uses_amp(device)
    n, k = x.shape[0], stack.size
    per_copy_loss = vmap(lambda logits, labels: F.cross_entropy(logits, labels))  # (K, B, classes), (K, B[, classes]) -> (K,)
    bad_epoch = torch.full((k,), -1, dtype=torch.long, device=device)  # per copy: first epoch whose last loss was not finite
    bad_loss = torch.zeros(k, device=device)
    for epoch in range(config.epochs):
        stack.train()
        orders = [torch.randperm(n, generator=generator(derive_seed(s, "epoch", epoch), device), device=device) for s in seeds]
        for step, start in enumerate(range(0, n, config.batch_size)):
            idx = torch.stack([order[start : start + config.batch_size] for order in orders])  # (K, B)
            xb = x[idx]  # (K, B, C, H, W)
            if dsa is not None:  # each copy draws its own op and parameters, as its own training would
                xb = torch.stack([dsa(xb[c], derive_seed(s, "dsa", epoch, step)) for c, s in enumerate(seeds)])
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = per_copy_loss(stack(xb), y[idx])  # (K,)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()  # copy k's gradient is that of its own loss: the copies share nothing
            opt.step()
        bad_epoch, bad_loss = mark_divergence(bad_epoch, bad_loss, loss, epoch)  # per copy, on the device
        sched.step()
        done = epoch + 1
        if (check_every > 0 and done % check_every == 0) or done == config.epochs:
            _raise_if_diverged(bad_epoch, bad_loss, seeds)
        if on_epoch is not None:
            on_epoch(epoch, stack)
    return stack.eval()


def _raise_if_diverged(bad_epoch: Tensor, bad_loss: Tensor, seeds: Sequence[int]) -> None:
    epochs = bad_epoch.tolist()  # the host sync of a check point
    for c, epoch in enumerate(epochs):
        if epoch >= 0:
            raise DivergedError(
                f"training diverged: the loss of copy {c} (of {len(epochs)}, seed {seeds[c]}) became {bad_loss[c].item()} in epoch {epoch}"
            )


@torch.no_grad()
def stack_accuracy(stack: ModelStack, x: Tensor, y: Tensor, *, amp: bool, batch_size: int = 1024) -> list[float]:
    """Top-1 accuracy (fraction) of every copy on ``x``/``y``, in eval mode: ``training.accuracy`` per
    copy. ``batch_size`` images of all copies together (batch_size / K per copy) bound the memory."""
    device = next(iter(stack.params.values())).device
    was_training = stack.training
    stack.eval()
    correct = torch.zeros(stack.size, dtype=torch.long, device=device)  # (K,)
    chunk = max(1, batch_size // stack.size)
    for start in range(0, x.shape[0], chunk):
        xb = x[start : start + chunk].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
            pred = stack(xb, shared=True).argmax(2)  # (K, chunk)
        correct += (pred == y[start : start + chunk].to(device)).sum(1)
    stack.train(was_training)
    return [c / max(1, x.shape[0]) for c in correct.tolist()]
