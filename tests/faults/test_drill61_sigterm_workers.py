"""drill61: SIGTERM to ``search --workers 2``'s own process (a scheduler's, systemd's main-process signal), landing while
the command waits for its workers to finish (its own trials done, a worker's still going).

``kill_drill_stop61.py --only sigterm-search`` (RESULTS §17h): 6 of 10 SIGTERMs at random moments ended with two lines,
the command's ("nasproxy search: interrupted by SIGTERM; ...") and under it a worker's ("nasproxy worker: stopped, the
command that started it ended; ..."). ``studies.workers.worker_processes`` passes a KeyboardInterrupt raised in its
``with`` block on to the workers, then waits for them; one raised in that wait (its ``finally``) leaves without
passing it on or waiting: the command exits while its workers run, and each finds it gone (its pidfd watch) and says
so. Nothing is lost (the worker's training is failed as interrupted, the same command trains it again); the promise
broken is docs/interrupts.md's "the command says the one line", and the workers outlive their command.

The event: the command has reached ``waitpid`` (``/proc/PID/wchan`` is ``do_wait``) while its worker is held at a gate
before it takes a trial (``studies.workers.join``, which only a worker process calls).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.gate import SAFETY_SECONDS, Gate
from tests.search.test_search import FAST_ARGS, SMALL_SPACE

WORKER_JOIN = "nas_proxy.studies.workers:join"  # a worker process's loop; the command runs its own trials otherwise


def _wchan(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.drill  # a search and its worker process
def test_sigterm_while_the_command_waits_for_its_workers_is_passed_on_and_said_once(tiny_run: Path, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "nas_proxy", "search", "--synthetic", str(tiny_run), "--space", SMALL_SPACE, "--study", "w"]
    command += ["--storage", str(tmp_path / "journal.log"), "--out", str(tmp_path), "--n-trials", "2", "--workers", "2"]
    command += ["--pruner", "none", "--sampler", "bruteforce", *FAST_ARGS]
    gate = Gate(tmp_path / "gate", at=WORKER_JOIN)  # a cold start (not tests/warm.py's): the command waits in its own waitpid
    run = subprocess.Popen(command, env=gate.env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    (worker,) = gate.wait([run], count=1)  # the worker held before its first trial: the command trains both
    deadline = time.monotonic() + SAFETY_SECONDS
    while _wchan(run.pid) != "do_wait":  # the event: the command's trials done, it waits for its worker
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=SAFETY_SECONDS)
    outlived = _alive(worker)  # before the fix: still held at the gate, the command gone
    _, err = run.communicate(timeout=SAFETY_SECONDS)  # its stderr ends once the worker too has ended
    assert run.returncode == 143, err
    assert err == "nasproxy search: interrupted by SIGTERM; finished trials are stored; run the same command again to resume the study\n"
    assert not outlived
