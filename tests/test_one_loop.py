"""One training loop: a network trained alone and the same network trained as the only copy of a
stack (K = 1) end bit for bit equal on the CPU, with and without DSA, with class indices and with
soft labels; the proxy scores alike. Written against the two loops before they became one, so that
the single loop is held to what both gave."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas_proxy.batched import ModelStack, stack_accuracy, train_stack
from nas_proxy.search import ProxyConfig, ProxyContext
from nas_proxy.spaces import get_space
from nas_proxy.synthetic import load_synthetic
from nas_proxy.training import TrainConfig, accuracy, train_model

SPEC = {"family": "convnet", "depth": 2, "width": 32, "activation": "relu", "normalization": "batchnorm", "pooling": "avgpooling"}
CONFIG = TrainConfig(epochs=4, batch_size=8, lr=0.05)  # 3 steps an epoch (20 images: 8, 8, 4), the lr decay half way


def build(syn_shape: tuple[int, ...], classes: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return get_space("convnet720").build(SPEC, int(syn_shape[1]), classes, (int(syn_shape[2]), int(syn_shape[3])))


def stacked(models: list[nn.Module], x: Tensor, y: Tensor, config: TrainConfig, seeds: list[int]) -> list[nn.Module]:
    """The networks trained as one stack, unstacked into fresh networks of their architecture."""
    stack = train_stack(ModelStack(models), x, y, config, seeds, flip=True)
    return [stack.unstack(k, m) for k, m in enumerate(models)]


@pytest.mark.parametrize("dsa", [True, False], ids=["dsa", "plain"])
@pytest.mark.parametrize("labels", ["hard", "soft"])
def test_a_network_trains_alone_as_the_one_copy_of_a_stack(dsa: bool, labels: str, tiny_run: Path) -> None:
    syn = load_synthetic(tiny_run)
    y = syn.labels
    if labels == "soft":  # not one-hot: rows that change the gradients
        y = F.softmax(torch.randn(len(syn.labels), syn.num_classes, generator=torch.Generator().manual_seed(1)), 1)
    config = TrainConfig(**{**CONFIG.to_dict(), "dsa": dsa})
    alone = train_model(build(syn.images.shape, syn.num_classes, 3), syn.images, y, config, seed=9, flip=True)
    (copy,) = stacked([build(syn.images.shape, syn.num_classes, 3)], syn.images, y, config, [9])
    state = copy.state_dict()
    for name, value in alone.state_dict().items():  # weights, BatchNorm's statistics and its counter
        assert torch.equal(state[name], value), name
    stack = ModelStack([copy])
    assert stack_accuracy(stack, syn.images, syn.labels, amp=False) == [accuracy(alone, syn.images, syn.labels, amp=False)]


def test_the_proxy_scores_a_network_as_the_one_copy_of_a_stack(tiny_run: Path) -> None:
    space = get_space("convnet720")
    ctx = ProxyContext.load(tiny_run, "cpu", ProxyConfig(epochs=4, report_every=2, report_images=200))
    alone = ctx.score(space, SPEC, seed=4)
    one_copy = ctx._score_stack(space, SPEC, 4, None)
    assert one_copy.seed_scores == [alone.accuracy] and one_copy.accuracy == alone.accuracy
    assert one_copy.curve == alone.curve and (one_copy.params, one_copy.flops) == (alone.params, alone.flops)
