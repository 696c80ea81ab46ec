"""A search's ``retried`` (the failed trials whose retries it queued or took up; its closing line's "N architectures
that only failed before queued again") counted retries a concurrent command on the same study took and trained as
this command's (fix60; ``search.retry.retried_since`` took every trial numbered from the command's first, and every
one waiting as it began). It counts by the rule the unmet-budget line counts failures by (fix59): a trial trained by
one of this command's processes, or by none yet. The concurrent command: tests/search/test_unmet_concurrent_fix59.py's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest

from nas_proxy.search import search
from nas_proxy.search.retry import RETRY_ATTR, retry_failed
from nas_proxy.search.target import SearchProxy
from nas_proxy.studies.storage import open_storage
from tests.search.test_unmet_concurrent_fix59 import another_command
from tests.search.test_unmet_queued_review57 import CONFIG, failing


def test_a_retry_a_concurrent_command_took_is_not_among_this_commands_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
    study = optuna.load_study(study_name="u", storage=open_storage(storage, "u").backend)
    theirs = study.trials[taken[0]].user_attrs[RETRY_ATTR]
    assert taken == [4] and theirs == 1  # the other command took the retry of trial 1
    assert again.retried == [0, 2]  # this command's: the retries of 0 and 2 (before fix60: [0, 1, 2])
