"""``distill --launch N``: the N ranks of a class-sharded distillation started on this machine, as
``torchrun --standalone --nproc-per-node N -m nas_proxy distill ... --distributed`` starts them, and a
rank that dies said in one line.

torchrun ends a launch whose rank died (kill -9, the out-of-memory killer) with its elastic agent's
report, ~40 lines: a warning per rank it stops, its own Python traceback and a ChildFailedError table
(drill40). The ranks are the same either way: each checkpoints its shard, so the same command resumes.

torch's launch installs its own SIGINT, SIGTERM, SIGHUP and SIGQUIT handlers, which raise its
``SignalException`` once it has stopped the ranks (it sends them the signal): :func:`launch` turns that into
the KeyboardInterrupt of :mod:`nas_proxy.interrupts` (the CLI: exit 130, 143 or 129 and one line) and puts
the handlers before it back (before branch fix41a: "internal error: SignalException", exit 1, and torch's
handlers stayed installed).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from nas_proxy import interrupts
from nas_proxy.errors import InvalidArgumentError, NasProxyError
from nas_proxy.pids import process_id_named

if TYPE_CHECKING:
    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure


class RankFailedError(NasProxyError):
    """A rank of a launch ended with an error or a signal; the others were stopped. Exit 1, as torchrun's."""

    exit_code = 1


class RankRefusedError(NasProxyError):
    """A rank of a launch refused its input (or stopped, as any command does): its line and exit status, said once."""

    def __init__(self, message: str, exit_code: int, label: str = "error") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.label = label  # the CLI's word before the line: "error", or "internal error" (said once: fix42c)


LINE_FILE_VARIABLE = "NASPROXY_LAUNCH_SAID"  # the file the ranks of a launch hand their one line to (set by launch)
LAUNCHER_VARIABLE = "NASPROXY_LAUNCHER"  # the launch's process id, which its ranks watch (set by launch)
WATCH_SECONDS = 0.2  # how often a rank of a launch looks whether its launch still runs
_watching = False  # this process is a rank of a launch whose watch started (watch_launcher): only such a rank's launch can end
_stop_watch = threading.Event()  # set by end_watch: the watch thread ends (the rank's work ended, its launch still there)


def watch_launcher() -> threading.Thread | None:
    """In a rank of ``distill --launch``: stop this rank (SIGTERM: it checkpoints its shard and ends, as on a
    Ctrl-C) once the launch that started it is gone, on a daemon thread that looks every :data:`WATCH_SECONDS`
    whether this process's parent is still the launch. torch's launch starts each rank in a session of its
    own, so a launch killed -9 (or by the out-of-memory killer) left its ranks behind: waiting to join for
    --join-timeout (600 s) at the start, or for the others for 7 days at the end (drill of stop 42).
    None outside a launch; refused where :data:`LAUNCHER_VARIABLE` names another process than this one's parent (before
    branch probe43, a rank of the user's own torchrun with the variable left set sent itself SIGTERM at once)."""
    launcher = os.environ.get(LAUNCHER_VARIABLE, "")
    if not launcher:
        return None
    if not launched():
        raise InvalidArgumentError(
            f"{LAUNCHER_VARIABLE} is {launcher!r}, which names no launch of this rank (it is not its parent process): "
            "distill --launch sets it for the ranks it starts, and it was left in the environment, or that launch has "
            f"ended; unset {LAUNCHER_VARIABLE} and {LINE_FILE_VARIABLE}, then run the command again"
        )

    def watch() -> None:
        while os.getppid() == int(launcher):
            if stop.wait(WATCH_SECONDS):
                return
        os.kill(os.getpid(), signal.SIGTERM)

    interrupts.explain(lambda: None if launched() else "its launch ended")  # this rank's SIGTERM, or a peer's for the same
    global _watching, _stop_watch
    end_watch()  # one watch at a time: a previous one's thread ends
    stop = _stop_watch = threading.Event()
    _watching = True
    thread = threading.Thread(target=watch, name="nasproxy-launcher-watch", daemon=True)
    thread.start()
    return thread


def end_watch() -> None:
    """The rank's work ended (:func:`~nas_proxy.distill.sharded.distill_sharded` returned or raised): its watch thread
    ends, and this process is no longer a watched rank, unless its launch is gone, which the command still words its end
    by (:func:`launch_gone`). Before fix55a the mark stayed for the process's life: a second launch in one process (the
    tests') inherited it, and the thread ran as long as the process."""
    global _watching
    _stop_watch.set()
    if not launch_gone():
        _watching = False


def launched() -> bool:
    """Whether this process is a rank of a running ``distill --launch``: its parent is the launch that named itself in
    :data:`LAUNCHER_VARIABLE`. The launch's variables are its own to set; left in an environment (copied from a rank's,
    or exported by hand), :data:`LINE_FILE_VARIABLE` made every nasproxy command hand its error line to that file and say
    nothing, exit 2 without a word, before branch probe43."""
    return os.environ.get(LAUNCHER_VARIABLE) == str(os.getppid())


def launch_gone() -> bool:
    """Whether this process is a rank of a ``distill --launch`` that has ended (killed -9): it started as the launch's
    rank (its watch began, :func:`watch_launcher`), and the launch is no longer its parent. The variable alone, left in an
    environment, made any command's internal error (a RuntimeError) read "interrupted (its launch ended)", exit 143, and
    said nothing at all with RANK set too (review53)."""
    return _watching and bool(os.environ.get(LAUNCHER_VARIABLE)) and not launched()


def told_launch(line: str, exit_code: int, interrupted: bool = False, label: str = "error") -> bool:
    """In a rank of ``distill --launch``: hand ``line`` (the rank's error, said after "nasproxy distill: ``label``: ")
    to the launch, which says it once; False outside a launch, or where the line could
    not be handed (the rank then says it). Every rank refuses the same input (sharded._agree), and the ranks
    torchrun stops after the first one failed each said "interrupted by SIGTERM": 2 to 20 lines, then the
    launch's own. The first rank's line is the launch's, with its rank; the others' are not said (True). An
    ``interrupted`` rank says nothing and hands nothing: the launch says why it stopped (a Ctrl-C, a rank
    that failed or was killed); when the launch itself is gone (killed -9), rank 0 says its line and the others nothing."""
    if interrupted and launch_gone():
        # its launch is gone (killed -9): watch_launcher stopped every rank, and each raised rank 0's line (sharded._agree),
        # with no launch to say it once. Rank 0 says it (False: said here); before, every rank did, rank 1 naming rank 0
        return os.environ.get("RANK", "0") != "0"
    path = os.environ.get(LINE_FILE_VARIABLE) if launched() else None
    if not path or interrupted:
        return bool(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return True
    except OSError:  # its folder is gone: say it here
        return False
    try:  # a full disk (or ulimit -f) refuses the write, not the create (fix42c): before, a traceback, and no rank said it
        with os.fdopen(fd, "w") as f:
            f.write(f"{exit_code}\n{os.environ.get('RANK', '')}\n{label}\n{line}")
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return False
    return True


def launch(nproc: int, argv: Sequence[str]) -> None:
    """Run ``nasproxy`` with ``argv`` (a ``distill`` command line without ``--launch``) as ``nproc``
    ``--distributed`` ranks on this machine; :class:`RankFailedError` when one fails."""
    if nproc < 1:
        raise InvalidArgumentError(f"--launch takes the number of ranks to start on this machine, at least 1, got {nproc}")
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    # its "Sending process N closing signal SIGTERM" warning and "failed (exitcode: -9)" error, its agent's "Received 15
    # death signal, shutting down workers": the line below (or the CLI's interrupt) says it. The agents' loggers have a
    # level of their own (torch's get_logger sets one from LOGLEVEL), which a level set on their parent does not change.
    for name in ["torch.distributed.elastic", *logging.Logger.manager.loggerDict]:
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    with _said_to() as said:
        # --log-dir: torch's launch made a torchelastic_* folder in TMPDIR for its ranks' logs and error files, and left it
        # there after every launch: now inside the launch's own temporary folder, removed with it (os.devnull, which makes
        # none, is torch 2.3's: torch 2.2's launch fails making it a folder; the review of stop 43)
        logs = [] if said is None else ["--log-dir", str(said.parent / "logs")]
        args = torchrun.parse_args(["--standalone", "--nproc-per-node", str(nproc), *logs, "-m", "nas_proxy", *argv, "--distributed"])
        try:
            with _handlers_kept():
                torchrun.run(args)
        except ChildFailedError as e:
            rank, failure = failure_said(e.failures) or e.get_first_failure()
            # the one line a rank handed (the others, finding it handed, said nothing), unless a rank was killed: a
            # peer's line is then its consequence. Whether the rank torch saw fail first is the one that handed it is
            # a race: before branch probe43 only that rank's was said, so in 3 runs of 6 no rank's line was said at
            # all, and the launch's read "rank 0 exited with code 2 (its own line above says why)"
            if (handed := _handed(said)) is not None and failure.exitcode > 0:
                raise RankRefusedError(handed[3], handed[1], handed[2]) from None
            raise RankFailedError(rank_failed(rank, failure.pid, failure.exitcode)) from None
        except SignalException as e:  # the ranks were sent the signal and stopped, each at its shard's checkpoint
            raise interrupts.received(e.sigval) from None


def failure_said(failures: Mapping[int, ProcessFailure]) -> tuple[int, ProcessFailure] | None:
    """The first rank killed by a signal, None when none was: the launch says that one. With no error file torch
    stamps a failure with the second it saw it, so a rank killed -9 and rank 0 ending 1 in the same second (gloo's
    "Connection closed by peer") tied, and rank 0 could win: the launch said its internal error, never the kill."""
    killed = [(failure.timestamp, rank) for rank, failure in failures.items() if failure.exitcode < 0]
    if not killed:
        return None
    rank = min(killed)[1]
    return rank, failures[rank]


def _handed(said: Path | None) -> tuple[int, int, str, str] | None:
    """(rank, exit status, label, line) a rank handed to the launch (:func:`told_launch`), None when none did."""
    with contextlib.suppress(OSError, ValueError):
        if said is not None and said.is_file():
            code, rank, label, line = said.read_text().split("\n", 3)
            return int(rank), int(code), label, line
    return None


@contextmanager
def _said_to() -> Iterator[Path | None]:
    """:data:`LINE_FILE_VARIABLE` set to a file in a temporary folder for the ranks while the launch runs (they inherit
    the environment); None, and each rank says its own line, where no temporary folder can be made (TMPDIR
    gone or full: before fix42c the launch failed). :data:`LAUNCHER_VARIABLE` set either way."""
    launcher = {LAUNCHER_VARIABLE: str(os.getpid())}  # its ranks end when it is gone (watch_launcher)
    _sweep_killed_launches()
    try:
        folder = tempfile.TemporaryDirectory(prefix=f"{FOLDER_PREFIX}{os.getpid()}-", ignore_cleanup_errors=True)
    except OSError:
        with _for_the_ranks(launcher):
            yield None
        return
    with folder, _for_the_ranks({**launcher, LINE_FILE_VARIABLE: str(path := Path(folder.name) / "said")}):
        yield path


FOLDER_PREFIX = "nasproxy-launch-"  # a launch's temporary folder in TMPDIR: nasproxy-launch-PID-RANDOM


def _sweep_killed_launches() -> None:
    """Remove the temporary folders of launches killed -9 (or by the out-of-memory killer), which nothing else
    removes (drill43b: each left its folder and torch's log tree, 24 KiB): those this user owns whose process is gone.
    A folder of a launch whose process id is in use again is kept, as is one named without an id (before stop 43)."""
    import shutil

    with contextlib.suppress(OSError):
        for entry in os.scandir(tempfile.gettempdir()):
            pid = process_id_named(entry.name.removeprefix(FOLDER_PREFIX))  # None: a name no launch gave (0, '²', '007'): kept
            if not entry.name.startswith(FOLDER_PREFIX) or pid is None or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                if entry.stat(follow_symlinks=False).st_uid != os.geteuid():
                    continue
                os.kill(pid, 0)
            except ProcessLookupError:
                shutil.rmtree(entry.path, ignore_errors=True)
            except OSError:  # gone meanwhile, or another user's process: alive
                continue


@contextmanager
def _for_the_ranks(values: Mapping[str, str]) -> Iterator[None]:
    """The environment variables ``values`` set while the launch runs (its ranks inherit them), as they were after."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


TORCH_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")  # those torch's launch takes (TORCHELASTIC_SIGNALS_TO_HANDLE's default)


TAKEN_VARIABLE = "TORCHELASTIC_SIGNALS_TO_HANDLE"  # which signals torch's launch takes, read as it starts the ranks


@contextmanager
def _handlers_kept() -> Iterator[None]:
    """The signal handlers as they were before torch's launch replaced them (main thread only: torch takes none elsewhere).
    A signal ignored here (SIGINT in a script's background job, SIGHUP under nohup) stays ignored during the launch:
    torch took it all the same, so a Ctrl-C meant for the script stopped the launch, and its ranks, which still
    ignored it, were killed ~30 s later (fix41a). Unless the user chose the signals (:data:`TAKEN_VARIABLE`)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {n: signal.getsignal(getattr(signal, n)) for n in TORCH_SIGNALS if hasattr(signal, n)}
    chosen = os.environ.get(TAKEN_VARIABLE)
    if chosen is None:
        os.environ[TAKEN_VARIABLE] = ",".join(n for n, handler in before.items() if handler is not signal.SIG_IGN)
    try:
        yield
    finally:  # a signal in here is torch's SignalException still, until its own handler is put back
        if chosen is None:
            os.environ.pop(TAKEN_VARIABLE, None)
        for n, handler in before.items():
            if handler is not None:  # None: one not set from Python, which cannot be put back
                signal.signal(getattr(signal, n), handler)


def rank_failed(rank: int, pid: int, exitcode: int) -> str:
    """The line of a launch whose rank ``rank`` (process ``pid``) ended with ``exitcode`` (negative: a signal)."""
    if exitcode < 0:
        try:
            name = f" ({signal.Signals(-exitcode).name})"
        except ValueError:
            name = ""
        how = f"was killed by signal {-exitcode}{name}"
    elif (
        exitcode in interrupts.EXIT_STATUSES
    ):  # a signal sent to the rank alone: it stopped at its checkpoint and said nothing (told_launch)
        how = f"stopped at its checkpoint, interrupted by {signal.Signals(exitcode - 128).name} (exit {exitcode})"
    else:
        how = f"exited with code {exitcode} (its own line above says why)"
    return f"rank {rank} (process {pid}) {how}; the other ranks were stopped: run the same command again to continue from the shards' checkpoints"


__all__ = [
    "LAUNCHER_VARIABLE",
    "LINE_FILE_VARIABLE",
    "RankFailedError",
    "RankRefusedError",
    "failure_said",
    "launch",
    "rank_failed",
    "told_launch",
]
