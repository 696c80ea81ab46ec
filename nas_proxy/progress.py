"""Progress: what the library reports while it works, and who listens (the one progress mechanism).

The library never draws a bar or writes to stderr. A long loop reports :class:`Progress` events
through a :class:`Meter`; they go to the listener installed with :func:`listen` (the command line
installs one that draws tqdm bars, :class:`nas_proxy.cli.common.ProgressBars`), and nowhere when
none is installed, as :mod:`logging` drops records without a handler. A call's ``progress=False``
keeps its meters silent even with a listener. ``correlate`` takes its listener as an argument
(``on_progress``): the same events.

This module imports nothing heavy: any layer may report progress.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """One progress report: ``message`` is a line worth showing as it is; ``done`` of ``total``
    counts the work of ``stage`` in ``unit`` (0 of 0 when the report is only a message);
    ``closed``: the stage's count is over (its bar, if any, can go)."""

    stage: str
    message: str = ""
    done: int = 0
    total: int = 0
    unit: str = "it"
    note: str = ""  # a short status shown beside the count (the last trial's score)
    closed: bool = False


OnProgress = Callable[[Progress], None]

_listeners: list[OnProgress] = []  # the installed listeners, innermost last


@contextmanager
def listen(on_progress: OnProgress) -> Iterator[None]:
    """Send every progress event of the ``with`` block to ``on_progress``."""
    _listeners.append(on_progress)
    try:
        yield
    finally:
        _listeners.remove(on_progress)


def emit(event: Progress) -> None:
    """Report ``event`` to the innermost listener (none installed: nothing happens)."""
    if _listeners:
        _listeners[-1](event)


class Meter:
    """A stage's count, reported as it moves: ``update``, ``set``, ``write`` a line, ``close``.
    Silent unless ``enabled`` (the ``progress`` argument of the library call)."""

    def __init__(self, stage: str, total: int = 0, done: int = 0, unit: str = "it", enabled: bool = True) -> None:
        self.stage, self.total, self.done, self.unit, self.enabled = stage, total, done, unit, enabled
        self.note = ""
        self._report()

    def _report(self, message: str = "", closed: bool = False) -> None:
        if self.enabled:
            emit(Progress(self.stage, message, self.done, self.total, self.unit, self.note, closed))

    def update(self, n: int = 1) -> None:
        self.done += n
        self._report()

    def set(self, done: int, note: str | None = None) -> None:
        """The count is ``done`` (and the status ``note``, when given)."""
        self.done = done
        if note is not None:
            self.note = note
        self._report()

    def write(self, message: str) -> None:
        """A line for the user (a failed trial, a wait), shown above the bar."""
        self._report(message)

    def close(self) -> None:
        self._report(closed=True)

    def __enter__(self) -> Meter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def meter(items: Iterable[T], stage: str, unit: str = "it", enabled: bool = True, total: int | None = None) -> Iterator[T]:
    """``items``, counted on a :class:`Meter` as each one is done (tqdm's ``tqdm(items)``)."""
    if total is None:
        listed = list(items)
        items, total = listed, len(listed)
    with Meter(stage, total, unit=unit, enabled=enabled) as m:
        for item in items:
            yield item
            m.update()


def say(stage: str, message: str, enabled: bool = True) -> None:
    """One line for the user, outside any count."""
    if enabled:
        emit(Progress(stage, message))
