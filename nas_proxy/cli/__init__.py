"""The ``nasproxy`` command line. Commands compute and return results; renderers print them.

One module per command (or small group); :mod:`nas_proxy.cli.common` holds what they share.
Errors a user can cause print as one line and exit non-zero; ``--debug`` shows the traceback.
Global settings of the libraries used (warning filters, Optuna's log level) are made here, in
:func:`main`, never on ``import nas_proxy``.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import NoReturn

from nas_proxy.calibrate.cli_args import add_calibrate_parser as add_calibrate
from nas_proxy.cli.common import Parser, Subparsers, common
from nas_proxy.cli.correlate import add_correlate
from nas_proxy.cli.dashboard import add_dashboard
from nas_proxy.cli.distill import add_distill
from nas_proxy.cli.evaluate import add_evaluate
from nas_proxy.cli.run import add_run
from nas_proxy.cli.search import add_proxy_options, add_score, add_search, add_worker, proxy_config
from nas_proxy.cli.soft_labels import add_soft_labels
from nas_proxy.cli.spaces import add_spaces
from nas_proxy.errors import NasProxyError, NasProxyWarning

COMMANDS: list[Callable[[Subparsers, argparse.ArgumentParser], None]] = [
    add_distill,
    add_soft_labels,
    add_evaluate,
    add_search,
    add_worker,
    add_dashboard,
    add_score,
    add_correlate,
    add_run,
    add_spaces,
    add_calibrate,
]

# what a second run of the same command does after Ctrl-C (distill says it in its own error)
RESUME_HINTS = {
    "search": "; finished trials are stored; run the same command again to resume the study",
    "worker": "; finished trials are stored; run the same command again to rejoin the study",
    "correlate": "; finished trainings are cached; run the same command again to resume",
    "run": "; run the same command again to resume",
    "calibrate": "; finished proxy trainings and trials are stored; run the same command again to resume",
}

# the proxy-training flags, for scripts that build their own parser (benchmarks/fidelity.py)
_add_proxy_options = add_proxy_options
_proxy_config = proxy_config


def build_parser() -> argparse.ArgumentParser:
    from nas_proxy import __version__

    shared = common()
    parser = Parser(
        prog="nasproxy", parents=[shared], description="Neural-architecture search on distilled data: distill -> search -> correlate."
    )
    parser.add_argument("--version", action="version", version=f"nasproxy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    for add in COMMANDS:
        add(sub, shared)
    return parser


def quiet_libraries() -> None:
    """The program's settings of the libraries' own output (a library user keeps theirs)."""
    import optuna
    from optuna.exceptions import ExperimentalWarning

    # multivariate/group TPE and metric names are marked experimental in Optuna; we rely on them knowingly
    warnings.filterwarnings("ignore", category=ExperimentalWarning)
    # Optuna logs every failed trial with its traceback; a worker prints one line per failure instead
    optuna.logging.set_verbosity(optuna.logging.ERROR)


def one_line_warnings() -> None:
    """nasproxy's own warnings (a journal repaired, ...) as one line each on stderr; Python's format
    adds the file, the line number and the source line. Other warnings keep Python's format."""
    if warnings.showwarning is not _show_warning:
        global _python_showwarning
        _python_showwarning = warnings.showwarning
        warnings.showwarning = _show_warning


_python_showwarning = warnings.showwarning


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: object = None, line: str | None = None
) -> None:
    if issubclass(category, NasProxyWarning):
        print(f"nasproxy: warning: {' '.join(str(message).split())}", file=sys.stderr)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nasproxy`` with ``argv`` (None: this process's arguments); the exit status."""
    code = _main(argv)
    if code == 130 and argv is None:  # the program itself, interrupted
        _exit_interrupted()
    return code


def _exit_interrupted() -> NoReturn:
    # Once a KeyboardInterrupt has passed through code run by exec() (the classes that a lazy import
    # makes), CPython ends the process by SIGINT (status -2) at exit even though it was handled:
    # leave at once instead, everything written being already on disk.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def _main(argv: Sequence[str] | None) -> int:
    from nas_proxy import interrupts

    interrupts.install()  # Ctrl-C: exit 130 from here on, and never inside a storage write
    quiet_libraries()
    one_line_warnings()
    try:
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:
        print("nasproxy: interrupted", file=sys.stderr)
        return 130
    args.debug = getattr(args, "debug", False)
    args.json = getattr(args, "json", False)
    args.config = getattr(args, "config", None)
    try:
        return int(args.func(args))
    except NasProxyError as e:
        if args.debug:
            raise
        print(f"nasproxy {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        hint = RESUME_HINTS.get(args.command, "")
        print(f"nasproxy {args.command}: interrupted{hint}", file=sys.stderr)
        return 130
    except Exception as e:
        if args.debug:
            raise
        print(
            f"nasproxy {args.command}: internal error: {type(e).__name__}: {' '.join(str(e).split())} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
