"""Which worker runs a trial: every objective first claims its trial (:func:`claim`), recording this process's
identity (:func:`worker_tag`: host, process id, the process's start and pid namespace, a journal's heartbeat
file), the host's out-of-memory kills so far and the file a crash would leave its dump in, so that any
surviving process can tell a trial whose worker is gone from one still running
(:mod:`~nas_proxy.studies.liveness`). On a journal a trial records it in the very record that makes it
RUNNING (:func:`born_tagged`). This process counts the trials it claimed as running here until their
objective ends (:func:`release`).
"""

from __future__ import annotations

import datetime
import os
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

from nas_proxy.studies import processes
from nas_proxy.studies.crashes import CRASH_ATTR, THREAD_ATTR, thread_name, watch_start, watch_stop
from nas_proxy.studies.journal_beat import BEAT_ATTR, BeatingJournal

START_ATTR = "worker_start"  # the worker process's start (process_start): its id alone may be reused
NAMESPACE_ATTR = "worker_pid_namespace"  # the worker's pid namespace (pid_namespace): its id means a process there only
# what tells a trial's worker process (workers.ran_here, search.retry.whose): its host, its id, and its start
WORKER_KEYS = ("worker_host", "worker_pid", START_ATTR)
OOM_ATTR = "worker_oom_kills"  # the host's out-of-memory kills since boot when the trial was claimed (see oom_kills)
# every attribute that names a trial's worker (worker_tag, claim): a copy of the trial queued again names none of them
WORKER_ATTRS = ("worker_host", "worker_pid", START_ATTR, NAMESPACE_ATTR, BEAT_ATTR, OOM_ATTR, CRASH_ATTR, THREAD_ATTR)
# (number, start time) of the trials whose objective runs in this process now
_RUNNING_HERE: set[tuple[int, datetime.datetime | None]] = set()


def worker_tag(storage: BaseStorage | None = None) -> dict[str, Any]:
    """This process's identity as a trial records it: host name, process id and, where the host says,
    the process's start (:func:`~nas_proxy.studies.processes.process_start`), which tells it from a later process given its id, and its
    pid namespace (:func:`~nas_proxy.studies.processes.pid_namespace`), within which alone its id names it; on a journal ``storage``, its
    heartbeat file (:mod:`~nas_proxy.studies.journal_beat`, beating from here on), by which a process that
    cannot judge it by its process judges it."""
    start, namespace = processes.process_start(os.getpid()), processes.pid_namespace()
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


@runtime_checkable
class Tagging(Protocol):
    """A storage whose trial made RUNNING records its worker as it is made so: a journal's
    (:class:`~nas_proxy.studies.journal_beat.BeatingJournal`), a database's (``heartbeat.TaggingStorage``)."""

    identity: Callable[[], Mapping[str, Any]] | None


def born_tagged(storage: BaseStorage) -> None:
    """Have each trial this process makes RUNNING on ``storage`` (a journal, or a database opened by
    :func:`~nas_proxy.studies.storage.open_storage`) record :func:`worker_tag` in the record or transaction that makes
    it (:meth:`~nas_proxy.studies.journal_beat.BeatingJournal.create_new_trial`), or takes it from the queue
    (:meth:`~nas_proxy.studies.journal_beat.BeatingJournal.set_trial_state_values`): a full disk or a kill -9 can no
    longer leave it RUNNING without its worker (before stop 46 the next run waited ``UNTAGGED_SECONDS`` for such a
    trial; before fix47a, for one taken from the queue; before fix50b, on a database). Another storage's trials are
    tagged as before, by writes of their own."""
    if isinstance(storage, Tagging):
        storage.identity = lambda: worker_tag(storage)  # at each trial: this process's (a forked child's is its own)


def claim(trial: optuna.Trial) -> None:
    """Record this worker on ``trial`` (the objective's first act), so a survivor can repair the
    trial if this process dies; the host's out-of-memory kills so far, and the file a crash of this
    process would leave its dump in, so that it can tell whether the candidate may have killed it.
    This process counts it as its own running trial until :class:`~nas_proxy.studies.guarded.Guarded` sees its objective end
    (:func:`release`)."""
    _RUNNING_HERE.add((trial.number, trial.datetime_start))
    recorded = trial.user_attrs  # a search's trial is tagged as it is made (DrawSeeded): not written twice
    for key, value in worker_tag(trial.study._storage).items():  # (Optuna has no public accessor)
        if recorded.get(key) != value:
            trial.set_user_attr(key, value)
    kills = processes.oom_kills()
    if kills is not None:
        trial.set_user_attr(OOM_ATTR, kills)
    dump = watch_start()
    # "": no folder took a dump file (a full or read-only disk), so a crash would leave no trace: its death counts
    trial.set_user_attr(CRASH_ATTR, "" if dump is None else str(dump))
    trial.set_user_attr(THREAD_ATTR, thread_name(threading.get_ident()))  # a dump's crashing thread is this trial's or not


def release(trial: optuna.Trial) -> None:
    """``trial``'s objective ended in this process: no longer its running trial, its crash dump file gone."""
    if (trial.number, trial.datetime_start) in _RUNNING_HERE:
        _RUNNING_HERE.discard((trial.number, trial.datetime_start))
        watch_stop()


def running_here(t: FrozenTrial) -> bool:
    """Whether ``t``'s objective runs in this process now (claimed here, not yet released)."""
    return (t.number, t.datetime_start) in _RUNNING_HERE


__all__ = [
    "NAMESPACE_ATTR",
    "OOM_ATTR",
    "START_ATTR",
    "WORKER_ATTRS",
    "WORKER_KEYS",
    "Tagging",
    "born_tagged",
    "claim",
    "release",
    "running_here",
    "worker_tag",
]
