"""A failed architecture is retried once by the same command (fix55a): a trial whose scoring failed for any
reason of its own is queued again when the same search starts, once per architecture, so the architecture
gets a score; a retry that fails too is not retried again.

The failure is made by a scoring that raises for one architecture (the event), on a training-free proxy so
that each trial costs milliseconds; what is tested (the queueing, the budget, the bound) is the search's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from nas_proxy.search import SearchConfig, search
from nas_proxy.search.retry import RETRY_ATTR, retry_failed
from nas_proxy.search.target import SearchProxy
from nas_proxy.studies.storage import open_storage

SPACE = "convnet-small"  # 6 architectures


def config() -> SearchConfig:
    return SearchConfig(
        synthetic=None, space=SPACE, dataset="digits", proxy_name="params", sampler="bruteforce", pruner="none", device="cpu"
    )


class Failing:
    """SearchProxy.score that raises for architecture ``aid`` while ``fails`` > 0 (each failure spends one), and records
    every architecture it scored or failed, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.real, self.aid, self.fails, self.seen = SearchProxy.score, "", 0, list[str]()
        failing = self

        def score(self: SearchProxy, spec: dict[str, Any], arch_id: str, report: Any = None) -> Any:
            failing.seen.append(arch_id)
            if arch_id == failing.aid and failing.fails > 0:
                failing.fails -= 1
                raise RuntimeError("injected failure")
            return failing.real(self, spec, arch_id, report)

        monkeypatch.setattr(SearchProxy, "score", score)


def study_of(storage: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(str(storage), name)[0])


def run(storage: Path, tmp_path: Path, n: int = 3) -> Any:
    return search(config(), "r", n, str(storage), out=tmp_path / "out", progress=False)


def draws(storage: Path, tmp_path: Path, failing: Failing) -> list[str]:
    """The architectures a search of the whole space scores, in order (nothing failing); its study removed."""
    run(storage, tmp_path, 6)
    order = list(failing.seen)
    storage.unlink()
    failing.seen.clear()
    assert len(set(order)) == 6
    return order


def test_a_failed_architecture_is_scored_by_the_same_command_and_nothing_else_is_redone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage, failing = tmp_path / "journal.log", Failing(monkeypatch)
    order = draws(storage, tmp_path, failing)  # then its second architecture fails once, in a fresh study
    failing.aid, failing.fails = order[1], 1
    first = run(storage, tmp_path)
    assert first.trials == {"complete": 2, "fail": 1} and first.unmet is not None and failing.seen == order[:3]
    failing.seen.clear()
    again = run(storage, tmp_path)  # the same command
    assert failing.seen == [order[1]] and again.unmet is None  # only the failed architecture, scored
    study = study_of(storage, "r")
    retry = study.trials[-1]
    assert retry.state == TrialState.COMPLETE and retry.user_attrs[RETRY_ATTR] == 1 and retry.user_attrs["arch_id"] == order[1]
    assert again.trials == {"complete": 3, "fail": 1} and again.retried == [1]
    failing.seen.clear()
    assert run(storage, tmp_path).unmet is None and failing.seen == []  # and again: nothing


def test_a_retry_that_fails_too_is_not_retried_a_third_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage, failing = tmp_path / "journal.log", Failing(monkeypatch)
    order = draws(storage, tmp_path, failing)
    failing.aid, failing.fails = order[0], 2  # fails on its first try and on its retry
    assert run(storage, tmp_path).trials == {"complete": 2, "fail": 1}
    failing.seen.clear()
    again = run(storage, tmp_path)  # the retry fails; the worker draws a fresh candidate in its place
    assert failing.seen == [order[0], order[3]] and again.retried == [0] and again.unmet is None
    failing.seen.clear()
    more = run(storage, tmp_path, 4)  # a larger budget: a fresh candidate, never the architecture that failed twice
    assert failing.seen == [order[4]] and more.retried == [] and more.unmet is None
    study = study_of(storage, "r")
    assert [t.user_attrs["arch_id"] for t in study.trials if t.state == TrialState.FAIL] == [order[0], order[0]]
    assert retry_failed(study) == []  # asked directly: nothing to queue


def test_what_is_not_retried(tmp_path: Path) -> None:
    # a trial with no architecture (beyond the budget, stopped before sampling), a candidate that cannot be built
    # for these images, one whose worker died on every try, one already scored by another trial, one already queued
    study = optuna.create_study(storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "j"))))
    dist = optuna.distributions.IntDistribution(1, 9)

    def failed(depth: int, **attrs: Any) -> None:
        study.add_trial(
            optuna.trial.create_trial(state=TrialState.FAIL, params={"depth": depth}, distributions={"depth": dist}, user_attrs=attrs)
        )

    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={"beyond_budget": True}))
    failed(1, arch_id="a1", fail_reason="unbuildable architecture: pools 6 times")
    failed(2, arch_id="a2", fail_reason="worker h:1 died during the trial; not retried after 2 retries")
    failed(3, arch_id="a3", fail_reason="RuntimeError: x")
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.COMPLETE, value=0.5, params={"depth": 3}, distributions={"depth": dist}, user_attrs={"arch_id": "a3"}
        )
    )
    failed(4, arch_id="a4", fail_reason="RuntimeError: y")
    study.enqueue_trial({"depth": 4}, user_attrs={"arch_id": "a4", "retry_of": 5})
    failed(5, arch_id="a5", fail_reason="RuntimeError: z")
    failed(5, arch_id="a5", fail_reason="RuntimeError: z", rung=1)  # a ladder's climber: the ladder retries its own
    assert retry_failed(study) == [7]
    (queued,) = [t for t in study.trials if t.state == TrialState.WAITING and t.user_attrs.get("arch_id") == "a5"]
    assert queued.user_attrs[RETRY_ATTR] == 7 and queued.user_attrs["retry_of"] == 7 and queued.system_attrs["fixed_params"] == {"depth": 5}
    assert retry_failed(study) == []  # asked twice (a search, then its worker): queued once
