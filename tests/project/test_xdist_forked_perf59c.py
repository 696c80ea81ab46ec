"""pytest-xdist's workers, in ``make test``, are forked from the warm server (tests/warm.py, ``workers_forked``)
rather than started cold: each cold one imported torch, NumPy, Optuna, SciPy, pandas and pyplot again as it collected
(~4.5 CPU-s a worker, stop 59)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import warm

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_of_a_run_started_in_the_checkout_was_forked_from_the_shared_server(pytestconfig: pytest.Config) -> None:
    server = warm._Server.shared()
    if not os.environ.get("PYTEST_XDIST_WORKER") or server is None or warm.COLD:
        pytest.skip("only a pytest-xdist run with its shared warm server (make test) forks its workers")
    if pytestconfig.invocation_params.dir != ROOT:
        pytest.skip("a run started outside the checkout starts its workers cold (the forked worker imports its tests/)")
    assert os.getppid() == server.pid, f"worker {os.getpid()} was started cold, by {os.getppid()}; the server is {server.pid}"
    assert sys.argv == ["-c"]  # as `python -c` makes it


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_worker_s_multiprocessing_child_started_anew_runs_its_target(method: str) -> None:
    """A spawn or forkserver child imports its parent's main module again, by name: a forked worker's main module once
    read stdin there as execnet's code and the child died on a SyntaxError (the GPU horizon pool's drill, stop 59).
    In any worker (forked or cold) and in a run without workers, the child must run its target and exit 0."""
    import multiprocessing

    context: Any = multiprocessing.get_context(method)  # (typeshed's BaseContext names no Process)
    child = context.Process(target=os.getpid)
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 0, f"a {method} child of this pytest process exited {child.exitcode}"
