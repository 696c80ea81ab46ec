"""``python -m tests.warm_probe MODE``: what tests/project/test_warm.py compares between a warm-forked
and a cold process (nothing of nasproxy, so a cold start costs no torch import but for ``seeds``)."""

from __future__ import annotations

import contextlib
import sys
import time

mode = sys.argv[1]
if mode == "exec-interrupt":  # CPython exits by SIGINT after a KeyboardInterrupt passed through exec(), caught or not
    with contextlib.suppress(KeyboardInterrupt):
        exec("raise KeyboardInterrupt")
    sys.exit(0)
elif mode == "uncaught":
    raise ValueError("uncaught")
elif mode == "exit-text":
    sys.exit("a message instead of a code")
elif mode == "streams":  # newline translation, error handlers, and an undecodable file name printed back
    data = sys.stdin.read()
    print(repr(data), sys.stdin.errors, sys.stdout.errors, sys.stderr.errors, sys.stdout.line_buffering)
    print(type(sys.stdout.buffer).__name__, type(sys.stderr.buffer).__name__, getattr(sys.stdout, "write_through", None))  # -u
    print(b"name-\xff".decode("utf-8", "surrogateescape"))
    print("to stderr", file=sys.stderr)
elif mode == "seeds":
    import random

    import numpy
    import torch

    print(random.random(), numpy.random.random(), torch.initial_seed())
elif mode == "fds":  # each descriptor number given (Popen's pass_fds) is open, and a write to it arrives
    import os

    for fd in sys.argv[2:]:
        os.write(int(fd), f"fd {fd} open\n".encode())
elif mode == "tempdir":  # where tempfile puts its files: from TMPDIR, read at first use
    import tempfile

    print(tempfile.gettempdir())
elif mode == "sleep":
    time.sleep(float(sys.argv[2]))
elif mode == "mask":  # the signals blocked at its start (a signal mask is kept through exec)
    import signal

    print(*sorted(int(n) for n in signal.pthread_sigmask(signal.SIG_BLOCK, ())))
