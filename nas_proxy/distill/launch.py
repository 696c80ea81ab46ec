"""``distill --launch N``: the N ranks of a class-sharded distillation started on this machine, as
``torchrun --standalone --nproc-per-node N -m nas_proxy distill ... --distributed`` starts them, and a
rank that dies said in one line.

torchrun ends a launch whose rank died (kill -9, the out-of-memory killer) with its elastic agent's
report, ~40 lines: a warning per rank it stops, its own Python traceback and a ChildFailedError table
(drill40). The ranks are the same either way: each checkpoints its shard, so the same command resumes.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Sequence

from nas_proxy.errors import InvalidArgumentError, NasProxyError


class RankFailedError(NasProxyError):
    """A rank of a launch ended with an error or a signal; the others were stopped. Exit 1, as torchrun's."""

    exit_code = 1


def launch(nproc: int, argv: Sequence[str]) -> None:
    """Run ``nasproxy`` with ``argv`` (a ``distill`` command line without ``--launch``) as ``nproc``
    ``--distributed`` ranks on this machine; :class:`RankFailedError` when one fails."""
    if nproc < 1:
        raise InvalidArgumentError(f"--launch takes the number of ranks to start on this machine, at least 1, got {nproc}")
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    # its "Sending process N closing signal SIGTERM" warning and "failed (exitcode: -9)" error: the line below says it
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    args = torchrun.parse_args(["--standalone", "--nproc-per-node", str(nproc), "-m", "nas_proxy", *argv, "--distributed"])
    try:
        torchrun.run(args)
    except ChildFailedError as e:
        rank, failure = e.get_first_failure()
        raise RankFailedError(rank_failed(rank, failure.pid, failure.exitcode)) from None


def rank_failed(rank: int, pid: int, exitcode: int) -> str:
    """The line of a launch whose rank ``rank`` (process ``pid``) ended with ``exitcode`` (negative: a signal)."""
    if exitcode < 0:
        try:
            name = f" ({signal.Signals(-exitcode).name})"
        except ValueError:
            name = ""
        how = f"was killed by signal {-exitcode}{name}"
    else:
        how = f"exited with code {exitcode} (its own line above says why)"
    return f"rank {rank} (process {pid}) {how}; the other ranks were stopped: run the same command again to continue from the shards' checkpoints"


__all__ = ["RankFailedError", "launch", "rank_failed"]
