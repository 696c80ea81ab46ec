"""review61: the warm server (tests/warm.py) outlived the session's SIGTERM for ``warm.CLOSE_S`` (60 s), then was killed
("tests/warm.py: the warm server (pid N) outlived SIGTERM for 60 s: killed"; review60 saw it twice in 4 ``-n 0`` runs,
unexplained). Cause: under ``-n 0`` the server starts at the first warm command, and where that command is a search's
worker, started inside ``nas_proxy.studies.workers.start_held`` (tests/search/test_unmet_workers_review60.py patches
its Popen with ``warm.Popen``), the server is started with SIGINT and SIGTERM blocked in the starting thread: a signal
mask is inherited through exec, and the server never unblocked them, so its SIGTERM handler never ran.

The server is one of this test's own that preloads nothing (a fraction of a second); the mask is read from /proc, not
waited for."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from nas_proxy import interrupts
from tests import warm


def _blocked(pid: int) -> set[int]:
    """The signals process ``pid`` blocks (its SigBlk in /proc)."""
    mask = int(next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("SigBlk:")).split()[1], 16)
    return {n for n in range(1, 65) if mask >> (n - 1) & 1}


@pytest.mark.xfail(
    strict=True,
    reason="tests/warm.py (fix61b's this stop) is to unblock the server's signals first in serve(): see review61's report; "
    "drop this mark with that fix",
)
def test_a_server_started_with_signals_held_unblocks_them() -> None:
    held = signal.pthread_sigmask(signal.SIG_BLOCK, interrupts.SIGNALS)  # as workers.start_held holds them across Popen
    try:
        server = warm._Server(preload=())
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    try:
        server.connect().close()  # it listens: past its start, its handlers installed
        assert not _blocked(server.proc.pid) & {signal.SIGTERM, signal.SIGINT}, _blocked(server.proc.pid)
    finally:
        server.proc.kill()  # not close(): a server that blocks SIGTERM would hold it for warm.CLOSE_S
        server.proc.wait()
        server.close()
