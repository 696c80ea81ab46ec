"""Proxy scores cached in an append-only JSON-lines file, so an interrupted run redoes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
        self.rows[row["arch_id"]] = row
