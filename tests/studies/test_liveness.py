"""Whether a RUNNING trial's worker lives (nas_proxy.studies.liveness) and the repair of one whose worker died
(nas_proxy.studies.repair), on records as a stepped clock, another program or a hand edit leaves them."""

from __future__ import annotations

import datetime
import os
import socket
import subprocess
import time
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from nas_proxy.studies import liveness
from nas_proxy.studies.liveness import UNTAGGED_SECONDS
from nas_proxy.studies.repair import fail_dead_trials
from nas_proxy.studies.storage import open_storage
from tests import run_code


def clock(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The liveness module's ``time``: its monotonic clock, moved forward by ``ahead`` seconds on demand."""
    moved = SimpleNamespace(ahead=0.0)
    moved.monotonic = lambda: time.monotonic() + moved.ahead
    monkeypatch.setattr(liveness, "time", moved, raising=False)  # (raising: the module of before read no monotonic clock)
    return moved


def running(study: optuna.Study, started: datetime.datetime | None = None, **user_attrs: Any) -> int:
    """A RUNNING trial made in ``study`` as a worker made it (its start by that worker's clock); its number."""
    template = create_trial(state=TrialState.RUNNING, user_attrs=user_attrs)
    template.datetime_start = started or datetime.datetime.now()
    trial_id = study._storage.create_new_trial(study._study_id, template)
    return study._storage.get_trial_number_from_id(trial_id)


def test_an_untagged_trial_is_waited_for_on_the_judges_monotonic_clock_not_the_wall_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fix49b: a RUNNING trial that names no worker yet was dead once the judge's wall clock was UNTAGGED_SECONDS past
    the start its worker's wall clock wrote: a judge's clock stepped forward (NTP, a laptop resumed, a VM migrated),
    or a worker's host an hour behind, failed the live trial at once and queued it again while its worker trained it;
    a worker's clock ahead left a dead one waited for until the clocks met. Now it is judged by how long this process
    has seen it so, on its monotonic clock, which never steps and needs no other host's clock."""
    moved = clock(monkeypatch)
    storage = open_storage(str(tmp_path / "journal.log"), "u")[0]
    study = optuna.create_study(study_name="u", storage=storage)
    hour = datetime.timedelta(hours=1)
    behind, ahead = running(study, datetime.datetime.now() - hour), running(study, datetime.datetime.now() + hour)
    assert fail_dead_trials(study, storage) == []  # first seen now: their workers may be about to record themselves
    moved.ahead = UNTAGGED_SECONDS / 2
    assert fail_dead_trials(study, storage) == []
    assert [t.state for t in study.trials] == [TrialState.RUNNING] * 2
    moved.ahead = UNTAGGED_SECONDS
    assert fail_dead_trials(study, storage) == [behind, ahead]  # seen untagged for UNTAGGED_SECONDS: dead, whatever their start


# worker_pid as a journal another program wrote, or a hand edit, may hold it: none names a process
NOT_PROCESS_IDS = ["abc", 1.5, -3, 0, -1, 2**70, None, [1], True, {"pid": 1}]


@pytest.mark.parametrize("pid", NOT_PROCESS_IDS, ids=repr)
def test_a_worker_pid_that_is_no_process_id_is_an_unknown_owner_never_signalled(
    pid: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """fix49b: the repair did int(worker_pid): "abc", a list or a dict raised out of it and ended the command, 1.5 and
    true judged process 1, -3, 0 and -1 were handed to os.kill (a process group, this process's group, every process),
    2**70 raised OverflowError. Such a trial's owner is unknown: it is waited for as one that names no worker yet
    (UNTAGGED_SECONDS seen so), then failed, its reason naming what it recorded, and queued again; no process is asked
    about, and nothing is printed."""
    moved = clock(monkeypatch)
    asked: list[object] = []
    kill = os.kill

    def judged(pid: object, sig: int) -> None:  # every process id asked about; a real one asked as before
        asked.append(pid)
        if isinstance(pid, int) and pid > 0:
            kill(pid, sig)

    monkeypatch.setattr(os, "kill", judged)
    storage = open_storage(str(tmp_path / "journal.log"), "p")[0]
    study = optuna.create_study(study_name="p", storage=storage)
    number = running(study, worker_host=socket.gethostname(), worker_pid=pid, arch_id="a")
    capfd.readouterr()  # (Optuna's line: the study made)
    assert fail_dead_trials(study, storage) == []  # its owner unknown: waited for, as one not recorded yet
    moved.ahead = UNTAGGED_SECONDS
    assert fail_dead_trials(study, storage) == [number]
    assert asked == []
    failed = study.trials[number]
    shown = "(not recorded yet)" if pid is None else f"(unknown: its worker_pid {pid!r} is no process id)"
    assert failed.state == TrialState.FAIL and f"worker {shown} died during the trial" in failed.user_attrs["fail_reason"]
    (copy,) = study.get_trials(states=(TrialState.WAITING,))
    assert copy.user_attrs["retry_of"] == number and copy.user_attrs["arch_id"] == "a"
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("retries", ["abc", -1, 1.5, None])
def test_a_retry_count_or_kill_count_that_is_no_count_is_repaired_as_unknown(retries: object, tmp_path: Path) -> None:
    """fix49b: int() of a hand-edited ``retries`` ("abc") or out-of-memory count raised out of the repair; now an unknown
    retry count is none (the death counted from there) and an unknown kill count suspects the candidate."""
    storage = open_storage(str(tmp_path / "journal.log"), "r")[0]
    study = optuna.create_study(study_name="r", storage=storage)
    number = running(study, worker_oom_kills="many", retries=retries, arch_id="a")
    assert fail_dead_trials(study, storage, untagged_seconds=-1) == [number]
    (copy,) = study.get_trials(states=(TrialState.WAITING,))
    assert copy.user_attrs["retries"] == 1 and copy.user_attrs["retry_of"] == number  # counted: the kill count unknown


def test_a_database_trial_naming_a_pid_but_no_host_is_failed_for_its_lapsed_heartbeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fix49b: the fail_reason of a trial whose heartbeat lapsed read attrs['worker_host'] wherever worker_pid was
    recorded: a row without it (a hand edit, another program) raised KeyError out of the repair, every time."""
    from nas_proxy.studies import heartbeat
    from nas_proxy.studies.heartbeat import LAPSED, BeatingStorage

    moved = SimpleNamespace(ahead=0.0)
    moved.monotonic = lambda: time.monotonic() + moved.ahead
    monkeypatch.setattr(heartbeat, "time", moved)
    storage = BeatingStorage(f"sqlite:///{tmp_path / 'db.sqlite'}", heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(study_name="h", storage=storage)
    number = running(study, worker_pid="abc", arch_id="a")
    assert fail_dead_trials(study, storage) == []  # its heartbeat first seen now
    moved.ahead = 3.0  # past the grace period, seen unchanged
    fail_dead_trials(study, storage)
    failed = study.trials[number]
    assert failed.state == TrialState.FAIL and failed.user_attrs["fail_reason"].startswith(f"{LAPSED} for over 2 s")
    assert "(None, pid 'abc')" in failed.user_attrs["fail_reason"]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_database_trial_retried_for_its_lapsed_heartbeat_names_no_worker_until_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fix49b: Optuna's retry of a trial whose heartbeat lapsed copied all its user attributes, the dead worker's too:
    the copy, taken by a live worker, was RUNNING under the dead worker's pid until its new worker wrote its own, and a
    judge on the dead worker's host found that pid gone and failed the live trial (queued and trained again)."""
    from nas_proxy.studies import heartbeat
    from nas_proxy.studies.heartbeat import BeatingStorage, RetryLapsedTrial
    from nas_proxy.studies.identity import WORKER_ATTRS, worker_tag
    from nas_proxy.studies.liveness import is_dead
    from nas_proxy.studies.processes import process_start

    moved = SimpleNamespace(ahead=0.0)
    moved.monotonic = lambda: time.monotonic() + moved.ahead
    monkeypatch.setattr(heartbeat, "time", moved)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    storage = BeatingStorage(url, heartbeat_interval=1, grace_period=2, heartbeat_stale_trial_callback=RetryLapsedTrial(max_retry=2))
    study = optuna.create_study(study_name="h", storage=storage)
    dead = subprocess.Popen(["sleep", "600"])
    tag = {**worker_tag(), "worker_pid": dead.pid, "worker_start": process_start(dead.pid)}  # a worker of this host
    dead.kill()
    dead.wait()
    number = running(study, arch_id="a", worker_heartbeat="w.beat", worker_oom_kills=0, worker_crash_dump="", worker_thread="0x1", **tag)
    assert set(WORKER_ATTRS) <= set(study.trials[number].user_attrs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # as a judge on another host does (it cannot judge the worker's process)
        moved.ahead = 3.0  # past the grace period, its heartbeat unchanged
        optuna.storages.fail_stale_trials(study)
    assert study.trials[number].state == TrialState.FAIL
    (copy,) = study.get_trials(states=(TrialState.WAITING,))
    assert not set(WORKER_ATTRS) & set(copy.user_attrs) and copy.user_attrs["arch_id"] == "a"
    taken = study.ask()  # a live worker takes the copy: RUNNING, its own identity not written yet
    assert taken.number == copy.number and not is_dead(study.trials[copy.number])


def test_an_untagged_trial_that_finishes_before_it_is_judged_is_forgotten(tmp_path: Path) -> None:
    """fix50b: the judge's note of when it first saw a trial untagged stayed for a trial that finished (or whose study
    was deleted) before it was judged dead: a long-lived process (a worker running thousands of trials, a dashboard's
    judge) kept one for each. Now the judge's next look forgets those no longer RUNNING, and keeps a live one's."""
    storage = open_storage(str(tmp_path / "journal.log"), "f")[0]
    study = optuna.create_study(study_name="f", storage=storage)
    other = optuna.create_study(study_name="g", storage=storage)
    running(study), running(study), running(other)
    finished, live, elsewhere = (t._trial_id for t in (*study.trials, *other.trials))
    assert fail_dead_trials(study, storage) == [] and fail_dead_trials(other, storage) == []
    assert len(liveness._seen(storage)) == 3  # each first seen now, untagged
    storage.set_trial_state_values(finished, TrialState.COMPLETE, [1.0])
    assert fail_dead_trials(study, storage) == []
    assert sorted(k[0] for k in liveness._seen(storage)) == [live, elsewhere]  # the finished one forgotten, the other study's kept
    optuna.delete_study(study_name="g", storage=storage)
    assert fail_dead_trials(study, storage) == []
    assert [k[0] for k in liveness._seen(storage)] == [live]  # its study deleted: gone from the storage, forgotten


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
@pytest.mark.parametrize("client", [-1, 1], ids=["client-behind", "client-ahead"])
def test_a_database_trial_that_never_beat_is_timed_by_the_judges_monotonic_clock_not_its_workers_wall_clock(
    client: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fix50b: a database trial that never beat was aged by the database's now less its start, which Optuna writes by the
    client's clock (datetime.now()): a worker whose clock was an hour behind the database's had its live trial failed as
    soon as a judge had seen it for two heartbeat intervals (trained twice). Now it is stale once this process has seen it
    so for the grace period on its monotonic clock, whichever way the worker's clock is off."""
    import optuna.storages._rdb.storage as rdb

    from nas_proxy.studies import heartbeat
    from nas_proxy.studies.heartbeat import LAPSED, BeatingStorage

    real = datetime.datetime

    class Skewed(datetime.datetime):  # the client's wall clock, an hour off the database's
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> Skewed:
            t = real.now(tz) + client * datetime.timedelta(hours=1)
            return cls.fromtimestamp(t.timestamp(), tz)

    moved = SimpleNamespace(ahead=0.0)
    moved.monotonic = lambda: time.monotonic() + moved.ahead
    monkeypatch.setattr(heartbeat, "time", moved)
    storage = BeatingStorage(f"sqlite:///{tmp_path / 'db.sqlite'}", heartbeat_interval=1, grace_period=10)
    study = optuna.create_study(study_name="c", storage=storage)
    monkeypatch.setattr(rdb, "datetime", Skewed)
    trial = study.ask()  # RUNNING, started by the client's clock; its worker has not beaten yet
    monkeypatch.setattr(rdb, "datetime", real)
    assert fail_dead_trials(study, storage) == [] and study.trials[trial.number].state == TrialState.RUNNING  # first seen
    moved.ahead = 3.0  # three heartbeat intervals, within the grace period
    fail_dead_trials(study, storage)
    assert study.trials[trial.number].state == TrialState.RUNNING
    moved.ahead = 11.0  # past the grace period, seen without a beat
    fail_dead_trials(study, storage)
    failed = study.trials[trial.number]
    assert failed.state == TrialState.FAIL and failed.user_attrs["fail_reason"].startswith(f"{LAPSED} for over 10 s")


ASK_AND_END = """
import sys
import optuna
from nas_proxy.studies.identity import born_tagged
from nas_proxy.studies.storage import open_storage

storage = open_storage(sys.argv[1], "k").backend
born_tagged(storage)  # as a search or a queue's worker does
trial = optuna.load_study(study_name="k", storage=storage).ask()  # made RUNNING, or taken from the queue
print(trial.number, flush=True)
"""  # then the process ends, its trial RUNNING: as one killed before its next write


@pytest.mark.parametrize("how", ["made", "queued"])
def test_a_database_trial_whose_worker_ended_as_it_began_is_failed_at_once_on_its_host(how: str, tmp_path: Path) -> None:
    """fix50b: a database trial recorded its worker in writes of its own after the one that made it RUNNING (made by
    ask, or taken from the queue): a worker killed between them left a trial naming no worker, which the next search
    waited UNTAGGED_SECONDS (60 s) for. Now the worker is in the transaction that makes it RUNNING, and a judge on its host
    finds its process gone at once."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    storage = open_storage(url, "k").backend
    study = optuna.create_study(study_name="k", storage=storage)
    if how == "queued":
        study.enqueue_trial({"x": 1}, user_attrs={"arch_id": "a"})
    ended = run_code.run(ASK_AND_END, url, capture_output=True, check=True)  # a process of its own, forked warm
    number = int(ended.stdout)
    assert study.trials[number].state == TrialState.RUNNING
    assert fail_dead_trials(study, storage) == [number]  # its process gone: dead when first seen
    failed = study.trials[number]
    pid = failed.user_attrs["worker_pid"]
    assert pid != os.getpid() and f"worker {socket.gethostname()}:{pid} died during the trial" in failed.user_attrs["fail_reason"]
