"""Distillation methods behind one interface, registered by name.

A method turns the frozen random network's outputs on augmented real and synthetic images into a
loss on the synthetic pixels. ``random`` has no loss: its result is the initial real subset.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor

from nas_proxy.distill.losses import mmd_loss, sam_loss
from nas_proxy.registry import Registry


class DistillMethod(ABC):
    """Base of the distillation methods.

    ``iterative`` is False for methods that only select real images (no optimisation loop).
    ``loss`` is called once per iteration with the features of one forward of all real images
    (no grad) and one of all synthetic images, both grouped by class; it returns named terms
    whose ``"loss"`` entry is minimised.
    """

    iterative = True

    @abstractmethod
    def loss(
        self,
        real_feats: list[Tensor],
        real_emb: Tensor,
        syn_feats: list[Tensor],
        syn_emb: Tensor,
        num_classes: int,
        attention_power: float,
        lambda_mmd: float,
    ) -> dict[str, Tensor]: ...


METHODS: Registry[type[DistillMethod]] = Registry("distillation method")


@METHODS.register("datadam")
class DataDAM(DistillMethod):
    """SAM over the intermediate blocks + lambda * MMD on the embedding (Sajedi et al., 2023).

    Both terms are scaled by 100 as in the official code, the scale its image lr (1.0) was tuned for.
    """

    def loss(self, real_feats, real_emb, syn_feats, syn_emb, num_classes, attention_power, lambda_mmd):  # type: ignore[no-untyped-def]
        sam = 100 * sam_loss(real_feats, syn_feats, num_classes, attention_power)
        mmd = 100 * lambda_mmd * mmd_loss(real_emb, syn_emb, num_classes)
        return {"loss": sam + mmd, "sam": sam, "mmd": mmd}


@METHODS.register("dm")
class DistributionMatching(DistillMethod):
    """MMD of the embeddings only (Zhao & Bilen, WACV 2023), unscaled as in its code."""

    def loss(self, real_feats, real_emb, syn_feats, syn_emb, num_classes, attention_power, lambda_mmd):  # type: ignore[no-untyped-def]
        mmd = mmd_loss(real_emb, syn_emb, num_classes)
        return {"loss": mmd, "mmd": mmd}


@METHODS.register("random")
class RandomSubset(DistillMethod):
    """A random real subset of IPC images per class: the baseline every table compares with."""

    iterative = False

    def loss(self, real_feats, real_emb, syn_feats, syn_emb, num_classes, attention_power, lambda_mmd):  # type: ignore[no-untyped-def]
        raise NotImplementedError("the random subset is not optimised")
