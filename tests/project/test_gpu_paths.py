"""The device-resident training and distillation loops (issue 11): what they compute on the CPU is
unchanged, the GPU options do nothing there, and nothing between check points reads a value back
to the host. The ``gpu`` tests check the same on CUDA (host syncs caught by torch's sync debug mode)
and that the CUDA-only options (bf16 autocast, channels_last, CUDA graphs) train correctly.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas_proxy.augment import DSA
from nas_proxy.distill import distill
from nas_proxy.errors import DivergedError
from nas_proxy.models import ConvNet, ConvNetSpec
from nas_proxy.search import ProxyConfig, ProxyContext
from nas_proxy.spaces import get_space
from nas_proxy.synthetic import load_synthetic
from nas_proxy.training import TrainConfig, accuracy, graphable, train_model
from nas_proxy.utils import derive_seed, generator
from tests import warm
from tests.conftest import copy_of, tiny_config

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
SPECS = [  # a norm with running statistics, one without, and no norm at all
    ConvNetSpec(depth=2, width=16, normalization="batchnorm", pooling="maxpooling"),
    ConvNetSpec(depth=2, width=16, normalization="instancenorm", pooling="avgpooling"),
    ConvNetSpec(depth=1, width=8, activation="sigmoid", normalization="none", pooling="none"),
]


# ---- the loop as it was before issue 11 (e202da5): one host read per epoch -------------------


def reference_train(model: nn.Module, x: Tensor, y: Tensor, config: TrainConfig, seed: int, flip: bool) -> nn.Module:
    device = next(model.parameters()).device
    dsa = DSA(flip) if config.dsa else None
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    decay_epoch = int(config.epochs * config.lr_decay_at)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[decay_epoch] if 0 < decay_epoch < config.epochs else [], gamma=0.1)
    n = x.shape[0]
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(n, generator=generator(derive_seed(seed, "epoch", epoch), device), device=device)
        for step, start in enumerate(range(0, n, config.batch_size)):
            idx = order[start : start + config.batch_size]
            xb = x[idx]
            if dsa is not None:
                xb = dsa(xb, derive_seed(seed, "dsa", epoch, step))
            loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if not torch.isfinite(loss):
            raise DivergedError(f"training diverged: the loss became {loss.item()} in epoch {epoch}")
        sched.step()
    return model.eval()


@torch.no_grad()
def reference_accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1024) -> float:
    model.eval()
    correct = 0
    for start in range(0, x.shape[0], batch_size):
        correct += int((model(x[start : start + batch_size]).argmax(1) == y[start : start + batch_size]).sum())
    return correct / max(1, x.shape[0])


def fresh(spec: ConvNetSpec, seed: int, device: str = "cpu") -> ConvNet:
    torch.manual_seed(seed)
    return ConvNet(1, 10, (16, 16), spec).to(device)


def state(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().float().cpu() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("spec", SPECS, ids=str)
def test_training_and_accuracy_match_the_loop_before_issue_11(spec: ConvNetSpec, tiny_run: Path) -> None:
    syn = load_synthetic(tiny_run)  # 20 images: batch 8 gives steps of 8, 8 and 4
    config = TrainConfig(epochs=6, batch_size=8, lr=0.05)
    old = reference_train(fresh(spec, 3), syn.images, syn.labels, config, 11, True)
    new = train_model(fresh(spec, 3), syn.images, syn.labels, config, 11, True, check_every=2)
    for key, value in state(old).items():
        assert torch.equal(value, state(new)[key]), key
    assert accuracy(new, syn.images, syn.labels, batch_size=7, amp=True) == reference_accuracy(old, syn.images, syn.labels, batch_size=7)


def test_cuda_options_leave_cpu_proxy_scores_unchanged(tiny_run: Path) -> None:
    base = ProxyConfig(epochs=4, report_every=2, report_images=120)  # digits' validation split
    space = get_space("convnet-small")
    spec = {"family": "convnet", "depth": 2, "width": 32, "activation": "relu", "normalization": "instancenorm", "pooling": "avgpooling"}
    results = []
    for options in ({}, {"amp": False}, {"channels_last": True, "cuda_graph": True}):
        ctx = ProxyContext.load(tiny_run, "cpu", replace(base, **options))
        results.append(ctx.score(space, spec, seed=0))
    assert [(r.accuracy, r.curve) for r in results[1:]] == [(results[0].accuracy, results[0].curve)] * 2


def test_graphs_are_captured_only_on_cuda_with_one_batch_shape() -> None:
    on = TrainConfig(batch_size=256, cuda_graph=True)
    cuda = torch.device("cuda")
    assert graphable(on, 100, cuda) and graphable(on, 512, cuda)  # one batch; whole batches
    assert not graphable(on, 300, cuda)  # a last batch of 44 would need a second graph
    assert not graphable(on, 100, torch.device("cpu")) and not graphable(replace(on, cuda_graph=False), 100, cuda)


# ---- host reads: counted on the CPU through the tensor methods that return Python values ------


@contextmanager
def host_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record every tensor -> Python value conversion (each is a host sync on CUDA)."""
    seen: list[str] = []
    for name in ("__bool__", "__int__", "__float__", "item", "tolist"):
        original = getattr(torch.Tensor, name)

        def counted(self: Tensor, *args: Any, _name: str = name, _original: Callable[..., Any] = original) -> Any:
            seen.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(torch.Tensor, name, counted)
    yield seen
    monkeypatch.undo()


def test_training_reads_the_device_only_at_check_points(tiny_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    syn = load_synthetic(tiny_run)
    counts = []
    for epochs in (2, 8):  # before issue 11: one read per epoch (the divergence check)
        with host_reads(monkeypatch) as seen:
            train_model(fresh(SPECS[0], 0), syn.images, syn.labels, TrainConfig(epochs=epochs, batch_size=8), 0)
        counts.append(len(seen))
    assert counts[0] == counts[1] == 1, counts  # the divergence flag, read once at the end


def test_a_proxy_trial_reads_the_device_only_at_its_reports(tiny_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    space = get_space("convnet720")
    spec = {"family": "convnet", "depth": 1, "width": 32, "activation": "relu", "normalization": "batchnorm", "pooling": "avgpooling"}
    counts = []
    for epochs in (3, 9):  # one report (at the end) each
        ctx = ProxyContext.load(tiny_run, "cpu", ProxyConfig(epochs=epochs, report_every=epochs, report_images=120))
        with host_reads(monkeypatch) as seen:
            ctx.score(space, spec)
        counts.append(len(seen))
    assert counts[0] == counts[1], counts


def test_distillation_reads_the_device_only_at_read_backs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    counts, losses = [], []
    for iterations in (4, 12):  # one read-back and one checkpoint each
        config = tiny_config(iterations=iterations, log_every=iterations, checkpoint_every=iterations)
        with host_reads(monkeypatch) as seen:
            run = distill(config, tmp_path / str(iterations), progress=False)
        counts.append(len(seen))
        losses.append(run.meta["loss"]["last"]["loss"])
    assert counts[0] == counts[1], counts
    assert losses[0] != losses[1]  # the longer run did run more steps


def test_divergence_is_found_at_the_next_check_and_names_its_first_epoch(tiny_run: Path) -> None:
    syn = load_synthetic(tiny_run)
    config = TrainConfig(epochs=6, lr=1e20)
    with pytest.raises(DivergedError) as before:  # the old loop stops in the epoch that diverged
        reference_train(fresh(SPECS[1], 0), syn.images, syn.labels, config, 0, True)
    assert "training diverged: the loss became nan in epoch 1" in str(before.value)
    called: list[int] = []
    with pytest.raises(DivergedError) as now:
        train_model(fresh(SPECS[1], 0), syn.images, syn.labels, config, 0, on_epoch=lambda e, m: called.append(e), check_every=3)
    assert str(now.value) == str(before.value) and called == [0, 1]  # the check after epoch 3 raised before its on_epoch
    with pytest.raises(DivergedError) as at_end:  # check_every=0: at the end only
        train_model(fresh(SPECS[1], 0), syn.images, syn.labels, config, 0, on_epoch=lambda e, m: called.append(e))
    assert str(at_end.value) == str(before.value) and called == [0, 1, 0, 1, 2, 3, 4]


# ---- CUDA -------------------------------------------------------------------------------------


@contextmanager
def sync_debug(mode: str) -> Iterator[list[str]]:
    """torch's CUDA sync debug mode; in "warn" mode the syncs are recorded and returned."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode(mode)
        syncs: list[str] = []
        try:
            yield syncs
        finally:
            torch.cuda.set_sync_debug_mode("default")
            syncs.extend(str(w.message) for w in caught if "synchroniz" in str(w.message))


CUDA_OPTIONS = [{}, {"amp": False}, {"channels_last": True}, {"cuda_graph": True}, {"channels_last": True, "cuda_graph": True}]


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("options", CUDA_OPTIONS, ids=lambda o: ",".join(o) or "default")
def test_cuda_training_epochs_make_no_host_sync(options: dict[str, bool], tiny_run: Path) -> None:
    syn = load_synthetic(tiny_run)
    x, y = syn.images.cuda(), syn.labels.cuda()
    config = TrainConfig(epochs=8, batch_size=256, **options)

    def toggle(epoch: int, model: nn.Module) -> None:  # sync errors on from after epoch 0 to after epoch 6
        if epoch == 0:
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")
        elif epoch == 6:
            torch.cuda.set_sync_debug_mode("default")

    try:
        model = train_model(fresh(SPECS[0], 0, "cuda"), x, y, config, 0, on_epoch=toggle)  # epochs 1-6 in error mode
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert 0 <= accuracy(model, x, y, amp=config.amp) <= 1


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("spec", SPECS[:2], ids=str)
def test_cuda_graphs_train_like_eager_mode(spec: ConvNetSpec, tiny_run: Path) -> None:
    syn = load_synthetic(tiny_run)
    x, y = syn.images.cuda(), syn.labels.cuda()
    config = TrainConfig(epochs=3, batch_size=256, amp=False)  # fp32: only the accumulation order may differ
    eager = train_model(fresh(spec, 5, "cuda"), x, y, config, 7)
    graphed = train_model(fresh(spec, 5, "cuda"), x, y, replace(config, cuda_graph=True), 7)
    a, b = state(eager), state(graphed)
    for key in a:  # BatchNorm statistics included: the capture's warm-up forwards are undone
        torch.testing.assert_close(b[key], a[key], rtol=1e-2, atol=1e-3, msg=key)


@pytest.mark.gpu
@needs_cuda
def test_cuda_proxy_scores_with_every_option(tiny_run: Path) -> None:
    space = get_space("convnet-small")
    spec = {"family": "convnet", "depth": 2, "width": 32, "activation": "relu", "normalization": "instancenorm", "pooling": "avgpooling"}
    for options in CUDA_OPTIONS:
        ctx = ProxyContext.load(tiny_run, "cuda", ProxyConfig(epochs=20, report_every=5, report_images=120, **options))
        result = ctx.score(space, spec)
        assert 10 < result.accuracy <= 100 and result.curve[-1][0] == 20, (options, result)


@pytest.mark.gpu
@needs_cuda
def test_cuda_distillation_steps_make_no_host_sync(tmp_path: Path) -> None:
    distill(tiny_config(device="cuda", iterations=2), tmp_path / "warm", progress=False)  # lazy initialisations
    counts = []
    for iterations in (3, 13):  # setup, one read-back, one checkpoint and the artifact in both
        config = tiny_config(device="cuda", amp=True, iterations=iterations, log_every=iterations, checkpoint_every=iterations)
        with sync_debug("warn") as syncs:
            distill(config, tmp_path / str(iterations), progress=False)
        counts.append(len(syncs))
    assert counts[0] == counts[1] and counts[0] > 0, counts  # > 0: the read-back itself is seen


@pytest.mark.gpu
@needs_cuda
def test_proxy_processes_share_one_gpu(tiny_run: Path, tmp_path: Path) -> None:
    specs = [
        {"family": "convnet", "depth": d, "width": w, "activation": "relu", "normalization": "instancenorm", "pooling": "avgpooling"}
        for d, w in ((1, 32), (2, 64), (3, 32))
    ]
    archs = tmp_path / "archs.json"
    archs.write_text(json.dumps(specs))
    run = copy_of(tiny_run, tmp_path / "run")  # score keeps its results in the set: the shared one stays read-only
    common = [sys.executable, "-m", "nas_proxy", "score", "--synthetic", str(run), "--space", "convnet-small", "--archs", str(archs)]
    common += ["--device", "cuda", "--epochs", "10", "--report-every", "5", "--report-images", "120", "--json", "--quiet"]
    options: list[list[str]] = [
        [],
        ["--cuda-graph", "--channels-last"],
        ["--no-amp"],
        [],
    ]  # four processes at once, each with its own CUDA context
    root = Path(__file__).resolve().parents[2]  # python -m nas_proxy runs this checkout
    procs = [warm.Popen([*common, *o], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for o in options]
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
        results = json.loads(out)
        assert [r["spec"] for r in results] == specs and all(10 < r["accuracy"] <= 100 for r in results), results
