"""Whether a RUNNING trial's worker still lives: judged by its process where this process can see it (this
host's, by its start and pid namespace: :mod:`~nas_proxy.studies.processes`), else, on a journal, by its
heartbeat file (:mod:`~nas_proxy.studies.journal_beat`), else (a database's, or a trial without its worker's
identity) by its own heartbeats or by how long this process has seen it untagged (its monotonic clock). A trial of this very process whose
objective is no longer running (it left through an error Optuna could not record, such as a full disk) is
dead too. What is then done with a dead worker's trial is :mod:`~nas_proxy.studies.repair`'s.
"""

from __future__ import annotations

import datetime
import os
import socket
import time
import weakref
from collections.abc import Callable, Collection, Mapping
from typing import Any

from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from nas_proxy.pids import process_id
from nas_proxy.studies.identity import NAMESPACE_ATTR, START_ATTR, running_here
from nas_proxy.studies.journal_beat import BeatingJournal
from nas_proxy.studies.processes import gone_from_here, pid_namespace

# a RUNNING trial still without its worker's identity this long (as this process saw it) lost its worker
# between its creation and the first write of the objective (milliseconds apart; a minute leaves room
# for a loaded machine and a slow database, and bounds how long a run waits for such a trial). On a journal
# a trial records its worker in the very record that makes it RUNNING, made so (born_tagged) or taken from
# the queue (BeatingJournal.taker), and is judged by it at once; on a database, in the transaction that makes it so
# (heartbeat.TaggingStorage, fix50b). One waited for so is another program's, one this process took and has not
# claimed yet, one whose worker can be judged neither by its process nor by a heartbeat file, or one an older version
# made (before stop 46 on a journal; before fix47a, one taken from the queue too; before fix50b, a database's). Counted on this
# process's monotonic clock from when it first saw the trial so (_untagged_for), never from the trial's start
UNTAGGED_SECONDS = 60.0
# per storage (the one under Optuna's cache: a study's judges share it): (trial id, number, start) -> this process's
# monotonic clock when it first saw that trial RUNNING without its worker, and its study's id once a judge of that study
# listed it (settle). An entry goes when the trial is judged, or found tagged, or (settle) no longer RUNNING or gone
# from its storage; the storage's go with it
Seen = dict[tuple[int, int, datetime.datetime | None], tuple[float, int | None]]
_UNTAGGED_SEEN: weakref.WeakKeyDictionary[BaseStorage, Seen] = weakref.WeakKeyDictionary()
_UNSCOPED: Seen = {}  # judged with no storage named (a test's): never settled


def is_dead(t: FrozenTrial, untagged_seconds: float | None = None, storage: BaseStorage | None = None) -> bool:
    """Whether RUNNING trial ``t`` has no living worker: one on this host whose process is gone (or is this
    process, no longer running its objective), found by its pid namespace (:func:`~nas_proxy.studies.processes.gone_from_here`; a trial
    recorded before stop 43 has none: taken as this process's), or none recorded (or a ``worker_pid`` that is no
    process id) while this process watched it for ``untagged_seconds``.
    A worker this process cannot judge so (on another host, in a namespace it does not see), on a journal
    ``storage``, by its heartbeat file (:meth:`~nas_proxy.studies.journal_beat.BeatingJournal.lapsed`; a trial
    recorded before stop 44 names none: not judged, as before). (A database storage's: its own heartbeats.)"""
    if t.state != TrialState.RUNNING:
        return False
    pid = process_id(t.user_attrs.get("worker_pid"))  # None: not recorded yet, or not a process id (a hand-edited journal)
    if pid is None:
        taken = _taker_gone(t, storage)  # a queued trial on a journal: its worker named by the record that took it
        if taken is None and isinstance(storage, BeatingJournal):
            taken = storage.lapsed(t.user_attrs)  # (a worker_pid not a process id beside a heartbeat file: judged by it)
        if taken is not None:
            _seen(storage).pop(_key(t), None)
            return taken
        dead = _untagged_for(t, storage) >= (UNTAGGED_SECONDS if untagged_seconds is None else untagged_seconds)
        if dead:
            _seen(storage).pop(_key(t), None)
        return dead
    _seen(storage).pop(_key(t), None)
    verdict = _gone_by_process(t, pid)
    if verdict is None and isinstance(storage, BeatingJournal):
        verdict = storage.lapsed(t.user_attrs)
    return verdict is True


def _key(t: FrozenTrial) -> tuple[int, int, datetime.datetime | None]:
    return t._trial_id, t.number, t.datetime_start


def _seen(storage: BaseStorage | None) -> Seen:
    """The untagged trials this process watches on ``storage`` (that under Optuna's cache of a database)."""
    if storage is None:
        return _UNSCOPED
    return _UNTAGGED_SEEN.setdefault(_unwrapped(storage), {})


def _unwrapped(storage: BaseStorage) -> BaseStorage:
    backend = getattr(storage, "_backend", None)  # (Optuna's _CachedStorage of a database: no public accessor)
    return backend if isinstance(backend, BaseStorage) else storage


def settle(storage: BaseStorage, study_id: int, running: Collection[int]) -> None:
    """Forget the untagged trials watched on ``storage`` that are no longer RUNNING: its judge of study ``study_id`` has
    just listed the ids of its RUNNING trials, ``running``. A trial watched there before and missing now finished; one of
    another study is looked up (gone, or its study deleted: forgotten; still RUNNING: kept for its own judge). Before
    fix50b an entry stayed for every untagged trial that finished or was deleted before it was judged: a long-lived
    process (a worker running thousands of trials, a dashboard's judge) kept them all."""
    seen = _seen(storage)
    for key, (at, study) in list(seen.items()):
        if key[0] in running:
            seen[key] = (at, study_id)
        elif study == study_id or _gone(storage, key[0], study):
            del seen[key]


def _gone(storage: BaseStorage, trial_id: int, study_id: int | None) -> bool:
    """Whether trial ``trial_id`` of study ``study_id`` (None: not known yet) is no longer RUNNING on ``storage``."""
    try:
        if study_id is not None:
            storage.get_study_name_from_id(study_id)  # a journal keeps a deleted study's trials: the study is asked
        return storage.get_trial(trial_id).state != TrialState.RUNNING
    except KeyError:  # (Optuna's word for an id its storage does not hold)
        return True


def _untagged_for(t: FrozenTrial, storage: BaseStorage | None) -> float:
    """How long this process has seen RUNNING trial ``t`` without its worker, on its monotonic clock. Before fix49b, the
    wall clock's now less ``t``'s start, which its worker's wall clock wrote (its host's, on a database in its local time):
    a judge's clock stepped forward (NTP, a laptop resumed, a VM migrated), or a worker's behind, failed a live trial at
    once and trained it again while its worker still trained it. A judge that starts after such a trial's worker died
    waits ``UNTAGGED_SECONDS`` for it (a database's heartbeat may fail it first)."""
    now = time.monotonic()
    return now - _seen(storage).setdefault(_key(t), (now, None))[0]


def _taker_gone(t: FrozenTrial, storage: BaseStorage | None) -> bool | None:
    """Whether the worker that took queued trial ``t`` from a journal's queue, as the record that took it names it
    (:meth:`~nas_proxy.studies.journal_beat.BeatingJournal.taker`), has ended: by its process (this host's), else by its
    heartbeat file. None where no record names it, or it is this process (it may be about to claim the trial), or it
    cannot be judged (``t`` is then judged by ``UNTAGGED_SECONDS``, as before)."""
    taker = taken_by(t, storage)
    pid = None if taker is None else taker.get("worker_pid")
    pid = process_id(pid)
    if taker is None or pid is None or not isinstance(storage, BeatingJournal):
        return None
    verdict = gone_by_tag(taker, pid, lambda: None)
    if verdict is None and not _is_this_process(taker, pid):
        verdict = storage.lapsed(taker)
    return verdict


def taken_by(t: FrozenTrial, storage: BaseStorage | None) -> Mapping[str, Any] | None:
    """The identity of the worker that took ``t`` from a journal's queue and has not claimed it yet (the record that took
    it names it: :meth:`~nas_proxy.studies.journal_beat.BeatingJournal.taker`); None where ``t`` names its worker itself,
    or no record names one."""
    if not isinstance(storage, BeatingJournal) or "worker_pid" in t.user_attrs:
        return None
    return storage.taker(t._trial_id)


def _gone_by_process(t: FrozenTrial, pid: int) -> bool | None:
    """Whether the process of ``t``'s worker ``pid`` has ended; None where this process cannot tell (another
    host's, a namespace's it does not see)."""
    return gone_by_tag(t.user_attrs, pid, lambda: not running_here(t))


def gone_by_tag(tag: Mapping[str, Any], pid: int, this_process: Callable[[], bool | None]) -> bool | None:
    """Whether worker ``pid`` that :func:`~nas_proxy.studies.identity.worker_tag` ``tag`` names has ended, where this process can tell (its host's);
    ``this_process()`` answers where it is this very process."""
    if tag.get("worker_host") != socket.gethostname():
        return None
    start, namespace = tag.get(START_ATTR), tag.get(NAMESPACE_ATTR)  # namespace None: recorded before drill43, taken as this one
    if _is_this_process(tag, pid):
        return this_process()
    return gone_from_here(pid, start if isinstance(start, str) else None, namespace if isinstance(namespace, str) else None)


def _is_this_process(tag: Mapping[str, Any], pid: int) -> bool:
    """Whether worker ``pid`` that :func:`~nas_proxy.studies.identity.worker_tag` ``tag`` names is this very process."""
    return tag.get("worker_host") == socket.gethostname() and pid == os.getpid() and tag.get(NAMESPACE_ATTR) in (None, pid_namespace())


def ended(tag: Mapping[str, Any]) -> bool | None:
    """Whether the worker :func:`~nas_proxy.studies.identity.worker_tag` ``tag`` names has ended, where this process can tell (its host's)."""
    pid = process_id(tag.get("worker_pid"))
    return None if pid is None else gone_by_tag(tag, pid, lambda: False)


__all__ = ["UNTAGGED_SECONDS", "ended", "gone_by_tag", "is_dead", "settle", "taken_by"]
