"""A failed architecture's retry takes a slot of the budget (review56): once ``--n-trials`` is met, the same command
queues no retry (a copy queued beyond it would wait in the study and be counted as retried, untrained); a larger
budget then retries it first. test_retry.py's searches all had a slot left, so the limit in retry_failed went
untested (removing it passed them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState

from nas_proxy.search.target import SearchProxy
from tests.search.test_retry import run, study_of


def test_no_retry_is_queued_once_the_budget_is_met(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real, seen, failed = SearchProxy.score, list[str](), list[str]()

    def score(self: SearchProxy, spec: dict[str, Any], arch_id: str, report: Any = None) -> Any:
        seen.append(arch_id)
        if not failed:  # the first architecture scored fails, once
            failed.append(arch_id)
            raise RuntimeError("injected failure")
        return real(self, spec, arch_id, report)

    monkeypatch.setattr(SearchProxy, "score", score)
    storage = tmp_path / "journal.log"
    first = run(storage, tmp_path, 3)  # the first fails, the next two are scored (a command starts at most 3 trials)
    assert first.trials == {"complete": 2, "fail": 1} and len(set(seen)) == 3
    seen.clear()
    again = run(storage, tmp_path, 2)  # a budget of 2, met: nothing to train, nothing queued
    assert again.retried == [] and seen == [] and again.unmet is None
    assert not [t for t in study_of(storage, "r").trials if t.state == TrialState.WAITING]
    more = run(storage, tmp_path, 3)  # a slot more: the failed architecture first
    assert more.retried == [0] and seen == failed and more.trials == {"complete": 3, "fail": 1}
