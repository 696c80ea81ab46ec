"""kill -9 at random moments of ``nasproxy distill`` on the real data, the same command run again
until it exits 0, the result compared bit for bit with the same command run uninterrupted.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kill_drill.py --work benchmarks/out/kill-drill --seed 0

Two runs, both on Fashion-MNIST through ``convnet-cpu`` (a space-aware distillation, ``--nets``):

- ``spaceaware``: 300 iterations, a checkpoint every 3; kills drawn uniformly in [1, 15] s after
  each start (start-up included), so most land in the loop (the upper end stretched to half the
  uninterrupted run's wall time where that is longer: a loaded machine);
- ``selection``: 60 iterations with selection by ranking (``--select-by`` the committed split's
  calibration architectures with their table validation accuracy, 3 of them under 5 MFLOPs, 2
  proxy epochs, a score every 10 iterations); kills in [5, 60] s (stretched likewise), so that scores are cut too.

For each: the kills and their moments, whether the images and ``losses.csv`` equal the
uninterrupted run's, and (selection) whether every score equals it and no iteration was scored
twice. The tests drill the same mechanism on events (``tests/distill``); this script is the
random-moment version on the real set, for the record (``benchmarks/RESULTS.md``). Seeded
(``--seed`` draws the moments); wall times and the number of kills depend on the machine.
"""

from __future__ import annotations

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
from safetensors.torch import load_file

BENCHMARKS = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCHMARKS.parent), str(BENCHMARKS), str(BENCHMARKS / "groundtruth")]

from distill_ablation import TABLE, calibration_file  # noqa: E402
from fidelity_table import read_table  # noqa: E402
from split import SPLIT  # noqa: E402

ATTEMPTS = 200  # a drill that never finishes (every kill before the next checkpoint) stops here


def runs(calibration: Path) -> dict[str, tuple[list[str], tuple[float, float]]]:
    base = ["--dataset", "fashion-mnist", "--ipc", "1", "--batch-real", "8", "--checkpoint-every", "3", "--nets", "convnet-cpu"]
    base += ["--device", "cpu", "--quiet", "--seed", "0"]
    select = ["--select-by", str(calibration), "--select-space", "convnet720", "--select-archs", "3", "--select-max-mflops", "5"]
    select += ["--select-epochs", "2", "--select-every", "10"]
    return {
        "spaceaware": ([*base, "--iterations", "300"], (1.0, 15.0)),
        "selection": ([*base, "--iterations", "60", *select], (5.0, 60.0)),
    }


def digits_runs(work: Path) -> dict[str, tuple[list[str], tuple[float, float]]]:
    """``--digits`` (stop 57, drill57): the same two kinds of run on digits through ``convnet720`` (the space a
    preset distils through), small enough for 10 kills each on a loaded machine; the selection ranks 3 architectures of
    convnet720 with made-up accuracies (a drill of resumption, not of what selection picks). Kill window: the whole run."""
    table = work / "select720.json"
    if not table.exists():
        from nas_proxy.correlate.archs import from_space
        from nas_proxy.spaces import get_space

        archs = from_space(get_space("convnet720"), 6, 0)
        table.write_text(json.dumps([{"spec": a.spec, "accuracy": 60.0 + 3 * i} for i, a in enumerate(archs)]))
    base = ["--dataset", "digits", "--ipc", "2", "--batch-real", "8", "--checkpoint-every", "3", "--nets", "convnet720"]
    base += ["--device", "cpu", "--quiet", "--seed", "0"]
    select = ["--select-by", str(table), "--select-archs", "3", "--select-epochs", "1", "--select-every", "5"]
    # stop 58 (drill58): soft labels (3 teachers trained first, each kept in SET/teachers as it finishes) and a hybrid set
    soft = ["--soft-labels", "3", "--teacher-epochs", "1", "--teacher-images", "300"]
    return {
        "nets720": ([*base, "--iterations", "24"], (0.0, 0.0)),
        "select720": ([*base, "--iterations", "15", *select], (0.0, 0.0)),
        "soft720": ([*base, "--iterations", "12", *soft], (0.0, 0.0)),
        "hybrid720": ([*base, "--iterations", "24", "--real-per-class", "1"], (0.0, 0.0)),
    }


def teachers(out: Path) -> dict[str, bytes]:
    """The files of ``out``'s teacher cache (``--soft-labels``), by name: a teacher kept once must stay the same (redone:
    one changed or vanished after a kill)."""
    folder = out / "teachers"
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} if folder.exists() else {}


def checkpoint_done(out: Path) -> int | None:
    """The iterations the checkpoint in ``out`` holds (its metadata's ``done``), None without one."""
    from safetensors import safe_open

    path = out / "checkpoint.safetensors"
    if not path.exists():
        return None
    with safe_open(str(path), "pt") as f:
        return int((f.metadata() or {}).get("done", -1))


def drill(
    flags: list[str],
    window: tuple[float, float],
    work: Path,
    name: str,
    rng: random.Random,
    kills: int | None = None,
    whole: bool = False,
) -> dict[str, Any]:
    """``kills``: after that many kills the next start runs to its end (None: kill until a start finishes first);
    ``whole``: moments drawn in [0, the uninterrupted run's wall time] (else ``window``, stretched to half of it)."""
    command = [sys.executable, "-m", "nas_proxy", "distill", *flags, "--out"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ref, out = work / f"{name}-ref", work / f"{name}-drill"
    shutil.rmtree(out, ignore_errors=True)  # every drill starts from nothing; the reference is kept
    wall = work / f"{name}-ref-seconds.txt"  # the uninterrupted run's wall time, start-up included
    if not (ref / "meta.json").exists() or not wall.exists():
        t0 = time.monotonic()
        subprocess.run([*command, str(ref), "--force"], env=env, check=True)
        wall.write_text(f"{time.monotonic() - t0:.1f}\n")
    # on a slow or loaded machine start-up alone may outlast the window: it stretches to half the run
    window = (0.0, float(wall.read_text())) if whole else (window[0], max(window[1], float(wall.read_text()) / 2))
    moments: list[float] = []
    held: list[int | None] = []  # the checkpoint's iterations after each kill: never fewer than before (nothing lost)
    early, went_back = 0, False  # early, with ``kills``: starts that finished before their moment (started afresh)
    kept: dict[str, bytes] = {}  # the teacher files seen after the last kill
    teachers_after_kill: list[int] = []
    teachers_redone = 0
    for _ in range(ATTEMPTS):
        proc = subprocess.Popen([*command, str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        at = rng.uniform(*window)
        try:
            _, err = proc.communicate(timeout=None if kills is not None and len(moments) >= kills else at)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            moments.append(round(at, 1))
            now, before = checkpoint_done(out), held[-1] if held else None
            went_back |= before is not None and (now is None or now < before)
            held.append(now)
            seen = teachers(out)
            teachers_redone += sum(1 for k, v in kept.items() if seen.get(k) != v)
            kept = seen
            teachers_after_kill.append(len(seen))
            continue
        if proc.returncode != 0:
            raise SystemExit(f"{name}: the same command exited {proc.returncode}: {err.strip()[-500:]}")
        if kills is not None and len(moments) < kills:
            early += 1
            shutil.rmtree(out)
            held.append(None)  # a fresh start: the checkpoint begins again
            kept = {}
            continue
        break
    else:
        raise SystemExit(f"{name}: not finished after {ATTEMPTS} starts; widen its kill window")
    a, b = load_file(str(ref / "synthetic.safetensors")), load_file(str(out / "synthetic.safetensors"))
    result: dict[str, Any] = {
        "kills": len(moments),
        "kill_moments_s": moments,
        "checkpoint_after_each_kill": held,
        "checkpoint_went_back": went_back,
        "starts_finished_early": early,
        "images_bit_identical": a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a),
        "losses_equal": (ref / "losses.csv").read_text() == (out / "losses.csv").read_text(),
    }
    if "--soft-labels" in flags:
        final = teachers(out)
        teachers_redone += sum(1 for k, v in kept.items() if final.get(k) != v)
        result |= {"teacher_files_after_each_kill": teachers_after_kill, "teachers_redone": teachers_redone}
        result["teachers_equal"] = teachers(ref).keys() == final.keys()
        result["soft_labels_equal"] = all(torch.equal(a[k], b[k]) for k in a if "label" in k)
    if (ref / "selection.json").exists():

        def scores(path: Path) -> list[dict[str, Any]]:
            return [{k: v for k, v in s.items() if k != "seconds"} for s in json.loads(path.read_text())["scored"]]

        drilled = scores(out / "selection.json")
        iterations = [s["iteration"] for s in drilled]
        result |= {
            "selection_equal": scores(ref / "selection.json") == drilled,
            "iterations_scored": iterations,
            "scored_twice": len(iterations) != len(set(iterations)),
        }
    return result


def teacher_drill(work: Path, kills: int, rng: random.Random, teachers_n: int = 11) -> dict[str, Any]:
    """``--teachers-drill`` (stop 58, drill58): kill -9 of ``distill --soft-labels`` while its teachers train, the set
    itself finished. Each start waits for the event "a teacher file more than when it started" (one teacher trained in
    this start), then kills it at a moment drawn uniformly in [0, the uninterrupted run's mean seconds per teacher], so
    the kill lands in the next teacher's training; ``teachers_n`` teachers make room for ``kills`` kills. Counted: each
    teacher file kept must stay byte-identical to the end (redone: one changed or vanished), and the labels and images
    must equal the uninterrupted run's."""
    flags, _ = digits_runs(work)["soft720"]
    flags = [*flags[: flags.index("--soft-labels")], "--soft-labels", str(teachers_n), "--teacher-epochs", "1", "--teacher-images", "300"]
    command = [sys.executable, "-m", "nas_proxy", "distill", *flags, "--out"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ref, out = work / "teachers-ref", work / "teachers-drill"
    shutil.rmtree(out, ignore_errors=True)
    if not (ref / "meta.json").exists():
        subprocess.run([*command, str(ref), "--force"], env=env, check=True, stdout=subprocess.DEVNULL)
    record = json.loads((ref / "meta.json").read_text())
    per = float(record["soft_labels"]["seconds"]) / teachers_n  # the teachers' training, uninterrupted, per teacher
    kept: dict[str, bytes] = {}
    moments: list[float] = []
    counts: list[int] = []
    redone = 0
    while True:
        proc = subprocess.Popen([*command, str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if len(moments) >= kills:
            _, err = proc.communicate()
            break
        start = len(teachers(out))
        while proc.poll() is None and len(teachers(out)) <= start:
            time.sleep(0.1)
        if proc.poll() is not None:
            _, err = proc.communicate()
            break
        at = rng.uniform(0, per)
        time.sleep(at)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        moments.append(round(at, 2))
        seen = teachers(out)
        redone += sum(1 for k, v in kept.items() if seen.get(k) != v)
        kept = seen
        counts.append(len(seen))
    if proc.returncode != 0:
        raise SystemExit(f"teachers: the same command exited {proc.returncode}: {err.strip()[-500:]}")
    final = teachers(out)
    redone += sum(1 for k, v in kept.items() if final.get(k) != v)
    a, b = load_file(str(ref / "synthetic.safetensors")), load_file(str(out / "synthetic.safetensors"))
    return {
        "teachers": teachers_n,
        "window_s": round(per, 2),
        "kills": len(moments),
        "moments_after_a_teacher_s": moments,
        "teacher_files_after_each_kill": counts,
        "teachers_redone": redone,
        "teacher_files_equal": teachers(ref) == final,
        "tensors_bit_identical": a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a),
    }


def main() -> None:
    from nas_proxy.cli.common import ScriptParser

    parser = ScriptParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=BENCHMARKS / "out" / "kill-drill")
    parser.add_argument("--seed", type=int, default=0, help="draws the kill moments")
    parser.add_argument("--runs", default="spaceaware,selection", help="which runs, comma-separated")
    parser.add_argument("--digits", action="store_true", help="nets720 and select720 on digits (drill57), not Fashion-MNIST")
    parser.add_argument("--kills", type=int, default=None, help="kill this many times, then let a start finish")
    parser.add_argument("--teachers-drill", action="store_true", help="--digits: kill -9 while soft labels' teachers train")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.teachers_drill:
        row = teacher_drill(args.work, args.kills or 10, random.Random(args.seed))
        print("teachers", json.dumps(row), flush=True)
        return
    made = digits_runs(args.work) if args.digits else runs(calibration_file(read_table(TABLE), SPLIT, args.work))
    rng = random.Random(args.seed)
    report = {}
    for name, (flags, window) in made.items():
        if name in args.runs.split(",") or (args.digits and args.runs == "spaceaware,selection"):
            report[name] = drill(flags, window, args.work, name, rng, args.kills, whole=args.digits)
            print(name, json.dumps(report[name]), flush=True)
    (args.work / "report.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
