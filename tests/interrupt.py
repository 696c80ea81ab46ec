"""Starting a child process that Ctrl-C (SIGINT) can interrupt, wherever the tests run."""

from __future__ import annotations

import subprocess
from typing import Any

from tests import warm


def interruptible(command: list[str], *, cold: bool = False, **kwargs: Any) -> subprocess.Popen[str]:
    """``subprocess.Popen(command, text=True, **kwargs)`` whose child reacts to SIGINT as in a terminal
    (a shell's background jobs start with SIGINT ignored); ``python -m nas_proxy`` forked warm
    (:mod:`tests.warm`) unless ``cold``."""
    return warm.Popen(command, text=True, sigint_default=True, cold=cold, **kwargs)
