"""A database storage whose heartbeat outlives a moment without the database.

Optuna records a running trial's heartbeat from a thread, every ``heartbeat_interval`` seconds, and the
thread ends at its first error: a database restarted or a connection dropped mid-trial printed
``Exception in thread ... StorageInternalError`` on the command's stderr (drill40: ``pg_ctl stop -m
immediate``, then ``start``, during a search), and the trial, whose worker lived on, beat no more: after
the grace period a survivor failed it and trained it again. A trial failed for a lapsed heartbeat says
so in its ``fail_reason`` (Optuna sets none: the dashboard and ``search``'s summary said "unknown error";
drill40), and its retry does not carry that reason.

A trial is stale when this process has seen its heartbeat unchanged for the grace period on its own
monotonic clock, or, sooner, when the database's clock says its heartbeat is older than the grace period and this
process has seen it unchanged for two heartbeat intervals (a living worker beats once an interval). A trial that
never beat is timed by this process's monotonic clock alone: its start is its worker's clock, not the database's;
so is every trial on SQLite, whose "database's clock" is the clock of whichever host's process writes or reads it.
Optuna compares the database's clock alone: moved forward an hour (NTP, a VM resumed), it failed every
running trial at once, their workers alive; moved back, a dead worker's trial looked alive for an hour
(drill41). Its base, :class:`TaggingStorage`, records a trial's worker in the transaction that makes it RUNNING.

Every database storage beats, SQLite's too: one process at a time writes a SQLite file, but the next may run on another
host (the file on a shared disk, a container or a batch job started again under another host name), and a worker there
cannot be judged by its process. Before fix52a SQLite's storage beat not, ``--heartbeat-interval`` and ``--grace`` did
nothing there, and a search killed under one host name and run again under another waited for the dead worker's trial
for good (drill51: 11 minutes, until stopped by hand). Its heartbeat thread writes beside the process's own writes:
SQLite makes either wait for the other's lock (the driver's ``timeout``, 5 s unless ``?timeout=`` says), and a beat the
database still refused is skipped, as any refused beat. Imported only where a database storage is opened
(:func:`nas_proxy.studies.storage.open_storage`).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import sqlalchemy
import sqlalchemy.orm
from optuna.exceptions import StorageInternalError
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import TrialState

from nas_proxy.studies.identity import WORKER_ATTRS
from nas_proxy.studies.journal_beat import tagged
from nas_proxy.studies.requeue import FAIL_KIND_ATTR, KILLED, LAPSED, LAPSED_COPY, carried, cut_draw

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import optuna
    from optuna.trial import FrozenTrial


class TaggingStorage(RDBStorage):
    """:class:`~optuna.storages.RDBStorage` whose trial made RUNNING records its worker (:attr:`identity`, set by
    :func:`~nas_proxy.studies.identity.born_tagged`) in the transaction that makes it so: made by ``ask``, or taken from
    the queue. Before fix50b the worker's identity came in writes of its own just after (DrawSeeded, claim), and a kill
    -9 between them left a RUNNING trial that named no worker: the next search waited ``UNTAGGED_SECONDS`` (60 s, on its
    own monotonic clock since fix49b) before retrying it, where a trial that names its worker is found dead at once on
    its host (its process gone) and by its heartbeat elsewhere. The database's equivalent of
    :class:`~nas_proxy.studies.journal_beat.BeatingJournal`'s records."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.identity: Callable[[], Mapping[str, Any]] | None = None  # this process's worker_tag, once it runs trials

    def _create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> FrozenTrial:
        """A trial made RUNNING carries :attr:`identity` in its row's transaction (:func:`~nas_proxy.studies.journal_beat.tagged`).
        (Optuna's cache of a database calls this one, not ``create_new_trial``.)"""
        return super()._create_new_trial(study_id, tagged(template_trial, self.identity))

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        """Optuna's, and a queued trial (WAITING) taken by this worker (RUNNING) records :attr:`identity` in the same
        transaction; False, as Optuna's, where another worker took it first (its identity then stays the winner's)."""
        if state != TrialState.RUNNING or self.identity is None:
            return super().set_trial_state_values(trial_id, state, values)
        identity = dict(self.identity())
        try:
            with _create_scoped_session(self.scoped_session) as session:
                trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
                self.check_trial_is_updatable(trial_id, trial.state)
                if trial.state != TrialState.WAITING:
                    return False
                for key, value in identity.items():
                    self._set_trial_attr_without_commit(session, models.TrialUserAttributeModel, trial_id, key, value)
                trial.state = state
                trial.datetime_start = datetime.datetime.now()  # (the client's clock, as Optuna's: judged by none)
        except sqlalchemy.exc.IntegrityError:  # (Optuna's answer to a race it lost)
            return False
        return True


class BeatingStorage(TaggingStorage):
    """:class:`~optuna.storages.RDBStorage` whose heartbeat skips a beat the database refused: the next
    interval tries again. Only the heartbeat: every other write still fails as before."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # study id -> trial id -> (its heartbeat, monotonic time first seen): per study, since a check of one study
        # prunes what it no longer lists, which must not forget another's (review41: never failed alternating)
        self._seen: dict[int, dict[int, tuple[datetime.datetime, float]]] = {}
        self._lapsed: dict[int, str] = {}  # trial id -> its fail_reason, written with the FAIL Optuna sets next

    def record_heartbeat(self, trial_id: int) -> None:
        with suppress(StorageInternalError):  # the database is away for a moment; a lapse past the grace period retries the trial
            super().record_heartbeat(trial_id)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        """The stale trials (the module's rule), each with the ``fail_reason`` that :meth:`set_trial_state_values`
        writes as Optuna fails it (Optuna's fail_stale_trials calls the two in turn)."""
        stale = self._unchanged(study_id)
        self._lapsed.clear()
        for trial_id in stale:
            attrs = self.get_trial(trial_id).user_attrs
            worker = f" ({attrs.get('worker_host')}, pid {attrs['worker_pid']!r})" if "worker_pid" in attrs else ""
            self._lapsed[trial_id] = (
                f"{LAPSED} for over {self.grace_period} s (the grace period): its worker{worker} died, "
                "was stopped or lost the database; re-queued"
            )
        return stale

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        """Optuna's, and a stale trial's FAIL writes its ``fail_reason`` in the same transaction, only while the trial
        still runs: written before, as a separate write (before branch fix42b), it stayed on a trial whose worker,
        alive after all, told its result in between: a COMPLETE trial said its worker was lost."""
        reason = self._lapsed.pop(trial_id, None)
        if reason is None or state != TrialState.FAIL:
            return super().set_trial_state_values(trial_id, state, values)
        with _create_scoped_session(self.scoped_session) as session:
            trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
            self.check_trial_is_updatable(trial_id, trial.state)  # told meanwhile: UpdateFinishedTrialError, Optuna's skip
            self._set_trial_attr_without_commit(session, models.TrialUserAttributeModel, trial_id, "fail_reason", reason)
            self._set_trial_attr_without_commit(session, models.TrialUserAttributeModel, trial_id, FAIL_KIND_ATTR, KILLED)
            trial.state = state
            trial.datetime_complete = datetime.datetime.now()
        return True

    def _unchanged(self, study_id: int) -> list[int]:
        """The RUNNING trials of ``study_id`` whose heartbeat lapsed, by this process's monotonic clock."""
        assert self.heartbeat_interval is not None
        grace = self.grace_period or 2 * self.heartbeat_interval  # (Optuna's default)
        now = time.monotonic()
        stale = []
        beats = self._beats(study_id)
        sightings = self._seen.setdefault(study_id, {})
        for trial_id, (beat, age) in beats.items():
            seen = sightings.get(trial_id)
            if seen is None or seen[0] != beat:
                seen = sightings[trial_id] = (beat, now)
            unchanged = now - seen[1]
            if unchanged > grace or (age is not None and age > grace and unchanged > 2 * self.heartbeat_interval):
                stale.append(trial_id)
        for gone in sightings.keys() - beats.keys():
            del sightings[gone]
        return stale

    @property
    def _own_clocks(self) -> bool:
        """Whether each process's heartbeats are written by its own host's clock: SQLite's, whose "database" runs in every
        process that opens the file (its ``CURRENT_TIMESTAMP`` is that process's host's clock), not on one server."""
        return self.engine.name == "sqlite"

    def _beats(self, study_id: int) -> dict[int, tuple[datetime.datetime, float | None]]:
        """``{trial id: (last heartbeat, its age in seconds by the database's clock)}`` of the study's RUNNING
        trials (the query of Optuna 5.1's ``_get_stale_trial_ids``). A trial that never beat has its start instead of a
        heartbeat, and no age: a nasproxy process beats as it starts a trial, so one killed before its first beat is failed
        once this process has seen it so for the grace period, like any other; Optuna's rule never failed it, and since a
        search tags its trial as it is made (DrawSeeded), no other host can find it dead by its process either (review41).
        Its start is the client's wall clock (Optuna writes ``datetime.now()``, the worker host's local time), not the
        database's: before fix50b its age was the database's now less that start, two clocks, and a worker whose clock was
        minutes behind the database's had its live trial failed after two heartbeat intervals, before its first beat
        (trained twice), one ahead a dead one's waited for until the clocks met. On SQLite no heartbeat has an age either
        (:attr:`_own_clocks`): each is written by its worker's host's clock, and read against the judge's."""
        with _create_scoped_session(self.scoped_session, True) as session:
            db_now = session.execute(sqlalchemy.func.now()).scalar()
            assert db_now is not None
            db_now = db_now.replace(tzinfo=None)  # (PostgreSQL's is aware, the heartbeats naive: Optuna's note)
            running = (
                session.query(models.TrialModel)
                .options(sqlalchemy.orm.selectinload(models.TrialModel.heartbeats))
                .filter(models.TrialModel.state == TrialState.RUNNING, models.TrialModel.study_id == study_id)
                .all()
            )
            beats: dict[int, tuple[datetime.datetime, float | None]] = {}
            for t in running:
                if t.heartbeats:  # written by the database's clock (its default, and Optuna's now() on update)
                    beat = t.heartbeats[0].heartbeat
                    beats[t.trial_id] = (beat, None if self._own_clocks else (db_now - beat).total_seconds())
                elif t.datetime_start is not None:
                    beats[t.trial_id] = (t.datetime_start, None)
            return beats


class RetryLapsedTrial(RetryHeartbeatStaleTrialCallback):
    """Optuna's retry of a trial failed for a lapsed heartbeat, but for a search's draw cut short, which has no candidate
    to queue (as the repair rules: :func:`~nas_proxy.studies.requeue.cut_draw`), without that trial's ``fail_reason`` and ``fail_kind`` (the queued copy
    has not failed) nor its worker (:data:`~nas_proxy.studies.identity.WORKER_ATTRS`: the copy's is whoever takes it).
    Before fix49b the copy named the dead worker: taken by another, it was RUNNING under the dead worker's pid until
    its new worker wrote its own, and a judge on the dead worker's host found that pid gone and failed the live trial,
    which was queued and trained again. The copy is marked :data:`~nas_proxy.studies.requeue.LAPSED_COPY`: no draw of its own."""

    def __call__(self, study: optuna.study.Study, trial: FrozenTrial) -> None:
        if cut_draw(study, trial) and not carried(trial.user_attrs):  # nothing to queue, as the repair rules (fix57): a
            return  # draw cut short (before, its copy drew the rest with the next draw's seed); any other trial is queued
        dropped = ("fail_reason", FAIL_KIND_ATTR, *WORKER_ATTRS)
        trial.user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in dropped}  # (a copy: Optuna's deepcopy)
        trial.system_attrs = {**trial.system_attrs, LAPSED_COPY: True}  # (Optuna's copy takes them with its failed_trial)
        super().__call__(study, trial)


__all__ = ["LAPSED", "BeatingStorage", "RetryLapsedTrial", "TaggingStorage"]
