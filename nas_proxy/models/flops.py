"""Forward FLOPs of the project's own networks, counted from their layers, without torch's FlopCounterMode (whose
first use imports torch._dynamo and sympy: ~1.5 CPU-s in every process that counts).

The count is FlopCounterMode's, to the FLOP: a convolution is 2 x batch x c_out x c_in/groups x kernel area x output
positions, a linear layer 2 x its input's elements x out_features; nothing else is counted (normalisation, activations,
pooling, additions). It vouches only for a network whose every module is of a type in :data:`KNOWN`, types whose
forward calls no other matrix product or convolution than their own layers' and that carry no hooks;
:func:`module_flops` returns None for any other (a user's module, a subclass, a hook), and the caller counts with torch.
"""

from __future__ import annotations

from math import prod

import torch
from torch import Tensor, nn

from nas_proxy.models.convnet import Block as ConvNetBlock
from nas_proxy.models.convnet import ConvNet
from nas_proxy.models.macro import Block as MacroBlock
from nas_proxy.models.macro import MacroNet
from nas_proxy.models.nb201 import Cell, NB201Net, ReLUConvBN, ResidualReduction

COUNTED = (nn.Conv2d, nn.Linear)  # the layers whose products are counted (their forward: one convolution, one linear)
# every module type whose forward is known to compute no other product: exact types, a subclass may override forward
KNOWN: frozenset[type[nn.Module]] = frozenset(
    {
        *COUNTED,
        *(nn.Identity, nn.Flatten, nn.Sequential, nn.ModuleList),
        *(nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm),
        *(nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.SiLU, nn.GELU),
        *(nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d),
        *(ConvNet, ConvNetBlock, MacroNet, MacroBlock, NB201Net, Cell, ReLUConvBN, ResidualReduction),
    }
)


def _hooked(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks or module._backward_hooks)


def counted(model: nn.Module) -> bool:
    """Whether :func:`module_flops` vouches for ``model``'s count: every module of a :data:`KNOWN` type, none hooked,
    and no global module hook (which could run anything)."""
    from torch.nn.modules import module as torch_module

    if torch_module._global_forward_hooks or torch_module._global_forward_pre_hooks:
        return False
    return all(type(m) in KNOWN and not _hooked(m) for m in model.modules())


def _layer_flops(layer: nn.Module, x: Tensor, out: Tensor) -> int | None:
    """The FLOPs of one call of a :data:`COUNTED` layer; None for an input whose count is not vouched for (an
    unbatched one, which torch reshapes)."""
    if isinstance(layer, nn.Conv2d):  # weight (c_out, c_in / groups, kh, kw): as FlopCounterMode's conv formula
        return 2 * x.shape[0] * prod(layer.weight.shape) * prod(out.shape[2:]) if x.dim() == 4 else None
    assert isinstance(layer, nn.Linear)
    return 2 * x.numel() * layer.out_features if x.dim() >= 2 else None  # (rows, in) @ (in, out): 2 x rows x in x out


def module_flops(model: nn.Module, sample: Tensor) -> int | None:
    """Forward FLOPs of ``model`` on ``sample`` (one forward pass in eval mode, no gradients), or None where
    :func:`counted` does not vouch for them."""
    if not counted(model):
        return None
    counts: list[int | None] = []

    def add(layer: nn.Module, args: tuple[Tensor, ...], out: Tensor) -> None:
        counts.append(_layer_flops(layer, args[0], out))

    handles = [m.register_forward_hook(add) for m in model.modules() if type(m) in COUNTED]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(sample)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return None if None in counts else sum(c for c in counts if c is not None)
