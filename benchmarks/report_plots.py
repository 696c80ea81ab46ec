"""CPU-s of the report's two plots (made and saved as ``render.plots`` does), per figure, and a digest of their pixels.

The crowded report of ``tests/correlate/test_correlate_report.py`` (10 panels, 10 architectures), a small one (3 proxies,
5 architectures) and a large one (6 proxies, 100 architectures), each alternated ``--repeats`` times in one process.
``--pixels FILE`` writes each figure's RGBA digest (sha256 of the decoded PNG's pixels) to compare two versions of
:mod:`nas_proxy.report.plots`; ``--profile N`` prints cProfile's N costliest functions instead.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/report_plots.py --repeats 5 --pixels /tmp/before.json
"""

from __future__ import annotations

import cProfile
import hashlib
import io
import json
import pstats
import time
from pathlib import Path
from typing import Any

import numpy as np

from nas_proxy.cli.common import ScriptParser
from nas_proxy.correlate.metrics import summarise
from nas_proxy.correlate.result import CorrelateResult
from nas_proxy.report.backend import pyplot
from nas_proxy.report.notes import failed_archs
from nas_proxy.report.plots import cost_figure, scatter_figure


def _made(n: int, proxies: list[str], seed: int) -> CorrelateResult:
    """``n`` architectures scored by ``proxies``, noisy against the truth; metrics as ``correlate`` computes them."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(40, 90, n)
    values = {p: truth + rng.normal(0, 5 + 3 * i, n) for i, p in enumerate(proxies)}
    if "params" in values:
        values["params"] = np.exp(rng.normal(11, 1.5, n))
    rows = [
        {
            "arch_id": f"a{i:03d}",
            "spec": {"family": "convnet", "depth": i},
            "truth": float(truth[i]),
            **{p: float(v[i]) for p, v in values.items()},
        }
        for i in range(n)
    ]
    metrics = {p: summarise(values[p], truth, n_boot=50) | {"seconds_per_arch": 0.01 * 3**i} for i, p in enumerate(proxies)}
    facts = {"data": {"dataset": "digits"}, "classes": 10, "archs": n, "archs_scored": n}
    return CorrelateResult(Path("/nonexistent"), rows, metrics, [], facts)


def cases() -> dict[str, CorrelateResult]:
    from tests.correlate.test_correlate_report import crowded

    return {
        "crowded (10 panels, 10 archs)": crowded(Path("/nonexistent")),
        "small (3 proxies, 5 archs)": _made(5, ["datadam-ipc10", "early@1ep", "params"], 0),
        "large (6 proxies, 100 archs)": _made(100, ["datadam-ipc10", "random-ipc10", "early@1ep", "params", "synflow", "naswot"], 1),
    }


def _pixels(png: bytes) -> str:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        return hashlib.sha256(np.asarray(im.convert("RGBA")).tobytes()).hexdigest() + f" {im.size}"


def one(result: CorrelateResult, which: str) -> tuple[float, bytes]:
    """CPU-s of making and saving one figure, and its PNG."""
    plt = pyplot()
    start = time.process_time()
    fig = scatter_figure(result, failed_archs(result)) if which == "scatter" else cost_figure(result)
    buf = io.BytesIO()
    fig.savefig(buf, dpi=fig.dpi, format="png")
    spent = time.process_time() - start
    plt.close(fig)
    return spent, buf.getvalue()


def main() -> None:
    parser = ScriptParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pixels", type=Path)
    parser.add_argument("--profile", type=int, default=0)
    args = parser.parse_args()
    all_cases = cases()
    for result in all_cases.values():  # warm: imports, fonts, mathtext
        for which in ("scatter", "cost"):
            one(result, which)
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for result in all_cases.values():
            for which in ("scatter", "cost"):
                one(result, which)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(args.profile)
        return
    times: dict[str, list[float]] = {}
    pixels: dict[str, Any] = {}
    for _ in range(args.repeats):
        for name, result in all_cases.items():
            for which in ("scatter", "cost"):
                spent, png = one(result, which)
                times.setdefault(f"{name} {which}", []).append(spent)
                pixels[f"{name} {which}"] = _pixels(png)
    for key, ts in times.items():
        print(f"{key:45s} min {min(ts):.3f}  mean {sum(ts) / len(ts):.3f}")
    print(f"{'total of the minima':45s} {sum(min(t) for t in times.values()):.3f}")
    if args.pixels:
        args.pixels.write_text(json.dumps(pixels, indent=1))


if __name__ == "__main__":
    main()
