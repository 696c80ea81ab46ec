"""Ctrl-C that never lands inside a storage write.

A KeyboardInterrupt raised in the middle of an Optuna storage call can break the storage or the
study: the journal's lock release turns it into ``FileNotFoundError`` (which a worker's
``catch=(Exception,)`` then swallows), and one raised inside ``study.ask()`` leaves a RUNNING trial
that nobody owns. So the CLI installs :func:`install`: SIGINT raises at once where that is safe
(start-up, loading data, training) and only sets a flag inside :func:`deferred` sections, which
raise it when they end or at an explicit :func:`check` (a safe point). Without :func:`install`
(the library used from Python) these sections change nothing.

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


class _State:
    installed = False
    immediate = True  # SIGINT raises KeyboardInterrupt at once (outside deferred sections)
    pending = False  # a SIGINT arrived inside a deferred section
    second_raises = False  # inside stop_requests (not in a deferred section): a second signal raises at once


_state = _State()


def _unraisable(frame: FrameType | None) -> bool:
    """Whether an exception raised in ``frame`` would be printed and dropped ("Exception ignored in"):
    a weakref callback such as the one importlib runs when a module lock is collected, or a ``__del__``."""
    if frame is None:
        return False
    code = frame.f_code
    return code.co_name == "__del__" or (code.co_name == "cb" and code.co_filename.startswith("<frozen importlib"))


def _redeliver() -> None:
    """SIGINT again, a moment later, from another thread: the handler then runs wherever the main
    thread has got to, outside the callback that would have swallowed the KeyboardInterrupt."""
    timer = threading.Timer(0.01, os.kill, (os.getpid(), signal.SIGINT))
    timer.daemon = True
    timer.start()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    if _state.immediate or (_state.pending and _state.second_raises):
        if _unraisable(frame):  # raised here, Python would print it and go on: the Ctrl-C would be lost
            _redeliver()
            return
        _state.pending = False
        raise KeyboardInterrupt
    _state.pending = True


def install() -> None:
    """Route SIGINT through this module (main thread only; the CLI calls it first thing)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_sigint)
        _state.installed, _state.immediate, _state.pending = True, True, False


def check() -> None:
    """A safe point: raise the KeyboardInterrupt that a deferred section held back, if any."""
    if _state.pending:
        _state.pending = False
        raise KeyboardInterrupt


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a SIGINT back until the section ends (storage calls, Optuna's ask/tell)."""
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
    """Inside a deferred section: code without storage calls (training), where SIGINT raises at once."""
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
    previous = {s: signal.signal(s, _on_sigint) for s in (signal.SIGINT, signal.SIGTERM)} if main else {}
    before = _state.immediate, _state.second_raises, _state.pending
    _state.immediate, _state.second_raises, _state.pending = False, True, False
    try:
        yield lambda: _state.pending
    finally:
        _state.immediate, _state.second_raises, _state.pending = before
        for s, handler in previous.items():
            signal.signal(s, handler)


__all__ = ["check", "deferred", "install", "interruptible", "stop_requests"]
