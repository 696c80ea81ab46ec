"""Ctrl-C that never lands inside a storage write.

A KeyboardInterrupt raised in the middle of an Optuna storage call can break the storage or the
study: the journal's lock release turns it into ``FileNotFoundError`` (which a worker's
``catch=(Exception,)`` then swallows), and one raised inside ``study.ask()`` leaves a RUNNING trial
that nobody owns. So the CLI installs :func:`install`: SIGINT raises at once where that is safe
(start-up, loading data, training) and only sets a flag inside :func:`deferred` sections, which
raise it when they end or at an explicit :func:`check` (a safe point). Without :func:`install`
(the library used from Python) these sections change nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class _State:
    installed = False
    immediate = True  # SIGINT raises KeyboardInterrupt at once (outside deferred sections)
    pending = False  # a SIGINT arrived inside a deferred section


_state = _State()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    if _state.immediate:
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
    before = _state.immediate
    _state.immediate = False
    try:
        yield
    finally:
        _state.immediate = before
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


__all__ = ["check", "deferred", "install", "interruptible"]
