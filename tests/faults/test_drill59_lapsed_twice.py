"""drill59: a search's worker killed twice in a row on a database, so the copy Optuna's retry of a lapsed heartbeat
queued (``requeue.LAPSED_COPY``) is itself lapsed and copied again.

fix58 made the first copy no draw of its own (``DrawSeeded.drawn``); the copy of that copy is made by Optuna's
``RetryFailedTrialCallback`` from the first copy's system attributes (``failed_trial`` the original's number, its
``retry_history`` grown by one, the LAPSED_COPY mark carried): it must be no draw either, and it must train the
original's candidate, so that the search draws on the seeds an uninterrupted one draws on. A third lapse is over
``MAX_RETRY`` and queues nothing. The multi-process version: ``benchmarks/kill_drill_heartbeat.py --twice``
(RESULTS §17f)."""

from __future__ import annotations

import warnings

import optuna
from optuna.distributions import BaseDistribution, IntDistribution
from optuna.trial import TrialState

from nas_proxy.search.study import DRAWN_ATTR, DrawSeeded
from nas_proxy.studies.heartbeat import RetryLapsedTrial
from nas_proxy.studies.requeue import LAPSED_COPY, MAX_RETRY

X: dict[str, BaseDistribution] = {"x": IntDistribution(0, 9)}


def lapsed(study: optuna.Study, number: int) -> None:
    """Trial ``number`` failed for a lapsed heartbeat and retried, as Optuna's ``fail_stale_trials`` does."""
    study._storage.set_trial_state_values(study.get_trials()[number]._trial_id, TrialState.FAIL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's experimental and deprecation notes
        RetryLapsedTrial(max_retry=MAX_RETRY)(study, study.get_trials()[number])


def test_a_copy_of_a_lapsed_copy_is_no_draw_and_trains_the_original() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(0))
    study.add_trial(
        optuna.create_trial(state=TrialState.COMPLETE, params={"x": 1}, distributions=X, value=1.0, user_attrs={DRAWN_ATTR: "a1"})
    )
    study.add_trial(optuna.create_trial(state=TrialState.RUNNING, params={"x": 2}, distributions=X, user_attrs={DRAWN_ATTR: "a2"}))
    lapsed(study, 1)  # the worker of trial 1 killed: its copy queued
    first = study.ask(X)
    assert first.params == {"x": 2} and study.get_trials()[first.number].system_attrs.get(LAPSED_COPY)
    lapsed(study, first.number)  # the worker killed again, in the copy: a copy of the copy queued
    second = study.ask(X)
    attrs = study.get_trials()[second.number].system_attrs
    assert second.params == {"x": 2}  # the original's candidate again
    assert attrs.get(LAPSED_COPY) and attrs["failed_trial"] == 1 and attrs["retry_history"] == [1, first.number]
    study.tell(second, 1.0)
    following = study.ask(X)
    # two candidates drawn before it (a1, a2), as an uninterrupted search had: neither copy drew
    assert DrawSeeded.drawn(None, study, study.get_trials()[following.number]) == 2  # type: ignore[arg-type]


def test_a_third_lapse_is_not_queued() -> None:
    """The other side: a candidate whose worker died MAX_RETRY + 1 times (one that kills its worker) is not queued again."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(0))
    study.add_trial(optuna.create_trial(state=TrialState.RUNNING, params={"x": 2}, distributions=X, user_attrs={DRAWN_ATTR: "a2"}))
    number = 0
    for _ in range(MAX_RETRY):
        lapsed(study, number)
        number = study.ask(X).number
    lapsed(study, number)
    assert not study.get_trials(states=(TrialState.WAITING,))
