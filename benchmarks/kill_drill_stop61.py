"""Stop 60's code end to end (stop 61, drill61): kill -9 of a search climbing a fidelity ladder, of a search with
``--proxy-seeds 2`` and of ``score``; SIGTERM at random moments to the command's process alone (a scheduler's, systemd's
main-process signal, ``docker stop``) of ``search --workers 2``, ``distill``, ``run`` and ``build.py``; ``score`` and
``calibrate`` twice at once, on digits.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kill_drill_stop61.py --work /tmp/kill-drill-stop61 --kills 10

``--work`` is ``kill_drill_commands.py``'s (its ``syn/`` and ``truth.json``, made there if missing). Modes (``--only``):

- ``search-ladder``, ``search-seeds``, ``score``: ``kill_drill_commands.drill`` (SIGKILL to the process group at moments
  drawn in [0, the uninterrupted run's wall time], the same command again after each kill; a trial COMPLETE, or an
  architecture ``score`` kept in ``syn/evaluations/KEY.json``, that changes or vanishes after a kill is redone; the
  final result compared with the uninterrupted run's).
- ``sigterm-search``, ``sigterm-distill``, ``sigterm-run``, ``sigterm-groundtruth``: the same loop with SIGTERM sent to
  the command's own process (not its group) at the moment; recorded per signal: the exit status (143 promised), the
  last stderr line, whether a traceback was printed, how long the process took to exit, and the processes of its
  session still alive right after its exit and ``--grace`` s later (its ``--workers``, data-loader workers, build.py's
  workers: none may outlive it). A start that did not exit within ``--patience`` s of its SIGTERM is killed with its
  group and counted as ``hung``.
- ``twice-score``, ``twice-calibrate``, ``twice-search-sqlite``: ``kill_drill_twice.twice`` (two copies of one command
  line in one folder, the second 0-``--within`` s after the first; then the same command alone).
"""

from __future__ import annotations

import contextlib
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
import kill_drill_twice
import optuna
from kill_drill_commands import GROUNDTRUTH, command_of, commands, drill, prepare, said
from kill_drill_stop60 import made_work, session_processes
from kill_drill_twice import reference, twice

from nas_proxy.cli.common import ScriptParser

LADDER = ["search", "--ladder", "synflow:1.0,random-ipc2:0.5,full:2", "--dataset", "digits", "--space", "convnet-small"]
LADDER += ["--study", "k", "--storage", "k.log", "--n-trials", "6", "--pruner", "none", "--epochs", "4", "--report-every", "2"]
LADDER += ["--report-images", "200", "--promote-epochs", "1", "--promote-images", "200", "--seed", "0", "--device", "cpu", "--quiet"]
SEEDS = ["search", "--synthetic", "syn", "--space", "convnet-cpu", "--study", "s", "--n-trials", "4", "--epochs", "4"]
SEEDS += ["--proxy-seeds", "2", "--report-every", "2", "--seed", "0", "--device", "cpu", "--quiet", "--storage", "sqlite:///s.db"]
SCORE = ["score", "--synthetic", "syn", "--space", "convnet-cpu", "--archs", "archs.json", "--epochs", "60", "--seed", "0"]
SCORE += ["--device", "cpu", "--quiet", "--json"]
WORKERS = ["search", "--synthetic", "syn", "--space", "convnet-cpu", "--study", "s", "--n-trials", "8", "--epochs", "30"]
WORKERS += ["--workers", "2", "--report-every", "2", "--seed", "0", "--device", "cpu", "--quiet", "--storage", "s.log"]
DISTILL = ["distill", "--dataset", "digits", "--ipc", "2", "--iterations", "300", "--checkpoint-every", "20", "--batch-real", "8"]
DISTILL += ["--device", "cpu", "--seed", "0", "--quiet", "--out", "d"]


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def scored(folder: Path) -> dict[tuple[str, str, int], tuple[Any, ...]]:
    """``score``'s kept architectures: (file, arch_id) -> (accuracy, its training's seconds): a retraining changes them."""
    found: dict[tuple[str, str, int], tuple[Any, ...]] = {}
    for kept in sorted((folder / "syn" / "evaluations").glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            for arch, row in json.loads(kept.read_text()).get("results", {}).items():
                found[(kept.name, arch, 0)] = (row["accuracy"], row["seconds"]["total"])
    return found


def patch_for_score() -> None:
    """``kill_drill_commands.completed`` and ``result`` taught ``score``'s kept file (``syn/scores``, a name of this
    script's) and the distillation's images (``d``), so that ``drill`` counts what they keep."""
    real_completed, real_result = kill_drill_commands.completed, kill_drill_commands.result

    def completed_(folder: Path, urls: list[str]) -> dict[Any, Any]:
        if urls == ["syn/scores"]:
            return scored(folder)
        if urls == ["d"]:
            return {}
        return real_completed(folder, urls)

    def result_(name: str, folder: Path, urls: list[str]) -> Any:
        if urls == ["syn/scores"]:
            return sorted((k[1], v[0]) for k, v in scored(folder).items())
        if urls == ["d"]:
            return (folder / "d" / "synthetic.safetensors").read_bytes()
        name = {"sigterm-groundtruth": "groundtruth", "sigterm-search": "search", "sigterm-run": "run"}.get(name, name)
        return real_result(name.removeprefix("twice-"), folder, urls)

    kill_drill_commands.completed, kill_drill_commands.result = completed_, result_
    kill_drill_commands.prepare = prepared  # drill's folders: archs.json too
    kill_drill_twice.completed, kill_drill_twice.result, kill_drill_twice.prepare = completed_, result_, prepared


def prepared(folder: Path, argv: list[str], work: Path) -> Path:
    """``kill_drill_commands.prepare``'s folder, with ``WORK/archs.json`` in it where ``argv`` reads it (``score``)."""
    folder = prepare(folder, argv, work)
    if "archs.json" in argv:
        (folder / "archs.json").write_text((work / "archs.json").read_text())
    return folder


def sigterm_drill(
    name: str,
    argv: list[str],
    urls: list[str],
    work: Path,
    kills: int,
    rng: random.Random,
    grace: float,
    patience: float,
    until: float = float("inf"),
) -> dict[str, Any]:
    """SIGTERM to the command's process alone at moments drawn in [0, its uninterrupted wall time]; the same command
    again after each; then once more to its end."""
    command = command_of(argv)
    ref, wall_file = work / name / "ref", work / name / "ref-seconds.txt"
    if not wall_file.exists():
        prepared(ref, argv, work)
        t0 = time.monotonic()
        subprocess.run(command, cwd=ref, env=env(), check=True, stdout=subprocess.DEVNULL)
        wall_file.write_text(f"{time.monotonic() - t0:.1f}\n")
    wall = float(wall_file.read_text())
    res, comp = kill_drill_commands.result, kill_drill_commands.completed
    expected, expected_n = res(name, ref, urls), len(comp(ref, urls))
    folder = prepared(work / name / "drill", argv, work)
    row: dict[str, Any] = {"command": name, "uninterrupted_s": wall, "signals": [], "exits": {}, "lines": {}, "hung": 0}
    row |= {"traceback": 0, "left_at_exit": [], "left_after_grace": [], "exit_s": []}
    seen: dict[Any, Any] = {}
    redone = 0
    while len(row["signals"]) < kills and time.time() < until:
        at = round(rng.uniform(0, wall), 2)
        proc = subprocess.Popen(
            command, cwd=folder, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            proc.communicate(timeout=at)
            row["finished_before_signal"] = row.get("finished_before_signal", 0) + 1
            folder, seen = prepared(work / name / "drill", argv, work), {}
            continue
        except subprocess.TimeoutExpired:
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=patience)
        except subprocess.TimeoutExpired:
            row["hung"] += 1
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
        row["exit_s"].append(round(time.monotonic() - t0, 2))
        row["left_at_exit"].append(len(session_processes(proc.pid)))
        time.sleep(grace)
        left = session_processes(proc.pid)
        row["left_after_grace"].append(len(left))
        for pid in left:  # this drill's own processes: none must be there; ended so the next start is alone
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        row["signals"].append(at)
        code = str(proc.returncode)
        row["exits"][code] = row["exits"].get(code, 0) + 1
        line = err.strip().splitlines()[-1] if err.strip() else ""
        line = " ".join(w if not w.isdigit() else "N" for w in line.replace(")", " )").split())  # process ids alike
        row["lines"][line] = row["lines"].get(line, 0) + 1
        row["traceback"] += "Traceback" in err
        now = comp(folder, urls)
        redone += sum(1 for k, v in seen.items() if now.get(k) != v)
        seen = now
        print(
            json.dumps(
                {"command": name, "signal": len(row["signals"]), "at": at, "exit": proc.returncode, "left": len(left), "kept": len(now)}
            ),
            flush=True,
        )
    done = subprocess.run(command, cwd=folder, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    row["final_exit"] = done.returncode
    if done.returncode:
        row["final_line"] = done.stderr.strip().splitlines()[-1:]
        return row
    now = comp(folder, urls)
    row["redone"] = redone + sum(1 for k, v in seen.items() if now.get(k) != v)
    row |= {"complete": len(now), "reference_complete": expected_n, "equal_to_uninterrupted": res(name, folder, urls) == expected}
    return row


def drill_parser(doc: str, work_help: str, seed: int, only: list[str]) -> ScriptParser:
    """The options of this script's and kill_drill_stop62.py's drills: --work, --kills, --seed, --only, --grace,
    --patience, --stop-killing-after."""
    parser = ScriptParser(description=doc.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help=work_help)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--only", nargs="*", default=only)
    parser.add_argument("--grace", type=float, default=2.0, help="sigterm: seconds after the exit its session is counted again")
    parser.add_argument("--patience", type=float, default=120.0, help="sigterm: seconds a start may take to exit")
    parser.add_argument("--stop-killing-after", type=float, default=None, help="kill -9 drills: seconds from now, no kill after them")
    return parser


def main() -> None:
    only = ["search-ladder", "search-seeds", "score", "sigterm-search", "sigterm-distill"]
    parser = drill_parser(__doc__, "kill_drill_commands.py's --work", 61, only)
    parser.add_argument("--within", type=float, default=2.0, help="twice: the second start's offset, in [0, this] s")
    args = parser.parse_args()
    work = made_work(args.work)
    syn, truth = work / "syn", work / "truth.json"
    if not (work / "archs.json").exists() or not truth.exists():
        from nas_proxy.correlate.archs import from_space
        from nas_proxy.spaces import get_space

        archs = from_space(get_space("convnet-cpu"), 6, 0)
        (work / "archs.json").write_text(json.dumps([a.spec for a in archs]))
        truth.write_text(json.dumps([{"spec": a.spec, "accuracy": 60.0 + 3 * i} for i, a in enumerate(archs)]))
    patch_for_score()
    rng = random.Random(args.seed)
    until = float("inf") if args.stop_killing_after is None else time.time() + args.stop_killing_after
    made = commands(syn, truth)
    with open(work / "drills-stop61.jsonl", "a") as log:
        for name in args.only:
            row: dict[str, Any]
            if name == "search-ladder":
                row = drill(name, LADDER, ["k.log"], work, args.kills, rng, until)
            elif name == "search-seeds":
                row = drill(name, SEEDS, ["sqlite:///s.db"], work, args.kills, rng, until)
            elif name == "score":
                row = drill(name, SCORE, ["syn/scores"], work, args.kills, rng, until)
            elif name == "sigterm-search":
                row = sigterm_drill(name, WORKERS, ["s.log"], work, args.kills, rng, args.grace, args.patience, until)
            elif name == "sigterm-distill":
                row = sigterm_drill(name, DISTILL, ["d"], work, args.kills, rng, args.grace, args.patience, until)
            elif name == "sigterm-run":
                row = sigterm_drill(
                    name,
                    ["run", "tiny.toml", "--quiet"],
                    ["studies/tiny/journal.log"],
                    work,
                    args.kills,
                    rng,
                    args.grace,
                    args.patience,
                    until,
                )
            elif name == "sigterm-groundtruth":
                row = sigterm_drill(name, GROUNDTRUTH, ["gt/groundtruth.journal"], work, args.kills, rng, args.grace, args.patience, until)
            elif name.startswith("twice-"):
                argv, urls = {
                    "twice-score": (SCORE, ["syn/scores"]),
                    "twice-calibrate": made["calibrate"],
                    "twice-search-sqlite": made["search-sqlite"],
                }[name]
                reference(work, name, argv)
                row = twice(name, argv, urls, work, round(rng.uniform(0, args.within), 2))
            else:
                raise SystemExit(f"unknown drill {name}")
            said(log, row)


if __name__ == "__main__":
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    main()
