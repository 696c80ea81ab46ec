"""One section of the GPU check, run by ``gpu_check.py`` in its own process: ``gpu_sections.py NAME --context ...``.

A section writes its numbers to ``--json`` as soon as it has them (a section stopped at its limit still
leaves what finished) and watches ``--deadline`` (seconds since the epoch) itself. ``{"status": "skipped",
"reason": ...}`` in the JSON says why it did nothing.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpu_common import SECTIONS, Plan, run_group, terminated_as_exit  # benchmarks/ (this script's folder is on sys.path)
from gpu_context import BENCHMARKS, SYNTHETIC, Context, Recorder

PACKAGES = ("torch", "numpy", "optuna", "optuna-dashboard", "sqlalchemy", "alembic", "scipy", "safetensors")
NVIDIA_QUERY = "name,driver_version,memory.total,power.limit,clocks.max.sm,temperature.gpu,utilization.gpu"
GPU_MARK = re.compile(r"mark\.gpu\b")  # how a test file marks gpu tests (pytest.mark.gpu, pytestmark = ...)
GPU_GROUNDTRUTH = "gpu-groundtruth"  # benchmarks/out/ folder of the ground-truth builder on the real run (resumable)


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def environment(ctx: Context, rec: Recorder) -> None:
    """What ran: the machine, the GPU as nvidia-smi and torch see it, and the versions of everything."""
    rec.set("python", {"version": platform.python_version(), "executable": sys.executable, "platform": platform.platform()})
    rec.set("packages", versions())
    smi = shutil.which("nvidia-smi")
    if smi is None:
        rec.set("nvidia_smi", "not found")
    else:
        for args in ([], ["--query-gpu=" + NVIDIA_QUERY, "--format=csv"]):
            ran = run_group([smi, *args], timeout=min(20.0, ctx.left()), cwd=ctx.root)
            rec.set("nvidia_smi" if args else "nvidia_smi_full", "\n".join(ran.tail) if ran.code == 0 else f"failed: {ran.to_dict()}")
    import torch

    info: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cuda_available": torch.cuda.is_available(),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info |= {
            "device_count": torch.cuda.device_count(),
            "device_name": torch.cuda.get_device_name(0),
            "capability": f"{props.major}.{props.minor}",
            "memory_gib": round(props.total_memory / 2**30, 1),
            "multiprocessors": props.multi_processor_count,
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        }
        x = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)  # a smoke test of the device
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(10):
            x @ x
        torch.cuda.synchronize()
        info["bf16_matmul_tflops_4096"] = round(10 * 2 * 4096**3 / (time.perf_counter() - t0) / 1e12, 1)
    rec.set("torch", info)
    rec.set("device_name", info.get("device_name") or f"CPU ({platform.processor() or platform.machine()}), no CUDA device")


def junit_counts(path: Path) -> dict[str, Any]:
    """Counts and failed test ids from pytest's JUnit XML."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    bad = []
    for case in root.iter("testcase"):
        for tag in ("failure", "error"):
            node = case.find(tag)
            if node is not None:
                bad.append(f"{case.get('classname')}::{case.get('name')}: {(node.get('message') or '')[:200]}")
    return {**counts, "not_passed": bad}


def tests(ctx: Context, rec: Recorder) -> None:
    """``pytest -m gpu tests``; a test module that cannot be imported here does not stop the others."""
    junit = ctx.work / "gpu-tests.xml"
    junit.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-m", "gpu", "-p", "no:cacheprovider", "--continue-on-collection-errors"]
    files = sorted(str(f.relative_to(ctx.root)) for f in (ctx.root / "tests").rglob("test_*.py") if GPU_MARK.search(f.read_text()))
    if not files:
        rec.skip("no test file under tests/ uses the gpu marker")
        return
    cmd += ["--junitxml", str(junit), *files]  # only the files that mark tests gpu: the others need not be importable here
    rec.set("command", " ".join(cmd[1:]))
    ran = run_group(cmd, timeout=ctx.left(), cwd=ctx.root)
    rec.set("run", ran.to_dict())
    if junit.is_file():
        rec.set("counts", junit_counts(junit))
    if ran.code not in (0, 5):  # 5: no test collected
        rec.set("reason", "pytest stopped at the time limit" if ran.code is None else f"pytest exit status {ran.code}")
        rec.set("status", "failed")


def distill_summary(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (method, IPC) of a distill_speed.py JSON: medians, speed-up, memory, agreement."""
    rows = []
    for r in report["results"]:
        s = r["steps"]["seconds"]
        row = {
            "ipc": r["ipc"],
            "method": r["method"],
            "vectorised_s": statistics.median(s["vectorised"]),
            "loop_s": statistics.median(s["loop"]),
            "speedup": statistics.median(s["loop"]) / statistics.median(s["vectorised"]),
            "agree": r["steps"]["agree"],
            "peak_mib": {v: m.get("extra_mib") for v, m in r.get("memory", {}).items()},
        }
        if "distill" in r:
            row["distill_s_per_iteration"] = statistics.median(r["distill"]["seconds_per_iteration"])
        rows.append(row)
    return rows


def distill(ctx: Context, rec: Recorder) -> None:
    """benchmarks/distill_speed.py at every IPC, bf16 autocast on, then off (the JSON holds every raw time)."""
    p = ctx.plan
    data_root = ctx.data_root()
    for i, amp in enumerate(("on", "off")):
        key = f"amp_{amp}"
        share = ctx.left() * (0.65 if i == 0 else 1.0)  # autocast on (distill's default) first: it also times distill()
        if share < 10:
            rec.set(key, {"status": "skipped", "reason": f"only {ctx.left():.0f} s left"})
            continue
        raw = ctx.work / f"distill_speed_{amp}.json"
        raw.unlink(missing_ok=True)
        cmd = [sys.executable, str(BENCHMARKS / "distill_speed.py"), "--device", p.device, "--amp", amp, "--methods", "datadam"]
        cmd += ["--ipc", ",".join(map(str, p.distill_ipcs)), "--repeats", str(p.distill_repeats), "--warmup", str(p.distill_warmup)]
        cmd += ["--iterations", str(p.distill_iterations), "--batch-real", str(p.batch_real), "--net-width", str(p.net_width)]
        cmd += ["--seed", str(ctx.seed), "--json", str(raw)]
        cmd += ["--no-memory"] if p.device == "cpu" else []  # CPU peak memory needs a subprocess per variant: not this check's question
        cmd += ["--data-root", data_root] if data_root else []
        cmd += ["--no-distill"] if amp == "off" else []  # distill() reloads the data on every resume: only for the default
        ran = run_group(cmd, timeout=share, cwd=ctx.root)
        entry: dict[str, Any] = {"command": " ".join(cmd[1:]), "run": ran.to_dict()}
        if raw.is_file():
            report = json.loads(raw.read_text())
            entry |= {"rows": distill_summary(report), "raw": report}
        entry["status"] = "ok" if raw.is_file() else ("timeout" if ran.code is None else "failed")
        if ran.code == 1 and raw.is_file():  # distill_speed.py's verdict: vectorised and loop disagree
            entry["reason"] = "the vectorised step and the per-class loop DISAGREE (see the agree column)"
        rec.set(key, entry)
    if all(rec.data.get(f"amp_{a}", {}).get("status") != "ok" for a in ("on", "off")):
        rec.set("reason", "no distill_speed.py run finished")
        rec.set("status", "failed")


def csv_rows(path: Path) -> int:
    with path.open() as f:
        return max(0, sum(1 for line in f if line.strip()) - 1)  # minus the header


def groundtruth(ctx: Context, rec: Recorder) -> None:
    """benchmarks/groundtruth/build.py (issue 12) with the flags its --help offers, stopped at the deadline."""
    p = ctx.plan
    build = ctx.root / "benchmarks" / "groundtruth" / "build.py"
    if not build.is_file():
        rec.skip("benchmarks/groundtruth/build.py is not in this tree")
        return
    helped = subprocess.run([sys.executable, str(build), "--help"], cwd=ctx.root, capture_output=True, text=True, timeout=120, check=False)
    flags = set(re.findall(r"--[a-z][a-z0-9-]*", helped.stdout))
    missing = {"--out", "--deadline-seconds"} - flags
    if helped.returncode != 0 or missing:
        rec.skip(
            f"build.py --help exited {helped.returncode} and lists no {', '.join(sorted(missing)) or '-'}: {helped.stderr.strip()[-300:]}"
        )
        return
    # The builder resumes from its folder: on the GPU a fixed one, which a second call on the same (warm) machine
    # finds again ($OUT is emptied before every call); its files are copied to OUT/groundtruth when it stops.
    out = ctx.work / "groundtruth" if p.fabricate else ctx.root / "benchmarks" / "out" / GPU_GROUNDTRUTH
    grace = 8.0  # after the builder's own deadline (by which its tables are written) before it is stopped
    cmd = [sys.executable, str(build), "--out", str(out), "--deadline-seconds", str(int(max(ctx.left() - grace, 1)))]
    wanted: dict[str, Callable[[], str | None]] = {
        "--device": lambda: p.device,
        "--workers": lambda: str(p.gt_workers),
        "--data-root": lambda: None if p.fabricate else ctx.given_data_root,  # its dry run brings its own small data
        "--commit": lambda: ctx.commit,
    }
    for flag, value in wanted.items():
        if flag in flags and value() is not None:
            cmd += [flag, str(value())]
    cmd += ["--dry-run"] if p.fabricate and "--dry-run" in flags else []
    rec.set("command", " ".join(cmd[1:]))
    ran = run_group(cmd, timeout=max(ctx.left() - 2, 1), cwd=ctx.root)
    rec.set("run", ran.to_dict())
    if out.is_dir():
        shutil.copytree(out, ctx.out / "groundtruth", dirs_exist_ok=True)
    rec.set("builder_out", str(out))
    files = sorted(q for q in out.rglob("*") if q.is_file()) if out.is_dir() else []
    rec.set("files", {str(q.relative_to(out)): q.stat().st_size for q in files})
    rec.set("csv_rows", {str(q.relative_to(out)): csv_rows(q) for q in files if q.suffix == ".csv"})
    if ran.code not in (0, None):
        rec.set("reason", f"build.py exit status {ran.code}")
        rec.set("status", "failed")
    elif ran.code is None:
        rec.set("reason", "build.py ran past its deadline and was stopped; its table holds what finished")


def evaluate(ctx: Context, rec: Recorder) -> None:
    """The field's protocol on the IPC-10 DataDAM set of the proxy section: ConvNet-3 trained from scratch, test accuracy."""
    if not (ctx.synthetic / "meta.json").is_file():
        rec.skip(f"no {SYNTHETIC} set: the proxy section did not distil one")
        return
    from nas_proxy.evaluate import evaluate as run_evaluate
    from nas_proxy.training import TrainConfig

    p = ctx.plan
    rec.set(
        "protocol", {"runs": p.eval_runs, "epochs": p.eval_epochs, "synthetic": str(ctx.synthetic), "seeds": f"{ctx.seed} + network index"}
    )
    accs: list[float] = []
    seconds = 0.0
    for r in range(p.eval_runs):  # one network per call, so that a run cut short keeps the networks that finished
        if accs and ctx.left() < 1.5 * seconds / len(accs):
            rec.set("reason", f"stopped after {len(accs)} of {p.eval_runs} networks: {ctx.left():.0f} s left")
            break
        one = run_evaluate(
            ctx.synthetic,
            1,
            model=p.eval_model,
            train=TrainConfig(epochs=p.eval_epochs),
            seed=ctx.seed + r,
            device=p.device,
            data_root=ctx.data_root(),
            progress=False,
        )
        accs.append(one.accuracies[0])
        seconds += one.seconds
        mean, std = statistics.fmean(accs), statistics.pstdev(accs) if len(accs) > 1 else 0.0
        rec.set("result", {**one.to_dict(), "accuracies": accs, "runs": len(accs), "mean": mean, "std": std, "seconds": seconds})


def elsewhere(module: str, name: str) -> Callable[[Context, Recorder], None]:
    """A section whose code is function ``name`` of script ``module``, imported only when the section
    runs: one section's broken import never stops another."""

    def run(ctx: Context, rec: Recorder) -> None:
        getattr(importlib.import_module(module), name)(ctx, rec)

    return run


RUNNERS: dict[str, Callable[[Context, Recorder], None]] = {
    "environment": environment,
    "tests": tests,
    "distill": distill,
    "proxy": elsewhere("gpu_proxy", "run_proxy_section"),
    "groundtruth": groundtruth,
    "evaluate": evaluate,
    "fidelity": elsewhere("gpu_fidelity", "run_fidelity_section"),
    "distill-ablation": elsewhere("gpu_ablation", "run_distill_ablation_section"),
    "distill-protocols": elsewhere("gpu_ablation", "run_distill_protocols_section"),
    "paper-protocol": elsewhere("gpu_ablation", "run_paper_protocol_section"),
    "trainer": elsewhere("gpu_trainer", "run_trainer_section"),
    "horizon": elsewhere("gpu_trainer", "run_horizon_section"),
    "groundtruth-converged": elsewhere("gpu_trainer", "run_converged_section"),
    "fidelity-converged": elsewhere("gpu_trainer", "run_fidelity_converged_section"),
    "search-720": elsewhere("gpu_search", "run_search_section"),
    "groundtruth-wide": elsewhere("gpu_trainer", "run_wide_section"),
}
assert tuple(RUNNERS) == SECTIONS


def main(argv: list[str] | None = None) -> int:
    from nas_proxy.cli.common import ScriptParser

    p = ScriptParser(description=__doc__.split("\n")[0])
    p.add_argument("section", choices=SECTIONS)
    p.add_argument("--context", type=Path, required=True, help="context.json written by gpu_check.py")
    p.add_argument("--json", type=Path, required=True, help="this section's results")
    p.add_argument("--deadline", type=float, required=True, help="seconds since the epoch by which to be done")
    args = p.parse_args(argv)
    raw = json.loads(args.context.read_text())
    ctx = Context(
        Plan.from_dict(raw["plan"]),
        Path(raw["root"]),
        Path(raw["out"]),
        Path(raw["work"]),
        raw["data_root"],
        int(raw["seed"]),
        args.deadline,
        raw.get("commit"),
    )
    rec = Recorder(args.json)
    try:
        with terminated_as_exit():  # the driver's SIGTERM (a limit, or a stop from outside) also ends what the section started
            RUNNERS[args.section](ctx, rec)
    except Exception as e:  # noqa: BLE001 -- one failing section must not stop the others: the driver reads the reason
        traceback.print_exc()
        rec.set("reason", f"{type(e).__name__}: {str(e)[:500]}")
        rec.set("status", "failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
