"""A ``--distributed`` rank joining its launch: torch's ``init_process_group``, interruptible and bounded.

torch's rendezvous (the TCP store: rank 0 serves it at ``MASTER_ADDR:MASTER_PORT`` and waits for the
others, which connect and retry) blocks in C++, where Python's signal handlers never run: a rank
waiting for a master that never answers, or for peers that never come, ignored Ctrl-C and SIGTERM
(only kill -9 ended it) for the timeout it was given, 7 days (sharded.WAIT; found by probe41).

:func:`join` runs it on a helper thread, with the process's signals blocked there, while the main
thread waits for it in small steps, so a signal raises the CLI's KeyboardInterrupt there at once
(exit 130/143, one line). The wait is bounded: :data:`JOIN_SECONDS` (``distill --join-timeout``), as
torchrun's own rendezvous (``join_timeout``, 600 s); torch's ``init_process_group`` defaults to
30 minutes (gloo) or 10 (nccl). Past it the rank ends in one line (:class:`JoinTimeoutError`); once
joined, the group and its store wait ``sharded.WAIT`` as before (a finished shard waits in the final
gather for the slowest one). torch's C++ writes its retries and its timeout (with a stack trace each)
straight to file descriptor 2: held while the rank joins, given back if it joins, dropped if not.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

from nas_proxy import interrupts
from nas_proxy.errors import NasProxyError

if TYPE_CHECKING:
    import torch

JOIN_SECONDS = 600.0  # how long a rank waits for its launch to come together (torchrun's rendezvous: join_timeout 600 s)
STEP_SECONDS = 0.05  # the main thread's wait between two looks at a signal
HINT = "launch with: torchrun --nproc-per-node N -m nas_proxy distill ... --distributed (or distill --launch N)"


class JoinTimeoutError(NasProxyError):
    """The launch did not come together within the join timeout. Exit 1, as torchrun's for a rank that fails."""

    exit_code = 1


def join(backend: str, device: torch.device, rank: int, world: int, seconds: float, wait: timedelta) -> None:
    """``dist.init_process_group(backend)`` from the environment (torchrun's ``env://``), waiting at most
    ``seconds`` for the other ranks; the group and its store then wait ``wait``. A signal raises at once
    (the helper thread is left to torch's timeout: its TCP store, connecting or waiting in C++, has no abort
    or close, and ``destroy_process_group`` needs the group not made yet; a group it still makes is destroyed)."""
    import torch
    import torch.distributed as dist  # here: the CLI reads JOIN_SECONDS for its help without torch

    failed: list[BaseException] = []
    abandoned = threading.Event()

    def rendezvous() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, interrupts.SIGNALS)  # the process's signals go to the main thread
        try:
            if device.type == "cuda":
                torch.cuda.set_device(device)  # the current device is a thread's
            dist.init_process_group(backend, timeout=timedelta(seconds=seconds))
            if abandoned.is_set():  # the main thread was interrupted meanwhile: nobody will use or destroy it
                dist.destroy_process_group()
        except BaseException as e:  # noqa: BLE001 (handed to the main thread, which raises it)
            failed.append(e)

    thread = threading.Thread(target=rendezvous, name="nasproxy-join", daemon=True)
    with _fd2_held() as held:
        try:
            thread.start()
            while thread.is_alive():
                thread.join(STEP_SECONDS)  # a signal's handler runs here
        except BaseException:
            abandoned.set()
            raise
        if not failed:
            held.keep()
    if failed:
        raise _not_joined(failed[0], rank, world, seconds) from failed[0]
    dist.set_timeout(wait)
    dist.distributed_c10d._get_default_store().set_timeout(wait)  # NCCL's first collective reads it (its unique id)


def _not_joined(e: BaseException, rank: int, world: int, seconds: float) -> BaseException:
    """The one line of a launch that did not come together (a torch error), or ``e`` itself (anything else)."""
    import torch.distributed as dist

    if not isinstance(e, dist.DistError):
        return e
    where = f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}"
    within = f"within {seconds:g} s (--join-timeout)"
    if rank == 0:
        joined = str(e).partition("waiting for clients. ")[2].partition("/")[0]  # torch's '1/2 clients joined': rank 0 counted
        came = f": {joined} of {world} came" if joined.isdigit() else ""
        return JoinTimeoutError(
            f"rank 0 of {world} waited at {where} (MASTER_ADDR:MASTER_PORT) for the other ranks {within}{came}; "
            f"start every rank with the same MASTER_ADDR and MASTER_PORT; {HINT}"
        )
    return JoinTimeoutError(f"rank {rank} of {world} found no rank 0 answering at {where} (MASTER_ADDR:MASTER_PORT) {within}; {HINT}")


class _Held:
    kept = False  # whether what was held is written out after

    def keep(self) -> None:
        self.kept = True


@contextlib.contextmanager
def _fd2_held() -> Iterator[_Held]:
    """File descriptor 2 into a temporary file inside the block; what was written there is written to it
    after, if :meth:`_Held.keep` was called (nothing is held where descriptor 2 is closed, or no temporary file can be made)."""
    with contextlib.suppress(ValueError, OSError, AttributeError):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # closed (2>&-): nothing to hold
        yield _Held()
        return
    try:
        file = tempfile.TemporaryFile()  # noqa: SIM115 (entered below: its failure alone is caught here)
    except OSError:  # no usable TMPDIR (gone, full): nothing is held (fix42c: before, the command failed)
        os.close(saved)
        yield _Held()
        return
    with file:
        held = _Held()
        os.dup2(file.fileno(), 2)
        try:
            yield held
        finally:
            with contextlib.suppress(ValueError, OSError, AttributeError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        if held.kept:
            file.seek(0)
            with contextlib.suppress(OSError):
                os.write(2, file.read())


__all__ = ["JOIN_SECONDS", "JoinTimeoutError", "join"]
