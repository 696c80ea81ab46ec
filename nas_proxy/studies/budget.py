"""A study's trial budget, shared by every worker on every machine.

Complete and pruned trials count; failed ones are retried, not counted. Trial numbers are handed
out atomically by the storage, so two workers racing for the last slot cannot both get it.
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from nas_proxy.studies.trials import is_dead

BUDGET_ATTR = "nasproxy_budget"  # the latest --n-trials of `search`: what a `worker` without --n-trials aims for
LIVE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)


def counted(study: optuna.Study) -> int:
    """Trials that use up the budget: complete and pruned (failed ones are retried, not counted)."""
    return len(study.get_trials(deepcopy=False, states=COUNTED))


def over_budget(study: optuna.Study, number: int, total: int) -> bool:
    """Whether trial ``number`` is beyond the budget: ``total`` live trials were created before it.

    A RUNNING trial whose worker is known to be dead does not count, nor one stopped by Ctrl-C
    (``interrupted``) whose copy was queued before Optuna marks it failed: the copy takes its place.
    """
    earlier = [t for t in study.get_trials(deepcopy=False, states=LIVE) if t.number < number and _holds_a_slot(t, study)]
    return len(earlier) >= total


def _holds_a_slot(t: optuna.trial.FrozenTrial, study: optuna.Study) -> bool:
    dead = is_dead(t, storage=study._storage)  # (Optuna has no public accessor)
    return not (t.state == TrialState.RUNNING and (dead or t.user_attrs.get("interrupted")))


def budget_held(study: optuna.Study, total: int) -> bool:
    """Whether nothing is queued and other workers' running trials hold the rest of the budget
    (they finish, or are found dead and re-queued)."""
    live = [t for t in study.get_trials(deepcopy=False, states=LIVE) if not t.user_attrs.get("interrupted")]
    return not any(t.state == TrialState.WAITING for t in live) and len(live) >= total


__all__ = ["BUDGET_ATTR", "LIVE", "budget_held", "counted", "over_budget"]
