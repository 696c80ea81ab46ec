"""Where studies live: a journal file by default, any Optuna storage URL on request.

- no URL: ``studies/<study>/journal.log`` (JournalStorage; safe for several processes on one
  host, and optuna-dashboard reads it);
- a path, or ``journal:PATH``: a journal file there;
- ``sqlite:///file.db``: one process (parallel SQLite writers hit "database is locked");
- ``postgresql://...`` / ``mysql://...``: several machines, with heartbeats: a trial whose worker
  stopped beating is failed and re-queued (``RetryHeartbeatStaleTrialCallback``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from optuna.storages import BaseStorage, JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

from nas_proxy import interrupts
from nas_proxy.errors import NasProxyError

STUDIES_DIR = Path("studies")
HEARTBEAT_SECONDS = 60  # a running trial's worker writes a heartbeat this often (RDB only)
GRACE_SECONDS = 180  # no heartbeat for this long: the trial is failed and retried
MAX_RETRY = 2  # times a trial whose worker died is re-queued
LOCK_GRACE_SECONDS = 30  # a journal lock held this long belongs to a killed process (Optuna's default); writes take milliseconds


class StorageError(NasProxyError):
    """A storage URL that cannot be opened."""


def study_dir(study: str, root: Path = STUDIES_DIR) -> Path:
    """``studies/<study>/``: the default home of a study's journal, exports and artifacts."""
    if not study or "/" in study or study.startswith("."):
        raise StorageError(f"study names are plain names without '/' (got {study!r})")
    return root / study


def default_storage_url(study: str) -> str:
    return f"journal:{study_dir(study) / 'journal.log'}"


def open_storage(
    url: str | None, study: str, heartbeat_interval: int = HEARTBEAT_SECONDS, grace_period: int = GRACE_SECONDS
) -> tuple[BaseStorage, str]:
    """(storage, the URL it was opened from); one-line :class:`StorageError` when it cannot be opened.

    ``heartbeat_interval`` and ``grace_period`` (seconds) apply to database storages other than SQLite.
    """
    url = url or default_storage_url(study)
    try:
        if url.startswith(("sqlite:", "postgresql", "mysql", "oracle", "mssql")):
            heartbeat = (
                {}
                if url.startswith("sqlite:")
                else {
                    "heartbeat_interval": heartbeat_interval,
                    "grace_period": grace_period,
                    "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
                }
            )
            return RDBStorage(url, engine_kwargs=None, **heartbeat), url  # type: ignore[arg-type]
        if "://" in url:
            raise StorageError(f"unsupported storage URL {url!r}: use a journal file path, sqlite:///FILE, postgresql://... or mysql://...")
        path = Path(url.removeprefix("journal:"))
        if path.is_dir():
            raise StorageError(f"storage {path} is a directory; give a journal file path such as {path / 'journal.log'}")
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(_JournalFile(path)), f"journal:{path}"
    except StorageError:
        raise
    except (ImportError, ModuleNotFoundError) as e:
        raise StorageError(
            f"cannot open storage {url!r}: a database driver is missing ({e}); pip install it (e.g. psycopg2-binary or pymysql)"
        ) from None
    except Exception as e:  # noqa: BLE001 - SQLAlchemy and the OS raise many types; the message matters
        raise StorageError(f"cannot open storage {url!r}: {' '.join(str(e).split())[:300]}") from None


class _JournalFile(JournalFileBackend):
    """A journal file at an absolute path whose writes Ctrl-C cannot cut in half.

    The lock is a symlink to the journal: with a relative path it dangles, and a lock left by a
    killed process then makes every later writer spin forever instead of breaking it after
    :data:`LOCK_GRACE_SECONDS`.
    """

    def __init__(self, path: Path) -> None:
        absolute = str(path.resolve())
        _break_stale_lock(Path(absolute + ".lock"))
        super().__init__(absolute, JournalFileSymlinkLock(absolute, grace_period=LOCK_GRACE_SECONDS))

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        with interrupts.deferred():  # Optuna's lock release turns a KeyboardInterrupt into FileNotFoundError
            super().append_logs(logs)


def _break_stale_lock(lock: Path) -> None:
    """Remove a lock that dangles (made by a relative path) or is older than the grace period: its
    writer was killed (a live one holds it for milliseconds)."""
    try:
        made = os.lstat(lock).st_mtime
    except FileNotFoundError:
        return
    if not lock.exists() or time.time() - made > LOCK_GRACE_SECONDS:
        lock.unlink(missing_ok=True)


def dashboard_target(url: str) -> str:
    """What to pass to optuna-dashboard for this storage (a journal file path or the URL)."""
    return url.removeprefix("journal:")


__all__ = ["StorageError", "dashboard_target", "default_storage_url", "open_storage", "study_dir"]
