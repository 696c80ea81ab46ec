"""A search's unmet-budget line counts as this command's failures only the trials its own processes trained (fix59):
a trial queued before it (a killed command's retries) that a concurrent command took and failed counted as this
command's (review57 counted every trial waiting as it began). The concurrent command is simulated in this process: a
storage of its own, whose trials name another process (this one's parent) as their worker, takes one of the queued
copies while this command trains its first, and fails it. Failures raised by the scoring on a training-free proxy."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from nas_proxy.search import search
from nas_proxy.search.retry import retry_failed
from nas_proxy.search.target import SearchProxy
from nas_proxy.studies.identity import START_ATTR
from nas_proxy.studies.processes import process_start
from nas_proxy.studies.storage import open_storage
from tests.search.test_unmet_counts import again_free
from tests.search.test_unmet_queued_review57 import CONFIG, failing


def another_command(storage: str) -> int:
    """What a concurrent command's worker does: take the next queued trial and fail it; its number."""
    other = open_storage(storage, "u").backend
    tag = {"worker_host": socket.gethostname(), "worker_pid": os.getppid(), START_ATTR: process_start(os.getppid())}
    tag = {k: v for k, v in tag.items() if v is not None}
    other.identity = lambda: tag  # type: ignore[attr-defined]  # (a journal's: the record that takes the trial names it)
    study = optuna.load_study(study_name="u", storage=other)
    trial = study.ask()
    for key, value in tag.items():  # as its objective's claim records its worker
        trial.set_user_attr(key, value)
    study.tell(trial, state=TrialState.FAIL)
    return trial.number


def test_a_queued_trial_a_concurrent_command_failed_is_not_this_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SearchProxy, "score", failing)
    storage, out = str(tmp_path / "journal.log"), tmp_path / "out"
    search(CONFIG, "u", 3, storage, out=out, progress=False)
    assert retry_failed(optuna.load_study(study_name="u", storage=open_storage(storage, "u").backend), 3) == [0, 1, 2]
    taken: list[int] = []

    def score(self: SearchProxy, spec: dict[str, Any], arch_id: str, report: Any = None) -> Any:
        if not taken:  # while this command trains its first copy, the other takes the next and fails it
            taken.append(another_command(storage))
        return failing(self, spec, arch_id, report)

    monkeypatch.setattr(SearchProxy, "score", score)
    again = search(CONFIG, "u", 3, storage, out=out, progress=False)
    assert taken == [4] and again.trials == {"fail": 7}  # copies 3, 4, 5 queued; this command trained 3, 5 and a new one
    assert again.unmet is not None and again_free(again.unmet) == (
        "the budget of 3 trials was not met: 0 count (3 trials failed in this command, 3 more before it, "
        "1 more by other commands meanwhile (each worker starts at most --n-trials trials))"
    )
