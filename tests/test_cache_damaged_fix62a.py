"""fix62a: a proxy-score cache (JSON lines) with a damaged line: bytes that are not UTF-8 (a bad block) or a line nested
deeper than Python's parser recurses. Before, the whole file was decoded at once (UnicodeDecodeError) and each line
parsed with json.loads (RecursionError): the command failed with an internal error, its other rows lost with it. Now that
line is ignored (its architecture scored again) and the others kept: one a bad block changed is said in the warning of
an edited row, one that is not a row is ignored as a torn one is."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from nas_proxy.proxies.cache import Cache, CacheRowChangedWarning


def _cache(tmp_path: Path, damaged: bytes) -> Path:
    """A cache of rows a and c with the line ``damaged`` between them."""
    path = tmp_path / "cache.jsonl"
    cache = Cache(path)
    cache.add({"arch_id": "a", "score": 0.5, "seconds": 1.0})
    with open(path, "ab") as f:
        f.write(damaged + b"\n")
    cache.add({"arch_id": "c", "score": 0.7, "seconds": 1.0})
    return path


def test_a_line_a_bad_block_changed_is_said_and_the_other_rows_kept(tmp_path: Path) -> None:
    path = _cache(tmp_path, b'{"arch_id": "b", "score": 1.\xff, "seconds": 1}')
    with pytest.warns(CacheRowChangedWarning, match=r": 1 row\(s\) no longer match"):
        cache = Cache(path)
    assert sorted(cache.rows) == ["a", "c"]


def test_a_line_nested_too_deeply_is_ignored_and_the_other_rows_kept(tmp_path: Path) -> None:
    path = _cache(tmp_path, b"[" * 100_000 + b"]" * 100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache = Cache(path)
    assert sorted(cache.rows) == ["a", "c"]
