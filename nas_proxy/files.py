"""Writing files so that a failure leaves every earlier result whole and says why in one line.

- :func:`atomic_path` (and :func:`write_bytes`, :func:`write_text`, :func:`write_json`): a new
  file is written beside its target, flushed to disk and renamed over it, so a crash, Ctrl-C or a
  full disk leaves the old file (or none), never half of a new one. The temporary file a kill -9
  left there is removed the next time that target is written (:func:`stale_temporaries`).
- :func:`append_whole`: an append written in full or not at all: a failed write is cut back.
- :func:`check_writable`: refuses, before a command writes anything, a path that cannot be written.
- :func:`output_lock`: one nasproxy process at a time writes an output folder; a second is refused
  in one line (an OS lock, released when its holder dies, so a kill -9 leaves none held).
  A lock folder made for it (a calibration's, beside its study's storage) is locked the same way.
- :func:`write_error`: the ``OSError`` a user can act on (a full disk or quota, a read-only file
  system, no permission, a path through a file, a name too long, a file-size limit) as a one-line
  :class:`FileWriteError` naming the path; a full disk also names the bytes and the free space, or
  that no inode is left (a file system that can hold no more files, its bytes to spare).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nas_proxy.errors import NasProxyError, soft_limit

FULL = (errno.ENOSPC, errno.EDQUOT)
RESUME = "run the same command again"  # what a full disk's message says to do once there is room
SHOWN_NAME = 40  # longer path components are shortened in messages (a 300-character name would fill the line)
# the kernel's file systems, which show its state as files and hold no one's own (mount types, as /proc/self/mounts names them)
VIRTUAL = {
    "proc": "the kernel's view of its processes",
    "sysfs": "the kernel's view of its devices and drivers",
    **dict.fromkeys(("cgroup", "cgroup2"), "the kernel's control groups"),
    **dict.fromkeys(("debugfs", "tracefs", "securityfs", "configfs", "pstore", "bpf", "efivarfs", "fusectl"), "one of the kernel's own"),
}
# atomic_path's temporary file beside TARGET: .TARGET.PID-RANDOM.tmp (the writer's process id, 8 hex
# digits); .TARGET.RANDOM.tmp before the process id was in it. Nothing else is ever taken for one
_TEMPORARY_TAIL = re.compile(r"(?:(?P<pid>[0-9]+)-)?[0-9a-f]{8}\.tmp")  # what follows ".TARGET."


class FileWriteError(NasProxyError):
    """A file or folder that cannot be written: a read-only file system, no permission, a path
    through a file, a name too long (and the full disk of :class:`DiskFullError`)."""


class FolderGoneError(FileWriteError):
    """A folder this command had written in, moved or deleted (or replaced) while it ran (:func:`one_command`)."""


class FolderBusyError(NasProxyError):
    """An output folder another nasproxy process is writing now (:func:`output_lock`)."""


class DiskFullError(FileWriteError):
    """No space left on the device (ENOSPC) or the user's disk quota exceeded (EDQUOT). Exit 4: not
    bad input; the same command continues once there is room."""

    exit_code = 4

    def __init__(self, path: Path, needed: int | None, free: int | None, quota: bool = False, inodes: int | None = None) -> None:
        what, fix = ("disk quota exceeded", "free space within your quota") if quota else ("no space left on device", "free space")
        wanted = "an unknown number of bytes" if needed is None else f"{needed:,} bytes"
        there = "an unknown number of bytes" if free is None else f"{free:,} bytes"
        if inodes is not None:  # bytes to spare, no file entry: freeing bytes would not help
            message = (
                f"{what} writing {shorten(path)}: the file system has no free inodes (it holds {inodes:,} files and folders, "
                f"its most), though {there} are free; delete files there or give a path on another disk, then {RESUME}"
            )
        else:
            message = f"{what} writing {shorten(path)}: {wanted} to write, {there} free; {fix}, then {RESUME}"
        super().__init__(message)
        self.path, self.needed, self.free, self.quota = path, needed, free, quota


def inodes_used_up(path: Path) -> int | None:
    """The number of inodes of the file system that holds ``path`` when none is free for this user (a small
    tmpfs's ``nr_inodes``, a disk of many small files), else None (some free, or the file system does not say)."""
    with contextlib.suppress(OSError, AttributeError):  # (no os.statvfs on Windows)
        found = os.statvfs(existing_ancestor(path))
        if found.f_files > 0 and found.f_favail == 0:
            return int(found.f_files)
    return None


def size_limit() -> int | None:
    """This process's file-size limit in bytes (``ulimit -f``; RLIMIT_FSIZE), None when it has none."""
    return soft_limit("FSIZE")


def free_bytes(path: Path) -> int | None:
    """Free bytes (for this user) on the file system that holds ``path`` or its nearest existing folder."""
    with contextlib.suppress(OSError):
        return shutil.disk_usage(existing_ancestor(path)).free
    return None


def existing_ancestor(path: Path) -> Path:
    """``path`` itself or its nearest folder that exists."""
    path = Path(os.path.abspath(path))
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def read_failure(e: OSError, instead: str = "give one this user may read") -> str:
    """Why a file or folder cannot be read, and what to do where the user can do something (``instead``: what else
    to give): the end of the one-line error of every input (``checks.status``, ``existing_file`` and ``read_text``
    funnel them all, and an image folder's listing and an output folder's config.toml use it), as :func:`write_error`
    says the write side's. Before stop 49 'cannot be read: Permission denied', no remedy; before stop 51 three wordings."""
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"{e.strerror}; change its permissions (a file needs r, a folder r and x, each folder above them x), or {instead}"
    return str(e.strerror or e)


def write_error(e: OSError, path: Path, needed: int | None = None) -> FileWriteError:
    """The one-line error for ``e``, raised while writing ``path`` (``needed``: the bytes it meant to
    write, when known)."""
    shown = shorten(path)
    code = e.errno
    if code in FULL:
        quota = code == errno.EDQUOT
        return DiskFullError(path, needed, free_bytes(path), quota=quota, inodes=None if quota else inodes_used_up(path))
    if (virtual := virtual_file_system(path)) is not None:  # before fix43a, /proc/X read "No such file or directory"
        where, kind = virtual
        return FileWriteError(
            f"cannot write {shown}: no folder or file can be made there: {where} is a virtual file system ({kind}, "
            "which shows the kernel's state as files and holds none of yours); give a path on a disk"
        )
    if code == errno.EFBIG:  # CPython ignores SIGXFSZ: a write past ``ulimit -f`` fails so, instead of killing the process
        limit = size_limit()
        if limit is not None:
            return FileWriteError(
                f"cannot write {shown}: it would pass this process's file-size limit ({limit:,} bytes, ulimit -f); "
                f"raise the limit (ulimit -f unlimited), then {RESUME}"
            )
        return FileWriteError(f"cannot write {shown}: larger than its file system takes (File too large); give a path on another disk")
    if code == errno.EROFS:
        if (point := _turned_read_only(path)) is not None:  # drill44: "give a path on a writable disk" started it over elsewhere
            return FileWriteError(
                f"cannot write {shown}: read-only file system: {shorten(point)} turned read-only while this command wrote on it; "
                f"what it finished there is kept: make it writable again (mount -o remount,rw {shorten(point)}), then {RESUME}"
            )
        return FileWriteError(f"cannot write {shown}: read-only file system; give a path on a writable disk")
    if code in (errno.EACCES, errno.EPERM):
        if (mask := umask()) & 0o300:  # probe52: "give a folder you may write to" of a 777 folder, the umask the cause
            return FileWriteError(
                f"cannot write {shown}: permission denied: this process's umask {mask:04o} takes the owner's write or search "
                f"permission off every folder it makes, so it cannot write into them; set one that leaves them (umask 022), "
                f"then {RESUME}"
            )
        return FileWriteError(f"cannot write {shown}: permission denied; give a folder you may write to, or change its permissions")
    if code in (errno.ENOTDIR, errno.EEXIST):
        blocker = _file_in_the_way(path)
        if blocker is not None:
            return FileWriteError(f"cannot write {shown}: {shorten(blocker)} is a file, not a folder; give another path")
    if code == errno.ENAMETOOLONG:
        return FileWriteError(f"cannot write {shown}: {too_long(path)}")
    if code == errno.EISDIR:
        return FileWriteError(f"cannot write {shown}: it is a folder; give a file path")
    if code == errno.ELOOP:
        return FileWriteError(f"cannot write {shown}: it is a symbolic link loop (it leads back to itself); give a real path")
    return FileWriteError(f"cannot write {shown}: {e.strerror or e}")


def virtual_file_system(path: Path) -> tuple[str, str] | None:
    """The mount point and kind of the kernel's virtual file system (:data:`VIRTUAL`) that holds ``path`` or its
    nearest existing folder, or None: another file system, or a system without ``/proc/self/mounts``."""
    found = mount_of(path)
    return (found[0], VIRTUAL[found[1]]) if found is not None and found[1] in VIRTUAL else None


def mount_of(path: Path) -> tuple[str, str, dict[str, str]] | None:
    """The mount that holds ``path`` or its nearest existing folder: its mount point, file system type and options
    (``{"hidepid": "2", "rw": ""}``), from ``/proc/self/mounts``; None where there is none."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return None
    where = os.path.realpath(existing_ancestor(path))
    found: tuple[str, str, dict[str, str]] | None = None
    for line in mounts:
        fields = line.split()
        if len(fields) < 4:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])  # the octal escapes of a space, a tab
        inside = where == point or where.startswith(point.rstrip("/") + "/")
        if inside and (found is None or len(point) >= len(found[0])):  # the last of equal mount points is the one on top
            found = (point, fields[2], dict(option.partition("=")[::2] for option in fields[3].split(",")))
    return found


NAME_MAX = 255  # bytes of one name (a file or folder) that most file systems take
PATH_MAX = 4095  # bytes of a whole path that Linux takes (4,096 with the ending NUL)


def too_long(path: Path | str) -> str:
    """Why the system refused ``path`` for its length (ENAMETOOLONG), and the fix: a name in it longer than
    its file system takes, or the whole path longer than the kernel takes (each name short enough: before
    probe44, "a name in it is longer than the file system allows (200 bytes; most allow 255)")."""
    longest = max((len(os.fsencode(part)) for part in Path(path).parts), default=0)
    if longest <= NAME_MAX and len(os.fsencode(path)) > PATH_MAX:
        return f"it is {len(os.fsencode(path)):,} bytes long, longer than the system takes ({PATH_MAX:,} at most); use a shorter path"
    return f"a name in it is longer than the file system allows ({longest} bytes; most allow {NAME_MAX}); use a shorter name"


def shorten(path: Path | str) -> str:
    """``path`` for a message, each overlong component cut to its start and its length."""
    parts = [p if len(p) <= SHOWN_NAME else f"{p[:12]}...({len(p)} characters)" for p in Path(path).parts]
    return str(Path(*parts)) if parts else str(path)


def _file_in_the_way(path: Path) -> Path | None:
    """The ancestor of ``path`` (or ``path``'s folder) that is a file, if any."""
    for parent in reversed(Path(path).parents):
        if parent.is_file():
            return parent
    return None


@contextmanager
def writing(path: Path, needed: int | None = None) -> Iterator[None]:
    """Turn an ``OSError`` raised inside into the one-line error naming ``path``."""
    try:
        yield
    except OSError as e:
        raise write_error(e, path, needed) from e


def make_dirs(path: Path) -> Path:
    """``mkdir -p path``, with the one-line error when it cannot be made, and then none of the folders it made left behind
    (probe52: under umask 777 a refused search left an empty ``studies/`` of mode 000 where it could not make ``studies/u``)."""
    if len(os.fsencode(path)) > PATH_MAX:  # its own mkdir would fail so: not after making (and removing) every folder above it
        raise write_error(OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), str(path)), path)
    missing = [folder for folder in (path, *path.parents) if not _there(folder)]  # the deepest first
    made: list[Path] = []  # the folders this call's own mkdir made, the top first
    try:
        with writing(path):
            for folder in reversed(missing):
                try:
                    folder.mkdir()
                except FileExistsError:  # another process made it meanwhile: its, not ours (review53: it was removed)
                    if not folder.is_dir():
                        raise
                    continue
                made.append(folder)
            path.mkdir(exist_ok=True)  # there all along: a file in the way is refused as mkdir -p refuses it
    except FileWriteError:
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only an empty folder: never one another process has begun to fill meanwhile
        raise
    return path


def _there(path: Path) -> bool:
    """Whether anything is at ``path``; one that cannot be looked at counts as there (never removed as ours)."""
    try:
        path.lstat()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return True


def umask() -> int:
    """This process's umask: the kernel shows it in /proc/self/status; elsewhere it is read by setting it and putting
    it back (there is no call that only reads it)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# What nasproxy may add below a path it checks: a folder and a temporary name. Every name below a checked path is
# nasproxy's own (a name the user gives, a study's folder under studies/, is checked as the path itself): the deepest,
# a coupled launch's staged checkpoint written through its temporary, is 78 bytes at 10,000 ranks and a 7-digit pid
# ('/shards/9999-of-10000/..checkpoint.safetensors.staged.tmp.4194303-1a2b3c4d.tmp'). 256 keeps room for a name
# growing without tuning it to one; tests/faults/test_inside_max_fix56a.py writes that file below a path at the edge
# (fix56a: a room computed per command would bound the same names, with no path accepted by one refused by another)
INSIDE_MAX = 256


def check_writable(path: Path | str) -> None:
    """Refuse, in one line, a file or folder path that cannot be written, before anything is: a
    read-only file system, no permission, a file in the way, a name too long. Creates nothing (a
    full disk shows only when a write fails, and is a :class:`DiskFullError` then). ``-`` is
    refused: the usual name of standard output, which nasproxy never writes its results to (it
    would make a file or folder named ``-``)."""
    if str(path) == "-":
        raise FileWriteError(
            "cannot write -: nasproxy writes its results to files, not to standard output; give a path (./- for one named '-')"
        )
    path = Path(path)
    try:
        os.stat(path)  # ENOTDIR (a file in the way), ENAMETOOLONG, EACCES on a folder on the way
    except FileNotFoundError:
        pass
    except OSError as e:
        raise write_error(e, path) from None
    absolute = Path(os.path.abspath(path))
    if len(os.fsencode(absolute)) > PATH_MAX - INSIDE_MAX:  # before probe54: an internal error where it was looked at, or
        raise FileWriteError(  # a distillation's end, where a file inside was written (OSError: File name too long)
            f"cannot write {shorten(path)}: its full path is {len(os.fsencode(absolute)):,} bytes long, and what nasproxy writes "
            f"inside it needs up to {INSIDE_MAX} more of the system's {PATH_MAX:,}; give a shorter path"
        )
    folder = existing_ancestor(absolute.parent) if absolute.exists() else existing_ancestor(absolute)
    if not folder.is_dir():
        if folder.is_symlink() and not folder.exists():  # a link to nothing: "Not a directory" would name no cause
            link = "it" if folder == absolute else shorten(folder if path.is_absolute() else os.path.relpath(folder))
            raise FileWriteError(
                f"cannot write {shorten(path)}: {link} is a symbolic link to {shorten(os.readlink(folder))}, which does not exist; "
                "give a real path, or make what it points to"
            )
        raise write_error(OSError(errno.ENOTDIR, "Not a directory"), path)
    limit = _name_max(folder)
    if any(len(os.fsencode(part)) > limit for part in absolute.relative_to(folder).parts):
        raise write_error(OSError(errno.ENAMETOOLONG, "File name too long"), path)
    target = path if path.exists() else folder
    if not os.access(target, os.W_OK) or (target.is_dir() and not os.access(target, os.X_OK)):
        read_only = bool(os.statvfs(target).f_flag & os.ST_RDONLY)
        raise write_error(OSError(errno.EROFS if read_only else errno.EACCES, "cannot write"), path)
    if path.exists() and not path.is_dir() and not os.access(path.parent, os.W_OK):  # replaced by a rename in its folder
        if bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY):
            raise write_error(OSError(errno.EROFS, "cannot write"), path)
        # named: before perm48 'cannot write s/journal.log: permission denied' of a file this user may write, its folder not
        raise FileWriteError(
            f"cannot write {shorten(path)}: permission denied on its folder {shorten(path.parent)} (where it is replaced, "
            "or its lock made); give a folder you may write to, or change the folder's permissions"
        )
    _try_creating(target if target.is_dir() else absolute.parent, path)


PROBE = ".nasproxy-probe."  # the start of the name of a writability probe where there is no O_TMPFILE (a kill -9 may leave one)


def _try_creating(folder: Path, path: Path) -> None:
    """Create a file in ``folder`` and remove it, or raise the one-line error for ``path``: the test
    that ``os.access`` cannot fake (it says yes to root on /proc, where nothing can be made, and a
    search would run whole before its first write failed). An unnamed file (``O_TMPFILE``) leaves no
    trace, not even the folder's modification time; where the file system has none, a named one."""
    unnamed = getattr(os, "O_TMPFILE", None)
    try:
        if unnamed is not None:
            try:
                os.close(os.open(folder, unnamed | os.O_WRONLY, 0o600))
                return
            except OSError as e:
                if e.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):  # no O_TMPFILE here: try a name
                    raise
        probe = folder / f"{PROBE}{os.getpid()}-{secrets.token_hex(4)}"
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        probe.unlink()
    except OSError as e:
        raise write_error(e, path) from None


def bounded_name(folder: Path, name: str) -> str:
    """``name``, or where it is longer than ``folder``'s file system allows in one name (most allow 255
    bytes), its readable start and a hash of it whole: a name that can always be made there, and that
    two different long names do not share."""
    raw = os.fsencode(name)
    limit = _name_max(folder) if os.path.isdir(folder) else 255
    if len(raw) <= limit:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:16]
    return raw[: min(limit, 255) - len(digest) - 1].decode("utf-8", "ignore") + "-" + digest


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


# inside :func:`one_command`: each folder the command has written a file in, by (device, inode); None outside
_WRITTEN: dict[str, tuple[int, int]] | None = None
_WROTE_ON: dict[str, int] | None = None  # of those, the folders written in themselves (not only below): their device


@contextmanager
def one_command() -> Iterator[None]:
    """Run one command (the CLI's): within it, a write into a folder the command has written in before, which was
    moved or deleted meanwhile (``mv OUT OUT2``, ``rm -rf OUT``) or replaced by another folder, is refused with
    :class:`FolderGoneError` instead of making the folder again and writing the rest of the output there: before
    drill43 ``correlate`` so left its results.csv in the moved folder and its report in a new one, exit 0."""
    global _WRITTEN, _WROTE_ON
    before = _WRITTEN, _WROTE_ON
    _WRITTEN, _WROTE_ON = {}, {}
    try:
        yield
    finally:
        _WRITTEN, _WROTE_ON = before


_IDENTITY = ("st_dev", "st_ino")  # which file a path names: another after it was moved or deleted and made again
_TIMES = ("st_atime_ns", "st_mtime_ns")  # its access and modification times (os.utime's ns)


def _stat(path: str | Path, fields: tuple[str, str]) -> tuple[int, int] | None:
    """Two fields of ``path``'s status (:data:`_IDENTITY`, :data:`_TIMES`); None where it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return getattr(st, fields[0]), getattr(st, fields[1])


def _still_there(folder: Path) -> str | None:
    """Check that each folder above a write (``folder`` and its parents) that this command has written in is still
    the one it wrote in; ``folder``'s absolute path (None: outside :func:`one_command`, or a working folder gone)."""
    if _WRITTEN is None:
        return None
    try:
        here = os.path.abspath(folder)
    except OSError:  # the working folder gone: the CLI says so
        return None
    changed = [seen for seen in (here, *map(str, Path(here).parents)) if seen in _WRITTEN and _stat(seen, _IDENTITY) != _WRITTEN[seen]]
    if changed:  # the outermost: the folder that was moved (its subfolders with it)
        raise FolderGoneError(
            f"{shorten(changed[-1])} was moved or deleted while this command wrote in it, and nothing is written in its "
            "place: move it back and run the same command again (deleted: the same command starts it over)"
        )
    return here


def _wrote_in(here: str | None) -> None:
    """Record the folder ``here`` and the folders above it: a write in ``OUT/cache`` makes ``OUT`` one too, so that a
    later write in ``OUT`` itself after ``rm -rf OUT`` is refused (drill43b: correlate made ``OUT`` again for its
    report, after its cache's last write)."""
    if _WRITTEN is None or _WROTE_ON is None or here is None or here in _WROTE_ON:
        return
    for folder in (here, *map(str, Path(here).parents)):
        if folder in _WRITTEN or (ident := _stat(folder, _IDENTITY)) is None:
            break
        _WRITTEN[folder] = ident
    if here in _WRITTEN:
        _WROTE_ON[here] = _WRITTEN[here][0]


def wrote_in(folder: Path) -> None:
    """Within :func:`one_command`: record that the command has just written in ``folder`` by its own means (a study's
    journal, appended under its lock), as :func:`atomic_path` records its writes."""
    if _WRITTEN is not None:
        _wrote_in(os.path.abspath(folder))


def _turned_read_only(path: Path) -> str | None:
    """Within :func:`one_command`: the mount point of ``path``'s file system where this command wrote on that file system
    before: read-only now, it turned so while the command ran (a disk remounted read-only after errors); else None."""
    if not _WROTE_ON:
        return None
    try:
        device = os.stat(existing_ancestor(path)).st_dev
    except OSError:
        return None
    if device not in _WROTE_ON.values():
        return None
    found = mount_of(path)
    if found is None:
        return str(existing_ancestor(path))
    # the mount written on, not only the device: a read-only bind mount of a disk the command writes on elsewhere (a
    # container's -v /host/data:/data:ro beside -v /host/out:/out) shares its device, and before review44 was said to
    # have turned read-only, to be remounted rw, though it always was
    written = {m[0] for folder, on in _WROTE_ON.items() if on == device and (m := mount_of(Path(folder))) is not None}
    return found[0] if found[0] in written else None


def removed(folder: Path | str) -> None:
    """Within :func:`one_command`: the command removed ``folder`` itself (a lock folder as its holder ends), so a folder
    made at its path later is the command's own, not the one it wrote in moved away. Before fix61b a second lock of the
    same folder in one command (``evaluate`` twice on the same set, model and protocol) was refused with
    :class:`FolderGoneError` wherever the new folder got another inode number."""
    if _WRITTEN is None or _WROTE_ON is None:
        return
    gone = os.path.abspath(folder)
    for seen in [seen for seen in _WRITTEN if seen == gone or seen.startswith(gone + os.sep)]:
        del _WRITTEN[seen]
        _WROTE_ON.pop(seen, None)


def watch(folder: Path) -> None:
    """Within :func:`one_command`: ``folder``, where it exists, counts from now on as a folder the command writes in, so
    that a write below it after it was moved or deleted is refused, not made again. For a folder the command writes in
    only through subfolders it makes as it goes: run's ``runs/NAME`` (drill43b: ``rm -rf runs/tiny`` during the search
    stage made ``runs/tiny/search`` again, best.json and trials.csv in it, and the next stage said
    "runs/tiny/synthetic-datadam-ipc2 does not exist"), a synthetic set whose ``evaluations/`` evaluate and score keep."""
    _wrote_in(_still_there(folder))


def check_not_gone(path: Path) -> None:
    """Within :func:`one_command`: :class:`FolderGoneError` where ``path``, found missing, lies in a folder the command
    writes in that was moved or deleted meanwhile (said so, not as a path that does not exist); nothing otherwise."""
    _still_there(path)


@contextmanager
def atomic_path(path: Path, size: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; once the body has written it, it is flushed to disk
    and replaces ``path`` in one rename. ``size``: the bytes to be written, for a full disk's message.

    A crash, Ctrl-C or a full disk in the middle leaves the old file (or none), never half of a new
    one, nor a folder the write made and left empty; an ``OSError`` of the body or of the write becomes the one-line :class:`FileWriteError`.
    """
    path = Path(path)
    here = _still_there(path.parent)
    made = _make(path.parent)  # deepest first; removed again when this write fails (an empty evaluations/ after a full disk)
    try:
        make_dirs(path.parent)  # the one-line error where a folder could not be made
        for stale in stale_temporaries(path):  # what a writer of this file killed mid-write left: nobody will finish it
            with contextlib.suppress(OSError):
                stale.unlink()
        tmp = _new_temporary(path, size)
        try:
            try:
                yield tmp
                with open(tmp, "rb") as f:  # what the body wrote is on the disk before it replaces the old file
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except OSError as e:
                raise write_error(e, path, size) from e
            sync_folder(path.parent)
            _wrote_in(here)
        finally:
            tmp.unlink(missing_ok=True)
    except BaseException:
        for p in made:
            with contextlib.suppress(OSError):
                p.rmdir()  # only when empty: another writer's file meanwhile stays
        raise


def _new_temporary(path: Path, size: int | None) -> Path:
    """An empty new file ``.NAME.PID-RANDOM.tmp`` beside ``path``, with the permissions a new file gets
    (``mkstemp`` makes 0600); the process id tells a later writer whether anyone still writes it."""
    with writing(path, size):
        while True:
            tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
            try:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
                return tmp
            except FileExistsError:
                continue


def temporary_of(name: str, target: str) -> bool:
    """Whether ``name`` is a name :func:`atomic_path` gives its temporary file beside a file named ``target``."""
    prefix = f".{target}."
    return name.startswith(prefix) and _TEMPORARY_TAIL.fullmatch(name[len(prefix) :]) is not None


def stale_temporaries(path: Path) -> list[Path]:
    """The temporary files that :func:`atomic_path` made beside ``path`` and whose writer is gone (killed
    in the middle of the write): named as it names them, for ``path`` itself, by a process that no
    longer runs on this host (or before the name held the process id). A user's file, another
    target's and a write in progress (this process's included) are never among them."""
    found = []
    prefix = f".{path.name}."
    for candidate in path.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        named = _TEMPORARY_TAIL.fullmatch(candidate.name[len(prefix) :])
        if named is None or candidate.is_symlink() or not candidate.is_file():
            continue
        if named["pid"] is None or not _running(int(named["pid"])):
            found.append(candidate)
    return found


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a zombie counts: it is removed later)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process; a number no pid can be
        return True
    return True


def sync_folder(folder: Path) -> None:
    """Flush a folder's entries (the rename) to disk; some file systems cannot, which is harmless."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path, len(data)) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def append_whole(fd: int, data: bytes, path: Path) -> None:
    """Append ``data`` to the file open as ``fd`` (``O_APPEND``) in full, or not at all: when the
    write fails (a full disk), the file is cut back to its size before, so no partial record stays."""
    start = os.fstat(fd).st_size
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, start)
        if isinstance(e, OSError):
            raise write_error(e, path, len(data)) from e
        raise
    with writing(path, len(data)):
        os.fsync(fd)


def append_line(path: Path, line: bytes) -> None:
    """Append one ``line`` (ending in a newline) to ``path`` in full or not at all; after a torn
    last line (a writer killed mid-line) it starts on a new line, leaving the torn one to readers
    that skip what they cannot parse."""
    here = _still_there(path.parent)
    make_dirs(path.parent)
    with writing(path, len(line)):
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        with writing(path, len(line)):
            size = os.fstat(fd).st_size
            torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        append_whole(fd, b"\n" + line if torn else line, path)
    finally:
        os.close(fd)
    _wrote_in(here)


FOLDER_FIX = "wait for it to finish, or choose another folder"


@contextmanager
def output_lock(
    folder: Path | str, make: bool = True, busy: str | None = None, fix: str = FOLDER_FIX, wait: bool = False
) -> Iterator[bool]:
    """Hold ``folder``'s lock while the block runs: a second process that asks for it meanwhile is
    refused with :class:`FolderBusyError` (``busy``, by default "FOLDER is being written by another
    nasproxy process", the holder's process id, then ``fix``), before it reads or writes anything there;
    with ``wait``, it waits for the lock instead (one builder of a file that several processes need,
    the others reading what it built: :func:`nas_proxy.proxies.synthetic._random_subset`).

    The lock is ``flock`` on the folder itself (made when missing): the OS releases it when its
    holder exits, however (kill -9 included), so no stale lock ever blocks the same command, and
    it writes nothing into the folder (a refused command leaves it as it was; one that made the
    folder and wrote nothing removes it, and gives the folder above it back its times, unless
    another process changed that folder meanwhile). Within :func:`one_command` the folder is watched
    (:func:`watch`) from the moment it is locked: moved or deleted while still empty, a write into it is
    refused (before branch fix44a ``distill``, its ``--out`` moved before its first write, made it again
    with the whole output, exit 0). Where the folder cannot be made or opened (a file in the
    way, a read-only disk), or is missing and ``make`` is False (an input the command labels in
    place), the block runs unlocked: the command then refuses the path in its own words. It is
    given whether the lock is held (a caller with no path of its own to refuse says so instead)."""
    folder = Path(folder)
    if not make and not os.path.lexists(folder):
        yield False
        return
    before = _stat(_existing(folder), _TIMES)
    made = _make(folder)
    fd, remade = _lock(
        folder, busy or f"{shorten(folder)} is being written by another nasproxy process", fix, wait, make
    )  # refused: what this process made is another's now, left as it is
    if remade and folder not in made:  # removed by its last holder as it ended, empty, and made again here
        made.insert(0, folder)
    identities = [_stat(p, _IDENTITY) for p in made]  # which folders it made: a path may name another's by the end
    after = _stat(made[-1].parent, _TIMES) if made else None  # the folder above what this process made, once made
    try:
        if fd is not None:  # moved or deleted from now on, even while still empty, it is said, not made again (fix44a)
            watch(folder)
        yield fd is not None
    finally:
        # before the descriptor is closed, which keeps the folder's inode from being taken by a new one
        ours = [p for p, identity in zip(made, identities, strict=True) if identity is not None and _stat(p, _IDENTITY) == identity]
        if fd is not None:
            os.close(fd)
        untouched = after is not None and _stat(made[-1].parent, _TIMES) == after  # by others meanwhile
        for p in ours:  # deepest first; a folder made there by another since (this one moved away) stays (fix45b)
            with contextlib.suppress(OSError):
                p.rmdir()  # only when empty: what the command wrote stays
                removed(p)
        if untouched and before is not None and not os.path.lexists(made[-1]):
            with contextlib.suppress(OSError):  # as it was: a refused command leaves the parent's times as they were
                os.utime(made[-1].parent, ns=before)


@contextmanager
def left_as_found(folders: Iterable[Path]) -> Iterator[None]:
    """Run the block, then remove those of ``folders`` (and of their parents) that were missing before it and that
    it left empty, deepest first, and give the folder above them back its times once all are gone: what
    :func:`output_lock` does for a command's own folder, for processes that each make a part of one, which none of
    them can remove while another's part is there (the ranks of ``distill --launch``, each locking its shard's
    folder: a launch they all refused left ``OUT/`` or ``OUT/shards/``, by which rank ended last, before branch
    probe43). A folder the block filled stays."""
    missing: set[Path] = set()
    for folder in map(Path, folders):
        missing.update(p for p in (folder, *folder.parents) if not os.path.lexists(p))
    top = min(missing, key=lambda p: len(p.parts), default=None)
    before = None if top is None else _stat(top.parent, _TIMES)
    names = None if top is None else _names(top.parent)
    try:
        yield
    finally:
        for p in sorted(missing, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                p.rmdir()  # only when empty
        # and nobody else's file came or went there meanwhile: a long launch's times do not replace other jobs' (review of stop 43)
        if top is not None and before is not None and not any(os.path.lexists(p) for p in missing) and _names(top.parent) == names:
            with contextlib.suppress(OSError):
                os.utime(top.parent, ns=before)


def _names(folder: Path) -> set[str] | None:
    try:
        return set(os.listdir(folder))
    except OSError:
        return None


def _existing(folder: Path) -> Path:
    """The deepest of ``folder`` and its parents that exists."""
    return next(p for p in (folder, *folder.parents) if os.path.lexists(p))


def _make(folder: Path) -> list[Path]:
    """Make ``folder`` and its missing parents; the ones this process made, deepest first."""
    if len(os.fsencode(folder)) > PATH_MAX:  # its own mkdir would fail so (and the lock run unlocked): its parents unmade
        return []  # (perf57a: a --out of 2,100 names made and removed 2,048 folders, each walked from the top: 1.6 CPU-s)
    made = []
    for p in (*reversed(folder.parents), folder):
        if os.path.lexists(p):
            continue
        try:
            p.mkdir()
        except FileExistsError:  # made by another process meanwhile: not ours to remove
            continue
        except OSError:  # a file in the way, a read-only disk: the command says so in its own words
            break
        made.append(p)
    return made[::-1]


LOCK_TRIES = 100  # folders removed (and made) under a lock by others in a row before it is given up (runs unlocked)


def _lock(folder: Path, busy: str, fix: str, wait: bool = False, make: bool = True) -> tuple[int | None, bool]:
    """An open descriptor of ``folder``, locked (None where it cannot be made or opened), and whether this call made
    the folder again; raises FolderBusyError unless ``wait``: then it waits for the holder to end. A folder removed
    between its making and its opening (by the holder it waited for, ending with the folder empty: a profile's lock
    folder, an output nothing was written into) is made again (``make``) and locked: before stop 50 (review50) the
    command ran unlocked, beside a third that made and locked the folder anew."""
    remade = False
    for _ in range(LOCK_TRIES):
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            if not make:
                return None, remade
            try:
                folder.mkdir()
                remade = True
            except FileExistsError:  # made again by another meanwhile: lock that one
                pass
            except OSError:
                return None, remade
            continue
        except OSError:
            return None, remade
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(os.fstat(fd).st_ino)
            os.close(fd)
            who = f" (process {holder})" if holder else ""
            raise FolderBusyError(f"{busy}{who}; {fix}") from None
        except OSError:  # a file system without flock
            os.close(fd)
            return None, remade
        try:
            same = os.stat(folder).st_ino == os.fstat(fd).st_ino
        except OSError:
            same = False
        if same:  # else the folder was removed (and made again) meanwhile: lock the one there now
            return fd, remade
        os.close(fd)
    return None, remade


def _holder(inode: int) -> str | None:
    """The process id holding a flock on ``inode`` (Linux's /proc/locks), for the message; None if unknown."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()  # 1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF
            if len(fields) > 5 and fields[1] == "FLOCK" and fields[5].rsplit(":", 1)[-1] == str(inode):
                return fields[4]
    return None


__all__ = [
    "DiskFullError",
    "FileWriteError",
    "FolderBusyError",
    "FolderGoneError",
    "append_line",
    "append_whole",
    "atomic_path",
    "bounded_name",
    "check_writable",
    "make_dirs",
    "mount_of",
    "one_command",
    "output_lock",
    "read_failure",
    "stale_temporaries",
    "temporary_of",
    "write_bytes",
    "write_error",
    "write_json",
    "write_text",
    "writing",
    "wrote_in",
]
