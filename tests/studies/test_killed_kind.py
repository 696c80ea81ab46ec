"""A trial failed because its worker is gone records ``fail_kind`` "killed" where it is failed (fix57): by the repair
(its process gone, or its journal heartbeat file) and by a database's lapsed heartbeat. Before, nothing stored it: the
retry of failed architectures (nas_proxy.search.retry) read it out of the ``fail_reason``'s words. A study of an earlier
version, whose such trials record only the reason, is still read so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState

from nas_proxy.search.retry import FAIL_KIND_ATTR, KILLED, fail_kind, retry_failed
from nas_proxy.studies import heartbeat
from nas_proxy.studies.heartbeat import LAPSED, BeatingStorage, RetryLapsedTrial
from nas_proxy.studies.identity import worker_tag
from nas_proxy.studies.repair import DIED, fail_dead_trials
from nas_proxy.studies.requeue import mark_drawn
from nas_proxy.studies.storage import open_storage
from tests import warm

DEPTH = optuna.distributions.IntDistribution(0, 9)


def _dead_pid() -> int:
    dead = warm.Popen([sys.executable, "-c", "pass"], stdout=subprocess.DEVNULL)
    dead.wait()  # a process id no longer running: a killed worker's
    return dead.pid


def _lapsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[BeatingStorage, SimpleNamespace]:
    """A SQLite storage that beats (grace 10 s) and re-queues as a search's does, judged by a clock the test moves
    (``moved.ahead`` seconds: no real time counts)."""
    moved = SimpleNamespace(ahead=0.0)
    moved.monotonic = lambda: 1000.0 + moved.ahead
    monkeypatch.setattr(heartbeat, "time", moved)
    storage = BeatingStorage(
        f"sqlite:///{tmp_path / 's.db'}",
        heartbeat_interval=1,
        grace_period=10,
        heartbeat_stale_trial_callback=RetryLapsedTrial(max_retry=2),
    )
    return storage, moved


def test_a_dead_workers_trial_records_killed_and_its_copy_does_not(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "j.log"), "s")[0]
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask({"depth": DEPTH})
    for key, value in {**worker_tag(), "worker_pid": _dead_pid()}.items():
        trial.set_user_attr(key, value)
    trial.set_user_attr("arch_id", "a0")
    assert fail_dead_trials(study, storage) == [0]
    failed, copy = study.trials
    assert failed.state == TrialState.FAIL and DIED in failed.user_attrs["fail_reason"]
    assert failed.user_attrs[FAIL_KIND_ATTR] == KILLED and fail_kind(failed) == KILLED
    assert copy.state == TrialState.WAITING and FAIL_KIND_ATTR not in copy.user_attrs  # its failure is not the copy's


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_lapsed_heartbeat_records_killed_and_its_copy_does_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage, moved = _lapsing(tmp_path, monkeypatch)
    study = optuna.create_study(study_name="c", storage=storage)
    trial = study.ask({"depth": DEPTH})
    trial.set_user_attr("arch_id", "a0")
    storage.record_heartbeat(trial._trial_id)
    assert fail_dead_trials(study, storage) == []  # first seen
    moved.ahead = 11.0  # past the grace period
    fail_dead_trials(study, storage)
    failed, copy = study.trials
    assert failed.state == TrialState.FAIL and failed.user_attrs["fail_reason"].startswith(LAPSED)
    assert failed.user_attrs[FAIL_KIND_ATTR] == KILLED
    assert copy.state == TrialState.WAITING and FAIL_KIND_ATTR not in copy.user_attrs


def test_a_killed_trial_of_an_earlier_version_is_read_by_its_reason(tmp_path: Path) -> None:
    """A study of an earlier version: no kind, the reason alone (the repair's or the heartbeat's words)."""
    study = optuna.create_study()
    reasons = ["worker h:1 died during the trial", f"{LAPSED} for over 60 s (the grace period): its worker died", "RuntimeError: x"]
    for depth, reason in enumerate(reasons):
        attrs = {"arch_id": f"a{depth}", "fail_reason": reason}
        study.add_trial(
            optuna.trial.create_trial(state=TrialState.FAIL, params={"depth": depth}, distributions={"depth": DEPTH}, user_attrs=attrs)
        )
    assert [fail_kind(t) for t in study.trials] == [KILLED, KILLED, None]
    assert retry_failed(study) == [0, 1, 2]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_lapsed_draw_cut_short_is_not_queued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A search's trial whose heartbeat lapsed while it recorded its parameters (some, no arch_id) is no draw: not
    queued with what it had (Optuna's retry queued it so, and its copy drew the rest anew), as the repair rules."""
    storage, moved = _lapsing(tmp_path, monkeypatch)
    study = optuna.create_study(study_name="c", storage=storage)
    mark_drawn(study, "arch_id")  # as a search's study is
    cut = study.ask({"depth": DEPTH})  # one parameter of several stored, then the worker lost
    whole = study.ask({"depth": DEPTH})
    whole.set_user_attr("arch_id", "a1")
    for trial in (cut, whole):
        storage.record_heartbeat(trial._trial_id)
    fail_dead_trials(study, storage)
    moved.ahead = 11.0
    fail_dead_trials(study, storage)
    assert [t.state for t in study.trials[:2]] == [TrialState.FAIL, TrialState.FAIL]
    assert [t.params for t in study.get_trials(states=(TrialState.WAITING,))] == [whole.params]  # (Optuna's copy: params set)
