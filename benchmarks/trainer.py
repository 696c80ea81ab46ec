"""The real-data trainer on CPU: today's loop (loaded from git) beside the new one, options off and on.

    OMP_NUM_THREADS=1 python benchmarks/trainer.py --images 6000 --epochs 1 --repeats 5 --json benchmarks/out/trainer_cpu.json

Every repeat trains each architecture once per variant, the variants interleaved (a load change hits
them alike), from the same seed:

- ``old``: ``nas_proxy/training.py`` as it was at ``--old-ref`` (``git show``), exec'd as a module;
- ``new-off``: today's ``train_model`` with every fast option off (bit for bit the old, tests/search/test_fast_trainer.py);
- ``new-on``: the options a CPU runs (``--on``: drop_last, the onecycle schedule, label smoothing 0.1).

The split is resident in memory in all three (RealData puts it on the device once; batches are taken by
a permutation on the device): there is no loader path to compare with. Prints one JSON object.
"""

from __future__ import annotations

import importlib.util
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from nas_proxy.cli.common import ScriptParser
from nas_proxy.protocols import FastTrainConfig, GroundTruthConfig
from nas_proxy.spaces import arch_id, build_model
from nas_proxy.trainers.fulldata import DataRef, RealData
from nas_proxy.training import train_model
from nas_proxy.utils import derive_seed

ROOT = Path(__file__).resolve().parent.parent
ARCHS = [  # small, middle and large convnet720 members that a CPU trains in seconds
    {"family": "convnet", "depth": 1, "width": 32, "activation": "relu", "normalization": "instancenorm", "pooling": "avgpooling"},
    {"family": "convnet", "depth": 2, "width": 64, "activation": "relu", "normalization": "batchnorm", "pooling": "maxpooling"},
    {"family": "convnet", "depth": 3, "width": 64, "activation": "leakyrelu", "normalization": "batchnorm", "pooling": "avgpooling"},
]
CPU_ON = FastTrainConfig(schedule="onecycle", label_smoothing=0.1, drop_last=True)


def old_training(ref: str) -> ModuleType:
    """``nas_proxy/training.py`` at git ``ref``, as a module of its own."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{ref}:nas_proxy/training.py"], capture_output=True, text=True, check=True
    ).stdout
    spec = importlib.util.spec_from_loader("old_training", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{ref}:nas_proxy/training.py", "exec"), module.__dict__)
    return module


def timed(train: Any, spec: dict[str, Any], data: RealData, config: GroundTruthConfig, fast: FastTrainConfig | None) -> float:
    seed = derive_seed(0, "groundtruth", arch_id(spec))
    torch.manual_seed(seed)
    model = build_model(spec, data.channels, data.num_classes, data.image_size)
    extra = {} if fast is None else {"fast": fast}
    t0 = time.perf_counter()
    train(model, data.train_x, data.train_y, config.train_config(), seed, data.flip, **extra)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = ScriptParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--images", type=int, default=6000, help="training images (a stratified subset of the split)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--old-ref", default="6b98817", help="git commit of today's loop")
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    config = GroundTruthConfig(epochs=a.epochs, images=a.images, early=())
    data = RealData(DataRef(a.dataset), config, torch.device("cpu"), test=False)
    old = old_training(a.old_ref).train_model
    variants = {"old": (old, None), "new-off": (train_model, FastTrainConfig()), "new-on": (train_model, CPU_ON)}
    seconds: dict[str, dict[str, list[float]]] = {v: {arch_id(s): [] for s in ARCHS} for v in variants}
    timed(train_model, ARCHS[0], data, config, None)  # warm-up: first-call costs land on no variant
    for _ in range(a.repeats):
        for spec in ARCHS:
            for name, (train, fast) in variants.items():
                seconds[name][arch_id(spec)].append(timed(train, spec, data, config, fast))
                print(f"[trainer] {name} {arch_id(spec)[:40]}: {seconds[name][arch_id(spec)][-1]:.2f} s", file=sys.stderr, flush=True)
    rows = []
    for spec in ARCHS:
        aid = arch_id(spec)
        old_s = seconds["old"][aid]
        row: dict[str, Any] = {"arch": aid, "spec": spec}
        for name in variants:
            s = seconds[name][aid]
            ratios = sorted(x / o for x, o in zip(s, old_s, strict=True))  # paired by repeat
            row[name] = {
                "median_s": statistics.median(s),
                "min_s": min(s),
                "max_s": max(s),
                "ratio_to_old": {"median": statistics.median(ratios), "min": ratios[0], "max": ratios[-1]},
            }
        rows.append(row)
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    report = {
        "command": " ".join(["python", "benchmarks/trainer.py", *(argv if argv is not None else sys.argv[1:])]),
        "commit": commit,
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "train_images": int(data.train_x.shape[0]),
        "epochs": a.epochs,
        "repeats": a.repeats,
        "on": CPU_ON.to_dict(),
        "rows": rows,
        "raw": seconds,
    }
    text = json.dumps(report, indent=2)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
