"""A search's ``retried`` (the failed trials whose retries it queued or took up; its closing line's "N architectures
that only failed before queued again") counted retries a concurrent command on the same study took and trained as
this command's (fix60; ``search.retry.retried_since`` took every trial numbered from the command's first, and every
one waiting as it began). It counts by the rule the unmet-budget line counts failures by (fix59, ``retry.whose``): a
trial trained by one of this command's processes, or by none yet. The concurrent command's search end to end:
tests/search/test_unmet_concurrent_fix59.py (the same rule, through ``runner._unmet``)."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from nas_proxy.search.retry import BEFORE, OURS, RETRY_ATTR, THEIRS, retried_since, whose
from nas_proxy.studies.identity import START_ATTR

ME: dict[str, Any] = {"worker_host": "h", "worker_pid": 10, START_ATTR: 1.5}
MY_WORKER = {**ME, "worker_pid": 11}
OTHER = {**ME, "worker_pid": 12}  # a concurrent command's worker on the same host


def _study(trials: list[tuple[TrialState, dict[str, Any]]]) -> optuna.Study:
    study = optuna.create_study()
    for state, attrs in trials:
        value = 1.0 if state == TrialState.COMPLETE else None
        study.add_trial(
            create_trial(state=state, value=value, params={"d": 1}, distributions={"d": IntDistribution(0, 9)}, user_attrs=attrs)
        )
    return study


STUDY: list[tuple[TrialState, dict[str, Any]]] = [
    (TrialState.FAIL, {**OTHER, RETRY_ATTR: 7}),  # 0: an earlier command's retry: before this one
    (TrialState.FAIL, {**OTHER, RETRY_ATTR: 8}),  # 1: waiting as this command began (a stopped retry), taken by the other
    (TrialState.FAIL, {**MY_WORKER, RETRY_ATTR: 9}),  # 2: waiting as it began, taken by this command's worker
    (TrialState.COMPLETE, {**MY_WORKER, RETRY_ATTR: 0}),  # 3: this command's (first = 3), trained by its worker
    (TrialState.FAIL, {**OTHER, RETRY_ATTR: 1}),  # 4: queued by this command, taken by the concurrent one
    (TrialState.FAIL, {**ME, RETRY_ATTR: 2}),  # 5: this command's own process
    (TrialState.WAITING, {RETRY_ATTR: 3}),  # 6: queued, not taken yet: names no worker
    (TrialState.COMPLETE, {**MY_WORKER}),  # 7: no retry
]


def test_whose_says_before_ours_and_theirs() -> None:
    study = _study(STUDY)
    got = [whose(t, 3, {1, 2}, [ME, MY_WORKER]) for t in study.get_trials(deepcopy=False)]
    assert got == [BEFORE, THEIRS, OURS, OURS, THEIRS, OURS, OURS, OURS]
    assert [whose(t, 3, {1, 2}, None) for t in study.get_trials(deepcopy=False)][1:] == [OURS] * 7  # processes unknown


def test_retried_counts_this_commands_retries_only() -> None:
    study = _study(STUDY)
    assert retried_since(study, 3, {1, 2}, [ME, MY_WORKER]) == [0, 2, 3, 9]  # before fix60: [0, 1, 2, 3, 8, 9]
    assert retried_since(study, 3, {1, 2}) == [0, 1, 2, 3, 8, 9]  # processes unknown: every one from first or waiting
