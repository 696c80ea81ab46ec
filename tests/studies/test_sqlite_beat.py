"""A SQLite study's heartbeat (nas_proxy.studies.heartbeat on sqlite:///): one process at a time writes the file, but the
next may run under another host name (a shared disk, a container started again), where the last one's worker cannot be
judged by its process; before fix52a SQLite's storage beat not, and such a worker's trial was waited for forever."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import TrialState

from nas_proxy.studies import heartbeat
from nas_proxy.studies.heartbeat import LAPSED, BeatingStorage
from nas_proxy.studies.repair import fail_dead_trials
from nas_proxy.studies.storage import open_storage
from tests import run_code, warm
from tests.gate import Gate
from tests.search.test_search import SMALL_SPACE

# another host, as far as nasproxy can tell: its one word for a host is socket.gethostname()
ELSEWHERE = """
import socket, sys
socket.gethostname = lambda: "otherhost"
from nas_proxy.cli import main
sys.argv[0] = "nasproxy"
sys.exit(main())
"""
# fails a resumed search that never ends (before fix52a it waited for the dead worker's trial for good); it ends in about
# one and a half minutes on a machine loaded 5 times over: three trials of two epochs, and the grace period of 3 s
RESUME_SECONDS = 600


def test_opened_sqlite_beats_with_the_interval_and_grace_asked(tmp_path: Path) -> None:
    """Before fix52a open_storage gave SQLite a storage without heartbeats: --heartbeat-interval and --grace did nothing."""
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}", "s", heartbeat_interval=7, grace_period=20).backend
    assert (getattr(storage, "heartbeat_interval", None), getattr(storage, "grace_period", None)) == (7, 20)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_sqlite_heartbeat_is_not_aged_across_two_hosts_clocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's clock is the clock of each process's host: a worker's heartbeat an hour old by the judge's clock (the
    worker's an hour behind) was failed once seen unchanged for two heartbeat intervals, within its grace period; it is
    failed once seen unchanged for the grace period, as a server database's trial whose heartbeat looks young."""
    moved = SimpleNamespace(ahead=0.0)
    moved.monotonic = lambda: 1000.0 + moved.ahead  # the judge's clock, moved by the test alone (no real time counts)
    monkeypatch.setattr(heartbeat, "time", moved)
    storage = BeatingStorage(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=1, grace_period=10)
    study = optuna.create_study(study_name="c", storage=storage)
    trial = study.ask()
    storage.record_heartbeat(trial._trial_id)
    with _create_scoped_session(storage.scoped_session) as session:  # as a worker whose clock is an hour behind wrote it
        beat = models.TrialHeartbeatModel.where_trial_id(trial._trial_id, session, True)
        assert beat is not None
        beat.heartbeat -= datetime.timedelta(hours=1)
    assert fail_dead_trials(study, storage) == [] and study.trials[trial.number].state == TrialState.RUNNING  # first seen
    moved.ahead = 3.0  # three heartbeat intervals without a beat: within the grace period
    fail_dead_trials(study, storage)
    assert study.trials[trial.number].state == TrialState.RUNNING
    moved.ahead = 11.0  # past the grace period
    fail_dead_trials(study, storage)
    failed = study.trials[trial.number]
    assert failed.state == TrialState.FAIL and failed.user_attrs["fail_reason"].startswith(f"{LAPSED} for over 10 s")


def _trials(db: Path) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="h", storage=open_storage(f"sqlite:///{db}", "h").backend).trials


def test_a_sqlite_search_killed_on_another_host_is_resumed_here_retrying_its_trial_once(tmp_path: Path) -> None:
    """drill51: a search on sqlite:/// killed -9 under one host name, then run again under another, waited for the dead
    worker's trial for good (11 minutes, until stopped by hand): --heartbeat-interval 1 --grace 3 were taken and did
    nothing. Now the same command fails that trial once its heartbeat has lapsed for the grace period, retries its
    candidate once, and finishes the study; what the first run finished is kept and not trained again."""
    db = tmp_path / "h.db"
    args = ["search", "--proxy", "random-ipc2", "--dataset", "digits", "--space", SMALL_SPACE, "--study", "h"]
    args += ["--storage", f"sqlite:///{db}", "--n-trials", "3", "--epochs", "2", "--pruner", "none", "--sampler", "bruteforce"]
    args += ["--device", "cpu", "--quiet", "--heartbeat-interval", "1", "--grace", "3"]
    gate = Gate(tmp_path / "gate", let_through=1)  # trial 0 finishes, trial 1 is held in training
    env = gate.env()
    env["PYTHONPATH"] += os.pathsep + str(run_code.ROOT)  # `python -c ELSEWHERE` forked warm (no nasproxy imported before it)
    first = warm.Popen(
        [sys.executable, "-m", "tests.run_code", ELSEWHERE, *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        gate.wait([first], [first.pid])
    finally:
        os.kill(first.pid, signal.SIGKILL)  # (where the wait failed too: never left running)
        first.communicate()
    before = _trials(db)
    (held,) = [t for t in before if t.state == TrialState.RUNNING]
    finished = {t.number: t.values for t in before if t.state == TrialState.COMPLETE}
    assert held.user_attrs["worker_host"] == "otherhost" and "arch_id" in held.user_attrs and len(finished) == 1
    done = warm.run([sys.executable, "-m", "nas_proxy", *args], cwd=tmp_path, capture_output=True, text=True, timeout=RESUME_SECONDS)
    assert done.returncode == 0, done.stderr
    trials = _trials(db)
    lost = trials[held.number]
    assert lost.state == TrialState.FAIL and lost.user_attrs["fail_reason"].startswith(f"{LAPSED} for over 3 s"), lost.user_attrs
    assert "(otherhost, pid" in lost.user_attrs["fail_reason"]
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == held.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE, [(t.number, t.state) for t in trials]
    assert retries[0].user_attrs["arch_id"] == held.user_attrs["arch_id"]
    assert {n: t.values for n, t in enumerate(trials) if n in finished} == finished  # nothing finished lost
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    trained = [t.user_attrs["arch_id"] for t in complete if "repeat_of" not in t.user_attrs and "uncounted" not in t.user_attrs]
    assert len(trained) == len(set(trained)), trained  # no architecture trained twice
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
