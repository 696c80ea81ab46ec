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
run (``--reference URL``, else one made here) gives the scores and the window: its training, from its first trial's
start to its last trial's end (a run's wall time is mostly start-up on a loaded machine: 122 s, of which 9.6 s of
training, left 7 of 9 moments after the end). Each episode, on a fresh storage, starts the command, waits for its first
trial, then for a moment drawn uniformly in that window (``--seed``), then for an event, and kills:

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

Stop 59 (drill59, §17f) added ``--alone`` (no ``--workers 2`` on PostgreSQL or a journal: the command itself killed
and run again elsewhere, as on SQLite) and ``--twice`` (SQLite): the worker killed twice in a row. After the first kill the same
command runs again elsewhere, which fails the dead trial for its lapsed heartbeat and takes the copy Optuna's retry
queued (``requeue.LAPSED_COPY``); once that copy is RUNNING, at a moment drawn in [0, half a trial of the uninterrupted
run], it is killed in turn, and the command runs again elsewhere to its end: the copy is lapsed and copied again
(``MAX_RETRY`` 2 allows it). ``--sampler`` and ``--space`` (default bruteforce over convnet-small): with a sampler that
draws from seeds (``random``, ``tpe``) over a larger space, the COMPLETE candidates are compared with the uninterrupted
run's, the same ``--seed``: a copy counted as a draw shifts every later draw onto the next seed (a repeated or
skipped seed shows as a candidate that differs).
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
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas_proxy.cli.common import ScriptParser
from nas_proxy.studies.requeue import FAIL_KIND_ATTR, LAPSED_COPY
from nas_proxy.studies.storage import open_storage

STUDY = "h"
N_TRIALS = 6


# SQLite takes one writing process (``--workers 2`` is refused there): its episode kills the command itself and runs it
# again under another host name (a new UTS namespace, as root), where the dead process cannot be looked up by its pid
# and only its lapsed heartbeat tells (drill51's case: the same file, a container or batch job started again elsewhere)
ELSEWHERE = ["unshare", "--uts", "sh", "-c", 'hostname drill58-elsewhere && exec "$@"', "sh"]
# drill59's --twice: the start killed second runs under a third host name, so that the start after it cannot look up
# its dead process either (under the same name the repair found the pid gone and queued the copy itself, by design)
SECOND_HOST = [*ELSEWHERE[:4], ELSEWHERE[4].replace("drill58-elsewhere", "drill59-second"), "sh"]


def argv(syn: Path, url: str, epochs: int, sampler: str = "bruteforce", space: str = "convnet-small", alone: bool = False) -> list[str]:
    words = ["search", "--synthetic", str(syn), "--space", space, "--study", STUDY, "--storage", url]
    words += ["--n-trials", str(N_TRIALS), "--sampler", sampler, "--pruner", "none", "--epochs", str(epochs), "--report-every", "2"]
    words += ["--report-images", "200", "--heartbeat-interval", "1", "--grace", "3", "--seed", "0"]
    words += [] if url.startswith("sqlite") or alone else ["--workers", "2"]
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


RUNNING = sqlalchemy.text(
    "SELECT t.number, a.value_json FROM trials t JOIN studies s ON s.study_id = t.study_id "
    "LEFT JOIN trial_user_attributes a ON a.trial_id = t.trial_id AND a.key = 'worker_pid' "
    "WHERE s.study_name = :name AND t.state = 'RUNNING'"
)
# the RUNNING copies of a lapsed trial (drill59's --twice: the second kill's event)
RUNNING_COPIES = sqlalchemy.text(
    "SELECT t.number FROM trials t JOIN studies s ON s.study_id = t.study_id "
    "JOIN trial_system_attributes a ON a.trial_id = t.trial_id AND a.key = 'nasproxy_lapsed_copy' "
    "WHERE s.study_name = :name AND t.state = 'RUNNING'"
)


class Running:
    """The RUNNING trials of a database storage's study and their ``worker_pid``, read by one SQL query on one engine
    (tens of milliseconds; opening the storage through nasproxy or Optuna for each look took 3 s on the loaded machine,
    and a 1.5 s trial began and ended between two looks). A journal is read through Optuna (its file, no schema)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = (
            None
            if not url.startswith(("sqlite", "postgresql"))
            else sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        )

    def __call__(self) -> list[tuple[int, int | None]]:
        if self.engine is None:
            return [(t.number, t.user_attrs.get("worker_pid")) for t in trials(self.url) if t.state == TrialState.RUNNING]
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(RUNNING, {"name": STUDY}).all()
        except sqlalchemy.exc.SQLAlchemyError:  # no schema yet (the command has not made its study), or locked a moment
            return []
        return [(int(n), json.loads(v) if v is not None else None) for n, v in rows]

    def copies(self) -> list[int]:
        """The numbers of the RUNNING copies of lapsed trials (a database's)."""
        assert self.engine is not None
        try:
            with self.engine.connect() as conn:
                return [int(n) for (n,) in conn.execute(RUNNING_COPIES, {"name": STUDY}).all()]
        except sqlalchemy.exc.SQLAlchemyError:
            return []

    def any_trial(self) -> bool:
        if self.engine is None:
            return bool(trials(self.url))
        try:
            with self.engine.connect() as conn:
                return conn.execute(sqlalchemy.text("SELECT count(*) FROM trials")).scalar_one() > 0
        except sqlalchemy.exc.SQLAlchemyError:
            return False


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


def copies_of(ts: list[FrozenTrial], victim: int) -> list[FrozenTrial]:
    """The copies of trial ``victim``, and of those copies (drill59's ``--twice``: the copy of a lapsed copy, queued by
    Optuna's retry or by the repair, ``retry_of`` the copy)."""
    family, out = {victim}, []
    for t in ts:  # (a copy comes after what it copies)
        if t.user_attrs.get("retry_of", t.system_attrs.get("failed_trial")) in family and t.number not in family:
            family.add(t.number)
            out.append(t)
    return out


def killed_again(command: list[str], folder: Path, url: str, at: float, env: dict[str, str]) -> dict[str, Any]:
    """drill59's second kill (SQLite): the same command run again elsewhere (a host name of its own), killed ``at``
    seconds after the copy of the lapsed trial is RUNNING, if it still is (else it runs to its end)."""
    proc = subprocess.Popen(
        [*SECOND_HOST, *command], cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    look, out = Running(url), dict[str, Any](at2_s=at)
    while proc.poll() is None and not look.copies():
        time.sleep(0.05)
    time.sleep(at)
    while proc.poll() is None:
        copies = look.copies()
        if copies:
            os.killpg(proc.pid, signal.SIGKILL)
            out["killed_copy"] = copies[0]
            break
        time.sleep(0.05)
    _, err = proc.communicate(timeout=1800)
    out["again_exit"] = proc.returncode
    if "killed_copy" not in out and err.strip():
        out["again_line"] = err.strip().splitlines()[-1]
    return out


def episode(
    command: list[str], folder: Path, url: str, at: float, env: dict[str, str], training: bool = False, twice: float | None = None
) -> dict[str, Any]:
    """``twice``: (SQLite) the moment of a second kill after the copy of the killed trial is RUNNING (``killed_again``).
    The command killed itself and run again elsewhere on SQLite, and on any storage without ``--workers 2`` (--alone)."""
    folder.mkdir(parents=True, exist_ok=True)
    sqlite = url.startswith("sqlite") or "--workers" not in command
    proc = subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    row: dict[str, Any] = {"at_s": at}
    look = Running(url)
    if training:  # the moment counts from the event "its first trial RUNNING" (start-up is most of a loaded run's time)
        while proc.poll() is None and not look.any_trial():
            time.sleep(0.05)
    time.sleep(at)
    victim = None
    while proc.poll() is None:  # the event: a trial RUNNING in the worker process the command started
        # SQLite: the command itself, the one process; else the worker process it started
        running = [(n, pid) for n, pid in look() if pid is not None and (pid == proc.pid) == sqlite]
        if running:
            victim, pid = running[0]
            if sqlite:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                os.kill(int(pid), signal.SIGKILL)
            row["killed_after_s"] = round(time.monotonic(), 2)
            break
        time.sleep(0.05)
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
        dead = after[victim]
        reason = dead.user_attrs.get("fail_reason", "")
        row["killed_trial"] = {"state": dead.state.name, "fail_kind": dead.user_attrs.get(FAIL_KIND_ATTR), "reason": reason[:90]}
        copies = copies_of(after, victim)
        row["copies"] = [t.state.name for t in copies]
        row["copies_marked"] = sum(1 for t in copies if LAPSED_COPY in t.system_attrs)
        row["killed_params"] = dead.params

    if not sqlite:  # judged in the run the kill was made in: the survivor retried it
        judged()
    if sqlite and twice is not None:
        row |= killed_again(command, folder, url, twice, env)
    for k in range(3):  # the same command again, to its end (SQLite's: elsewhere)
        if row.get("again_exit", row["exit"]) == 0 and sum(map(len, scored(trials(url)).values())) >= N_TRIALS:
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
    parser.add_argument("--sampler", default="bruteforce", help="the search's --sampler (default %(default)s)")
    parser.add_argument("--space", default="convnet-small", help="the search's --space (default %(default)s)")
    parser.add_argument("--twice", action="store_true", help="SQLite: kill the copy of the killed trial too (drill59)")
    parser.add_argument("--alone", action="store_true", help="no --workers 2: the command itself killed, run again elsewhere (drill59)")
    parser.add_argument(
        "--reference",
        default=None,
        help="an uninterrupted run's storage URL (default: one run here): the reference; the kill moments are drawn in "
        "[0, its training's seconds] after the first trial starts (not in [0, a run's wall time]: on a loaded machine "
        "start-up is most of it)",
    )
    args = parser.parse_args()
    work = (args.work / args.backend).resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    rng = random.Random(args.seed)
    summary: dict[str, Any] = {"backend": args.backend, "sampler": args.sampler, "space": args.space, "twice": args.twice, "episodes": []}
    words: dict[str, Any] = {"sampler": args.sampler, "space": args.space, "alone": args.alone}
    with databases(args.backend, work) as fresh, open(work / "drill.jsonl", "a") as log:
        if not args.reference:  # the uninterrupted run, here
            args.reference = fresh()
            command = [sys.executable, "-m", "nas_proxy", *argv(args.syn.resolve(), args.reference, args.epochs, **words)]
            subprocess.run(command, cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
        # the uninterrupted run's scores, and its training (first start to last end): the window of the kill moments
        done = trials(args.reference)
        reference = scored(done)
        ends = [t.datetime_complete.timestamp() for t in done if t.datetime_complete]
        wall = max(ends) - min(t.datetime_start.timestamp() for t in done if t.datetime_start)
        summary["training_s"] = round(wall, 1)
        drawn = sorted(json.dumps(t.params, sort_keys=True) for t in done if t.state == TrialState.COMPLETE)
        print(json.dumps({"window_s": round(wall, 1), "reference": reference}), flush=True)
        kills = 0
        while kills < args.kills:
            url = fresh()
            row = episode(
                [sys.executable, "-m", "nas_proxy", *argv(args.syn.resolve(), url, args.epochs, **words)],
                work / f"e{len(summary['episodes'])}",
                url,
                round(rng.uniform(0, wall), 2),
                env,
                True,
                round(rng.uniform(0, wall / N_TRIALS / 2), 2) if args.twice else None,
            )
            done = trials(url)
            counts = Counter({a: len(v) for a, v in scored(done).items()})
            row |= {
                "complete": sum(counts.values()),
                "redone": sum(n - 1 for n in counts.values() if n > 1),
                "skipped": len(reference) - len(counts),
                "scores_equal": {a: v[:1] for a, v in scored(done).items()} == {a: v[:1] for a, v in reference.items()},
                "draws_equal": sorted(json.dumps(t.params, sort_keys=True) for t in done if t.state == TrialState.COMPLETE) == drawn,
                "left_running": sum(1 for t in done if t.state == TrialState.RUNNING),
            }
            kills += "killed_trial" in row
            if args.twice and "killed_trial" in row and "killed_copy" not in row:
                row["second_kill_missed"] = True
            summary["episodes"].append(row)
            print(json.dumps(row), flush=True)
        log.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
