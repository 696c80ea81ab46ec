"""Seconds per distillation step: the vectorised losses against the per-class loop, same inputs.

For every (method, IPC) on Fashion-MNIST this measures, in one process:

1. ``vectorised``: one step as ``distill`` computes it -- DSA on the synthetic images, one forward of
   all real and one of all synthetic images, the loss of ``nas_proxy.distill.methods``,
   ``torch.autograd.grad`` w.r.t. the pixels, the momentum SGD update;
2. ``loop``: the same step with the loss of ``nas_proxy.distill.reference`` (one forward of the
   real and one of the synthetic images per class, as the official code does), on the same network,
   real batch, augmentation and starting pixels, interleaved with 1. so that both see the same load.
   Losses and gradients of the two are compared; a disagreement is printed and fails the run;
3. ``distill()``: the real loop's seconds per iteration (``meta["seconds"]``, which also covers real
   batch sampling, DSA of the real batch and the NaN guard), after warm-up iterations;
4. peak memory of one step beyond what was resident before it (``CPU_MEMORY`` / ``CUDA_MEMORY`` below
   say exactly what is measured; the JSON repeats it).

Run ``python benchmarks/distill_speed.py --help``; benchmarks/README.md has the commands.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from fidelity_report import check_out_file  # benchmarks/ is on sys.path
from provenance import machine  # benchmarks/provenance.py (this script's folder is on sys.path)
from torch import Tensor

from nas_proxy import checks
from nas_proxy.augment import DSA, DSAParams
from nas_proxy.cli.common import ScriptParser, one_line_errors
from nas_proxy.cli.types import integer
from nas_proxy.data import load_dataset
from nas_proxy.distill.config import DistillConfig, resolve
from nas_proxy.distill.methods import DistillMethod, Features
from nas_proxy.distill.reference import datadam_loss_loop, dm_loss_loop
from nas_proxy.distill.runner import ClassPool, distill
from nas_proxy.files import write_text
from nas_proxy.models import ConvNet
from nas_proxy.models.convnet import NORMALIZATIONS
from nas_proxy.utils import derive_seed, generator, resolve_device

DATASET = "fashion-mnist"
VARIANTS = ("vectorised", "loop")
MIB = 2**20
LossFn = Callable[[ConvNet, Tensor, Tensor], Tensor]  # (net, real (K*B, C, H, W), syn_aug (K*ipc, C, H, W)) -> scalar
# The per-class reference of each method: (net, real, syn_aug, K, the method with its options) -> loss
LOOP_LOSSES: dict[str, Callable[[ConvNet, Tensor, Tensor, int, Any], Tensor]] = {
    "datadam": lambda net, real, syn, num_classes, m: datadam_loss_loop(net, real, syn, num_classes, m.attention_power, m.lambda_mmd),
    "dm": lambda net, real, syn, num_classes, m: dm_loss_loop(net, real, syn, num_classes),
}
CPU_MEMORY = (
    "fresh subprocess per (method, ipc, variant) with glibc MALLOC_MMAP_THRESHOLD_=131072 and malloc_trim(0) after "
    "loading, so that freed buffers leave the resident set; VmHWM (peak resident set, /proc/self/status) over the "
    "warm-up and one step, after resetting it through /proc/self/clear_refs once data, network and inputs are "
    "resident, minus VmRSS at that reset. Not ru_maxrss: it also keeps the peak recorded when any thread exits, "
    "which the reset cannot clear (it returned the data-loading peak)"
)
CUDA_MEMORY = "torch.cuda.max_memory_allocated during a timed step minus torch.cuda.memory_allocated before it (max over repeats)"


@dataclass
class Bench:
    """One (method, ipc) set-up, resolved from a DistillConfig exactly as ``distill`` resolves it."""

    config: DistillConfig
    pool: ClassPool
    dsa: DSA
    net: ConvNet  # the distillation network, re-initialised for every step's inputs
    syn0: Tensor  # (K * ipc, C, H, W) starting pixels: a real-image init, as distill's default
    real_rows: Tensor  # (K * B,) class of each real image
    syn_rows: Tensor  # (K * ipc,) class of each synthetic image
    batch_real: int  # B, real images per class per step
    lr: float
    method: DistillMethod  # with its options resolved
    amp: bool
    device: torch.device


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = ScriptParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--ipc", default="1,10,50", help="comma-separated images per class")
    p.add_argument("--methods", default="datadam", help="comma-separated: datadam, dm")
    p.add_argument("--batch-real", type=integer, default=64, help="real images per class per step (official DataDAM 64)")
    p.add_argument("--net-norm", default="instancenorm", choices=NORMALIZATIONS, help="distillation network norm")
    p.add_argument(
        "--net-width", type=integer, default=DistillConfig.net_width, help="distillation network width (smaller only for quick checks)"
    )
    p.add_argument("--warmup", type=integer, default=1, help="untimed steps (and distill() iterations) first")
    p.add_argument("--repeats", type=integer, default=3, help="timed steps per variant; distill() runs --iterations this often")
    p.add_argument("--iterations", type=integer, default=5, help="distill() iterations per timed repeat")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    p.add_argument("--amp", default="on", choices=("on", "off"), help="bf16 autocast on the forwards (CUDA only, as distill)")
    p.add_argument("--threads", type=integer, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--seed", type=integer, default=0)
    p.add_argument("--data-root", default=None, help="folder with the four Fashion-MNIST IDX files (default: the Debian package's)")
    p.add_argument("--no-memory", action="store_true", help="skip the CPU memory subprocesses")
    p.add_argument("--no-distill", action="store_true", help="skip the end-to-end distill() timing")
    p.add_argument("--json", type=Path, default=None, help="write every raw number here")
    p.add_argument("--probe", choices=VARIANTS, default=None, help=argparse.SUPPRESS)  # internal: CPU memory subprocess
    args = p.parse_args(argv)
    # before probe47: '--ipc 1,x' was int()'s traceback, '--threads -1' torch's, and a --json folder an IsADirectoryError
    # after the whole half-hour run
    args.ipc = checks.items("--ipc", args.ipc, checks.parse_int)
    checks.number("--net-width", args.net_width, 1, integer=True)
    checks.number("--threads", args.threads, 1, integer=True, optional=True)
    checks.number("--seed", args.seed, 0, integer=True)
    if args.json is not None:
        check_out_file("--json", args.json, makes_folder=True)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.methods if m not in LOOP_LOSSES]
    if unknown:
        p.error(f"--methods must be among {', '.join(LOOP_LOSSES)} (the methods with a per-class reference); got {unknown}")
    if not args.ipc or min(args.ipc) < 1:
        p.error(f"--ipc must be positive integers, got {args.ipc}")
    if args.repeats < 1 or args.warmup < 0 or args.iterations < 1 or args.batch_real < 1:
        p.error("--repeats, --iterations and --batch-real must be >= 1 and --warmup >= 0")
    return args


def load_pool(device: torch.device, data_root: str | None = None) -> tuple[ClassPool, bool]:
    """The distillation split of Fashion-MNIST on ``device`` (as distill's default split), and its flip flag."""
    dataset = load_dataset(DATASET, data_root)
    splits = dataset.split(DistillConfig.split_seed, DistillConfig.val_fraction)
    return ClassPool(splits.train_x, splits.train_y, dataset.num_classes, device), dataset.flip


def make_config(args: argparse.Namespace, method: str, ipc: int, iterations: int = 0) -> DistillConfig:
    return DistillConfig(
        dataset=DATASET,
        data_root=args.data_root,
        ipc=ipc,
        method=method,
        iterations=iterations,
        batch_real=args.batch_real,
        net_norm=args.net_norm,
        attention_power=4.0,  # the paper's, as timed before RESULTS.md §19 changed the default to 1
        net_width=args.net_width,
        seed=args.seed,
        device=args.device,
        amp=args.amp == "on",
    )


def build(config: DistillConfig, pool: ClassPool, flip: bool, device: torch.device) -> Bench:
    K, hw = pool.num_classes, (int(pool.x.shape[2]), int(pool.x.shape[3]))
    hp = resolve(config, hw, flip, int(pool.counts.min()), device)  # what distill resolves
    net = ConvNet(pool.x.shape[1], K, hw, hp.net).to(device)
    net.requires_grad_(False).train()
    return Bench(
        config=config,
        pool=pool,
        dsa=hp.dsa,
        net=net,
        syn0=pool.sample(config.ipc, generator(derive_seed(config.seed, "init"), device)),
        real_rows=torch.arange(K, device=device).repeat_interleave(hp.batch_real),
        syn_rows=torch.arange(K, device=device).repeat_interleave(config.ipc),
        batch_real=hp.batch_real,
        lr=hp.image_lr,
        method=hp.method,
        amp=hp.amp,
        device=device,
    )


def loss_functions(bench: Bench) -> dict[str, LossFn]:
    """The two computations of one loss: ``vectorised`` (what distill runs) and ``loop`` (reference.py)."""
    K, method = bench.pool.num_classes, bench.method

    def vectorised(net: ConvNet, real: Tensor, syn_aug: Tensor) -> Tensor:
        with torch.no_grad():
            real_f = Features(*net.forward_features(real))  # [(K*B, W, H_l, W_l)], (K*B, D)
        syn_f = Features(*net.forward_features(syn_aug))  # [(K*ipc, W, H_l, W_l)], (K*ipc, D)
        return method.loss(real_f, syn_f, K)["loss"]

    def loop(net: ConvNet, real: Tensor, syn_aug: Tensor) -> Tensor:
        return LOOP_LOSSES[bench.config.method](net, real, syn_aug, K, method)

    return {"vectorised": vectorised, "loop": loop}


def draw_inputs(bench: Bench, seed: int) -> tuple[Tensor, DSAParams]:
    """A fresh network, a real batch and one DSA draw, as distill's iteration ``seed`` does."""
    torch.manual_seed(seed)
    bench.net.reset_parameters()
    real = bench.pool.sample(bench.batch_real, generator(derive_seed(seed, "real"), bench.device))  # (K*B, C, H, W)
    aug = bench.dsa.sample(bench.pool.num_classes, seed, bench.device)  # one op, one parameter row per class
    return bench.dsa.apply(real, aug, bench.real_rows), aug


def step(loss_fn: LossFn, bench: Bench, real: Tensor, aug: DSAParams, syn: Tensor, buf: Tensor) -> tuple[Tensor, Tensor]:
    """One distillation step on ``syn`` (updated in place); returns (loss, gradient) for the agreement check."""
    syn_aug = bench.dsa.apply(syn, aug, bench.syn_rows)  # (K*ipc, C, H, W), same rows as the real batch: siamese
    with torch.autocast(bench.device.type, dtype=torch.bfloat16, enabled=bench.amp):
        loss = loss_fn(bench.net, real, syn_aug)
    (grad,) = torch.autograd.grad(loss, syn)
    with torch.no_grad():
        buf.mul_(bench.config.momentum).add_(grad)
        syn.sub_(bench.lr * buf)
    return loss.detach(), grad


def fresh_pixels(bench: Bench) -> tuple[Tensor, Tensor]:
    syn = bench.syn0.clone().requires_grad_(True)
    return syn, torch.zeros_like(syn)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def relative_difference(a: Tensor, b: Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-30))


def tolerance(bench: Bench) -> float:
    """How close the two computations must be: fp32 sums in another order, or bf16/TF32 convolutions."""
    if bench.amp:
        return 2e-2
    if bench.device.type == "cuda" and torch.backends.cudnn.allow_tf32:
        return 1e-3
    return 1e-4


def measure_steps(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """Warm-up, then ``repeats`` rounds; a round draws new inputs and times both variants on them."""
    fns = loss_functions(bench)
    seconds: dict[str, list[float]] = {v: [] for v in fns}
    cuda_extra: dict[str, list[float]] = {v: [] for v in fns}
    checks = []
    for i in range(args.warmup):
        real, aug = draw_inputs(bench, derive_seed(args.seed, "warmup", i))
        for fn in fns.values():
            step(fn, bench, real, aug, *fresh_pixels(bench))
    for r in range(args.repeats):
        real, aug = draw_inputs(bench, derive_seed(args.seed, "repeat", r))
        out: dict[str, tuple[Tensor, Tensor]] = {}
        for variant in VARIANTS if r % 2 == 0 else VARIANTS[::-1]:  # alternate who goes first
            syn, buf = fresh_pixels(bench)
            sync(bench.device)
            if bench.device.type == "cuda":
                before = torch.cuda.memory_allocated(bench.device)
                torch.cuda.reset_peak_memory_stats(bench.device)
            t0 = time.perf_counter()
            out[variant] = step(fns[variant], bench, real, aug, syn, buf)
            sync(bench.device)
            seconds[variant].append(time.perf_counter() - t0)
            if bench.device.type == "cuda":
                cuda_extra[variant].append((torch.cuda.max_memory_allocated(bench.device) - before) / MIB)
        (lv, gv), (ll, gl) = out["vectorised"], out["loop"]
        checks.append(
            {
                "loss_vectorised": lv.item(),
                "loss_loop": ll.item(),
                "loss_rel_diff": relative_difference(lv, ll),
                "grad_rel_diff": relative_difference(gv, gl),
            }
        )
    tol = tolerance(bench)
    agree = all(c["loss_rel_diff"] < tol and c["grad_rel_diff"] < tol for c in checks)
    result: dict[str, Any] = {"seconds": seconds, "checks": checks, "tolerance": tol, "agree": agree}
    if bench.device.type == "cuda":
        result["memory"] = {v: {"extra_mib": max(m), "measure": CUDA_MEMORY} for v, m in cuda_extra.items()}
    return result


def status_mib(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (its high-water mark) of this process, from /proc/self/status."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(f"{field}:")) / 1024


def probe(args: argparse.Namespace) -> int:
    """Subprocess entry: peak RSS of warm-up + one step of one variant beyond the RSS before it (CPU)."""
    pool, flip = load_pool(torch.device("cpu"), args.data_root)
    bench = build(make_config(args, args.methods[0], args.ipc[0]), pool, flip, torch.device("cpu"))
    fn = loss_functions(bench)[args.probe]
    real, aug = draw_inputs(bench, derive_seed(args.seed, "repeat", 0))
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand the loader's freed heap back before the baseline
    baseline = status_mib("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        reset = True
    except OSError:
        reset = False  # VmHWM then still holds the loading peak: the extra is a lower bound
    for _ in range(args.warmup + 1):
        step(fn, bench, real, aug, *fresh_pixels(bench))
    peak = status_mib("VmHWM")
    print(json.dumps({"baseline_mib": baseline, "peak_mib": peak, "extra_mib": peak - baseline, "hwm_reset": reset, "measure": CPU_MEMORY}))
    return 0


def cpu_memory(args: argparse.Namespace, method: str, ipc: int, variant: str) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--probe", variant, "--methods", method, "--ipc", str(ipc)]
    cmd += ["--batch-real", str(args.batch_real), "--net-norm", args.net_norm, "--net-width", str(args.net_width)]
    cmd += ["--warmup", str(args.warmup), "--seed", str(args.seed)]
    if args.data_root:
        cmd += ["--data-root", args.data_root]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}  # fixed threshold: big buffers are mmapped and returned on free
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory probe {shlex.join(cmd)} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def measure_distill(args: argparse.Namespace, method: str, ipc: int) -> dict[str, Any]:
    """distill()'s own seconds per iteration: run ``warmup`` iterations, then resume for ``iterations``
    more, ``repeats`` times; the difference of ``meta["seconds"]`` (cumulative, rounded to 1 ms) is the
    loop time of the new iterations only (data loading and artifact writing are outside it)."""
    per_iteration = []
    with tempfile.TemporaryDirectory() as tmp:
        done = args.warmup
        previous = distill(make_config(args, method, ipc, done), tmp, progress=False).meta["seconds"]
        for _ in range(args.repeats):
            done += args.iterations
            seconds = distill(make_config(args, method, ipc, done), tmp, resume=True, progress=False).meta["seconds"]
            per_iteration.append((seconds - previous) / args.iterations)
            previous = seconds
    return {"seconds_per_iteration": per_iteration, "iterations_per_repeat": args.iterations, "warmup_iterations": args.warmup}


def environment(args: argparse.Namespace, device: torch.device, load_start: tuple[float, float, float]) -> dict[str, Any]:
    return {
        **machine(device, load_start),
        "amp": args.amp == "on" and device.type == "cuda",
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32 if device.type == "cuda" else None,
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "probe")} | {"json": str(args.json)},
    }


def speedup(loop: list[float], vectorised: list[float], pick: Callable[[list[float]], float]) -> float:
    return pick(loop) / pick(vectorised)


def render_table(results: list[dict[str, Any]]) -> str:
    rows = [
        "| method | IPC | variant | s/step median | s/step min | peak mem above start (MiB) | speed-up vs loop (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    notes = []
    for r in results:
        s = r["steps"]["seconds"]
        for variant in VARIANTS:
            mem = r["memory"].get(variant, {}).get("extra_mib")
            ratio = "1.00 (reference)" if variant == "loop" else f"{speedup(s['loop'], s['vectorised'], statistics.median):.2f}x"
            rows.append(
                f"| {r['method']} | {r['ipc']} | {variant} | {statistics.median(s[variant]):.4f} | {min(s[variant]):.4f} | "
                f"{'-' if mem is None else f'{mem:.0f}'} | {ratio} |"
            )
        if "distill" in r:
            d = r["distill"]["seconds_per_iteration"]
            rows.append(f"| {r['method']} | {r['ipc']} | distill() s/iteration | {statistics.median(d):.4f} | {min(d):.4f} | - | - |")
        worst_loss = max(c["loss_rel_diff"] for c in r["steps"]["checks"])
        worst_grad = max(c["grad_rel_diff"] for c in r["steps"]["checks"])
        verdict = "agree" if r["steps"]["agree"] else "DISAGREE: the two variants compute different things"
        notes.append(
            f"- {r['method']} IPC {r['ipc']}: max relative difference loss {worst_loss:.1e}, gradient {worst_grad:.1e} (tolerance {r['steps']['tolerance']:.0e}): {verdict}"
        )
    return "\n".join(rows) + "\n\nvectorised vs loop on the same inputs:\n" + "\n".join(notes)


@one_line_errors("distill_speed.py")
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.probe:
        return probe(args)
    device, load_start = resolve_device(args.device), os.getloadavg()
    pool, flip = load_pool(device, args.data_root)
    results = []
    for method in args.methods:
        for ipc in args.ipc:
            print(f"[distill_speed] {method} ipc={ipc}: steps", file=sys.stderr, flush=True)
            bench = build(make_config(args, method, ipc), pool, flip, device)
            steps = measure_steps(bench, args)
            result: dict[str, Any] = {"method": method, "ipc": ipc, "batch_real": bench.batch_real, "steps": steps}
            result["memory"] = steps.pop("memory", {})
            if device.type == "cpu" and not args.no_memory:
                print(f"[distill_speed] {method} ipc={ipc}: memory probes", file=sys.stderr, flush=True)
                result["memory"] = {v: cpu_memory(args, method, ipc, v) for v in VARIANTS}
            if not args.no_distill:
                print(f"[distill_speed] {method} ipc={ipc}: distill()", file=sys.stderr, flush=True)
                result["distill"] = measure_distill(args, method, ipc)
            results.append(result)
    report = {"environment": environment(args, device, load_start), "results": results}
    print(render_table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_text(args.json, json.dumps(report, indent=2) + "\n")
        print(f"\nraw numbers: {args.json}", file=sys.stderr)
    return 0 if all(r["steps"]["agree"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
