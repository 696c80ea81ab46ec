"""Seconds per distillation iteration: networks drawn from a space (``--nets``) against the one network.

Both runs are ``distill()`` itself, same dataset, IPC, real batch and seed, alternated in chunks of
``--chunk`` iterations (each chunk resumes its run), so that both see the same machine load. Every
iteration is timed by its loss read-back (``log_every = 1``): wall seconds and this process's CPU
seconds (``time.process_time``, less sensitive to other processes on a shared machine). A space
run's iterations differ by the member drawn; the table gives the mean over all iterations and per
value of each dimension.

    OMP_NUM_THREADS=1 python benchmarks/distill_nets_cost.py --nets convnet720 --iterations 20 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from provenance import machine  # benchmarks/provenance.py (this script's folder is on sys.path)

from nas_proxy.cli.common import ScriptParser
from nas_proxy.distill import DistillConfig, distill
from nas_proxy.distill.nets import SpaceNets
from nas_proxy.errors import NasProxyError
from nas_proxy.spaces import DeclaredSpace, get_space


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = ScriptParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--nets", default="convnet720", help="the space of the space-aware run")
    p.add_argument("--ipc", type=int, default=10)
    p.add_argument("--batch-real", type=int, default=64)
    p.add_argument("--method", default="datadam")
    p.add_argument("--iterations", type=int, default=20, help="iterations of each run")
    p.add_argument("--chunk", type=int, default=5, help="iterations of one run before switching to the other")
    p.add_argument("--device", default="cpu")
    p.add_argument("--data-root", default=None)
    p.add_argument("--json", type=Path, default=None, help="write every raw number here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base = dict(dataset=args.dataset, data_root=args.data_root, ipc=args.ipc, batch_real=args.batch_real, method=args.method)
    # the recipe measured before RESULTS.md §19 changed distill's defaults: power 4, the one network with instance norm
    base |= {"attention_power": 4.0} if args.method == "datadam" else {}
    configs = {"one network": {"net_norm": "instancenorm"}, f"--nets {args.nets}": {"nets": args.nets}}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in configs}  # (wall, cpu) per iteration
    load_start = os.getloadavg()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for done in range(args.chunk, args.iterations + args.chunk, args.chunk):
                for name, extra in configs.items():
                    stamp = [time.perf_counter(), time.process_time()]

                    def tick(iteration: int, losses: dict[str, float], name: str = name, stamp: list[float] = stamp) -> None:
                        now = [time.perf_counter(), time.process_time()]
                        times[name].append((now[0] - stamp[0], now[1] - stamp[1]))
                        stamp[:] = now

                    config = DistillConfig(**base, **extra, iterations=min(done, args.iterations), log_every=1, device=args.device)
                    out = Path(tmp) / name.replace(" ", "_")
                    distill(config, out, resume=(out / "checkpoint.safetensors").is_file(), callback=tick)
    except NasProxyError as e:
        print(f"distill_nets_cost.py: error: {e}", file=sys.stderr)
        return e.exit_code
    space = get_space(args.nets)
    assert isinstance(space, DeclaredSpace), "distill refused it otherwise"
    nets = SpaceNets(space, (1, 1, 1), 1, torch.device("cpu"), lambda n: n)  # the shape does not change the draw
    drawn = [nets.spec(i, 0) for i in range(args.iterations)]  # the member of every iteration (seed 0)
    result: dict[str, Any] = {"args": vars(args) | {"json": str(args.json)}, "machine": machine(torch.device(args.device), load_start)}
    rows: list[dict[str, Any]] = []
    for name, per in times.items():
        kept = [t for i, t in enumerate(per) if i % args.chunk != 0]  # each chunk's first also times its (re)start: dropped
        wall, cpu = [t[0] for t in kept], [t[1] for t in kept]
        rows.append(
            {
                "run": name,
                "iterations": len(kept),
                "wall_mean": statistics.fmean(wall),
                "cpu_mean": statistics.fmean(cpu),
                "cpu_min": min(cpu),
                "cpu_max": max(cpu),
                "per_iteration": per,
            }
        )
    result["rows"] = rows
    space_times = times[f"--nets {args.nets}"]
    by_value: dict[str, dict[str, list[float]]] = {}
    for i, spec in enumerate(drawn):
        if i % args.chunk == 0:
            continue
        for key, value in spec.items():
            if key != "family":
                by_value.setdefault(key, {}).setdefault(str(value), []).append(space_times[i][1])
    result["space_cpu_by_value"] = {k: {v: round(statistics.fmean(x), 3) for v, x in d.items()} for k, d in by_value.items()}
    result["drawn"] = drawn
    one = rows[0]["cpu_mean"]
    print("| run | iterations timed | wall s/it (mean) | CPU s/it (mean) | CPU s/it (min-max) | x one network (CPU) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['run']} | {r['iterations']} | {r['wall_mean']:.2f} | {r['cpu_mean']:.2f} | {r['cpu_min']:.2f}-{r['cpu_max']:.2f} | {r['cpu_mean'] / one:.2f} |"
        )
    print()
    for key, d in result["space_cpu_by_value"].items():
        print(f"- {key}: " + ", ".join(f"{v} {s:.2f} s" for v, s in d.items()))
    print(f"\nload average {load_start} -> {result['machine']['load_average_end']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
