"""Section ``proxy`` of the GPU check: proxy trials per hour with 1..8 worker processes sharing the device,
the full-data epoch of the same architectures, and the projected cost of searching the whole space.

1. A DataDAM IPC-10 set is distilled here (``Plan.proxy_distill_iterations``, timed).
2. ``Plan.proxy_archs`` architectures of ``Plan.space``, one per stratum of its FLOPs: the space is sorted by
   forward FLOPs per image and cut into that many equal strata; a seeded draw picks one in each, so the sample
   mean estimates the mean over the space. They run in a seeded random order, so a run cut short is not biased
   towards small networks.
3. In this process, architecture by architecture: the proxy trial (``ProxyContext.score``, as a search trial) and
   ``full_epochs`` on the real training split from the same initial weights (``search_speed.time_full``).
4. ``Plan.pool_trials`` proxy trials (the sample in turn, a new seed each round) in K spawned processes pulling
   from one queue (``search_speed.pool_worker``), for every K of ``Plan.workers``, then for every (K, S) of
   ``Plan.stream_pools``: K processes of S lanes, each lane a thread running its trials on a CUDA stream of its
   own, so that trials overlap on the GPU inside one process. Wall clock from the moment all have loaded and
   warmed up to the last trial in; each pool's first round is compared with the in-process rows (same
   architecture, same seed): the largest accuracy difference says whether running beside others changes a score.
5. If the section has time left: the proxy's own options (float32 instead of bf16, channels_last, CUDA graphs,
   where this ProxyConfig has them), each against the default on the same architectures, interleaved, one process.
6. The projection: the whole space at the best pool's rate (plus the distillation at its default length) against
   training every architecture on the full training split for E epochs at the measured per-epoch cost.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing as mp
import queue
import random
import statistics
import time
from dataclasses import fields, replace
from typing import Any

import search_speed as ss  # benchmarks/search_speed.py: the proxy and full-data timings, the pool worker
import torch
from gpu_context import Context, Recorder

from nas_proxy.distill import DistillConfig, distill
from nas_proxy.spaces import SearchSpace, Spec, arch_id, get_space
from nas_proxy.trainers.synthetic_set import ProxyConfig, ProxyContext, count_flops
from nas_proxy.utils import resolve_device

FLOP_NEUTRAL = ("activation", "normalization")  # torch's counter counts convolutions and matrix products only
SERIAL_SHARE = 0.4  # of the section's time left after distilling: the in-process rows; the pools share the rest
POOL_MIN_S = 8.0  # a pool is not started with less time than this for it
OPTIONS_MIN_S = 10.0  # the proxy options are timed only with this much of the section left
OPTIONS = {"fp32": {"amp": False}, "channels_last": {"channels_last": True}, "cuda_graph": {"cuda_graph": True}}  # vs ProxyConfig()


def every_spec(space: SearchSpace) -> list[Spec]:
    """All specs of a space given as a table of choices (convnet720: 720)."""
    choices: dict[str, tuple[Any, ...]] = getattr(space, "choices", {})
    if not choices:
        raise ValueError(f"space {space.name!r} is not a table of choices: it cannot be enumerated for a stratified sample")
    return [{"family": space.family, **dict(zip(choices, values, strict=True))} for values in itertools.product(*choices.values())]


def stratified_sample(space: SearchSpace, n: int, seed: int, shape: tuple[int, int, int], classes: int) -> list[tuple[Spec, int]]:
    """``n`` (spec, forward FLOPs per image): one seeded pick per FLOPs stratum, returned in a seeded random order."""
    specs = every_spec(space)
    c, h, w = shape
    sample = torch.randn(1, c, h, w)
    cache: dict[str, int] = {}
    flops = []
    for spec in specs:
        key = arch_id({k: v for k, v in spec.items() if k not in FLOP_NEUTRAL})
        if key not in cache:
            cache[key] = count_flops(space.build(spec, c, classes, (h, w)), sample)
        flops.append(cache[key])
    order = sorted(range(len(specs)), key=lambda i: (flops[i], arch_id(specs[i])))
    n = min(n, len(specs))
    bounds = [round(k * len(order) / n) for k in range(n + 1)]
    rng = random.Random(seed)
    picks = [order[rng.randrange(bounds[k], bounds[k + 1])] for k in range(n)]
    rng.shuffle(picks)
    return [(specs[i], flops[i]) for i in picks]


def distill_set(ctx: Context, rec: Recorder) -> None:
    p = ctx.plan
    config = DistillConfig(
        dataset="fashion-mnist",
        data_root=ctx.data_root(),
        ipc=p.proxy_ipc,
        method="datadam",
        iterations=p.proxy_distill_iterations,
        batch_real=p.batch_real,
        net_width=p.net_width,
        seed=ctx.seed,
        device=p.device,
    )
    t0 = time.perf_counter()
    run = distill(config, ctx.synthetic, force=True, progress=False)
    loop = float(run.meta["seconds"])
    rec.set(
        "distill",
        {
            "config": config.to_dict(),
            "wall_seconds": round(time.perf_counter() - t0, 2),  # with data loading and writing the set
            "loop_seconds": loop,
            "seconds_per_iteration": loop / max(1, p.proxy_distill_iterations),
            "default_iterations": DistillConfig.iterations,
        },
    )


def run_pool(
    ns: argparse.Namespace, specs: list[Spec], workers: int, threads: int, deadline: float, streams: int = 1, trials: int | None = None
) -> dict[str, Any]:
    """``search_speed.pool_worker`` in ``workers`` spawned processes of ``streams`` lanes each (threads on CUDA
    streams of their own), ``trials`` proxy trials (the specs in turn, a new seed each round; None: each spec once);
    stopped at ``deadline`` with what finished."""
    n = trials or len(specs)
    mpc = mp.get_context("spawn")
    tasks, results, barrier = mpc.Queue(), mpc.Queue(), mpc.Barrier(workers + 1)
    for i in range(n):
        tasks.put(i)
    for _ in range(workers * streams):
        tasks.put(None)  # one stop sign per lane
    tasks.cancel_join_thread()  # workers stopped at the deadline leave tasks behind: exiting must not wait for them
    procs = [mpc.Process(target=ss.pool_worker, args=(k, ns, specs, threads, tasks, results, barrier, streams)) for k in range(workers)]
    out: dict[str, Any] = {
        "workers": workers,
        "streams_per_worker": streams,
        "threads_per_worker": threads,
        "trials": [],
        "wall_seconds": None,
    }
    t_start = time.perf_counter()
    for proc in procs:
        proc.start()
    try:
        while barrier.n_waiting < workers:  # loaded and warmed up: then the clock starts for all together
            if not all(proc.is_alive() for proc in procs) or time.time() > deadline:
                out["stopped"] = f"workers not ready before the deadline or exited (exit codes {[q.exitcode for q in procs]})"
                return out
            time.sleep(0.1)
        barrier.wait(timeout=60)
        out["startup_seconds"] = round(time.perf_counter() - t_start, 2)
        t0 = last = time.perf_counter()
        while len(out["trials"]) < n:
            try:
                out["trials"].append(results.get(timeout=1.0))
                last = time.perf_counter()
            except queue.Empty:
                if time.time() > deadline or not any(proc.is_alive() for proc in procs):
                    out["stopped"] = f"deadline or workers gone after {len(out['trials'])} of {n} trials"
                    break
        out["wall_seconds"] = round(last - t0, 3)
    finally:
        for proc in procs:
            proc.join(timeout=5 if "stopped" not in out else 0.1)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
    out["trials"].sort(key=lambda t: t["index"])
    if out["trials"] and out["wall_seconds"]:
        out["trials_per_hour"] = 3600.0 * len(out["trials"]) / out["wall_seconds"]
    return out


def pool_label(pool: dict[str, Any]) -> str:
    """``K`` (K processes) or ``KxS`` (K processes of S lanes each)."""
    k, streams = pool["workers"], pool.get("streams_per_worker", 1)
    return str(k) if streams == 1 else f"{k}x{streams}"


def exactness(pool: dict[str, Any], serial: list[dict[str, Any]]) -> float | None:
    """Largest |accuracy difference| (points) between a pool's first-round trials and the in-process rows of the
    same architecture and seed: 0 when running beside other trials changes nothing (None: no trial to compare)."""
    alone = {r["arch_id"]: r["proxy"]["accuracy"] for r in serial}
    n = len(alone)
    diffs = [
        abs(t["accuracy"] - alone[arch]) for t in pool.get("trials", []) if t["index"] < n and (arch := pool["archs"][t["index"]]) in alone
    ]
    return max(diffs) if diffs else None


def time_options(ctx: Context, rec: Recorder, ns: argparse.Namespace, space: SearchSpace, specs: list[Spec]) -> None:
    """Proxy trials with each of ``OPTIONS`` and with the default, interleaved per architecture, until the deadline."""
    known = {f.name for f in fields(ProxyConfig)}
    variants: dict[str, dict[str, bool]] = {"default": {}} | {name: o for name, o in OPTIONS.items() if set(o) <= known}
    if len(variants) == 1:
        rec.set("options", {"skipped": f"this ProxyConfig has none of {', '.join(k for o in OPTIONS.values() for k in o)}"})
        return
    base = ss.load(ns, resolve_device(ns.device))[0]
    contexts = {
        name: ProxyContext(base.synthetic, base.val_x, base.val_y, base.flip, base.device, replace(base.config, **o))
        for name, o in variants.items()
    }
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    errors: dict[str, str] = {}
    for spec in specs:
        if ctx.left() < 5.0:
            break
        for name, pctx in contexts.items():
            if name in errors:
                continue
            try:
                seconds[name].append(ss.time_proxy(pctx, space, spec, ctx.seed)["seconds"]["total"])
            except Exception as e:  # noqa: BLE001 -- an option that breaks on this device is a finding, not the end of the section
                errors[name] = f"{type(e).__name__}: {str(e)[:300]}"
        done = min((len(v) for name, v in seconds.items() if name not in errors), default=0)
        rates = {name: 3600.0 * done / sum(v[:done]) for name, v in seconds.items() if name not in errors and done}
        rec.set("options", {"variants": variants, "archs": done, "trials_per_hour": rates, "seconds": seconds, "errors": errors})


def projection(rec: Recorder, space_size: int, epochs: tuple[int, ...]) -> dict[str, Any]:
    """Hours to search the whole space: proxy (distillation at its default length + every candidate at the best
    pool's rate) against full-data training of every candidate for E epochs, one process at the measured cost."""
    d, serial, pools = rec.data.get("distill", {}), rec.data.get("serial", {}).get("rows", []), rec.data.get("pools", [])
    rates = {pool_label(p): p["trials_per_hour"] for p in pools if "trials_per_hour" in p}
    out: dict[str, Any] = {"space_size": space_size, "trials_per_hour_by_pool": rates}
    if not rates or not serial or "seconds_per_iteration" not in d:
        out["missing"] = "needs the distillation, at least one pool and one in-process row"
        return out
    best, rate = max(rates.items(), key=lambda kv: kv[1])
    distill_h = d["seconds_per_iteration"] * d["default_iterations"] / 3600.0
    proxy_h = distill_h + space_size / rate
    out |= {"best_pool": best, "distill_hours": distill_h, "proxy_search_hours": proxy_h, "full": []}
    for e in epochs:
        per = [
            r["full"]["seconds"]["build"] + e * r["full"]["seconds"]["train"] + r["full"]["seconds"]["validate"]
            for r in serial
            if "full" in r
        ]
        if per:
            full_h = space_size * statistics.mean(per) / 3600.0
            out["full"].append({"epochs": e, "hours": full_h, "speedup": full_h / proxy_h})
    return out


def run_proxy_section(ctx: Context, rec: Recorder) -> None:
    p = ctx.plan
    distill_set(ctx, rec)
    device = resolve_device(p.device)
    base = ProxyConfig()
    ns = argparse.Namespace(
        synthetic=ctx.synthetic,
        space=p.space,
        seed=ctx.seed,
        epochs=p.proxy_epochs or base.epochs,
        report_every=p.proxy_report_every or base.report_every,
        full_epochs=p.full_epochs,
        full_batch=p.full_batch,
        device=p.device,
        data_root=ctx.data_root(),
    )
    space = get_space(p.space)
    pctx, train_x, train_y = ss.load(ns, device)
    picked = stratified_sample(space, p.proxy_archs, ctx.seed, pctx.input_shape, pctx.synthetic.num_classes)
    specs = [spec for spec, _ in picked]
    rec.set(
        "sample",
        {
            "space": p.space,
            "space_size": space.size(),
            "seed": ctx.seed,
            "how": "one seeded pick per equal-size stratum of forward FLOPs per image, seeded random order",
            "proxy_config": ss.proxy_config(ns).to_dict(),
            "archs": [{"arch_id": arch_id(s), "spec": s, "mflops": f / 1e6} for s, f in picked],
        },
    )
    ss.warm_up(pctx, space, specs[0])
    serial_deadline = time.time() + SERIAL_SHARE * ctx.left()
    rows: list[dict[str, Any]] = []
    for spec in specs:
        if rows and time.time() > serial_deadline:
            break
        row: dict[str, Any] = {"arch_id": arch_id(spec), "spec": spec, "proxy": ss.time_proxy(pctx, space, spec, ctx.seed)}
        if p.full_epochs:
            row["full"] = ss.time_full(pctx, space, spec, train_x, train_y, ns)
        rows.append(row)
        rec.set("serial", {"rows": rows, "summary": ss.summary(rows), "full_train_images": int(train_y.shape[0])})
    del pctx, train_x, train_y  # the pools' workers load their own
    if device.type == "cuda":
        torch.cuda.empty_cache()
    pools: list[dict[str, Any]] = []
    shapes = [(k, 1) for k in p.workers] + list(p.stream_pools)  # (processes, lanes each)
    for i, (k, streams) in enumerate(shapes):
        share = (ctx.left() - 2.0) / (len(shapes) - i)
        label = pool_label({"workers": k, "streams_per_worker": streams})
        if share < POOL_MIN_S:
            pools.append({"workers": k, "streams_per_worker": streams, "stopped": f"not started: {share:.0f} s left for it"})
        else:
            threads = 1 if device.type == "cpu" else max(1, torch.get_num_threads() // k)
            print(f"[gpu_check] proxy trials in pool {label} (processes x lanes), up to {share:.0f} s", flush=True)
            pool = run_pool(ns, specs, k, threads, time.time() + share, streams, p.pool_trials)
            pool["archs"] = [arch_id(specs[i % len(specs)]) for i in range(p.pool_trials or len(specs))]
            pool["max_abs_accuracy_diff_vs_alone"] = exactness(pool, rows)
            pools.append(pool)
        rec.set("pools", pools)
        rec.set("projection", projection(rec, space.size() or len(specs), p.project_epochs))
    if ctx.left() > OPTIONS_MIN_S:
        time_options(ctx, rec, ns, space, specs)
    else:
        rec.set("options", {"skipped": f"only {ctx.left():.0f} s left in the section"})
