"""A search's unmet-budget line counts as this command's the failures of the trials it trains that were queued before it
(review57): a command killed -9 right after it queued the retries of three failed architectures, then the same command,
which trains the three copies, and they fail again: before, the line said 'no reason recorded' (stop 56 counted only
the trials numbered from this command's first; the copies are numbered before it). Failures raised by the scoring on a
training-free proxy: milliseconds a trial."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest

from nas_proxy.search import SearchConfig, search
from nas_proxy.search.retry import retry_failed
from nas_proxy.search.target import SearchProxy
from nas_proxy.studies.storage import open_storage
from tests.search.test_unmet_counts import again_free

CONFIG = SearchConfig(
    synthetic=None, space="convnet-small", dataset="digits", proxy_name="params", sampler="bruteforce", pruner="none", device="cpu"
)


def failing(self: SearchProxy, spec: dict[str, Any], arch_id: str, report: Any = None) -> Any:
    raise RuntimeError("injected failure")


def test_copies_queued_by_a_killed_command_and_failed_in_this_one_are_its_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SearchProxy, "score", failing)
    storage, out = str(tmp_path / "journal.log"), tmp_path / "out"
    search(CONFIG, "u", 3, storage, out=out, progress=False)
    # what a second command killed -9 right after queueing the retries leaves: the three copies queued, none trained
    assert retry_failed(optuna.load_study(study_name="u", storage=open_storage(storage, "u").backend), 3) == [0, 1, 2]
    again = search(CONFIG, "u", 3, storage, out=out, progress=False)  # the same command: trains the copies
    # the retries it took up are its own (fix57's retried_since: waiting as it began, with the retry mark)
    assert again.trials == {"fail": 6} and again.retried == [0, 1, 2]
    assert again.unmet is not None and again_free(again.unmet) == (
        "the budget of 3 trials was not met: 0 count "
        "(3 trials failed in this command, 3 more before it (each worker starts at most --n-trials trials))"
    )
