"""Issue 20's sections of ``make bench-gpu`` (benchmarks/gpu_trainer.py), rehearsed on CPU as their dry run
sizes them: ``trainer`` and ``horizon`` in this process (no subprocess, no environment section: seconds,
not the minute of a ``gpu_check.sh`` run), ``groundtruth-converged`` with a fake builder that records its
flags, ``fidelity-converged`` up to the table it scores. The whole dry run through ``gpu_check.sh``, the
real builder included, is the slow test at the end."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
pytestmark = pytest.mark.usefixtures("bench_modules")


# the trainer and horizon sections' architectures in their tests, which check what the sections do with the trainings
# (both protocols timed; the horizon rule, its >= at the seed noise included, and the resume), not what the nets learn:
# the dry plan's convnet-cpu draws nets of up to 25 MFLOPs an image (this file's default tests: 16 -> 6 CPU-s). After
# 1-2 epochs on the fabricated set both are near chance (10-30 %, ties), and both choose by the same rule. The dry
# run through gpu_check.sh (the slow tests at the end) trains the dry plan's own space
SMALL_SPACE = """family = "convnet"
[params]
depth = [1, 2, 3]
width = 8
activation = "relu"
normalization = "none"
pooling = "avgpooling"
"""


def context(tmp_path: Path, root: Path = ROOT, fabricate: bool = True, small: bool = False) -> Any:
    from dataclasses import replace

    from gpu_common import make_plan
    from gpu_context import Context

    (tmp_path / "out").mkdir(exist_ok=True)
    plan = make_plan(True) if fabricate else replace(make_plan(True), fabricate=False)
    if small:
        (tmp_path / "small.toml").write_text(SMALL_SPACE)
        plan = replace(plan, space=str(tmp_path / "small.toml"))
    return Context(plan, root, tmp_path / "out", tmp_path / "work", None, 0, time.time() + 600, "abc123")


def test_trainer_section_times_every_architecture_with_both_protocols(tmp_path: Path, one_thread: None) -> None:
    from gpu_context import Recorder
    from gpu_trainer import run_trainer_section

    rec = Recorder(tmp_path / "trainer.json")
    run_trainer_section(context(tmp_path, small=True), rec)
    assert "status" not in rec.data, rec.data.get("reason")
    rows, sm = rec.data["rows"], rec.data["summary"]
    assert len(rows) == sm["archs"] == 2 and all(r[v]["epoch_s"] > 0 for r in rows for v in ("today", "fast"))
    assert sm["speedup"]["min"] <= sm["speedup"]["median"] <= sm["speedup"]["max"]
    assert list(sm["trainings_per_hour"]["fast"]) == ["1", "2", "3"]
    assert rec.data["protocols"]["fast"]["fast"]["schedule"] == "onecycle" and "fast" not in rec.data["protocols"]["today"]
    # each step option changed alone, against the fast protocol: on a CPU the CUDA-only ones would time FAST
    # again, and torch.compile runs on the GPU run's first architectures only (none in the dry run)
    assert set(rec.data["protocols"]) == {"today", "fast", "fast-compile"}
    assert sm["fast_over_option"] == {} and not any(k.startswith("fast-") for r in rows for k in r)


def test_the_option_variants_change_one_thing_each_and_cudnn_benchmark_is_restored() -> None:
    import torch
    from gpu_trainer import CUDA_ONLY, FAST, epoch_seconds, option_variants

    variants = option_variants(2)
    assert set(CUDA_ONLY) | {"fast-compile"} == set(variants)
    changed = {name: {k for k, v in c.fast.to_dict().items() if v != FAST.fast.to_dict()[k]} for name, (c, _) in variants.items()}
    assert changed == {
        "fast-nchw": {"channels_last"},
        "fast-eager": {"cuda_graph"},
        "fast-cudnn-benchmark": set(),
        "fast-compile": {"cuda_graph", "compile"},
    }
    assert [name for name, (_, bench) in variants.items() if bench] == ["fast-cudnn-benchmark"]
    with pytest.raises(AttributeError):  # a training that fails inside (no data) still restores the global flag
        epoch_seconds({}, None, FAST, 0, cudnn_benchmark=True)  # type: ignore[arg-type]
    assert torch.backends.cudnn.benchmark is False


def test_horizon_section_chooses_by_its_rule_and_a_second_call_resumes(tmp_path: Path, one_thread: None) -> None:
    from gpu_context import Recorder
    from gpu_trainer import run_horizon_section

    ctx = context(tmp_path, small=True)
    rec = Recorder(tmp_path / "horizon.json")
    run_horizon_section(ctx, rec)
    r = rec.data["result"]
    assert rec.data["done"] == 3 * 2 * 2 and r["complete"]  # 3 architectures x 2 seeds x horizons 1 and 2
    noise = r["seed_noise"]
    agree = {row["epochs"]: row["vs_longest"]["spearman"] for row in r["table"]}
    expected = next((h for h in sorted(agree) if agree[h] >= noise), None)
    assert agree[2] == pytest.approx(1.0) and r["chosen_epochs"] == expected  # the longest agrees with itself
    again = Recorder(tmp_path / "again.json")
    run_horizon_section(ctx, again)
    assert again.data["todo_at_start"] == 0 and again.data["state"]["from"].startswith("kept")
    assert (ctx.out / "horizon" / "state.tar.gz").is_file()


# drill tier (CI): the GPU plan's pool of worker processes against the dry plan's one process
@pytest.mark.drill
def test_the_horizon_pool_trains_what_one_process_trains_and_stops_at_the_deadline(tmp_path: Path, one_thread: None) -> None:
    from dataclasses import replace

    from gpu_trainer import horizon_trainings, real_data, sample

    ctx = context(tmp_path)
    data = real_data(ctx)
    jobs = [(spec, seed, 1) for spec, _ in sample(ctx, data, 2) for seed in (0, 1)]
    pool = replace(ctx, plan=replace(ctx.plan, hz_workers=2))  # 2 worker processes, as the GPU plan's 4
    pooled = dict(horizon_trainings(pool, data, jobs))
    alone = dict(horizon_trainings(ctx, data, jobs))  # the dry plan's: in this process
    assert len(pooled) == 4 and pooled.keys() == alone.keys()
    assert {k: v["val_accuracy"] for k, v in pooled.items()} == {
        k: v["val_accuracy"] for k, v in alone.items()
    }  # same seeds, same trainings
    late = replace(pool, deadline=time.time() + 1)  # less left than the section keeps: nothing starts, no worker stays
    assert dict(horizon_trainings(late, data, jobs)) == {}
    assert not multiprocessing.active_children()


def test_horizon_order_puts_what_the_rule_needs_first() -> None:
    from gpu_trainer import horizon_order

    order = horizon_order(["a", "b"], (3, 12, 48), (0, 1))
    assert order[:4] == [("a", 0, 48), ("b", 0, 48), ("a", 1, 48), ("b", 1, 48)]  # the reference and the noise
    assert order[4:8] == [(a, 0, h) for h in (3, 12) for a in "ab"]  # then seed 0, shortest first
    assert order[8:] == [(a, 1, h) for h in (3, 12) for a in "ab"]


def test_choose_horizon_waits_for_both_seeds_at_the_longest() -> None:
    from gpu_trainer import choose_horizon, horizon_key

    archs = [f"a{i}" for i in range(5)]
    acc = {3: [1, 2, 3, 5, 4], 12: [1, 2, 3, 4, 5], 48: [1, 2, 3, 4, 5]}  # 3 epochs swaps the last two
    results = {horizon_key(a, 0, h): {"val_accuracy": float(v[i])} for h, v in acc.items() for i, a in enumerate(archs)}
    assert choose_horizon(results, archs, (3, 12, 48), (0, 1))["chosen_epochs"] is None
    results |= {horizon_key(a, 1, 48): {"val_accuracy": float([1, 2, 3, 5, 4][i])} for i, a in enumerate(archs)}  # seed noise 0.9
    out = choose_horizon(results, archs, (3, 12, 48), (0, 1))
    assert out["seed_noise"] == pytest.approx(0.9) and out["chosen_epochs"] == 3  # 0.9 >= 0.9
    results[horizon_key("a4", 1, 48)] = {"val_accuracy": 5.0}  # now seed 1 agrees: noise 1.0, only 12 epochs reach it
    results[horizon_key("a3", 1, 48)] = {"val_accuracy": 4.0}
    assert choose_horizon(results, archs, (3, 12, 48), (0, 1))["chosen_epochs"] == 12
    del results[horizon_key("a0", 0, 3)]  # 3 epochs not finished: it might still agree, so 12 cannot be chosen yet
    assert choose_horizon(results, archs, (3, 12, 48), (0, 1))["chosen_epochs"] is None


FAKE_BUILDER = """
import argparse, pathlib
p = argparse.ArgumentParser()
for flag in ("--out", "--deadline-seconds", "--device", "--workers", "--epochs", "--lr", "--batch-size", "--long-archs",
             "--schedule", "--warmup", "--label-smoothing", "--name-suffix", "--commit", "--n-archs", "--data-root"):
    p.add_argument(flag)
for flag in ("--drop-last", "--channels-last", "--cuda-graph", "--dry-run"):
    p.add_argument(flag, action="store_true")
a = p.parse_args()
out = pathlib.Path(a.out)
out.mkdir(parents=True, exist_ok=True)
(out / ("fashion-mnist-convnet720" + a.name_suffix + ".csv")).write_text("arch_id,seed\\nx,0\\nx,1\\n")
(out / "seen.txt").write_text(repr(vars(a)))
"""


def test_converged_section_builds_with_the_fast_protocol_at_the_chosen_horizon(tmp_path: Path) -> None:
    from gpu_context import Recorder
    from gpu_trainer import run_converged_section

    root = tmp_path / "root"
    (root / "benchmarks" / "groundtruth").mkdir(parents=True)
    (root / "benchmarks" / "groundtruth" / "build.py").write_text(textwrap.dedent(FAKE_BUILDER))
    ctx = context(tmp_path, root)
    skipped = Recorder(tmp_path / "first.json")
    run_converged_section(ctx, skipped)  # no horizon chosen yet
    assert skipped.data["status"] == "skipped" and "horizon" in skipped.data["reason"]
    (ctx.work / "horizon-state").mkdir(parents=True, exist_ok=True)  # the first call made it, empty
    (ctx.work / "horizon-state" / "analysis.json").write_text(json.dumps({"chosen_epochs": 12}))
    rec = Recorder(tmp_path / "conv.json")
    run_converged_section(ctx, rec)
    assert "status" not in rec.data, rec.data
    seen = eval((ctx.work / "groundtruth-converged-state" / "seen.txt").read_text())
    assert seen["epochs"] == "12" and seen["schedule"] == "onecycle" and seen["drop_last"] and seen["cuda_graph"]
    assert seen["long_archs"] == "0" and seen["name_suffix"] == "-converged" and seen["dry_run"] and seen["commit"] == "abc123"
    assert rec.data["csv_rows"] == {"fashion-mnist-convnet720-converged.csv": 2}
    assert (ctx.out / "groundtruth-converged" / "fashion-mnist-convnet720-converged.csv").is_file()
    assert (ctx.out / "groundtruth-converged" / "state.tar.gz").is_file()


def test_wide_section_resumes_the_h100_tables_journal_with_more_architectures(tmp_path: Path) -> None:
    """groundtruth-wide on a machine without its state: the H100 run's builder folder (journal and tables, not its
    logs) is unpacked first, so the builder trains only the architectures the table lacks; then --n-archs and the
    -wide tables, copied to OUT with the packed state."""
    from gpu_context import Recorder
    from gpu_trainer import run_wide_section

    root = tmp_path / "root"
    (root / "benchmarks" / "groundtruth").mkdir(parents=True)
    (root / "benchmarks" / "groundtruth" / "build.py").write_text(textwrap.dedent(FAKE_BUILDER))
    ctx = context(tmp_path, root, fabricate=False)
    stale = root / "benchmarks" / "out" / "gpu-groundtruth-wide-state.seeding"  # a call killed while it unpacked
    stale.mkdir(parents=True)
    (stale / "groundtruth.journal").write_text('{"op_code": 0, "worker_id": "x", "study_na')
    rec = Recorder(tmp_path / "wide.json")
    run_wide_section(ctx, rec)
    assert not stale.exists()
    assert "status" not in rec.data, rec.data
    state = root / "benchmarks" / "out" / "gpu-groundtruth-wide-state"
    assert (state / "groundtruth.journal").stat().st_size > 100_000 and not (state / "logs").exists()
    assert (state / "fashion-mnist-convnet720.csv").read_text() == (BENCHMARKS / "groundtruth" / "fashion-mnist-convnet720.csv").read_text()
    seen = eval((state / "seen.txt").read_text())
    assert seen["n_archs"] == "5" and seen["name_suffix"] == "-wide" and not seen["dry_run"]
    assert rec.data["state"]["from"].startswith("new; seeded with") and "2026-11-26-h100" in rec.data["state"]["from"]
    assert rec.data["csv_rows"] == {"fashion-mnist-convnet720-wide.csv": 2}
    assert (ctx.out / "groundtruth-wide" / "state.tar.gz").is_file()
    again = Recorder(tmp_path / "again.json")  # the next call on the same machine keeps its state
    run_wide_section(ctx, again)
    assert again.data["state"]["from"].startswith("kept on this machine")


def test_fidelity_converged_waits_for_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gpu_trainer
    from gpu_context import Recorder

    monkeypatch.setattr(gpu_trainer, "CONVERGED_TABLE", tmp_path / "absent.csv")
    ctx = context(tmp_path, fabricate=False)
    rec = Recorder(tmp_path / "fid.json")
    gpu_trainer.run_fidelity_converged_section(ctx, rec)
    assert rec.data["status"] == "skipped" and "waits for" in rec.data["reason"]
    built = ROOT / "benchmarks" / "out" / "gpu-groundtruth-converged-state"
    assert gpu_trainer.converged_table(ctx) is None or built.is_dir()


def test_build_takes_the_fast_protocol_flags() -> None:
    sys.path.insert(0, str(BENCHMARKS / "groundtruth"))
    try:
        import build
    finally:
        sys.path.remove(str(BENCHMARKS / "groundtruth"))
    from gpu_trainer import converged_flags

    args = build.parse_args(["--out", "x", *converged_flags(12)])
    assert (args.epochs, args.schedule, args.warmup, args.label_smoothing, args.name_suffix) == (12, "onecycle", 0.2, 0.1, "-converged")
    assert args.drop_last and args.channels_last and args.cuda_graph and args.long_archs == 0


@pytest.mark.slow
def test_dry_run_of_issue_20_sections_through_gpu_check(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "OUT": str(out)}
    cmd = [
        "bash",
        str(BENCHMARKS / "gpu_check.sh"),
        "--python",
        sys.executable,
        "--dry-run",
        "--sections",
        "trainer,horizon,groundtruth-converged,groundtruth-wide",
    ]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    sections = json.loads((out / "results.json").read_text())["sections"]
    assert [sections[s]["status"] for s in ("trainer", "horizon", "groundtruth-converged")] == ["ok"] * 3
    assert sections["groundtruth-converged"]["csv_rows"] == {"digits-convnet720-converged.csv": 10}  # build.py's dry run: 5 x 2
    assert sections["groundtruth-wide"]["status"] == "ok" and sections["groundtruth-wide"]["state"]["from"] == "new"
    assert sections["groundtruth-wide"]["csv_rows"] == {"digits-convnet720-wide.csv": 10}
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) <= 8 and all(len(p.relative_to(out).parts) <= 3 for p in files)


@pytest.mark.slow
def test_dry_run_of_fidelity_converged_scores_the_stand_in_table(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "OUT": str(out)}
    cmd = ["bash", str(BENCHMARKS / "gpu_check.sh"), "--python", sys.executable, "--dry-run", "--sections", "fidelity-converged"]
    cmd += ["--fidelity-sets", "random"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    s = json.loads((out / "results.json").read_text())["sections"]["fidelity-converged"]
    assert s["status"] == "ok", s.get("reason")
    assert s["result"]["n_archs"] == 3 and "random" in s["result"]["proxies"]
    assert (out / "fidelity-converged" / "fidelity.md").is_file() and not (out / "fidelity").exists()
