"""kill -9 at random moments of ``run``, ``search`` (SQLite and a journal file), ``calibrate`` and ``correlate`` on
digits, the same command run again after each kill until it exits 0, the result compared with an uninterrupted run's.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kill_drill_commands.py --work /tmp/kill-drill-commands --kills 10

Each command runs cold (``python -m nas_proxy``) in its own session, in a folder of its own (relative paths: the same
command line every time), first uninterrupted (the reference, its wall time measured), then again in a fresh folder:
started, killed with SIGKILL to its whole process group at a moment drawn uniformly in [0, the reference's wall time]
(``--seed``; start-up included, which on a loaded machine is most of a small command's time), started again, until
``--kills`` kills were made; then the same command runs unkilled to its end. After every kill the Optuna storages the
command writes are read: every trial COMPLETE there must stay COMPLETE with the same values and completion time to the
end (redone: one that changed or vanished), and at the end each storage holds as many COMPLETE trials as the
reference's (more: trainings done twice). The result is compared with the reference's where docs/interrupts.md and
docs/commands.md promise it (a search draws what an uninterrupted one draws; a correlation's ground truth and scores;
a calibration's profile; a preset run's pick and report numbers), wall times and timestamps left out. The tests drill
the same mechanisms on events (tests/faults); this is the random-moment version, for the record
(benchmarks/RESULTS.md §17b).
"""

from __future__ import annotations

import contextlib
import csv
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

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas_proxy.cli.common import ScriptParser
from tests.cli.test_pipeline import TINY as SUITE_TINY

# the test suite's tiny preset (tests/cli/test_pipeline.py): distill 4 iterations, 4 trials, correlate 4 architectures
TINY = SUITE_TINY.format(runs="runs")
# the same run with its ground truth in SQLite (stop 57: run's search storage is always its journal under studies/)
TINY_SQLITE = TINY.replace("[correlate]\n", '[correlate]\ngt_storage = "sqlite:///gt.db"\n', 1)
assert TINY_SQLITE != TINY

SEARCH = ["search", "--synthetic", "{syn}", "--space", "convnet-cpu", "--study", "s", "--n-trials", "6", "--epochs", "4"]
SEARCH += ["--report-every", "2", "--seed", "0", "--device", "cpu", "--quiet"]


def commands(syn: Path, truth: Path) -> dict[str, tuple[list[str], list[str]]]:
    """name: (the command's arguments, its Optuna storages relative to its folder)."""
    correlate = ["correlate", "--sample", "--space", "convnet-cpu", "--synthetic", str(syn), "--n-archs", "3"]
    correlate += ["--full-epochs", "2", "--full-images", "60", "--bootstrap", "100", "--proxies", "synflow,datadam"]
    correlate += ["--no-random-subset", "--device", "cpu", "--quiet", "--out", "c", "--gt-storage", "gt.log"]
    calibrate = ["calibrate", "--truth", str(truth), "--space", "convnet-cpu", "--synthetic", str(syn), "--study", "c"]
    calibrate += ["--storage", "c.log", "--folds", "2", "--trials", "2", "--epochs-choices", "1,2", "--bootstrap", "100"]
    calibrate += ["--device", "cpu", "--quiet", "--out", "p.toml"]
    search = [a.replace("{syn}", str(syn)) for a in SEARCH]
    return {
        "run": (["run", "tiny.toml", "--quiet"], ["studies/tiny/journal.log"]),
        "run-sqlite": (["run", "tiny-sqlite.toml", "--quiet"], ["studies/tiny/journal.log", "sqlite:///gt.db"]),
        "search-sqlite": ([*search, "--storage", "sqlite:///s.db"], ["sqlite:///s.db"]),
        "search-journal": ([*search, "--storage", "s.log"], ["s.log"]),
        "calibrate": (calibrate, ["c.log"]),
        "correlate": (correlate, ["gt.log"]),
    }


# stop 59 (drill59, RESULTS §17f): commands the earlier drills left out, by name for kill_drill_retry.py's and
# kill_drill_twice.py's --only. groundtruth: the script that writes a ground-truth table and its provenance.json (its
# CPU smoke run: digits, 5 architectures, 2 seeds, 2 epochs); evaluate: the set copied into the command's folder
# (``syn``), where its finished networks are kept (``syn/evaluations``, read as a storage by ``completed``);
# search-bruteforce: the 6 architectures of convnet-small, each drawn once, on a journal.
GROUNDTRUTH = [str(Path(__file__).resolve().parent / "groundtruth" / "build.py"), "--dry-run", "--out", "gt", "--quiet"]
EVALUATE = ["evaluate", "syn", "--runs", "6", "--epochs", "60", "--device", "cpu", "--quiet", "--seed", "0"]
BRUTEFORCE = ["search", "--synthetic", "{syn}", "--space", "convnet-small", "--sampler", "bruteforce", "--study", "s", "--n-trials", "6"]
BRUTEFORCE += ["--epochs", "2", "--report-every", "2", "--seed", "0", "--device", "cpu", "--quiet", "--storage", "s.log"]


def stop59(syn: Path) -> dict[str, tuple[list[str], list[str]]]:
    """name: (arguments, storages), as :func:`commands`."""
    return {
        "groundtruth": (GROUNDTRUTH, ["gt/groundtruth.journal"]),
        "evaluate-kept": (EVALUATE, ["syn/evaluations"]),
        "search-bruteforce": ([a.replace("{syn}", str(syn)) for a in BRUTEFORCE], ["s.log"]),
    }


# stop 60 (drill60, RESULTS §17g): train (a 3-trial search's best.json, made by kill_drill_stop60.py in WORK/st, copied
# into the command's folder) and a smaller evaluate than stop 59's (4 networks of 20 epochs), for kill_drill_retry.py's
# --only (sigint, torn, disk) and kill_drill_stop60.py
TRAIN = ["train", "best.json", "--out", "m", "--epochs", "10", "--device", "cpu", "--seed", "0", "--quiet"]
EVALUATE60 = ["evaluate", "syn", "--runs", "4", "--epochs", "20", "--device", "cpu", "--quiet", "--seed", "0"]


def stop60() -> dict[str, tuple[list[str], list[str]]]:
    """name: (arguments, storages), as :func:`commands` (``m``: train's --out, read by :func:`completed`)."""
    return {"train": (TRAIN, ["m"]), "evaluate-twice": (EVALUATE60, ["syn/evaluations"])}


def command_of(argv: list[str]) -> list[str]:
    """The command line of ``argv``: a script's (its path first) or nasproxy's."""
    return [sys.executable, *argv] if argv[0].endswith(".py") else [sys.executable, "-m", "nas_proxy", *argv]


def prepare(folder: Path, argv: list[str], work: Path) -> Path:
    """A fresh ``folder`` for ``argv``: the tiny presets beside, and a copy of ``work/syn`` where ``argv`` reads the
    set ``syn`` in its folder (evaluate keeps its networks in the set's folder)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "tiny.toml").write_text(TINY)
    (folder / "tiny-sqlite.toml").write_text(TINY_SQLITE)
    if "syn" in argv:
        shutil.copytree(work / "syn", folder / "syn", ignore=shutil.ignore_patterns("evaluations"))
    if "best.json" in argv:  # train (stop 60, kill_drill_stop60.py): the best.json of its 3-trial search
        shutil.copy(work / "st" / "studies" / "s" / "best.json", folder / "best.json")
    return folder


def storage_of(url: str, folder: Path) -> Any:
    if url.startswith("sqlite:///"):
        return optuna.storages.RDBStorage(f"sqlite:///{folder / url.removeprefix('sqlite:///')}")
    backend = optuna.storages.journal.JournalFileBackend(str(folder / url))
    return optuna.storages.JournalStorage(backend)


def completed(folder: Path, urls: list[str]) -> dict[tuple[str, str, int], tuple[Any, ...]]:
    """Every COMPLETE trial of every study in the storages: (storage, study, number) -> (params, values, completion)."""
    found: dict[tuple[str, str, int], tuple[Any, ...]] = {}
    for url in urls:
        path = folder / url.removeprefix("sqlite:///")
        if not path.exists():
            continue
        if path.name == "evaluations":  # evaluate's kept networks: (folder, file, run) -> (accuracy,)
            for kept in sorted(path.glob("*.json")):
                for run, accuracy in json.loads(kept.read_text()).get("accuracies", {}).items():
                    found[(url, kept.name, int(run))] = (accuracy,)
            continue
        if url == "m":  # train's --out (stop 60): the training whose weights are written, by its time and weights' hash
            for record in (".training.json", "spec.json"):
                with contextlib.suppress(OSError, ValueError, KeyError):
                    kept = json.loads((path / record).read_text())
                    found[(url, "m", 0)] = (kept["train_seconds"], kept["sha256"]["weights"])
            continue
        storage = storage_of(url, folder)
        for study in storage.get_all_studies():
            for t in storage.get_all_trials(study._study_id, states=(optuna.trial.TrialState.COMPLETE,)):
                found[(url, study.study_name, t.number)] = (
                    json.dumps(t.params, sort_keys=True),
                    tuple(t.values or ()),
                    str(t.datetime_complete),
                )
        with contextlib.suppress(AttributeError):
            storage.engine.dispose()
    return found


SKIP = ("second", "time", "date", "created", "wall", "cpu_s", "path", "dir", "command", "version", "speedup")


def stripped(value: Any) -> Any:
    """``value`` without the keys that carry times, paths or versions (an uninterrupted run's differ too)."""
    if isinstance(value, dict):
        return {k: stripped(v) for k, v in value.items() if not any(s in k.lower() for s in SKIP)}
    if isinstance(value, list):
        return [stripped(v) for v in value]
    return value


def result(name: str, folder: Path, urls: list[str]) -> Any:
    """What the command promises to give again after an interruption."""
    if name == "groundtruth":  # the tables' rows, but for the seconds, commit and trial number of each training
        rows = []
        for table in sorted((folder / "gt").glob("*.csv")):
            if table.name != "plan.csv":
                with open(table, newline="") as f:
                    rows += sorted(
                        json.dumps({k: v for k, v in r.items() if k not in ("seconds", "commit", "trial")}, sort_keys=True)
                        for r in csv.DictReader(f)
                    )
        return rows
    if name == "train":  # the weights, byte for byte, and spec.json but for its times and model.pt's hash: a TorchScript
        spec = json.loads((folder / "m" / "spec.json").read_text())  # archive is not byte-reproducible (its serialization
        spec["sha256"].pop("torchscript", None)  # id, the order of its modules' constants), an uninterrupted run's neither
        return [(folder / "m" / "model.safetensors").read_bytes(), stripped(spec)]
    if name in ("evaluate-kept", "evaluate-twice", "evaluate-copied"):
        return sorted(completed(folder, ["syn/evaluations"]).items())
    if name.startswith("search"):  # the draws and their scores, whatever trial numbers a killed trial's re-queue took
        return sorted((p, v) for p, v, _ in completed(folder, urls).values())
    if name == "correlate":
        return stripped(json.loads((folder / "c" / "results.json").read_text())["archs"])
    if name in ("distill-nets", "disk-distill-nets"):  # the set's bytes (kill_drill_retry's space-aware distillation)
        return (folder / "d" / "synthetic.safetensors").read_bytes()
    if name == "calibrate":
        return [line for line in (folder / "p.toml").read_text().splitlines() if not any(s in line for s in SKIP)]
    best = json.loads((folder / "runs" / "tiny" / "search" / "best.json").read_text())["best"]
    archs = json.loads((folder / "runs" / "tiny" / "correlate" / "results.json").read_text())["archs"]
    return stripped({"best": best, "archs": archs})


def drill(
    name: str,
    argv: list[str],
    urls: list[str],
    work: Path,
    kills: int,
    rng: random.Random,
    until: float = float("inf"),
    relocate: str | None = None,
) -> dict[str, Any]:
    """``until``: a wall-clock time (``time.time()``) after which no more kills are made (a loaded machine).
    ``relocate`` (stop 60): after each kill the command's folder is moved (``move``) or copied (``copy``, the
    killed one left where it was) to a new name, and the same command run there: a study or a set with its
    evaluations/ (and a lock folder a kill left) on a new path."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = command_of(argv)

    def prepared(folder: Path) -> Path:
        return prepare(folder, argv, work)

    ref = work / name / "ref"
    wall_file = work / name / "ref-seconds.txt"
    if not wall_file.exists():
        prepared(ref)
        t0 = time.monotonic()
        subprocess.run(command, cwd=ref, env=env, check=True, stdout=subprocess.DEVNULL)
        wall_file.write_text(f"{time.monotonic() - t0:.1f}\n")
    wall = float(wall_file.read_text())
    expected, expected_n = result(name, ref, urls), len(completed(ref, urls))
    folder = prepared(work / name / "drill")
    row: dict[str, Any] = {"command": name, "uninterrupted_s": wall, "kills": [], "exits": [], "lines": []}
    seen: dict[tuple[str, str, int], tuple[Any, ...]] = {}
    redone = 0
    while len(row["kills"]) < kills and time.time() < until:
        at = round(rng.uniform(0, wall), 2)
        proc = subprocess.Popen(
            command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            _, err = proc.communicate(timeout=at)
            row["exits"].append(proc.returncode)  # it finished before its moment: start afresh, the next moment drawn
            if err.strip():
                row["lines"].append(err.strip().splitlines()[-1])
            if proc.returncode == 0:
                row.setdefault("finished_before_kill", 0)
                row["finished_before_kill"] += 1
                folder = prepared(work / name / "drill")
                seen = {}
            continue
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        row["kills"].append(at)
        now = completed(folder, urls)
        redone += sum(1 for k, v in seen.items() if now.get(k) != v)
        seen = now
        said_kill(name, row, at, len(now), redone)
        if relocate is not None:  # the next start on a new path
            moved = work / name / f"{relocate}d-{len(row['kills'])}"
            shutil.rmtree(moved, ignore_errors=True)
            (shutil.move if relocate == "move" else shutil.copytree)(folder, moved)
            folder = moved
    final = finish(command, folder, env, urls, row, seen, redone)
    if final is None:
        return row
    row |= {"complete_trials": len(final), "reference_trials": expected_n}
    row["equal_to_uninterrupted"] = result(name, folder, urls) == expected
    return row


def said_kill(name: str, row: dict[str, Any], at: float, complete: int, redone: int) -> None:
    """One line of progress after a kill (also kill_drill_retry.py's)."""
    print(json.dumps({"command": name, "kill": len(row["kills"]), "at": at, "complete_now": complete, "redone_so_far": redone}), flush=True)


def finish(
    command: list[str], folder: Path, env: dict[str, str], urls: list[str], row: dict[str, Any], seen: dict[Any, Any], redone: int
) -> dict[Any, Any] | None:
    """The same command once more after the last kill, to its end: its exit (and last line) into ``row``; the trials
    complete then, with the trials ``seen`` complete before it and changed since counted into ``row['redone']``; None
    where it failed (also kill_drill_retry.py's)."""
    done = subprocess.run(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    row["final_exit"] = done.returncode
    if done.returncode != 0:
        row["final_line"] = done.stderr.strip().splitlines()[-1:]
        return None
    now = completed(folder, urls)
    row["redone"] = redone + sum(1 for k, v in seen.items() if now.get(k) != v)
    return now


def said(log: Any, row: Any) -> None:
    """A drill's row on stdout and in the work folder's drills log (every kill_drill script's)."""
    print(json.dumps(row), flush=True)
    log.write(json.dumps(row) + "\n")


def main() -> None:
    parser = ScriptParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path(__file__).resolve().parent / "out" / "kill-drill-commands")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", default=None, help="these commands only (run, search-sqlite, ...)")
    parser.add_argument("--stop-killing-after", type=float, default=None, help="seconds from now: no kill after them")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    syn, truth = work / "syn", work / "truth.json"
    if not (syn / "meta.json").exists():
        flags = ["--dataset", "digits", "--ipc", "2", "--iterations", "4", "--batch-real", "8", "--device", "cpu", "--quiet"]
        subprocess.run([sys.executable, "-m", "nas_proxy", "distill", *flags, "--out", str(syn), "--force"], env=env, check=True)
    if not truth.exists():  # six architectures of the space with made-up accuracies: what calibrate ranks against
        from nas_proxy.correlate.archs import from_space
        from nas_proxy.spaces import get_space

        archs = from_space(get_space("convnet-cpu"), 6, 0)
        truth.write_text(json.dumps([{"spec": a.spec, "accuracy": 60.0 + 3 * i} for i, a in enumerate(archs)]))
    rng = random.Random(args.seed)
    until = float("inf") if args.stop_killing_after is None else time.time() + args.stop_killing_after
    with open(work / "drills.jsonl", "a") as log:
        for name, (argv, urls) in commands(syn, truth).items():
            if args.only and name not in args.only:
                continue
            row = drill(name, argv, urls, work, args.kills, rng, until)
            said(log, row)


if __name__ == "__main__":
    main()
