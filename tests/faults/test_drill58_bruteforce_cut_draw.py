"""A search's draw cut short by a kill, under ``--sampler bruteforce`` (drill58).

kill -9 of a search on SQLite between its trial's first and second parameter writes, the same command then run under
another host name (``benchmarks/kill_drill_heartbeat.py``): the trial, FAILed for its lapsed heartbeat, held
``{'depth': 1}`` alone; Optuna's BruteForceSampler took the subtree ``depth=1`` as tried (a leaf where the trial
stopped), so the 6-architecture space's two ``depth=1`` architectures were never trained and two others were trained
twice (db4 of the drill's 8 episodes; the budget of 6 COMPLETE met). ``requeue.candidate_params`` promises that such a
draw is drawn anew; the sampler must not count it either.
"""

from __future__ import annotations

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import TrialState, create_trial

from nas_proxy.search.config import SAMPLERS
from nas_proxy.studies.requeue import DRAWN_MARK

DEPTHS, WIDTHS = [1, 2], [32, 64]


def drawn_after(before: optuna.trial.FrozenTrial, n: int) -> list[tuple[int, int]]:
    """The candidates a search's bruteforce sampler draws in ``n`` trials of a study that holds ``before``."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=SAMPLERS.get("bruteforce")(0, 1))
    study.set_user_attr(DRAWN_MARK, "arch_id")  # as a search marks its study (search.study.create_or_check)
    study.add_trial(before)
    seen: list[tuple[int, int]] = []

    def objective(trial: optuna.Trial) -> float:
        drawn = (trial.suggest_categorical("depth", DEPTHS), trial.suggest_categorical("width", WIDTHS))
        trial.set_user_attr("arch_id", f"{drawn}")
        seen.append(drawn)
        return 0.0

    study.optimize(objective, n_trials=n)
    return sorted(seen)


def test_a_draw_cut_short_leaves_its_subtree_to_be_drawn() -> None:
    # killed between its two parameters' writes (no arch_id: the draw never whole), then failed for its lapsed heartbeat
    cut = create_trial(state=TrialState.FAIL, params={"depth": 1}, distributions={"depth": CategoricalDistribution(DEPTHS)})
    assert drawn_after(cut, 4) == [(d, w) for d in DEPTHS for w in WIDTHS]


def test_a_whole_draw_that_failed_is_still_tried() -> None:
    """The other side: a trial whose draw was whole (its mark written) counts as tried, failed or not."""
    dists: dict[str, BaseDistribution] = {"depth": CategoricalDistribution(DEPTHS), "width": CategoricalDistribution(WIDTHS)}
    whole = create_trial(state=TrialState.FAIL, params={"depth": 1, "width": 32}, distributions=dists, user_attrs={"arch_id": "x"})
    assert drawn_after(whole, 3) == [(1, 64), (2, 32), (2, 64)]


def test_the_sampler_reads_the_studys_mark_once_a_draw_not_once_a_trial() -> None:
    """Its trials' cut draws are told by the study's mark, read once per parameter drawn (a query on a database), not
    once per trial of the study per parameter (60 reads for this draw of 2 parameters over 30 trials before the fix; on
    a database each read is a query, so a search's draws grew with the square of its trials)."""
    reads = 0

    class Counting(optuna.storages.InMemoryStorage):
        def get_study_user_attrs(self, study_id: int) -> dict[str, object]:
            nonlocal reads
            reads += 1
            return super().get_study_user_attrs(study_id)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=SAMPLERS.get("bruteforce")(0, 1), storage=Counting())
    study.set_user_attr(DRAWN_MARK, "arch_id")
    dists: dict[str, BaseDistribution] = {"depth": CategoricalDistribution(list(range(40))), "width": CategoricalDistribution(WIDTHS)}
    for d in range(30):  # 30 finished trials, each drawn whole
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE, value=0.0, params={"depth": d, "width": 32}, distributions=dists, user_attrs={"arch_id": f"{d}"}
            )
        )
    trial = study.ask()
    before = reads
    trial.suggest_categorical("depth", list(range(40)))
    trial.suggest_categorical("width", WIDTHS)
    assert reads - before <= 4, reads - before  # one a parameter (and Optuna's own), not 30 a parameter
