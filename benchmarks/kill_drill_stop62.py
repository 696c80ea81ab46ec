"""Stop 61's code end to end (stop 62, drill62): kill -9 of ``distill --soft-labels`` with its teachers training, of
``calibrate --ladders``, of ``correlate`` writing its report, of ``score`` and ``evaluate`` of one set at once;
SIGTERM of ``search`` on SQLite; a search's and a run's ``config.toml`` killed around its write; a hybrid
set's checkpoint torn, on digits.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kill_drill_stop62.py --work /tmp/kill-drill-stop62 --kills 10

``--work`` is ``kill_drill_stop61.py``'s (its ``syn/``, ``archs.json``, ``truth.json``, made there if missing).
SIGTERM of ``groundtruth``: ``kill_drill_stop61.py --only sigterm-groundtruth``; a full disk and a torn last write of
``distill-nets`` and ``correlate-report``: ``kill_drill_retry.py --mode disk|torn``. Modes (``--only``):

- ``soft-labels``, ``soft-teachers``, ``calibrate-ladders``, ``correlate-report``: ``kill_drill_commands.drill``
  (SIGKILL to the process group at moments drawn in [0, the uninterrupted run's wall time], the same command again
  after each kill). ``soft-labels``: a 20-iteration distillation with 2 soft-label teachers (trained after the
  iterations); ``soft-teachers``: 4 iterations and teachers of 6 epochs, most of its time its teachers'; kept: each
  teacher file of ``d/teachers`` by its sha256 (redone: one that changed once written), the final set byte-equal to
  the uninterrupted run's. ``calibrate-ladders``: docs/commands.md's ``--ladders auto`` example (a simulation on
  benchmarks/ files), the profile compared but for its times and paths. ``correlate-report``: kill_drill_retry's
  small correlation, its numbers and the names of the files of its folder compared.
- ``sigterm-search-sqlite``: ``kill_drill_stop61.sigterm_drill`` of a 6-trial ``search`` on ``sqlite:///s.db`` (with
  ``--workers 2`` it is refused before anything is made: SQLite takes one writing process).
- ``score-evaluate``: per kill, ``score`` and ``evaluate`` of one set started together (the second 0-``--within`` s
  after the first, which goes first alternating), one of them killed with its group at a moment in [0, the
  uninterrupted pair's wall time], the other waited for; then both again to their end. Every network or architecture
  kept (``syn/evaluations``) must keep its numbers (redone: changed), the final accuracies equal to an uninterrupted
  pair's.
- ``config-search``, ``config-run``: a finished search (``run tiny.toml``), whose same command writes its ``best.json``
  (the run: ``correlate/config.toml``) and then ``config.toml`` again, killed (SIGKILL to the group) ``--kills`` times
  at a delay drawn in [0, ``--around``] s after that first file is replaced (the event, polled every millisecond);
  after each kill ``config.toml`` is whole (its last line ``# end``), absent, empty or torn, and temporaries left
  beside it are counted; where it is not the whole file, the same command is run unkilled and its exit, last line
  and the file's state then recorded.
- ``disk-distill-nets``, ``disk-correlate-report``: :func:`full_disk` (as root: it mounts a tmpfs).
- ``hybrid-checkpoint``: a hybrid distillation (``--real-per-class 1``) killed a second after its first checkpoint;
  the checkpoint cut at ``--kills`` offsets drawn by ``--seed``, the same command run on each copy
  (``kill_drill_torn.torn_rows``: refused in one line, or resumed and the file rewritten).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import kill_drill_commands
import optuna
from kill_drill_commands import EVALUATE60, SEARCH, command_of, completed, drill, said
from kill_drill_disk import full_disk_row
from kill_drill_retry import DISTILL_NETS, small
from kill_drill_stop60 import made_work
from kill_drill_stop61 import SCORE, drill_parser, env, patch_for_score, prepared, scored, sigterm_drill
from kill_drill_torn import torn_rows

from nas_proxy import configs

SOFT = ["distill", "--dataset", "digits", "--ipc", "2", "--iterations", "20", "--checkpoint-every", "5", "--batch-real", "8"]
SOFT += ["--soft-labels", "2", "--teacher-epochs", "2", "--teacher-images", "300", "--device", "cpu", "--seed", "0", "--quiet"]
SOFT += ["--out", "d"]
# the same with 4 iterations and teachers of 6 epochs: most of its time is its teachers' training (they train after the
# distillation; a kill in the one above mostly lands in its iterations)
TEACHERS = [*SOFT]
TEACHERS[TEACHERS.index("--iterations") + 1], TEACHERS[TEACHERS.index("--teacher-epochs") + 1] = "4", "6"
TEACHERS[TEACHERS.index("--checkpoint-every") + 1] = "2"
# search --workers 2 on SQLite is refused before anything is made ("SQLite cannot take several writing processes"):
# SIGTERM of a one-process search on SQLite instead, kill_drill_commands' search-sqlite with the set in its folder
SEARCH_SQLITE = [*(a.replace("{syn}", "syn") for a in SEARCH), "--storage", "sqlite:///s.db"]
CONFIG_SEARCH = [*(a.replace("{syn}", "syn") for a in SEARCH), "--storage", "s.log"]
CONFIG_SEARCH[CONFIG_SEARCH.index("--n-trials") + 1] = "2"
HYBRID = ["distill", "--dataset", "digits", "--ipc", "2", "--real-per-class", "1", "--iterations", "40", "--checkpoint-every", "5"]
HYBRID += ["--batch-real", "8", "--device", "cpu", "--seed", "0", "--quiet", "--out", "d"]
BENCH = Path(__file__).resolve().parent
LADDERS = ["calibrate", "--ladders", "auto", "--truth", str(BENCH / "groundtruth" / "fashion-mnist-convnet720.csv")]
LADDERS += ["--split", str(BENCH / "groundtruth" / "split.csv"), "--candidates", "100", "--space", "convnet720", "--quiet"]
LADDERS += ["--scores", str(BENCH / "gpu" / "2026-11-26-h100" / "fidelity-100-scores" / "scores.csv")]
LADDERS += ["--scores", str(BENCH / "ladders" / "zero-cost-scores.csv"), "--out", "p.toml"]  # docs/commands.md's example
CONFIG_FILES = {"config-search": "studies/s/config.toml", "config-run": "runs/tiny/config.toml"}
BEFORE = {"config-search": "best.json", "config-run": "correlate/config.toml"}  # the file each writes whole just before


def teachers(folder: Path) -> dict[tuple[str, str, int], tuple[Any, ...]]:
    """The distillation's cached teachers: (file,) -> (sha256,): a teacher trained again after a kill changes it."""
    found: dict[tuple[str, str, int], tuple[Any, ...]] = {}
    for kept in sorted((folder / "d" / "teachers").glob("*.safetensors")):
        with contextlib.suppress(OSError):
            found[("d/teachers", kept.name, 0)] = (hashlib.sha256(kept.read_bytes()).hexdigest(),)
    return found


def kept_evaluations(folder: Path) -> dict[tuple[str, str, int], tuple[Any, ...]]:
    """``evaluate``'s kept networks and ``score``'s kept architectures of ``syn/evaluations`` (their numbers)."""
    return {**completed(folder, ["syn/evaluations"]), **scored(folder)}


def numbers(folder: Path) -> list[tuple[Any, Any]]:
    """The accuracies kept in ``syn/evaluations`` (score's training seconds left out: a run's own, as its wall time)."""
    return sorted((k, v[0]) for k, v in kept_evaluations(folder).items())


def patch() -> None:
    """kill_drill_stop61's patch, and this script's storages: ``d/teachers``, ``syn/both``; its names to the results
    ``kill_drill_commands.result`` knows."""
    patch_for_score()
    completed_61, result_61 = kill_drill_commands.completed, kill_drill_commands.result

    def completed_(folder: Path, urls: list[str]) -> dict[Any, Any]:
        if urls == ["d/teachers"]:
            return teachers(folder)
        if urls == ["syn/both"]:
            return kept_evaluations(folder)
        return completed_61(folder, urls)

    def result_(name: str, folder: Path, urls: list[str]) -> Any:
        if urls == ["d/teachers"]:  # the set's images and labels, byte for byte
            return (folder / "d" / "synthetic.safetensors").read_bytes()
        if name == "correlate-report":  # the correlation's numbers, and the report's files by name
            return [result_61("correlate", folder, urls), sorted(p.name for p in (folder / "c").iterdir())]
        if name == "calibrate-ladders":  # the profile but for its times and paths
            return result_61("calibrate", folder, urls)
        if name == "sigterm-search-sqlite":
            return result_61("search", folder, urls)
        return result_61(name, folder, urls)

    kill_drill_commands.completed, kill_drill_commands.result = completed_, result_


def score_evaluate(work: Path, kills: int, rng: random.Random, within: float, until: float) -> dict[str, Any]:
    """``score`` and ``evaluate`` of one set at once, one of them killed (module docstring)."""
    pair = {"score": command_of(SCORE), "evaluate": command_of(EVALUATE60)}
    both = [*SCORE, *EVALUATE60]
    ref, wall_file = work / "score-evaluate" / "ref", work / "score-evaluate" / "ref-seconds.txt"
    if not wall_file.exists():
        prepared(ref, both, work)
        t0 = time.monotonic()
        for command in pair.values():
            subprocess.run(command, cwd=ref, env=env(), check=True, stdout=subprocess.DEVNULL)
        wall_file.write_text(f"{time.monotonic() - t0:.1f}\n")
    wall = float(wall_file.read_text())
    expected = numbers(ref)
    folder = prepared(work / "score-evaluate" / "drill", both, work)
    row: dict[str, Any] = {"command": "score-evaluate", "uninterrupted_s": wall, "kills": [], "killed": [], "other": []}
    seen: dict[Any, Any] = {}
    redone = 0
    while len(row["kills"]) < kills and time.time() < until:
        first, second = ("score", "evaluate") if len(row["kills"]) % 2 == 0 else ("evaluate", "score")
        victim = (first, second)[(len(row["kills"]) // 2) % 2]  # score first, evaluate killed; ... all four orders
        offset, at = round(rng.uniform(0, within), 2), round(rng.uniform(0, wall), 2)
        procs: dict[str, subprocess.Popen[str]] = {}
        t0 = time.monotonic()
        for name in (first, second):
            if name == second:
                time.sleep(offset)
            procs[name] = subprocess.Popen(
                pair[name], cwd=folder, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
            )
        with contextlib.suppress(subprocess.TimeoutExpired):
            procs[victim].wait(timeout=max(0.0, at - (time.monotonic() - t0)))
        finished = procs[victim].poll() is not None
        if not finished:
            os.killpg(procs[victim].pid, signal.SIGKILL)
        procs[victim].communicate()
        other = next(n for n in procs if n != victim)
        _, err = procs[other].communicate()
        line = err.strip().splitlines()[-1][:200] if err.strip() else ""
        row["other"].append({"name": other, "exit": procs[other].returncode, "line": line, "traceback": "Traceback" in err})
        if finished:  # it ended before its moment: no kill; a fresh folder
            row["finished_before_kill"] = row.get("finished_before_kill", 0) + 1
            folder, seen = prepared(work / "score-evaluate" / "drill", both, work), {}
            continue
        row["kills"].append(at)
        row["killed"].append(victim)
        now = kept_evaluations(folder)
        redone += sum(1 for k, v in seen.items() if now.get(k) != v)
        seen = now
        print(
            json.dumps({"command": "score-evaluate", "kill": len(row["kills"]), "victim": victim, "at": at, **row["other"][-1]}), flush=True
        )
    exits = [
        subprocess.run(c, cwd=folder, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode for c in pair.values()
    ]
    row["final_exits"] = exits
    now = kept_evaluations(folder)
    row["redone"] = redone + sum(1 for k, v in seen.items() if now.get(k) != v)
    row |= {"kept": len(now), "reference_kept": len(expected), "equal_to_uninterrupted": numbers(folder) == expected}
    return row


def config_state(path: Path) -> str:
    """``whole`` (its first line configs.HEADER, its last ``# end``), ``absent``, ``empty`` or ``torn``."""
    if not path.exists():
        return "absent"
    data = path.read_bytes()
    if not data:
        return "empty"
    whole = data.startswith((configs.HEADER + "\n").encode()) and data.endswith(f"\n{configs.END}\n".encode())
    return "whole" if whole else "torn"


def config_kills(name: str, argv: list[str], work: Path, kills: int, rng: random.Random, around: float) -> dict[str, Any]:
    """A finished command's same command line killed around its config.toml's write (module docstring)."""
    command, rel = command_of(argv), CONFIG_FILES[name]
    folder = work / name / "drill"
    target = folder / rel
    if not target.exists():
        prepared(folder, argv, work)
        subprocess.run(command, cwd=folder, env=env(), check=True, stdout=subprocess.DEVNULL)
    whole = target.read_bytes()
    before = target.parent / BEFORE[name]  # written whole just before config.toml (by its mtime, 20-30 ms before)
    row: dict[str, Any] = {"command": name, "file": rel, "kills": [], "states": {}, "temporaries_left": 0, "ended_before_kill": 0}
    row["next_runs"] = []
    while len(row["kills"]) < kills:
        delay = round(rng.uniform(0, around), 4)
        seen = before.stat().st_mtime_ns
        proc = subprocess.Popen(command, cwd=folder, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        while proc.poll() is None and before.stat().st_mtime_ns == seen:  # the event: best.json replaced
            time.sleep(0.001)
        time.sleep(delay)
        if proc.poll() is not None:
            row["ended_before_kill"] += 1
            proc.communicate()
            continue
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        row["kills"].append(delay)
        state = config_state(target)
        row["states"][state] = row["states"].get(state, 0) + 1
        row["temporaries_left"] += sum(1 for p in target.parent.iterdir() if p.name != target.name and target.name in p.name)
        if state != "whole" or target.read_bytes() != whole:
            again = subprocess.run(command, cwd=folder, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            line = again.stderr.strip().splitlines()[-1][:200] if again.stderr.strip() else ""
            row["next_runs"].append({"state": state, "exit": again.returncode, "line": line, "after": config_state(target)})
        print(json.dumps({"command": name, "kill": len(row["kills"]), "delay": delay, "state": state}), flush=True)
    done = subprocess.run(command, cwd=folder, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    row |= {"final_exit": done.returncode, "final_equal": target.read_bytes() == whole}
    return row


def hybrid_checkpoint(work: Path, cuts: int, rng: random.Random) -> list[dict[str, Any]]:
    """A hybrid distillation killed (SIGKILL to its group) a second after its first checkpoint, its checkpoint cut at
    ``cuts`` offsets drawn by ``rng``, the same command run again on each copy (``kill_drill_torn.torn_rows``)."""
    where, command = work / "hybrid-checkpoint", command_of(HYBRID)
    folder = where / "ref"
    checkpoint = folder / "d" / "checkpoint.safetensors"
    if not checkpoint.exists():
        prepared(folder, HYBRID, work)
        proc = subprocess.Popen(
            command, cwd=folder, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        while not checkpoint.exists() and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return torn_rows("hybrid-checkpoint", command, env(), where, "d/checkpoint.safetensors", rng, cuts)


def full_disk(name: str, work: Path, fractions: list[float]) -> list[dict[str, Any]]:
    """``kill_drill_disk.full_disk_row`` of ``disk-distill-nets`` (kill_drill_retry's space-aware distillation, a
    checkpoint every 3 iterations: most of what it writes) or ``disk-correlate-report`` (its small correlation, which
    writes its figures and report last), in a tmpfs of each fraction of the room its uninterrupted run took; the result
    compared: the set's bytes, the correlation's numbers and file names."""
    base = name.removeprefix("disk-")
    argv, urls = (DISTILL_NETS, []) if base == "distill-nets" else small(work / "syn", work / "truth.json")["correlate"]
    ref, mnt = work / base / "ref", work / "disk62"
    if not (ref / ("d/synthetic.safetensors" if base == "distill-nets" else "c/results.json")).exists():
        prepared(ref, argv, work)
        subprocess.run(command_of(argv), cwd=ref, env=env(), check=True, stdout=subprocess.DEVNULL)
    mnt.mkdir(exist_ok=True)
    size = int(subprocess.run(["du", "-s", "--block-size=1", str(ref)], capture_output=True, text=True, check=True).stdout.split()[0])

    def equal(folder: Path) -> bool:
        return bool(kill_drill_commands.result(base, folder, urls) == kill_drill_commands.result(base, ref, urls))

    rows = []
    for fraction in fractions:
        room = max(4096 * 4, int(size * fraction) // 4096 * 4096)
        disk = (mnt, room, size)
        rows.append(full_disk_row(name, command_of(argv), env(), disk, ref, urls, equal, inputs=work / "syn" if "syn" in argv else None))
    return rows


def main() -> None:
    only = ["soft-labels", "score-evaluate", "sigterm-search-sqlite", "config-search", "config-run"]
    parser = drill_parser(__doc__, "kill_drill_stop61.py's --work", 62, only)
    parser.add_argument("--within", type=float, default=2.0, help="score-evaluate: the second start's offset, in [0, this] s")
    parser.add_argument("--around", type=float, default=0.06, help="config-*: kill delays in [0, this] s after best.json's write")
    parser.add_argument("--fractions", default="0.3,0.6,0.9", help="disk-*: the tmpfs's room, fractions of the run's")
    args = parser.parse_args()
    work = made_work(args.work)
    if not (work / "archs.json").exists():
        raise SystemExit(f"{work}: run kill_drill_stop61.py there first (its archs.json)")
    patch()
    rng = random.Random(args.seed)
    until = float("inf") if args.stop_killing_after is None else time.time() + args.stop_killing_after
    with open(work / "drills-stop62.jsonl", "a") as log:
        for name in args.only:
            row: dict[str, Any]
            if name in ("soft-labels", "soft-teachers"):
                row = drill(name, SOFT if name == "soft-labels" else TEACHERS, ["d/teachers"], work, args.kills, rng, until)
            elif name == "correlate-report":
                argv, urls = small(work / "syn", work / "truth.json")["correlate"]
                row = drill(name, argv, urls, work, args.kills, rng, until)
            elif name == "calibrate-ladders":
                row = drill(name, LADDERS, [], work, args.kills, rng, until)
            elif name == "sigterm-search-sqlite":
                row = sigterm_drill(name, SEARCH_SQLITE, ["sqlite:///s.db"], work, args.kills, rng, args.grace, args.patience, until)
            elif name == "score-evaluate":
                row = score_evaluate(work, args.kills, rng, args.within, until)
            elif name in ("hybrid-checkpoint", "disk-distill-nets", "disk-correlate-report"):
                fractions = [float(f) for f in args.fractions.split(",")]
                rows = hybrid_checkpoint(work, args.kills, rng) if name == "hybrid-checkpoint" else full_disk(name, work, fractions)
                said(log, rows)
                continue
            elif name == "config-search":
                row = config_kills(name, CONFIG_SEARCH, work, args.kills, rng, args.around)
            elif name == "config-run":
                row = config_kills(name, ["run", "tiny.toml", "--quiet"], work, args.kills, rng, args.around)
            else:
                raise SystemExit(f"unknown drill {name}")
            said(log, row)


if __name__ == "__main__":
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    main()
