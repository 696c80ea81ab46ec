"""What a ground-truth training spends scoring: CPU-s of the training against CPU-s of its validation and test scorings.

    OMP_NUM_THREADS=1 python benchmarks/score_cost.py --dataset digits --epochs 3
    OMP_NUM_THREADS=1 python benchmarks/score_cost.py --dataset fashion-mnist --epochs 2

One :func:`nas_proxy.trainers.fulldata.train_one` of a ConvNet (``--spec``) with the standard protocol and ``--epochs``,
``time.process_time`` around the whole and around every :func:`~nas_proxy.training.accuracy` it calls (the early-stopping
points on the validation split, then the test and validation splits of the trained network). Then the trained network's
test-split scoring at several ``accuracy`` batch sizes (``--batches``): CPU-s each (the least of ``--repeats``) and
whether its predictions equal those at 1024 (the product's batch), image for image. Prints one JSON object.
"""

from __future__ import annotations

import json
import platform
import time
from typing import Any

import torch

import nas_proxy.trainers.fulldata as fulldata
from nas_proxy.cli.common import ScriptParser
from nas_proxy.protocols import DataRef, GroundTruthConfig
from nas_proxy.spaces import get_space
from nas_proxy.training import accuracies

SPEC = "depth=3,width=32,normalization=instancenorm,activation=relu,pooling=avgpooling"


def predictions(model: torch.nn.Module, x: torch.Tensor, batch: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(x[s : s + batch]).argmax(1) for s in range(0, x.shape[0], batch)])


def main() -> None:
    p = ScriptParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--spec", default=SPEC)
    p.add_argument("--batches", default="1024,256,128,64")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    spec = get_space("convnet720").parse(args.spec)
    config = GroundTruthConfig(epochs=args.epochs)
    data = fulldata.RealData(DataRef(args.dataset), config, torch.device("cpu"))
    scored = {"seconds": 0.0, "calls": 0}
    real_accuracy = fulldata.accuracy

    def timed(*a: Any, **k: Any) -> float:
        t = time.process_time()
        try:
            return real_accuracy(*a, **k)
        finally:
            scored["seconds"] += time.process_time() - t
            scored["calls"] += 1

    real_network, kept = fulldata.train_network, []

    def keeping(*a: Any, **k: Any) -> fulldata.Trained:
        kept.append(real_network(*a, **k))  # the trained network, scored below at other batch sizes
        return kept[-1]

    fulldata.accuracy, fulldata.train_network = timed, keeping
    t0 = time.process_time()
    record = fulldata.train_one(spec, 0, data, config)
    total = time.process_time() - t0
    fulldata.accuracy, fulldata.train_network = real_accuracy, real_network

    model = kept[0].model
    assert data.test_x is not None and data.test_y is not None
    reference = predictions(model, data.test_x, 1024)
    batches = {}
    for batch in (int(b) for b in args.batches.split(",")):
        seconds = []
        for _ in range(args.repeats):
            t = time.process_time()
            accuracies(model, data.test_x, data.test_y, batch, amp=False)
            seconds.append(time.process_time() - t)
        batches[batch] = {
            "cpu_s": round(min(seconds), 3),
            "same_predictions": bool(torch.equal(predictions(model, data.test_x, batch), reference)),
        }
    print(
        json.dumps(
            {
                "machine": platform.processor() or platform.machine(),
                "torch_threads": torch.get_num_threads(),
                "dataset": args.dataset,
                "images": data.facts(),
                "spec": args.spec,
                "epochs": args.epochs,
                "cpu_s": {
                    "whole": round(total, 2),
                    "scoring": round(scored["seconds"], 2),
                    "scorings": scored["calls"],
                    "share": round(scored["seconds"] / total, 3),
                },
                "test_split_scoring_by_batch": batches,
                "record": {k: record[k] for k in ("val_accuracy", "test_accuracy", "train_seconds", "score_seconds")},
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
