"""Workers: joining a study of any kind, and starting worker processes on this machine.

A worker process is started through a Python entry point (``python -m nas_proxy.cli.worker_process``,
a program of the command line, named here as a string: nothing here imports it), not through the
command line's flags, which may change.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.storages import BaseStorage

from nas_proxy import checks, interrupts
from nas_proxy.errors import InvalidArgumentError, NasProxyWarning
from nas_proxy.studies.kinds import StudyNotFoundError, WorkerOptions, get, kind_of
from nas_proxy.studies.storage import GRACE_MAX, HEARTBEAT_MAX, open_storage, require_existing

WORKER_MODULE = "nas_proxy.cli.worker_process"  # `python -m` this: one worker process


def load_study(storage: BaseStorage, name: str) -> optuna.Study:
    """Study ``name`` of ``storage``; a one-line :class:`StudyNotFoundError` listing what it holds instead."""
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        known = sorted(str(s.study_name) for s in optuna.get_all_study_summaries(storage, include_best_trial=False))
        raise StudyNotFoundError(f"no study {name!r} in that storage; it holds: {', '.join(known) or 'no studies'}") from None


def check_heartbeat(heartbeat: tuple[int, int]) -> None:
    """Refuse a heartbeat interval under 1 s or over a day (:data:`HEARTBEAT_MAX`), or a grace period not longer than it
    or over a year (past ~2.7 million years Optuna's stale-trial query overflowed: review44)."""
    interval, grace = heartbeat
    if not 1 <= interval <= HEARTBEAT_MAX or not interval < grace <= GRACE_MAX:  # before probe44b, 10**10 s: the heartbeat's thread died
        raise InvalidArgumentError(
            f"--heartbeat-interval must be 1 to {HEARTBEAT_MAX:,} s (a day) and --grace longer than it, got {interval} and {grace} "
            f"(--grace at most {GRACE_MAX:,} s, a year); e.g. 60 and 180"
        )


def join(study_name: str, storage_url: str | None, options: WorkerOptions | None = None) -> optuna.Study:
    """``nasproxy worker``: join the existing study ``study_name`` as one more worker of its kind
    (read from the study), with the settings stored in it and ``options`` for this machine; the
    study, on the storage opened for it (None: the study's default journal)."""
    options = options or WorkerOptions()
    if options.n_trials is not None:
        checks.count("n_trials", options.n_trials, checks.TRIALS_MAX, checks.TRIALS_WHY)
    checks.number("timeout", options.timeout, 0, low_open=True, optional=True)
    checks.number("worker_index", options.worker_index, 0, checks.WORKERS_MAX, integer=True)  # a sampler seed offset
    check_heartbeat(options.heartbeat)
    require_existing(storage_url, study_name)  # a worker joins a study: it never creates a storage
    storage = open_storage(storage_url, study_name, *options.heartbeat)  # once for this process: the kind works through it
    study = load_study(storage.backend, study_name)
    kind = kind_of(study)
    if kind is None:
        raise StudyNotFoundError(f"study {study_name!r} was not made by nasproxy search")
    get(kind).work(study, storage, options)
    return study


def ran_here(study: optuna.Study) -> int:
    """How many of ``study``'s trials this process ran: those that record it as their worker
    (:func:`~nas_proxy.studies.identity.worker_tag`: its host, id and start), as every objective does first."""
    from nas_proxy.studies.identity import WORKER_KEYS, worker_tag

    me = worker_tag()
    return sum(all(t.user_attrs.get(k) == me.get(k) for k in WORKER_KEYS) for t in study.get_trials(deepcopy=False))


def worker_command(study_name: str, storage_url: str, options: WorkerOptions, says_fd: int | None = None) -> list[str]:
    """The command line of one worker process on ``study_name``, started by this process: the worker
    stops (as on SIGTERM) once this process has ended, even by kill -9. With ``says_fd``, the worker
    writes its one error line there, for this process to say, instead of on standard error."""
    args = [str(os.getpid())] + ([] if says_fd is None else [str(says_fd)])
    return [sys.executable, "-m", WORKER_MODULE, study_name, storage_url, json.dumps(options.to_dict()), *args]


class WorkerStoppedWarning(NasProxyWarning):
    """A worker process this command started ended before its work (kill -9, an error it handed over);
    what it left is re-queued and trained by the command."""


@dataclass
class WorkerProcess:
    """A worker process of this command; once it has ended, ``said`` is the error line it handed to the
    command ("error: no space left on device ..."; empty when it said none)."""

    process: subprocess.Popen[bytes]
    said: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def ended(self, k: int) -> str:
        """How worker ``k`` ended, in the one wording the command and the queue both use:
        'worker process 1 (pid 4242) exited with code 4 (error: no space left on device ...)'."""
        said = f" ({self.said})" if self.said else ""
        return f"worker process {k} (pid {self.pid}) {exit_words(self.returncode or 0)}{said}"


def _read_all(fd: int) -> str:
    """What the ended worker wrote into its end of the pipe ``fd`` (closed by the caller)."""
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace").strip()


def _wait(children: list[WorkerProcess]) -> None:
    """Wait for every worker. A signal that reaches this process alone while it waits (a scheduler's SIGTERM once its own
    trials are done) is passed on to the workers still running, as in the ``with`` block, and they are waited for before it
    goes on: before drill61 the command left at once, and each worker, finding it gone, said a second line."""
    try:
        for child in children:
            child.process.wait()
    except KeyboardInterrupt:
        _pass_on(children)
        for child in children:
            child.process.wait()
        raise


def _pass_on(children: list[WorkerProcess]) -> None:
    """The signal this process got (a KeyboardInterrupt: Ctrl-C, or SIGTERM sent to it alone), to each worker still
    running: SIGTERM stops them as it stopped us."""
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(interrupts.last_signal())


@contextmanager
def worker_processes(study_name: str, storage_url: str, options: list[WorkerOptions]) -> Iterator[list[WorkerProcess]]:
    """One worker process per entry of ``options`` on the study, for the ``with`` block; on leaving
    it, wait for them all. Ctrl-C in a terminal reaches them too; a KeyboardInterrupt raised in this
    process alone (a signal sent to it only: ``kill``, a scheduler's SIGTERM) is passed on to them
    first, as the same signal; and when this process is killed (SIGKILL, nothing passed on), each
    worker stops by itself within about a second (``nas_proxy.cli.worker_process``). An error that ends the block
    (this process's disk full or turned read-only) stops them by SIGTERM, as a Ctrl-C would.

    A worker's error line comes to this process through a pipe (each child's ``said``), not onto the
    terminal: the command says it, or only its own when it fails too (a full disk stops the command
    and its workers alike: one line, not one a process)."""
    children: list[WorkerProcess] = []
    readers: list[int] = []
    with ExitStack() as opened:  # the pipes' read ends, closed however this ends: before fix62c a signal raised again by
        # _wait skipped them (2 descriptors left open a run in a long-lived process, review62)
        try:
            for o in options:
                r, w = os.pipe()
                opened.callback(os.close, r)
                readers.append(r)
                try:
                    command = worker_command(study_name, storage_url, o, says_fd=w)
                    children.append(WorkerProcess(start_held(command, pass_fds=(w,))))
                finally:
                    os.close(w)  # the worker's copy stays open in it: end of file here once it has ended
            yield children
        except KeyboardInterrupt:
            _pass_on(children)
            raise
        except Exception:  # this process stopped on an error (its disk full or turned read-only): its workers stop too, as
            # on SIGTERM; before drill44 a worker waiting for this process's last trial (left RUNNING: its write failed)
            # waited for good, and this process for it
            for child in children:
                if child.process.poll() is None:
                    child.process.send_signal(signal.SIGTERM)
            raise
        finally:
            _wait(children)  # a signal it raises again leaves the lines unread: the command says it was interrupted
            for child, r in zip(children, readers, strict=False):
                child.said = _read_all(r)


def start_held(args: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(args, **popen)`` with :data:`interrupts.SIGNALS` blocked in the new process (a signal mask is
    inherited through ``exec``) until it unblocks them, its handlers installed (:func:`interrupts.release`): a
    Ctrl-C that lands while its interpreter starts waits for them. Before stop 44 a worker so hit printed "Fatal
    Python error: init_import_site ... KeyboardInterrupt" beside the command's one line (drill44b)."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, interrupts.SIGNALS)
    try:
        return subprocess.Popen(args, **popen)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def exit_words(returncode: int) -> str:
    """How a worker process ended, in words: 'was killed by signal 9 (SIGKILL)', 'exited with code 3'."""
    if returncode < 0:
        try:
            name = f" ({signal.Signals(-returncode).name})"
        except ValueError:  # a signal this platform does not name
            name = ""
        return f"was killed by signal {-returncode}{name}"
    return f"exited with code {returncode}"


__all__ = [
    "WorkerProcess",
    "WorkerStoppedWarning",
    "check_heartbeat",
    "exit_words",
    "join",
    "load_study",
    "ran_here",
    "start_held",
    "worker_command",
    "worker_processes",
]
