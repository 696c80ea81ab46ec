"""A search that ends short of its budget says why with the failures of this command, not of the study's history
(stop 56): after a first command whose three architectures all failed, the same command retries them, they fail
again, and it is told of its own three failures (before: "6 trials failed"). Failures are raised by the scoring (the
event) on a training-free proxy: milliseconds a trial."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nas_proxy.search import SearchConfig, search
from nas_proxy.search.target import SearchProxy


def again_free(unmet: str) -> str:
    """The cause alone (the remedy after it: the same command again)."""
    return unmet.split("; run the same command again")[0]


def test_the_budget_message_counts_this_commands_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def score(self: SearchProxy, spec: dict[str, Any], arch_id: str, report: Any = None) -> Any:
        raise RuntimeError("injected failure")

    monkeypatch.setattr(SearchProxy, "score", score)
    config = SearchConfig(
        synthetic=None, space="convnet-small", dataset="digits", proxy_name="params", sampler="bruteforce", pruner="none", device="cpu"
    )
    storage = str(tmp_path / "journal.log")
    first = search(config, "u", 3, storage, out=tmp_path / "out", progress=False)
    assert (
        first.unmet is not None
        and again_free(first.unmet)
        == "the budget of 3 trials was not met: 0 count (3 trials failed (each worker starts at most --n-trials trials))"
    )
    again = search(config, "u", 3, storage, out=tmp_path / "out", progress=False)  # the same command: the three retried, failing again
    assert again.retried == [0, 1, 2] and again.trials == {"fail": 6}
    assert again.unmet is not None and again_free(again.unmet) == (
        "the budget of 3 trials was not met: 0 count "
        "(3 trials failed in this command, 3 more before it (each worker starts at most --n-trials trials))"
    )
