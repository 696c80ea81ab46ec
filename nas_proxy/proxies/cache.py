"""Proxy scores cached in an append-only JSON-lines file, so an interrupted run redoes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nas_proxy.files import append_line


class Cache:
    """Append-only JSON lines: one finished score per line; a torn last line, or one that is not a whole
    row (:func:`whole`), is ignored: that architecture is scored again."""

    def __init__(self, path: Path, legacy: Path | None = None) -> None:
        """``legacy``: an older file of the same scores, read first and never written (a cache named before
        its key held the device: its scores are taken on any device, the one they were made on unknown)."""
        self.path = path
        self.rows: dict[str, dict[str, Any]] = {}
        for source in (legacy, path):
            if source is not None and source.is_file():
                self._read(source)

    def _read(self, path: Path) -> None:
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if whole(row):
                self.rows[row["arch_id"]] = row

    def add(self, row: dict[str, Any]) -> None:
        """Store ``row``: its line is written whole or not at all (a full disk leaves no partial line)."""
        append_line(self.path, (json.dumps(row) + "\n").encode())
        self.rows[row["arch_id"]] = row


def whole(row: Any) -> bool:
    """A row :meth:`Cache.add` writes: an architecture id, and a score and seconds that are numbers (NaN and
    infinity included: a zero-cost proxy gives them). Before branch probe39 an edited row was read as it
    was: a score "x" or [1] failed correlate with an internal error, true was read as 1."""

    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    return isinstance(row, dict) and isinstance(row.get("arch_id"), str) and number(row.get("score")) and number(row.get("seconds"))
