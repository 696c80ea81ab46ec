"""review59: ``--sampler bruteforce`` of a search's study (one that names its mark of a whole draw) says the space is
done as its last candidate ends (Optuna's ``study.stop()`` in ``after_trial``). drill58's rule for draws cut short
(requeue.cut_short) read the trial ending too, which Optuna's ``after_trial`` passes on as a bare copy (its parameters
and state, no attributes): taken for a draw cut short, its candidate counted as untried, and a study of 4 candidates
run with ``optimize`` drew a 5th trial, a repeat, before it stopped (4 before drill58)."""

from __future__ import annotations

import optuna

from nas_proxy.search.config import SAMPLERS
from nas_proxy.studies.requeue import DRAWN_MARK


def test_bruteforce_stops_as_the_last_candidate_of_the_space_ends() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=SAMPLERS.get("bruteforce")(0, 1))
    study.set_user_attr(DRAWN_MARK, "arch_id")  # as a search marks its study (search.study.create_or_check)

    def objective(trial: optuna.Trial) -> float:
        drawn = (trial.suggest_categorical("depth", [1, 2]), trial.suggest_categorical("width", [32, 64]))
        trial.set_user_attr("arch_id", f"{drawn}")  # the draw whole
        return 0.0

    study.optimize(objective, n_trials=20)
    assert sorted(t.user_attrs["arch_id"] for t in study.trials) == sorted(f"{(d, w)}" for d in (1, 2) for w in (32, 64))
