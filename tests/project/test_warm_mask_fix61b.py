"""fix61b: the warm server (tests/warm.py) ends on SIGTERM whatever signals its starter had blocked. A signal mask is
inherited through exec, and the server starts at a test's first command: where that command was a search's worker,
``workers.start_held`` had SIGINT, SIGTERM and SIGHUP blocked around its Popen, so the server kept SIGTERM blocked for
good and outlived the session's ``terminate()`` until the 60 s fallback killed it (review60 saw it at the end of
tests/search/test_unmet_workers_review60.py -n 0). The server now clears its mask as it starts. A server without
preloaded libraries here (no torch imported: a fraction of a CPU-s)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests import warm


def blocked(pid: int) -> set[int]:
    """The signals process ``pid`` blocks (/proc/PID/status's SigBlk)."""
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("SigBlk:"))
    mask = int(line.split()[1], 16)
    return {n for n in range(1, 65) if mask >> (n - 1) & 1}


def test_a_server_started_with_sigterm_blocked_ends_on_sigterm() -> None:
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})  # as start_held
    try:
        server = warm._Server(preload=())
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    try:
        server.pid = server.proc.pid
        server.listening()  # the event: it listens, its mask set
        assert os.path.exists(server.address), (server.folder / "server.log").read_text()
        assert signal.SIGTERM not in blocked(server.proc.pid) and signal.SIGCHLD not in blocked(server.proc.pid)
        server.proc.terminate()
        assert server.proc.wait() == 0  # its SIGTERM handler's sys.exit(0)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
        server.close()
