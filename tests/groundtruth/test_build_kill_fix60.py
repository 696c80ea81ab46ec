"""fix60: ``benchmarks/groundtruth/build.py`` killed -9 alone (nothing passed on to its workers). Its workers were
``nasproxy worker`` commands: orphaned, they went on training the queue, beside the next run of the same command. They
are nasproxy's own worker processes now, told the builder's id (``nas_proxy.cli.worker_process``): each stops once the
builder has ended, its training failed as interrupted; the same command then trains only what was not finished.

A drill (two builder runs and their workers): ``make test`` drills the same watch on a search's workers killed with their
command (tests/faults/test_drills.py's
test_kill_9_of_a_search_stops_its_workers_and_the_same_command_finishes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "benchmarks" / "groundtruth" / "build.py"
WAIT_S = 300  # fails the drill when an event has not come by then (a loaded machine); nothing waits for time to pass


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}


def _studies(journal: Path) -> dict[str, list[optuna.trial.FrozenTrial]]:
    """Trials by study name, read without writing (a record being written is not read yet)."""
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    return {
        s.study_name: optuna.load_study(study_name=s.study_name, storage=storage).get_trials()
        for s in optuna.get_all_study_summaries(storage)
    }


def _children(pid: int) -> list[int]:
    return [int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()]


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.drill
def test_a_builder_killed_9_takes_its_workers_with_it_and_the_same_command_trains_only_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "gt"
    # two workers: one on the main pass, one on the long pass, which at 10,000 epochs (checks.EPOCHS_MAX) does not end within the test
    cmd = [sys.executable, str(BUILD), "--dry-run", "--workers", "2", "--quiet", "--out", str(out), "--long-epochs", "10000"]
    builder = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    until = time.monotonic() + WAIT_S
    while True:  # the event: a main training finished while a long one runs
        assert builder.poll() is None and time.monotonic() < until, builder.communicate()
        time.sleep(0.2)
        try:
            trials = _studies(out / "groundtruth.journal")
        except Exception:  # noqa: BLE001 - the journal not made yet, or its first records being written
            continue
        states = sorted([t.state for t in ts] for ts in trials.values())
        if len(trials) == 2 and any(TrialState.COMPLETE in s for s in states) and any(TrialState.RUNNING in s for s in states):
            break
    workers = _children(builder.pid)
    assert len(workers) == 2, workers
    builder.kill()
    builder.wait()
    while any(_running(w) for w in workers):  # before fix60 the long pass's worker trained on, orphaned
        assert time.monotonic() < until, [w for w in workers if _running(w)]
        time.sleep(0.2)
    main = next(n for n, ts in _studies(out / "groundtruth.journal").items() if any(t.state == TrialState.COMPLETE for t in ts))
    finished = {(t.user_attrs["arch_id"], t.user_attrs["seed"], t.number) for t in _studies(out / "groundtruth.journal")[main] if t.state == TrialState.COMPLETE}  # fmt: skip
    logs = "".join(p.read_text() for p in (out / "logs").iterdir())
    assert "the command that started it ended" in logs, logs

    # the same command without the long pass that cannot end (with it, this one would run for good too)
    again = subprocess.run([*cmd, "--long-archs", "0"], env=_env(), capture_output=True, text=True, timeout=WAIT_S)
    assert again.returncode == 0, again.stderr
    done = {(t.user_attrs["arch_id"], t.user_attrs["seed"], t.number) for t in _studies(out / "groundtruth.journal")[main] if t.state == TrialState.COMPLETE}  # fmt: skip
    assert len(done) == 10 == len({(a, s) for a, s, _ in done})  # 5 architectures x 2 seeds, each trained once
    assert finished <= done  # finished before the kill: kept, not trained again
