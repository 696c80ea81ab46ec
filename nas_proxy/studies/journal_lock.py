"""A journal's lock, which names its holder: one left by a process that is provably dead is taken at once.

Optuna's ``JournalFileSymlinkLock`` makes ``journal.log.lock`` (a symbolic link: one system call, so
it holds on NFS) and breaks one it finds once it has seen it unchanged for its grace period: every
command after a kill -9 that left the lock waited 30 s, and before branch fix42a an older lock was
judged by the wall clock against the file's time (another machine's, over NFS). :class:`HolderLock`
makes the lock a small file naming its holder (process id and start, :func:`processes.process_start`,
its boot and process namespace), linked into place whole (``link``: one system call on NFS too).
The rule for a lock found held:

- **a holder this machine can judge** (the same boot, and this process's pid namespace or one it sees:
  one made below it by ``unshare --pid``) is judged by its process (:func:`processes.gone_from_here`): ended (a zombie, killed and not yet
  reaped, too), or its id now another process's, the lock is taken at once; alive, or one this user may
  not see (another's, under /proc's hidepid), it is never taken, however long it holds it;
- **any other** (a process of another machine sharing the folder over NFS, or of a pid namespace this
  one cannot see: an ancestor's, a sibling container's; a lock that records no
  holder: Optuna's own, one nasproxy made before fix42a, or a record this user may not read) is taken once this process has seen it
  unchanged for :data:`LOCK_GRACE_SECONDS` on its monotonic clock (no wall clock: another machine's
  and the file server's may differ); a symbolic link that leads nowhere (made by a relative path) at once.

A lock is broken under a second one, ``journal.log.lock.break``, so that two processes that found the
same dead lock do not both break it, the second removing the lock the first had just taken. A waiter
writes its record once (beside the lock, readable by all, linked into place at each try) and sleeps
between tries; a holder removes, as it releases, only the lock that still records it.

A process killed in the microseconds between writing its record and removing it, or between renaming a lock
and removing it, leaves ``journal.log.lock.HEX.new`` or ``journal.log.lockHEX.rename`` (Optuna's release
renames so too). A lock's first acquire in a process removes those of a writer that is gone, by the rule
above (never a live writer's, nor another machine's); one that names no writer (Optuna's link, a record
cut short) once its last change is :data:`LOCK_GRACE_SECONDS` older than this process's record, just
written: both times are the file server's clock.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from optuna.storages.journal import JournalFileSymlinkLock

from nas_proxy.pids import process_id
from nas_proxy.studies.processes import gone_from_here, pid_namespace, process_start

LOCK_GRACE_SECONDS = 30  # a lock of an unjudged holder unchanged this long belongs to a killed process (Optuna's default)
NO_RECORD = (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSPC, errno.EDQUOT)  # no hard link, or no room: a bare link
BREAK_SUFFIX = ".break"  # journal.log.lock.break: held while a stale lock is removed
LEFT_SUFFIXES = (".new", ".rename")  # a record written aside, a lock renamed to be removed: left by a kill -9


class HolderLock(JournalFileSymlinkLock):
    """The lock of the journal file ``journal`` (an absolute path): ``journal.log.lock``, at the place of
    Optuna's (so an Optuna or an older nasproxy on the same journal waits for it, and it for theirs)."""

    def __init__(self, journal: Path) -> None:
        super().__init__(str(journal), grace_period=None)  # its acquire is not used: ours judges the holder
        self.path, self.target = Path(f"{journal}.lock"), str(journal)
        self.mine: str | None = None  # the nonce of the lock this object holds (None: a link, no record)
        self.swept = False  # the files killed processes left beside the lock were removed (the first acquire)

    def acquire(self) -> bool:
        """Wait until this process holds the lock (see the module's rule for one found held)."""
        self.mine = _take(self.path, self.target, guarded=True, sweep=not self.swept)
        self.swept = True
        return True

    def release(self) -> None:
        """Remove the lock (renamed first, as Optuna's: a reader never sees it half removed), unless it
        is no longer the one this object made: a holder another machine judged dead by the grace period
        (alive after all, over NFS) leaves the lock taken since in place, or none."""
        if self.mine is None or _ours(self.path, self.mine):
            _remove(self.path)


def holder() -> dict[str, Any]:
    """This process as its locks record it."""
    return {**_process(os.getpid()), "nonce": uuid.uuid4().hex}  # the nonce: a lock made again is another lock


@functools.lru_cache(maxsize=4)
def _process(pid: int) -> dict[str, Any]:
    """Process ``pid`` (this one; a forked child has its own) as a lock records it."""
    return {"pid": pid, "start": process_start(pid), "pid_namespace": pid_namespace()}


def _take(path: Path, target: str, guarded: bool, sweep: bool = False) -> str | None:
    """Wait until this process holds the lock at ``path``; the nonce it recorded (None: a link). ``sweep``: first
    remove the files that killed processes left beside it (see the module's docstring)."""
    seen: tuple[tuple[Any, ...], float] | None = None  # the lock found held, and since when (monotonic)
    delay = 0.001
    with _record(path) as (aside, nonce):  # written once, linked into place at each try
        if sweep:
            _sweep(path, aside)
        while True:
            if _link(aside, path, target):
                return nonce if aside is not None else None
            found = _identity(path)
            if found is not None:
                now = time.monotonic()
                if seen is None or seen[0] != found:
                    seen = (found, now)
                if _stale(path, now - seen[1]):
                    if guarded:  # only one process at a time removes a stale lock, and only the one it judged
                        mutex = path.with_name(path.name + BREAK_SUFFIX)
                        _take(mutex, target, guarded=False)
                        try:
                            if _identity(path) == found:
                                _remove(path, missing_ok=True)
                        finally:
                            _remove(mutex, missing_ok=True)
                    else:  # the break lock of a process killed while it broke one (microseconds wide)
                        _remove(path, missing_ok=True)
                    seen = None
                    continue
            time.sleep(delay)  # also when it was released meanwhile: every pass waits, none spins
            delay = min(delay * 2, 0.1)


@contextlib.contextmanager
def _record(path: Path) -> Iterator[tuple[Path | None, str | None]]:
    """The file naming this process, written beside ``path`` to be linked into place, and its nonce; None and
    None where it cannot be written there (the lock is then Optuna's symbolic link, without a record). Readable
    by everyone whatever the umask: another user's process that shares the folder judges it by what it says."""
    aside = path.with_name(f"{path.name}.{uuid.uuid4().hex}.new")
    try:
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError:
        yield None, None  # (a folder that cannot be written: the symlink's error says so)
        return
    record = holder()
    data = json.dumps(record).encode()
    try:
        try:
            os.fchmod(fd, 0o644)
            if os.write(fd, data) != len(data):  # a full disk can take part of it
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        finally:
            os.close(fd)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(aside)
        if e.errno not in NO_RECORD:
            raise
        yield None, None  # a full disk: the symbolic link still takes no space (before review42, as each try did)
        return
    try:
        yield aside, record["nonce"]
    finally:
        with contextlib.suppress(OSError):
            os.unlink(aside)


def _link(aside: Path | None, path: Path, target: str) -> bool:
    """Put the lock at ``path``: ``aside`` linked into place (False: one is there); where the file system makes
    no hard links (or nothing was written aside), Optuna's symbolic link to ``target``."""
    if aside is None:
        return _symlink(path, target)
    try:
        os.link(aside, path)
        return True
    except FileExistsError:
        return False
    except OSError as e:
        if e.errno not in NO_RECORD:
            raise
        return _symlink(path, target)


def _symlink(path: Path, target: str) -> bool:
    try:
        os.symlink(target, path)
    except FileExistsError:
        return False
    return True


def _identity(path: Path) -> tuple[Any, ...] | None:
    """What tells this lock from one made after it (None: no lock there)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    try:
        content: str | bytes | None = os.readlink(path) if os.path.islink(path) else _read(path)
    except OSError:  # a record this user may not read (another's, before fix42a's mode): judged by the grace period
        content = None
    return st.st_ino, st.st_mtime_ns, content


def _read(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


def _stale(path: Path, unchanged_for: float) -> bool:
    """Whether the lock at ``path``, seen unchanged for ``unchanged_for`` seconds, is a dead process's."""
    if os.path.islink(path) and not path.exists():
        return True  # a link made by a relative path: it leads nowhere, and no writer can hold it
    recorded = _holder(path)
    verdict = _verdict(recorded) if recorded is not None else None
    return verdict if verdict is not None else unchanged_for > LOCK_GRACE_SECONDS


def _sweep(path: Path, fresh: Path | None) -> None:
    """Remove the ``.new`` and ``.rename`` files beside the lock at ``path`` whose writer is gone: a recorded
    holder this machine judges by its process; one that names none, when older than ``fresh`` (this process's
    record, just written; None: no such clock here, kept) by the grace period. Another machine's are kept."""
    try:
        now = None if fresh is None else os.lstat(fresh).st_ctime_ns
        entries = [e for e in os.scandir(path.parent) if e.name.startswith(path.name) and e.name.endswith(LEFT_SUFFIXES)]
    except OSError:
        return
    for entry in entries:
        left = Path(entry.path)
        if left == fresh:
            continue
        recorded = None if entry.is_symlink() else _holder(left)
        try:
            if recorded is not None:
                dead = _verdict(recorded) is True
            else:  # a link (Optuna's), a record cut short: how long since it last changed, on the server's clock
                dead = now is not None and now - os.lstat(left).st_ctime_ns > LOCK_GRACE_SECONDS * 1e9
            if dead:
                left.unlink()
        except OSError:  # removed meanwhile (its writer, or another sweep), or not ours to remove
            continue


def _ours(path: Path, nonce: str) -> bool:
    """Whether the lock at ``path`` is still the one that recorded ``nonce`` (a record this process cannot read
    counts as its own: it wrote it readable)."""
    if os.path.islink(path) or not os.path.lexists(path):
        return False
    found = _holder(path)
    return found is None or found.get("nonce") == nonce


def _holder(path: Path) -> dict[str, Any] | None:
    """The holder a lock names (None: a link, or a record cut short or unreadable)."""
    try:
        record = json.loads(_read(path))
    except (OSError, ValueError):
        return None
    # a pid that is no process id (true, 0, -1, 2**70: a hand edit) names no holder: before fix49b, -1 and 0 were handed to
    # os.kill (every process, this one's group: "alive", the lock never taken), 2**70 raised OverflowError
    if not isinstance(record, dict) or process_id(record.get("pid")) is None or not isinstance(record.get("start"), str):
        return None
    return record


def _verdict(recorded: dict[str, Any]) -> bool | None:
    """Whether the holder ``recorded`` names has ended (a zombie too, or its id another process's now), where
    this process can tell: the same boot, and its pid namespace this one's or one this one sees (a holder under
    ``unshare --pid`` killed in the lock: taken at once since drill43, not after the grace period); None otherwise."""
    mine = _process(os.getpid())
    if mine["start"] is None or not isinstance(recorded.get("pid_namespace"), str):
        return None
    if str(recorded["start"]).split(":")[0] != mine["start"].split(":")[0]:
        return None
    return gone_from_here(recorded["pid"], recorded["start"], recorded["pid_namespace"])


def _remove(path: Path, missing_ok: bool = False) -> None:
    grave = path.with_name(f"{path.name}{uuid.uuid4().hex}.rename")
    try:
        os.rename(path, grave)
    except FileNotFoundError:
        if missing_ok:
            return
        raise RuntimeError("Error: did not possess lock") from None
    except OSError:
        raise RuntimeError("Error: did not possess lock") from None
    with contextlib.suppress(FileNotFoundError):  # a sweep judged its holder gone (it was: this breaks its lock)
        os.unlink(grave)


__all__ = ["BREAK_SUFFIX", "LOCK_GRACE_SECONDS", "HolderLock", "holder"]
