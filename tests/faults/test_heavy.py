"""Heavier checks, outside the default suite: ``make test-slow``.

- ``slow``: distillation of the real Fashion-MNIST on CPU (a few minutes; skipped without the files);
- ``gpu``: the CUDA paths (bf16 autocast in distillation, training and scoring on the device);
  skipped where no CUDA GPU is visible.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from nas_proxy.data.registry import DEBIAN_FASHION_MNIST
from nas_proxy.distill import DistillConfig, distill
from nas_proxy.evaluate import evaluate
from nas_proxy.search import ProxyConfig, score
from nas_proxy.synthetic import load_synthetic
from nas_proxy.training import TrainConfig
from tests.conftest import tiny_config

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.slow
@pytest.mark.skipif(not (DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file(), reason="Fashion-MNIST files not installed")
def test_distilled_fashion_mnist_beats_the_random_subset(tmp_path: Path) -> None:
    common = dict(dataset="fashion-mnist", ipc=1, iterations=60, batch_real=32, device="cpu", seed=0)
    dam = distill(DistillConfig(method="datadam", **common), tmp_path / "dam", progress=False)  # type: ignore[arg-type]
    rnd = distill(DistillConfig(method="random", **common), tmp_path / "rnd", progress=False)  # type: ignore[arg-type]
    kw = dict(runs=2, train=TrainConfig(epochs=100), device="cpu", progress=False)
    ours, base = evaluate(dam.path, **kw), evaluate(rnd.path, **kw)  # type: ignore[arg-type]
    # measured at 200 iterations / 300 epochs: 71.1 vs 52.7 (benchmarks/RESULTS.md); 60 / 100 must keep a clear gap
    assert ours.mean > base.mean + 5, (ours.accuracies, base.accuracies)


@pytest.mark.gpu
@needs_cuda
def test_cuda_amp_distillation_evaluation_and_proxy(tmp_path: Path) -> None:
    run = distill(tiny_config(device="cuda", amp=True, iterations=20), tmp_path / "syn", progress=False)
    assert run.meta["device"].startswith("cuda")
    assert math.isfinite(run.meta["loss"]["last"]["loss"])
    syn = load_synthetic(run.path)
    assert syn.images.device.type == "cpu" and syn.images.dtype == torch.float32 and torch.isfinite(syn.images).all()
    result = evaluate(run.path, runs=2, train=TrainConfig(epochs=50), device="cuda", progress=False)
    assert result.device.startswith("cuda") and min(result.accuracies) > 20  # 10 classes: chance is 10 %
    specs = [{"family": "convnet", "depth": 2, "width": 32, "activation": "relu", "normalization": "instancenorm", "pooling": "avgpooling"}]
    (got,) = score(
        str(run.path), "convnet720", specs, ProxyConfig(epochs=20, report_every=10, report_images=100), 0, "cuda", progress=False
    )
    assert 10 < got.accuracy <= 100
