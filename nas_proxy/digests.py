"""The sha256 of a JSON value, as every key, cache name and record digest of nasproxy computes it.

``json.dumps(value, sort_keys=True)`` with its default separators: the bytes that kept files were named and
checked by before this module, so a key or digest written by an earlier nasproxy still matches. Torch-free.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any


def json_sha256(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """The hex sha256 of ``value``'s JSON with sorted keys (``default``: as ``json.dumps`` takes it)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=default).encode()).hexdigest()


__all__ = ["json_sha256"]
