"""``nasproxy dashboard`` started by a test on a port free when asked, served whatever another process does meanwhile.

A free port can be taken by another process between the moment the test learns it and the moment the dashboard binds
it (the tests run beside each other, and beside other helpers' runs): before fix50d the dashboard then exited
'port N on 127.0.0.1 is in use', and the test failed. :func:`serving` starts it again on another port when it
exits saying so, waiting on events only: the dashboard's first output (or its end), then its answer (or its end)."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import IO, Any

from tests.gate import SAFETY_SECONDS

ATTEMPTS = 5  # ports tried before the test fails (each taken meanwhile by another process: never seen so far)
# what the dashboard says when its port is taken: at its check of the port; at the server's bind, right after its ready
# line (since stop 50 one line, before it a traceback)
IN_USE = ("is in use", "was taken by another process", "Address already in use")


def free_ports() -> Iterator[int]:
    """Ports free when asked for, one at a time."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        yield port


def serving(
    command: list[str],
    popen: Callable[..., subprocess.Popen[str]],
    read: Callable[[IO[str]], str] = lambda out: out.readline(),
    ports: Iterator[int] | None = None,
    **kwargs: Any,
) -> tuple[subprocess.Popen[str], int, str]:
    """Start ``command`` (a dashboard command line without ``--port``) with ``popen`` (stdout and stderr piped,
    text) on a port of ``ports`` (default :func:`free_ports`) until one serves: ``(the process, its port, what
    ``read`` read of its stdout)``. A start that ends with the port in use is retried on the next port; any other
    end fails the test with its stderr."""
    tried: list[int] = []
    for port in ports or free_ports():
        if len(tried) == ATTEMPTS:
            break
        tried.append(port)
        proc = popen([*command, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)
        assert proc.stdout is not None
        printed = read(proc.stdout)  # the event: the ready line (the port was free at its check), or "" at its end
        if printed and answers(f"http://127.0.0.1:{port}/api/meta", proc):
            return proc, port, printed
        rest, err = proc.communicate(timeout=SAFETY_SECONDS)  # it ended: why
        if not any(words in err for words in IN_USE):
            raise AssertionError(f"the dashboard ended with {proc.returncode} before serving: {printed}{rest}{err}")
    raise AssertionError(f"every port tried was in use by the time the dashboard bound it: {tried}")


def answers(url: str, proc: subprocess.Popen[str]) -> bool:
    """Whether the server ``proc`` answers ``url`` (it binds, then serves, after its first line): True once it does,
    False once it has ended without (its port taken before it bound it)."""
    deadline = time.monotonic() + SAFETY_SECONDS
    while proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                r.read()
            return proc.poll() is None  # optuna-dashboard's answer, from the process still serving
        except OSError:
            assert time.monotonic() < deadline, "the dashboard never answered"
            time.sleep(0.05)  # polls the server's port: the event is its answer
    return False
