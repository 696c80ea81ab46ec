"""Stop 59's code end to end (stop 60, drill60): ``train`` killed, two ``evaluate`` at once with one of them killed,
``benchmarks/groundtruth/build.py`` killed alone (its workers left running), on digits.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kill_drill_stop60.py --work /tmp/kill-drill-stop60 --kills 10

``--work`` is ``kill_drill_commands.py``'s (its ``syn/``, made there if missing); a 3-trial search's ``best.json`` is
made once in ``WORK/st``. A torn last write, Ctrl-C and a full disk of ``train`` and ``evaluate-twice``:
``kill_drill_retry.py --mode torn|sigint|disk --only train evaluate-twice`` (``kill_drill_commands.stop60``). Modes (``--only``):

- ``train``: ``kill_drill_commands.drill`` of ``train best.json --out m --epochs 10`` (SIGKILL to the process group at
  moments drawn in [0, the uninterrupted run's wall time], the same command again after each kill): a training whose
  weights were kept (``m/.training.json`` or ``m/spec.json``) must keep its ``train_seconds`` and weights' sha256 to
  the end (redone: one that changed), and the final weights must be byte-equal to the uninterrupted run's.
- ``evaluate-twice``: per kill, two ``evaluate syn --runs 4 --epochs 20`` on one set, the second 0-2 s after the
  first; at a moment in [0, the uninterrupted run's wall time] the process that holds the set's lock (the one still
  running) is killed with its group, the other waited for; then the same command alone, to its end. Every network
  kept after a kill must keep its accuracy (redone: changed), each network trained once (the kept file's runs), the
  result equal to an uninterrupted run's.
- ``search-moved``, ``evaluate-copied``: ``drill`` with the folder moved (a 5-trial search, its set, study and journal
  in it) or copied (``evaluate``'s set with its evaluations/ and the lock folder a kill left) to a new path after each
  kill, the same command run there.
- ``groundtruth-alone``: ``build.py --dry-run --out gt`` killed with SIGKILL to its own process only (a crash, an
  OOM kill): its ``nasproxy worker`` processes are counted right after and 3 s later (orphans), the same command is
  started again at once (while they may still run), and COMPLETE trainings are compared as ``drill`` does; at the
  end the trainings COMPLETE (the uninterrupted run's count) and trainings failed as interrupted are counted.
"""

from __future__ import annotations

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

import optuna
from kill_drill_commands import EVALUATE60 as EVALUATE
from kill_drill_commands import GROUNDTRUTH, TRAIN, command_of, completed, drill, prepare, result, said, storage_of

from nas_proxy.cli.common import ScriptParser

SEARCH = ["search", "--synthetic", "../syn", "--space", "convnet-cpu", "--study", "s", "--n-trials", "3", "--epochs", "2"]
SEARCH += ["--report-every", "1", "--seed", "0", "--device", "cpu", "--quiet", "--storage", "s.log"]
# a search whose folder is moved after each kill: the set copied into it (syn), its study and journal beside
SEARCH_MOVED = ["search", "--synthetic", "syn", "--space", "convnet-cpu", "--study", "s", "--n-trials", "5", "--epochs", "4"]
SEARCH_MOVED += ["--report-every", "1", "--seed", "0", "--device", "cpu", "--quiet", "--storage", "s.log"]


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def best_json(work: Path) -> Path:
    """A 3-trial search's best.json (made once in WORK/st)."""
    best = work / "st" / "studies" / "s" / "best.json"
    if not best.exists():
        (work / "st").mkdir(parents=True, exist_ok=True)
        subprocess.run(command_of(SEARCH), cwd=work / "st", env=env(), check=True, stdout=subprocess.DEVNULL)
    return best


def session_processes(sid: int) -> list[int]:
    """The processes alive (not zombies) in session ``sid`` (the killed command's: started with a session of its own)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # fields after the name: state, ppid, pgrp, session
            found.append(int(stat.parent.name))
    return found


def trial_states(folder: Path, url: str) -> dict[str, int]:
    """The trials of every study of ``url`` by state, and those failed as interrupted."""
    counts: dict[str, int] = {}
    if not (folder / url).exists():
        return counts
    storage = storage_of(url, folder)
    for study in storage.get_all_studies():
        for t in storage.get_all_trials(study._study_id):
            counts[t.state.name] = counts.get(t.state.name, 0) + 1
            if t.user_attrs.get("interrupted"):
                counts["interrupted"] = counts.get("interrupted", 0) + 1
    return counts


def groundtruth_alone(work: Path, kills: int, rng: random.Random, grace: float, window: float | None = None) -> dict[str, Any]:
    """``window``: kill moments drawn in [0, this] s rather than the uninterrupted run's wall time (a loaded machine)."""
    name, urls = "groundtruth-alone", ["gt/groundtruth.journal"]
    command = command_of(GROUNDTRUTH)
    ref = work / "groundtruth" / "ref"  # kill_drill_commands.drill's reference, made there where missing
    wall_file = work / "groundtruth" / "ref-seconds.txt"
    if not wall_file.exists():
        prepare(ref, GROUNDTRUTH, work)
        t0 = time.monotonic()
        subprocess.run(command, cwd=ref, env=env(), check=True, stdout=subprocess.DEVNULL)
        wall_file.parent.mkdir(parents=True, exist_ok=True)
        wall_file.write_text(f"{time.monotonic() - t0:.1f}\n")
    wall = float(wall_file.read_text()) if window is None else window
    folder = prepare(work / name / "drill", GROUNDTRUTH, work)
    row: dict[str, Any] = {"command": name, "uninterrupted_s": wall, "kills": [], "orphans_at_kill": [], "orphans_after": []}
    seen: dict[Any, Any] = {}
    redone, sessions = 0, []
    while len(row["kills"]) < kills:
        at = round(rng.uniform(0, wall), 2)
        proc = subprocess.Popen(command, cwd=folder, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            proc.communicate(timeout=at)
            row["finished_before_kill"] = row.get("finished_before_kill", 0) + 1
            folder, seen = prepare(work / name / "drill", GROUNDTRUTH, work), {}  # a start with little left: afresh
            continue
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)  # the script alone, as the OOM killer or a crash ends it
            proc.communicate()
        sessions.append(proc.pid)
        row["kills"].append(at)
        row["orphans_at_kill"].append(len(session_processes(proc.pid)))
        time.sleep(grace)
        row["orphans_after"].append(len(session_processes(proc.pid)))
        now = completed(folder, urls)
        redone += sum(1 for k, v in seen.items() if now.get(k) != v)
        seen = now
        print(json.dumps({"command": name, "kill": len(row["kills"]), "at": at, "orphans": row["orphans_after"][-1], "complete": len(now)}))
    done = subprocess.run(command, cwd=folder, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    row["final_exit"] = done.returncode
    row["orphans_at_final_end"] = sum(len(session_processes(s)) for s in sessions)
    for sid in sessions:  # what is still running of the killed starts: this drill's own processes
        for pid in session_processes(sid):
            os.kill(pid, signal.SIGKILL)
    now = completed(folder, urls)
    row["redone"] = redone + sum(1 for k, v in seen.items() if now.get(k) != v)
    row["complete_trials"], row["reference_trials"] = len(now), len(completed(ref, urls))
    row["states"] = trial_states(folder, urls[0])
    if done.returncode == 0:
        row["equal_to_uninterrupted"] = result("groundtruth", folder, urls) == result("groundtruth", ref, urls)
    else:
        row["final_line"] = done.stderr.strip().splitlines()[-1:]
    return row


def evaluate_twice(work: Path, kills: int, rng: random.Random, within: float) -> dict[str, Any]:
    name, urls = "evaluate-twice", ["syn/evaluations"]
    command = command_of(EVALUATE)
    ref = work / name / "ref"
    wall_file = work / name / "ref-seconds.txt"
    if not wall_file.exists():
        prepare(ref, EVALUATE, work)
        t0 = time.monotonic()
        subprocess.run(command, cwd=ref, env=env(), check=True, stdout=subprocess.DEVNULL)
        wall_file.write_text(f"{time.monotonic() - t0:.1f}\n")
    wall = float(wall_file.read_text())
    expected = result("evaluate-kept", ref, urls)
    folder = prepare(work / name / "drill", EVALUATE, work)
    row: dict[str, Any] = {"command": name, "uninterrupted_s": wall, "kills": [], "episodes": []}
    seen: dict[Any, Any] = {}
    redone = 0
    while len(row["kills"]) < kills:
        offset, at = round(rng.uniform(0, within), 2), round(rng.uniform(0, wall), 2)
        procs = []
        for k in range(2):
            if k:
                time.sleep(offset)
            procs.append(
                subprocess.Popen(
                    command, cwd=folder, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
                )
            )
        deadline = time.monotonic() + max(0.0, at - offset)
        while time.monotonic() < deadline and any(p.poll() is None for p in procs):
            time.sleep(0.05)
        alive = [p for p in procs if p.poll() is None]
        episode: dict[str, Any] = {"offset": offset, "at": at, "alive_at_moment": len(alive)}
        if len(alive) == 1:
            os.killpg(alive[0].pid, signal.SIGKILL)
            episode["killed"] = "first" if alive[0] is procs[0] else "second"
            row["kills"].append(at)
        elif len(alive) == 2:  # both running at the moment: the first killed, the second left to run
            os.killpg(procs[0].pid, signal.SIGKILL)
            episode["killed"] = "first (both alive)"
            row["kills"].append(at)
        lines = []
        for p in procs:
            _, err = p.communicate()
            lines.append([p.returncode, err.strip().splitlines()[-1:] if err.strip() else []])
            episode["traceback"] = episode.get("traceback", False) or "Traceback" in err
        episode["exits_lines"] = lines
        episode["lock_left"] = sorted(p.name for p in (folder / "syn" / "evaluations").glob("*.lock"))
        now = completed(folder, urls)
        redone += sum(1 for k, v in seen.items() if now.get(k) != v)
        seen = now
        episode["kept"] = len(now)
        print(json.dumps({"command": name, **episode}), flush=True)
        row["episodes"].append(episode)
        if len(now) == len(completed(ref, urls)):  # both ended before the moment or the survivor finished: afresh
            row["whole_before_kill"] = row.get("whole_before_kill", 0) + 1
            row.setdefault("whole_equal", []).append(result("evaluate-kept", folder, urls) == expected)
            folder, seen = prepare(work / name / "drill", EVALUATE, work), {}
    done = subprocess.run(command, cwd=folder, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    row["final_exit"] = done.returncode
    now = completed(folder, urls)
    row["redone"] = redone + sum(1 for k, v in seen.items() if now.get(k) != v)
    row["kept"], row["reference_kept"] = len(now), len(completed(ref, urls))
    row["equal_to_uninterrupted"] = result("evaluate-kept", folder, urls) == expected
    row["lock_left_at_end"] = sorted(p.name for p in (folder / "syn" / "evaluations").glob("*.lock"))
    return row


def made_work(work: Path) -> Path:
    """``work`` resolved, made, with its small set ``syn`` distilled where missing (also kill_drill_stop61.py's)."""
    work = work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "syn" / "meta.json").exists():
        flags = ["--dataset", "digits", "--ipc", "2", "--iterations", "4", "--batch-real", "8", "--device", "cpu", "--quiet"]
        subprocess.run(command_of(["distill", *flags, "--out", str(work / "syn"), "--force"]), env=env(), check=True)
    return work


def main() -> None:
    parser = ScriptParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="kill_drill_commands.py's --work")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=60)
    parser.add_argument("--only", nargs="*", default=["train", "evaluate-twice", "groundtruth-alone"])
    parser.add_argument("--grace", type=float, default=3.0, help="groundtruth-alone: seconds after a kill the orphans are counted again")
    parser.add_argument("--window", type=float, default=None, help="groundtruth-alone: kill moments in [0, this] s (default its wall time)")
    parser.add_argument("--within", type=float, default=2.0, help="evaluate-twice: the second start's offset, in [0, this] s")
    args = parser.parse_args()
    work = made_work(args.work)
    rng = random.Random(args.seed)
    with open(work / "drills-stop60.jsonl", "a") as log:
        for name in args.only:
            row: dict[str, Any]
            if name == "train":
                best_json(work)
                row = drill("train", TRAIN, ["m"], work, args.kills, rng)
            elif name in ("search-moved", "evaluate-copied"):  # the folder moved (a study) or copied (a set) after each kill
                argv, urls = (SEARCH_MOVED, ["s.log"]) if name == "search-moved" else (EVALUATE, ["syn/evaluations"])
                row = drill(name, argv, urls, work, args.kills, rng, relocate="move" if name == "search-moved" else "copy")
            elif name == "evaluate-twice":
                row = evaluate_twice(work, args.kills, rng, args.within)
            elif name == "groundtruth-alone":
                row = groundtruth_alone(work, args.kills, rng, args.grace, args.window)
            else:
                raise SystemExit(f"unknown drill {name}")
            said(log, row)


if __name__ == "__main__":
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    main()
