"""Peak memory of loading a dataset: the growth of the process's peak RSS while ``nas_proxy.data.load_dataset`` reads it,
with the splits normalised in place (the product's) and with stop 60's ``(x - m) / s``, which made two copies of each
split (``--copying``), each in a fresh child process.

    OMP_NUM_THREADS=1 python benchmarks/load_memory.py --dataset fashion-mnist
    OMP_NUM_THREADS=1 python benchmarks/load_memory.py --dataset digits

Prints one JSON object: per way, the peak RSS growth in MiB and the float32 bytes of the splits it holds, and whether
both ways gave the same tensors (bit for bit). ru_maxrss counts pages touched, which is what a machine runs out of.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import platform
import resource
from typing import Any

from nas_proxy.cli.common import ScriptParser


def _copying(x: Any, mean: tuple[float, ...], std: tuple[float, ...]) -> Any:
    """Stop 60's normalise: a copy for the difference, another for the quotient."""
    import torch

    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return (x.float() - m) / s


def _one(dataset: str, copying: bool, out: Any) -> None:
    import torch  # imported before the first reading: its own pages are not the load's

    from nas_proxy.data import load_dataset, registry

    if copying:
        registry.normalise_ = _copying
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ds = load_dataset(dataset)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    digest = hashlib.sha256()
    for t in (ds.train_x, ds.test_x):
        digest.update(t.contiguous().numpy().tobytes())
    held = sum(t.numel() * t.element_size() for t in (ds.train_x, ds.test_x))
    out.put(
        {
            "peak_growth_mib": round(grown / 1024),
            "splits_mib": round(held / 2**20),
            "sha256": digest.hexdigest(),
            "torch": torch.__version__,
        }
    )


def main() -> None:
    parser = ScriptParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter each: no pages of the other way's load
    result: dict[str, Any] = {"dataset": args.dataset, "machine": platform.processor() or platform.machine()}
    for name, copying in (("in_place", False), ("copying", True)):
        q = ctx.Queue()
        p = ctx.Process(target=_one, args=(args.dataset, copying, q))
        p.start()
        result[name] = q.get()
        p.join()
    result["same_tensors"] = result["in_place"].pop("sha256") == result["copying"].pop("sha256")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
