"""The distillation network of every iteration: the field's one ConvNet, or a member of a search space.

DC, DM and DataDAM draw a fresh initialisation of one fixed network every iteration, so the images
are tuned for that network alone. With ``DistillConfig.nets`` (``--nets SPACE``) the network itself
is drawn from a search space at every iteration, stratified: for every dimension of the space
(depth, width, activation, normalization, pooling), a seeded permutation of its values is walked one
value per iteration and redrawn once it is used up, so each value of each dimension recurs every
``len(values)`` iterations while the combinations keep changing. The permutation of cycle ``c`` of
dimension ``d`` depends only on (seed, d, c), so iteration ``i`` draws the same network in a resumed
run and on every rank of a sharded one. Every network starts from a fresh initialisation drawn from
the iteration's seed.

A member contributes to the loss through ``forward_features`` (each block's output after its
activation, before pooling, and the embedding), so attention is defined whatever the activation or
pooling; a family whose networks do not expose block features is refused.
"""

from __future__ import annotations

import copy
import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import optuna
import torch
from torch import Tensor, nn

from nas_proxy.errors import InvalidArgumentError, NasProxyError
from nas_proxy.models import ConvNet, ConvNetSpec
from nas_proxy.spaces import DeclaredSpace, SearchSpace, get_space
from nas_proxy.utils import derive_seed

SAMPLING = (
    "stratified: per dimension, a permutation of its values seeded by (seed, dimension, cycle), walked one value "
    "per iteration and redrawn every len(values) iterations; fresh initialisation every iteration"
)
Prepare = Callable[[nn.Module], nn.Module]  # what the run does to a network before using it (batch-norm rule, sharding)
BlockFeatures = Callable[[Tensor], tuple[list[Tensor], Tensor]]  # images -> (per-block feature maps, embedding)


def block_features(net: nn.Module) -> BlockFeatures:
    """``net.forward_features``: every block's output (after its activation, before pooling) and the embedding."""
    return cast(BlockFeatures, net.forward_features)


def reinitialise(net: nn.Module) -> None:
    """Fresh default initialisation of every layer of ``net`` (draws from torch's global RNG)."""
    with torch.no_grad():
        for m in net.modules():
            reset = getattr(m, "reset_parameters", None)
            if m is not net and callable(reset):
                reset()


class DistillNets(ABC):
    """Where each iteration's distillation network comes from.

    :meth:`network` is called once per iteration, after ``torch.manual_seed`` with the iteration's
    seed, and returns a frozen network in training mode on ``device``, freshly initialised.
    """

    uses_batchnorm: bool  # some network has batch norm (a sharded run then couples its ranks)

    @abstractmethod
    def network(self, iteration: int, seed: int) -> nn.Module: ...


class OneNet(DistillNets):
    """The field's way: one ConvNet, re-initialised every iteration."""

    def __init__(self, spec: ConvNetSpec, shape: tuple[int, int, int], num_classes: int, device: torch.device, prepare: Prepare) -> None:
        c, h, w = shape
        self.spec = spec
        self.net = prepare(ConvNet(c, num_classes, (h, w), spec).to(device))
        self.net.requires_grad_(False).train()  # frozen; batch norm (if chosen) uses batch statistics
        self.uses_batchnorm = spec.normalization == "batchnorm"

    def network(self, iteration: int, seed: int) -> nn.Module:
        reinitialise(self.net)
        return self.net


class SpaceNets(DistillNets):
    """A member of ``space`` per iteration, drawn by :func:`draw` (stratified, see the module docstring)."""

    def __init__(self, space: DeclaredSpace, shape: tuple[int, int, int], num_classes: int, device: torch.device, prepare: Prepare) -> None:
        self.space, self.shape, self.num_classes, self.device, self.prepare = space, shape, num_classes, device, prepare
        self.varied = {k: v for k, v in space.choices.items() if len(v) > 1}  # the dimensions drawn per iteration
        self.uses_batchnorm = "batchnorm" in space.choices.get("normalization", ())

    def spec(self, iteration: int, seed: int) -> dict[str, Any]:
        """The member iteration ``iteration`` of a run seeded ``seed`` distils through."""
        return self.space.sample(optuna.trial.FixedTrial(draw(self.varied, iteration, seed)))

    def network(self, iteration: int, seed: int) -> nn.Module:
        c, h, w = self.shape
        spec = self.spec(iteration, seed)
        with torch.device("meta"):  # no initialisation here: reinitialise draws it on the device
            net = self.space.build(spec, c, self.num_classes, (h, w))
        # net.to_empty(device) as torch writes it (Module._apply), with empty_strided of each tensor's shape and strides:
        # to_empty's empty_like of a meta tensor runs torch's Python reference, whose stride rule imports SymPy (~0.4
        # CPU-s at the first network of a process: stop 60)
        device = self.device
        net = net._apply(lambda t: torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device=device))
        reinitialise(net)
        return self.prepare(net).requires_grad_(False).train()


def draw(dimensions: dict[str, tuple[Any, ...]], iteration: int, seed: int) -> dict[str, Any]:
    """One value per dimension for ``iteration``: position ``iteration % n`` of the permutation of
    cycle ``iteration // n`` of the dimension's ``n`` values."""
    out = {}
    for key, values in dimensions.items():
        cycle, position = divmod(iteration, len(values))
        order = np.random.default_rng(derive_seed(seed, "nets", key, cycle)).permutation(len(values))
        out[key] = values[int(order[position])]
    return out


def uses_batchnorm(nets: str | None, net_norm: str) -> bool:
    """Whether a run with these options may distil through batch norm (sharded ranks then couple)."""
    if nets is None:
        return net_norm == "batchnorm"
    space = get_space(nets)
    return isinstance(space, DeclaredSpace) and "batchnorm" in space.choices.get("normalization", ())


def open_space(name: str, shape: tuple[int, int, int], num_classes: int) -> DeclaredSpace:
    """The space ``name`` (registered or a file), checked to give a distillation network for every
    draw on images of ``shape``; a one-line error naming the space and the reason otherwise."""
    space: SearchSpace = get_space(name)
    if not isinstance(space, DeclaredSpace):
        raise InvalidArgumentError(f"--nets {name}: space {space.name!r} declares no values per dimension to draw from; use a space file")
    c, h, w = shape
    with torch.device("meta"):  # the family's default member: does the family give block features at all?
        probe = copy.copy(space)  # each dimension's first value alone (not a space of its own: nb201's may be cut, stop 46)
        probe.choices = {k: v[:1] for k, v in space.choices.items()}
        net = probe.build(probe.sample(optuna.trial.FixedTrial({})), c, num_classes, (h, w))
    if not callable(getattr(net, "forward_features", None)):
        raise InvalidArgumentError(
            f"--nets {name}: {space.family} networks expose no block features (forward_features), which attention "
            "and embedding matching need; use a convnet space"
        )
    specs = [
        space.sample(optuna.trial.FixedTrial(dict(zip(space.choices, values, strict=True))))
        for values in itertools.product(*space.choices.values())
    ]
    for spec in specs:
        try:
            space.fits(spec, c, num_classes, (h, w))  # the shapes alone where the family can tell (a convnet space)
        except NasProxyError as e:
            raise InvalidArgumentError(
                f"--nets {name}: member {spec} cannot be built for {h}x{w} images ({e}); use a space whose members fit"
            ) from None
    return space
