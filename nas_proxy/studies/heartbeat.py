"""A database storage whose heartbeat outlives a moment without the database.

Optuna records a running trial's heartbeat from a thread, every ``heartbeat_interval`` seconds, and the
thread ends at its first error: a database restarted or a connection dropped mid-trial printed
``Exception in thread ... StorageInternalError`` on the command's stderr (drill40: ``pg_ctl stop -m
immediate``, then ``start``, during a search), and the trial, whose worker lived on, beat no more: after
the grace period a survivor failed it and trained it again. A trial failed for a lapsed heartbeat says
so in its ``fail_reason`` (Optuna sets none: the dashboard and ``search``'s summary said "unknown error";
drill40), and its retry does not carry that reason. Imported only where a database storage is opened
(:func:`nas_proxy.studies.storage.open_storage`).
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING

from optuna.exceptions import StorageInternalError, UpdateFinishedTrialError
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

LAPSED = "worker lost: no heartbeat"  # begins the fail_reason of a trial failed for a lapsed heartbeat


class BeatingStorage(RDBStorage):
    """:class:`~optuna.storages.RDBStorage` whose heartbeat skips a beat the database refused: the next
    interval tries again. Only the heartbeat: every other write still fails as before."""

    def record_heartbeat(self, trial_id: int) -> None:
        with suppress(StorageInternalError):  # the database is away for a moment; a lapse past the grace period retries the trial
            super().record_heartbeat(trial_id)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        """Optuna's stale trials, each given its ``fail_reason`` while still RUNNING (Optuna then fails it:
        a finished trial takes no attribute)."""
        stale = super()._get_stale_trial_ids(study_id)
        for trial_id in stale:
            attrs = self.get_trial(trial_id).user_attrs
            worker = f" ({attrs['worker_host']}, pid {attrs['worker_pid']})" if "worker_pid" in attrs else ""
            reason = (
                f"{LAPSED} for over {self.grace_period} s (the grace period): its worker{worker} died, "
                "was stopped or lost the database; re-queued"
            )
            with suppress(UpdateFinishedTrialError):  # another process failed it meanwhile
                self.set_trial_user_attr(trial_id, "fail_reason", reason)
        return stale


class RetryLapsedTrial(RetryHeartbeatStaleTrialCallback):
    """Optuna's retry of a trial failed for a lapsed heartbeat, without that trial's ``fail_reason``:
    the queued copy has not failed."""

    def __call__(self, study: optuna.study.Study, trial: FrozenTrial) -> None:
        trial.user_attrs = {k: v for k, v in trial.user_attrs.items() if k != "fail_reason"}  # (a copy: Optuna's deepcopy)
        super().__call__(study, trial)


__all__ = ["LAPSED", "BeatingStorage", "RetryLapsedTrial"]
