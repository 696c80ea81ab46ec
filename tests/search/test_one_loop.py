"""One training loop: a network trained alone and the same network trained as the only copy of a
stack (K = 1) end bit for bit equal on the CPU, with and without DSA, with class indices and with
soft labels; the proxy scores alike. Written against the two loops before they became one, so that
the single loop is held to what both gave."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, cast

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas_proxy.batched import ModelStack
from nas_proxy.errors import DivergedError
from nas_proxy.search import ProxyConfig, ProxyContext
from nas_proxy.spaces import SearchSpace, arch_id, get_space
from nas_proxy.synthetic import load_synthetic
from nas_proxy.training import TrainConfig, accuracies, accuracy, train_model
from nas_proxy.utils import derive_seed

SPEC = {"family": "convnet", "depth": 2, "width": 32, "activation": "relu", "normalization": "batchnorm", "pooling": "avgpooling"}
CONFIG = TrainConfig(epochs=4, batch_size=8, lr=0.05)  # 3 steps an epoch (20 images: 8, 8, 4), the lr decay half way


def build(syn_shape: tuple[int, ...], classes: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return get_space("convnet720").build(SPEC, int(syn_shape[1]), classes, (int(syn_shape[2]), int(syn_shape[3])))


def stacked(models: list[nn.Module], x: Tensor, y: Tensor, config: TrainConfig, seeds: list[int]) -> list[nn.Module]:
    """The networks trained as one stack, unstacked into fresh networks of their architecture."""
    stack = train_model(ModelStack(models), x, y, config, seeds, flip=True)
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
    assert accuracies(stack, syn.images, syn.labels, amp=False) == [accuracy(alone, syn.images, syn.labels, amp=False)]


def test_the_proxy_scores_a_network_as_the_one_copy_of_a_stack(tiny_run: Path) -> None:
    """``score`` trains a network alone at K = 1: the same network trained and scored as the only
    copy of a stack gives its score and curve."""
    space = get_space("convnet720")
    config = ProxyConfig(epochs=4, report_every=2, report_images=120)  # digits' validation split
    ctx = ProxyContext.load(tiny_run, "cpu", config)
    alone = ctx.score(space, SPEC, seed=4)
    run_seed = derive_seed(4, "proxy", arch_id(SPEC))
    torch.manual_seed(run_seed)
    stack = ModelStack([ctx.build(space, SPEC)])
    curve: list[tuple[int, float]] = []

    def on_epoch(epoch: int, s: ModelStack) -> None:
        if (epoch + 1) % config.report_every == 0:
            curve.append((epoch + 1, 100.0 * accuracies(s, ctx.report_x, ctx.report_y, amp=True)[0]))

    train_model(stack, ctx.images, ctx.labels, config.train_config(), [run_seed], ctx.flip, on_epoch, check_every=config.report_every)
    assert [100.0 * a for a in accuracies(stack, ctx.val_x, ctx.val_y, amp=True)] == [alone.accuracy]
    assert curve == alone.curve and alone.seed_scores == []


def test_a_diverged_copy_is_named_and_a_network_alone_is_not(tiny_run: Path) -> None:
    syn = load_synthetic(tiny_run)
    stack = ModelStack([build(syn.images.shape, syn.num_classes, s) for s in (1, 2)])
    with torch.no_grad():
        stack.params["classifier.weight"][1].fill_(float("nan"))  # copy 1 only
    with pytest.raises(DivergedError, match=r"the loss of copy 1 \(of 2, seed 8\) became nan in epoch 0"):
        train_model(stack, syn.images, syn.labels, CONFIG, [7, 8])
    net = build(syn.images.shape, syn.num_classes, 1)
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(float("nan"))
    with pytest.raises(DivergedError, match=r"^training diverged: the loss became nan in epoch 0$"):
        train_model(net, syn.images, syn.labels, CONFIG, 7)
    with pytest.raises(ValueError, match="2 copies need 2 seeds, got 1"):
        train_model(ModelStack([net, net]), syn.images, syn.labels, CONFIG, 7)


class SlowToBuild:
    """A space whose networks take a moment to build, after their seed is set and before their weights are drawn."""

    def __init__(self, name: str) -> None:
        self.space = get_space(name)

    def build(self, *args: Any) -> nn.Module:
        time.sleep(0.02)  # another thread runs here
        return self.space.build(*args)


def test_trials_on_several_threads_score_as_one_at_a_time(tiny_run: Path) -> None:
    """A process may run several trials at once, one per thread (each on a CUDA stream of its own on a GPU:
    benchmarks/gpu_proxy.py's lanes): every trial's score and curve equal the trial run alone, although every
    thread sets torch's global seed while the others build their networks."""
    space = cast(SearchSpace, SlowToBuild("convnet720"))
    ctx = ProxyContext.load(tiny_run, "cpu", ProxyConfig(epochs=1, report_every=1, report_images=100))
    specs = [{**SPEC, "width": w, "normalization": n} for w in (32, 64) for n in ("batchnorm", "instancenorm")]
    alone = [ctx.score(space, spec, seed=k) for k, spec in enumerate(specs)]
    together: list[Any] = [None] * len(specs)
    start = threading.Barrier(len(specs))

    def trial(k: int) -> None:
        start.wait()
        together[k] = ctx.score(space, specs[k], seed=k)

    threads = [threading.Thread(target=trial, args=(k,)) for k in range(len(specs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [(r.accuracy, r.curve) for r in together] == [(r.accuracy, r.curve) for r in alone]


def test_the_protocols_sgd_steps_as_torchs_and_imports_no_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    """perf54b: every process that trained imported torch._dynamo and sympy (~1.8 CPU-s) at its first optimiser (torch
    wraps SGD's methods to keep torch.compile out); the protocol's SGD now imports nothing, and steps as torch's bit for
    bit (momentum, weight decay, a schedule stepped every step)."""
    import builtins

    from nas_proxy.training import SGD, optimizer

    config = TrainConfig(lr=0.05, momentum=0.9, weight_decay=5e-4)
    imported, real_import = list[str](), builtins.__import__

    def recording(name: str, *args: Any, **kwargs: Any) -> Any:
        imported.append(name)
        return real_import(name, *args, **kwargs)

    def trained(make: Any) -> list[Tensor]:
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3))
        opt = make(net.parameters())
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=6)
        g = torch.Generator().manual_seed(1)
        for _ in range(6):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(torch.randn(5, 1, 8, 8, generator=g)), torch.tensor([0, 1, 2, 0, 1])).backward()
            opt.step()
            sched.step()
        return [p.detach().clone() for p in net.parameters()]

    with monkeypatch.context() as m:
        m.setattr(builtins, "__import__", recording)
        ours = trained(lambda params: optimizer(params, config))
    assert "torch._dynamo" not in imported, imported
    torchs = trained(lambda params: torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay))
    assert isinstance(optimizer(nn.Linear(1, 1).parameters(), config), SGD)
    assert all(torch.equal(a, b) for a, b in zip(ours, torchs, strict=True))
