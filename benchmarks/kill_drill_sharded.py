"""kill -9 at random moments of a coupled 2-rank ``nasproxy distill --launch 2`` on the CPU (gloo), the same command
run again, the merged set compared with the same command run uninterrupted.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kill_drill_sharded.py --work benchmarks/out/kill-drill-sharded --trials 22

Digits, batch norm (the ranks all-reduce its statistics and replace their checkpoints together:
``distill/sharded.py``), a checkpoint every iteration. Each trial (its seed draws the moment) starts the launch in
its own process group, waits for the loop (rank 0's first checkpoint written: start-up is most of a launch's wall time
here) and kills, at a moment drawn uniformly in [0, 1.2 x the uninterrupted loop's seconds] after it, either the whole
group (even trials) or one rank (odd trials: the launch then stops the other); then runs the same command once more,
unkilled. A trial counts as resumed (exit 0, its images compared bit for bit with the uninterrupted run's),
refused (exit 2, its line kept) or failed otherwise; where the kill came after the launch finished it says so.
The tests drill the window between the ranks' agreement and their renames on events (``tests/sharded_worker.py``);
this is the random-moment version, for the record (``benchmarks/RESULTS.md`` §17).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file

FLAGS = ["--dataset", "digits", "--ipc", "2", "--batch-real", "8", "--iterations", "30", "--checkpoint-every", "1"]
FLAGS += ["--net-norm", "batchnorm", "--device", "cpu", "--quiet", "--launch", "2"]


def command(out: Path) -> list[str]:
    return [sys.executable, "-m", "nas_proxy", "distill", *FLAGS, "--out", str(out)]


def ranks_of(pid: int) -> list[int]:
    """The processes below ``pid`` that run a rank (``--distributed`` on their command line)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for child in Path("/proc").glob("[0-9]*"):
            try:
                if int((child / "stat").read_text().rsplit(")", 1)[1].split()[1]) != parent:
                    continue
                todo.append(int(child.name))
                if b"--distributed" in (child / "cmdline").read_bytes():
                    found.append(int(child.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def iteration(checkpoint: Path) -> int | None:
    """The iteration of a shard's checkpoint (None: none yet)."""
    if not checkpoint.is_file():
        return None
    with safe_open(str(checkpoint), framework="pt") as f:
        return int((f.metadata() or {})["done"])


def trial(out: Path, seed: int, window: tuple[float, float], env: dict[str, str], ref: dict[str, torch.Tensor]) -> dict[str, Any]:
    rng = random.Random(seed)
    shutil.rmtree(out, ignore_errors=True)
    whole = seed % 2 == 0
    at = round(rng.uniform(*window), 2)
    proc = subprocess.Popen(command(out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    row: dict[str, Any] = {"seed": seed, "killed": "launch" if whole else "one rank", "at_s_after_loop_start": at}
    first = out / "shards" / "0-of-2" / "checkpoint.safetensors"
    while not first.exists() and proc.poll() is None:  # the loop began
        time.sleep(0.05)
    try:
        proc.communicate(timeout=at)
        row["finished_before_kill"] = True
    except subprocess.TimeoutExpired:
        if whole:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            ranks = ranks_of(proc.pid)
            os.kill(rng.choice(ranks) if ranks else proc.pid, signal.SIGKILL)  # no rank yet: the launch itself
        proc.communicate(timeout=300)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever the launch left (none expected)
    done = [iteration(out / "shards" / f"{r}-of-2" / "checkpoint.safetensors") for r in range(2)]
    staged = sorted(p.parent.name for p in (out / "shards").rglob(".checkpoint.safetensors.staged.tmp"))
    row |= {"left_at": done, "staged_in": staged}
    again = subprocess.run(command(out), env=env, capture_output=True, text=True, timeout=900)
    row["exit"] = again.returncode
    if again.returncode == 0:
        got = load_file(str(out / "synthetic.safetensors"))
        row["bit_identical"] = got.keys() == ref.keys() and all(torch.equal(got[k], ref[k]) for k in ref)
    else:
        row["line"] = again.stderr.strip().splitlines()[-1:] if again.stderr.strip() else []
    return row


def main() -> None:
    from nas_proxy.cli.common import ScriptParser

    parser = ScriptParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path(__file__).resolve().parent / "out" / "kill-drill-sharded")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ref_out, wall = args.work / "ref", args.work / "ref-seconds.txt"
    if not (ref_out / "synthetic.safetensors").exists() or not wall.exists():
        shutil.rmtree(ref_out, ignore_errors=True)
        t0 = time.monotonic()
        subprocess.run([*command(ref_out)], env=env, check=True)
        wall.write_text(f"{time.monotonic() - t0:.1f}\n")
    ref = load_file(str(ref_out / "synthetic.safetensors"))
    loop = json.loads((ref_out / "meta.json").read_text())["seconds"]  # the slower shard's loop
    window = (0.0, 1.2 * loop)
    print(json.dumps({"uninterrupted_s": float(wall.read_text()), "loop_s": loop}), flush=True)
    rows = []
    with open(args.work / "trials.jsonl", "a") as log:
        for seed in range(args.first_seed, args.first_seed + args.trials):
            rows.append(trial(args.work / "drill", seed, window, env, ref))
            print(json.dumps(rows[-1]), flush=True)
            log.write(json.dumps(rows[-1]) + "\n")
            log.flush()
    summary = {
        "trials": len(rows),
        "resumed": sum(r["exit"] == 0 for r in rows),
        "bit_identical": sum(bool(r.get("bit_identical")) for r in rows),
        "refused": sum(r["exit"] == 2 for r in rows),
        "other": sum(r["exit"] not in (0, 2) for r in rows),
        "killed_after_finish": sum(bool(r.get("finished_before_kill")) for r in rows),
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
