"""Matching losses of DataDAM and DM, vectorised over classes.

Images are grouped by class, contiguous: ``real`` features are (K * B, ...) for K classes with B
images each, ``syn`` features (K * ipc, ...). Means are taken per class in one reshape.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def class_means(x: Tensor, num_classes: int) -> Tensor:
    """(K * n, d) grouped by class -> (K, d) per-class means."""
    return x.reshape(num_classes, -1, x.shape[-1]).mean(1)


def spatial_attention(f: Tensor, power: float) -> Tensor:
    """(N, C, H, W) -> (N, H * W): sum over channels of |f|^p, L2-normalised per image."""
    return F.normalize(f.float().abs().pow(power).sum(1).flatten(1), dim=1)


def sam_loss(real_feats: list[Tensor], syn_feats: list[Tensor], num_classes: int, power: float) -> Tensor:
    """Spatial attention matching over all blocks but the last: sum over classes, layers and
    positions of the squared difference of the class-mean attention maps."""
    total = real_feats[0].new_zeros((), dtype=real_feats[0].dtype).float()
    for fr, fs in zip(real_feats[:-1], syn_feats[:-1], strict=True):
        ar = class_means(spatial_attention(fr, power), num_classes)  # (K, H*W)
        as_ = class_means(spatial_attention(fs, power), num_classes)
        total = total + (ar - as_).pow(2).sum()
    return total


def mmd_loss(real_emb: Tensor, syn_emb: Tensor, num_classes: int) -> Tensor:
    """Linear-kernel MMD: sum over classes of the squared distance of the mean embeddings."""
    return (class_means(real_emb.float(), num_classes) - class_means(syn_emb.float(), num_classes)).pow(2).sum()
