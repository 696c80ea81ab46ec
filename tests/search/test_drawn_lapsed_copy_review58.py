"""review58: DrawSeeded's count of the candidates drawn before a trial (``drawn``) after a trial whose worker died.

A dead worker's trial is queued again by the repair (``enqueue_once``: its copy's parameters are fixed, so the copy is
no draw), or, on a database, by Optuna's retry of a lapsed heartbeat (``RetryLapsedTrial``): that copy is made with
``create_trial(params=...)`` and the dead trial's user attributes, its whole-draw mark (``arch_id``) among them, and
no ``fixed_params``; so it counts as a draw of its own, and every draw after it is one seed ahead of the one an
uninterrupted search (or the same kill on a journal) makes. fix57 counted the lapsed trial's original (its
``failed_trial``), not the copy apart; fix58 marks Optuna's copy (``requeue.LAPSED_COPY``) and DrawSeeded skips it."""

from __future__ import annotations

import warnings

import optuna
import pytest
from optuna.distributions import BaseDistribution, IntDistribution
from optuna.trial import TrialState

from nas_proxy.search.study import DRAWN_ATTR, DrawSeeded
from nas_proxy.studies.heartbeat import RetryLapsedTrial

X: dict[str, BaseDistribution] = {"x": IntDistribution(0, 9)}


@pytest.mark.parametrize("requeue", ["repair", "lapsed heartbeat"])
def test_a_dead_workers_copy_is_no_draw_of_its_own(requeue: str) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(0))
    for x, state in ((1, TrialState.COMPLETE), (2, TrialState.FAIL)):  # the second's worker died (repaired or lapsed)
        value = 1.0 if state == TrialState.COMPLETE else None
        study.add_trial(optuna.create_trial(state=state, params={"x": x}, distributions=X, value=value, user_attrs={DRAWN_ATTR: f"a{x}"}))
    dead = study.get_trials()[1]
    if requeue == "repair":
        study.enqueue_trial({"x": 2}, user_attrs={DRAWN_ATTR: "a2", "retry_of": dead.number})
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna's experimental and deprecation notes
            RetryLapsedTrial(max_retry=2)(study, dead)
    copy = study.ask(X)
    assert copy.params == {"x": 2}  # the copy trains the dead trial's candidate
    study.tell(copy, 1.0)
    following = study.ask(X)
    # two candidates drawn before it (a1, a2), as an uninterrupted search had: the copy drew nothing
    assert DrawSeeded.drawn(None, study, study.get_trials()[following.number]) == 2  # type: ignore[arg-type]
