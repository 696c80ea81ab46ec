"""What every GPU section is given: the :class:`Context` (plan, folders, seed, deadline) and the
:class:`Recorder` of its JSON. The sections (``gpu_sections.py``, ``gpu_proxy.py``, ``gpu_fidelity.py``,
``gpu_ablation.py``, ``gpu_trainer.py``) import it; it imports none of them, so they form no circle."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_common import Plan, write_json  # benchmarks/ (this script's folder is on sys.path)

BENCHMARKS = Path(__file__).resolve().parent
SYNTHETIC = "datadam-ipc10"  # the set the proxy section distils and the evaluate section evaluates
FABRICATED_PER_CLASS = (30, 10)  # dry run: training and test images per class of the fake Fashion-MNIST
FABRICATED_NOISE = 40.0  # dry run: pixel noise (0-255 scale) around each class's random prototype


class Recorder:
    """The section's JSON, rewritten on every ``set``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {}

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value
        write_json(self.path, self.data)

    def skip(self, reason: str) -> None:
        print(f"[gpu_check] skipped: {reason}", flush=True)
        self.set("reason", reason)
        self.set("status", "skipped")


@dataclass
class Context:
    plan: Plan
    root: Path
    out: Path
    work: Path
    given_data_root: str | None
    seed: int
    deadline: float
    commit: str | None = None  # None where git could not say

    def left(self) -> float:
        return self.deadline - time.time()

    @property
    def synthetic(self) -> Path:
        return self.work / SYNTHETIC

    def data_root(self) -> str | None:
        """Where Fashion-MNIST is: the given folder, or (dry run) a tiny fabricated copy written once."""
        if not self.plan.fabricate:
            return self.given_data_root
        folder = self.work / "fashion-mnist-fabricated"
        if not (folder / "t10k-labels-idx1-ubyte.gz").is_file():
            fabricate_fashion(folder, self.seed)
        return str(folder)


def fabricate_fashion(folder: Path, seed: int) -> None:
    """Four Fashion-MNIST IDX files of noisy random class prototypes: learnable, never two equal images."""
    import numpy as np

    from tests.fabricate import shuffled_labels, write_idx  # the test suite's IDX writer

    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0, 255, size=(10, 28, 28))
    folder.mkdir(parents=True, exist_ok=True)
    for split, per_class in zip(("train", "t10k"), FABRICATED_PER_CLASS, strict=True):
        y = shuffled_labels(list(range(10)), per_class, seed=seed)
        x = np.clip(prototypes[y] + rng.normal(0, FABRICATED_NOISE, size=(len(y), 28, 28)), 0, 255).astype(np.uint8)
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", x)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", y.astype(np.uint8))
