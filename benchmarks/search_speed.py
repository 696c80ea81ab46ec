"""Proxy trials per hour, and what one costs against an epoch of training on the full training split.

For ``--n-archs`` distinct architectures of ``--space``, drawn by a seeded Optuna ``RandomSampler``, this measures in
one process, architecture by architecture (so that load from other processes hits both alike):

1. ``proxy``: ``ProxyContext.score`` exactly as a search trial runs it -- build and FLOP count, ``--epochs`` of
   training on the synthetic set (with the intermediate validation reports every ``report_every`` epochs on 1000
   images, as in a study), the final score on the whole validation split -- with its own seconds per part;
2. ``full``: the same architecture with the same initial weights, trained by ``train_model`` for ``--full-epochs``
   on the real training split the synthetic set was distilled from (same lr, batch ``--full-batch``, no DSA), then
   scored on the same validation split. Its cost over the proxy trial's is the ratio a search on real data would pay.

With ``--workers K[,K2...]`` the same proxy trials then run again, for each K, in K spawned processes that pull
architectures from one queue (as K ``nasproxy worker`` processes pull trials from a study), each with
``--worker-threads`` torch threads; their aggregate trials/hour is wall clock, from the moment every worker has loaded
its data and warmed up until the last trial is in.

Run ``python benchmarks/search_speed.py --help``; benchmarks/README.md has the commands.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import queue
import statistics
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
import torch
from fidelity_report import check_out_file  # benchmarks/ is on sys.path
from provenance import machine  # benchmarks/provenance.py (this script's folder is on sys.path)
from torch import Tensor

from nas_proxy import checks
from nas_proxy.cli.common import ScriptParser, one_line_errors
from nas_proxy.cli.types import integer
from nas_proxy.data import load_dataset
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.files import write_text
from nas_proxy.spaces import SearchSpace, Spec, arch_id, get_space
from nas_proxy.synthetic import load_synthetic
from nas_proxy.trainers.synthetic_set import ProxyConfig, ProxyContext, count_params
from nas_proxy.training import TrainConfig, accuracy, train_model
from nas_proxy.utils import derive_seed, resolve_device

DEFAULT_SYNTHETIC = "benchmarks/out/fashion/datadam-ipc10"  # written by benchmarks/fashion_accuracy.sh
WARMUP_EPOCHS = 2  # one untimed short proxy trial per process first: lazy initialisation, kernel selection
POOL_TIMEOUT_S = 3600.0  # give up on a worker pool that produces nothing for this long


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = ScriptParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--synthetic", type=Path, default=Path(DEFAULT_SYNTHETIC), help="a synthetic-set directory (nasproxy distill --out)")
    p.add_argument("--space", default="convnet720", help="search space name or file")
    p.add_argument("--n-archs", type=integer, default=8, help="distinct architectures drawn from the space")
    p.add_argument("--seed", type=integer, default=0, help="sampler seed and the trials' seed")
    p.add_argument("--epochs", type=integer, default=ProxyConfig.epochs, help="proxy training epochs on the synthetic set")
    p.add_argument("--report-every", type=integer, default=ProxyConfig.report_every, help="epochs between a trial's validation reports")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="CUDA: proxy training and validation in float32, not bf16")
    p.add_argument("--channels-last", action="store_true", help="CUDA: NHWC weights and batches in the proxy trials")
    p.add_argument("--cuda-graph", action="store_true", help="CUDA: proxy forward + backward replayed as CUDA graphs")
    p.add_argument("--full-epochs", type=integer, default=1, help="epochs on the full training split (0: skip the full-data rows)")
    p.add_argument("--full-batch", type=integer, default=256, help="batch size of the full-data training")
    p.add_argument("--workers", default="", help="comma-separated process counts: rerun the proxy trials in that many processes each")
    p.add_argument("--worker-threads", type=integer, default=None, help="torch threads per worker (default: this process's threads // K)")
    p.add_argument("--device", default="cpu", help="auto | cpu | cuda[:N]")
    p.add_argument("--threads", type=integer, default=None, help="torch CPU threads of this process (default: torch's choice)")
    p.add_argument("--data-root", default=None, help="where the real dataset lives (default: the synthetic set's)")
    p.add_argument("--json", type=Path, default=None, help="write every raw number here")
    args = p.parse_args(argv)
    # before probe47: '--workers 1,x' was int()'s traceback, '--seed -1' numpy's, '--threads -1' torch's, and a --json folder
    # an IsADirectoryError after every trial had run
    args.workers = checks.items("--workers", args.workers, checks.parse_int) if args.workers else []
    checks.number("--seed", args.seed, 0, integer=True)
    checks.number("--threads", args.threads, 1, integer=True, optional=True)
    if args.json is not None:
        check_out_file("--json", args.json, makes_folder=True)
    if args.n_archs < 1 or args.epochs < 1 or args.report_every < 1 or args.full_batch < 1:
        p.error("--n-archs, --epochs, --report-every and --full-batch must be >= 1")
    if args.full_epochs < 0 or any(k < 1 for k in args.workers) or (args.worker_threads is not None and args.worker_threads < 1):
        p.error("--full-epochs must be >= 0, --workers and --worker-threads >= 1")
    if not (args.synthetic / "meta.json").is_file():
        p.error(f"--synthetic must be a finished synthetic set (a directory with meta.json), got {args.synthetic}")
    return args


def draw_specs(space: SearchSpace, n: int, seed: int) -> list[Spec]:
    """``n`` distinct specs, each ``space.sample`` on a trial asked from an in-memory study with a seeded RandomSampler."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    specs: dict[str, Spec] = {}
    for _ in range(100 * n):  # duplicates are skipped; a space smaller than n ends the loop
        spec = space.sample(study.ask())
        specs.setdefault(arch_id(spec), spec)
        if len(specs) == n:
            break
    if len(specs) < n:
        raise InvalidArgumentError(f"--n-archs {n}: the space gave only {len(specs)} distinct architectures in {100 * n} draws")
    return list(specs.values())


def proxy_config(args: argparse.Namespace) -> ProxyConfig:
    """The proxy of the trials; the CUDA options are optional attributes of ``args`` (defaults: ProxyConfig's)."""
    cuda = {k: getattr(args, k) for k in ("amp", "channels_last", "cuda_graph") if hasattr(args, k)}
    return ProxyConfig(epochs=args.epochs, report_every=args.report_every, **cuda)


def load(args: argparse.Namespace, device: torch.device) -> tuple[ProxyContext, Tensor, Tensor]:
    """The proxy's context, built as ``ProxyContext.load`` builds it, and the real training split of the same split."""
    syn = load_synthetic(args.synthetic)
    d, split = syn.dataset, syn.meta["split"]
    dataset = load_dataset(d["name"], args.data_root or syn.meta.get("data_root"), image_size=int(d["image_size"][0]))
    splits = dataset.split(int(split["seed"]), float(split["val_fraction"]))  # the split the distillation saw
    ctx = ProxyContext(syn, splits.val_x, splits.val_y, dataset.flip, device, proxy_config(args))
    return ctx, splits.train_x.to(device), splits.train_y.to(device)  # (N, C, H, W), (N,)


def sync(device: torch.device) -> None:
    """Wait for the calling thread's CUDA stream (not the whole device: trials on other threads' streams go on)."""
    if device.type == "cuda":
        torch.cuda.current_stream(device).synchronize()


def warm_up(ctx: ProxyContext, space: SearchSpace, spec: Spec) -> None:
    """An untimed short proxy trial: the first forward/backward of a process pays one-off costs."""
    config = replace(ctx.config, epochs=WARMUP_EPOCHS, report_every=1)
    ProxyContext(ctx.synthetic, ctx.val_x, ctx.val_y, ctx.flip, ctx.device, config).score(space, spec, seed=-1)


def time_proxy(ctx: ProxyContext, space: SearchSpace, spec: Spec, seed: int) -> dict[str, Any]:
    sync(ctx.device)
    result = ctx.score(space, spec, seed=seed)  # its own seconds: build, train, validate, total
    sync(ctx.device)
    return {"seconds": result.seconds, "accuracy": result.accuracy, "params": result.params, "flops": result.flops}


def time_full(ctx: ProxyContext, space: SearchSpace, spec: Spec, x: Tensor, y: Tensor, args: argparse.Namespace) -> dict[str, Any]:
    """``--full-epochs`` on the real training split from the proxy trial's initial weights, then the validation score."""
    # 1 epoch: no lr decay; bf16 on CUDA only as the proxy (--no-amp)
    config = TrainConfig(epochs=args.full_epochs, lr=ctx.config.lr, batch_size=args.full_batch, dsa=False, amp=ctx.config.amp)
    run_seed = derive_seed(args.seed, "proxy", arch_id(spec))  # ProxyContext.score's seed: the same initial network
    t0 = time.perf_counter()
    torch.manual_seed(run_seed)
    model = ctx.build(space, spec).to(ctx.device)
    sync(ctx.device)
    t1 = time.perf_counter()
    train_model(model, x, y, config, run_seed, ctx.flip)
    sync(ctx.device)
    t2 = time.perf_counter()
    acc = 100.0 * accuracy(model, ctx.val_x, ctx.val_y, amp=ctx.config.amp)
    sync(ctx.device)
    t3 = time.perf_counter()
    seconds = {"build": t1 - t0, "train": t2 - t1, "validate": t3 - t2, "total": t3 - t0}
    return {
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
        "accuracy": acc,
        "params": count_params(model),
        "config": config.to_dict(),
    }


def on_stream(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """A CUDA stream of its own for the calling thread (its work overlaps other threads'); nothing on a CPU."""
    return torch.cuda.stream(torch.cuda.Stream(device)) if device.type == "cuda" else contextlib.nullcontext()


def task_spec(specs: list[Spec], i: int, seed: int) -> tuple[Spec, int]:
    """Task ``i`` of a pool: the specs in turn, each round with the next seed (round 0: the in-process rows' seed)."""
    return specs[i % len(specs)], seed + i // len(specs)


def pool_worker(
    rank: int, args: argparse.Namespace, specs: list[Spec], threads: int, tasks: Any, results: Any, barrier: Any, streams: int = 1
) -> None:
    """One worker process: load, warm up, wait for the others, then score architectures until the queue is empty,
    on ``streams`` threads that each run their trials on a CUDA stream of their own (several trials at once in one
    process, sharing its loaded data; each thread stops at its own stop sign)."""
    torch.set_num_threads(threads)
    device = resolve_device(args.device)
    space = get_space(args.space)
    ctx = ProxyContext.load(args.synthetic, str(device), proxy_config(args), args.data_root)
    if streams == 1:
        warm_up(ctx, space, specs[0])
        barrier.wait()
        drain(ctx, space, specs, args.seed, rank, 0, tasks, results)
        return
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # the data copied on the default stream, before streams that do not wait for it read it
    ready = threading.Barrier(streams + 1)

    def lane(k: int) -> None:
        with on_stream(device):
            warm_up(ctx, space, specs[0])  # on its own stream: a stream's first kernels pay one-off costs too
            ready.wait()
            drain(ctx, space, specs, args.seed, rank, k, tasks, results)

    lanes = [threading.Thread(target=lane, args=(k,), daemon=True) for k in range(streams)]
    for t in lanes:
        t.start()
    ready.wait()
    barrier.wait()
    for t in lanes:
        t.join()


def drain(ctx: ProxyContext, space: SearchSpace, specs: list[Spec], seed: int, rank: int, lane: int, tasks: Any, results: Any) -> None:
    """Score the tasks of the queue until this lane's stop sign."""
    while (i := tasks.get()) is not None:
        spec, s = task_spec(specs, i, seed)
        results.put({"index": i, "worker": rank, "lane": lane, **time_proxy(ctx, space, spec, s)})


def run_pool(args: argparse.Namespace, specs: list[Spec], workers: int, threads: int) -> dict[str, Any]:
    """The proxy trials of ``specs`` in ``workers`` spawned processes pulling from one queue; wall clock after all warmed up."""
    mpc = mp.get_context("spawn")
    tasks, results, barrier = mpc.Queue(), mpc.Queue(), mpc.Barrier(workers + 1)
    for i in range(len(specs)):
        tasks.put(i)
    for _ in range(workers):
        tasks.put(None)  # one stop sign each
    procs = [mpc.Process(target=pool_worker, args=(k, args, specs, threads, tasks, results, barrier)) for k in range(workers)]
    for proc in procs:
        proc.start()
    try:
        barrier.wait(timeout=POOL_TIMEOUT_S)
        t0 = time.perf_counter()
        trials: list[dict[str, Any]] = []
        while len(trials) < len(specs):
            try:
                trials.append(results.get(timeout=5.0))
            except queue.Empty:
                if not all(p.is_alive() for p in procs) or time.perf_counter() - t0 > POOL_TIMEOUT_S:
                    raise RuntimeError(f"a worker died or stalled ({[p.exitcode for p in procs]}) after {len(trials)} trials") from None
        wall = time.perf_counter() - t0
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
    trials.sort(key=lambda t: t["index"])
    return {"workers": workers, "threads_per_worker": threads, "trials": trials, "wall_seconds": round(wall, 3)}


def environment(
    args: argparse.Namespace, device: torch.device, load_start: tuple[float, float, float], ctx: ProxyContext
) -> dict[str, Any]:
    meta = ctx.synthetic.meta
    return {
        **machine(device, load_start),
        "optuna_version": optuna.__version__,
        "synthetic": {
            "path": str(args.synthetic),
            "dataset": meta["dataset"]["name"],
            "method": meta["method"],
            "ipc": meta["ipc"],
            "images": int(ctx.images.shape[0]),
            "tensors_sha256": meta.get("tensors_sha256"),
            "split": meta["split"],
        },
        "proxy_config": ctx.config.to_dict(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "synthetic")} | {"json": str(args.json)},
    }


def short_spec(spec: Spec) -> str:
    return " ".join(f"{v}" for k, v in spec.items() if k != "family")


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    proxy = [r["proxy"]["seconds"]["total"] for r in rows]
    out: dict[str, Any] = {
        "proxy_mean_seconds": statistics.mean(proxy),
        "proxy_trials_per_hour": 3600.0 / statistics.mean(proxy),
        "proxy_share": {k: sum(r["proxy"]["seconds"][k] for r in rows) / sum(proxy) for k in ("build", "train", "validate")},
    }
    if all("full" in r for r in rows):
        full = [r["full"]["seconds"]["total"] for r in rows]
        ratios = [f / p for f, p in zip(full, proxy, strict=True)]
        out |= {
            "full_mean_seconds": statistics.mean(full),
            "full_trials_per_hour": 3600.0 / statistics.mean(full),
            "ratio_median": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
        }
    return out


def render(report: dict[str, Any]) -> str:
    rows, s, env = report["archs"], report["summary"], report["environment"]
    full_epochs = env["settings"]["full_epochs"]
    lines = [
        f"{env['synthetic']['dataset']} {env['synthetic']['method']} IPC {env['synthetic']['ipc']} ({env['synthetic']['images']} images), "
        f"space {env['settings']['space']}, proxy {env['proxy_config']['epochs']} epochs; full data: {full_epochs} epoch(s) on "
        f"{report['full_train_images']} images, batch {env['settings']['full_batch']}; {env['device_name']}, "
        f"{env['torch_threads']} threads, load {env['load_average_start'][0]:.2f} -> {env['load_average_end'][0]:.2f}",
        "",
        "| arch id | spec | params | MFLOPs | proxy build s | proxy train s | proxy validate s | proxy total s | proxy val % "
        "| full train s | full validate s | full total s | full val % | full / proxy |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        p = r["proxy"]["seconds"]
        f = r.get("full", {}).get("seconds")
        full_cells = (
            f"{f['train']:.1f} | {f['validate']:.2f} | {f['total']:.1f} | {r['full']['accuracy']:.2f} | {f['total'] / p['total']:.2f}"
            if f
            else "- | - | - | - | -"
        )
        lines.append(
            f"| {r['arch_id']} | {short_spec(r['spec'])} | {r['proxy']['params']:,} | {r['proxy']['flops'] / 1e6:.1f} | {p['build']:.2f} | "
            f"{p['train']:.1f} | {p['validate']:.2f} | {p['total']:.1f} | {r['proxy']['accuracy']:.2f} | {full_cells} |"
        )
    share = s["proxy_share"]
    lines += [
        "",
        "| summary | value |",
        "|---|---|",
        f"| proxy trial, mean s | {s['proxy_mean_seconds']:.1f} |",
        f"| proxy trials / hour (3600 / mean) | {s['proxy_trials_per_hour']:.0f} |",
        f"| proxy time in build / train / validate | {100 * share['build']:.1f} % / {100 * share['train']:.1f} % / {100 * share['validate']:.1f} % |",
    ]
    if "ratio_median" in s:
        lines += [
            f"| full-data trial ({full_epochs} epoch + validate), mean s | {s['full_mean_seconds']:.1f} |",
            f"| full-data trials / hour | {s['full_trials_per_hour']:.0f} |",
            f"| full-data trial / proxy trial, median (min - max) | {s['ratio_median']:.2f} ({s['ratio_min']:.2f} - {s['ratio_max']:.2f}) |",
        ]
    if report.get("pools"):
        serial = sum(r["proxy"]["seconds"]["total"] for r in rows)
        base = 3600.0 * len(rows) / serial
        lines += [
            "",
            "| proxy trials run by | trials | wall s | mean s / trial | trials / hour (wall) | trials / hour, never idle | vs the rows above |",
            "|---|---|---|---|---|---|---|",
            f"| this process, {env['torch_threads']} threads (the rows above) | {len(rows)} | {serial:.1f} | {serial / len(rows):.1f} "
            f"| {base:.0f} | {base:.0f} | 1.00x |",
        ]
        for pool in report["pools"]:
            wall = 3600.0 * len(pool["trials"]) / pool["wall_seconds"]
            mean = statistics.mean(t["seconds"]["total"] for t in pool["trials"])
            busy = pool["workers"] * 3600.0 / mean  # a long study: no worker waits for the last trials of the others
            lines.append(
                f"| {pool['workers']} process(es) x {pool['threads_per_worker']} thread(s), one queue | {len(pool['trials'])} "
                f"| {pool['wall_seconds']:.1f} | {mean:.1f} | {wall:.0f} | {busy:.0f} | {wall / base:.2f}x wall, {busy / base:.2f}x never idle |"
            )
    return "\n".join(lines)


@one_line_errors("search_speed.py")
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # its "A new study created" line came before a refusal's on stderr
    if args.threads:
        torch.set_num_threads(args.threads)
    device, load_start = resolve_device(args.device), os.getloadavg()
    space = get_space(args.space)
    size = space.size()
    if size is not None and args.n_archs > size:  # before probe47: 100 draws per architecture asked, minutes, then refused
        raise InvalidArgumentError(f"--n-archs {args.n_archs} is more than the {size:,} architectures of space {args.space}")
    specs = draw_specs(space, args.n_archs, args.seed)
    ctx, train_x, train_y = load(args, device)
    warm_up(ctx, space, specs[0])
    rows = []
    for i, spec in enumerate(specs):
        print(f"[search_speed] {i + 1}/{len(specs)} {arch_id(spec)} {short_spec(spec)}", file=sys.stderr, flush=True)
        row: dict[str, Any] = {"arch_id": arch_id(spec), "spec": spec, "proxy": time_proxy(ctx, space, spec, args.seed)}
        if args.full_epochs:
            row["full"] = time_full(ctx, space, spec, train_x, train_y, args)
        rows.append(row)
    report: dict[str, Any] = {"archs": rows, "summary": summary(rows), "full_train_images": int(train_y.shape[0])}
    del train_x, train_y  # worker processes load their own data
    report["pools"] = []
    for workers in args.workers:
        threads = args.worker_threads or max(1, torch.get_num_threads() // workers)
        print(f"[search_speed] proxy trials in {workers} process(es) x {threads} thread(s)", file=sys.stderr, flush=True)
        report["pools"].append(run_pool(args, specs, workers, threads))
    report = {"environment": environment(args, device, load_start, ctx), **report}
    print(render(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_text(args.json, json.dumps(report, indent=2) + "\n")
        print(f"\nraw numbers: {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
