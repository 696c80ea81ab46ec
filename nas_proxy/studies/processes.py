"""Whether a process of this host still runs, as a worker's trial names it: its start (so that an id given to a
later process is told from it), its pid namespace (within which alone its id names it), and the host's count of
the processes its out-of-memory killer ended. Linux's /proc only; it knows nothing of trials or studies (the
journal's lock judges its holder by it too, :mod:`~nas_proxy.studies.journal_lock`).
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

from nas_proxy.files import mount_of
from nas_proxy.pids import PID_MAX_LIMIT, process_id

INITIAL_PID_NAMESPACE = "pid:[4026531836]"  # the kernel's first (PROC_PID_INIT_INO): a process there sees every process


def pid_namespace() -> str | None:
    """This process's pid namespace (``pid:[4026531836]``): a process id means one process within one only
    (a worker started under ``unshare --pid``, or in a container sharing the host's name, has ids of its own)."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def process_start(pid: int) -> str | None:
    """``BOOT:TICKS`` of process ``pid``: this boot's id and the process's start in clock ticks since
    boot (Linux's /proc): a process id reused by a later process, or after a reboot, has another. Neither
    part reads the wall clock, so a clock moved back or forward changes nothing. None where not known."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        ticks = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]  # field 22, starttime
    except (OSError, IndexError):
        return None
    return f"{boot}:{ticks}"


def oom_kills() -> int | None:
    """How many processes the kernel's out-of-memory killer has ended on this host since it booted
    (``oom_kill`` of Linux's /proc/vmstat, a container's memory-limit kills included), or None where
    the host does not say."""
    with suppress(OSError, ValueError):
        for line in Path("/proc/vmstat").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
    return None


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, killed but not yet reaped by its
    parent, does not: a ``search`` reaps its worker processes only at the end). ``pid`` is a process id
    (:func:`process_id`): a group, or every process, is never asked about."""
    if process_id(pid) is None:
        raise ValueError(f"not a process id: {pid!r}")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # Linux: the state follows the parenthesised command name
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def gone(pid: int, start: str | None) -> bool:
    """Whether process ``pid`` of this host, which started at ``start`` (:func:`process_start`; None: not
    recorded), has ended: no such process, a zombie, or its id given to a later process (after a reboot ids
    start over, and a worker killed then never ended its trial: the trial was waited for forever, found by
    drill41). A process this user may not see (another's, under /proc's hidepid) is taken to run."""
    if not alive(pid):
        return True
    now = process_start(pid)
    return start is not None and now is not None and now != start


def gone_from_here(pid: int, start: str | None, namespace: str | None) -> bool | None:
    """:func:`gone` for process ``pid`` of pid namespace ``namespace`` (None: this process's); None where this
    process cannot tell. Another namespace's process is looked for among those this one sees (a namespace made
    below this one: ``unshare --pid`` by its start, which its namespace does not change; before drill43 its id
    was judged as this namespace's, so a live worker's trial was failed and trained again, and a namespace's
    process id 2 taken for this one's kernel thread). A namespace seen nowhere has ended where this process sees
    every process (the kernel's first namespace); elsewhere (in a container, under ``unshare``) it may be an
    ancestor's or a sibling's, which this one cannot see: not judged."""
    mine = pid_namespace()
    if namespace is None or namespace == mine:
        return gone(pid, start)
    if start is None or mine is None:
        return None
    ticks, seen = start.rsplit(":", 1)[-1], False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            there: str | None = os.readlink(entry / "ns" / "pid")
        except OSError:  # ended meanwhile, or not this user's to read (another user's; pid 1, even to root in a container)
            there = None
        if there is not None and there != namespace:
            continue
        seen = seen or there == namespace
        try:  # both readable by every user: a process this one may not read may still be the worker (review of stop 43)
            state, *fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[18] != ticks:  # field 22 (starttime): status, read only for a process started when the worker did
                continue
            ids = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("NSpid:")).split()
        except (OSError, IndexError, StopIteration):  # ended meanwhile
            continue
        if ids[-1] == str(pid) and len(ids) > 2:  # its id in its own namespace, one below this one's or deeper (one id a level)
            return state == "Z"
    if _proc_hides():  # processes of other users are not listed: the worker may be one
        return None
    return True if seen or mine == INITIAL_PID_NAMESPACE else None


def _proc_hides() -> bool:
    """Whether /proc hides other users' processes from this one (mounted with ``hidepid`` 1, 2 or 4, also
    written ``noaccess``, ``invisible``, ``ptraceable``; root sees them all the same)."""
    if os.geteuid() == 0:
        return False
    mount = mount_of(Path("/proc"))
    return mount is None or mount[2].get("hidepid", "0") not in ("0", "off")


__all__ = [
    "INITIAL_PID_NAMESPACE",
    "PID_MAX_LIMIT",
    "alive",
    "gone",
    "gone_from_here",
    "oom_kills",
    "pid_namespace",
    "process_start",
]
