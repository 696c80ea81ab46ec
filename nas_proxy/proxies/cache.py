"""Proxy scores cached in an append-only JSON-lines file, so an interrupted run redoes nothing."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from nas_proxy.digests import json_sha256
from nas_proxy.errors import NasProxyWarning
from nas_proxy.files import append_line

DIGEST = "sha256"  # a row's field: the sha256 of its other fields (digests.json_sha256)
DATA = "data_sha256"  # a row's field: the content_sha256 of the real data it was scored on (branch fix50e on)


class CacheRowChangedWarning(NasProxyWarning):
    """Rows of a score cache whose numbers changed on disk since they were written: scored again."""


class CacheDataChangedWarning(NasProxyWarning):
    """Rows of a score cache made from other data than the data found now (images changed in place since, or
    --data-root at another copy): scored again."""


class Cache:
    """Append-only JSON lines: one finished score per line; a torn last line, or one that is not a whole
    row (:func:`whole`), is ignored: that architecture is scored again. Each row carries the sha256 of its
    fields: one changed since (a digit edited, a bad block) is ignored so too, and said in one warning (before
    stop 48 a score edited from 21.67 to 91.67 was used as it was: correlate's Spearman fell from 0.80 to 0.40,
    exit 0, nothing said). A row an earlier nasproxy wrote, without the digest, is read as before."""

    def __init__(self, path: Path, legacy: Path | None = None, data: str | None = None) -> None:
        """``legacy``: an older file of the same scores, read first and never written (a cache named before
        its key held the device: its scores are taken on any device, the one they were made on unknown).
        ``data``: the content_sha256 of the real data found now, written with every row; a row written with
        another was scored on other data (the key names the dataset and split, not its pixels): ignored (its
        architecture is scored again) and kept in :attr:`stale`, which the caller says (``proxies.scoring``). A row
        written without one is read as before."""
        self.path = path
        self.data = data
        self.rows: dict[str, dict[str, Any]] = {}
        self.stale: dict[str, str] = {}  # architecture -> the content_sha256 of the other data its row was scored on
        for source in (legacy, path):
            if source is not None and source.is_file():
                self._read(source)
        for aid in set(self.stale) & set(self.rows):  # scored again since on this data: no longer stale
            del self.stale[aid]

    def _read(self, path: Path) -> None:
        """Read ``path``'s rows; those scored on other data than :attr:`data` go to :attr:`stale`."""
        changed = 0
        for raw in path.read_bytes().splitlines():  # each line decoded alone: one a bad block changed is that row's loss
            try:
                line = raw.decode()
            except UnicodeDecodeError:  # before fix62a the whole file was decoded at once: an internal error, every row lost
                changed += 1
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):  # torn, or not a row (nested too deeply, an integer of over 4,300 digits)
                continue
            if not whole(row):
                continue
            written = row.pop(DIGEST, None)
            if written is not None and written != json_sha256(row):
                changed += 1
                continue
            if self.data is not None and row.get(DATA, self.data) != self.data:
                self.stale[row["arch_id"]] = str(row[DATA])
                continue
            self.rows[row["arch_id"]] = row
        if changed:
            warnings.warn(
                CacheRowChangedWarning(
                    f"{path}: {changed} row(s) no longer match the sha256 written with them (changed since); "
                    "their architectures are scored again"
                ),
                stacklevel=3,
            )

    def add(self, row: dict[str, Any]) -> None:
        """Store ``row`` (with :attr:`data`): its line is written whole or not at all (a full disk leaves no partial line)."""
        if self.data is not None:
            row = row | {DATA: self.data}
        append_line(self.path, (json.dumps(row | {DIGEST: json_sha256(row)}) + "\n").encode())
        self.rows[row["arch_id"]] = row


def whole(row: Any) -> bool:
    """A row :meth:`Cache.add` writes: an architecture id, and a score and seconds that are numbers (NaN and
    infinity included: a zero-cost proxy gives them). Before branch probe39 an edited row was read as it
    was: a score "x" or [1] failed correlate with an internal error, true was read as 1."""

    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    return isinstance(row, dict) and isinstance(row.get("arch_id"), str) and number(row.get("score")) and number(row.get("seconds"))
