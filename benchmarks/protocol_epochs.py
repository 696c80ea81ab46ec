"""How many epochs do the proxy and the ground truth need? Rank agreement measured on VALIDATION data.

The defaults of ProxyConfig.epochs and GroundTruthConfig.epochs are chosen from this, never from
the test set. Two questions, each answered with Kendall tau-b over the same architectures:

- ground truth: rank after E epochs of full-data training vs rank after the longest run (and
  between two seeds at each E), on the validation split;
- proxy: rank of the synthetic-set proxy after E epochs vs the longest full-data run's validation
  rank (when ``--synthetic`` is given).

    python benchmarks/protocol_epochs.py --dataset digits --space convnet-cpu --n-archs 20 \
        --full-epochs 2,5,10,20,40 --json benchmarks/out/protocol_digits.json
    python benchmarks/protocol_epochs.py --synthetic benchmarks/out/fashion/datadam-ipc10 --space convnet-cpu \
        --n-archs 20 --full-epochs 2 --full-images 8000 --proxy-epochs 25,50,100,200,400
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas_proxy.cli.common import ScriptParser
from nas_proxy.correlate import from_space
from nas_proxy.correlate.metrics import bootstrap_ci, kendall
from nas_proxy.groundtruth.study import DataRef, GroundTruthConfig, RealData, train_one
from nas_proxy.search import ProxyConfig, score
from nas_proxy.spaces import get_space
from nas_proxy.synthetic import load_synthetic
from nas_proxy.utils import resolve_device


def ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def main() -> int:
    p = ScriptParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", help="real data (default: the synthetic set's)")
    p.add_argument("--synthetic", help="a synthetic set: also measure the proxy's epochs")
    p.add_argument("--space", default="convnet-cpu")
    p.add_argument("--n-archs", type=int, default=20)
    p.add_argument("--full-epochs", type=ints, default=[2, 5, 10, 20])
    p.add_argument("--full-images", type=int)
    p.add_argument("--proxy-epochs", type=ints, default=[25, 50, 100, 200, 400])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--json")
    args = p.parse_args()
    t0 = time.time()
    dataset = args.dataset
    if args.synthetic:
        dataset = dataset or load_synthetic(args.synthetic).dataset["name"]
    if not dataset:
        p.error("give --dataset or --synthetic")
    archs = from_space(get_space(args.space), args.n_archs, args.seed)
    device = resolve_device(args.device)
    longest = max(args.full_epochs)
    full: dict[int, dict[int, list[float]]] = {}  # epochs -> seed -> val accuracies
    for epochs in args.full_epochs:
        config = GroundTruthConfig(epochs=epochs, early=(), images=args.full_images)
        data = RealData(DataRef(dataset), config, device)
        seeds = (args.seed, args.seed + 1)
        full[epochs] = {s: [train_one(a.spec, s, data, config)["val_accuracy"] for a in archs] for s in seeds}
        print(f"[protocol] full-data {epochs} epochs done ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    reference = np.array(full[longest][args.seed])
    rows: list[dict[str, Any]] = []  # one table row each: a JSON object
    for epochs in args.full_epochs:
        a, b = np.array(full[epochs][args.seed]), np.array(full[epochs][args.seed + 1])
        rows.append(
            {
                "what": f"full data, {epochs} epochs",
                "tau_vs_longest": kendall(a, reference),
                "tau_vs_longest_ci": bootstrap_ci(kendall, a, reference, n=1000, seed=0),
                "tau_seed_vs_seed": kendall(a, b),
                "mean_val_accuracy": float(a.mean()),
            }
        )
    if args.synthetic:
        for epochs in args.proxy_epochs:
            proxy = ProxyConfig(epochs=epochs, report_every=epochs)
            s0 = time.perf_counter()
            got = score(args.synthetic, args.space, [a.spec for a in archs], proxy, args.seed, args.device, progress=False)
            seconds = (time.perf_counter() - s0) / len(archs)
            x = np.array([r.accuracy for r in got])
            rows.append(
                {
                    "what": f"proxy, {epochs} epochs",
                    "tau_vs_longest": kendall(x, reference),
                    "tau_vs_longest_ci": bootstrap_ci(kendall, x, reference, n=1000, seed=0),
                    "tau_seed_vs_seed": None,
                    "mean_val_accuracy": float(x.mean()),
                    "seconds_per_arch": seconds,
                }
            )
            print(f"[protocol] proxy {epochs} epochs done ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    print(
        f"Kendall tau-b on {len(archs)} architectures of {args.space}, {dataset}, validation split; reference: {longest} full-data epochs"
    )
    print("| run | tau vs reference [95% CI] | tau seed vs seed | mean val acc (%) | s / arch |")
    print("|---|---|---|---|---|")
    for r in rows:
        lo, hi = r["tau_vs_longest_ci"]
        seed_tau = "–" if r["tau_seed_vs_seed"] is None else f"{r['tau_seed_vs_seed']:.3f}"
        secs = f"{r['seconds_per_arch']:.1f}" if "seconds_per_arch" in r else "–"
        print(f"| {r['what']} | {r['tau_vs_longest']:.3f} [{lo:.2f}, {hi:.2f}] | {seed_tau} | {r['mean_val_accuracy']:.2f} | {secs} |")
    if args.json:
        provenance = {
            "command": " ".join(sys.argv),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "device": str(device),
            "cpu": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "seconds": time.time() - t0,
            "archs": [a.spec for a in archs],
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"rows": rows, "full": {str(k): v for k, v in full.items()}, **provenance}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
