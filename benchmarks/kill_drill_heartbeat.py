"""kill -9 of a search while it trains, on SQLite, on a journal file and on PostgreSQL, at moments drawn from a seeded
RNG: the dead worker's trial must be failed with ``fail_kind`` ``killed`` (a lapsed heartbeat, or the repair of a
process seen dead) and its candidate trained again once; the same command then finishes the study with every candidate
trained once to completion (stop 58, drill58).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kill_drill_heartbeat.py --syn SYN --work /tmp/kill-drill-heartbeat \
        --backend postgresql --kills 10 --seed 59

The study: ``--sampler bruteforce`` over ``convnet-small`` (6 architectures), ``--n-trials 6``, so whichever process
draws which candidate, an uninterrupted run scores every architecture of the space exactly once (two workers draw
from streams seeded ``seed + k``: with a sampler that draws at random the candidates would depend on which worker drew
first, and an uninterrupted run could not be the reference). ``--heartbeat-interval 1 --grace 3``. The uninterrupted
run is measured first (its wall time: the window of the kill moments). Each episode, on a fresh storage, starts the
command; at a moment drawn uniformly in [0, that wall time] (``--seed``) the drill waits for an event and kills:

- journal, PostgreSQL (``--workers 2``): a trial RUNNING in the worker process the command started (its
  ``worker_pid`` not the command's); that process alone gets SIGKILL, and the command, which trains too, must fail
  and retry its trial in the same run;
- SQLite (one writing process: ``--workers 2`` is refused there): a trial RUNNING in the command; its process group
  gets SIGKILL, and the same command runs again under another host name (a new UTS namespace, as root), where the dead
  process cannot be looked up by its pid and only its lapsed heartbeat tells (drill51's case: the same file, a
  container or batch job started again elsewhere).

Then the same command runs again until it exits 0 (at most 3 times). Counted per episode: how the killed trial was
failed (``fail_kind``, ``fail_reason``), its copies (``retry_of``) and their states, the COMPLETE trials,
architectures scored more than once (redone) or never (skipped), whether each architecture's score equals the
uninterrupted run's (each candidate is trained with the study's seed, whichever worker trains it), trials left
RUNNING. A start that finished before its event counts as no kill. Numbers: benchmarks/RESULTS.md §17e.
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
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas_proxy.cli.common import ScriptParser
from nas_proxy.studies.requeue import FAIL_KIND_ATTR
from nas_proxy.studies.storage import open_storage

STUDY = "h"


# SQLite takes one writing process (``--workers 2`` is refused there): its episode kills the command itself and runs it
# again under another host name (a new UTS namespace, as root), where the dead process cannot be looked up by its pid
# and only its lapsed heartbeat tells (drill51's case: the same file, a container or batch job started again elsewhere)
ELSEWHERE = ["unshare", "--uts", "sh", "-c", 'hostname drill58-elsewhere && exec "$@"', "sh"]


def argv(syn: Path, url: str, epochs: int) -> list[str]:
    words = ["search", "--synthetic", str(syn), "--space", "convnet-small", "--study", STUDY, "--storage", url]
    words += ["--n-trials", "6", "--sampler", "bruteforce", "--pruner", "none", "--epochs", str(epochs), "--report-every", "2"]
    words += ["--report-images", "200", "--heartbeat-interval", "1", "--grace", "3", "--seed", "0"]
    words += [] if url.startswith("sqlite") else ["--workers", "2"]
    return [*words, "--device", "cpu", "--quiet", "--out", "out"]


def trials(url: str) -> list[FrozenTrial]:
    with contextlib.suppress(KeyError):
        storage = open_storage(url, STUDY)[0]
        try:
            return optuna.load_study(study_name=STUDY, storage=storage).get_trials(deepcopy=False)
        finally:
            with contextlib.suppress(AttributeError):
                storage.engine.dispose()  # type: ignore[attr-defined]
    return []


def scored(ts: list[FrozenTrial]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for t in ts:
        if t.state == TrialState.COMPLETE:
            out.setdefault(t.user_attrs["arch_id"], []).append(round(float(t.values[0]), 6))
    return out


@contextlib.contextmanager
def databases(backend: str, work: Path) -> Iterator[Any]:
    """A function giving a fresh database URL per call."""
    if backend in ("sqlite", "journal"):
        count = iter(range(10**6))
        yield (lambda: f"sqlite:///{work / f'db{next(count)}.db'}") if backend == "sqlite" else (lambda: str(work / f"j{next(count)}.log"))
        return
    from tests import pg

    with pg.throwaway_server() as server:
        yield server.new_database


def episode(command: list[str], folder: Path, url: str, at: float, env: dict[str, str]) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    sqlite = url.startswith("sqlite")
    proc = subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    row: dict[str, Any] = {"at_s": at}
    time.sleep(at)
    victim = None
    while proc.poll() is None:  # the event: a trial RUNNING in the worker process the command started
        running = [t for t in trials(url) if t.state == TrialState.RUNNING and t.user_attrs.get("worker_pid") is not None]
        if sqlite:  # the command itself, the one process
            running = [t for t in running if t.user_attrs["worker_pid"] == proc.pid]
        else:  # the worker process it started
            running = [t for t in running if t.user_attrs["worker_pid"] != proc.pid]
        if running:
            victim = running[0]
            if sqlite:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                os.kill(int(victim.user_attrs["worker_pid"]), signal.SIGKILL)
            row["killed_after_s"] = round(time.monotonic(), 2)
            break
        time.sleep(0.2)
    _, err = proc.communicate(timeout=1800)
    row["exit"] = proc.returncode
    if err.strip():
        row["line"] = err.strip().splitlines()[-1]
    if victim is None:
        row["finished_before_kill"] = True
        return row
    row.pop("killed_after_s")

    def judged() -> None:
        after = trials(url)
        dead = after[victim.number]
        reason = dead.user_attrs.get("fail_reason", "")
        row["killed_trial"] = {"state": dead.state.name, "fail_kind": dead.user_attrs.get(FAIL_KIND_ATTR), "reason": reason[:90]}
        copies = [t for t in after if t.user_attrs.get("retry_of", t.system_attrs.get("failed_trial")) == victim.number]
        row["copies"] = [t.state.name for t in copies]

    if not sqlite:  # judged in the run the kill was made in: the survivor retried it
        judged()
    for k in range(3):  # the same command again, to its end (SQLite's: elsewhere)
        if row["exit"] == 0 and len(scored(trials(url))) == 6:
            break
        again = subprocess.run(
            [*ELSEWHERE, *command] if sqlite else command,
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=1800,
        )
        row[f"again_{k}_exit"] = again.returncode
        if again.returncode:
            row[f"again_{k}_line"] = again.stderr.strip().splitlines()[-1:]
        if again.returncode == 0:
            break
    if sqlite:
        judged()
    return row


def main() -> None:
    parser = ScriptParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--syn", type=Path, required=True, help="a finished synthetic set (kill_drill_retry.py's WORK/syn)")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--backend", choices=("sqlite", "journal", "postgresql"), default="sqlite")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    work = (args.work / args.backend).resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    rng = random.Random(args.seed)
    summary: dict[str, Any] = {"backend": args.backend, "episodes": []}
    with databases(args.backend, work) as fresh, open(work / "drill.jsonl", "a") as log:
        url = fresh()
        t0 = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "nas_proxy", *argv(args.syn.resolve(), url, args.epochs)],
            cwd=work,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall = time.monotonic() - t0
        reference = scored(trials(url))
        summary["uninterrupted_s"] = round(wall, 1)
        print(json.dumps({"uninterrupted_s": round(wall, 1), "reference": reference}), flush=True)
        kills = 0
        while kills < args.kills:
            url = fresh()
            row = episode(
                [sys.executable, "-m", "nas_proxy", *argv(args.syn.resolve(), url, args.epochs)],
                work / f"e{len(summary['episodes'])}",
                url,
                round(rng.uniform(0, wall), 2),
                env,
            )
            done = trials(url)
            counts = Counter({a: len(v) for a, v in scored(done).items()})
            row |= {
                "complete": sum(counts.values()),
                "redone": sum(n - 1 for n in counts.values() if n > 1),
                "skipped": 6 - len(counts),
                "scores_equal": {a: v[:1] for a, v in scored(done).items()} == {a: v[:1] for a, v in reference.items()},
                "left_running": sum(1 for t in done if t.state == TrialState.RUNNING),
            }
            kills += "killed_trial" in row
            summary["episodes"].append(row)
            print(json.dumps(row), flush=True)
        log.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
