"""``pytest -p tests.cpu_profile``: each test's CPU-s, written to ``NASPROXY_TEST_CPU_PROFILE``/rows-WORKER.tsv (one line a
test: node id, then the CPU-s of the test process itself, of the subprocesses it reaped, of the processes the warm server
forked for it (:data:`tests.warm.forked_cpu`, which no test process reaps), and wall seconds), fixtures' set-up and
tear-down included (a module's fixture counts in its first test). What no test spends (pytest-xdist's controller, each
worker's start and collection, the warm server's own) is what a whole run's ``/usr/bin/time`` has beyond their sum."""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

FOLDER = os.environ.get("NASPROXY_TEST_CPU_PROFILE", "")
_rows: list[str] = []


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _forked() -> float:
    warm = sys.modules.get("tests.warm")
    return warm.forked_cpu if warm is not None else 0.0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    start = (_cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), _forked(), time.monotonic())
    yield
    end = (_cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), _forked(), time.monotonic())
    _rows.append("\t".join([item.nodeid, *(f"{b - a:.3f}" for a, b in zip(start, end, strict=True))]))


def pytest_sessionfinish() -> None:
    if FOLDER:
        path = Path(FOLDER) / f"rows-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.tsv"
        path.write_text("".join(f"{row}\n" for row in _rows))
