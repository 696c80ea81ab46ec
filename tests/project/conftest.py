"""What the tests of the benchmark scripts share."""

from __future__ import annotations

from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture()
def bench_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks/ on sys.path: the scripts import their neighbours by name."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
