"""``python -m nas_proxy.cli.worker_process STUDY STORAGE_URL OPTIONS_JSON``: one worker process.

What :func:`nas_proxy.studies.workers.worker_processes` starts. ``OPTIONS_JSON`` is a
:class:`~nas_proxy.studies.kinds.WorkerOptions` as a JSON object. Exits 0 when its work is done,
1 (after one line on stderr) on a nasproxy error, 130 on Ctrl-C, 143 on SIGTERM (the line is the command's,
which received or passed on the signal): what finished is stored. A
program, so it lives in the CLI (it prints): its progress is drawn as ``nasproxy``'s is.
"""

from __future__ import annotations

import json
import os
import sys
from types import ModuleType


def main(argv: list[str]) -> int:
    """Run one worker on study ``argv[0]`` of storage ``argv[1]`` with options ``argv[2]``; the exit status."""
    from nas_proxy.errors import NasProxyError

    handling: ModuleType | None = None  # nas_proxy.interrupts once installed (before: CPython's SIGINT handler)
    parent = os.getppid()  # the command that started it: it prints the one line of a Ctrl-C or SIGTERM
    try:  # Ctrl-C (SIGTERM) at any moment, importing torch and Optuna included: exit 130 (143) and one line
        from nas_proxy import interrupts

        interrupts.install()  # never inside a storage write
        handling = interrupts
        from nas_proxy.cli import one_line_warnings, quiet_libraries

        one_line_warnings()  # the program's settings, as in the process that started it:
        quiet_libraries()  # no traceback from Optuna for a trial that a Ctrl-C or SIGTERM failed
        from nas_proxy.cli.common import ProgressBars
        from nas_proxy.studies.kinds import WorkerOptions
        from nas_proxy.studies.workers import join

        study, url, options = argv
        with ProgressBars():
            join(study, url, WorkerOptions.from_dict(json.loads(options)))
        interrupts.ignore()  # its work done: a signal while the interpreter exits would end it by SIGINT (main() says why)
    except NasProxyError as e:
        print(f"nasproxy worker: error: {' '.join(str(e).split())}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        by, code = ("", 130) if handling is None else (handling.by_signal(), handling.exit_status())
        # a Ctrl-C reaches the whole process group, and a signal sent to the command it passes on: the command
        # says it, once; a worker says it only when that command is gone (killed, its workers orphaned)
        if os.getppid() != parent:
            print(f"nasproxy worker: interrupted{by}; finished trials are stored", file=sys.stderr)
        return code
    except Exception as e:  # noqa: BLE001 - one line, as the CLI says it
        print(f"nasproxy worker: internal error: {type(e).__name__}: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    if code in (
        130,
        143,
    ):  # Ctrl-C, SIGTERM: leave at once: a KeyboardInterrupt that passed through exec()'d code would end the process by SIGINT at exit
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
