"""The matching losses written as a plain per-class loop, the way the reference code does it.

Kept as an executable specification: tests check the vectorised losses against it, and the
speed benchmark times both on the same inputs. Not used by ``distill``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from nas_proxy.distill.losses import spatial_attention
from nas_proxy.models import ConvNet


def datadam_loss_loop(net: ConvNet, real: Tensor, syn: Tensor, num_classes: int, power: float, lambda_mmd: float) -> Tensor:
    """100 * (SAM + lambda * MMD) with one forward of the real and one of the synthetic images per class.

    ``real`` (K * B, C, H, W) and ``syn`` (K * ipc, C, H, W) are grouped by class.
    """
    total = syn.new_zeros(())
    for real_k, syn_k in zip(real.chunk(num_classes), syn.chunk(num_classes), strict=True):
        with torch.no_grad():
            fr, er = net.forward_features(real_k)
        fs, es = net.forward_features(syn_k)
        for a, b in zip(fr[:-1], fs[:-1], strict=True):
            total = total + 100 * (spatial_attention(a, power).mean(0) - spatial_attention(b, power).mean(0)).pow(2).sum()
        total = total + 100 * lambda_mmd * (er.mean(0) - es.mean(0)).pow(2).sum()
    return total


def dm_loss_loop(net: ConvNet, real: Tensor, syn: Tensor, num_classes: int) -> Tensor:
    """DM's MMD with one forward per class."""
    total = syn.new_zeros(())
    for real_k, syn_k in zip(real.chunk(num_classes), syn.chunk(num_classes), strict=True):
        with torch.no_grad():
            er = net.embed(real_k)
        total = total + (er.mean(0) - net.embed(syn_k).mean(0)).pow(2).sum()
    return total
