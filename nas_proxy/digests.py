"""The sha256 of a JSON value, as every key, cache name and record digest of nasproxy computes it.

``json.dumps(value, sort_keys=True)`` with its default separators: the bytes that kept files were named and
checked by before this module, so a key or digest written by an earlier nasproxy still matches. Torch-free.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def file_sha256(path: Path) -> str:
    """The hex sha256 of the bytes of the file ``path``, read a MiB at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def json_sha256(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """The hex sha256 of ``value``'s JSON with sorted keys (``default``: as ``json.dumps`` takes it)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=default).encode()).hexdigest()


__all__ = ["file_sha256", "json_sha256"]
