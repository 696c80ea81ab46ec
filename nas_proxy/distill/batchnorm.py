"""Batch norm in the distillation network: which statistics normalise the real and the synthetic batch.

Every iteration runs the network twice, once over the real batch (no grad) and once over the
synthetic images. Per-image norms (instance, layer, group norm, none) make the two forwards
independent; batch norm does not, so the loop needs a rule (``DistillConfig.batchnorm_stats``):

- ``"real"`` (the default; DC's rule, DatasetCondensation ``main.py``): the real batch is normalised
  by its own batch statistics, and the synthetic images are then normalised with **those same real
  statistics** (as a trained network's eval mode would). Why: with its own statistics the synthetic
  set's per-channel mean and variance are divided out before the loss sees them, so nothing ties
  them to the real data's; a batch-norm network trained on the set then keeps running statistics
  that do not match the real images it is tested on. With the real statistics, a synthetic set whose
  feature statistics drift from the real ones shows that drift in the loss. The synthetic images
  also stay independent of each other (no image's features depend on another synthetic image), and
  nothing flows from the synthetic batch into the real one (the real forward comes first, without
  gradient).
- ``"own"``: each batch normalised by its own statistics, two separate training-mode forwards. This
  is what DC/DM/DataDAM's official code computes (there per class) and what this project ran before
  the rule existed; kept to reproduce those runs.

Across the ranks of a sharded run (``distill/sharded.py``) a batch's statistics are those of the
whole batch: the per-channel sums are all-reduced, with their gradients where the synthetic batch
uses its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas_proxy.distill.config import BATCHNORM_RULES as RULES  # see the module docstring

Phase = Literal["real", "syn"]
Reduce = Callable[[Tensor], Tensor]  # a sum over ranks (differentiable), or None for one process
ModuleT = TypeVar("ModuleT", bound=nn.Module)  # wrap_batchnorms returns the network it was given
SLICE = 64  # images summed at a time in float64 on the CPU (memory: 64 x C x H x W doubles)


class MatchingBatchNorm2d(nn.Module):
    """A ``BatchNorm2d`` of the distillation network, normalising by ``rule`` (module docstring).

    Wraps the network's ``BatchNorm2d``, whose affine parameters (and ``reset_parameters``) it uses;
    the network is fresh every iteration, so no running statistics are kept across iterations.
    ``phase`` says which batch the next forward sees (:func:`set_phase`).
    """

    def __init__(self, bn: nn.BatchNorm2d, rule: str, reduce: Reduce | None = None) -> None:
        super().__init__()
        assert rule in RULES, rule
        self.bn, self.rule, self.reduce = bn, rule, reduce
        self.phase: Phase = "real"
        self.real_stats: tuple[Tensor, Tensor] | None = None  # (C,) mean and biased variance of the last real batch

    def forward(self, x: Tensor) -> Tensor:
        bn = self.bn
        if self.phase == "syn" and self.rule == "real":
            assert self.real_stats is not None, "the real batch goes through the network first"
            mean, var = self.real_stats
            return F.batch_norm(x, mean, var, bn.weight, bn.bias, training=False, eps=bn.eps)
        mean, var = self._statistics(x)
        if self.phase == "real":
            self.real_stats = (mean.detach().float(), var.detach().float())
        C = x.shape[1]
        y = (x.float() - mean.float().view(1, C, 1, 1)) * torch.rsqrt(var.float() + bn.eps).view(1, C, 1, 1)
        if bn.affine:
            y = y * bn.weight.view(1, C, 1, 1) + bn.bias.view(1, C, 1, 1)
        return y.to(x.dtype)

    def _statistics(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(C,) mean and biased variance of the batch, over all ranks when ``reduce`` is set.

        Summed in BatchNorm2d's accumulation type (float64 on the CPU, float32 on GPUs, also under
        autocast), in slices of the batch so that the CPU never holds a float64 copy of it all; one
        process and one rank of many run the same code, so they compute the same numbers.
        """
        reduce = self.reduce or (lambda t: t)
        acc = torch.float64 if x.device.type == "cpu" else torch.float32
        slices = x.split(SLICE)
        count = reduce(torch.tensor([x.numel() // x.shape[1]], dtype=acc, device=x.device))
        mean = reduce(torch.stack([s.to(acc).sum((0, 2, 3)) for s in slices]).sum(0)) / count  # (C,)
        centred = [(s.to(acc) - mean.view(1, -1, 1, 1)).pow(2).sum((0, 2, 3)) for s in slices]
        var = reduce(torch.stack(centred).sum(0)) / count  # (C,) biased, as BatchNorm2d normalises
        return mean, var


def wrap_batchnorms(net: ModuleT, rule: str, reduce: Reduce | None = None) -> ModuleT:
    """``net`` with every ``BatchNorm2d`` normalising by ``rule``; in place, returned for chaining.

    One process under ``"own"`` keeps torch's ``BatchNorm2d`` as it is (two training-mode forwards
    are exactly that rule), so those runs compute what they always did.
    """
    if rule == "own" and reduce is None:
        return net
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(parent, name, MatchingBatchNorm2d(child, rule, reduce))
    return net


def set_phase(net: nn.Module, phase: Phase) -> None:
    """Tell every wrapped batch norm of ``net`` which batch the next forward carries."""
    for m in net.modules():
        if isinstance(m, MatchingBatchNorm2d):
            m.phase = phase


def has_batchnorm(net: nn.Module) -> bool:
    return any(isinstance(m, nn.BatchNorm2d | MatchingBatchNorm2d) for m in net.modules())
