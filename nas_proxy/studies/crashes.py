"""Crash dumps of workers: while a trial trains, :mod:`faulthandler` writes to a file of the trial's own
(named on it: :data:`CRASH_ATTR`), so that a worker a segmentation fault, an abort or a bus error ends leaves
its dump there for the user, and its death is told from a kill -9 or a power cut (which leave the file empty).

Trials that train at once in one process (a thread each: benchmarks' lanes, ``optimize(n_jobs=2)``) share the
process's one faulthandler file, and each names the thread it trains in (:data:`THREAD_ATTR`); while two or more
train, a roster beside the dump (``.threads``) lists their threads. A dump whose crashing thread (faulthandler's
``Current thread``) is another trial's is not this trial's crash (:func:`crash_dump`). Before fix49b a crash was found
in every trial that shared the file, and two trials that started at once made a file each, the first one's closed
unwritten: a crash of the first was found in the second alone.
"""

from __future__ import annotations

import faulthandler
import os
import re
import stat
import sys
import tempfile
import threading
from contextlib import suppress
from pathlib import Path
from typing import TextIO

from optuna.trial import FrozenTrial

from nas_proxy.pids import process_id_named
from nas_proxy.studies.processes import alive

CRASH_ATTR = "worker_crash_dump"  # the file faulthandler writes to if the worker crashes in native code during the trial
THREAD_ATTR = "worker_thread"  # the thread the trial trains in, as faulthandler names it ("0x00007f..."): thread_name
ROSTER_SUFFIX = ".threads"  # beside a dump file shared by trials training at once: their threads, a line each
_CURRENT = re.compile(r"^Current thread (0x[0-9a-fA-F]+)")  # faulthandler's line for the thread that crashed


def crash_folder() -> Path:
    """Where workers' crash dumps go: this user's folder in the temporary directory (``TMPDIR``)."""
    return Path(tempfile.gettempdir()) / f"nasproxy-{getattr(os, 'getuid', lambda: 'user')()}-crashes"


def crash_folders() -> tuple[Path, ...]:
    """Where a dump may go, in order: :func:`crash_folder`, else (a full or read-only temporary directory)
    this user's cache folder (``XDG_CACHE_HOME``, ``~/.cache``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return crash_folder(), Path(cache) / "nasproxy" / "crashes"


def _blank(path: Path) -> bool:
    """Whether a dump file holds no dump: empty, or only the room reserved for one (:data:`DUMP_ROOM`). Only a regular
    file of this name is one (see :func:`_read`): anything else there is not blank, so it is neither removed nor read."""
    text = _read(path, stop_at_text=True)
    return text is not None and not text.strip()


def _read(path: Path, stop_at_text: bool = False) -> bytes | None:
    """The bytes of ``path`` where it is a regular file, not a link (None otherwise): the crash folders lie in the
    temporary folder and the cache, and a worker names its files there. Before probe54 a FIFO there named as a gone
    process's file (``31999-x.txt``) blocked every search at its first trial (the sweep's read waited for a writer, for
    ever), and a link to /dev/zero filled the memory. ``stop_at_text``: stop at the first chunk holding more than
    newlines and blanks (all :func:`_blank` needs; a dump is small, a file of another's need not be)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        while chunk := f.read(DUMP_ROOM):
            chunks.append(chunk)
            if stop_at_text and chunk.strip():
                break
        return b"".join(chunks)


class _CrashWatch:
    """:mod:`faulthandler` writing to a file of its own while a trial trains in this process: a worker
    that a segmentation fault, an abort or a bus error ends leaves its dump there (a kill -9 or a power
    cut leaves the file empty). Removed when the last trial running here ends; faulthandler is then
    as it was (on, to the process's stderr, when it was on before: ``python -X faulthandler``). Trials that
    train at once share it, their threads in its roster while two or more do."""

    def __init__(self) -> None:
        self.file: TextIO | None = None
        self.path: Path | None = None
        self.threads: list[int] = []  # the threads of the trials training here now, an entry a trial
        self.was_on = False
        self.swept = False
        self.lock = threading.Lock()  # (two trials starting at once made a file each before fix49b)

    def start(self) -> Path | None:
        """The dump file of a trial that starts training here, in this thread (None where none can be made)."""
        with self.lock:
            if not self.threads:
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
            self.threads.append(threading.get_ident())
            self._list()
            return self.path

    def stop(self) -> None:
        """A trial that trained here, in this thread, ended (its objective returned or raised)."""
        with self.lock:
            if threading.get_ident() not in self.threads:
                return
            self.threads.remove(threading.get_ident())
            if self.threads or self.file is None or self.path is None:
                self._list()
                return
            faulthandler.disable()
            if self.was_on and sys.__stderr__ is not None:
                with suppress(Exception):  # a stderr without a file descriptor
                    faulthandler.enable(file=sys.__stderr__)
            self.file.close()
            _remove(self.path)
            self.file = self.path = None

    def _list(self) -> None:
        """Write the roster of the trials' threads while two or more train here (one alone needs none: the file is its
        own); one written when they were two is kept up to date."""
        if self.path is None:
            return
        roster = self.path.with_suffix(ROSTER_SUFFIX)
        if len(self.threads) < 2 and not roster.exists():
            return
        with suppress(OSError):  # (a full disk: no roster, and a crash counts against every trial that shared the file)
            part = roster.with_name(roster.name + ".part")
            part.write_text("".join(f"{thread_name(t)}\n" for t in self.threads))
            os.replace(part, roster)


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
    for path in [*folder.glob("*.txt"), *folder.glob(f"*{ROSTER_SUFFIX}")]:
        pid = process_id_named(path.name)  # as a worker names its file: before stop 50 str.isdecimal took '0042' and
        # Arabic-Indic digits (names no worker gives) and removed such a file; 0 or past the largest id: before fix49b os.kill'ed
        with suppress(OSError):
            if pid is None or alive(pid):
                continue
            if path.suffix == ".txt" and _blank(path):
                _remove(path)
            elif path.suffix == ROSTER_SUFFIX and not path.with_suffix(".txt").exists():
                path.unlink()  # its dump read and removed by the user


def dump_file(t: FrozenTrial) -> Path | None:
    """The crash dump file ``t`` names, if it is one (a study's attribute names no other file to read or remove)."""
    named = t.user_attrs.get(CRASH_ATTR)
    path = Path(named) if isinstance(named, str) else None
    return path if path is not None and path.parent in crash_folders() and path.suffix == ".txt" else None


def crash_dump(t: FrozenTrial) -> tuple[str, Path] | None:
    """The first line of the dump and its file, when ``t``'s worker crashed in native code while it trained
    ``t`` (faulthandler wrote its dump, on this host); None otherwise."""
    path = dump_file(t)
    if path is None:
        return None
    try:
        data = _read(path)
    except OSError:
        return None
    lines = data.decode(errors="replace").strip().splitlines() if data is not None else []
    if not lines:
        return None
    crashed = next((int(m.group(1), 16) for m in map(_CURRENT.match, lines) if m), None)
    if crashed is not None and crashed != _thread(t.user_attrs.get(THREAD_ATTR)) and crashed in _roster(path):
        return None  # the thread that crashed was another trial's, training beside this one in its process
    return lines[0], path


def remove_if_blank(t: FrozenTrial) -> None:
    """Remove the dump file ``t`` names where it holds no dump (its worker killed outright), its roster with it; a dump
    stays for the user to read (before fix49b, a trial whose file held another trial's crash would have removed it)."""
    path = dump_file(t)
    with suppress(OSError):
        if path is not None and _blank(path):
            _remove(path)


def thread_name(ident: int) -> str:
    """Thread ``ident`` (:func:`threading.get_ident`) as faulthandler names it in a dump: ``0x`` and 16 hex digits."""
    return f"0x{ident:016x}"


def _thread(name: object) -> int | None:
    """The thread a :func:`thread_name` names; None where it names none (a trial of before fix49b, a hand edit)."""
    try:
        return int(name, 16) if isinstance(name, str) else None
    except ValueError:
        return None


def _roster(path: Path) -> set[int]:
    """The threads of the trials that trained at once in the process of dump ``path`` (none: one trained alone, or
    the roster could not be written: a crash is then every sharing trial's, as before)."""
    try:
        data = _read(path.with_suffix(ROSTER_SUFFIX))
    except OSError:
        return set()
    names = data.decode(errors="replace").split() if data is not None else []
    return {t for t in map(_thread, names) if t is not None}


def _remove(path: Path) -> None:
    """Remove dump file ``path`` and its roster."""
    path.unlink(missing_ok=True)
    path.with_suffix(ROSTER_SUFFIX).unlink(missing_ok=True)


def watch_start() -> Path | None:
    """The dump file of a trial that starts training in this process (None where none can be made)."""
    return _CRASHES.start()


def watch_stop() -> None:
    """A trial that trained in this process ended: the dump file goes with the last one."""
    _CRASHES.stop()


__all__ = [
    "CRASH_ATTR",
    "DUMP_ROOM",
    "ROSTER_SUFFIX",
    "THREAD_ATTR",
    "crash_dump",
    "crash_folder",
    "crash_folders",
    "dump_file",
    "remove_if_blank",
    "sweep_crash_folder",
    "thread_name",
    "watch_start",
    "watch_stop",
]
