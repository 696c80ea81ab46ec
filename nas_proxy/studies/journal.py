"""A study's journal file, written whole or not at all: a torn end is set aside, a damaged middle refused.

Optuna's ``JournalFileBackend`` (``optuna/storages/journal/_file.py``) appends each record under a
lock, and its reader skips a last line without a newline (rightly: a writer may be writing it).
But a writer that dies in the middle of a record (killed, or the disk full) leaves that partial
line, and the next append, opened with ``"ab"``, writes its record straight onto it: one line that
is not JSON, which readers skip while it is last and refuse (``JSONDecodeError``) as soon as a
record follows. The study is then corrupt in its middle. :class:`JournalFile` closes that hole
(``docs/architecture.md``, "Torn journals", has the fix offered upstream):

- **Appends are whole.** A write that fails (a full disk) is cut back to the size before it, so
  no partial line stays; the failure is the one-line :class:`~nas_proxy.files.DiskFullError`.
- **A torn end is set aside**, under the lock (a live writer holds it for its whole write), when
  the journal is opened and before every append, whichever process does it: the partial bytes go
  to ``journal.log.torn-<UTC time>`` beside the journal, the journal is cut back to its last whole
  record, and a :class:`~nas_proxy.errors.JournalRepairedWarning` says so. A last record whose bytes
  are all there but its newline is whole: the newline is added.
- **A damaged middle is refused**, naming its line (:class:`JournalDamagedError`): the records
  after it may hold anything, so it is never repaired silently.
- Ctrl-C cannot cut a write in half, and a journal on a disk that cannot be written is still read.
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import Any, Protocol

from optuna.storages.journal import JournalFileBackend

from nas_proxy import interrupts
from nas_proxy.errors import JournalRepairedWarning, NasProxyError
from nas_proxy.files import RESUME, append_whole, check_writable, shorten, write_bytes, write_error, writing, wrote_in
from nas_proxy.studies.journal_lock import HolderLock

TORN_SUFFIX = ".torn-"  # journal.log.torn-20261203T054554Z: the bytes of a torn last record
BLOCK = 1 << 16  # bytes read at a time when looking for the start of the last line


class JournalDamagedError(NasProxyError):
    """A journal with a line in its middle that is not a whole record."""


class JournalGoneError(NasProxyError):
    """The journal file was moved or deleted while the command used it."""


class JournalFile(JournalFileBackend):
    """The journal file at ``path`` (made absolute), locked by :class:`~nas_proxy.studies.journal_lock.HolderLock`:
    a lock left by a killed process of this machine is taken at once, another's after its grace period."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.shown = path  # as the user gave it: what a message names, as other commands' messages do
        if not self.path.exists():
            with writing(self.shown):
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666))
        super().__init__(str(self.path), HolderLock(self.path))  # a dead holder's lock is taken at once (fix42a)
        if not self._ends_whole() and self._writable():  # (read-only: readers skip a torn end)
            with interrupts.deferred(), self._locked():
                self._set_aside_torn_end(check_last=True)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        data = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode()
        if not self.path.exists():  # moved or deleted while the command ran (drill43: a bare FileNotFoundError)
            raise self._gone()
        if not self._writable():
            check_writable(self.shown)  # its folder named where that is the cause (before: the file, which ls shows writable)
            read_only = bool(os.statvfs(self.path.parent).f_flag & os.ST_RDONLY)
            raise write_error(OSError(errno.EROFS if read_only else errno.EACCES, "cannot write"), self.shown)
        with interrupts.deferred(), self._locked():  # Optuna's lock release turns a KeyboardInterrupt into FileNotFoundError
            self._set_aside_torn_end(check_last=False)
            with writing(self.shown, len(data)):
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                append_whole(fd, data, self.shown)
            finally:
                os.close(fd)
        wrote_in(self.path.parent)  # a disk turned read-only later is then said so (drill44)

    def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
        try:
            yield from super().read_logs(log_number_from)
        except ValueError:  # json.JSONDecodeError, or Optuna's "Invalid log format."
            raise self._damaged() from None
        except FileNotFoundError:
            raise self._gone() from None

    def _gone(self) -> JournalGoneError:
        """The journal (or its folder) moved or deleted while the command ran: before drill43 Optuna's tell met a
        bare FileNotFoundError, failed to read the trial back, and raised UnboundLocalError over it ("internal error")."""
        return JournalGoneError(
            f"{shorten(self.shown)} no longer exists: it or its folder was moved or deleted while this command ran; "
            f"put it back, then {RESUME}"
        )

    # ------------------------------------------------------------ the end of the file

    def _writable(self) -> bool:
        """Whether this process may write the journal's folder (the lock is made there)."""
        return os.access(self.path.parent, os.W_OK | os.X_OK) and os.access(self.path, os.W_OK)

    def _locked(self) -> _Held:
        return _Held(self._lock, self.shown)

    def _ends_whole(self) -> bool:
        """Whether the file ends with a whole record (or is empty), read without the lock: a line
        with its newline is written and stays so; a line without may be a live writer's, which
        only the lock tells. A whole last line that is not a record is refused."""
        with writing(self.shown):
            fd = os.open(self.path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                return True
            start = _last_line_start(fd, size)
            tail = os.pread(fd, size - start, start)
        finally:
            os.close(fd)
        if not tail.endswith(b"\n"):
            return False
        if not _is_record(tail):  # Optuna's reader skips a bad last line: say so now
            raise self._damaged()
        return True

    def _set_aside_torn_end(self, check_last: bool) -> None:
        """The caller holds the lock, so a last line without its newline belongs to no live writer."""
        with writing(self.shown):
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                return
            start = _last_line_start(fd, size)
            tail = os.pread(fd, size - start, start)
            if tail.endswith(b"\n"):
                if check_last and not _is_record(tail):  # Optuna's reader skips a bad last line: say so now
                    raise self._damaged()
                return
            if _is_record(tail):  # every byte there but the newline
                append_whole(fd, b"\n", self.shown)
                _warn(f"journal {shorten(self.shown)}: its last record lacked only its final newline (a write cut short); completed it")
                return
            side = _side_file(self.path)
            write_bytes(side, tail)  # kept before anything is cut (a full disk stops here, the journal untouched)
            with writing(self.shown):
                os.ftruncate(fd, start)
                os.fsync(fd)
            _warn(
                f"journal {shorten(self.shown)}: its last record was cut short (a process stopped or the disk filled mid-write); "
                f"set aside its {len(tail):,} bytes in {side.name} beside it; the journal ends at the whole record before"
            )
        finally:
            os.close(fd)

    def _damaged(self) -> NasProxyError:
        """The one-line error naming the first line that is not a whole record."""
        number = _first_bad_line(self.path)
        where = f"line {number}" if number else "a line"
        cut = f" (head -n {number - 1} keeps the records before it)" if number else ""
        return JournalDamagedError(
            f"journal {shorten(self.shown)}: {where} is not a whole journal record and not a torn end (which nasproxy sets aside), so "
            f"the study cannot be read safely; restore the journal from a backup, or cut it before {where}{cut}"
        )


class _Lock(Protocol):
    def acquire(self) -> bool: ...

    def release(self) -> None: ...


class _Held:
    """The journal lock held for a block; a lock that cannot be made is the one-line write error."""

    def __init__(self, lock: _Lock, path: Path) -> None:
        self.lock, self.path = lock, path

    def __enter__(self) -> None:
        with writing(self.path):
            self.lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def _is_record(line: bytes) -> bool:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # (nested too deeply: uncaught before fix62a)
        return False
    return isinstance(record, dict) and "op_code" in record


def _last_line_start(fd: int, size: int) -> int:
    """The offset of the last line's first byte (the line ending at ``size``, its newline included)."""
    end = size - 1  # a final newline ends the last line; it does not start a new one
    while end > 0:
        begin = max(0, end - BLOCK)
        found = os.pread(fd, end - begin, begin).rfind(b"\n")
        if found >= 0:
            return begin + found + 1
        end = begin
    return 0


def _first_bad_line(path: Path) -> int | None:
    """The number (from 1) of the first line that is not a whole record, if any."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            if not line.endswith(b"\n"):
                return None  # a torn end (being written, or set aside on the next open)
            if not _is_record(line):
                return number
    return None


def _side_file(path: Path) -> Path:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    side = path.with_name(f"{path.name}{TORN_SUFFIX}{stamp}")
    n = 1
    while side.exists():
        n += 1
        side = path.with_name(f"{path.name}{TORN_SUFFIX}{stamp}-{n}")
    return side


def _warn(message: str) -> None:
    warnings.warn(JournalRepairedWarning(message), stacklevel=4)


__all__ = ["TORN_SUFFIX", "JournalDamagedError", "JournalFile", "JournalGoneError"]
