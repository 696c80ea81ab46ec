"""torchrun entry point of tests/distill/test_sharded.py: ``nasproxy distill ... --distributed`` with a gate on rank 1.

``DIE_AT``: rank 1 dies (``os._exit``: no checkpoint, no clean-up) at the loss read-back of iteration ``DIE_AT``;
``full:N``: rank 1 finds the disk full when it writes its checkpoint of iteration N (its peers' writes succeed);
``gap:N``: rank 1 dies between the ranks' agreement on their staged checkpoints of iteration N and its own rename, once
rank 0 has renamed its own in (a coupled run's shards at two iterations, rank 1's of N staged);
``torn:N``: rank 1's staged checkpoint of iteration N is cut short (a disk that tore it) and rank 1 dies before the
agreement, once rank 0's staged one is written (no rank renamed);
``eio:N``: rank 1's rename of its staged checkpoint of iteration N fails (EIO), after the agreement;
``starts``: no gate; each rank says on stderr the iteration its loop starts from (``rank R starts at iteration D``).
Gates joined by ``+`` apply together (``starts+gap:2``: a resumed launch says its start, then meets the next fault).

Usage: ``torchrun ... -m tests.sharded_worker DIE_AT|full:N|gap:N|torn:N|eio:N|starts[+...] distill ARGS...`` (PYTHONPATH
holding the checkout)
"""

from __future__ import annotations

import errno
import os
import sys
import time
from pathlib import Path
from typing import Any

from nas_proxy import cli
from nas_proxy.distill import runner, sharded
from nas_proxy.distill.checkpoint import read_checkpoint
from nas_proxy.files import DiskFullError

PEER_SECONDS = 300  # rank 1 waits at most this long for rank 0's file (a test's timeout ends it sooner)


def wait_for(path: Path, done: int | None = None) -> None:
    """Wait until ``path`` exists (and, with ``done``, reads back as a checkpoint of that iteration)."""
    end = time.monotonic() + PEER_SECONDS
    while time.monotonic() < end:
        try:
            if path.is_file() and (done is None or read_checkpoint(path)["done"] == done):
                return
        except Exception:  # noqa: BLE001 - rank 0 is renaming it in: read it again
            pass
        time.sleep(0.02)


def rank_0_s(path: Path) -> Path:
    """``path`` in rank 0's shard (both shards in one ``--out``)."""
    return path.parent.parent / f"0-of-{os.environ['WORLD_SIZE']}" / path.name


def install(when: str) -> None:
    """Put the gate ``when`` in place (each gate wraps a function of its own, so gates compose)."""
    rank_1 = os.environ["RANK"] == "1"
    if when == "starts":
        optimise = runner._optimise

        def starting(config: Any, hp: Any, pool: Any, state: Any, *rest: Any) -> None:
            sys.stderr.write(f"rank {os.environ['RANK']} starts at iteration {state.done}\n")  # one write: ranks run -u
            sys.stderr.flush()
            optimise(config, hp, pool, state, *rest)

        runner._optimise = starting  # type: ignore[assignment]  # (the rest of its arguments passed on as they come)
        return
    if when.startswith("gap:"):
        rename_in, gap_at = sharded._rename_in, int(when.removeprefix("gap:"))

        def killed_before_renaming(staged: Path, path: Path) -> None:
            if rank_1 and read_checkpoint(staged)["done"] == gap_at:
                wait_for(rank_0_s(path), gap_at)  # rank 0 renamed its own in
                os._exit(9)  # like SIGKILL
            rename_in(staged, path)

        sharded._rename_in = killed_before_renaming
        return
    if when.startswith("eio:"):
        replace, eio_at = os.replace, int(when.removeprefix("eio:"))

        def failing(src: Any, dst: Any, **kwargs: Any) -> None:
            if rank_1 and Path(src).name.endswith(".staged.tmp") and read_checkpoint(Path(src))["done"] == eio_at:
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            replace(src, dst, **kwargs)

        os.replace = failing
        return
    if when.startswith(("full:", "torn:")):
        write, at = runner.write_checkpoint, int(when.partition(":")[2])

        def gated(out: Path, config: Any, state: Any, path: Path | None = None) -> None:
            if state.done == at and rank_1 and when.startswith("full:"):
                raise DiskFullError(path or out / "checkpoint.safetensors", None, 0)
            write(out, config, state, path)
            if state.done == at and rank_1 and path is not None:  # torn: its staged file
                wait_for(rank_0_s(path))  # rank 0's staged file written: it waits in the agreement
                with open(path, "r+b") as f:
                    f.truncate(path.stat().st_size // 2)
                os._exit(9)

        runner.write_checkpoint = gated
        return
    die_at, distill = int(when), sharded.distill

    def dying(*args: Any, **kwargs: Any) -> Any:
        def callback(done: int, losses: dict[str, float]) -> None:
            if done == die_at and rank_1:
                os._exit(9)  # like SIGKILL: the last periodic checkpoint is all that remains

        return distill(*args, **{**kwargs, "callback": callback})

    sharded.distill = dying


def main() -> int:
    for when in sys.argv[1].split("+"):
        install(when)
    return cli.main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
