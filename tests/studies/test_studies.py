"""The studies layer: the registry of study kinds that ``nasproxy worker`` dispatches on, studies
made before kinds were recorded, and the worker process entry point."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest

from nas_proxy.cli import main
from nas_proxy.errors import NasProxyError
from nas_proxy.studies import KIND_ATTR, WorkerOptions, kind_of
from nas_proxy.studies.guarded import Guarded, recording_failure, unmasked
from nas_proxy.studies.kinds import KINDS, get
from nas_proxy.studies.storage import open_storage
from nas_proxy.studies.workers import worker_command
from tests import run_code, warm


def test_every_built_in_kind_registers_itself_from_its_module() -> None:
    assert KINDS.names() == ["groundtruth", "promotion", "search"]  # a module each in nas_proxy/study_kinds/
    for name in KINDS.names():
        assert get(name).name == name


def test_a_kind_is_imported_from_its_one_file_when_first_asked_for() -> None:
    """No table names the kinds' modules: ``get`` imports ``nas_proxy/study_kinds/<name>.py``."""
    code = (
        "import sys; from nas_proxy.studies.kinds import KINDS, get; "
        "assert 'nas_proxy.study_kinds.promotion' not in sys.modules; "
        "print(KINDS.names(), get('promotion').name, 'nas_proxy.study_kinds.promotion' in sys.modules)"
    )
    done = run_code.run(code, capture_output=True, timeout=120)  # a fresh interpreter (forked warm): nothing of nasproxy imported
    assert done.stdout.strip() == "['groundtruth', 'promotion', 'search'] promotion True", done.stderr


def test_studies_made_before_kinds_were_recorded_keep_their_kind(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "journal.log"), "old")[0]
    old_search, old_truth = (optuna.create_study(study_name=n, storage=storage) for n in ("old", "truth"))
    old_search.set_user_attr("nasproxy", {"config": {}})
    old_truth.set_user_attr("nasproxy_groundtruth", {"data": {}, "protocol": {}})
    assert kind_of(old_search) == "search" and kind_of(old_truth) == "groundtruth"
    assert kind_of(optuna.create_study(study_name="foreign", storage=storage)) is None


def test_a_worker_refuses_a_study_of_an_unknown_kind_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    storage = tmp_path / "journal.log"
    study = optuna.create_study(study_name="z", storage=open_storage(str(storage), "z")[0])
    study.set_user_attr(KIND_ATTR, "telepathy")
    code = main(["worker", "--study", "z", "--storage", str(storage), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "unknown study kind 'telepathy'" in err[0] and "promotion" in err[0], err


def test_the_worker_entry_point_says_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    storage = tmp_path / "journal.log"
    optuna.create_study(study_name="there", storage=open_storage(str(storage), "there")[0])
    done = warm.run(worker_command("missing", str(storage), WorkerOptions(progress=False)), capture_output=True, text=True, timeout=240)
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1 and "no study 'missing'" in lines[0] and "there" in lines[0], done.stderr


def test_a_worker_started_by_a_command_hands_it_its_error_line(tmp_path: Path) -> None:
    # the command says it, or only its own line when it fails too (a full disk stopped `search --workers 2`
    # and its worker alike, and each printed a line: drill39)
    storage = tmp_path / "journal.log"
    optuna.create_study(study_name="there", storage=open_storage(str(storage), "there")[0])
    r, w = os.pipe()
    try:
        command = worker_command("missing", str(storage), WorkerOptions(progress=False), says_fd=w)
        done = warm.run(command, capture_output=True, text=True, timeout=240, pass_fds=(w,))
    finally:
        os.close(w)
    with os.fdopen(r) as said:
        line = said.read()
    assert done.returncode == 2 and done.stderr == "", done.stderr
    assert line.startswith("error: no study 'missing'") and "\n" not in line, line


def test_a_worker_of_a_training_queue_that_stopped_is_named_with_its_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # the ground truth's and promotion's workers (nas_proxy.studies.queue.train_all): the line the worker handed over,
    # said once by the command that goes on with the queue
    from types import SimpleNamespace

    from nas_proxy.studies import queue, workers

    said = "import os, sys; os.write(int(sys.argv[1]), b'error: no space left on device writing x'); sys.exit(4)"
    monkeypatch.setattr(workers, "worker_command", lambda *a, says_fd: [sys.executable, "-c", said, str(says_fd)])
    queued = iter([True])  # one queued training when the workers start, none after
    monkeypatch.setattr(queue, "waiting", lambda study: next(queued, False))
    study = optuna.create_study()
    storage = SimpleNamespace(url="unused", backend=None)
    with pytest.warns(workers.WorkerStoppedWarning, match=r"^worker process 1 \(pid \d+\) exited with code 4 \(error: no space left"):
        queue.train_all(study, storage, [], 2, WorkerOptions(progress=False), lambda: None, "trainings")  # type: ignore[arg-type]


def test_a_command_stopped_by_an_error_stops_its_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """drill44: search --workers 2, its disk remounted read-only while its last trial ran in the command's own process:
    that trial stayed RUNNING (its write failed), the command waited for its worker, and the worker for that trial (the
    budget held), for good. An error leaving worker_processes now stops the workers (SIGTERM), as a Ctrl-C does."""
    import signal

    from nas_proxy.files import FileWriteError
    from nas_proxy.studies import workers

    # a worker that, as a real one does, unblocks the signals it started with blocked (workers.start_held) and sleeps
    code = "import signal, time; signal.pthread_sigmask(signal.SIG_UNBLOCK, signal.valid_signals()); time.sleep(30)"
    monkeypatch.setattr(workers, "worker_command", lambda *a, says_fd: [sys.executable, "-c", code])
    with pytest.raises(FileWriteError), workers.worker_processes("s", "unused", [WorkerOptions(progress=False)]) as children:
        raise FileWriteError("cannot write x: read-only file system")
    assert children[0].returncode == -signal.SIGTERM  # (without: 0, after the worker's 30 s)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (NameError("name 'argparse' is not defined"), "NameError: name 'argparse' is not defined"),
        (MemoryError(), "out of memory: "),  # was "MemoryError: " (drill42: ulimit -v reached mid-search)
    ],
)
def test_a_trial_failing_with_an_unexpected_error_records_what_it_was(error: Exception, reason: str) -> None:
    # before, only a diverged loss and GPU memory had a reason: anything else showed "unknown error"
    study = optuna.create_study()

    def objective(trial: optuna.Trial) -> float:
        with recording_failure(trial):
            raise error

    study.optimize(objective, n_trials=1, catch=(Exception,))
    assert study.trials[0].user_attrs["fail_reason"].startswith(reason)


def test_an_interruption_while_optuna_stores_a_trial_is_raised_as_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # Optuna 5.1's _run_trial reads updated_state in a finally: a KeyboardInterrupt inside its tell
    # surfaced as "UnboundLocalError: updated_state", which the CLI printed as an internal error
    from optuna.study import _optimize

    def interrupted(**kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_optimize, "_tell_with_warning", interrupted)
    study = optuna.create_study()
    with pytest.raises(KeyboardInterrupt), unmasked():
        study.optimize(lambda trial: 1.0, n_trials=1)


@pytest.mark.parametrize("ends", ["returns", "raises"])
def test_a_worker_whose_trial_was_failed_and_requeued_meanwhile_goes_on(ends: str) -> None:
    """A worker stopped past the heartbeat's grace period (SIGSTOP, then SIGCONT): a survivor failed its
    trial and re-queued it, and its tell was refused ("Cannot tell a FAIL trial", or Optuna's "Should not
    reach." over it when the objective returned), which ended the worker with an internal error
    (drill40, PostgreSQL). Its result is dropped (the re-queued copy trains the candidate) and it goes on."""
    study = optuna.create_study()

    def objective(trial: optuna.Trial) -> float:
        study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)  # what the survivor did
        if ends == "raises":
            trial.set_user_attr("accuracy", 1.0)  # a record written after the thaw: refused too
        return 1.0

    guarded = Guarded(objective)
    with unmasked(guarded):
        study.optimize(guarded, n_trials=1, catch=(Exception,))
    study.optimize(Guarded(lambda trial: 2.0), n_trials=1)  # and the next trial runs
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE"]


def test_a_trial_whose_process_ran_out_of_memory_is_queued_again_and_the_study_stops() -> None:
    """drill42: ``prlimit --as`` mid-search: every trial it started failed with MemoryError, each candidate lost (the
    rerun trained others). Now the first stops the study, its candidate queued again; a third time it fails for good."""
    from nas_proxy.errors import MemoryLimitError

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_int("width", 1, 10**6)
        raise MemoryError

    for _ in range(3):  # the same command three times
        guarded = Guarded(objective)
        with unmasked(guarded):
            study.optimize(guarded, n_trials=5, catch=(Exception,))
        with pytest.raises(MemoryLimitError, match=r"^out of memory: "):
            guarded.raise_stop()
    first, fourth = study.trials[0].params, study.trials[3].params
    # retried MAX_RETRY times, the first candidate fails for good (it may be its doing) and the study goes on to the next
    assert [(t.state.name, t.params, t.user_attrs.get("retries")) for t in study.trials] == [
        ("FAIL", first, None),
        ("FAIL", first, 1),
        ("FAIL", first, 2),
        ("FAIL", fourth, None),
        ("WAITING", {}, 1),
    ]
    assert first != fourth and study.trials[4].system_attrs["fixed_params"] == fourth


def _storage_failing_once(message: str) -> Callable[[optuna.Trial], float]:
    """An objective whose first trial's storage write the database fails (``message``); later trials score their width."""
    failing = [True]

    def objective(trial: optuna.Trial) -> float:
        width = trial.suggest_int("width", 1, 10**6)
        if failing.pop() if failing else False:
            raise optuna.exceptions.StorageInternalError(message)
        return float(width)

    return objective


def test_a_trial_whose_storage_write_failed_is_queued_again_and_the_study_stops() -> None:
    """drill42 left this: a write of the trial's that the database failed (StorageInternalError: a serialisation
    failure, a database away for longer than a reconnect) failed the trial as if it were the candidate's, and the
    candidate was lost to the sampler. Now the study stops in storage_lost's one line, the candidate queued again,
    uncounted (the database's doing), and the same command trains it."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    objective = _storage_failing_once("the database went away")
    guarded = Guarded(objective)
    with unmasked(guarded):
        study.optimize(guarded, n_trials=5, catch=(Exception,))
    with pytest.raises(NasProxyError, match=r"^the study's storage failed while a trial was stored: the database went away"):
        guarded.raise_stop()
    first = study.trials[0].params
    assert [(t.state.name, t.user_attrs.get("retries")) for t in study.trials] == [("FAIL", None), ("WAITING", 0)]
    guarded = Guarded(objective)  # the same command again, the database back
    with unmasked(guarded):
        study.optimize(guarded, n_trials=1, catch=(Exception,))
    guarded.raise_stop()
    assert study.trials[1].state.name == "COMPLETE" and study.trials[1].params == first


def test_a_trial_whose_storage_took_neither_its_write_nor_its_copy_stays_running_for_the_next_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """drill43: PostgreSQL's disk full mid-search: the trial's write failed, and so did its queued copy (a new row),
    while Optuna's FAIL (an update in place) got in: the candidate was lost (the rerun trained two others). Now the
    trial is left RUNNING, and the next run, its worker gone, fails it with a reason and trains the same candidate."""
    from nas_proxy.studies import repair, requeue

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    objective = _storage_failing_once("could not extend file: No space left on device")

    def full(*args: object, **kwargs: object) -> None:
        raise optuna.exceptions.StorageInternalError("could not extend file: No space left on device")

    with monkeypatch.context() as m:
        m.setattr(requeue, "enqueue_once", full)
        guarded = Guarded(objective)
        with pytest.raises(NasProxyError, match=r"^the study's storage failed while a trial was stored"), unmasked(guarded):
            study.optimize(guarded, n_trials=5, catch=(Exception,))
    first = study.trials[0].params
    assert [t.state.name for t in study.trials] == ["RUNNING"]  # not FAIL: nothing says why, nor queues it
    assert repair.fail_dead_trials(study, study._storage) == [0]  # the next run: its worker (here: no longer running it) gone
    guarded = Guarded(objective)
    with unmasked(guarded):
        study.optimize(guarded, n_trials=1, catch=(Exception,))
    guarded.raise_stop()
    assert study.trials[0].state.name == "FAIL" and study.trials[0].user_attrs["fail_reason"]
    assert study.trials[1].state.name == "COMPLETE" and study.trials[1].params == first


GIB = 2**30


@pytest.mark.parametrize(
    ("asked", "used", "here"),
    [
        (41_716, 4 * GIB - 20_000, True),  # a checkpoint refused at the limit (drill42): the process's, queued again
        (GIB, 3.5 * GIB, True),  # half the limit or less, past it with what the process held
        (GIB, None, True),  # (its usage unread)
        (72 * GIB, 3 * GIB, False),  # a candidate too large for the machine: its trial fails, as without a limit
        (3 * GIB, GIB, False),  # more than half the limit: the candidate's
        (GIB, GIB, False),  # refused below the limit: the machine's, not the limit's
    ],
)
def test_only_a_request_the_candidate_alone_would_fit_blames_the_process_s_memory_limit(
    asked: int, used: float | None, here: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fix42c: under any ``ulimit -v`` (a cluster's RLIMIT_AS on every job) a candidate too large for the machine
    stopped the search and was queued again: the user ran the command three times before it failed for good."""
    import resource

    from nas_proxy.studies import guarded
    from nas_proxy.studies.guarded import out_of_memory_here

    monkeypatch.setattr(resource, "getrlimit", lambda which: (4 * GIB, resource.RLIM_INFINITY))
    monkeypatch.setattr(guarded, "address_space_used", lambda: None if used is None else int(used))
    refused = RuntimeError(f"DefaultCPUAllocator: can't allocate memory: you tried to allocate {asked} bytes.")
    assert (out_of_memory_here(refused) is not None) == here
    assert out_of_memory_here(MemoryError()) is not None  # Python's own allocation: no size to judge, the process's
    assert out_of_memory_here(RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB")) is None


def test_a_database_gone_while_a_trial_is_stored_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # drill40: PostgreSQL stopped for 17 s during a search's trial: its tell and Optuna's read-back failed, and
    # Optuna's finally turned that into "internal error: UnboundLocalError: ... 'updated_state'"
    from optuna.exceptions import StorageInternalError
    from optuna.study import _optimize

    def gone(*args: object, **kwargs: object) -> None:
        try:
            raise OSError("connection refused")  # what the driver says
        except OSError as e:
            raise StorageInternalError("An exception is raised during the commit.") from e

    study = optuna.create_study()

    def objective(trial: optuna.Trial) -> float:
        monkeypatch.setattr(study._storage, "get_trial", gone)  # the database goes away while it trains
        return 1.0

    monkeypatch.setattr(_optimize, "_tell_with_warning", gone)
    lost = r"storage failed while a trial was stored: connection refused; .* run the same command again"
    with pytest.raises(NasProxyError, match=lost), unmasked():
        study.optimize(objective, n_trials=1)


def test_a_storage_lost_line_says_the_database_s_words_not_its_sql() -> None:
    """drill43: a PostgreSQL server out of disk made the line quote SQLAlchemy's text, cut at 300 characters: the
    INSERT statement and its parameters; the driver's own words ("No space left on device") are the cause."""
    from sqlalchemy.exc import OperationalError

    from nas_proxy.studies.guarded import storage_lost

    try:
        raise OperationalError(
            "INSERT INTO trial_values (trial_id, objective, value) VALUES (%s, %s, %s)",
            (1, 0, 0.5),
            OSError("could not extend file: No space left on device"),
        )
    except OperationalError as e:
        said = str(storage_lost(e))
    assert said.startswith("the study's storage failed while a trial was stored: could not extend file: No space left on device; ")
    assert "INSERT" not in said


def test_a_study_found_again_adds_nothing_to_the_journal(tmp_path: Path) -> None:
    """What calibrate's and the ground truth's studies are opened with: create_study(load_if_exists=True)
    logged a creation in a journal at every call, so a finished command run again grew it."""
    from nas_proxy.studies.storage import maximizing_study, open_storage

    journal = tmp_path / "journal.log"
    made = maximizing_study(open_storage(str(journal), "s").backend, "s")
    first = journal.read_bytes()
    again = maximizing_study(open_storage(str(journal), "s").backend, "s")
    assert journal.read_bytes() == first and again.direction == made.direction == optuna.study.StudyDirection.MAXIMIZE


def _beating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, optuna.Study, Callable[[str], None], list[float]]:
    """A heartbeat storage (SQLite standing in for a server, whose one clock dates every heartbeat: its ages read as a
    server's are, not ignored as SQLite's own, written by each host's clock; interval 1 s, grace 3 s), a study,
    ``beat(offset)`` that dates its trials' heartbeats by the database's clock (``'-1 hour'``: as after the clock moved
    forward an hour), and the process's monotonic clock to move."""
    import sqlalchemy

    from nas_proxy.studies import heartbeat
    from nas_proxy.studies.heartbeat import BeatingStorage, RetryLapsedTrial

    clock = [1000.0]
    monkeypatch.setattr(heartbeat, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(BeatingStorage, "_own_clocks", False)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    storage = BeatingStorage(url, heartbeat_interval=1, grace_period=3, heartbeat_stale_trial_callback=RetryLapsedTrial(2))
    engine = sqlalchemy.create_engine(url)

    def beat(offset: str) -> None:
        with engine.begin() as db:
            db.execute(sqlalchemy.text(f"UPDATE trial_heartbeats SET heartbeat = datetime('now', '{offset}')"))

    return storage, optuna.create_study(storage=storage), beat, clock


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_trial_failed_for_a_lapsed_heartbeat_says_why_and_its_retry_does_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """drill40: a trial whose worker stopped beating was failed by Optuna with no fail_reason (the dashboard
    and search's summary said "unknown error")."""
    from optuna.storages import fail_stale_trials

    from nas_proxy.studies.heartbeat import LAPSED

    storage, study, _, clock = _beating(tmp_path, monkeypatch)
    trial = study.ask()
    trial.set_user_attr("worker_pid", 4242)
    trial.set_user_attr("worker_host", "node1")
    storage.record_heartbeat(trial._trial_id)
    fail_stale_trials(study)  # seen beating
    clock[0] += 3.5  # no beat for longer than the grace period
    fail_stale_trials(study)
    failed, retry = study.trials
    assert failed.state.name == "FAIL" and retry.state.name == "WAITING"
    assert failed.user_attrs["fail_reason"].startswith(f"{LAPSED} for over 3 s") and "node1, pid 4242" in failed.user_attrs["fail_reason"]
    assert "fail_reason" not in retry.user_attrs


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_trial_whose_worker_told_its_result_as_it_was_found_lapsed_does_not_say_its_worker_was_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fix42b: the reason was written while the trial still ran, before Optuna failed it; a worker alive after all
    that told its result in between left a COMPLETE trial saying "worker lost: no heartbeat ..." (the dashboard
    shows it). The reason is now written with the FAIL, in one transaction, and only if the trial still runs."""
    from optuna.storages import fail_stale_trials

    from nas_proxy.studies.heartbeat import LAPSED

    storage, study, _, clock = _beating(tmp_path, monkeypatch)
    late, lost = study.ask(), study.ask()
    for t in (late, lost):
        storage.record_heartbeat(t._trial_id)
    fail_stale_trials(study)  # seen beating
    clock[0] += 3.5  # neither beats for longer than the grace period
    found = storage._get_stale_trial_ids

    def told_meanwhile(study_id: int) -> list[int]:  # the order forced: found stale, then the late worker tells, then FAIL
        stale = found(study_id)
        study.tell(late, 1.0)
        return stale

    monkeypatch.setattr(storage, "_get_stale_trial_ids", told_meanwhile)
    fail_stale_trials(study)
    told, failed = study.trials[:2]
    assert told.state.name == "COMPLETE" and "fail_reason" not in told.user_attrs
    assert failed.state.name == "FAIL" and failed.user_attrs["fail_reason"].startswith(LAPSED)
    assert [t.state.name for t in study.trials[2:]] == ["WAITING"]  # the lost one's retry only


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_clock_moved_an_hour_neither_kills_a_live_worker_nor_keeps_a_dead_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """drill41: Optuna dates heartbeats and judges them by the database's clock alone. Moved forward an hour,
    every running trial was failed at once, its worker alive; moved back, a dead worker's trial was kept an hour.
    Staleness is now seen on this process's monotonic clock (the database's only hastens it, checked over two beats)."""
    from optuna.storages import fail_stale_trials

    storage, study, beat, clock = _beating(tmp_path, monkeypatch)
    live, dead = study.ask(), study.ask()
    for t in (live, dead):
        storage.record_heartbeat(t._trial_id)
    beat("-1 hour")  # the clock moved forward an hour since both beat
    fail_stale_trials(study)
    clock[0] += 1.0
    storage.record_heartbeat(live._trial_id)  # the living worker beats at its next interval, on the new clock
    fail_stale_trials(study)
    assert [t.state.name for t in study.trials] == ["RUNNING", "RUNNING"]
    clock[0] += 1.5  # the dead one unchanged for two intervals, and an hour old by the database
    fail_stale_trials(study)
    assert [t.state.name for t in study.trials[:2]] == ["RUNNING", "FAIL"]
    beat("+1 hour")  # the clock moved back an hour: the living worker's beats are "in the future"
    fail_stale_trials(study)
    clock[0] += 3.5  # and it died: nothing beats for longer than the grace period
    fail_stale_trials(study)
    assert study.trials[0].state.name == "FAIL"


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_trial_that_never_beat_is_failed_after_the_grace_period(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """review41: a search tags its trial as it is made (DrawSeeded), so a worker killed before its first beat left
    a trial no other host could find dead by its process, and Optuna's rule skips a trial without a heartbeat:
    it stayed RUNNING for ever. It now counts from its start."""
    from optuna.storages import fail_stale_trials

    _, study, _, clock = _beating(tmp_path, monkeypatch)
    trial = study.ask()  # RUNNING, tagged, no heartbeat: its worker died here
    trial.set_user_attr("worker_pid", 4242)
    trial.set_user_attr("worker_host", "another-host")
    fail_stale_trials(study)
    clock[0] += 2.0  # within the grace period: kept
    fail_stale_trials(study)
    assert study.trials[0].state.name == "RUNNING"
    clock[0] += 1.5
    fail_stale_trials(study)
    assert study.trials[0].state.name == "FAIL" and study.trials[1].state.name == "WAITING"


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_checks_of_two_studies_in_turn_each_fail_their_own_dead_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """review41: one process checking two studies of one storage in turn forgot each study's sightings when it
    checked the other, so neither dead trial was ever failed."""
    from optuna.storages import fail_stale_trials

    storage, first, _, clock = _beating(tmp_path, monkeypatch)
    second = optuna.create_study(storage=storage)
    for study in (first, second):
        storage.record_heartbeat(study.ask()._trial_id)
    for _ in range(5):  # 5 s unchanged, checked in turn
        fail_stale_trials(first)
        fail_stale_trials(second)
        clock[0] += 1.0
    assert first.trials[0].state.name == "FAIL" and second.trials[0].state.name == "FAIL"


def test_a_dead_workers_training_is_queued_again_beside_another_seed_of_its_architecture() -> None:
    """review48: a queued training whose worker died was not queued again while another seed of the same architecture
    waited (the same parameters: queue.enqueue records the seed as an attribute); its command ended without it."""
    from optuna.trial import TrialState

    from nas_proxy.studies.repair import fail_dead_trials

    study = optuna.create_study()
    for seed in (0, 1):  # as nas_proxy.studies.queue.enqueue queues them: the spec's parameters, the seed an attribute
        study.enqueue_trial({"depth": 2}, user_attrs={"arch_id": "a", "seed": seed})
    study.ask()  # seed 0's, RUNNING; its worker never recorded itself: dead once UNTAGGED_SECONDS have passed (here at once)
    assert fail_dead_trials(study, study._storage, untagged_seconds=-1) == [0]
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert sorted(t.user_attrs["seed"] for t in waiting) == [0, 1]
    assert all(t.system_attrs["fixed_params"] == {"depth": 2} for t in waiting)
    assert fail_dead_trials(study, study._storage, untagged_seconds=-1) == []  # nothing queued twice
    assert len(study.get_trials(states=(TrialState.WAITING,))) == 2


@pytest.mark.parametrize("finished", [0, 2], ids=["nothing-queued", "finished"])
def test_a_worker_that_finds_nothing_to_run_says_so_in_one_line(finished: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """fix50b: `nasproxy worker` on a ground-truth study with nothing queued, or on a finished study, exited 0 and printed
    nothing: a user who started it saw nothing and took it for hung or broken. It now says what it found, in one line."""
    from optuna.trial import TrialState, create_trial

    from nas_proxy.correlate import GroundTruthConfig
    from nas_proxy.groundtruth.study import DataRef, open_study

    url = str(tmp_path / "gt.log")
    study = open_study(open_storage(url, "gt"), DataRef("digits"), GroundTruthConfig(epochs=1, early=()))
    for k in range(finished):  # trainings recorded done by another worker
        study.add_trial(create_trial(state=TrialState.COMPLETE, value=50.0, user_attrs={"arch_id": f"a{k}", "seed": 0}))
    capsys.readouterr()
    assert main(["worker", "--study", study.study_name, "--storage", url, "--device", "cpu", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert out == f"study {study.study_name}: nothing left to run ({finished} finished)\n" and err == ""
