"""``python -m tests.sigint_at PHASE ARGS...``: ``nasproxy ARGS...`` that sends itself SIGINT once, at PHASE
(``NASPROXY_TEST_SIGNAL=SIGTERM`` in the environment: SIGTERM).

The signal arrives where a user's Ctrl-C might, but deterministically (no race against timing):

- ``startup``: while the command line is parsed, before the command runs;
- ``create``: inside the storage call that creates the study;
- ``ask``: inside ``study.ask()``, once the new trial exists in the storage;
- ``training``: when the first candidate's training starts;
- ``tell``: inside the storage call that stores the first trial's result;
- ``between``: after the first trial, before the next one is asked for;
- ``write``: inside the third journal write, just before its lock is released;
- ``exec``: when the first training starts, inside code run by ``exec()`` (as a lazy import runs the
  classes it makes; CPython then exits by SIGINT unless the program leaves at once).
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.study import _optimize
from optuna.trial import TrialState

from nas_proxy import cli
from nas_proxy.studies.journal_lock import HolderLock
from nas_proxy.trainers.synthetic_set import ProxyContext

fired = False
SIGNAL = signal.Signals[os.environ.get("NASPROXY_TEST_SIGNAL", "SIGINT")]


def interrupt() -> None:
    global fired
    if not fired:
        fired = True
        os.kill(os.getpid(), SIGNAL)


def before(owner: Any, name: str, when: Callable[..., bool] = lambda *a, **k: True) -> None:
    """Send the signal when ``owner.name`` is called (and ``when`` holds for its arguments), then run it."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if when(*args, **kwargs):
            interrupt()
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)


def after(owner: Any, name: str) -> None:
    """Send the signal as soon as ``owner.name`` returns."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        interrupt()
        return result

    setattr(owner, name, wrapper)


def nth_call(n: int) -> Callable[..., bool]:
    calls = [0]

    def when(*args: Any, **kwargs: Any) -> bool:
        calls[0] += 1
        return calls[0] == n

    return when


def arm(phase: str) -> None:
    if phase == "startup":
        before(cli, "build_parser")
    elif phase == "create":
        before(JournalStorage, "create_new_study")
    elif phase == "ask":
        after(JournalStorage, "create_new_trial")
    elif phase == "training":
        before(ProxyContext, "score")
    elif phase == "tell":
        before(JournalStorage, "set_trial_state_values", lambda self, trial_id, state, values=None: state == TrialState.COMPLETE)
    elif phase == "between":
        after(_optimize, "_run_trial")
    elif phase == "exec":
        original = ProxyContext.score

        def score(*args: Any, **kwargs: Any) -> Any:
            exec("interrupt()\nfor _ in range(1000):\n    pass\n", {"interrupt": interrupt})
            return original(*args, **kwargs)

        ProxyContext.score = score  # type: ignore[method-assign]
    elif phase == "write":
        before(HolderLock, "release", nth_call(3))  # the journal's lock (fix42a: nasproxy's own, not Optuna's)
    else:
        raise SystemExit(f"unknown phase {phase!r}")


if __name__ == "__main__":
    arm(sys.argv.pop(1))
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sys.exit(cli.main())  # as the program runs it: nasproxy ARGS...
