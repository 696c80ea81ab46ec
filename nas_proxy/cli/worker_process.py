"""``python -m nas_proxy.cli.worker_process STUDY STORAGE_URL OPTIONS_JSON [PARENT_PID [SAYS_FD]]``: one worker process.

What :func:`nas_proxy.studies.workers.worker_processes` starts. ``OPTIONS_JSON`` is a
:class:`~nas_proxy.studies.kinds.WorkerOptions` as a JSON object; ``PARENT_PID``, the command that
started it: once that process has ended (kill -9 included, which passes nothing on), the worker stops
as on SIGTERM (its trial failed, retried by the same command run again). Exits 0 when its work is done,
a nasproxy error's exit status after its one line, 130 on Ctrl-C, 143 on SIGTERM (the line is the command's,
which received or passed on the signal): what finished is stored. With ``SAYS_FD`` (a pipe to the command),
its error line goes there, for the command to say (``nas_proxy.studies.workers.worker_processes``), and to
stderr only when the command is gone. A
program, so it lives in the CLI (it prints): its progress is drawn as ``nasproxy``'s is.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
import threading
import time
from types import ModuleType

AGAIN = "run that command again to finish the study"
PARENT_POLL_S = 1.0  # how often a worker looks whether the command that started it still runs


class _Command:
    """The command that started this worker (process ``pid``, named on its command line), and whether it has ended.

    Watched through a pidfd (Linux 5.3+: ``os.pidfd_open``), which names that one process, never a later one given
    its id, and turns readable once it has ended (a zombie not yet reaped included). The command is often this
    process's parent, but need not be: a launcher may start the worker for it (the tests fork theirs from a server,
    tests/warm.py); before stop 54 the worker looked only whether its parent changed, which a worker so started never
    saw. Where no pidfd can be opened, it looks every :data:`PARENT_POLL_S` at its parent (reparented: the command,
    its parent, ended) and at the id (``os.kill(pid, 0)``). A command that is not the parent is named by its id until
    the pidfd is open (its first milliseconds): ended and its id given to another process meanwhile, it is not seen."""

    def __init__(self, pid: int) -> None:
        self.pid, self.ppid, self.pidfd = pid, os.getppid(), None
        with contextlib.suppress(AttributeError, OSError):  # not Linux, a kernel before 5.3, ended already: by its id
            self.pidfd = os.pidfd_open(pid)
        if self.pidfd is not None and self.ppid == pid and os.getppid() != pid:  # its parent, which ended before the pidfd
            os.close(self.pidfd)  # was opened: that may name a later process given its id; reparented, gone() says so
            self.pidfd = None

    def gone(self, wait: bool = False) -> bool:
        """Whether the command has ended; ``wait``: block until it has (returns True)."""
        if self.pidfd is not None:
            poller = select.poll()
            poller.register(self.pidfd, select.POLLIN)
            return bool(poller.poll(None if wait else 0))
        while True:
            if os.getppid() != self.ppid:  # its parent ended (the command, where it started this worker)
                return True
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:  # alive, another user's: not ours, but not gone either
                pass
            if not wait:
                return False
            time.sleep(PARENT_POLL_S)


def _watch(command: _Command) -> threading.Event:
    """Send this process SIGTERM once ``command`` has ended; the event is set when it did.

    A thread rather than Linux's ``prctl(PR_SET_PDEATHSIG)``: that fires when the *thread* that started the worker
    ends (not the process), only for a parent, is Linux-only, and misses a parent killed before it is set."""
    orphaned = threading.Event()

    def watch() -> None:
        command.gone(wait=True)
        orphaned.set()
        os.kill(os.getpid(), signal.SIGTERM)  # stopped as a SIGTERM stops it: never inside a storage write

    threading.Thread(target=watch, name="nasproxy-parent-watch", daemon=True).start()
    return orphaned


def _say(line: str, fd: int | None) -> None:
    """The worker's error line: to the command through ``fd``, or on stderr (no pipe, or its reader gone)."""
    if fd is not None:
        try:
            os.write(fd, line.encode("utf-8", "replace"))
            return
        except OSError:  # the command ended (kill -9): nobody else will say it
            pass
    print(f"nasproxy worker: {line}", file=sys.stderr)


def main(argv: list[str]) -> int:
    """Run one worker on study ``argv[0]`` of storage ``argv[1]`` with options ``argv[2]``, while process
    ``argv[3]`` (when given) runs; the exit status."""
    from nas_proxy.errors import NasProxyError, one_line

    handling: ModuleType | None = None  # nas_proxy.interrupts once installed (before: CPython's SIGINT handler)
    parent = os.getppid()  # without PARENT_PID: the command that started it, which prints the one line of a Ctrl-C or SIGTERM
    command: _Command | None = None  # the command named by PARENT_PID, watched
    says = int(argv[4]) if len(argv) > 4 else None  # the pipe to that command for the error line
    orphaned = threading.Event()  # set once that command ended and this worker was stopped for it
    try:  # Ctrl-C (SIGTERM) at any moment, importing torch and Optuna included: exit 130 (143) and one line
        from nas_proxy import interrupts

        interrupts.install()  # never inside a storage write
        handling = interrupts
        interrupts.release()  # blocked since it started (workers.start_held): one that came meanwhile lands here
        if len(argv) > 3:
            command = _Command(int(argv[3]))
            orphaned = _watch(command)  # before the seconds of imports below: a kill -9 then is noticed too
        from nas_proxy.cli import one_line_warnings, quiet_libraries

        one_line_warnings()  # the program's settings, as in the process that started it:
        quiet_libraries()  # no traceback from Optuna for a trial that a Ctrl-C or SIGTERM failed
        if command is not None:  # a command's own worker: a batch its settings cap was said by that command, once (fix61a)
            import warnings

            from nas_proxy.checks import BatchCappedWarning

            warnings.filterwarnings("ignore", category=BatchCappedWarning)
        from nas_proxy.cli.common import ProgressBars
        from nas_proxy.studies.kinds import WorkerOptions
        from nas_proxy.studies.workers import join

        study, url, options = argv[:3]
        with ProgressBars():
            join(study, url, WorkerOptions.from_dict(json.loads(options)))
        interrupts.ignore()  # its work done: a signal while the interpreter exits would end it by SIGINT (main() says why)
    except NasProxyError as e:
        _say(f"error: {one_line(str(e))}", says)
        return e.exit_code
    except KeyboardInterrupt:
        by, code = ("", 130) if handling is None else (handling.by_signal(), handling.exit_status())
        # a Ctrl-C reaches the whole process group, and a signal sent to the command it passes on: the command
        # says it, once; a worker says it only when that command is gone (killed, its workers orphaned)
        if orphaned.is_set():
            print(f"nasproxy worker: stopped, the command that started it ended; finished trials are stored; {AGAIN}", file=sys.stderr)
        elif command.gone() if command is not None else os.getppid() != parent:
            print(f"nasproxy worker: interrupted{by}; finished trials are stored", file=sys.stderr)
        return code
    except Exception as e:  # noqa: BLE001 - one line, as the CLI says it
        _say(f"internal error: {type(e).__name__}: {one_line(str(e))}", says)
        return 1
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # Ctrl-C, SIGTERM, SIGHUP: leave at once: a KeyboardInterrupt that passed through exec()'d code would end the process by SIGINT at exit
    if code in (130, 143, 129):
        from nas_proxy.cli import end_heartbeats

        end_heartbeats(leaving=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
