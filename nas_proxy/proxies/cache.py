"""Proxy scores cached in an append-only JSON-lines file, so an interrupted run redoes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nas_proxy.files import append_line


class Cache:
    """Append-only JSON lines: one finished score per line; a torn last line is ignored."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[str, dict[str, Any]] = {}
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    row = json.loads(line)
                    self.rows[row["arch_id"]] = row
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue

    def add(self, row: dict[str, Any]) -> None:
        """Store ``row``: its line is written whole or not at all (a full disk leaves no partial line)."""
        append_line(self.path, (json.dumps(row) + "\n").encode())
        self.rows[row["arch_id"]] = row
