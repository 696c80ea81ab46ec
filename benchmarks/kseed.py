"""The seed-averaged proxy (``--proxy-seeds K``): its cost at K = 1, 2, 4 and what it buys in fidelity.

    OMP_NUM_THREADS=1 python benchmarks/kseed.py --synthetic benchmarks/out/syn/random-ipc10 \\
        --table benchmarks/groundtruth/fidelity-2026-11-26/capped-48.csv --archs 16 --timing-archs 3 \\
        --device cpu --out benchmarks/out/kseed

Two parts, both resumable (finished scores are cached as JSON lines under --out):

1. **Cost**: the first ``--timing-archs`` architectures of the table, each scored at K = 1 (the
   single-network path), then K = 2 and 4 with every ``--modes`` of ``ModelStack`` (``loop``: the copies
   one after the other on the stacked tensors; ``vmap``: one vectorised call), side by side in one
   process so that the machine's load is shared alike; seconds per trial and the ratio to K = 1.
2. **Fidelity**: the first ``--archs`` architectures scored once at K = ``max(--k)`` (ModelStack's
   default mode for the device). Copy k of that run is the network a separate K = 1 training with
   seed k gives (tests/search/test_batched.py), so the K-seed proxy for every K is the mean of the first K
   copies. Against the table's first seed (test accuracy): Spearman, Kendall, top-20 % correlations,
   regret with bootstrap intervals (``summarise``), the paired difference to K = 1, and the proxy's own
   seed-to-seed agreement: Spearman between disjoint groups of copies (K = 1: copy pairs; K = 2: pairs
   of pairs; K = 4 would need 8 copies).

Writes kseed.json and kseed.md into --out and prints the Markdown.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from fidelity_report import add_bootstrap, check_out, write_outputs  # noqa: E402
from fidelity_table import check_sets, read_table  # noqa: E402

from nas_proxy import checks, configs  # noqa: E402
from nas_proxy.cli.common import ScriptParser, one_line_errors  # noqa: E402
from nas_proxy.cli.types import integer  # noqa: E402
from nas_proxy.correlate.config import check_n_boot  # noqa: E402
from nas_proxy.correlate.metrics import paired_difference, spearman, summarise  # noqa: E402
from nas_proxy.errors import InvalidArgumentError  # noqa: E402
from nas_proxy.proxies import Cache  # noqa: E402
from nas_proxy.spaces import get_space  # noqa: E402
from nas_proxy.trainers.synthetic_set import ProxyConfig, ProxyContext  # noqa: E402

MODES = {"loop": False, "vmap": True, "auto": None, "single": None}  # ModelStack's vectorize (K = 1: none)


def score(ctx: ProxyContext, space: Any, spec: dict[str, Any], k: int, mode: str, seed: int) -> dict[str, Any]:
    """One proxy trial at K = ``k`` (``mode`` is ignored at K = 1, the single-network path)."""
    ctx.config = ProxyConfig(**{**ctx.config.to_dict(), "seeds": k})
    ctx.vectorize = MODES[mode]
    cpu = time.process_time()  # with one thread, CPU seconds are what the trial needs, whatever else shares the cores
    r = ctx.score(space, spec, seed)
    cpu = time.process_time() - cpu
    return {"score": r.accuracy, "seed_scores": r.seed_scores or [r.accuracy], "seconds": r.seconds, "cpu_seconds": cpu, "flops": r.flops}


def device_cache(path: Path, ctx: ProxyContext) -> Cache:
    """``path`` with the device type in its name (``cost-cuda.jsonl``): a trial's seconds and its last bits differ
    between CUDA and the CPU, so neither reuses the other's, as correlate's and fidelity.py's caches since drill41.
    A file named before (``path`` itself) is still read, on any device."""
    return Cache(path.with_name(f"{path.stem}-{ctx.device.type}{path.suffix}"), legacy=path)


def cost(ctx: ProxyContext, space: Any, table: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    cache = device_cache(args.out / "cache" / "cost.jsonl", ctx)
    runs = [(1, "single")] + [(k, m) for k in args.k if k > 1 for m in args.modes]
    units = [(a, rep) for rep in range(args.repeats) for a in args.timed]  # every K and mode of a unit run back to back

    def key(aid: str, rep: int, k: int, mode: str) -> str:
        return f"{aid}/K{k}/{mode}" + (f"/r{rep}" if rep else "")

    if any(key(a, r, k, m) not in cache.rows for a, r in units for k, m in runs):
        warm = ProxyContext(ctx.synthetic, ctx.val_x[:100], ctx.val_y[:100], ctx.flip, ctx.device, ProxyConfig(epochs=1, report_images=100))
        for k, mode in runs:  # lazy initialisation (kernels, allocator) out of the first timed trial
            score(warm, space, table.specs[args.timed[0]], k, mode, args.seed)
    for aid, rep in units:
        for k, mode in runs:
            name = key(aid, rep, k, mode)
            if name not in cache.rows:
                cache.add({"arch_id": name, "arch": aid, "k": k, "mode": mode, **score(ctx, space, table.specs[aid], k, mode, args.seed)})
                print(f"cost {name}: {cache.rows[name]['seconds']['total']:.1f} s", file=sys.stderr, flush=True)
    rows = []
    for k, mode in runs:
        done = [cache.rows[key(a, r, k, mode)] for a, r in units]
        base = [cache.rows[key(a, r, 1, "single")] for a, r in units]  # the same unit's K = 1
        ratios = [d["seconds"]["total"] / b["seconds"]["total"] for d, b in zip(done, base, strict=True)]
        cpu_ratios = [
            d["cpu_seconds"] / b["cpu_seconds"] for d, b in zip(done, base, strict=True) if "cpu_seconds" in d and "cpu_seconds" in b
        ]
        rows.append(
            {
                "k": k,
                "mode": mode,
                "units": [f"{a}/r{r}" for a, r in units],
                "seconds": [round(d["seconds"]["total"], 2) for d in done],
                "train_seconds": [round(d["seconds"]["train"], 2) for d in done],
                "validate_seconds": [round(d["seconds"]["validate"], 2) for d in done],
                "mean_seconds": statistics.fmean(d["seconds"]["total"] for d in done),
                "ratio_to_k1": statistics.fmean(ratios),
                "ratio_range": [min(ratios), max(ratios)],
                "cpu_seconds": [round(d["cpu_seconds"], 2) for d in done if "cpu_seconds" in d],
                "cpu_ratio_to_k1": statistics.fmean(cpu_ratios) if cpu_ratios else None,
                "cpu_ratio_range": [min(cpu_ratios), max(cpu_ratios)] if cpu_ratios else None,
            }
        )
    return rows


def fidelity(ctx: ProxyContext, space: Any, table: Any, args: argparse.Namespace) -> dict[str, Any]:
    top = max(args.k)
    cache = device_cache(args.out / "cache" / f"fidelity-K{top}.jsonl", ctx)
    ids = table.ids[: args.archs]
    for aid in ids:
        if aid not in cache.rows:
            cache.add({"arch_id": aid, **score(ctx, space, table.specs[aid], top, "auto", args.seed)})
            print(f"fidelity {aid}: {cache.rows[aid]['seconds']['total']:.1f} s", file=sys.stderr, flush=True)
    copies = np.array([cache.rows[a]["seed_scores"] for a in ids])  # (archs, top)
    truth = np.array([table.truth[table.seeds[0]][a] for a in ids])
    by_k = {k: copies[:, :k].mean(1) for k in args.k}
    rows: dict[str, Any] = {}
    for k, scores in by_k.items():
        groups = [list(g) for g in itertools.combinations(range(top), k)]
        disjoint = [(a, b) for a, b in itertools.combinations(groups, 2) if not set(a) & set(b)]
        agreement = [spearman(copies[:, a].mean(1), copies[:, b].mean(1)) for a, b in disjoint]
        rows[f"K={k}"] = {
            **summarise(scores, truth, k_values=(1, 3, 5), n_boot=args.bootstrap, seed=args.seed),
            "seed_agreement_spearman": statistics.fmean(agreement) if agreement else None,
            "seed_agreement_pairs": len(agreement),
            "paired_vs_k1": {
                "spearman": paired_difference(spearman, scores, by_k[1], truth, n=args.bootstrap, seed=args.seed) if k > 1 else None
            },
        }
    seconds = statistics.fmean(cache.rows[a]["seconds"]["total"] for a in ids)
    return {"n_archs": len(ids), "copies": top, "seconds_per_trial_at_top": seconds, "by_k": rows}


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| K | mode | wall s / trial | ratio to K=1 [min, max] | CPU s / trial | CPU ratio to K=1 [min, max] |",
        "|---|---|---|---|---|---|",
    ]
    for r in result.get("cost", []):
        lo, hi = r["ratio_range"]
        secs = ", ".join(f"{s:.1f}" for s in r["seconds"])
        cpu = ", ".join(f"{s:.1f}" for s in r["cpu_seconds"]) or "–"
        cpu_ratio = (
            "–"
            if r["cpu_ratio_to_k1"] is None
            else f"{r['cpu_ratio_to_k1']:.2f} [{r['cpu_ratio_range'][0]:.2f}, {r['cpu_ratio_range'][1]:.2f}]"
        )
        lines.append(f"| {r['k']} | {r['mode']} | {secs} | {r['ratio_to_k1']:.2f} [{lo:.2f}, {hi:.2f}] | {cpu} | {cpu_ratio} |")
    fid = result.get("fidelity")
    if fid:
        lines += ["", f"Fidelity on {fid['n_archs']} architectures ({fid['copies']} copies per trial):", ""]
        lines += [
            "| K | Spearman ρ | Kendall τ-b | ρ top 20% | regret (pts) | seed agreement ρ (pairs) | ρ − ρ(K=1) |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, r in fid["by_k"].items():
            agree = "–" if r["seed_agreement_spearman"] is None else f"{r['seed_agreement_spearman']:.3f} ({r['seed_agreement_pairs']})"
            d = r["paired_vs_k1"]["spearman"]
            diff = "–" if d is None else f"{d['diff']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]"
            cells = [f"{r[m]:.3f} [{r[m + '_ci'][0]:.2f}, {r[m + '_ci'][1]:.2f}]" for m in ("spearman", "kendall", "top_spearman")]
            lines.append(f"| {name} | {' | '.join(cells)} | {r['regret']:.2f} | {agree} | {diff} |")
    return "\n".join(lines) + "\n"


PART_OPTIONS = {  # the options only one part reads (dest -> that part)
    "timing_archs": "cost",
    "timing_ids": "cost",
    "repeats": "cost",
    "modes": "cost",
    "archs": "fidelity",
    "bootstrap": "fidelity",
}


def check_args(args: argparse.Namespace, n_archs: int) -> None:
    """The numbers and the options typed, refused before any set is loaded or trained (stop 46: --archs -1 scored all
    but the last architecture, --archs 0 was an IndexError, --timing-archs 0 or --repeats 0 a StatisticsError, --k 0 a
    table of nan, exit 0; --repeats with --parts fidelity, or --timing-archs beside --timing-ids, were ignored)."""
    for name in ("archs", "timing_archs", "repeats", "epochs", "val_images"):
        checks.number(f"--{name.replace('_', '-')}", getattr(args, name), 1, integer=True, optional=True)
    for name in ("archs", "timing_archs"):
        if getattr(args, name) > n_archs and name.replace("_", "-") in {d.replace("_", "-") for d in configs.given(args)}:
            raise InvalidArgumentError(
                f"--{name.replace('_', '-')} {getattr(args, name)}: --table {args.table} has {n_archs} architectures; "
                f"give at most --{name.replace('_', '-')} {n_archs}, or a larger table"
            )
    for k in args.k:
        checks.number("--k", k, 1, integer=True)
    checks.distinct("--k", args.k)
    check_n_boot(args.bootstrap, "--bootstrap")
    checks.number("--seed", args.seed, 0, integer=True)
    typed = configs.given(args)
    idle = [f"--{d.replace('_', '-')}" for d, part in PART_OPTIONS.items() if d in typed and part not in args.parts]
    if idle:
        raise InvalidArgumentError(
            f"{', '.join(idle)} change{'s' if len(idle) == 1 else ''} nothing with --parts {' '.join(args.parts)}: drop {'it' if len(idle) == 1 else 'them'}"
        )
    if "modes" in typed and max(args.k) == 1:  # K = 1 is the single-network path alone
        raise InvalidArgumentError("--modes changes nothing with --k 1: the modes are timed at K > 1; drop it or add a K")
    if {"timing_ids", "timing_archs"} <= typed:
        raise InvalidArgumentError(
            "--timing-ids names the architectures of the cost part, which --timing-archs counts from the table: give one of them"
        )
    check_out(args.out)


@one_line_errors("kseed.py")
def main(argv: list[str] | None = None) -> int:
    p = ScriptParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--synthetic", required=True, help="a synthetic set (nasproxy distill)")
    p.add_argument("--table", type=Path, default=Path(__file__).parent / "groundtruth" / "fashion-mnist-convnet720.csv")
    p.add_argument("--space", default="convnet720")
    p.add_argument("--archs", type=integer, default=16, help="architectures of the fidelity part, in table order (default %(default)s)")
    p.add_argument(
        "--timing-archs", type=integer, default=3, help="architectures of the cost part, the table's first (default %(default)s)"
    )
    p.add_argument("--timing-ids", nargs="+", help="architectures of the cost part by arch_id, instead of the first --timing-archs")
    p.add_argument("--k", type=integer, nargs="+", default=[1, 2, 4], help="seed counts (default %(default)s)")
    p.add_argument("--repeats", type=integer, default=1, help="times every architecture of the cost part is timed (default %(default)s)")
    p.add_argument("--modes", nargs="+", default=["loop", "vmap"], choices=["loop", "vmap"], help="ModelStack modes timed at K > 1")
    p.add_argument("--parts", nargs="+", default=["cost", "fidelity"], choices=["cost", "fidelity"])
    p.add_argument("--epochs", type=integer, default=ProxyConfig.epochs, help="proxy epochs (default %(default)s)")
    p.add_argument("--val-images", type=integer, help="score on the first N validation images only (default: all, as the proxy)")
    add_bootstrap(p)
    p.add_argument("--seed", type=integer, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/kseed"))
    for action in p._actions:
        configs.track(action)  # which options were typed (configs.given), whatever their value
    args = p.parse_args(argv)
    if 1 not in args.k:
        p.error("--k must include 1 (the baseline)")
    table = read_table(args.table)
    check_args(args, len(table.ids))
    if "fidelity" in args.parts:  # ranked against the table: a set of its data (the cost part only times its architectures)
        check_sets(table.data, [args.synthetic])
    args.timed = args.timing_ids or table.ids[: args.timing_archs]
    if set(args.timed) - set(table.ids):
        p.error(f"--timing-ids not in {args.table}: {', '.join(sorted(set(args.timed) - set(table.ids)))}")
    t0 = time.perf_counter()
    space = get_space(args.space)
    ctx = ProxyContext.load(args.synthetic, args.device, ProxyConfig(epochs=args.epochs))
    if args.val_images:  # a seeded random subset (the split itself is in index order)
        pick = torch.randperm(ctx.val_x.shape[0], generator=torch.Generator().manual_seed(args.seed))[: args.val_images]
        ctx.val_x, ctx.val_y = ctx.val_x[pick.to(ctx.device)], ctx.val_y[pick.to(ctx.device)]
    result: dict[str, Any] = {"device": str(ctx.device), "synthetic": args.synthetic, "table": str(args.table)}
    if "cost" in args.parts:
        result["cost"] = cost(ctx, space, table, args)
    if "fidelity" in args.parts:
        result["fidelity"] = fidelity(ctx, space, table, args)
    result["seconds"] = time.perf_counter() - t0
    write_outputs(args.out, "kseed", result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
