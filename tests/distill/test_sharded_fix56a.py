"""fix56a: a coupled launch's checkpoints (nas_proxy/distill/sharded.py): what its next start brings in is one run's, and
a staged checkpoint that cannot be dropped after a failed write leaves the write's error, said on every rank."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import torch

from nas_proxy.distill.checkpoint import State, write_checkpoint
from nas_proxy.distill.sharded import RankShard, _held, _settled, staged_path
from nas_proxy.files import DiskFullError, write_error
from tests.conftest import tiny_config
from tests.distill.test_sharded import one_rank_group  # noqa: F401  (a fixture)


def checkpoint_of(path: Path, done: int, seed: int) -> None:
    """A whole checkpoint of iteration ``done`` of the tiny run of ``seed`` at ``path``."""
    images, momentum = torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_checkpoint(path.parent, tiny_config(seed=seed), State(images, momentum, torch.zeros(1), 0, [], 0.0, done), path)


def test_files_of_one_iteration_from_two_runs_are_not_brought_in_as_one_state(tmp_path: Path) -> None:
    """_settled compared iterations only: rank 0's staged checkpoint of 4 and rank 1's checkpoint of 4 from another run
    (another seed: each machine has its own output folder, copied or used before) made 'every rank holds 4', and rank 0's
    staged file was renamed in beside a peer of another run. Now a rank holds N only as a file of the same run."""
    shards = [tmp_path / "shards" / f"{r}-of-2" for r in range(2)]
    checkpoint_of(shards[0] / "checkpoint.safetensors", 2, seed=0)
    checkpoint_of(staged_path(shards[0] / "checkpoint.safetensors"), 4, seed=0)
    checkpoint_of(shards[1] / "checkpoint.safetensors", 4, seed=1)
    assert _settled([_held(s) for s in shards]) is None
    checkpoint_of(shards[1] / "checkpoint.safetensors", 4, seed=0)  # the same run's: rank 1 renamed its 4 in before a kill
    settled = _settled([_held(s) for s in shards])
    assert settled is not None and settled == _held(shards[1])[0] == _held(shards[0])[1]


def test_a_staged_checkpoint_that_cannot_be_dropped_after_a_failed_write_leaves_the_writes_error(
    one_rank_group: None,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RankShard.save's drop of its staged file after a failed agreement was unguarded: an EIO there escaped as an
    internal error on that rank (_agree shares user errors only), its peers waiting in the next collective. Now the
    write's own error, the staged file left to the next start (which drops it)."""
    path = tmp_path / "shards" / "0-of-1" / "checkpoint.safetensors"
    path.parent.mkdir(parents=True)
    staged = staged_path(path)

    def full(at: Path) -> None:  # a write torn by a full disk, its part left behind
        at.write_bytes(b"torn")
        raise write_error(OSError(errno.ENOSPC, "No space left on device"), at, 1000)

    unlink = Path.unlink

    def failing(self: Path, missing_ok: bool = False) -> None:
        if self == staged:
            raise OSError(errno.EIO, "Input/output error", str(self))
        unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", failing)
    with pytest.raises(DiskFullError) as raised:
        RankShard(0, 1, True, None).save(path, full)
    assert str(raised.value).startswith(f"no space left on device writing {path}: "), str(raised.value)
    assert staged.read_bytes() == b"torn" and not path.exists()
    assert _held(path.parent) == (None, None)  # not whole: the next start drops it
