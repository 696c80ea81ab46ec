"""Studies on a real PostgreSQL server (a throwaway one per session, tests/pg.py): the URL as users
write it, a search that resumes and that a worker joins, and a worker SIGKILLed mid-trial whose trial
the surviving processes retry in the same run, for a search and for a correlation's ground truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import cast

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from nas_proxy.cli import main
from nas_proxy.correlate import CorrelateConfig, GroundTruthConfig, from_space
from nas_proxy.correlate.config import data_ref
from nas_proxy.groundtruth.study import enqueue, open_study
from nas_proxy.search.study import create_or_check
from nas_proxy.search.target import open_proxy
from nas_proxy.spaces import get_space
from nas_proxy.studies.storage import StorageError, open_storage
from tests import pg, warm
from tests.gate import FULL_TRAINING, Gate
from tests.pg import PostgresServer
from tests.search.test_search import FAST_ARGS, SMALL_SPACE
from tests.search.test_search import config as search_config

NASPROXY = [sys.executable, "-m", "nas_proxy"]
# a dead worker's trial is stale 3 s after its last heartbeat (the defaults, 60 s and 180 s, are for real runs)
HEARTBEAT = ["--heartbeat-interval", "1", "--grace", "3"]
WAIT_SECONDS = 540  # a safety net that fails a wedged drill on 2 busy cores; nothing has to last this long


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """A new database on the session's server, as ``postgresql://user@host:port/db`` (no driver named)."""
    return postgres.new_database()


def load(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(url, name)[0])


def trials(storage: optuna.storages.BaseStorage, name: str, *states: TrialState) -> list[FrozenTrial]:
    """The study's trials (those in ``states``, when given); none while the study does not exist."""
    try:
        return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False, states=states or None)
    except KeyError:
        return []


def command(process: subprocess.Popen[str]) -> str:
    """Which ``nasproxy`` command ``process`` runs (search, worker, correlate)."""
    return cast(list[str], process.args)[len(NASPROXY)]


def nasproxy(*args: str, gate: Gate | None = None) -> subprocess.Popen[str]:
    """``nasproxy ARGS`` in a new process (another worker, as on another machine), its trainings held at ``gate``."""
    return warm.Popen([*NASPROXY, *args], text=True, stderr=subprocess.PIPE, env=gate.env() if gate else None)


def finish(process: subprocess.Popen[str]) -> None:
    _, err = process.communicate(timeout=WAIT_SECONDS)
    assert process.returncode == 0, f"{command(process)} exited with {process.returncode}: {err}"


def kill_a_training_worker(
    storage: optuna.storages.BaseStorage,
    name: str,
    gate: Gate,
    workers: list[subprocess.Popen[str]],
    others: tuple[subprocess.Popen[str], ...],
) -> int:
    """SIGKILL the first of ``workers`` once it and every process of ``others`` are in a training of
    study ``name``, held at ``gate`` (so none of them can repair it merely by starting later), then
    open the gate; the killed trial's number."""
    everyone = [*workers, *others]
    gate.wait(everyone, [p.pid for p in everyone])
    victim = workers.pop(0)
    victim.kill()  # SIGKILL: no chance to clean up, the trial stays RUNNING
    victim.wait()  # reaped: its pid no longer looks alive
    died = [t for t in trials(storage, name, TrialState.RUNNING) if t.user_attrs.get("worker_pid") == victim.pid]
    assert len(died) == 1, f"worker {victim.pid} was not killed inside exactly one trial: {died}"
    gate.open()
    return died[0].number


def retried_once_in_the_same_run(done: list[FrozenTrial], dead: int, complete: int) -> None:
    """``complete`` trials COMPLETE, the killed trial ``dead`` FAILED and retried exactly once, and
    no other trial failed or left open (trials that trained nothing aside: beyond the budget, or a
    ground-truth worker finding the queue emptied by another)."""
    kept = [t for t in done if not (t.user_attrs.get("beyond_budget") or t.user_attrs.get("idle"))]
    states = sorted(t.state.name for t in kept)
    assert states == ["COMPLETE"] * complete + ["FAIL"], states
    failed = next(t for t in kept if t.state == TrialState.FAIL)
    assert failed.number == dead
    retries = [t for t in kept if t.user_attrs.get("retry_of", t.system_attrs.get("failed_trial")) == dead]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE, retries
    assert retries[0].params == failed.params and retries[0].user_attrs.get("arch_id") == failed.user_attrs.get("arch_id")


def test_without_a_server_the_tests_skip_but_under_ci_they_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg, "find_bindir", lambda: None)  # as on a machine without Debian's postgresql
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"no PostgreSQL server binaries.*apt-get install postgresql"), pg.throwaway_server():
        pass
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"no PostgreSQL server binaries.*CI=true"), pg.throwaway_server():
        pass


def test_a_plain_postgresql_url_opens_with_psycopg_3(pg_url: str) -> None:
    storage, url = open_storage(pg_url, "u")
    assert url == pg_url.replace("postgresql://", "postgresql+psycopg://", 1)
    assert storage.engine.dialect.driver == "psycopg"  # type: ignore[attr-defined]
    heroku = pg_url.replace("postgresql://", "postgres://", 1)  # libpq's short spelling works too
    assert open_storage(heroku, "u")[1] == url
    with pytest.raises(StorageError, match=r"driver psycopg2 is not installed; pip install psycopg2-binary"):
        open_storage(pg_url.replace("postgresql://", "postgresql+psycopg2://", 1), "u")  # an explicit driver is kept as given


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_heartbeat_the_database_refused_is_skipped_and_the_next_one_recorded(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database away for a moment (restarted, a dropped connection): Optuna's heartbeat thread ended at
    its first error, with a traceback on stderr, and the trial, its worker alive, was retried by a survivor
    after the grace period (drill40: pg_ctl stop -m immediate, then start, during a search)."""
    from optuna.exceptions import StorageInternalError
    from optuna.storages import RDBStorage
    from optuna.storages._heartbeat import HeartbeatThread

    storage = open_storage(pg_url, "h", 1, 2).backend
    assert isinstance(storage, RDBStorage)
    trial = optuna.create_study(storage=storage, study_name="h").ask()
    storage.heartbeat_interval = 0.01  # type: ignore[assignment]  # (at least 1 s through the constructor: no test waits that long)
    beats: list[int] = []
    stop = threading.Event()
    recorded = RDBStorage.record_heartbeat

    def flaky(self: RDBStorage, trial_id: int) -> None:
        beats.append(trial_id)
        if len(beats) == 1:
            raise StorageInternalError("server closed the connection unexpectedly")
        recorded(self, trial_id)
        stop.set()  # the second beat was recorded: Optuna's loop ends at its next wait

    monkeypatch.setattr(RDBStorage, "record_heartbeat", flaky)
    HeartbeatThread._record_heartbeat(trial._trial_id, storage, stop)  # the thread's body, run here: an error would raise here
    assert beats == [trial._trial_id] * 2


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_connection_the_server_ended_is_opened_again_not_a_failed_trial(pg_url: str) -> None:
    """The server ends a worker's connection mid-trial (``pg_terminate_backend``, an idle timeout, a dropped
    proxy): the trial's next storage call raised StorageInternalError, and the trial failed without a reason and
    was never retried, its candidate lost (drill42, ``search --workers 2`` with the default heartbeat)."""
    import psycopg

    storage = open_storage(pg_url, "k").backend
    trial = optuna.create_study(storage=storage, study_name="k").ask()  # its connection is in the pool now
    with psycopg.connect(pg_url, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    assert ended and all(ok for (ok,) in ended)
    trial.set_user_attr("after", 1)  # the next call of the trial: on a connection opened again
    trial.study.tell(trial, 1.0)
    assert [(t.state, t.user_attrs) for t in trials(storage, "k")] == [(TrialState.COMPLETE, {"after": 1})]


def test_a_newer_optuna_schema_says_the_optuna_it_needs_and_a_missing_database_is_the_servers_word(pg_url: str) -> None:
    """fix43a: a database a newer Optuna made read "Please execute `$ optuna storage upgrade`", which cannot help
    (it upgrades old schemas); and the server's refusals came in the driver's words with SQLAlchemy's link."""
    import psycopg

    open_storage(pg_url, "n")  # Optuna's tables, then a newer Optuna's marks on them
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("UPDATE alembic_version SET version_num = 'v9.9.0.a'")
        admin.execute("UPDATE version_info SET library_version = '9.9.0'")
    with pytest.raises(
        StorageError, match=r"schema v9.9.0.a, made by Optuna 9.9.0; this nasproxy's Optuna \(.*pip install -U 'optuna>=9.9.0'"
    ):
        open_storage(f"{pg_url}?application_name=again", "n")  # another URL: this process checked pg_url's schema once
    host_port = pg_url.partition("@")[2].partition("/")[0]
    with pytest.raises(
        StorageError, match=rf"the PostgreSQL server at {host_port} refused the connection: database \"nowhere43\" does not exist$"
    ):
        open_storage(pg_url.rpartition("/")[0] + "/nowhere43", "n")
    with pytest.raises(StorageError) as e:  # a server that is there: its cause, and no question whether one listens
        open_storage(f"{pg_url}?sslmode=require", "n")
    assert str(e.value).endswith(
        f"cannot connect to the PostgreSQL server at {host_port}: server does not support SSL, but SSL was required"
    )


def test_a_missing_driver_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as on a machine without nasproxy[postgres]
    with pytest.raises(StorageError, match=r"driver psycopg is not installed; pip install 'nasproxy\[postgres\]'"):
        open_storage("postgresql://someone@127.0.0.1:1/db", "u")


def test_search_on_postgresql_resumes_and_a_worker_joins(
    pg_url: str, tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["search", "--synthetic", str(tiny_run), "--space", SMALL_SPACE, "--study", "pg", "--storage", pg_url, "--out", str(tmp_path)]
    assert main([*args, "--n-trials", "2", *FAST_ARGS]) == 0
    assert main([*args, "--n-trials", "3", *FAST_ARGS]) == 0  # resumes to the new total
    assert f"--storage {pg_url.replace('postgresql://', 'postgresql+psycopg://')}" in capsys.readouterr().out
    worker = nasproxy("worker", "--study", "pg", "--storage", pg_url, "--n-trials", "4", "--device", "cpu", "--quiet")
    finish(worker)
    study = load(pg_url, "pg")
    assert [(t.number, t.state) for t in study.trials] == [(n, TrialState.COMPLETE) for n in range(4)]
    assert [t.user_attrs["worker_pid"] for t in study.trials] == [os.getpid()] * 3 + [worker.pid]
    assert all(t.value is not None and 0 <= t.value <= 100 and t.user_attrs["arch_id"] for t in study.trials)


# drill tier: make test kills a search worker mid-trial on a journal (test_faults); PostgreSQL is run by the next test up
@pytest.mark.drill
def test_a_search_worker_killed_mid_trial_is_retried_in_the_same_run(pg_url: str, tiny_run: Path, tmp_path: Path) -> None:
    storage = open_storage(pg_url, "k")[0]
    cfg = search_config(tiny_run)
    space = get_space(SMALL_SPACE)
    study = create_or_check(storage, "k", cfg, open_proxy(cfg, tmp_path).fingerprint(space), 0)
    for spec in (space.specs(6) or [])[:4]:  # four different candidates: a process proposing one that another trains would wait for it
        study.enqueue_trial(space.params_of(spec))
    common = ["--study", "k", "--storage", pg_url, "--n-trials", "4", "--device", "cpu", "--quiet", *HEARTBEAT]
    gate = Gate(tmp_path / "gate")  # every training waits there until one worker is killed in its own
    # the study exists: the search and both workers start together and each takes a trial
    search_args = ["--synthetic", str(tiny_run), "--space", SMALL_SPACE, "--pruner", "none", "--out", str(tmp_path), *FAST_ARGS]
    search = nasproxy("search", *search_args, *common, gate=gate)
    workers = [nasproxy("worker", "--worker-index", str(k), *common, gate=gate) for k in (1, 2)]
    dead = kill_a_training_worker(storage, "k", gate, workers, others=(search,))
    for process in (search, *workers):
        finish(process)
    retried_once_in_the_same_run(trials(storage, "k"), dead, complete=4)


# drill tier: make test kills a ground-truth worker on a journal (test_faults) and repairs by heartbeat on a database (test_faults)
@pytest.mark.drill
def test_a_ground_truth_worker_killed_mid_training_is_retried_in_the_same_run(pg_url: str, tiny_run: Path, tmp_path: Path) -> None:
    truth = GroundTruthConfig(epochs=2, early=(1.0,))
    archs = from_space(get_space(SMALL_SPACE), 4, seed=0)  # what `correlate --sample --n-archs 4` draws
    ref, _ = data_ref(CorrelateConfig(space=SMALL_SPACE, synthetic=[str(tiny_run)], ground_truth=truth))
    opened = open_storage(pg_url, "gt")
    study, storage = open_study(opened, ref, truth), opened.backend
    enqueue(study, [(a.spec, 0) for a in archs])  # queued: correlate and both workers start together
    sample = ["--sample", "--space", SMALL_SPACE, "--n-archs", "4", "--synthetic", str(tiny_run), "--proxies", "params,flops"]
    protocol = ["--no-random-subset", "--ceiling", "0", "--full-epochs", str(truth.epochs), "--early", "1", "--bootstrap", "100"]
    # on one host, correlate sees the killed worker's pid gone and re-queues its training (no heartbeat needed)
    common = ["--device", "cpu", "--quiet"]
    gate = Gate(tmp_path / "gate", at=FULL_TRAINING)  # every training waits there until one worker is killed in its own
    correlate = nasproxy("correlate", *sample, *protocol, "--gt-storage", pg_url, "--out", str(tmp_path / "out"), *common, gate=gate)
    workers = [nasproxy("worker", "--study", study.study_name, "--storage", pg_url, *common, gate=gate) for _ in range(2)]
    dead = kill_a_training_worker(storage, study.study_name, gate, workers, others=(correlate,))
    for process in (correlate, *workers):
        finish(process)
    retried_once_in_the_same_run(trials(storage, study.study_name), dead, complete=4)
    assert {t.user_attrs["arch_id"] for t in trials(storage, study.study_name, TrialState.COMPLETE)} == {a.arch_id for a in archs}
    assert json.loads((tmp_path / "out" / "results.json").read_text())["proxies"]["params"]["n"] == 4
