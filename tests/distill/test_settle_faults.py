"""A coupled launch's next start settles what a kill left staged (distill/sharded.py: _settle) on a disk that refuses it."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from nas_proxy.distill.sharded import _settle, staged_path
from nas_proxy.files import FileWriteError


def test_a_staged_checkpoint_that_cannot_be_dropped_is_a_one_line_error_naming_the_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """review55: a shard whose staged checkpoint is dropped at the next start (no rank holds its iteration everywhere),
    on a disk turned read-only since the kill: the unlink's OSError left _settle raw, and _agree shares only user errors
    with the peers, so that rank ended in an internal error (before stop 54 check_output's check_writable refused the
    shard in one line, before any write). Now the one line naming the checkpoint, every rank told; the staged file kept."""
    checkpoint = tmp_path / "shards" / "1-of-2" / "checkpoint.safetensors"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"iteration 2")
    staged = staged_path(checkpoint)
    staged.write_bytes(b"iteration 4, whole")
    unlink = Path.unlink

    def read_only(self: Path, missing_ok: bool = False) -> None:
        if self == staged:
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", read_only)
    with pytest.raises(FileWriteError) as raised:
        _settle(checkpoint.parent, None, (2, 4))  # another rank's staged file of 4 was cut: every rank drops its own
    assert str(raised.value).startswith(f"cannot write {checkpoint}: read-only file system"), str(raised.value)
    assert staged.read_bytes() == b"iteration 4, whole" and checkpoint.read_bytes() == b"iteration 2"
