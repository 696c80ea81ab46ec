"""A database storage whose heartbeat outlives a moment without the database.

Optuna records a running trial's heartbeat from a thread, every ``heartbeat_interval`` seconds, and the
thread ends at its first error: a database restarted or a connection dropped mid-trial printed
``Exception in thread ... StorageInternalError`` on the command's stderr (drill40: ``pg_ctl stop -m
immediate``, then ``start``, during a search), and the trial, whose worker lived on, beat no more: after
the grace period a survivor failed it and trained it again. Imported only where a database storage is
opened (:func:`nas_proxy.studies.storage.open_storage`).
"""

from __future__ import annotations

from contextlib import suppress

from optuna.exceptions import StorageInternalError
from optuna.storages import RDBStorage


class BeatingStorage(RDBStorage):
    """:class:`~optuna.storages.RDBStorage` whose heartbeat skips a beat the database refused: the next
    interval tries again. Only the heartbeat: every other write still fails as before."""

    def record_heartbeat(self, trial_id: int) -> None:
        with suppress(StorageInternalError):  # the database is away for a moment; a lapse past the grace period retries the trial
            super().record_heartbeat(trial_id)


__all__ = ["BeatingStorage"]
