"""A journal study's heartbeat: a worker that no process can judge by its process is judged by a file it beats.

A RUNNING trial's worker on a journal is judged by its process (:func:`nas_proxy.studies.liveness.is_dead`)
where this process sees it. One it cannot see (on another host, the journal on a shared file system; in a
pid namespace this process does not see, a search under ``unshare --pid`` beside the host's) was never
judged: killed, its trial stayed RUNNING for good, and every search of the study waited for it (stop 44).

A process that runs trials on a journal beats, from its first trial to its end: a thread touches one file
of its own beside the journal, ``JOURNAL.heartbeats/HOST-PID-RANDOM.beat``, every heartbeat interval (its
mtime only: the journal never grows), and each trial it makes or runs names that file (:data:`BEAT_ATTR`,
written after the file). A trial whose worker cannot be judged by its process and that names a file is dead
when the file is gone (its worker ended without telling the trial, or a survivor removed the file as stale), or
stale: the judging process saw its mtime unchanged for longer than the grace period on its own monotonic clock,
or, sooner, the file is older than the grace period on the file system's clock and the judge saw it unchanged for
two of its worker's intervals (a living worker beats once an interval; the rule of a database's heartbeat,
:mod:`nas_proxy.studies.heartbeat`). The age alone judged it before fix45c: a clock moved forward by more than the
grace period (NTP, a VM resumed; the file server's, or this host's on a local disk) made every living worker's file
look stale at once; moved back, a dead worker's looked alive until the clock caught up. The age is read on the file
system's clock, not this host's: the judge touches ``clock`` in the same folder and compares the two mtimes, which a
network file system sets by its server's clock, so hosts whose clocks differ agree; it touches it at most once per
the shorter of the interval and a quarter of the grace period, and between touches moves the clock it read on by
its monotonic clock. A worker removes its file as it ends; one killed leaves it, and a survivor removes it as it
fails the worker's trial (:meth:`BeatingJournal.forget`), as it finds the worker ended by the identity the file
records (this host's; :meth:`BeatingJournal.sweep`), or once it is stale, which a live worker's never is. The file
records its worker's grace period and interval too: a judge waits the longer of its own grace period and the
worker's (drill44b: a worker beating every 20 s, judged with a grace of 3 s, had its live trials failed and trained
again). A beat that hangs past the process's end removes the file it made again (the folder too where it was the
last); where the process is gone first (its exit waits for no hung thread), a survivor sweeps the file as any
killed worker's. A folder this process made where its file could not be (a full disk) is removed again. A trial
recorded before stop 44 names no file: judged as before (where its worker cannot be judged by its process, never).
"""

from __future__ import annotations

import atexit
import copy
import json
import math
import os
import re
import secrets
import socket
import stat
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeGuard

from optuna.storages import JournalStorage
from optuna.storages.journal import BaseJournalBackend
from optuna.storages.journal._storage import JournalOperation  # (Optuna exports no name for its record kinds)
from optuna.trial import FrozenTrial, TrialState, create_trial

BEAT_ATTR = "worker_heartbeat"  # a trial's: the name of its worker's heartbeat file (in the journal's FOLDER_SUFFIX folder)
FOLDER_SUFFIX = ".heartbeats"  # journal.log.heartbeats/: the heartbeat files of the journal's workers
BEAT_SUFFIX = ".beat"  # one worker's heartbeat file
CLOCK = "clock"  # the file a judge touches to read the file system's clock (never a worker's)
TAKER_FIELD = "nasproxy_worker"  # in the record that makes a queued trial RUNNING: the identity of the worker that takes it
_BEATS: dict[Path, _Beat] = {}  # heartbeat folder -> this process's beat there
_CLOCKS: dict[Path, tuple[float, int]] = {}  # heartbeat folder -> (monotonic s, the file system's clock ns) at its last touch here
_SEEN: dict[Path, tuple[int, float]] = {}  # heartbeat file -> (its mtime ns, monotonic s when this process first saw that mtime)
_JOIN_SECONDS = 1.0  # how long a process's end waits for its beat thread (a file system that hangs: not waited for)
Judge = Callable[[Mapping[str, Any]], "bool | None"]  # whether the worker a file's record names has ended (None: cannot tell)
_LOCK = threading.Lock()


class BeatingJournal(JournalStorage):
    """Optuna's journal storage on ``backend``, the file ``journal``, whose workers beat every ``interval`` seconds; a
    trial of a worker no process can judge by its process is dead after ``grace`` seconds without a beat (the module's
    rule)."""

    def __init__(self, backend: BaseJournalBackend, journal: Path, interval: int, grace: int) -> None:
        self._takers: dict[int, dict[str, Any]] = {}  # trial id -> the identity its winning RUNNING record names (taker)
        self._taking: dict[int, dict[str, Any]] = {}  # thread -> the identity it is writing into a RUNNING record now
        super().__init__(backend)  # (replays the journal: the takers above filled)
        self.interval, self.grace = interval, grace
        self.folder = journal.with_name(journal.name + FOLDER_SUFFIX)
        self._swept = -math.inf  # when this process last swept the folder (monotonic)
        # the identity of the worker that makes trials here (a worker sets it: nas_proxy.studies.identity.worker_tag),
        # recorded by each trial it makes RUNNING in the very record that makes it (create_new_trial), or that takes it from
        # the queue (set_trial_state_values); None: not recorded so
        self.identity: Callable[[], Mapping[str, Any]] | None = None

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        """A trial made RUNNING (by ``ask``) carries :attr:`identity` in the record that makes it: both are in the journal,
        or neither. Before, the worker's identity was a record of its own written just after, and a full disk that refused
        it (or a kill -9 between the two) left a trial that no one owned, which the next run waited ``UNTAGGED_SECONDS``
        (60 s) for before retrying it. A template's attributes are kept, the identity replacing any it holds (it is this
        worker that runs the trial). A queued trial (WAITING) or a finished one added whole is made as Optuna makes it: its
        worker, if any, is the one that takes it from the queue (its identity recorded then, in the record that takes it:
        :meth:`set_trial_state_values`)."""
        return super().create_new_trial(study_id, tagged(template_trial, self.identity))

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        """A queued trial (WAITING) taken by a worker (RUNNING) names :attr:`identity` in the record that takes it, a field
        of that one record (:data:`TAKER_FIELD`): both are in the journal, or neither. Before fix47a the worker's identity
        came in later records of its own, and a kill -9 or a full disk between them left a RUNNING trial that named no
        worker, which the next run waited ``UNTAGGED_SECONDS`` (60 s) for before retrying it. Two workers that race for
        one queued trial both write such a record; Optuna's replay lets the first take it and ignores the other, and so
        is the identity read (:meth:`taker`): a loser's is never taken for the winner's. (A user attribute written beside
        the state, which every worker applies, would have been: the loser's, written last, named the trial's worker.)"""
        if state != TrialState.RUNNING or self.identity is None:
            return super().set_trial_state_values(trial_id, state, values)
        thread = threading.get_ident()
        self._taking[thread] = dict(self.identity())  # before the record: its heartbeat file beats first
        try:
            return super().set_trial_state_values(trial_id, state, values)
        finally:
            del self._taking[thread]

    def _write_log(self, op_code: int, extra_fields: dict[str, Any]) -> None:
        identity = self._taking.get(threading.get_ident())
        if identity is not None and op_code == JournalOperation.SET_TRIAL_STATE_VALUES:
            extra_fields = {**extra_fields, TAKER_FIELD: identity}  # (Optuna's replay reads the fields it knows)
        super()._write_log(op_code, extra_fields)

    def _sync_with_backend(self) -> None:
        """Optuna's replay of the records not read yet, one at a time, noting the identity each record that takes a
        queued trial names, where that record is the one that takes it (the trial was WAITING, and is RUNNING now)."""
        replay = self._replay_result
        for log in self._backend.read_logs(replay.log_number_read):
            before = _taking(log, replay._trials)
            replay.apply_logs((log,))
            if before is not None and replay._trials[before].state == TrialState.RUNNING:
                self._takers[before] = log[TAKER_FIELD]

    def taker(self, trial_id: int) -> Mapping[str, Any] | None:
        """The identity of the worker that took queued trial ``trial_id`` from the queue, as the record that made it
        RUNNING names it (:meth:`set_trial_state_values`); None where none did (a trial made RUNNING, a record of before
        fix47a, or of a worker that set no identity)."""
        return self._takers.get(trial_id)

    def beating(self, identity: Mapping[str, Any]) -> str | None:
        """The name of this process's heartbeat file, beating from now until the process ends, which records
        ``identity`` (the worker's, as a trial records it) and this process's grace period; None where it cannot
        be written (a read-only or full disk, the folder's name taken by a file or a link): the trial is then judged
        as one of before stop 44."""
        if not self._usable():
            return None
        with _LOCK:
            beat = _BEATS.get(self.folder)
            if beat is None or beat.pid != os.getpid():  # (a forked child: not its parent's beat)
                try:
                    record = {**identity, "grace": self.grace, "interval": self.interval}
                    beat = _BEATS[self.folder] = _Beat(self.folder, self.interval, record)
                except OSError:
                    return None
        return beat.path.name

    def lapsed(self, attrs: Mapping[str, Any]) -> bool | None:
        """Whether the worker of a trial with user attributes ``attrs`` has stopped beating: its file stale (the module's
        rule, :meth:`_stale`), or gone; None where the trial names no file (recorded before stop 44) or the
        folder or the file cannot be read."""
        name = _beat_name(attrs)
        if name is None or not self._usable():
            return None
        try:  # a listing, not the name looked up: a network file system may remember that a new name was not there
            if name not in os.listdir(self.folder):
                _SEEN.pop(self.folder / name, None)
                return True
        except FileNotFoundError:  # the folder too: every worker that beat here ended, or was found dead and swept
            return True
        except OSError:
            return None
        return self._stale(self.folder / name)

    def _stale(self, path: Path) -> bool | None:
        """Whether the worker beating ``path`` stopped (the module's rule): this process saw its mtime unchanged for
        longer than the grace period on its own monotonic clock, or, sooner, the file is older than the grace period
        on the file system's clock and this process saw it unchanged for two of its worker's intervals (a living worker
        beats once an interval). Where the clock cannot be touched (a folder another user made, a full disk before the
        clock is made), by this process's monotonic clock alone (before review45, never: a dead worker's trial was waited
        for forever). None where it cannot be read."""
        mtime, now = _mtime(path), self._now()
        if mtime is None:
            return None
        record = _record(path)
        grace, every = self._grace_in(record), record.get("interval")
        if not _is_int(every) or every < 1:  # (a file of stop 44, or left empty: its interval unknown, the grace period it is)
            every = grace
        seen, mono = _SEEN.get(path), time.monotonic()
        if seen is None or seen[0] != mtime:
            seen = _SEEN[path] = (mtime, mono)
        unchanged = mono - seen[1]
        return unchanged > grace or (now is not None and (now - mtime) / 1e9 > grace and unchanged > min(grace, 2 * every))

    def grace_for(self, attrs: Mapping[str, Any]) -> int:
        """The grace period the worker of a trial with user attributes ``attrs`` is judged by (:meth:`lapsed`): this
        process's, or the one its file records where longer."""
        name = _beat_name(attrs)
        return self.grace if name is None or not self._usable() else self._grace_in(_record(self.folder / name))

    def _grace_in(self, record: Mapping[str, Any]) -> int:
        """The grace period a worker's file recording ``record`` is judged by: this process's, or the worker's own where
        longer (a worker beating every 60 s judged by a process whose grace is 3 s: its live trials were failed and
        trained again)."""
        grace = record.get("grace")
        return max(self.grace, grace) if _is_int(grace) else self.grace

    def forget(self, attrs: Mapping[str, Any]) -> None:
        """Remove the heartbeat file of a trial (user attributes ``attrs``) whose worker was found dead, unless it is this
        process's own (a trial of this process whose objective ended without telling it: this process beats on)."""
        name = _beat_name(attrs)
        own = _BEATS.get(self.folder)
        if name is not None and self._usable() and (own is None or own.path.name != name):
            with suppress(OSError):
                if stat.S_ISREG(os.lstat(self.folder / name).st_mode):  # a FIFO, a folder or a link put there: not ours
                    (self.folder / name).unlink()
            _SEEN.pop(self.folder / name, None)  # (its trial failed: not judged again)

    def sweep(self, ended: Judge | None = None) -> list[str]:
        """Remove the heartbeat files of workers that ended without removing theirs (killed, or ended by an interrupt's
        hurried exit), at most once an interval: those ``ended`` finds ended by the identity their file records (this
        host's), and the stale ones (:meth:`_stale`: a live worker's never is, and one stopped that long, its trials
        failed, makes its own again at its next beat); the folder too once none is left. The names removed.
        (Before, a worker killed after its last trial left its file until a search found it older than the grace period:
        three minutes by default; a command run again at once ended with it there.)"""
        if time.monotonic() - self._swept < self.interval:
            return []
        self._swept = time.monotonic()
        if not self._usable():
            return []
        try:
            names = os.listdir(self.folder)  # (none yet: no worker beat here, nothing to sweep; the clock made in none)
        except OSError:
            return []
        own = _BEATS.get(self.folder)
        removed = []
        for name in (n for n in names if n.endswith(BEAT_SUFFIX) and (own is None or own.path.name != n)):
            path = self.folder / name
            if (ended is not None and ended(_record(path)) is True) or self._stale(path) is True:
                with suppress(OSError):
                    path.unlink()
                    removed.append(name)
                _SEEN.pop(path, None)
        if removed:
            _remove_if_idle(self.folder)
        return removed

    def _usable(self) -> bool:
        """Whether the folder is a folder, or not there yet: never a link (before probe44b, followed: heartbeat files
        made, and stale ones removed, in the folder it points to) nor a file."""
        try:
            return stat.S_ISDIR(os.lstat(self.folder).st_mode)
        except FileNotFoundError:
            return True
        except OSError:
            return False

    def _now(self) -> int | None:
        """The file system's clock (ns): the mtime of ``clock`` in the folder as this process last touched it, moved on
        by this process's monotonic clock since; touched again at most once per the shorter of the interval and a
        quarter of the grace period (before fix45c, at every judgement: with 1 s polls on a network file system, a
        write a second per judge). The monotonic clock is read after the touch: the file system's now is never
        overestimated, so a file is never judged older than it is. None where the clock cannot be touched."""
        mono, seen = time.monotonic(), _CLOCKS.get(self.folder)
        if seen is not None and 0 <= mono - seen[0] < min(self.interval, self.grace / 4):
            return seen[1] + int((mono - seen[0]) * 1e9)
        clock = self.folder / CLOCK
        try:
            _touch(clock, make_folder=False)
            now = os.lstat(clock).st_mtime_ns
        except OSError:
            return None
        _CLOCKS[self.folder] = (time.monotonic(), now)
        return now


class _Beat:
    """This process's heartbeat file in ``folder``, recording ``record`` (its identity and grace period), touched every
    ``interval`` seconds by a thread until the process ends, then removed (:func:`end_all`; atexit)."""

    def __init__(self, folder: Path, interval: int, record: Mapping[str, Any]) -> None:
        host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname())
        self.pid, self.interval = os.getpid(), interval
        self.path = folder / f"{host}-{self.pid}-{secrets.token_hex(4)}{BEAT_SUFFIX}"
        self.stopped, self.record = threading.Event(), json.dumps(dict(record))
        self._beat()  # before a trial names it
        self.thread = threading.Thread(target=self._run, name="nasproxy-journal-heartbeat", daemon=True)
        self.thread.start()
        atexit.register(self.end)

    def _beat(self) -> None:
        """Touch the file, made again where a survivor removed it (this process stopped past the grace period, then
        continued), with its record: made again empty, it was judged by the judge's grace period alone, and a kill
        after that left it until it was that old."""
        _touch(self.path)
        if os.stat(self.path).st_size == 0:
            with suppress(OSError):  # (a full disk: an empty file, judged by its age and the judge's grace period alone)
                self.path.write_text(self.record)

    def _run(self) -> None:
        while not self.stopped.wait(self.interval):
            with suppress(OSError):  # a disk away for a moment: the next beat tries again
                self._beat()
            if self.stopped.is_set():  # ended while this beat hung past the end's wait: it made the file again, removed
                self._remove()

    def end(self) -> None:
        if os.getpid() != self.pid or self.stopped.is_set():
            return
        self.stopped.set()
        self.thread.join(timeout=_JOIN_SECONDS)  # a file system that hangs: not waited for (the thread removes what it writes late)
        self._remove()

    def _remove(self) -> None:
        """Remove the file, and the folder where it was the last (or the file was gone already: removed by a survivor)."""
        with suppress(OSError):
            self.path.unlink()
        _remove_if_idle(self.path.parent)


def _remove_if_idle(folder: Path) -> None:
    """Remove the heartbeat ``folder`` (and its clock) where no worker's file is left in it."""
    with suppress(OSError):
        if not any(name.endswith(BEAT_SUFFIX) for name in os.listdir(folder)):  # the last worker: nothing left
            (folder / CLOCK).unlink(missing_ok=True)
            folder.rmdir()  # (a worker beating meanwhile: not empty, kept; or made again at its next beat)


def _record(path: Path) -> Mapping[str, Any]:
    """What a worker's heartbeat file records (its identity, its grace period); empty where it cannot be read (a
    file of before, one left empty by a full disk or a kill as it was made)."""
    fd = _open_regular(path)
    if fd is None:
        return {}
    try:
        record = json.loads(os.read(fd, 4096))
    except (OSError, ValueError):
        return {}
    finally:
        os.close(fd)
    return record if isinstance(record, dict) else {}


def _taking(log: Mapping[str, Any], trials: Mapping[int, FrozenTrial]) -> int | None:
    """The id of the queued trial that journal record ``log`` takes (WAITING -> RUNNING), naming its worker; None where
    it is another record, names none, or the trial is not WAITING (another worker took it first: this record is
    ignored by the replay)."""
    if log.get("op_code") != JournalOperation.SET_TRIAL_STATE_VALUES or not isinstance(log.get(TAKER_FIELD), dict):
        return None
    trial = trials.get(log.get("trial_id", -1))
    if trial is None or log.get("state") != TrialState.RUNNING or trial.state != TrialState.WAITING:
        return None
    return trial._trial_id


def tagged(template_trial: FrozenTrial | None, identity: Callable[[], Mapping[str, Any]] | None) -> FrozenTrial | None:
    """The template of a trial made RUNNING by a worker whose :func:`~nas_proxy.studies.identity.worker_tag` is
    ``identity()`` (None: it records none), that trial recording it: a template's attributes are kept, the identity
    replacing any it holds (it is this worker that runs the trial). ``template_trial`` itself where it is not made
    RUNNING (a queued trial, or a finished one added whole: its worker, if any, is the one that takes it from the
    queue) or there is no identity."""
    if identity is None or not (template_trial is None or template_trial.state == TrialState.RUNNING):
        return template_trial
    recorded = dict(identity())
    if template_trial is None:
        return create_trial(state=TrialState.RUNNING, user_attrs=recorded)  # started now, as Optuna's own
    template = copy.copy(template_trial)
    template.user_attrs = {**template_trial.user_attrs, **recorded}
    return template


def end_all() -> None:
    """Stop this process's heartbeats and remove their files: the process is ending (:mod:`atexit` does it at an
    ordinary exit; a command leaving through ``os._exit`` after an interrupt calls it)."""
    with _LOCK:
        beats = list(_BEATS.values())
        _BEATS.clear()
    for beat in beats:
        beat.end()


def _touch(path: Path, make_folder: bool = True) -> None:
    """Set ``path``'s mtime to the file system's now (a network file system's server sets it), made if missing (and
    its folder, with ``make_folder``: the last worker to end removes it, maybe just as this one makes its file)."""
    for last in (False, False, True):
        try:
            os.utime(path, follow_symlinks=False)  # a link put there: itself, never a file it points to (probe44b)
            return
        except FileNotFoundError:
            pass
        made = False
        try:
            if make_folder:
                made = _make_folder(path.parent)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o666))
            return
        except FileNotFoundError:
            if last or not make_folder:
                raise
        except OSError:  # a full disk: the folder it made not left empty (before fix45c, until a later worker ended)
            if made:
                with suppress(OSError):
                    path.parent.rmdir()  # (another worker's file made there meanwhile: not empty, kept)
            raise


def _make_folder(folder: Path) -> bool:
    """Make ``folder`` where it is not there; whether this call made it."""
    try:
        folder.mkdir()
    except FileExistsError:
        return False
    return True


def _mtime(path: Path) -> int | None:
    """When ``path`` was last touched (ns), by the file system's clock; None where it is not there. Opened, not only
    stat'ed: an open makes a network file system read the attributes afresh (close-to-open)."""
    fd = _open_regular(path)
    if fd is None:
        return None
    try:
        return os.fstat(fd).st_mtime_ns
    except OSError:
        return None
    finally:
        os.close(fd)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _open_regular(path: Path) -> int | None:
    """``path`` opened for reading where it is a regular file; None where it is not there or is something else: neither a
    link followed nor a FIFO waited on (before probe44b, the sweep blocked on a FIFO named x.beat)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def _beat_name(attrs: Mapping[str, Any]) -> str | None:
    """The heartbeat file a trial (user attributes ``attrs``) names, None where it names none that could be in the
    folder (a trial of before stop 44, or a name another program wrote: a path, a NUL, past 255 bytes, a hidden name;
    before probe44b, one holding a NUL was judged dead, and forgetting it raised ValueError)."""
    name = attrs.get(BEAT_ATTR)
    if not isinstance(name, str) or not name.endswith(BEAT_SUFFIX) or name.startswith("."):
        return None
    try:
        encoded = os.fsencode(name)
    except UnicodeEncodeError:  # a lone surrogate (JSON takes one): no file name
        return None
    return None if b"/" in encoded or b"\x00" in encoded or len(encoded) > 255 else name


__all__ = ["BEAT_ATTR", "BEAT_SUFFIX", "CLOCK", "FOLDER_SUFFIX", "BeatingJournal", "end_all", "tagged"]
