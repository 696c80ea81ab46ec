"""Ctrl-C (and SIGTERM) that never lands inside a storage write.

A KeyboardInterrupt raised in the middle of an Optuna storage call can break the storage or the
study: the journal's lock release turns it into ``FileNotFoundError`` (which a worker's
``catch=(Exception,)`` then swallows), and one raised inside ``study.ask()`` leaves a RUNNING trial
that nobody owns. So the CLI installs :func:`install`: SIGINT raises at once where that is safe
(start-up, loading data, training) and only sets a flag inside :func:`deferred` sections, which
raise it when they end or at an explicit :func:`check` (a safe point). Without :func:`install`
(the library used from Python) these sections change nothing.

SIGTERM (``kill``, a batch scheduler's pre-emption, ``docker stop``) and SIGHUP (the terminal was
closed: an ssh session dropped, a terminal window shut) are handled exactly as SIGINT: the same
KeyboardInterrupt at the same safe points. Only the exit status tells them apart: :func:`exit_status`
is 128 plus the signal received, 130 for Ctrl-C, 143 for SIGTERM and 129 for SIGHUP, the status a
shell reports for a process those signals killed. (A SIGHUP used to end the process at once, by the
default action: a distillation lost the iterations since its last checkpoint, without a word.)

A loop that checkpoints and stops cleanly (distillation) asks instead through :func:`stop_requests`:
inside it the first Ctrl-C (or SIGTERM) only sets the flag the loop reads at its safe points, and a
second raises at once. The same handler and state serve both: this is the one SIGINT mechanism.

A SIGINT that the process was started ignoring stays ignored, as CPython itself leaves it: a
non-interactive shell starts a background job (``nasproxy worker ... &`` in a script) so, and a
Ctrl-C typed at the terminal, which reaches the script's whole process group, is then not for it.
SIGTERM still stops such a process. An ignored SIGHUP stays ignored too: ``nohup`` starts a command
so that it outlives its terminal.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # Ctrl-C, a polite request to stop, a closed terminal: handled alike
EXIT_STATUSES = tuple(128 + int(s) for s in SIGNALS)  # 130, 143, 129: a program's exit after each (see exit_status)
KEPT_IGNORED = (signal.SIGINT, signal.SIGHUP)  # left ignored when the process starts so (a script's background job, nohup)


class _State:
    installed = False
    signum = signal.SIGINT  # the last of SIGNALS received: the exit status says which (see exit_status)
    immediate = True  # a signal raises KeyboardInterrupt at once (outside deferred sections)
    pending = False  # a signal arrived inside a deferred section
    second_raises = False  # inside stop_requests (not in a deferred section): a second signal raises at once
    stopping = False  # inside stop_requests: a loop that reads its stop flag runs now
    held_since: float | None = None  # when a signal was first held back in an import (see _unraisable)
    cause: Callable[[], str | None] | None = None  # why a SIGTERM came, where this process can tell (explain)


_state = _State()


IMPORT_PATIENCE_S = 10.0  # a signal is held back while a module is being imported, at most this long


def _unraisable(frame: FrameType | None) -> bool:
    """Whether a KeyboardInterrupt raised in ``frame`` could be lost or crash the program instead of
    stopping it: in a ``__del__`` or a weakref callback Python prints and drops it ("Exception ignored
    in"); anywhere inside an import (``frame`` or a caller is importlib's), the module's own code runs:
    torch's imports call C++ that calls back into Python, and a KeyboardInterrupt raised in such a
    callback ends the process with ``terminate called after throwing pybind11::error_already_set``
    (SIGABRT), and a library's bare ``except:`` around an optional import swallows it (the start-up drill
    of tests/cli/test_startup.py caught both)."""
    if frame is not None and frame.f_code.co_name == "__del__":
        return True
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _redeliver(signum: int) -> None:
    """The signal again, a moment later, from another thread: the handler then runs wherever the main
    thread has got to, outside the callback or import where a KeyboardInterrupt would be lost."""
    timer = threading.Timer(0.01, os.kill, (os.getpid(), signum))
    timer.daemon = True
    timer.start()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _state.signum = signal.Signals(signum)
    if _state.immediate or (_state.pending and _state.second_raises):
        now = time.monotonic()
        if _unraisable(frame) and now - (_state.held_since or now) < IMPORT_PATIENCE_S:  # raised here it could be lost
            _state.held_since = _state.held_since or now
            _redeliver(signum)
            return
        _state.held_since = None
        _state.pending = False
        raise KeyboardInterrupt
    _state.pending = True


def _taken() -> tuple[signal.Signals, ...]:
    """The signals this module handles: SIGTERM, and SIGINT and SIGHUP unless ignored (see the module's docstring)."""
    return tuple(s for s in SIGNALS if not (s in KEPT_IGNORED and signal.getsignal(s) is signal.SIG_IGN))


def install() -> None:
    """Route SIGINT, SIGTERM and SIGHUP through this module (main thread only; the CLI calls it first
    thing), an ignored SIGINT or SIGHUP excepted."""
    if threading.current_thread() is threading.main_thread():
        for s in _taken():
            signal.signal(s, _on_signal)
        _state.installed, _state.immediate, _state.pending, _state.signum = True, True, False, signal.SIGINT


def release() -> None:
    """Unblock :data:`SIGNALS` (after :func:`install`): a process started with them blocked, so that one landing while
    its interpreter started waited for its handlers (``nas_proxy.studies.workers.start_held``), now receives it."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)


def ignore() -> None:
    """Ignore these signals from now on (while a program that was interrupted says goodbye)."""
    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN)


def last_signal() -> signal.Signals:
    """The last of :data:`SIGNALS` received (SIGINT before any: CPython's own KeyboardInterrupt)."""
    return _state.signum


def received(signum: int) -> KeyboardInterrupt:
    """The KeyboardInterrupt of ``signum`` that another handler caught (torch's launch raises its own exception):
    :func:`exit_status` and :func:`by_signal` then name it, as one this module caught."""
    _state.signum = signal.Signals(signum)
    return KeyboardInterrupt()


def exit_status() -> int:
    """The exit status of a program that the last signal stopped: 130 (Ctrl-C), 143 (SIGTERM) or 129 (SIGHUP)."""
    return 128 + int(_state.signum)


def by_signal() -> str:
    """How to name the last signal in a message: ``""`` for Ctrl-C (the usual case), else ``" by SIGTERM"`` (``SIGHUP``),
    or, for a SIGTERM whose cause this process knows (:func:`explain`), that cause: ``" (its launch ended)"``."""
    why = _state.cause() if _state.cause is not None and _state.signum == signal.SIGTERM else None
    if why:
        return f" ({why})"
    return "" if _state.signum == signal.SIGINT else f" by {_state.signum.name}"


def explain(cause: Callable[[], str | None]) -> None:
    """Have :func:`by_signal` name a SIGTERM by ``cause()`` where it says one: a rank of ``distill --launch`` stops itself
    by SIGTERM once its launch is gone, and stops so when another rank did (drill47: the rank said "interrupted by
    SIGTERM", a signal no one had sent)."""
    _state.cause = cause


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
    main thread no signal can be caught and ``requested()`` stays false, nor does an ignored SIGINT set it.
    """
    main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, _on_signal) for s in _taken()} if main else {}
    before = _state.immediate, _state.second_raises, _state.pending, _state.stopping
    _state.immediate, _state.second_raises, _state.pending, _state.stopping = False, True, False, True
    try:
        yield lambda: _state.pending
    finally:
        _state.immediate, _state.second_raises, _state.pending, _state.stopping = before
        for s, handler in previous.items():
            signal.signal(s, handler)


__all__ = [
    "EXIT_STATUSES",
    "SIGNALS",
    "by_signal",
    "check",
    "deferred",
    "exit_status",
    "ignore",
    "install",
    "interruptible",
    "last_signal",
    "received",
    "release",
    "stop_requests",
    "stoppable",
]
