"""A check that must refuse a FIFO without opening it, run where a wrong one cannot hang the test run."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest


def raised_beside_a_fifo(check: Callable[[], object], fifo: Path) -> BaseException:
    """What ``check()`` raised, ``fifo`` being a FIFO it should not open: run in a thread; if it is still blocked after a
    minute (an open waiting for a writer), a writer releases it and the test fails; a check that raises nothing fails."""
    said: list[BaseException] = []

    def run() -> None:
        try:
            check()
        except BaseException as e:  # noqa: BLE001 (the test looks at what it was)
            said.append(e)

    checking = threading.Thread(target=run, daemon=True)
    checking.start()
    checking.join(60)
    if checking.is_alive():
        with open(fifo, "wb"):
            pass
        checking.join()
        pytest.fail(f"the check opened {fifo} and waited for a writer")
    if not said:
        pytest.fail("the check raised nothing")
    return said[0]
