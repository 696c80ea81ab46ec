"""A journal's heartbeat folder among foreign things (probe44b): what a stranger leaves in ``JOURNAL.heartbeats``, or
puts in its place, or writes as a trial's heartbeat name, is never followed, removed, waited on or a crash; and the
heartbeat's loose ends (fix45c): the clock touched at each judgement, a clock moved forward, a full disk, a hung beat."""

from __future__ import annotations

import errno
import functools
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nas_proxy.studies import journal_beat
from nas_proxy.studies.journal_beat import BEAT_ATTR, BEAT_SUFFIX, CLOCK, FOLDER_SUFFIX, BeatingJournal, end_all
from nas_proxy.studies.storage import open_storage


def _journal(tmp_path: Path) -> BeatingJournal:
    backend = open_storage(str(tmp_path / "journal.log"), "w", 1, 2).backend
    assert isinstance(backend, BeatingJournal)
    return backend


def _soon(call: Callable[[], Any]) -> Any:
    """``call()``'s result; the test fails where it blocks (a FIFO opened for reading waits for a writer for good)."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert result, f"{call} blocked (or raised)"
    return result[0]


def test_foreign_entries_are_neither_waited_on_nor_removed(tmp_path: Path, beat_clock: list[float]) -> None:
    """A FIFO, a folder or a link named like a heartbeat file, a foreign file, and ``clock`` a link to a file outside:
    before probe44b the sweep waited for good on the FIFO (it opened every ``*.beat`` to read its age) and touched the
    link's target; now only a stale heartbeat file of its own kind is removed."""
    journal = _journal(tmp_path)
    folder, outside = journal.folder, tmp_path / "outside.txt"
    folder.mkdir()
    outside.write_text("mine")
    os.mkfifo(folder / "fifo.beat")
    (folder / "dir.beat").mkdir()
    (folder / "link.beat").symlink_to(outside)
    (folder / "notes.txt").write_text("a stranger's")
    (folder / CLOCK).symlink_to(outside)
    (folder / "old.beat").touch()
    for path in (outside, folder / "dir.beat", folder / "notes.txt", folder / "old.beat"):
        os.utime(path, ns=(0, 0))
    assert _soon(functools.partial(journal.sweep, lambda record: None)) == []  # seen (each file's record read too)
    beat_clock[0] += 3  # old.beat unchanged for longer than the grace period
    assert _soon(functools.partial(journal.sweep, lambda record: None)) == ["old.beat"]
    assert sorted(os.listdir(folder)) == [CLOCK, "dir.beat", "fifo.beat", "link.beat", "notes.txt"]
    assert outside.read_text() == "mine" and outside.stat().st_mtime_ns == 0  # not touched through the link
    for name in ("fifo.beat", "dir.beat", "link.beat"):
        assert _soon(functools.partial(journal.lapsed, {BEAT_ATTR: name})) is None  # not a heartbeat file: not judged
        journal.forget({BEAT_ATTR: name})
    assert outside.exists() and (folder / "fifo.beat").exists() and (folder / "dir.beat").is_dir()


@pytest.mark.parametrize(
    "name", ["../x.beat", "/tmp/x.beat", "a" * 10_000 + ".beat", "a\x00b.beat", "\ud800.beat", ".beat", 5, None, ["x.beat"]]
)
def test_foreign_trial_names(tmp_path: Path, name: object) -> None:
    """A trial whose heartbeat name was written by another program: not a name of a file in the folder, it is not
    judged (None), and forgetting it removes nothing (before probe44b, a name holding a NUL was judged dead, and then
    its forget raised ValueError: embedded null byte)."""
    journal = _journal(tmp_path)
    assert journal.beating({}) is not None
    (tmp_path / "x.beat").touch()
    assert journal.lapsed({BEAT_ATTR: name}) is None
    journal.forget({BEAT_ATTR: name})
    assert (tmp_path / "x.beat").exists() and len(os.listdir(journal.folder)) == 1


@pytest.mark.parametrize("kind", ["file", "link"])
def test_heartbeat_folder_taken(tmp_path: Path, kind: str) -> None:
    """``journal.log.heartbeats`` a file, or a link to a folder elsewhere: nothing beats there, nothing is judged or
    swept there (before probe44b, the link was followed: heartbeat files made, and stale ones removed, in the folder
    it points to)."""
    journal = _journal(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "old.beat").touch()
    os.utime(elsewhere / "old.beat", ns=(0, 0))
    if kind == "file":
        journal.folder.write_text("a stranger's")
    else:
        journal.folder.symlink_to(elsewhere)
    assert journal.beating({}) is None
    assert journal.lapsed({BEAT_ATTR: "old.beat"}) is None
    assert journal.sweep() == []
    assert os.listdir(elsewhere) == ["old.beat"]
    assert tmp_path.joinpath(f"journal.log{FOLDER_SUFFIX}").is_symlink() == (kind == "link")


def test_the_clock_is_touched_once_a_pace_not_at_each_judgement(tmp_path: Path, beat_clock: list[float]) -> None:
    """fix45c: each judgement touched ``clock`` (a write a second per judge on a network file system, with 1 s polls);
    now at most once per the shorter of the interval and a quarter of the grace period (here 0.5 s), the file system's
    clock moved on between by the monotonic one."""
    journal = _journal(tmp_path)  # interval 1 s, grace 2 s
    name = journal.beating({})
    assert journal.lapsed({BEAT_ATTR: name}) is False
    os.utime(journal.folder / CLOCK, ns=(0, 0))
    for _ in range(3):
        beat_clock[0] += 0.1
        assert journal.lapsed({BEAT_ATTR: name}) is False
    assert (journal.folder / CLOCK).stat().st_mtime_ns == 0  # not touched
    beat_clock[0] += 0.3
    assert journal.lapsed({BEAT_ATTR: name}) is False
    assert (journal.folder / CLOCK).stat().st_mtime_ns > 0  # touched again once the pace passed


def test_a_clock_moved_an_hour_neither_fails_a_living_worker_nor_keeps_a_dead_one(tmp_path: Path, beat_clock: list[float]) -> None:
    """fix45c: a file was judged by its age on the file system's clock alone: moved forward by more than the grace period
    (NTP, a VM resumed), every living worker was found dead at once (and its file swept); moved back, a dead worker's
    file looked alive until the clock caught up. Now stale only once this process saw it unchanged for two of its
    worker's intervals (and older than the grace period), or for longer than the grace period (the database's rule)."""
    journal = _journal(tmp_path)  # grace 2 s
    journal.folder.mkdir()
    record = json.dumps({"worker_host": "another-host", "worker_pid": 1, "grace": 2, "interval": 1})
    for name, moved in (("live.beat", 3600), ("dead.beat", 3600), ("back.beat", -3600)):
        path = journal.folder / name
        path.write_text(record)
        then = path.stat().st_mtime_ns - moved * 10**9  # an hour old (the clock moved forward since), or an hour ahead
        os.utime(path, ns=(then, then))

    def looks() -> list[bool | None]:
        return [journal.lapsed({BEAT_ATTR: name}) for name in ("live.beat", "dead.beat", "back.beat")]

    assert looks() == [False, False, False] and journal.sweep() == []  # seen, not judged on the clock alone
    beat_clock[0] += 1.0
    os.utime(journal.folder / "live.beat")  # the living worker beats at its next interval, on the new clock
    assert looks() == [False, False, False]
    beat_clock[0] += 1.5  # dead.beat unchanged for two of its intervals, and an hour old
    assert looks() == [False, True, True]  # back.beat: unchanged for longer than the grace period, "an hour ahead"
    assert sorted(journal.sweep()) == ["back.beat", "dead.beat"] and os.listdir(journal.folder) != []


def test_a_full_disk_leaves_no_empty_heartbeat_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fix45c: where the heartbeat file could not be made (a full disk), the folder made for it stayed, empty, until a
    later worker ended; and a process whose file a survivor had removed left the folder as it ended."""
    journal = _journal(tmp_path)
    opened = os.open

    def full(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path).endswith(BEAT_SUFFIX) and flags & os.O_CREAT:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return opened(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", full)
    assert journal.beating({}) is None and not journal.folder.exists()
    monkeypatch.setattr(os, "open", opened)
    name = journal.beating({})
    assert name is not None
    (journal.folder / name).unlink()  # a survivor removed it (this process stopped past the grace period)
    end_all()
    assert not journal.folder.exists()


def test_a_beat_hung_past_the_end_removes_the_file_it_makes_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fix45c: a beat hung on the file system past the end's wait (1 s) made the file again after the end removed it: a
    worker that had ended looked alive. The beat thread now removes what it wrote where the process ended meanwhile."""
    journal = _journal(tmp_path)
    hung, answered, touch = threading.Event(), threading.Event(), journal_beat._touch
    beats: list[Path] = []

    def hanging(path: Path, make_folder: bool = True) -> None:
        beats.append(path)
        if len(beats) > 1 and path.name.endswith(BEAT_SUFFIX):  # the thread's beats (the first, as it begins, answered)
            hung.set()
            answered.wait(10)
        touch(path, make_folder)

    monkeypatch.setattr(journal_beat, "_touch", hanging)
    monkeypatch.setattr(journal_beat, "_JOIN_SECONDS", 0.01)
    name = journal.beating({})
    assert name is not None and hung.wait(10)
    beat = journal_beat._BEATS[journal.folder]
    end_all()  # the process ends: not waiting for the hung beat, its file removed
    assert not (journal.folder / name).exists()
    answered.set()  # the file system answers: the hung beat makes the file again
    beat.thread.join(10)
    assert not beat.thread.is_alive() and not journal.folder.exists()


def test_a_clock_that_cannot_be_touched_still_lets_a_dead_worker_be_found(
    tmp_path: Path, beat_clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """review45: where ``clock`` cannot be touched (the folder another user made, its files not this user's to touch;
    a full disk before the clock is made), a file was never judged (None): a dead worker's trial was waited for
    forever. It is judged by this process's monotonic clock alone: dead once seen unchanged past the grace period."""
    journal = _journal(tmp_path)  # grace 2 s
    journal.folder.mkdir()
    (journal.folder / "dead.beat").write_text(json.dumps({"worker_host": "another-host", "worker_pid": 1, "interval": 1}))
    touch = journal_beat._touch

    def refused(path: Path, make_folder: bool = True) -> None:
        if path.name == CLOCK:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        touch(path, make_folder)

    monkeypatch.setattr(journal_beat, "_touch", refused)
    assert journal.lapsed({BEAT_ATTR: "dead.beat"}) is False  # seen
    beat_clock[0] += 1.5
    assert journal.lapsed({BEAT_ATTR: "dead.beat"}) is False  # not yet the grace period
    beat_clock[0] += 1.0
    assert journal.lapsed({BEAT_ATTR: "dead.beat"}) is True


def test_a_second_signal_while_a_process_leaves_raises_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """make test under load (stop 45): a search's worker, leaving after a Ctrl-C, got the second SIGINT its command
    passes on while it joined its beat thread; the KeyboardInterrupt printed a traceback under the command's one line.
    Leaving (``end_heartbeats(leaving=True)``, then ``os._exit``), further signals are ignored; the file is removed."""
    import signal
    import threading

    from nas_proxy.cli import end_heartbeats

    journal = _journal(tmp_path)
    name = journal.beating({})
    assert name is not None and (journal.folder / name).exists()
    join = threading.Thread.join

    def interrupted_join(self: threading.Thread, timeout: float | None = None) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # the second signal, as the join waits
        join(self, timeout)

    monkeypatch.setattr(threading.Thread, "join", interrupted_join)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    signal.signal(signal.SIGINT, signal.default_int_handler)  # what raised KeyboardInterrupt there
    try:
        end_heartbeats(leaving=True)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert not journal.folder.exists()


def test_a_trial_is_made_with_its_worker_in_one_record(tmp_path: Path) -> None:
    """A worker's trial (``ask``) is made with the worker's identity in the record that makes it: a full disk or a kill -9
    cannot leave it made without its worker (before stop 46 a record of its own followed, and the next run waited
    ``UNTAGGED_SECONDS``, 60 s, for a trial left without it). A template's attributes are kept, the identity replacing
    what it held; a queued trial is made as Optuna makes it (its worker is the one that takes it from the queue)."""
    import optuna
    from optuna.trial import TrialState, create_trial

    from nas_proxy.studies.identity import born_tagged, worker_tag

    journal = _journal(tmp_path)
    study = optuna.create_study(study_name="w", storage=journal)
    born_tagged(journal)
    before = len((tmp_path / "journal.log").read_bytes().splitlines())
    trial = study.ask()
    records = [json.loads(line) for line in (tmp_path / "journal.log").read_bytes().splitlines()[before:]]
    assert [r["op_code"] for r in records] == [4], records  # CREATE_TRIAL alone, the identity in it
    assert records[0]["user_attrs"] == worker_tag(journal) == trial.user_attrs
    assert trial.user_attrs["worker_pid"] == os.getpid() and study.trials[0].datetime_start is not None
    template = create_trial(state=TrialState.RUNNING, user_attrs={"worker_pid": 1, "worker_host": "elsewhere", "seed": 3})
    copied = journal.get_trial(journal.create_new_trial(study._study_id, template))
    assert copied.user_attrs == {"seed": 3, **worker_tag(journal)} and template.user_attrs["worker_pid"] == 1
    study.enqueue_trial({}, user_attrs={"seed": 4})
    assert study.trials[-1].user_attrs == {"seed": 4}  # queued: no worker yet


def test_a_queued_trial_is_taken_with_its_worker_in_one_record(tmp_path: Path) -> None:
    """A queued trial taken by a worker (WAITING -> RUNNING, ``ask``) names the worker in the record that takes it (fix47a:
    before, in records of its own after it, and a kill -9 or a full disk between them left a trial no one owned, waited
    for ``UNTAGGED_SECONDS``); every process that reads the journal finds the worker so."""
    import optuna

    from nas_proxy.studies.identity import born_tagged, worker_tag

    journal = _journal(tmp_path)
    study = optuna.create_study(study_name="w", storage=journal)
    study.enqueue_trial({}, user_attrs={"seed": 4})
    born_tagged(journal)
    before = len((tmp_path / "journal.log").read_bytes().splitlines())
    trial = study.ask()
    records = [json.loads(line) for line in (tmp_path / "journal.log").read_bytes().splitlines()[before:]]
    assert [r["op_code"] for r in records] == [6], records  # SET_TRIAL_STATE_VALUES alone, the worker in it
    assert records[0][journal_beat.TAKER_FIELD] == worker_tag(journal) == journal.taker(trial._trial_id)
    assert _journal(tmp_path).taker(trial._trial_id) == worker_tag(journal)  # another reader's replay: the same
    assert trial.user_attrs == {"seed": 4}  # its attributes: what was queued (the objective's claim writes the worker's)


def _process(pid: int) -> dict[str, Any]:
    """The identity :func:`~nas_proxy.studies.identity.worker_tag` records for process ``pid`` of this host."""
    import socket

    from nas_proxy.studies.identity import NAMESPACE_ATTR, START_ATTR
    from nas_proxy.studies.processes import pid_namespace, process_start

    return {"worker_host": socket.gethostname(), START_ATTR: process_start(pid), NAMESPACE_ATTR: pid_namespace(), "worker_pid": pid}


@pytest.mark.parametrize("winner", ["alive", "dead"])
def test_two_workers_racing_for_a_queued_trial_the_journal_names_the_one_that_took_it(
    winner: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers both see a queued trial WAITING and both write the record that takes it; Optuna's replay lets the first
    take it. The worker a judge reads is the winner's, in either order of who is alive: a live winner's trial is never
    judged dead for a dead loser's identity (a user attribute written beside the state would have named the loser, the
    last to write it), and a dead winner's is not kept alive by a live loser's."""
    import subprocess
    import sys

    import optuna
    from optuna.trial import TrialState

    from nas_proxy.studies.liveness import is_dead
    from tests import warm

    alive = warm.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    ended = warm.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    identities = {"alive": _process(alive.pid), "dead": _process(ended.pid)}
    ended.communicate()
    first, second = _journal(tmp_path), _journal(tmp_path)  # two workers' storages on one journal
    first.identity, second.identity = (lambda: identities[winner]), (lambda: identities["dead" if winner == "alive" else "alive"])
    study = optuna.create_study(study_name="w", storage=first)
    study.enqueue_trial({"x": 1})
    (queued,) = study.trials
    second.get_trial(queued._trial_id)  # the second worker has seen it WAITING
    append = second._backend.append_logs

    def first_takes_it_meanwhile(logs: list[dict[str, Any]]) -> None:  # between the second's look and its write
        assert first.set_trial_state_values(queued._trial_id, TrialState.RUNNING)
        append(logs)

    monkeypatch.setattr(second._backend, "append_logs", first_takes_it_meanwhile)
    assert not second.set_trial_state_values(queued._trial_id, TrialState.RUNNING)  # lost: it runs another trial
    records = [json.loads(line) for line in (tmp_path / "journal.log").read_bytes().splitlines()]
    assert len([r for r in records if journal_beat.TAKER_FIELD in r]) == 2  # both took it in the journal
    judge = _journal(tmp_path)  # a third process's replay
    trial = judge.get_trial(queued._trial_id)
    assert trial.state == TrialState.RUNNING and "worker_pid" not in trial.user_attrs
    assert judge.taker(trial._trial_id) == first.taker(trial._trial_id) == second.taker(trial._trial_id) == identities[winner]
    # judged at once by the winner's process (untagged_seconds 0: the rule of before would fail it, live or not)
    assert is_dead(trial, 0, judge) is (winner == "dead") and is_dead(trial, None, judge) is (winner == "dead")
    alive.communicate()
    assert is_dead(trial, None, judge)  # both ended: dead at once


def test_a_queued_trial_taken_on_another_host_is_judged_by_its_heartbeat_file(tmp_path: Path) -> None:
    """A worker no process here can judge by its process (another host), killed right after it took a queued trial: the
    record that took it names its heartbeat file, and the trial is dead once that file is gone, not ``UNTAGGED_SECONDS``
    after it started; while the file beats it is waited for."""
    import optuna

    from nas_proxy.studies.liveness import is_dead

    journal = _journal(tmp_path)
    journal.folder.mkdir()
    (journal.folder / "elsewhere-7-00000000.beat").touch()
    journal.identity = lambda: {"worker_host": "elsewhere", BEAT_ATTR: "elsewhere-7-00000000.beat", "worker_pid": 7}
    study = optuna.create_study(study_name="w", storage=journal)
    study.enqueue_trial({})
    study.ask()
    (trial,) = study.trials
    assert not is_dead(trial, 0, journal)  # its file there and fresh: alive, however long it takes to claim the trial
    (journal.folder / "elsewhere-7-00000000.beat").unlink()
    assert is_dead(trial, None, journal)
