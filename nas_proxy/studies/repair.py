"""Repairing trials whose worker died: any surviving process fails a RUNNING trial whose worker is gone
(:func:`~nas_proxy.studies.liveness.is_dead`), says why, and queues its candidate again
(:func:`fail_dead_trials`). A candidate that kills its worker (the kernel's out-of-memory killer) must not loop:
a death counts against it, and after :data:`~nas_proxy.studies.requeue.MAX_RETRY` counted retries it is given
up, unless the host tells that its out-of-memory killer ended nothing while the trial ran (Linux's ``oom_kill``
count, recorded when the trial is claimed) and the worker did not crash: then the death was a kill -9, a power
cut or a pre-empted machine, which says nothing of the candidate, and it is re-queued uncounted, as often as it
happens. A worker that crashed in native code left a dump (:mod:`~nas_proxy.studies.crashes`): that death
counts, and the dump is kept for the user.
"""

from __future__ import annotations

import socket
import warnings

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage, fail_stale_trials
from optuna.trial import FrozenTrial, TrialState

from nas_proxy import interrupts
from nas_proxy.pids import process_id
from nas_proxy.studies import processes
from nas_proxy.studies.crashes import CRASH_ATTR, crash_dump, remove_if_blank
from nas_proxy.studies.identity import OOM_ATTR
from nas_proxy.studies.journal_beat import BEAT_ATTR, BeatingJournal
from nas_proxy.studies.liveness import ended, gone_by_tag, is_dead, settle, taken_by
from nas_proxy.studies.requeue import FAIL_KIND_ATTR, KILLED, MAX_RETRY, candidate_params, carried, enqueue_once, retries_of

DIED = "died during the trial"  # in the fail_reason of a trial failed by repair
GIVEN_UP = "not retried after"  # in the fail_reason of a dead worker's trial whose retries are spent (MAX_RETRY)
NOT_COUNTED = "not counted against the candidate"  # in the fail_reason of a death with no out-of-memory kill meanwhile


def fail_dead_trials(study: optuna.Study, storage: BaseStorage, untagged_seconds: float | None = None) -> list[int]:
    """Fail and re-queue RUNNING trials whose worker is gone: on this host by its process, on other
    hosts by the heartbeat of a database storage (Optuna's ``RetryHeartbeatStaleTrialCallback``
    re-queues those) or the heartbeat file of a journal's worker; then remove the heartbeat files
    of a journal's dead workers. Returns the numbers of the trials failed here (a database's lapsed:
    Optuna's)."""
    with interrupts.deferred(), warnings.catch_warnings():  # failing and re-queuing belong together
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        fail_stale_trials(study)
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        failed = [t.number for t in running if _repair(study, storage, t, untagged_seconds)]
        settle(storage, study._study_id, {t._trial_id for t in running})  # the untagged trials watched that finished meanwhile: forgotten
    if isinstance(storage, BeatingJournal):
        storage.sweep(ended)  # after the repair: a trial whose file it removes was judged dead first
    return failed


def _repair(study: optuna.Study, storage: BaseStorage, t: FrozenTrial, untagged_seconds: float | None) -> bool:
    if not is_dead(t, untagged_seconds, storage):
        return False
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name), t.number)
    retries = retries_of(t.user_attrs)
    crash = crash_dump(t)
    # its worker as the trial records it, or as the record that took it from a journal's queue names it (fix47a)
    taker = taken_by(t, storage)
    worker = t.user_attrs if taker is None else {**taker, **t.user_attrs}
    pid = process_id(worker.get("worker_pid"))  # None: not recorded, or not a process id (an owner unknown: never signalled)
    by_beat = pid is None or gone_by_tag(worker, pid, lambda: False) is None  # judged by its journal heartbeat (if it names one)
    elsewhere = worker.get("worker_host") != socket.gethostname()
    counted = crash is not None or elsewhere or suspected(t)  # (this host's out-of-memory kills tell nothing of another host's)
    who = f"{worker.get('worker_host')}:{pid}" if pid else _unknown(worker.get("worker_pid"))
    reason = f"worker {who} {DIED}"
    if by_beat and isinstance(storage, BeatingJournal) and BEAT_ATTR in worker:
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
        storage.set_trial_user_attr(trial_id, FAIL_KIND_ATTR, KILLED)  # (before fix57 retry read it out of the reason's words)
        if not storage.set_trial_state_values(trial_id, TrialState.FAIL):
            return False
    except UpdateFinishedTrialError:
        return False
    if isinstance(storage, BeatingJournal):
        storage.forget(worker)  # its heartbeat file, left by a worker killed (on this host: found by its process)
    if crash is None:
        remove_if_blank(t)  # the file a worker killed outright left empty; a dump (maybe another trial's) stays for the user
    kept = carried(t.user_attrs)
    # the parameters it had, with those it was queued with: one killed while recording them (a queued training's
    # spec as its parameters) had only some, and the re-queued trial sampled the rest anew, other than its spec's;
    # a sampled trial killed while drawing: none (its candidate drawn anew, with its seed: candidate_params)
    params = candidate_params(study, t)
    if (params or kept) and (retries < MAX_RETRY or not counted):  # a sampled trial by its parameters, a queued training by its spec
        enqueue_once(study, params, {**kept, "retry_of": t.number, "retries": retries + counted})
    return True


def _unknown(recorded: object) -> str:
    """Who a dead trial's worker was, where no process id names it: not recorded yet, or a ``worker_pid`` that is none
    (a journal another program wrote or a hand edited: "abc", 1.5, -3, 0, a list; before fix49b, int() of it raised out
    of the repair and ended the command, and -3 or 0 was handed to os.kill: a process group, this one's)."""
    if recorded is None:
        return "(not recorded yet)"
    shown = repr(recorded)
    return f"(unknown: its worker_pid {shown if len(shown) <= 40 else shown[:37] + '...'} is no process id)"


def given_up(t: FrozenTrial) -> bool:
    """Whether ``t`` is a dead worker's trial whose counted retries were spent: its candidate given up."""
    return GIVEN_UP in str(t.user_attrs.get("fail_reason", ""))


def suspected(t: FrozenTrial) -> bool:
    """Whether the death of ``t``'s worker may be the candidate's doing: it crashed (:func:`~nas_proxy.studies.crashes.crash_dump`), or
    this host's out-of-memory killer may have ended a process since ``t`` was claimed (its count rose, or either count
    cannot be read). A count that fell (the host rebooted since) does not count against the candidate."""
    if crash_dump(t) is not None or t.user_attrs.get(CRASH_ATTR) == "":  # a crash, or one that could leave no dump
        return True
    before, now = t.user_attrs.get(OOM_ATTR), processes.oom_kills()
    if not isinstance(before, int) or isinstance(before, bool):  # not recorded, or not a count (a hand edit): unknown
        return True
    return now is None or now > before


__all__ = ["DIED", "GIVEN_UP", "NOT_COUNTED", "fail_dead_trials", "given_up", "suspected"]
