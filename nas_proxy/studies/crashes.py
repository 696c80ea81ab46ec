"""Crash dumps of workers: while a trial trains, :mod:`faulthandler` writes to a file of the trial's own
(named on it: :data:`CRASH_ATTR`), so that a worker a segmentation fault, an abort or a bus error ends leaves
its dump there for the user, and its death is told from a kill -9 or a power cut (which leave the file empty).
"""

from __future__ import annotations

import faulthandler
import os
import sys
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import TextIO

from optuna.trial import FrozenTrial

from nas_proxy.studies.processes import alive, process_id

CRASH_ATTR = "worker_crash_dump"  # the file faulthandler writes to if the worker crashes in native code during the trial


def crash_folder() -> Path:
    """Where workers' crash dumps go: this user's folder in the temporary directory (``TMPDIR``)."""
    return Path(tempfile.gettempdir()) / f"nasproxy-{getattr(os, 'getuid', lambda: 'user')()}-crashes"


def crash_folders() -> tuple[Path, ...]:
    """Where a dump may go, in order: :func:`crash_folder`, else (a full or read-only temporary directory)
    this user's cache folder (``XDG_CACHE_HOME``, ``~/.cache``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return crash_folder(), Path(cache) / "nasproxy" / "crashes"


def _blank(path: Path) -> bool:
    """Whether a dump file holds no dump: empty, or only the room reserved for one (:data:`DUMP_ROOM`)."""
    return not path.read_bytes().strip()


class _CrashWatch:
    """:mod:`faulthandler` writing to a file of its own while a trial trains in this process: a worker
    that a segmentation fault, an abort or a bus error ends leaves its dump there (a kill -9 or a power
    cut leaves the file empty). Removed when the last trial running here ends; faulthandler is then
    as it was (on, to the process's stderr, when it was on before: ``python -X faulthandler``)."""

    def __init__(self) -> None:
        self.file: TextIO | None = None
        self.path: Path | None = None
        self.trials = 0
        self.was_on = False
        self.swept = False

    def start(self) -> Path | None:
        """The dump file of a trial that starts training here (None where none can be made)."""
        if self.trials == 0:
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
        self.trials += 1
        return self.path

    def stop(self) -> None:
        """A trial that trained here ended (its objective returned or raised)."""
        if self.trials == 0:
            return
        self.trials -= 1
        if self.trials or self.file is None or self.path is None:
            return
        faulthandler.disable()
        if self.was_on and sys.__stderr__ is not None:
            with suppress(Exception):  # a stderr without a file descriptor
                faulthandler.enable(file=sys.__stderr__)
        self.file.close()
        self.path.unlink(missing_ok=True)
        self.file = self.path = None


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
    for path in folder.glob("*.txt"):
        pid = process_id(int(digits)) if (digits := path.name.partition("-")[0]).isdecimal() else None
        # (a name of 0 or past the largest id, put there by hand: before fix49b, 0 was os.kill'ed, a huge one raised)
        with suppress(OSError):
            if pid is not None and not alive(pid) and _blank(path):
                path.unlink()


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
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return None
    return (lines[0], path) if lines else None


def watch_start() -> Path | None:
    """The dump file of a trial that starts training in this process (None where none can be made)."""
    return _CRASHES.start()


def watch_stop() -> None:
    """A trial that trained in this process ended: the dump file goes with the last one."""
    _CRASHES.stop()


__all__ = [
    "CRASH_ATTR",
    "DUMP_ROOM",
    "crash_dump",
    "crash_folder",
    "crash_folders",
    "dump_file",
    "sweep_crash_folder",
    "watch_start",
    "watch_stop",
]
