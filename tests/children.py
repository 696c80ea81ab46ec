"""The processes a test started end with it (tests/conftest.py's ``_no_process_left``).

A drill starts commands with :class:`subprocess.Popen` (or :func:`tests.warm.Popen`, forked from the warm
server) and holds them at a gate (tests/gate.py) until it acts. When the test fails first (an assertion, a
``communicate`` timeout), nothing opened the gate or killed them: they waited there for
``tests/gated_site``'s half an hour, after the run had ended (stop 50: two ``test_warm`` commands). Every
``Popen`` made while a test runs is noted; at its end each one still running is killed with what it started
(its process tree, and its process group where it leads one), then reaped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REAP_S = 120  # fails the test's teardown when a killed process is still not reaped; nothing is meant to wait this long


_lasting: weakref.WeakSet[subprocess.Popen[Any]] = weakref.WeakSet()


def outlives_its_test(proc: subprocess.Popen[Any]) -> None:
    """``proc`` serves later tests too (the warm server a test's first command starts): not ended with that test."""
    _lasting.add(proc)


def _parents() -> dict[int, int]:
    """Every process's parent (pid -> ppid), from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):  # ended meanwhile
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    return parents


def tree(pid: int) -> list[int]:
    """``pid`` and the processes it started, and they in turn, that still run (parents first)."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop(0))
        todo += children.get(found[-1], [])
    return found


@contextlib.contextmanager
def noted() -> Iterator[list[subprocess.Popen[Any]]]:
    """The ``Popen`` objects made (by the test, or by nasproxy in its process) while the block runs."""
    started: list[subprocess.Popen[Any]] = []
    original: Callable[..., None] = subprocess.Popen.__init__

    def note(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        started.append(self)

    subprocess.Popen.__init__ = note  # type: ignore[method-assign]
    try:
        yield started
    finally:
        subprocess.Popen.__init__ = original  # type: ignore[method-assign]


def running(proc: subprocess.Popen[Any]) -> bool:
    """Whether ``proc`` still runs, and is one to end with its test."""
    if proc in _lasting:
        return False
    try:
        return proc.poll() is None
    except (OSError, RuntimeError):  # a warm one whose server ended: it took its processes with it (tests/warm.py)
        return False


def end(proc: subprocess.Popen[Any]) -> str:
    """Kill ``proc``, what it started, and its process group where it leads one; reap it. Its command, to report."""
    pids = tree(proc.pid)
    with contextlib.suppress(OSError):
        if os.getpgid(proc.pid) == proc.pid:  # its own group (start_new_session): what left its tree too
            os.killpg(proc.pid, signal.SIGKILL)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    try:
        proc.wait(timeout=REAP_S)
    except RuntimeError:  # warm, its server gone: ended with it
        pass
    except subprocess.TimeoutExpired:
        raise AssertionError(f"process {proc.pid} ({proc.args!r}) killed, not reaped in {REAP_S} s") from None
    deadline = time.monotonic() + REAP_S
    while alive := [pid for pid in pids if not gone(pid)]:  # what it started: reaped by whoever inherited it
        assert time.monotonic() < deadline, f"processes {alive} of {proc.args!r} killed, still running after {REAP_S} s"
        time.sleep(0.01)
    return f"{proc.pid} {proc.args!r}"


def gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie not yet reaped counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True
