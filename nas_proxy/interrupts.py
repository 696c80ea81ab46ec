"""Ctrl-C (and SIGTERM) that never lands inside a storage write.

A KeyboardInterrupt raised in the middle of an Optuna storage call can break the storage or the
study: the journal's lock release turns it into ``FileNotFoundError`` (which a worker's
``catch=(Exception,)`` then swallows), and one raised inside ``study.ask()`` leaves a RUNNING trial
that nobody owns. So the CLI installs :func:`install`: SIGINT raises at once where that is safe
(start-up, loading data, training) and only sets a flag inside :func:`deferred` sections, which
raise it when they end or at an explicit :func:`check` (a safe point). Without :func:`install`
(the library used from Python) these sections change nothing.

SIGTERM (``kill``, a batch scheduler's pre-emption, ``docker stop``) is handled exactly as SIGINT:
the same KeyboardInterrupt at the same safe points. Only the exit status tells them apart:
:func:`exit_status` is 128 plus the signal received, 130 for Ctrl-C and 143 for SIGTERM, the status
a shell reports for a process those signals killed.

A loop that checkpoints and stops cleanly (distillation) asks instead through :func:`stop_requests`:
inside it the first Ctrl-C (or SIGTERM) only sets the flag the loop reads at its safe points, and a
second raises at once. The same handler and state serve both: this is the one SIGINT mechanism.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, and a polite request to stop: handled alike


class _State:
    installed = False
    signum = signal.SIGINT  # the last of SIGNALS received: the exit status says which (see exit_status)
    immediate = True  # a signal raises KeyboardInterrupt at once (outside deferred sections)
    pending = False  # a signal arrived inside a deferred section
    second_raises = False  # inside stop_requests (not in a deferred section): a second signal raises at once
    stopping = False  # inside stop_requests: a loop that reads its stop flag runs now


_state = _State()


def _unraisable(frame: FrameType | None) -> bool:
    """Whether an exception raised in ``frame`` would be printed and dropped ("Exception ignored in"):
    a weakref callback such as the one importlib runs when a module lock is collected, or a ``__del__``."""
    if frame is None:
        return False
    code = frame.f_code
    return code.co_name == "__del__" or (code.co_name == "cb" and code.co_filename.startswith("<frozen importlib"))


def _redeliver(signum: int) -> None:
    """The signal again, a moment later, from another thread: the handler then runs wherever the main
    thread has got to, outside the callback that would have swallowed the KeyboardInterrupt."""
    timer = threading.Timer(0.01, os.kill, (os.getpid(), signum))
    timer.daemon = True
    timer.start()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _state.signum = signal.Signals(signum)
    if _state.immediate or (_state.pending and _state.second_raises):
        if _unraisable(frame):  # raised here, Python would print it and go on: the Ctrl-C would be lost
            _redeliver(signum)
            return
        _state.pending = False
        raise KeyboardInterrupt
    _state.pending = True


def install() -> None:
    """Route SIGINT and SIGTERM through this module (main thread only; the CLI calls it first thing)."""
    if threading.current_thread() is threading.main_thread():
        for s in SIGNALS:
            signal.signal(s, _on_signal)
        _state.installed, _state.immediate, _state.pending, _state.signum = True, True, False, signal.SIGINT


def ignore() -> None:
    """Ignore both signals from now on (while a program that was interrupted says goodbye)."""
    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN)


def last_signal() -> signal.Signals:
    """The last of SIGINT and SIGTERM received (SIGINT before any: CPython's own KeyboardInterrupt)."""
    return _state.signum


def exit_status() -> int:
    """The exit status of a program that the last signal stopped: 130 (Ctrl-C) or 143 (SIGTERM)."""
    return 128 + int(_state.signum)


def by_signal() -> str:
    """How to name the last signal in a message: ``""`` for Ctrl-C (the usual case), else ``" by SIGTERM"``."""
    return "" if _state.signum == signal.SIGINT else f" by {_state.signum.name}"


def stoppable() -> bool:
    """Whether a loop inside :func:`stop_requests` runs now: a first signal then asks it to stop at
    its next safe point (with a checkpoint) instead of raising where the program is."""
    return _state.stopping


def check() -> None:
    """A safe point: raise the KeyboardInterrupt that a deferred section held back, if any."""
    if _state.pending:
        _state.pending = False
        raise KeyboardInterrupt


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a SIGINT or SIGTERM back until the section ends (storage calls, Optuna's ask/tell)."""
    before, second = _state.immediate, _state.second_raises
    _state.immediate, _state.second_raises = False, False
    try:
        yield
    finally:
        _state.immediate, _state.second_raises = before, second
    if before:
        check()


@contextmanager
def interruptible() -> Iterator[None]:
    """Inside a deferred section: code without storage calls (training), where a signal raises at once."""
    check()
    before = _state.immediate
    _state.immediate = True
    try:
        yield
    finally:
        _state.immediate = before


@contextmanager
def stop_requests() -> Iterator[Callable[[], bool]]:
    """A loop that stops itself: yields ``requested()``, true once a Ctrl-C (or SIGTERM) arrived.

    The first signal only sets the flag, which the loop reads after a whole step (then checkpoints
    and stops); a second Ctrl-C raises KeyboardInterrupt at once (the last checkpoint remains).
    Works with or without :func:`install` (the handlers before are restored at the end); off the
    main thread no signal can be caught and ``requested()`` stays false.
    """
    main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, _on_signal) for s in SIGNALS} if main else {}
    before = _state.immediate, _state.second_raises, _state.pending, _state.stopping
    _state.immediate, _state.second_raises, _state.pending, _state.stopping = False, True, False, True
    try:
        yield lambda: _state.pending
    finally:
        _state.immediate, _state.second_raises, _state.pending, _state.stopping = before
        for s, handler in previous.items():
            signal.signal(s, handler)


__all__ = [
    "SIGNALS",
    "by_signal",
    "check",
    "deferred",
    "exit_status",
    "ignore",
    "install",
    "interruptible",
    "last_signal",
    "stop_requests",
    "stoppable",
]
