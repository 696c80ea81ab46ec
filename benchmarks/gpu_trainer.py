"""Sections ``trainer``, ``horizon``, ``groundtruth-converged`` and ``fidelity-converged`` of the GPU check (issue 20).

- ``trainer``: seconds per epoch per network on the 54,000 training images, today's protocol beside the fast
  one (``FAST``), on ``Plan.tr_archs`` FLOPs-stratified architectures, in one process: median and quartiles
  over the architectures, the per-architecture ratio, and trainings per hour at each candidate horizon;
- ``horizon``: the fast protocol at ``Plan.hz_horizons`` epochs on ``Plan.hz_archs`` stratified architectures,
  two seeds, scored on the validation split (never the test set); the rule: the shortest horizon whose
  Spearman with the longest (seed 0) is at least the seed-to-seed Spearman at the longest (seeds 0, 1);
- ``groundtruth-converged``: ``benchmarks/groundtruth/build.py`` with the fast protocol at the chosen horizon,
  into ``fashion-mnist-convnet720-converged.csv`` (the same 100 architectures, two seeds, no long pass);
- ``fidelity-converged``: the ``fidelity`` section's proxies rescored on the converged table.

The three that take several 5-minute calls resume as issue 18's do (``gpu_ablation.state_folder``): their
state is packed into ``OUT/SECTION/state.tar.gz``; commit it as ``benchmarks/gpu/SECTION-state.tar.gz``
for the next call.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import shutil
import statistics
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from gpu_ablation import STATE_RESERVE_S, pack_state, state_folder, state_packed
from gpu_common import run_group
from gpu_context import BENCHMARKS, Context, Recorder

from nas_proxy.correlate.metrics import spearman
from nas_proxy.errors import DivergedError
from nas_proxy.files import write_json
from nas_proxy.protocols import TRAINING_PROTOCOLS, GroundTruthConfig
from nas_proxy.spaces import Spec, arch_id, build_model, get_space
from nas_proxy.trainers.fulldata import DataRef, RealData, train_one
from nas_proxy.training import train_model
from nas_proxy.utils import derive_seed

# The protocols by name (nas_proxy.protocols.TRAINING_PROTOCOLS, where their choices are explained), so that what this
# section measures is what `search --promote-protocol` and `train --protocol` run; epochs are set per use.
TODAY = TRAINING_PROTOCOLS.get("standard")  # the 3-epoch table's protocol: SGD lr 0.01, x0.1 half way, batch 256
FAST = TRAINING_PROTOCOLS.get("fast")  # a first choice, not yet measured (the horizon section measures its ranking)
CONVERGED_NAME = "-converged"  # fashion-mnist-convnet720-converged.csv
CONVERGED_TABLE = BENCHMARKS / "groundtruth" / f"fashion-mnist-convnet720{CONVERGED_NAME}.csv"
WIDE_NAME = "-wide"  # fashion-mnist-convnet720-wide.csv: the 3-epoch table with more evaluation architectures
H100_GROUNDTRUTH = BENCHMARKS / "gpu" / "2026-11-26-h100" / "groundtruth.tar.gz"  # the 3-epoch table's builder folder


def real_data(ctx: Context) -> RealData:
    """Fashion-MNIST's training and validation splits on the plan's device (no test split: nothing here chooses on it)."""
    ref = DataRef("fashion-mnist", data_root=ctx.data_root())
    return RealData(ref, TODAY, torch.device(ctx.plan.device), test=False)


def sample(ctx: Context, data: RealData, n: int) -> list[tuple[Spec, int]]:
    from gpu_proxy import stratified_sample

    return stratified_sample(get_space(ctx.plan.space), n, ctx.seed, (data.channels, *data.image_size), data.num_classes)


def epoch_seconds(spec: Spec, data: RealData, config: GroundTruthConfig, seed: int, cudnn_benchmark: bool = False) -> list[float]:
    """Wall seconds of each epoch of ``spec`` trained with ``config`` (the device synchronised at every epoch's end);
    ``cudnn_benchmark``: cuDNN times its convolution algorithms for each shape first (torch's global flag, restored)."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = cudnn_benchmark
    try:
        return _epoch_seconds(spec, data, config, seed)
    finally:
        torch.backends.cudnn.benchmark = before


def _epoch_seconds(spec: Spec, data: RealData, config: GroundTruthConfig, seed: int) -> list[float]:
    run_seed = derive_seed(seed, "groundtruth", arch_id(spec))
    torch.manual_seed(run_seed)
    model = build_model(spec, data.channels, data.num_classes, data.image_size).to(data.device)
    cuda = data.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    marks = [time.perf_counter()]

    def on_epoch(epoch: int, net: Any) -> None:
        if cuda:
            torch.cuda.synchronize()
        marks.append(time.perf_counter())

    train_model(model, data.train_x, data.train_y, config.train_config(), run_seed, data.flip, on_epoch=on_epoch, fast=config.fast)
    return [b - a for a, b in itertools.pairwise(marks)]


def quartiles(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {"median": statistics.median(values), "q1": q[0], "q3": q[2], "min": min(values), "max": max(values)}


CUDA_ONLY = ("fast-nchw", "fast-eager", "fast-cudnn-benchmark")  # option variants that are FAST itself off CUDA


def option_variants(epochs: int) -> dict[str, tuple[GroundTruthConfig, bool]]:
    """The fast protocol with one of its step options changed, and whether cuDNN benchmarks its algorithms:
    which option pays, or costs, on which architecture (RESULTS.md §19b: the fast protocol gained 2-3x on
    narrow batch-norm members and ~1.1x on the norm-heavy and wide ones). ``fast-compile`` replaces the CUDA
    graph by ``torch.compile`` (they exclude each other) and runs on the first ``Plan.tr_compile_archs`` only."""
    fast = replace(FAST, epochs=epochs)
    return {
        "fast-nchw": (replace(fast, fast=replace(fast.fast, channels_last=False)), False),
        "fast-eager": (replace(fast, fast=replace(fast.fast, cuda_graph=False)), False),
        "fast-cudnn-benchmark": (fast, True),
        "fast-compile": (replace(fast, fast=replace(fast.fast, cuda_graph=False, compile=True)), False),
    }


def run_trainer_section(ctx: Context, rec: Recorder) -> None:
    p = ctx.plan
    data = real_data(ctx)
    variants = {
        "today": (replace(TODAY, epochs=p.tr_epochs), False),
        "fast": (replace(FAST, epochs=p.tr_epochs), False),
        **{k: v for k, v in option_variants(p.tr_epochs).items() if k in p.tr_variants},
    }
    if data.device.type != "cuda":  # channels-last, the CUDA graph and cuDNN's benchmark act on CUDA only: the fast protocol again
        variants = {k: v for k, v in variants.items() if k not in CUDA_ONLY}
    rec.set("protocols", {k: v.to_dict() | ({"cudnn_benchmark": True} if bench else {}) for k, (v, bench) in variants.items()})
    rec.set("train_images", int(data.train_x.shape[0]))
    rows: list[dict[str, Any]] = []
    for n, (spec, flops) in enumerate(sample(ctx, data, p.tr_archs)):
        if ctx.left() < p.tr_reserve_s:
            rec.set("reason", f"stopped at the deadline after {len(rows)} of {p.tr_archs} architectures")
            break
        row: dict[str, Any] = {"arch_id": arch_id(spec), "mflops": flops / 1e6}
        for name, (config, bench) in variants.items():
            if (name == "fast-compile" and n >= p.tr_compile_archs) or ctx.left() < p.tr_reserve_s / 2:
                continue
            try:
                times = epoch_seconds(spec, data, config, ctx.seed, cudnn_benchmark=bench)
            except DivergedError as e:  # its time is still a time; the ranking question is the horizon section's
                row[f"{name}_diverged"] = str(e)
                continue
            except Exception as e:  # an option variant that fails (a compiler missing there) must not cost the others
                if name in ("today", "fast"):
                    raise
                row[f"{name}_error"] = f"{type(e).__name__}: {e}"[:300]
                continue
            row[name] = {"first_epoch_s": times[0], "epoch_s": statistics.median(times[1:] or times)}  # the first pays capture / warm-up
        rows.append(row)
        rec.set("rows", rows)
    both = [r for r in rows if "today" in r and "fast" in r]
    if not both:
        rec.set("status", "failed")
        rec.set("reason", rec.data.get("reason", "no architecture trained with both protocols"))
        return
    today = quartiles([r["today"]["epoch_s"] for r in both])
    fast = quartiles([r["fast"]["epoch_s"] for r in both])
    ratio = quartiles([r["today"]["epoch_s"] / r["fast"]["epoch_s"] for r in both])
    per_hour = {
        name: {str(h): 3600.0 / (q["median"] * h) for h in sorted({3, *p.hz_horizons})} for name, q in (("today", today), ("fast", fast))
    }  # one process, the median architecture: trainings of h epochs per hour
    options = {  # each option variant against the fast protocol, per architecture (> 1: the variant is faster)
        name: quartiles([r["fast"]["epoch_s"] / r[name]["epoch_s"] for r in both if name in r])
        for name in option_variants(p.tr_epochs)
        if any(name in r for r in both)
    }
    rec.set(
        "summary",
        {
            "archs": len(both),
            "today_epoch_s": today,
            "fast_epoch_s": fast,
            "speedup": ratio,
            "trainings_per_hour": per_hour,
            "fast_over_option": options,
        },
    )


def horizon_key(aid: str, seed: int, epochs: int) -> str:
    return f"{aid}|{seed}|{epochs}"


def horizon_order(archs: list[str], horizons: tuple[int, ...], seeds: tuple[int, ...]) -> list[tuple[str, int, int]]:
    """What the rule needs first: every seed at the longest horizon (the reference and the noise, without
    which no horizon can be judged), then seed 0 at the others, shortest first (each one finished is judged
    at once, and the first that agrees ends the choice), then the second seed at the others."""
    first, second, longest = seeds[0], seeds[1:], max(horizons)
    shorter = [h for h in sorted(horizons) if h != longest]
    order = [(a, s, longest) for s in seeds for a in archs]
    order += [(a, first, h) for h in shorter for a in archs]
    order += [(a, s, h) for s in second for h in shorter for a in archs]
    return order


def choose_horizon(
    results: dict[str, dict[str, Any]], archs: list[str], horizons: tuple[int, ...], seeds: tuple[int, ...]
) -> dict[str, Any]:
    """Spearman of every horizon with the longest (seed 0) and between seeds, on the architectures every
    compared pair has; the chosen horizon by the rule: None until both seeds at the longest are complete, and
    until every horizon shorter than the one that agrees is complete (a horizon not yet trained may be the answer)."""

    def column(seed: int, epochs: int) -> dict[str, float]:
        cells = (results.get(horizon_key(a, seed, epochs)) for a in archs)
        return {a: c["val_accuracy"] for a, c in zip(archs, cells, strict=True) if c is not None and "val_accuracy" in c}

    def rho(x: dict[str, float], y: dict[str, float]) -> dict[str, Any]:
        both = sorted(set(x) & set(y))
        return {"n": len(both), "spearman": spearman([x[a] for a in both], [y[a] for a in both]) if len(both) >= 3 else None}

    longest, s0 = max(horizons), seeds[0]
    table = []
    for h in sorted(horizons):
        row: dict[str, Any] = {"epochs": h, "vs_longest": rho(column(s0, h), column(s0, longest))}
        if len(seeds) > 1:
            row["seed_to_seed"] = rho(column(s0, h), column(seeds[1], h))
        table.append(row)
    noise = table[-1].get("seed_to_seed", {}).get("spearman")
    complete = len(column(s0, longest)) == len(archs) and len(seeds) > 1 and len(column(seeds[1], longest)) == len(archs)
    chosen = None
    if complete and noise is not None:
        for row in table:
            agree = row["vs_longest"]["spearman"]
            if row["vs_longest"]["n"] < len(archs) or agree is None:
                break  # not trained yet: it may agree, so no longer horizon can be chosen before it
            if agree >= noise:
                chosen = row["epochs"]
                break
    rule = "the shortest horizon whose validation Spearman with the longest (seed 0) is at least the seed-to-seed Spearman at the longest"
    return {"rule": rule, "table": table, "seed_noise": noise, "complete": complete, "chosen_epochs": chosen}


def run_horizon_section(ctx: Context, rec: Recorder) -> None:
    p = ctx.plan
    state, origin = state_folder(ctx, "horizon")
    rec.set("state", {"from": origin})
    results_path = state / "results.json"
    results: dict[str, dict[str, Any]] = json.loads(results_path.read_text()) if results_path.is_file() else {}
    data = real_data(ctx)
    plan_path = state / "archs.json"  # drawn once: every call of the study trains the same architectures
    if not plan_path.is_file():
        write_json(plan_path, [s for s, _ in sample(ctx, data, p.hz_archs)])
    specs = {arch_id(s): s for s in json.loads(plan_path.read_text())}
    archs = list(specs)
    rec.set("protocol", FAST.to_dict())
    todo = [w for w in horizon_order(archs, p.hz_horizons, p.hz_seeds) if horizon_key(*w) not in results]
    rec.set("todo_at_start", len(todo))
    rec.set("workers", p.hz_workers)
    jobs = [(specs[aid], seed, epochs) for aid, seed, epochs in todo]
    with state_packed(rec, state, ctx.out / "horizon" / "state.tar.gz"):
        for key, record in horizon_trainings(ctx, data, jobs):
            results[key] = record
            write_json(results_path, results)  # whole or not at all: a kill mid-write leaves the last one
            rec.set("done", len(results))
        analysis = choose_horizon(results, archs, p.hz_horizons, p.hz_seeds)
        write_json(state / "analysis.json", analysis)
    if any(horizon_key(arch_id(spec), seed, epochs) not in results for spec, seed, epochs in jobs):
        rec.set("reason", "stopped at the deadline: the next call continues")
    rec.set("archs", archs)
    rec.set("result", analysis)
    rec.set("diverged", sorted(k for k, v in results.items() if "diverged" in v))


def horizon_record(spec: Spec, seed: int, data: RealData, epochs: int) -> dict[str, Any]:
    """One training of the horizon study: its validation accuracy (a divergence ranks last: a protocol that
    diverges on a member is what the table must show)."""
    try:
        record = train_one(spec, seed, data, replace(FAST, epochs=epochs))
    except DivergedError as e:
        return {"val_accuracy": 0.0, "diverged": str(e)}
    return {"val_accuracy": record["val_accuracy"], "train_seconds": record["train_seconds"]}


_WORKER: dict[str, RealData] = {}  # a pool worker's copy of the splits on the device


def _worker_init(data_root: str | None, device: str) -> None:
    torch.set_num_threads(1)  # several trainings share the machine; on a GPU the host thread only launches
    _WORKER["data"] = RealData(DataRef("fashion-mnist", data_root=data_root), TODAY, torch.device(device), test=False)


def _worker_train(job: tuple[Spec, int, int]) -> tuple[str, dict[str, Any]]:
    spec, seed, epochs = job
    return horizon_key(arch_id(spec), seed, epochs), horizon_record(spec, seed, _WORKER["data"], epochs)


def horizon_trainings(ctx: Context, data: RealData, jobs: list[tuple[Spec, int, int]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The jobs' records as they finish, until the deadline: in this process with ``Plan.hz_workers`` 1, else
    in that many worker processes sharing the device (small networks leave a GPU mostly idle in one
    process: the proxy section measured 2x the trials per hour with 4-8), handed out in the jobs' order.
    At the deadline the workers are stopped; the trainings they had begun are lost and the next call redoes them."""
    p = ctx.plan
    enough = STATE_RESERVE_S + p.hz_min_left_s
    if p.hz_workers <= 1:
        for spec, seed, epochs in jobs:
            if ctx.left() < enough:
                return
            yield horizon_key(arch_id(spec), seed, epochs), horizon_record(spec, seed, data, epochs)
        return
    if ctx.left() < enough:
        return
    pool = multiprocessing.get_context("spawn").Pool(p.hz_workers, _worker_init, (ctx.data_root(), p.device))
    try:
        done = pool.imap_unordered(_worker_train, jobs)  # chunks of one: the workers take the jobs in order
        for _ in jobs:
            try:
                record = done.next(timeout=max(ctx.left() - enough, 0.0))
            except multiprocessing.TimeoutError:
                break
            yield record
    except BaseException:
        # the driver's SIGTERM (SystemExit here) reached the workers too: terminate() could wait forever on a
        # queue lock a dead worker held, before the section packs its state. Kill what is left instead.
        for child in multiprocessing.active_children():
            child.kill()
        raise
    pool.terminate()
    pool.join()


def chosen_horizon(ctx: Context) -> int | None:
    """The horizon section's choice, from its state (this machine's, or the committed tarball's)."""
    state, _ = state_folder(ctx, "horizon")
    path = state / "analysis.json"
    return json.loads(path.read_text()).get("chosen_epochs") if path.is_file() else None


def converged_flags(epochs: int) -> list[str]:
    """build.py's flags for the fast protocol at ``epochs``: FAST, spelled as the builder's options."""
    f = FAST.fast
    flags = ["--epochs", str(epochs), "--lr", str(FAST.lr), "--batch-size", str(FAST.batch_size), "--long-archs", "0"]
    flags += ["--schedule", f.schedule, "--warmup", str(f.warmup), "--label-smoothing", str(f.label_smoothing)]
    flags += [
        flag for flag, on in (("--drop-last", f.drop_last), ("--channels-last", f.channels_last), ("--cuda-graph", f.cuda_graph)) if on
    ]
    return [*flags, f"--name-suffix={CONVERGED_NAME}"]  # one word: argparse would take "-converged" for an option


def run_converged_section(ctx: Context, rec: Recorder) -> None:
    epochs = chosen_horizon(ctx)
    if epochs is None:
        rec.skip(
            "no horizon chosen yet: run --sections horizon until its result has chosen_epochs (the rule needs both seeds at the longest)"
        )
        return
    state, origin = state_folder(ctx, "groundtruth-converged")
    run_builder(ctx, rec, "groundtruth-converged", state, origin, converged_flags(epochs), CONVERGED_NAME)


def run_wide_section(ctx: Context, rec: Recorder) -> None:
    """The 3-epoch table widened to ``Plan.gw_archs`` architectures (issue 18: benchmarks/power.py says the 70
    evaluation architectures cannot tell a distilled set at Spearman 0.92 from the random subset's 0.886). The
    plan is drawn block by block from one seeded generator, so its first 100 are the table's: seeded with the
    H100 run's journal, the builder trains only the new architectures (seed 0 of all of them, then seed 1)."""
    state, origin = state_folder(ctx, "groundtruth-wide")
    if origin == "new" and not ctx.plan.fabricate:
        origin += f"; seeded with {seed_wide_state(state)}"
    flags = ["--n-archs", str(ctx.plan.gw_archs), f"--name-suffix={WIDE_NAME}"]
    run_builder(ctx, rec, "groundtruth-wide", state, origin, flags, WIDE_NAME)


def seed_wide_state(state: Path, tarball: Path = H100_GROUNDTRUTH) -> Path:
    """The H100 table's builder folder (its journal: 100 architectures x 2 seeds, 20 longer) unpacked into the new,
    empty ``state``: beside it first, then renamed in its place, so a call killed meanwhile leaves no half journal
    that the next call would take as this machine's state (it finds no state and seeds again)."""
    staging = state.with_name(state.name + ".seeding")
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(tarball) as t:
        members = [m for m in t.getmembers() if m.name.startswith("groundtruth/") and not m.name.startswith("groundtruth/logs")]
        for m in members:
            m.name = m.name.removeprefix("groundtruth/")
        t.extractall(staging, members=[m for m in members if m.name], filter="data")
    state.rmdir()
    staging.rename(state)
    return tarball


def run_builder(ctx: Context, rec: Recorder, name: str, state: Path, origin: str, flags: list[str], suffix: str) -> None:
    """``benchmarks/groundtruth/build.py FLAGS`` resuming in ``state`` until the section's deadline; its tables named
    with ``suffix`` copied to OUT/NAME, the state packed beside them for the next call (on another machine)."""
    p = ctx.plan
    rec.set("state", {"from": origin})
    build = ctx.root / "benchmarks" / "groundtruth" / "build.py"
    grace = 8.0
    cmd = [sys.executable, str(build), "--out", str(state), "--deadline-seconds", str(int(max(ctx.left() - STATE_RESERVE_S - grace, 1)))]
    cmd += ["--device", p.device, "--workers", str(p.gt_workers), *flags]
    cmd += ["--dry-run"] if p.fabricate else (["--data-root", ctx.given_data_root] if ctx.given_data_root else [])
    cmd += ["--commit", ctx.commit] if ctx.commit else []
    rec.set("command", " ".join(cmd[1:]))
    ran = run_group(cmd, timeout=max(ctx.left() - STATE_RESERVE_S, 1), cwd=ctx.root)
    rec.set("run", ran.to_dict())
    tables = sorted(state.glob(f"*{suffix}.csv"))
    out = ctx.out / name
    out.mkdir(parents=True, exist_ok=True)
    for t in tables:
        shutil.copy2(t, out / t.name)
    rec.set("csv_rows", {t.name: max(0, len(t.read_text().splitlines()) - 1) for t in tables})
    rec.set("packed", pack_state(state, out / "state.tar.gz"))
    if ran.code not in (0, None):
        rec.set("status", "failed")
        rec.set("reason", f"build.py exit status {ran.code}")


def converged_table(ctx: Context) -> Path | None:
    """The committed converged table, else the one the groundtruth-converged section has built so far."""
    if CONVERGED_TABLE.is_file():
        return CONVERGED_TABLE
    state, _ = state_folder(ctx, "groundtruth-converged")
    found = sorted(state.glob(f"*{CONVERGED_NAME}.csv"))
    return found[0] if found else None


def run_fidelity_converged_section(ctx: Context, rec: Recorder) -> None:
    from gpu_fidelity import run_fidelity_section

    table = converged_table(ctx)
    if ctx.plan.fabricate:  # the dry run's converged table is digits at 16x16: the fidelity section's stand-in is scored instead
        table = None
    elif table is None:
        rec.skip("the converged table does not exist yet: it waits for the groundtruth-converged section on a device")
        return
    run_fidelity_section(ctx, rec, table=table, out_name="fidelity-converged")
