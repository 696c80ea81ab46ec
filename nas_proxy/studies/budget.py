"""A study's trial budget, shared by every worker on every machine.

Complete and pruned trials count; failed ones are retried, not counted. Trial numbers are handed
out atomically by the storage, so two workers racing for the last slot cannot both get it.

A retry (the queued copy of a dead, interrupted or failed trial, ``retry_of``) whose candidate another
trial scored meanwhile, or was training, takes that trial's score and is marked :data:`UNCOUNTED_ATTR`:
it holds no slot, and the budget draws a fresh candidate in its place (before stop 45 it held one, and a
search whose killed trial's candidate another worker drew again ended with one distinct candidate
fewer). A sampler's own proposal of a scored candidate still counts (``benchmarks/RESULTS.md`` §18:
the sampler learns from it). The mark is on the trial, so every worker agrees.
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from nas_proxy.studies.liveness import is_dead

BUDGET_ATTR = "nasproxy_budget"  # the latest --n-trials of `search`: what a `worker` without --n-trials aims for
LIVE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)
UNCOUNTED_ATTR = "uncounted"  # a retry answered by another trial's score: it holds no slot of the budget (that trial's number)


def uncounted(t: optuna.trial.FrozenTrial) -> bool:
    """Whether ``t`` is a retry answered by another trial's score (:data:`UNCOUNTED_ATTR`): it holds no slot."""
    return UNCOUNTED_ATTR in t.user_attrs


def counted(study: optuna.Study) -> int:
    """Trials that use up the budget: complete and pruned (failed ones are retried, not counted)."""
    return sum(not uncounted(t) for t in study.get_trials(deepcopy=False, states=COUNTED))


def over_budget(study: optuna.Study, number: int, total: int) -> bool:
    """Whether trial ``number`` is beyond the budget: ``total`` live trials were created before it.

    A RUNNING trial whose worker is known to be dead does not count, nor one stopped by Ctrl-C
    (``interrupted``) whose copy was queued before Optuna marks it failed: the copy takes its place;
    nor a retry answered by another trial's score (:func:`uncounted`).
    """
    earlier = [t for t in study.get_trials(deepcopy=False, states=LIVE) if t.number < number and _holds_a_slot(t, study)]
    return len(earlier) >= total


def _holds_a_slot(t: optuna.trial.FrozenTrial, study: optuna.Study) -> bool:
    if uncounted(t):
        return False
    dead = is_dead(t, storage=study._storage)  # (Optuna has no public accessor)
    return not (t.state == TrialState.RUNNING and (dead or t.user_attrs.get("interrupted")))


def budget_held(study: optuna.Study, total: int) -> bool:
    """Whether nothing is queued and other workers' running trials hold the rest of the budget
    (they finish, or are found dead and re-queued; a retry answered by another trial's score holds none)."""
    live = [t for t in study.get_trials(deepcopy=False, states=LIVE) if not t.user_attrs.get("interrupted") and not uncounted(t)]
    return not any(t.state == TrialState.WAITING for t in live) and len(live) >= total


__all__ = ["BUDGET_ATTR", "LIVE", "UNCOUNTED_ATTR", "budget_held", "counted", "over_budget", "uncounted"]
