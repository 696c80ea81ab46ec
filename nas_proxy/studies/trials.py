"""Trials and their workers: who runs a trial, why it failed, and repairing trials whose worker died.

Every objective runs :class:`Guarded`: it first :func:`claim`s its trial (host and process id), so
that any surviving process can tell a trial whose worker is gone from one still running, fail it and
re-queue it (:func:`fail_dead_trials`). A candidate that kills its worker (the kernel's out-of-memory
killer) must not loop: a death counts against it, and after :data:`MAX_RETRY` counted retries it is
given up, unless the host tells that its out-of-memory killer ended nothing while the trial ran
(Linux's ``oom_kill`` count, recorded when the trial is claimed) and the worker did not crash: then the
death was a kill -9, a power cut or a pre-empted machine, which says nothing of the candidate, and it is
re-queued uncounted, as often as it happens. A worker that crashes in native code (a segmentation fault,
an abort) while it trains writes :mod:`faulthandler`'s dump to a file named on the trial
(:data:`CRASH_ATTR`): that death counts, and the dump is kept for the user. A trial of this very process
whose objective is no longer running (it left through an error Optuna could not record, such as a full
disk) is dead too.
"""

from __future__ import annotations

import datetime
import faulthandler
import os
import socket
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Generic, TextIO, TypeVar

import optuna
import torch
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage, fail_stale_trials
from optuna.trial import FrozenTrial, TrialState

from nas_proxy import interrupts
from nas_proxy.errors import (
    DivergedError,
    MemoryLimitError,
    NasProxyError,
    address_space_limit,
    address_space_used,
    on_gpu,
    out_of_memory,
    refused_bytes,
)
from nas_proxy.files import FileWriteError, mount_of
from nas_proxy.studies.journal_beat import BEAT_ATTR, BeatingJournal
from nas_proxy.studies.spec_attrs import JSON_ATTR, PREFIX

MAX_RETRY = 2  # a trial whose worker died is re-queued at most this often (an OOM-killing candidate must not loop)
# a RUNNING trial still without its worker's identity this long after it started lost its worker
# between its creation and the first write of the objective (milliseconds apart; a minute leaves room
# for a loaded machine and a slow database, and bounds how long a run waits for such a trial). On a journal
# a trial records its worker in the very record that makes it RUNNING, made so (born_tagged) or taken from
# the queue (BeatingJournal.taker), and is judged by it at once: one waited for so is a database's, one this
# process took and has not claimed yet, one whose worker can be judged neither by its process nor by a
# heartbeat file, or one a version before stop 46 made (before fix47a, one taken from the queue too)
UNTAGGED_SECONDS = 60.0
DIED = "died during the trial"  # in the fail_reason of a trial failed by repair
GIVEN_UP = "not retried after"  # in the fail_reason of a dead worker's trial whose retries are spent (MAX_RETRY)
OOM_ATTR = "worker_oom_kills"  # the host's out-of-memory kills since boot when the trial was claimed (see oom_kills)
NOT_COUNTED = "not counted against the candidate"  # in the fail_reason of a death with no out-of-memory kill meanwhile
START_ATTR = "worker_start"  # the worker process's start (process_start): its id alone may be reused
NAMESPACE_ATTR = "worker_pid_namespace"  # the worker's pid namespace (pid_namespace): its id means a process there only
INITIAL_PID_NAMESPACE = "pid:[4026531836]"  # the kernel's first (PROC_PID_INIT_INO): a process there sees every process
CRASH_ATTR = "worker_crash_dump"  # the file faulthandler writes to if the worker crashes in native code during the trial
# user attributes a re-queued trial carries over (a queued training's identity; its parameters only show it):
# its spec in either layout (nas_proxy.studies.spec_attrs: the JSON "spec" before, one "arch." attribute per leaf now)
CARRIED = (JSON_ATTR, "seed", "arch_id", "space", "candidate")
# and those named with these prefixes: a queued training's spec, a ladder's climber's rung and the
# scores of the rungs below (nas_proxy.search.ladder)
CARRIED_PREFIXES = (PREFIX, "rung")
# (number, start time) of the trials whose objective runs in this process now
_RUNNING_HERE: set[tuple[int, datetime.datetime | None]] = set()
V = TypeVar("V")


@contextmanager
def recording_failure(trial: optuna.Trial) -> Iterator[None]:
    """Store why a trial's training failed (``fail_reason``) before Optuna marks it FAILED."""
    try:
        yield
    except DivergedError as e:
        trial.set_user_attr("fail_reason", str(e))
        raise
    except torch.cuda.OutOfMemoryError:
        trial.set_user_attr("fail_reason", "out of GPU memory")
        torch.cuda.empty_cache()
        raise
    except Exception as e:  # anything else fails the trial too: say what, instead of "unknown error"
        with suppress(Exception):  # a storage that cannot take it (a full disk) must not hide the error
            # out of memory says so and why (a MemoryError alone read "MemoryError: ", drill42's ulimit -v mid-search)
            trial.set_user_attr("fail_reason", (out_of_memory(e) or f"{type(e).__name__}: {e}")[:500])
        raise


@contextmanager
def requeued_if_interrupted(trial: optuna.Trial) -> Iterator[None]:
    """A training stopped by Ctrl-C or SIGTERM is not the candidate's fault: the trial is marked
    ``interrupted`` and its parameters queued again (``retry_of``), so the same command trains it first
    when it resumes. Without this the candidate was lost to a sampler that never proposes a failed
    point again (``--sampler bruteforce`` would finish the space one architecture short)."""
    try:
        yield
    except KeyboardInterrupt:
        with interrupts.deferred(), suppress(Exception):  # a storage that cannot take it must not hide the Ctrl-C
            # stopped before sampling: the parameters it was queued with, if any
            params = trial.params or trial.study.get_trials(deepcopy=False)[trial.number].system_attrs.get("fixed_params") or {}
            if params:
                trial.set_user_attr("interrupted", True)  # first: a worker that sees the copy sees this (budget.over_budget)
                enqueue_once(trial.study, params, {**carried(trial.user_attrs), "retry_of": trial.number})
        raise


def carried(user_attrs: dict[str, Any]) -> dict[str, Any]:
    """The attributes a queued copy of a trial keeps (``CARRIED``, ``CARRIED_PREFIXES``)."""
    return {k: v for k, v in user_attrs.items() if k in CARRIED or k.startswith(CARRIED_PREFIXES)}


def enqueue_once(study: optuna.Study, params: dict[str, Any], user_attrs: dict[str, Any]) -> bool:
    """Queue ``params`` unless a waiting trial already has them (a candidate stopped twice, or stopped and
    then found dead, is trained once); whether it was queued."""
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    if params and any(t.system_attrs.get("fixed_params") == params for t in waiting):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.enqueue_trial(params, user_attrs=user_attrs)
    return True


def worker_tag(storage: BaseStorage | None = None) -> dict[str, Any]:
    """This process's identity as a trial records it: host name, process id and, where the host says,
    the process's start (:func:`process_start`), which tells it from a later process given its id, and its
    pid namespace (:func:`pid_namespace`), within which alone its id names it; on a journal ``storage``, its
    heartbeat file (:mod:`~nas_proxy.studies.journal_beat`, beating from here on), by which a process that
    cannot judge it by its process judges it."""
    start, namespace = process_start(os.getpid()), pid_namespace()
    tag = {
        "worker_host": socket.gethostname(),
        **({START_ATTR: start} if start else {}),
        **({NAMESPACE_ATTR: namespace} if namespace else {}),
        "worker_pid": os.getpid(),
    }
    beat = storage.beating(tag) if isinstance(storage, BeatingJournal) else None
    # written in this order, one attribute at a time, and the process id last: a judge that read the trial between
    # the id and the namespace took it for one of before drill43, of its own namespace, and found it dead by that id
    # (drill44b: a search under unshare --pid failed the host's live trial 0.2 s after it began, before its
    # parameters were written, so it was not re-queued: its candidate was never trained)
    return {"worker_host": tag["worker_host"], **({BEAT_ATTR: beat} if beat else {}), **tag}


def born_tagged(storage: BaseStorage) -> None:
    """Have each trial this process makes RUNNING on a journal ``storage`` record :func:`worker_tag` in the record that
    makes it (:meth:`~nas_proxy.studies.journal_beat.BeatingJournal.create_new_trial`), or takes it from the queue
    (:meth:`~nas_proxy.studies.journal_beat.BeatingJournal.set_trial_state_values`): a full disk or a kill -9 can no
    longer leave it RUNNING without its worker (before stop 46 the next run waited ``UNTAGGED_SECONDS`` for such a
    trial; before fix47a, for one taken from the queue). A database storage's trials are tagged as before, by a write
    of their own."""
    if isinstance(storage, BeatingJournal):
        storage.identity = lambda: worker_tag(storage)  # at each trial: this process's (a forked child's is its own)


def pid_namespace() -> str | None:
    """This process's pid namespace (``pid:[4026531836]``): a process id means one process within one only
    (a worker started under ``unshare --pid``, or in a container sharing the host's name, has ids of its own)."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def process_start(pid: int) -> str | None:
    """``BOOT:TICKS`` of process ``pid``: this boot's id and the process's start in clock ticks since
    boot (Linux's /proc): a process id reused by a later process, or after a reboot, has another. Neither
    part reads the wall clock, so a clock moved back or forward changes nothing. None where not known."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        ticks = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]  # field 22, starttime
    except (OSError, IndexError):
        return None
    return f"{boot}:{ticks}"


def oom_kills() -> int | None:
    """How many processes the kernel's out-of-memory killer has ended on this host since it booted
    (``oom_kill`` of Linux's /proc/vmstat, a container's memory-limit kills included), or None where
    the host does not say."""
    with suppress(OSError, ValueError):
        for line in Path("/proc/vmstat").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
    return None


def crash_folder() -> Path:
    """Where workers' crash dumps go: this user's folder in the temporary directory (``TMPDIR``)."""
    return Path(tempfile.gettempdir()) / f"nasproxy-{getattr(os, 'getuid', lambda: 'user')()}-crashes"


def crash_folders() -> tuple[Path, ...]:
    """Where a dump may go, in order: :func:`crash_folder`, else (a full or read-only temporary directory)
    this user's cache folder (``XDG_CACHE_HOME``, ``~/.cache``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return crash_folder(), Path(cache) / "nasproxy" / "crashes"


def _blank(path: Path) -> bool:
    """Whether a dump file holds no dump: empty, or only the room reserved for one (:data:`DUMP_ROOM`)."""
    return not path.read_bytes().strip()


class _CrashWatch:
    """:mod:`faulthandler` writing to a file of its own while a trial trains in this process: a worker
    that a segmentation fault, an abort or a bus error ends leaves its dump there (a kill -9 or a power
    cut leaves the file empty). Removed when the last trial running here ends; faulthandler is then
    as it was (on, to the process's stderr, when it was on before: ``python -X faulthandler``)."""

    def __init__(self) -> None:
        self.file: TextIO | None = None
        self.path: Path | None = None
        self.trials = 0
        self.was_on = False
        self.swept = False

    def start(self) -> Path | None:
        """The dump file of a trial that starts training here (None where none can be made)."""
        if self.trials == 0:
            if not self.swept:
                self.swept = True
                for folder in crash_folders():
                    sweep_crash_folder(folder)
            made = next((m for m in map(_dump_room, crash_folders()) if m is not None), None)
            if made is None:  # no folder takes one: claim() marks the trial, whose death then counts
                return None
            fd, self.path = made
            self.file, self.was_on = os.fdopen(fd, "w"), faulthandler.is_enabled()
            faulthandler.enable(file=self.file, all_threads=True)
        self.trials += 1
        return self.path

    def stop(self) -> None:
        """A trial that trained here ended (its objective returned or raised)."""
        if self.trials == 0:
            return
        self.trials -= 1
        if self.trials or self.file is None or self.path is None:
            return
        faulthandler.disable()
        if self.was_on and sys.__stderr__ is not None:
            with suppress(Exception):  # a stderr without a file descriptor
                faulthandler.enable(file=sys.__stderr__)
        self.file.close()
        self.path.unlink(missing_ok=True)
        self.file = self.path = None


_CRASHES = _CrashWatch()
DUMP_ROOM = 64 * 1024  # bytes reserved in a dump file before the trial trains: a crash on a disk full by then still writes its dump


def _dump_room(folder: Path) -> tuple[int, Path] | None:
    """A new dump file in ``folder`` with :data:`DUMP_ROOM` bytes reserved (newlines, which a reader
    strips), its descriptor at the start; None where the folder cannot take it (full, read-only)."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"{os.getpid()}-", suffix=".txt", dir=folder)
    except OSError:
        return None
    try:
        room = b"\n" * DUMP_ROOM
        while room:
            room = room[os.write(fd, room) :]
        os.lseek(fd, 0, os.SEEK_SET)  # the space is the file's now: a dump overwrites it and needs none more
    except OSError:
        os.close(fd)
        Path(name).unlink(missing_ok=True)
        return None
    return fd, Path(name)


def sweep_crash_folder(folder: Path) -> None:
    """Remove the empty files of processes that no longer run (killed outright while they trained, their
    trial maybe never repaired): an empty file says only that no crash was seen, as a missing one does.
    A dump, and the file of a running process, stay."""
    for path in folder.glob("*.txt"):
        pid = path.name.partition("-")[0]
        with suppress(OSError):
            if pid.isdigit() and not _alive(int(pid)) and _blank(path):
                path.unlink()


def _dump_file(t: FrozenTrial) -> Path | None:
    """The crash dump file ``t`` names, if it is one (a study's attribute names no other file to read or remove)."""
    named = t.user_attrs.get(CRASH_ATTR)
    path = Path(named) if isinstance(named, str) else None
    return path if path is not None and path.parent in crash_folders() and path.suffix == ".txt" else None


def crash_dump(t: FrozenTrial) -> tuple[str, Path] | None:
    """The first line of the dump and its file, when ``t``'s worker crashed in native code while it trained
    ``t`` (faulthandler wrote its dump, on this host); None otherwise."""
    path = _dump_file(t)
    if path is None:
        return None
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return None
    return (lines[0], path) if lines else None


def claim(trial: optuna.Trial) -> None:
    """Record this worker on ``trial`` (the objective's first act), so a survivor can repair the
    trial if this process dies; the host's out-of-memory kills so far, and the file a crash of this
    process would leave its dump in, so that it can tell whether the candidate may have killed it.
    This process counts it as its own running trial until :class:`Guarded` sees its objective end
    (:func:`release`)."""
    _RUNNING_HERE.add((trial.number, trial.datetime_start))
    recorded = trial.user_attrs  # a search's trial is tagged as it is made (DrawSeeded): not written twice
    for key, value in worker_tag(trial.study._storage).items():  # (Optuna has no public accessor)
        if recorded.get(key) != value:
            trial.set_user_attr(key, value)
    kills = oom_kills()
    if kills is not None:
        trial.set_user_attr(OOM_ATTR, kills)
    dump = _CRASHES.start()
    # "": no folder took a dump file (a full or read-only disk), so a crash would leave no trace: its death counts
    trial.set_user_attr(CRASH_ATTR, "" if dump is None else str(dump))


def release(trial: optuna.Trial) -> None:
    """``trial``'s objective ended in this process: no longer its running trial, its crash dump file gone."""
    if (trial.number, trial.datetime_start) in _RUNNING_HERE:
        _RUNNING_HERE.discard((trial.number, trial.datetime_start))
        _CRASHES.stop()


def given_up(t: FrozenTrial) -> bool:
    """Whether ``t`` is a dead worker's trial whose counted retries were spent: its candidate given up."""
    return GIVEN_UP in str(t.user_attrs.get("fail_reason", ""))


def suspected(t: FrozenTrial) -> bool:
    """Whether the death of ``t``'s worker may be the candidate's doing: it crashed (:func:`crash_dump`), or
    this host's out-of-memory killer is not known to have ended nothing since ``t`` was claimed (a count
    that fell: the host rebooted)."""
    if crash_dump(t) is not None or t.user_attrs.get(CRASH_ATTR) == "":  # a crash, or one that could leave no dump
        return True
    before, now = t.user_attrs.get(OOM_ATTR), oom_kills()
    return before is None or now is None or now > int(before)


def out_of_memory_here(e: BaseException) -> str | None:
    """The one line when this process, not its candidate, ran out of memory; None otherwise (its trial fails and
    the search goes on, as before drill42). This process's: Python's MemoryError (it says no size), or an allocation
    of torch's refused under the process's own limit (``ulimit -v``) that the candidate alone would have made: a
    request of at most half the limit, refused where what the process already held and the request passed the limit.
    A request larger than half the limit is the candidate's (some clusters set RLIMIT_AS for every job: before
    fix42c a candidate too large for the machine stopped the search, was queued again, and failed only at the third
    command); so are CUDA's, one refused below the limit (the machine's), and one whose size is unsaid."""
    line = out_of_memory(e)
    if line is None or isinstance(e, ImportError) or on_gpu(e):
        return None
    if isinstance(e, MemoryError):
        return line
    limit, asked, used = address_space_limit(), refused_bytes(e), address_space_used()
    if limit is None or asked is None or asked > limit // 2:
        return None
    return line if used is None or used + asked > limit else None


def requeued(trial: optuna.Trial, counted: bool = True) -> bool:
    """Queue ``trial``'s candidate again (retried first when the command resumes) after its process ran out of
    memory, or its storage failed (not ``counted``: the database's doing, not the candidate's); False once it was
    retried :data:`MAX_RETRY` times so (it may be the candidate after all: it then fails for good, and the search
    goes on), or where the storage cannot take it (the trial then stays RUNNING or fails, as before)."""
    retries = int(trial.user_attrs.get("retries", 0))
    if counted and retries >= MAX_RETRY:
        return False
    with interrupts.deferred(), suppress(Exception):
        params = trial.params or trial.study.get_trials(deepcopy=False)[trial.number].system_attrs.get("fixed_params") or {}
        if params:
            enqueue_once(trial.study, params, {**carried(trial.user_attrs), "retry_of": trial.number, "retries": retries + counted})
        return True
    return False


class LeftRunning(BaseException):
    """Raised through Optuna's trial loop, which then stores no state: the trial stays RUNNING, and the next
    command, its worker gone, fails it and queues its candidate again (:func:`fail_dead_trials`). For a trial
    whose storage failed and took no queued copy either: Optuna's FAIL got in (an update in place) where the
    copy did not (a new row), and the candidate was lost to the sampler (drill43: PostgreSQL's disk full)."""


class Guarded(Generic[V]):
    """An objective as every worker runs it: the trial claimed first and known to run here until the
    objective ends; a file that cannot be written (a full disk), or this process out of memory (its
    ``ulimit -v``; the trial queued again), or a database that failed a write of the trial's (the trial
    queued again, uncounted), stops the study instead of failing this trial and starting the next, and
    :meth:`raise_stop` raises it once ``optimize`` returns. Before drill42 a search under a memory limit
    failed every trial it started, each candidate lost to the sampler."""

    def __init__(self, objective: Callable[[optuna.Trial], V]) -> None:
        self.objective = objective
        self.stopped: NasProxyError | None = None
        self.trial: optuna.Trial | None = None  # the last trial it ran

    def __call__(self, trial: optuna.Trial) -> V:
        self.trial = trial
        try:
            claim(trial)  # first: a survivor can repair this trial from now on
            return self.objective(trial)
        except FileWriteError as e:
            self.stopped = e
            trial.study.stop()
            raise
        except optuna.exceptions.StorageInternalError as e:  # the database failed the trial's write, not its candidate:
            queued = requeued(trial, counted=False)  # before, the trial failed and its candidate was lost (drill42 left this)
            self.stopped = storage_lost(e)
            trial.study.stop()
            if not queued:  # the database took no copy either (drill43: its disk full): no FAIL, the next run repairs it
                raise LeftRunning from e
            raise
        except Exception as e:
            line = out_of_memory_here(e)
            if line is not None and requeued(trial):
                self.stopped = MemoryLimitError(line)
                trial.study.stop()
            raise
        finally:
            release(trial)

    def raise_stop(self) -> None:
        if self.stopped is not None:
            raise self.stopped

    def taken_over(self) -> bool:
        """Whether the last trial it ran was finished by another worker meanwhile: this process stopped
        beating past the heartbeat's grace period (SIGSTOP, a suspended machine, starved), so a survivor
        failed the trial and re-queued it; the retry trains it."""
        if self.trial is None:
            return False
        storage = self.trial.study._storage  # (Optuna has no public accessor)
        return bool(storage.get_trial(self.trial._trial_id).state.is_finished())


@contextmanager
def unmasked(guarded: Guarded[Any] | None = None) -> Iterator[None]:
    """Around ``study.optimize``: when storing a trial's result fails (a full disk), Optuna's
    ``_run_trial`` (5.1) replaces that error by ``AssertionError("Should not reach.")`` raised in
    its ``finally`` (the trial is still RUNNING); raise the one-line error underneath instead.
    Likewise when ``guarded`` (the objective) stopped on a file it could not write and Optuna's
    bookkeeping of that trial then failed (the brute-force sampler refuses a failed trial whose
    second parameter the full disk kept out of the journal): the full disk is the cause.
    And a KeyboardInterrupt (Ctrl-C, SIGTERM) raised while Optuna stores the trial's state becomes
    ``UnboundLocalError: updated_state`` in the same ``finally`` (seen once, SIGTERM to ``nasproxy run``
    in its ground truth, printed as an internal error): the interruption is raised as it is. So did a
    database that went away while the trial ran (drill40: PostgreSQL stopped for 17 s): that is
    :func:`storage_lost`'s one line.
    A worker whose trial another worker failed and re-queued meanwhile (its heartbeat lapsed: the
    process was stopped, then continued) cannot tell its result (Optuna: "Cannot tell a FAIL trial");
    that is no error: the re-queued copy trains the candidate, and this worker goes on to its next trial
    (before: it ended with an internal error, drill40's SIGSTOP of a worker on PostgreSQL)."""
    try:
        yield
    except LeftRunning:
        if guarded is not None and guarded.stopped is not None:
            raise guarded.stopped from None
        raise
    except UnboundLocalError as e:
        if isinstance(e.__context__, KeyboardInterrupt):
            raise e.__context__ from None
        if isinstance(e.__context__, optuna.exceptions.StorageInternalError):
            raise storage_lost(e.__context__) from None
        raise
    except optuna.exceptions.StorageInternalError as e:
        raise storage_lost(e) from None
    except ValueError as e:
        if _told_too_late(e, guarded):
            return
        raise
    except AssertionError as e:
        if isinstance(e.__context__, NasProxyError):
            raise e.__context__ from None
        if _told_too_late(e.__context__, guarded):  # (an objective that returned: Optuna's finally masks the ValueError so)
            return
        if guarded is not None and guarded.stopped is not None:
            raise guarded.stopped from None
        raise
    except Exception:
        if guarded is not None and guarded.stopped is not None:
            raise guarded.stopped from None
        raise


def storage_lost(e: BaseException) -> NasProxyError:
    """The one-line error of a database storage that failed mid-run (restarted, unreachable): Optuna's
    own message ("invalid data in the commit, e.g. exceeding max length") hides the driver's, its cause."""
    error = e.__cause__ or e
    error = getattr(error, "orig", None) or error  # SQLAlchemy's: the driver's words, without its SQL and parameters
    cause = " ".join(str(error).split())[:300]
    return NasProxyError(
        f"the study's storage failed while a trial was stored: {cause}; finished trials are stored, "
        "and the one running is retried: run the same command again once the database is reachable"
    )


def _told_too_late(e: BaseException | None, guarded: Guarded[Any] | None) -> bool:
    """Whether ``e`` is Optuna's refusal to tell the result of ``guarded``'s trial that another worker
    finished meanwhile (:meth:`Guarded.taken_over`)."""
    return (
        isinstance(e, ValueError)
        and str(e).startswith("Cannot tell a")
        and guarded is not None
        and guarded.stopped is None
        and guarded.taken_over()
    )


def is_dead(t: FrozenTrial, untagged_seconds: float | None = None, storage: BaseStorage | None = None) -> bool:
    """Whether RUNNING trial ``t`` has no living worker: one on this host whose process is gone (or is this
    process, no longer running its objective), found by its pid namespace (:func:`gone_from_here`; a trial
    recorded before stop 43 has none: taken as this process's), or none recorded long after it started.
    A worker this process cannot judge so (on another host, in a namespace it does not see), on a journal
    ``storage``, by its heartbeat file (:meth:`~nas_proxy.studies.journal_beat.BeatingJournal.lapsed`; a trial
    recorded before stop 44 names none: not judged, as before). (A database storage's: its own heartbeats.)"""
    if t.state != TrialState.RUNNING:
        return False
    pid = t.user_attrs.get("worker_pid")
    if pid is None:
        taken = _taker_gone(t, storage)  # a queued trial on a journal: its worker named by the record that took it
        if taken is not None:
            return taken
        started = t.datetime_start or datetime.datetime.now()
        return (datetime.datetime.now() - started).total_seconds() > (UNTAGGED_SECONDS if untagged_seconds is None else untagged_seconds)
    verdict = _gone_by_process(t, int(pid))
    if verdict is None and isinstance(storage, BeatingJournal):
        verdict = storage.lapsed(t.user_attrs)
    return verdict is True


def _taker_gone(t: FrozenTrial, storage: BaseStorage | None) -> bool | None:
    """Whether the worker that took queued trial ``t`` from a journal's queue, as the record that took it names it
    (:meth:`~nas_proxy.studies.journal_beat.BeatingJournal.taker`), has ended: by its process (this host's), else by its
    heartbeat file. None where no record names it, or it is this process (it may be about to claim the trial), or it
    cannot be judged (``t`` is then judged by ``UNTAGGED_SECONDS``, as before)."""
    taker = _taker(t, storage)
    pid = None if taker is None else taker.get("worker_pid")
    if taker is None or not isinstance(pid, int) or isinstance(pid, bool) or not isinstance(storage, BeatingJournal):
        return None
    verdict = _gone_by_tag(taker, pid, lambda: None)
    if verdict is None and not _is_this_process(taker, pid):
        verdict = storage.lapsed(taker)
    return verdict


def _taker(t: FrozenTrial, storage: BaseStorage | None) -> Mapping[str, Any] | None:
    """The identity of the worker that took ``t`` from a journal's queue and has not claimed it yet (the record that took
    it names it: :meth:`~nas_proxy.studies.journal_beat.BeatingJournal.taker`); None where ``t`` names its worker itself,
    or no record names one."""
    if not isinstance(storage, BeatingJournal) or "worker_pid" in t.user_attrs:
        return None
    return storage.taker(t._trial_id)


def _gone_by_process(t: FrozenTrial, pid: int) -> bool | None:
    """Whether the process of ``t``'s worker ``pid`` has ended; None where this process cannot tell (another
    host's, a namespace's it does not see)."""
    return _gone_by_tag(t.user_attrs, pid, lambda: (t.number, t.datetime_start) not in _RUNNING_HERE)


def _gone_by_tag(tag: Mapping[str, Any], pid: int, this_process: Callable[[], bool | None]) -> bool | None:
    """Whether worker ``pid`` that :func:`worker_tag` ``tag`` names has ended, where this process can tell (its host's);
    ``this_process()`` answers where it is this very process."""
    if tag.get("worker_host") != socket.gethostname():
        return None
    start, namespace = tag.get(START_ATTR), tag.get(NAMESPACE_ATTR)  # namespace None: recorded before drill43, taken as this one
    if _is_this_process(tag, pid):
        return this_process()
    return gone_from_here(pid, start if isinstance(start, str) else None, namespace if isinstance(namespace, str) else None)


def _is_this_process(tag: Mapping[str, Any], pid: int) -> bool:
    """Whether worker ``pid`` that :func:`worker_tag` ``tag`` names is this very process."""
    return tag.get("worker_host") == socket.gethostname() and pid == os.getpid() and tag.get(NAMESPACE_ATTR) in (None, pid_namespace())


def gone(pid: int, start: str | None) -> bool:
    """Whether process ``pid`` of this host, which started at ``start`` (:func:`process_start`; None: not
    recorded), has ended: no such process, a zombie, or its id given to a later process (after a reboot ids
    start over, and a worker killed then never ended its trial: the trial was waited for forever, found by
    drill41). A process this user may not see (another's, under /proc's hidepid) is taken to run."""
    if not _alive(pid):
        return True
    now = process_start(pid)
    return start is not None and now is not None and now != start


def gone_from_here(pid: int, start: str | None, namespace: str | None) -> bool | None:
    """:func:`gone` for process ``pid`` of pid namespace ``namespace`` (None: this process's); None where this
    process cannot tell. Another namespace's process is looked for among those this one sees (a namespace made
    below this one: ``unshare --pid`` by its start, which its namespace does not change; before drill43 its id
    was judged as this namespace's, so a live worker's trial was failed and trained again, and a namespace's
    process id 2 taken for this one's kernel thread). A namespace seen nowhere has ended where this process sees
    every process (the kernel's first namespace); elsewhere (in a container, under ``unshare``) it may be an
    ancestor's or a sibling's, which this one cannot see: not judged."""
    mine = pid_namespace()
    if namespace is None or namespace == mine:
        return gone(pid, start)
    if start is None or mine is None:
        return None
    ticks, seen = start.rsplit(":", 1)[-1], False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            there: str | None = os.readlink(entry / "ns" / "pid")
        except OSError:  # ended meanwhile, or not this user's to read (another user's; pid 1, even to root in a container)
            there = None
        if there is not None and there != namespace:
            continue
        seen = seen or there == namespace
        try:  # both readable by every user: a process this one may not read may still be the worker (review of stop 43)
            state, *fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[18] != ticks:  # field 22 (starttime): status, read only for a process started when the worker did
                continue
            ids = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("NSpid:")).split()
        except (OSError, IndexError, StopIteration):  # ended meanwhile
            continue
        if ids[-1] == str(pid) and len(ids) > 2:  # its id in its own namespace, one below this one's or deeper (one id a level)
            return state == "Z"
    if _proc_hides():  # processes of other users are not listed: the worker may be one
        return None
    return True if seen or mine == INITIAL_PID_NAMESPACE else None


def _proc_hides() -> bool:
    """Whether /proc hides other users' processes from this one (mounted with ``hidepid`` 1, 2 or 4, also
    written ``noaccess``, ``invisible``, ``ptraceable``; root sees them all the same)."""
    if os.geteuid() == 0:
        return False
    mount = mount_of(Path("/proc"))
    return mount is None or mount[2].get("hidepid", "0") not in ("0", "off")


def fail_dead_trials(study: optuna.Study, storage: BaseStorage, untagged_seconds: float | None = None) -> list[int]:
    """Fail and re-queue RUNNING trials whose worker is gone: on this host by its process, on other
    hosts by the heartbeat of a database storage (Optuna's ``RetryHeartbeatStaleTrialCallback``
    re-queues those) or the heartbeat file of a journal's worker; then remove the heartbeat files
    of a journal's dead workers. Returns the numbers of the trials failed here (a database's lapsed:
    Optuna's)."""
    with interrupts.deferred(), warnings.catch_warnings():  # failing and re-queuing belong together
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        fail_stale_trials(study)
        failed = [
            t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if _repair(study, storage, t, untagged_seconds)
        ]
    if isinstance(storage, BeatingJournal):
        storage.sweep(_ended)  # after the repair: a trial whose file it removes was judged dead first
    return failed


def _ended(tag: Mapping[str, Any]) -> bool | None:
    """Whether the worker :func:`worker_tag` ``tag`` names has ended, where this process can tell (its host's)."""
    pid = tag.get("worker_pid")
    if not isinstance(pid, int) or isinstance(pid, bool):
        return None
    return _gone_by_tag(tag, pid, lambda: False)


def _repair(study: optuna.Study, storage: BaseStorage, t: FrozenTrial, untagged_seconds: float | None) -> bool:
    if not is_dead(t, untagged_seconds, storage):
        return False
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name), t.number)
    retries = int(t.user_attrs.get("retries", 0))
    crash = crash_dump(t)
    # its worker as the trial records it, or as the record that took it from a journal's queue names it (fix47a)
    taker = _taker(t, storage)
    worker = t.user_attrs if taker is None else {**taker, **t.user_attrs}
    pid = worker.get("worker_pid")
    by_beat = pid is not None and _gone_by_tag(worker, int(pid), lambda: False) is None  # judged by its journal heartbeat
    elsewhere = worker.get("worker_host") != socket.gethostname()
    counted = crash is not None or elsewhere or suspected(t)  # (this host's out-of-memory kills tell nothing of another host's)
    who = f"{worker.get('worker_host')}:{pid}" if pid else "(not recorded yet)"
    reason = f"worker {who} {DIED}"
    if by_beat and isinstance(storage, BeatingJournal):
        # the grace it was judged by: a worker's own where longer (before review44, the judge's, 2 s for a worker of 60)
        reason += f" (its heartbeat file unchanged for over {storage.grace_for(worker)} s, the grace period, or gone)"
    if crash is not None:
        reason += f" ({crash[0].rstrip('.')}; its dump: {crash[1]})"
    if not counted:
        note = reason + f" (no out-of-memory kill on this host meanwhile: {NOT_COUNTED})"
    else:
        note = reason + ("" if retries < MAX_RETRY else f"; {GIVEN_UP} {retries} retries")
    try:  # another worker may be repairing the same trial: whoever finishes it re-queues it
        storage.set_trial_user_attr(trial_id, "fail_reason", note)
        if not storage.set_trial_state_values(trial_id, TrialState.FAIL):
            return False
    except UpdateFinishedTrialError:
        return False
    if isinstance(storage, BeatingJournal):
        storage.forget(worker)  # its heartbeat file, left by a worker killed (on this host: found by its process)
    if crash is None and (empty := _dump_file(t)) is not None:
        empty.unlink(missing_ok=True)  # the file a worker killed outright left empty; a dump stays for the user to read
    kept = carried(t.user_attrs)
    # the parameters it had, with those it was queued with: one killed while recording them (a queued training's
    # spec as its parameters) had only some, and the re-queued trial sampled the rest anew, other than its spec's
    params = t.params | (t.system_attrs.get("fixed_params") or {})
    if (params or kept) and (retries < MAX_RETRY or not counted):  # a sampled trial by its parameters, a queued training by its spec
        enqueue_once(study, params, {**kept, "retry_of": t.number, "retries": retries + counted})
    return True


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, killed but not yet reaped by its
    parent, does not: a ``search`` reaps its worker processes only at the end)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # Linux: the state follows the parenthesised command name
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def fail_reason(t: FrozenTrial) -> str:
    """Why trial ``t`` failed, as recorded by the objective or by Optuna."""
    return str(t.user_attrs.get("fail_reason") or t.system_attrs.get("fail_reason", "unknown error"))


__all__ = [
    "CRASH_ATTR",
    "GIVEN_UP",
    "MAX_RETRY",
    "NAMESPACE_ATTR",
    "NOT_COUNTED",
    "OOM_ATTR",
    "START_ATTR",
    "Guarded",
    "born_tagged",
    "claim",
    "crash_dump",
    "crash_folder",
    "crash_folders",
    "enqueue_once",
    "fail_dead_trials",
    "fail_reason",
    "given_up",
    "gone",
    "is_dead",
    "oom_kills",
    "pid_namespace",
    "recording_failure",
    "release",
    "requeued_if_interrupted",
    "suspected",
    "sweep_crash_folder",
    "unmasked",
    "worker_tag",
]
