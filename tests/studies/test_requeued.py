"""``requeue.requeued`` says what it did (fix57): before, it said True also where it queued nothing (a trial stopped
before its candidate was drawn), and its callers could not tell that from a copy queued. Each outcome, and what
:class:`~nas_proxy.studies.guarded.Guarded` does with it when the storage fails a trial's write."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from nas_proxy.studies.guarded import Guarded, LeftRunning
from nas_proxy.studies.requeue import MAX_RETRY, Requeued, requeued

DEPTH = optuna.distributions.IntDistribution(0, 9)


def _waiting(study: optuna.Study) -> list[dict[str, Any]]:
    return [t.system_attrs["fixed_params"] for t in study.get_trials(states=(TrialState.WAITING,))]


def test_each_outcome_is_said() -> None:
    study = optuna.create_study()
    before = study.ask()  # stopped before its candidate was drawn: nothing to queue
    assert requeued(before) is Requeued.NOTHING and not requeued(before) and _waiting(study) == []
    drawn = study.ask({"depth": DEPTH})
    assert requeued(drawn, counted=False) is Requeued.QUEUED and _waiting(study) == [drawn.params]
    assert requeued(drawn, counted=False) is Requeued.WAITING and _waiting(study) == [drawn.params]  # asked twice: one copy
    spent = study.ask()  # takes the copy
    spent.set_user_attr("retries", MAX_RETRY)
    assert requeued(spent) is Requeued.SPENT and not requeued(spent) and _waiting(study) == []
    assert requeued(spent, counted=False) is Requeued.QUEUED  # the database's doing: not counted against it


def test_a_storage_that_takes_no_copy_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    study = optuna.create_study()
    trial = study.ask({"depth": DEPTH})

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise optuna.exceptions.StorageInternalError("disk full")

    monkeypatch.setattr(optuna.Study, "enqueue_trial", refuse)
    assert requeued(trial) is Requeued.REFUSED and not requeued(trial) and _waiting(study) == []


@pytest.mark.parametrize("drawn", [True, False])
@pytest.mark.parametrize("refused", [False, True])
def test_a_failed_storage_write_leaves_running_only_a_trial_whose_copy_was_refused(
    monkeypatch: pytest.MonkeyPatch, drawn: bool, refused: bool
) -> None:
    """A trial whose storage failed a write: its candidate queued (the trial fails), or, with none drawn yet, nothing
    to lose (it fails); only where the storage took no copy of a candidate does it stay RUNNING for the next run to
    repair (before fix57 that was told by requeued's False, which a trial with nothing to queue never got)."""
    study = optuna.create_study()

    def objective(trial: optuna.Trial) -> float:
        if drawn:
            trial.suggest_int("depth", 0, 9)
        if refused:
            monkeypatch.setattr(optuna.Study, "enqueue_trial", refuse)
        raise optuna.exceptions.StorageInternalError("the database went away")

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise optuna.exceptions.StorageInternalError("disk full")

    guarded = Guarded(objective)
    with pytest.raises(LeftRunning if refused and drawn else optuna.exceptions.StorageInternalError):
        study.optimize(guarded, n_trials=1)
    assert guarded.stopped is not None
    assert study.trials[0].state == (TrialState.RUNNING if refused and drawn else TrialState.FAIL)
    assert len(_waiting(study)) == (1 if drawn and not refused else 0)
