"""Starting a child process that Ctrl-C (SIGINT) can interrupt, wherever the tests run."""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def _sigint_default() -> None:
    # A shell starts background jobs (`cmd &`, nohup, some CI runners) with SIGINT ignored, and an
    # ignored signal stays ignored across exec: Python would then never raise KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interruptible(command: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    """``subprocess.Popen(command, text=True, **kwargs)`` whose child reacts to SIGINT as in a terminal."""
    return subprocess.Popen(command, text=True, preexec_fn=_sigint_default, **kwargs)
