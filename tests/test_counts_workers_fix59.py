"""fix59: the counts of work a command takes are checked alike (checks.count: at least 1, at most a limit whose reason
is said), each reason one constant beside TRIALS_WHY: search's --workers, a preset's and correlate's workers said "must
be in [1, 1024]" without why, and evaluate's --runs wrote its reason inline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nas_proxy import checks
from nas_proxy.correlate.config import CorrelateConfig
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.evaluate import evaluate
from nas_proxy.pipeline import _search
from nas_proxy.search import SearchConfig, search


def said(name: str, value: int, high: int, why: str) -> str:
    return "^" + re.escape(f"{name} {value} is more than {high:,}, {why}") + "$"


def test_search_workers_beyond_the_limit_say_why(tmp_path: Path) -> None:
    config = SearchConfig(synthetic=None, space="convnet-small", dataset="digits", proxy_name="params", device="cpu")
    with pytest.raises(InvalidArgumentError, match=said("--workers", 100_000, checks.WORKERS_MAX, checks.WORKERS_WHY)):
        search(config, "w", 1, str(tmp_path / "journal.log"), workers=100_000, out=tmp_path / "out", progress=False)
    assert not (tmp_path / "journal.log").exists() and not (tmp_path / "out").exists()  # refused before any work


def test_a_presets_and_correlates_workers_beyond_the_limit_say_why() -> None:
    with pytest.raises(InvalidArgumentError, match=said("workers", 2048, checks.WORKERS_MAX, checks.WORKERS_WHY)):
        _search({"space": "convnet-small", "workers": 2048}, "p.toml [search]", None, "cpu", "digits")
    with pytest.raises(InvalidArgumentError, match=said("workers", 2048, checks.WORKERS_MAX, checks.WORKERS_WHY)):
        CorrelateConfig("convnet-small", workers=2048).validate()
    for bad in (0, True):  # below the limit's floor, or not a count: said as before
        with pytest.raises(InvalidArgumentError, match=r"^workers must be"):
            CorrelateConfig("convnet-small", workers=bad).validate()


def test_evaluate_runs_beyond_the_limit_say_why(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=said("runs", 1001, checks.RUNS_MAX, checks.RUNS_WHY)):
        evaluate(tmp_path / "no-set", runs=1001)
