"""The fast real-data trainer's options (``FastTrainConfig``): all off, the ground-truth training is
the one before they existed, bit for bit (held against a copy of that loop, kept here as the oracle);
each option that runs on a CPU runs and changes what it should, and nothing else."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas_proxy.augment import DSA
from nas_proxy.trainers.fulldata import DataRef, GroundTruthConfig, RealData, train_network
from nas_proxy.utils import derive_seed, generator

SPEC = {"family": "convnet", "depth": 2, "width": 16, "activation": "relu", "normalization": "batchnorm", "pooling": "avgpooling"}
BASE = GroundTruthConfig(
    epochs=3, batch_size=64, lr=0.05, images=300, early=(1.0,)
)  # 299 images (the stratified subset): 5 steps an epoch, the last of 43


@pytest.fixture(scope="module")
def data() -> RealData:
    return RealData(DataRef("digits"), BASE, torch.device("cpu"))


def reference_train(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    config: GroundTruthConfig,
    seed: int,
    flip: bool,
    smoothing: float = 0.0,
    drop_last: bool = False,
    warmup_cosine: float | None = None,
) -> nn.Module:
    """The single-network path of ``training.train_model`` as it was before the fast options (commit
    6b98817), without its CUDA-only branches: the oracle of the options-off path. ``smoothing``,
    ``drop_last`` and ``warmup_cosine`` (a cosine schedule with that warm-up, stepped per step,
    written out here) are what each option should change, and nothing else."""
    dsa = DSA(flip) if config.augment else None
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, weight_decay=5e-4)
    decay_epoch = int(config.epochs * 0.5)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[decay_epoch] if 0 < decay_epoch < config.epochs else [], gamma=0.1)
    n = x.shape[0]
    steps = n // config.batch_size if drop_last else math.ceil(n / config.batch_size)
    total, warm = config.epochs * steps, round((warmup_cosine or 0.0) * config.epochs * steps)
    done = 0
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(n, generator=generator(derive_seed(seed, "epoch", epoch), x.device), device=x.device)
        for step in range(steps):
            i = order[step * config.batch_size : (step + 1) * config.batch_size]
            xb = x[i]
            if dsa is not None:
                xb = dsa(xb, derive_seed(seed, "dsa", epoch, step))
            if warmup_cosine is not None:  # the lr of this step: linear warm-up from 0, then half a cosine to 0
                f = (done + 1) / warm if done < warm else 0.5 * (1 + math.cos(math.pi * (done - warm) / (total - warm)))
                for g in opt.param_groups:
                    g["lr"] = config.lr * f
            loss = F.cross_entropy(model(xb), y[i], label_smoothing=smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
        if warmup_cosine is None:
            sched.step()
    model.train(False)
    return model


def reference(data: RealData, config: GroundTruthConfig, seed: int, **changes: Any) -> nn.Module:
    from nas_proxy.spaces import arch_id, build_model

    run_seed = derive_seed(seed, "groundtruth", arch_id(SPEC))
    torch.manual_seed(run_seed)
    model = build_model(SPEC, data.channels, data.num_classes, data.image_size)
    return reference_train(model, data.train_x, data.train_y, config, run_seed, data.flip, **changes)


def same(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("augment", [False, True], ids=["plain", "dsa"])
def test_options_off_train_bit_for_bit_as_the_loop_before_them(data: RealData, augment: bool) -> None:
    config = GroundTruthConfig(**{**BASE.to_dict(), "early": (1.0,), "augment": augment})
    old = reference(data, config, seed=3)
    assert same(train_network(SPEC, 3, data, config).model, old)
    fast_off = fast_config(config)
    assert same(train_network(SPEC, 3, data, fast_off).model, old)
    assert not same(train_network(SPEC, 4, data, config).model, old)  # the comparison can fail


def fast_config(base: GroundTruthConfig, **options: Any) -> GroundTruthConfig:
    from nas_proxy.protocols import FastTrainConfig

    return GroundTruthConfig(**{**base.to_dict(), "early": base.early, "fast": FastTrainConfig(**options)})


@pytest.mark.parametrize(
    ("options", "changes"),
    [
        ({"label_smoothing": 0.1}, {"smoothing": 0.1}),
        ({"drop_last": True}, {"drop_last": True}),  # 299 images, batches of 64: the last 43 are skipped
        ({"schedule": "cosine", "warmup": 0.2}, {"warmup_cosine": 0.2}),
    ],
    ids=["label-smoothing", "drop-last", "cosine"],
)
def test_each_option_changes_what_it_should_and_nothing_else(data: RealData, options: dict[str, Any], changes: dict[str, Any]) -> None:
    trained = train_network(SPEC, 3, data, fast_config(BASE, **options)).model
    assert same(trained, reference(data, BASE, 3, **changes))
    assert not same(trained, reference(data, BASE, 3))


def test_drop_last_changes_nothing_when_the_batches_divide_the_split(data: RealData) -> None:
    even = GroundTruthConfig(**{**BASE.to_dict(), "early": BASE.early, "batch_size": 23})  # 299 = 13 x 23
    assert same(train_network(SPEC, 3, data, fast_config(even, drop_last=True)).model, reference(data, even, 3))


def test_early_points_count_the_steps_of_the_dropped_epoch(data: RealData) -> None:
    config = fast_config(GroundTruthConfig(**{**BASE.to_dict(), "early": (0.5, 1.0)}), drop_last=True)
    trained = train_network(SPEC, 3, data, config, until=1.0)  # 4 steps an epoch: stops after the 4th
    assert trained.stopped and set(trained.early) == {"0.5", "1"}


def test_a_stopped_training_scores_its_points_as_the_full_one_bit_for_bit(data: RealData) -> None:
    """``until`` (search --proxy early@Xep) stops the ground truth's training once its point is scored: up to there
    it is the full training (all epochs, its other points scored on the way, as correlate runs it), bit for bit."""
    full = train_network(SPEC, 3, data, GroundTruthConfig(**{**BASE.to_dict(), "early": (0.5, 1.0)}))
    stopped = train_network(SPEC, 3, data, BASE, until=1.0)  # the proxy's config: its own point only
    assert not full.stopped and stopped.stopped and set(full.early) == {"0.5", "1"} and set(stopped.early) == {"1"}
    assert stopped.early["1"]["val_accuracy"] == full.early["1"]["val_accuracy"]
    assert not same(stopped.model, full.model)  # stopped after 5 of its 15 steps


@pytest.mark.parametrize("name", ["cosine", "onecycle"])
def test_schedules_warm_up_then_anneal_per_step(name: str) -> None:
    from nas_proxy.protocols import TrainConfig
    from nas_proxy.schedules import make_schedule

    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.4, momentum=0.9)
    schedule = make_schedule(name, opt, TrainConfig(epochs=10, lr=0.4), total_steps=100, warmup=0.2)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.scheduler.step()
    peak = max(range(100), key=lambda i: lrs[i])
    assert schedule.per_step and 18 <= peak <= 21 and lrs[peak] == pytest.approx(0.4)
    assert all(a <= b for a, b in itertools.pairwise(lrs[: peak + 1])) and lrs[0] < 0.05  # rising from (near) 0
    assert all(a >= b for a, b in itertools.pairwise(lrs[peak:])) and lrs[-1] < 0.01  # annealed to (near) 0


def test_today_protocol_keeps_its_dict_and_the_fast_one_round_trips() -> None:
    from nas_proxy.protocols import FastTrainConfig

    assert "fast" not in GroundTruthConfig().to_dict()  # study names and cache keys unchanged
    fast = GroundTruthConfig(fast=FastTrainConfig(schedule="onecycle", label_smoothing=0.1, drop_last=True))
    assert fast.to_dict()["fast"]["schedule"] == "onecycle"
    assert (
        GroundTruthConfig.from_dict(fast.to_dict()) == fast
        and GroundTruthConfig.from_dict(GroundTruthConfig().to_dict()) == GroundTruthConfig()
    )


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"schedule": "linear"}, "schedule"),
        ({"warmup": 0.1}, "warmup"),
        ({"compile": True, "cuda_graph": True}, "compile"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
    ],
)
def test_bad_options_are_one_line_errors(options: dict[str, Any], words: str) -> None:
    from nas_proxy.errors import NasProxyError

    with pytest.raises(NasProxyError, match=words):
        fast_config(BASE, **options).validate()


@pytest.mark.slow
def test_compiled_network_trains_as_the_eager_one_up_to_rounding(data: RealData) -> None:
    eager = train_network(SPEC, 3, data, BASE).model
    compiled = train_network(SPEC, 3, data, fast_config(BASE, compile=True)).model
    ea, ca = eager.state_dict(), compiled.state_dict()
    assert ea.keys() == ca.keys()  # the compiled wrapper trained the network's own parameters
    assert all(torch.allclose(ea[k].float(), ca[k].float(), atol=1e-3, rtol=1e-3) for k in ea)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA only")
def test_cuda_graph_trains_as_the_eager_step_label_smoothing_included() -> None:
    cuda = RealData(DataRef("digits"), BASE, torch.device("cuda"))
    eager = train_network(SPEC, 3, cuda, fast_config(BASE, drop_last=True, label_smoothing=0.1)).model
    graphed = train_network(
        SPEC, 3, cuda, fast_config(BASE, drop_last=True, label_smoothing=0.1, channels_last=True, cuda_graph=True)
    ).model
    plain = train_network(SPEC, 3, cuda, fast_config(BASE, drop_last=True)).model
    ea, ga, pa = eager.state_dict(), graphed.state_dict(), plain.state_dict()
    gap = max((ea[k].float() - ga[k].float()).abs().max().item() for k in ea)  # bf16 rounding apart
    smoothing = max((ea[k].float() - pa[k].float()).abs().max().item() for k in ea)
    assert gap < smoothing  # the graph applies the smoothing: it is nearer the smoothed eager step than the plain one


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA only")
def test_an_epoch_reads_nothing_back_to_the_host() -> None:
    import warnings

    from nas_proxy.spaces import build_model
    from nas_proxy.training import train_model

    cuda = RealData(DataRef("digits"), BASE, torch.device("cuda"))
    config = fast_config(BASE, schedule="onecycle", label_smoothing=0.1, drop_last=True)
    model = build_model(SPEC, cuda.channels, cuda.num_classes, cuda.image_size).to(cuda.device)
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            train_model(model, cuda.train_x, cuda.train_y, config.train_config(), 3, cuda.flip, fast=config.fast)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in seen if "synchroniz" in str(w.message)]
    assert len(syncs) <= config.epochs + 1, [str(w.message) for w in syncs][:5]  # at most one an epoch, and the divergence read at the end


def test_a_config_file_sets_the_fast_options_of_correlate(tmp_path: Path) -> None:
    from nas_proxy.cli import build_parser
    from nas_proxy.cli.common import Config
    from nas_proxy.cli.correlate import resolve

    config = tmp_path / "c.toml"
    config.write_text('[correlate.ground_truth.fast]\nschedule = "cosine"\nwarmup = 0.1\nlabel_smoothing = 0.1\n')
    args = build_parser().parse_args(["correlate", "--space", "convnet-cpu", "--synthetic", "x", "--out", str(tmp_path / "o")])
    fast = resolve(args, Config(str(config))).config.ground_truth.fast
    assert (fast.schedule, fast.warmup, fast.label_smoothing) == ("cosine", 0.1, 0.1)
