"""Distillation methods behind one interface, registered by name.

A method is a small dataclass: its fields are its own hyper-parameters, ``terms`` names what its
loss returns, and ``optimises`` says whether it has a loss at all. The run builds the method once
(:func:`nas_proxy.distill.config.resolve`), records its fields in ``meta.json`` and logs whichever
terms it declares. Adding a method is registering one class::

    @METHODS.register("mean-embedding")
    @dataclass
    class MeanEmbedding(DistillMethod):
        terms = ("loss", "l2")

        def loss(self, real, syn, num_classes):
            l2 = mmd_loss(real.embedding, syn.embedding, num_classes)
            return {"loss": l2, "l2": l2}
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from nas_proxy.registry import Registry

if TYPE_CHECKING:  # the losses import torch when a method computes one: the registry's names come without it
    from typing import Self

    from torch import Tensor


class Features(NamedTuple):
    """One forward of the distillation network over images grouped by class."""

    blocks: list[Tensor]  # per block (N, width, H_l, W_l)
    embedding: Tensor  # (N, D)


@dataclass
class DistillMethod(ABC):
    """Base of the distillation methods; a subclass is a ``@dataclass`` whose fields are its options.

    - Once per run, after the dataset is loaded, each field is set from the ``DistillConfig``
      field of the same name (a field the config lacks keeps its default), then
      :meth:`for_images` fills in the defaults that depend on the image size.
    - :meth:`loss` is called once per iteration (only when ``optimises``) with one forward of all
      real images (no grad) and one of all synthetic images, both grouped by class; it returns the
      terms named in ``terms``, whose ``"loss"`` entry is minimised.
    """

    optimises: ClassVar[bool] = True  # False: the result is the initial real subset, ``loss`` is never called
    terms: ClassVar[tuple[str, ...]] = ("loss",)  # what ``loss`` returns, in logging order; "loss" first
    # the norm of the method's own distillation ConvNet: DistillConfig.net_norm's default (None)
    net_norm: ClassVar[str] = "instancenorm"

    def for_images(self, image_size: tuple[int, int]) -> Self:
        """This method with its image-size-dependent defaults filled in, for images (H, W)."""
        return self

    def options(self) -> dict[str, Any]:
        """The resolved options, as ``meta.json`` records them."""
        return dataclasses.asdict(self)

    @abstractmethod
    def loss(self, real: Features, syn: Features, num_classes: int) -> dict[str, Tensor]: ...


METHODS: Registry[type[DistillMethod]] = Registry("distillation method")


@METHODS.register("datadam")
@dataclass
class DataDAM(DistillMethod):
    """SAM over the intermediate blocks + lambda * MMD on the embedding (Sajedi et al., 2023).

    Both terms are scaled by 100 as in the official code, the scale its image lr (1.0) was tuned for.
    """

    terms = ("loss", "sam", "mmd")
    net_norm = "batchnorm"  # the official code's (the paper's is instance norm): measured best, RESULTS.md §19
    attention_power: float  # p in sum_c |f_c|^p
    lambda_mmd: float | None  # weight of MMD; None: 0.01 up to 32 px, 0.02 above (paper)

    def for_images(self, image_size: tuple[int, int]) -> Self:
        if self.lambda_mmd is not None:
            return self
        return dataclasses.replace(self, lambda_mmd=0.01 if max(image_size) <= 32 else 0.02)

    def loss(self, real: Features, syn: Features, num_classes: int) -> dict[str, Tensor]:
        from nas_proxy.distill.losses import mmd_loss, sam_loss

        sam = 100 * sam_loss(real.blocks, syn.blocks, num_classes, self.attention_power)
        assert self.lambda_mmd is not None, "resolved by for_images"
        mmd = 100 * self.lambda_mmd * mmd_loss(real.embedding, syn.embedding, num_classes)
        return {"loss": sam + mmd, "sam": sam, "mmd": mmd}


@METHODS.register("dm")
@dataclass
class DistributionMatching(DistillMethod):
    """MMD of the embeddings only (Zhao & Bilen, WACV 2023), unscaled as in its code."""

    terms = ("loss", "mmd")
    net_norm = "instancenorm"  # DM's paper and code, as measured (RESULTS.md §19)

    def loss(self, real: Features, syn: Features, num_classes: int) -> dict[str, Tensor]:
        from nas_proxy.distill.losses import mmd_loss

        mmd = mmd_loss(real.embedding, syn.embedding, num_classes)
        return {"loss": mmd, "mmd": mmd}


@METHODS.register("random")
@dataclass
class RandomSubset(DistillMethod):
    """A random real subset of IPC images per class: the baseline every table compares with."""

    optimises = False  # no network: net_norm is irrelevant (the base's is kept)

    def loss(self, real: Features, syn: Features, num_classes: int) -> dict[str, Tensor]:
        """Zero: the subset is kept as drawn (the runner does not call it, as ``optimises`` is False)."""
        return {"loss": syn.embedding.sum() * 0}
