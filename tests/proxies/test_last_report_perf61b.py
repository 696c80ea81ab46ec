"""A proxy trial's last curve point (the report images' accuracy after the last epoch) is read from the final score's
pass over the validation split, of which the report images are a subset: before perf61b they were scored again after
it (~5 % of a trial's CPU on Fashion-MNIST, benchmarks/RESULTS.md §30)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import pytest
import torch

import nas_proxy.trainers.synthetic_set as synthetic_set
from nas_proxy.distill import DistillConfig, distill
from nas_proxy.protocols import ProxyConfig
from nas_proxy.spaces import get_space
from nas_proxy.trainers.synthetic_set import ProxyContext
from nas_proxy.training import accuracies

SPEC = {"family": "convnet", "depth": 1, "width": 16, "normalization": "none", "activation": "relu", "pooling": "avgpooling"}


@pytest.mark.parametrize("seeds", [1, 2])
def test_the_last_report_is_the_report_images_accuracy_of_the_one_final_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seeds: int
) -> None:
    syn = distill(DistillConfig(dataset="digits", ipc=1, method="random", device="cpu"), tmp_path / "syn", progress=False).path
    config = ProxyConfig(epochs=2, report_every=1, report_images=25, batch_size=8, dsa=False, seeds=seeds)
    ctx = ProxyContext.load(syn, device="cpu", config=config)
    assert 0 < ctx.report_x.shape[0] < ctx.val_x.shape[0]  # a strict subset: its accuracy is not the final score
    scored: list[tuple[Any, int]] = []  # (network, images) of every validation pass of the trial
    for name in ("hits", "accuracies"):
        real = getattr(synthetic_set, name, None)
        if real is None:
            continue

        def spy(net: Any, x: torch.Tensor, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            scored.append((net, int(x.shape[0])))
            return _real(net, x, *args, **kwargs)

        monkeypatch.setattr(synthetic_set, name, spy)
    got = ctx.score(get_space("convnet-cpu"), SPEC, seed=0)
    assert [e for e, _ in got.curve] == [1, 2]
    # the report after epoch 1 on the report images, then one pass over the validation split: nothing scored after it
    assert [n for _, n in scored] == [ctx.report_x.shape[0], ctx.val_x.shape[0]]
    net = scored[-1][0]
    again = 100.0 * statistics.fmean(accuracies(net, ctx.report_x, ctx.report_y, amp=False))  # the report images scored anew
    assert got.curve[-1][1] == pytest.approx(again, abs=1e-9)
    assert got.accuracy == pytest.approx(100.0 * statistics.fmean(accuracies(net, ctx.val_x, ctx.val_y, amp=False)), abs=1e-9)
