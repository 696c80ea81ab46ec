"""How often one search process reads (and digests) its synthetic set, and what those reads cost.

Every read of a set is :func:`nas_proxy.synthetic.load_synthetic`: the tensors file read whole, its SHA-256
computed and compared with ``meta.json``, every tensor checked. This script makes a set of about ``--mb`` MB (a
random real subset of a seeded folder of random RGB images, 64x64, so its size is a choice), then runs one
``search`` of ``--trials`` trials of one epoch on it in this process, counting each call of ``load_synthetic``
made inside ``nas_proxy`` and the seconds spent in them. Run it on two checkouts to compare (the second with
``PYTHONPATH`` pointing at the other checkout: the module it imports is printed):

    OMP_NUM_THREADS=1 python benchmarks/synthetic_reads.py --mb 10 --work /tmp/reads --repeats 3
    git archive bd73828 | tar -x -C /tmp/old && PYTHONPATH=/tmp/old OMP_NUM_THREADS=1 python benchmarks/synthetic_reads.py ...
"""

from __future__ import annotations

import importlib
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

import nas_proxy
import nas_proxy.synthetic as synthetic
from nas_proxy.cli.common import ScriptParser
from nas_proxy.distill import DistillConfig, distill
from nas_proxy.search import ProxyConfig, SearchConfig, search

SIDE, CLASSES = 64, 10  # 64x64 RGB: 48 KiB of float32 per image
MODULES = (  # every module that imports load_synthetic by name
    "nas_proxy.search.target",
    "nas_proxy.search.dashboard",
    "nas_proxy.proxies.synthetic",
    "nas_proxy.trainers.synthetic_set",
)


def make_set(work: Path, mb: float) -> Path:
    """A random subset of about ``mb`` MB from a seeded folder of random images (made once in ``work``)."""
    ipc = max(1, round(mb * 2**20 / (SIDE * SIDE * 3 * 4) / CLASSES))
    out = work / f"set-ipc{ipc}"
    if (out / "meta.json").is_file():
        return out
    folder, rng = work / "images", np.random.default_rng(0)
    for c in range(CLASSES):
        (folder / f"class{c}").mkdir(parents=True, exist_ok=True)
        for i in range(3 * ipc):  # a fifth is the test split, a tenth of the rest validation
            pixels = (rng.random((SIDE, SIDE, 3)) * 80 + c * 17).clip(0, 255).astype("uint8")
            Image.fromarray(pixels).save(folder / f"class{c}" / f"{i}.png")
    distill(DistillConfig(dataset=f"imagefolder:{folder}", method="random", ipc=ipc, image_size=SIDE, device="cpu"), out, progress=False)
    return out


def counted_search(syn: Path, work: Path, trials: int) -> tuple[int, float, float]:
    """(calls of load_synthetic, seconds in them, the search's wall seconds) of one search on ``syn``, a fresh study."""
    calls: list[float] = []
    real = synthetic.load_synthetic

    def counting(path: object, *args: object, **kwargs: object) -> object:
        t0 = time.perf_counter()
        try:
            return real(path, *args, **kwargs)  # type: ignore[arg-type]
        finally:
            calls.append(time.perf_counter() - t0)

    patched = [m for m in (importlib.import_module(n) for n in MODULES) if getattr(m, "load_synthetic", None) is real]
    for module in [synthetic, *patched]:
        module.load_synthetic = counting  # type: ignore[attr-defined]
    try:
        study = work / "study"
        shutil.rmtree(study, ignore_errors=True)
        config = SearchConfig(
            synthetic=str(syn),
            space="convnet-small",
            device="cpu",
            pruner="none",
            proxy=ProxyConfig(epochs=1, report_every=1, report_images=50),
        )
        t0 = time.perf_counter()
        search(config, "reads", trials, str(study / "journal.log"), out=study / "out")
        wall = time.perf_counter() - t0
    finally:
        for module in [synthetic, *patched]:
            module.load_synthetic = real  # type: ignore[attr-defined]
    return len(calls), sum(calls), wall


def main() -> int:
    parser = ScriptParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=10.0, help="the set's size in MB (default 10)")
    parser.add_argument("--work", type=Path, required=True, help="a folder for the images, the set and the study")
    parser.add_argument("--trials", type=int, default=1, help="trials of the search (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="searches measured, each on a fresh study (default 3)")
    args = parser.parse_args()
    syn = make_set(args.work, args.mb)
    size = (syn / "synthetic.safetensors").stat().st_size / 2**20
    print(f"nas_proxy from {Path(nas_proxy.__file__).parent}; set {syn} ({size:.1f} MiB)")
    rows = [counted_search(syn, args.work, args.trials) for _ in range(args.repeats)]
    for n, seconds, wall in rows:
        print(
            f"  load_synthetic {n} calls, {seconds * 1000:.0f} ms in them ({seconds * 1000 / max(n, 1) / size:.1f} ms/MiB); search {wall:.1f} s"
        )
    print(
        f"median: {statistics.median(r[0] for r in rows):g} calls, {statistics.median(r[1] for r in rows) * 1000:.0f} ms reading the set, "
        f"search {statistics.median(r[2] for r in rows):.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
