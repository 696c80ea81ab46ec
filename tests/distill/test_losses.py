"""The matching losses: zero on identical statistics, equal to the per-class loop reference."""

from __future__ import annotations

import pytest
import torch

from nas_proxy.distill.losses import class_means, mmd_loss, sam_loss, spatial_attention
from nas_proxy.distill.methods import DataDAM, DistributionMatching, Features
from nas_proxy.distill.reference import datadam_loss_loop, dm_loss_loop
from nas_proxy.models import ConvNet, ConvNetSpec

K = 3


def features(n_per_class: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(K * n_per_class, 8, s, s, generator=g) for s in (8, 4, 2)]


def test_class_means_groups_contiguous_rows() -> None:
    x = torch.arange(12.0).view(6, 2)  # classes: rows 0-1, 2-3, 4-5
    assert torch.equal(class_means(x, 3), torch.tensor([[1.0, 2.0], [5.0, 6.0], [9.0, 10.0]]))


def test_spatial_attention_is_unit_norm_sum_of_powers() -> None:
    f = torch.tensor([[[[1.0, -2.0]], [[3.0, 0.0]]]])  # (1, C=2, H=1, W=2)
    a = spatial_attention(f, power=2)
    expected = torch.tensor([[10.0, 4.0]]) / torch.tensor(116.0).sqrt()
    assert torch.allclose(a, expected)


def test_losses_are_zero_for_identical_statistics() -> None:
    real = features(4, seed=0)
    assert sam_loss(real, real, K, power=4).item() == 0.0
    emb = real[-1].flatten(1)
    assert mmd_loss(emb, emb, K).item() == 0.0
    # a synthetic set of one image per class equal to the real class mean matches the MMD exactly
    assert mmd_loss(emb, class_means(emb, K), K).item() == pytest.approx(0.0, abs=1e-8)


def test_losses_are_positive_for_different_statistics() -> None:
    real, syn = features(4, seed=0), features(2, seed=1)
    assert sam_loss(real, syn, K, power=4).item() > 0
    assert mmd_loss(real[-1].flatten(1), syn[-1].flatten(1), K).item() > 0


def test_sam_ignores_the_last_block() -> None:
    real, syn = features(4, seed=0), features(4, seed=0)
    syn[-1] = syn[-1] + 5.0
    assert sam_loss(real, syn, K, power=1).item() == 0.0


@pytest.mark.parametrize("power", [1.0, 4.0])
def test_vectorised_datadam_equals_per_class_loop(power: float) -> None:
    torch.manual_seed(0)
    net = ConvNet(1, K, (16, 16), ConvNetSpec(width=16)).requires_grad_(False)
    real, syn = torch.randn(K * 5, 1, 16, 16), torch.randn(K * 2, 1, 16, 16)
    fr, er = net.forward_features(real)
    fs, es = net.forward_features(syn)
    vectorised = DataDAM(attention_power=power, lambda_mmd=0.01).loss(Features(fr, er), Features(fs, es), K)["loss"]
    loop = datadam_loss_loop(net, real, syn, K, power, 0.01)
    assert vectorised.item() == pytest.approx(loop.item(), rel=1e-5)
    dm = DistributionMatching().loss(Features(fr, er), Features(fs, es), K)["loss"]
    assert dm.item() == pytest.approx(dm_loss_loop(net, real, syn, K).item(), rel=1e-5)
