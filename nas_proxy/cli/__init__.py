"""The ``nasproxy`` command line. Commands compute and return results; renderers print them.

One module per command (or small group); :mod:`nas_proxy.cli.common` holds what they share.
Errors a user can cause print as one line and exit non-zero; ``--debug`` shows the traceback.
Global settings of the libraries used (warning filters, Optuna's log level) are made here, in
:func:`main`, never on ``import nas_proxy``.

Ctrl-C at any moment ends the program with exit 130 and one line on stderr (SIGTERM and SIGHUP alike, with
exit 143 and 129). So this module imports nothing at its top but what the interpreter has already loaded,
and :func:`main` runs everything else (the command modules, torch, Optuna) inside its handler: the
only moments a Ctrl-C can still print a traceback are before this code runs at all (see
docs/interrupts.md: CPython's own start-up).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # as typing's, without importing typing before main() runs (see nas_proxy/__init__.py)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from types import ModuleType
    from typing import Any, NoReturn

    from nas_proxy.errors import NasProxyError
    from nas_proxy.protocols import ProxyConfig

# what a second run of the same command does after Ctrl-C (distill's loop says it in its own error)
RESUME_HINTS = {
    "distill": "; run the same command again to continue (from its last checkpoint)",
    "soft-labels": "; trained teachers are kept; run the same command again to resume",
    "search": "; finished trials are stored; run the same command again to resume the study",
    "worker": "; finished trials are stored; run the same command again to rejoin the study",
    "correlate": "; finished trainings are cached; run the same command again to resume",
    "run": "; run the same command again to resume",
    "train": "; a model is whole once its spec.json is written (last); run the same command again",
    "calibrate": "; finished proxy trainings and trials are stored; run the same command again to resume",
    "evaluate": "; finished networks are kept in the set's folder (evaluations/); run the same command again to resume",
    "score": "; finished architectures are kept in the set's folder (evaluations/); run the same command again to resume",
}
# a distill with soft labels (args.teachers, set once its options are read) also keeps its trained teachers
TEACHERS_HINT = "; run the same command again to continue (from its last checkpoint; trained teachers are kept)"
# calibrate --ladders trains nothing: it measures the scores it is given and keeps nothing before its profile is written
LADDERS_HINT = "; nothing is kept before its profile is written; run the same command again (it measures again)"


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command. It imports no torch, Optuna or scipy: ``--help`` stays quick."""
    from nas_proxy.cli.calibrate import add_calibrate
    from nas_proxy.cli.common import Parser, common
    from nas_proxy.cli.correlate import add_correlate
    from nas_proxy.cli.dashboard import add_dashboard
    from nas_proxy.cli.distill import add_distill
    from nas_proxy.cli.evaluate import add_evaluate
    from nas_proxy.cli.run import add_run
    from nas_proxy.cli.search import add_score, add_search, add_worker
    from nas_proxy.cli.soft_labels import add_soft_labels
    from nas_proxy.cli.spaces import add_spaces
    from nas_proxy.cli.train import add_train
    from nas_proxy.version import __version__

    commands = [
        add_distill,
        add_soft_labels,
        add_evaluate,
        add_search,
        add_worker,
        add_train,
        add_dashboard,
        add_score,
        add_correlate,
        add_run,
        add_spaces,
        add_calibrate,
    ]
    shared = common()
    parser = Parser(
        prog="nasproxy",
        parents=[common(before_command=True)],
        description="Neural-architecture search on distilled data: distill -> search -> correlate.",
    )
    parser.add_argument("--version", action="version", version=f"nasproxy {__version__}")
    sub = parser.add_subparsers(
        dest="command", required=True, parser_class=Parser, metavar="COMMAND", help="what to run (nasproxy COMMAND --help: its options)"
    )
    for add in commands:
        add(sub, shared)
    for p in sub.choices.values():  # an option of another command is refused naming that command (Parser.foreign)
        p.commands = sub.choices
    return parser


def _add_proxy_options(p: argparse.ArgumentParser) -> None:
    """The proxy-training flags, for scripts that build their own parser (benchmarks/fidelity.py)."""
    from nas_proxy.cli.proxy_options import add_proxy_options

    add_proxy_options(p)


def _proxy_config(args: argparse.Namespace) -> ProxyConfig:
    """The ProxyConfig of the flags that :func:`_add_proxy_options` added (a --proxy-profile checked against --synthetic)."""
    from nas_proxy.cli.proxy_options import check_profile_sets, proxy_config

    typed = getattr(args, "synthetic", None)
    check_profile_sets(args, [typed] if isinstance(typed, str) else list(typed or []))
    return proxy_config(args)


def quiet_libraries() -> None:
    """The program's settings of the libraries' own output (a library user keeps theirs), each made as its library is
    imported, before any of its code runs for us: a command that uses no Optuna imports none (``nasproxy spaces``,
    a refusal), where importing it here cost every command ~0.25 CPU-s (benchmarks/RESULTS.md §26)."""
    from nas_proxy import lazy

    lazy.after_import("optuna", _quiet_optuna)


def _quiet_optuna(optuna: ModuleType) -> None:
    import warnings

    # multivariate/group TPE and metric names are marked experimental in Optuna; we rely on them knowingly
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # Optuna logs every failed trial with its traceback; a worker prints one line per failure instead
    optuna.logging.set_verbosity(optuna.logging.ERROR)


def one_line_warnings() -> None:
    """nasproxy's own warnings (a journal repaired, ...) as one line each on stderr; Python's format
    adds the file, the line number and the source line. Other warnings keep Python's format."""
    import warnings

    if warnings.showwarning is not _show_warning:
        global _python_showwarning
        _python_showwarning = warnings.showwarning
        warnings.showwarning = _show_warning


_python_showwarning: Callable[..., None] | None = None  # Python's showwarning, once one_line_warnings ran


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: object = None, line: str | None = None
) -> None:
    from nas_proxy.errors import NasProxyWarning, one_line

    if issubclass(category, NasProxyWarning):
        print(f"nasproxy: warning: {one_line(str(message))}", file=sys.stderr)
    elif _python_showwarning is not None:
        _python_showwarning(message, category, filename, lineno, file, line)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nasproxy`` with ``argv`` (None: this process's arguments); the exit status, the
    command's own even where standard error cannot be written (see :class:`_Stderr`)."""
    stderr = sys.stderr
    sys.stderr = _Stderr(stderr)
    try:
        return _main(argv)
    finally:
        sys.stderr = stderr


def _main(argv: Sequence[str] | None) -> int:
    command = None  # known once the command line is parsed
    args = None
    distributed = False  # a torchrun rank of distill --distributed
    handling: ModuleType | None = None  # nas_proxy.interrupts once installed (before: CPython's SIGINT handler)
    try:
        from nas_proxy import interrupts

        interrupts.install()  # Ctrl-C (SIGTERM): exit 130 (143) from here on, and never inside a storage write
        handling = interrupts
        if (gone := _working_folder_gone() or _threads_unread()) is not None:
            print(f"nasproxy: error: {gone}", file=sys.stderr)
            return 2
        one_line_warnings()
        try:
            args = build_parser().parse_args(argv)  # imports every command's module: dataclasses, each field's __set_name__
        except RuntimeError as e:
            if isinstance(e.__cause__, KeyboardInterrupt):  # Python 3.11's wrapping of a Ctrl-C there (as in _run): said as one
                raise e.__cause__ from None
            raise
        args.argv = list(sys.argv[1:] if argv is None else argv)  # what was parsed (distill --launch hands it to its ranks)
        command, distributed = args.command, bool(getattr(args, "distributed", False))
        quiet_libraries()
        code = _run(args)
        if argv is None:  # the program, its command done: a signal while the interpreter exits (torch's finalisers, atexit)
            interrupts.ignore()  # would end it by SIGINT without a word (status -2) or with a traceback, its work all done
    except KeyboardInterrupt:  # anywhere: importing, parsing, running the command
        if argv is None and handling is not None:  # the program itself: a second signal must not interrupt the goodbye
            handling.ignore()
        code, by = (130, "") if handling is None else (handling.exit_status(), handling.by_signal())
        hint = RESUME_HINTS.get(command, "") if command else ""
        if command == "distill" and getattr(args, "teachers", False):
            hint = TEACHERS_HINT
        if command == "calibrate" and getattr(args, "ladders", None):  # not the protocol study's trainings and trials
            hint = LADDERS_HINT
        import contextlib

        from nas_proxy.distill.launch import told_launch

        with contextlib.suppress(OSError):  # no terminal left to say it on (SIGHUP: it was closed; a write there fails with EIO)
            show_traceback(bool(getattr(args, "debug", False)))  # where it stopped
            if not told_launch(f"interrupted{by}{hint}", code, interrupted=True):  # a rank of distill --launch, stopped: the launch says it
                print(f"nasproxy{f' {command}' if command else ''}: interrupted{by}{hint}", file=sys.stderr)
    if argv is None and (
        code in (handling.EXIT_STATUSES if handling else (130,)) or distributed
    ):  # interrupted (distill says so in its own error), or a rank
        _leave(code)
    return code


def show_traceback(debug: bool) -> None:
    """Under ``--debug``, the traceback of the exception being handled, on stderr, above the command's one line: the
    exit status stays the one it has without ``--debug`` (2 for bad input, 1 an internal error, 130 or 143 interrupted).
    Before stop 54, ``--debug`` raised the error out of :func:`main` and the interpreter exited 1 for every one."""
    if debug:
        import traceback

        traceback.print_exc()


def _say(command: str, label: str, line: str, code: int, interrupted: bool = False) -> None:
    """``nasproxy COMMAND: LABEL: LINE`` (no label: ``nasproxy COMMAND: LINE``) on stderr; in a rank of ``distill --launch``, handed to the launch instead,
    which says the first rank's once (launch.told_launch)."""
    from nas_proxy.distill.launch import told_launch

    if not told_launch(line, code, interrupted, label):  # one write, its newline in it: torchrun starts ranks unbuffered (-u),
        # where print writes the line and its newline apart, and two ranks' lines ran together ("...(rank 1 of 2)nasproxy ...")
        sys.stderr.write(f"nasproxy {command}: {f'{label}: ' if label else ''}{line}\n")
        sys.stderr.flush()


def _threads_unread() -> str | None:
    """Why ``OMP_NUM_THREADS`` cannot be read, or None. OpenMP, loaded with torch, reads it as a list of positive
    whole numbers (``4`` or ``4,2``); any other value it ignores, using every core, after its own line on stderr
    ("libgomp: Invalid value for environment variable OMP_NUM_THREADS"), beside the command's (before fix42b).
    Refused here, before torch is imported: a thread count mistyped on a shared machine is one the user meant to
    limit. Set but blank (``OMP_NUM_THREADS= nasproxy ...``, a way to clear it) it is taken as unset: it is removed."""
    value = os.environ.get("OMP_NUM_THREADS")
    if value is None:
        return None
    if not value.strip():
        del os.environ["OMP_NUM_THREADS"]
        return None
    from nas_proxy.checks import INT_MAX
    from nas_proxy.errors import shown

    numbers = [n.strip().removeprefix("+") for n in value.split(",")]
    # at most INT_MAX, as every count: libgomp read 99999999999999999999 as invalid too (its own line, every core: probe45)
    if all(n.isascii() and n.isdigit() and len(n.lstrip("0")) <= 10 and 0 < int(n) <= INT_MAX for n in numbers):
        return None
    return (
        f"OMP_NUM_THREADS is {shown(value)}, not a number of threads (a whole number of at least 1 and at most {INT_MAX:,}, or a list of them "
        "such as 4,2, as OpenMP reads it); set it to one (OMP_NUM_THREADS=1), or unset it"
    )


def _working_folder_gone(running: bool = False) -> str | None:
    """Why the command cannot run in its working folder, or None: a folder deleted under the shell (every
    relative path would name nothing, and torch's start-up aborted with "Intel oneMKL FATAL ERROR: Cannot load
    libtorch_cpu.so", exit 2, before branch probe39). ``running``: deleted while the command ran (drill43: a
    search's next journal write failed inside Optuna's tell, whose own error handling then raised
    "UnboundLocalError: ... 'updated_state'", said as an internal error)."""
    try:
        os.getcwd()
    except FileNotFoundError:
        when = "while this command ran: its relative paths name nothing now" if running else "after this shell entered it"
        return f"the current folder no longer exists (it was deleted or moved {when}); cd to a folder that exists"
    return None


def _hidden(e: BaseException) -> NasProxyError | None:
    """The error of ours that ``e`` was raised over, or None: Optuna's tell, whose write failed (a journal's folder
    moved away mid-run), reads the trial back and, that failing too, raises UnboundLocalError ('updated_state')
    from its own ``finally`` over both (drill43: "internal error: UnboundLocalError ...")."""
    from nas_proxy.errors import NasProxyError  # (imported as the command fails: see the module's first lines)

    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, NasProxyError):
            return e
        e = e.__cause__ or e.__context__  # type: ignore[assignment]
    return None


def _leave(code: int) -> NoReturn:
    """End the process now, everything written being already on disk, without the interpreter's
    finalisation, which two cases cannot survive:

    - once a KeyboardInterrupt has passed through code run by exec() (the classes that a lazy import
      makes, any module being imported), CPython ends the process by SIGINT (status -2) at exit even
      though it was handled;
    - a torchrun rank of ``distill --distributed``, its process group destroyed, aborted in about one
      exit in seven on 2 cores ("terminate called without an active exception", SIGABRT, no Python
      frame left: a C++ thread of torch.distributed still joinable while the process finalised), which
      failed the whole launch after its set was written (tests/distill/test_sharded.py, measured in a loop).
    """
    import contextlib

    end_heartbeats(leaving=True)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # a closed pipe or full disk: nothing more to say there
            stream.flush()
    os._exit(code)


def end_heartbeats(leaving: bool = False) -> None:
    """Remove this process's journal heartbeat files before an ``os._exit``, which runs no :mod:`atexit` (an
    interrupted search's stayed until a later search found them stale); nothing to do where no journal beat.
    ``leaving``: the process ends next, its exit status decided: a further SIGINT, SIGTERM or SIGHUP is ignored
    (a worker's second, the command passing a Ctrl-C on, raised in the beat thread's join and printed a traceback
    under the command's one line: make test under load, stop 45)."""
    if leaving:
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
    beats = sys.modules.get("nas_proxy.studies.journal_beat")  # loaded only where a journal was opened
    if beats is not None:
        beats.end_all()


class _Stderr:
    """Standard error, whose failure ends nothing: written to a full disk (``2>/dev/full``), a closed pipe,
    or closed at the start (``2>&-``, where Python's ``sys.stderr`` is None and ``print(file=None)`` writes
    to standard output instead), a line is dropped and the exit status stays the command's (0, 2, ...).
    Before branch probe40 the write failed inside the command's error handling (exit 1), or in the
    interpreter's last flush (exit 120), and with stderr closed the error line went into standard output."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.failed = stream is None  # nowhere to write from the start

    def write(self, text: str) -> int:
        if not self.failed:
            try:
                return int(self.stream.write(text))
            except (OSError, ValueError):  # ValueError: a stream closed in this process
                self._fail()
        return len(text)

    def flush(self) -> None:
        if not self.failed:
            try:
                self.stream.flush()
            except (OSError, ValueError):
                self._fail()

    def isatty(self) -> bool:
        return not self.failed and bool(self.stream.isatty())

    def _fail(self) -> None:
        """Nothing more is written, and the descriptor goes to /dev/null: the interpreter's last flush at exit
        then fails on nothing (it would make the exit status 120)."""
        from nas_proxy.cli.common import silence

        self.failed = True
        silence(self.stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class _Stdout:
    """Standard output, remembering whether a write to it failed (a full disk, /dev/full, a closed
    pipe): that failure is the command's one-line error, not an internal one."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.failed: OSError | None = None

    def write(self, text: str) -> int:
        if self.stream is None:  # started with it closed (>&-): Python's sys.stdout is then None
            self.failed = OSError(9, "it is closed")  # EBADF, as a write to the closed descriptor would be
            raise self.failed
        try:
            try:
                return int(self.stream.write(text))
            except UnicodeEncodeError:  # an ASCII stdout (PYTHONIOENCODING=ascii) and a study or path named in Unicode:
                encoding = getattr(self.stream, "encoding", None) or "ascii"  # shown as stderr shows it, not an internal
                return int(self.stream.write(text.encode(encoding, "backslashreplace").decode(encoding)))  # error at the end
        except OSError as e:
            self.failed = e
            raise

    def flush(self) -> None:
        if self.stream is None:  # nothing was written (write refused it)
            return
        try:
            self.stream.flush()
        except OSError as e:
            self.failed = e
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def silence(self) -> None:
        """Point the descriptor at /dev/null: the interpreter's last flush at exit then adds no second message."""
        from nas_proxy.cli.common import silence

        silence(self.stream)


def _run(args: argparse.Namespace) -> int:
    """The parsed command, its errors as one line (a KeyboardInterrupt goes up to :func:`main`)."""
    from nas_proxy.errors import InterruptedRunError, NasProxyError, one_line

    args.debug = getattr(args, "debug", False)
    args.json = getattr(args, "json", False)
    stdout: _Stdout | None = None
    try:
        from nas_proxy.cli.common import Config, config_files, missing_required

        config_files(args)  # args.config: every --config file, in order

        needs = getattr(args, "needs", None)  # a command's own rule for what it cannot run without
        missing_required(args, needs(args, Config(args.config)) if needs else ())  # every one missing, in one error
        from nas_proxy.cli.environment import check_environment

        check_environment(args.command)  # a library's variable it cannot use (TQDM_*, MPLBACKEND), before any work (probe61)
        from nas_proxy.cli.common import ProgressBars

        stdout = _Stdout(sys.stdout)
        sys.stdout = stdout
        try:
            from nas_proxy.files import one_command

            with ProgressBars(), one_command():  # progress drawn on stderr (--quiet: none); no write into a folder moved away
                code = int(args.func(args))
            stdout.flush()  # a pipe or file is block-buffered: its write fails here, not in the interpreter's last flush
            return code
        finally:
            sys.stdout = stdout.stream
            end_heartbeats()  # its trials ended with it: a process that runs commands in turn (the tests') beats no more
    except NasProxyError as e:
        show_traceback(args.debug)
        from nas_proxy.distill.launch import RankRefusedError

        label = e.label if isinstance(e, RankRefusedError) else "error"  # a rank's internal error: its label, once
        if isinstance(e, InterruptedRunError):  # "nasproxy distill: interrupted at ...", as every command's interruption (drill46)
            label = ""
        _say(args.command, label, one_line(str(e)), e.exit_code, isinstance(e, InterruptedRunError))
        return e.exit_code
    except Exception as e:  # noqa: BLE001 - the last resort: any error is one line and an exit status (--debug: its traceback too)
        if isinstance(e.__cause__, KeyboardInterrupt):  # Python 3.11 wraps a Ctrl-C that lands in a class's __set_name__
            # (a dataclass defined as a module is imported) in "RuntimeError: Error calling __set_name__ ...": an
            # interruption, said as one (the start-up drill's 20 moments: "internal error" once, stop 61)
            raise e.__cause__ from None
        show_traceback(args.debug)
        if stdout is not None and stdout.failed is e:
            stdout.silence()
            if isinstance(e, BrokenPipeError):  # its reader closed it early (`nasproxy spaces | head -1`): no error
                from nas_proxy.cli.common import CLOSED_PIPE

                return CLOSED_PIPE
            print(f"nasproxy {args.command}: error: cannot write standard output: {e.strerror or e}", file=sys.stderr)
            return 2  # as a file that cannot be written
        if (gone := _working_folder_gone(running=True)) is not None:  # whatever failed, it failed for that
            _say(args.command, "error", gone, 2)
            return 2
        if (hidden := _hidden(e)) is not None:
            _say(args.command, "error", one_line(str(hidden)), hidden.exit_code)
            return hidden.exit_code
        from nas_proxy.errors import out_of_memory

        if (oom := out_of_memory(e)) is not None:
            _say(args.command, "error", oom, 1)  # a rank of distill --launch out of memory: said once, as any other line
            return 1
        from nas_proxy.distill.launch import launch_gone

        if isinstance(e, RuntimeError) and launch_gone():  # its launch killed -9, a peer rank stopped first, and this rank's
            # collective failed on it (gloo: "Connection closed by peer") before its own watch stopped it: rank 0 says the
            # launch ended, the others nothing (before stop 52, rank 0 said an internal error, 1 in 22 drill runs under load)
            line = (
                "interrupted (its launch ended) as a peer rank stopped; each shard keeps its last checkpoint; the same command continues it"
            )
            _say(args.command, "", line, 143, True)
            return 143
        # a rank of distill --launch: said once (its gloo peer killed: "Connection closed by peer")
        _say(args.command, "internal error", f"{type(e).__name__}: {one_line(str(e))} (rerun with --debug for the traceback)", 1)
        return 1
