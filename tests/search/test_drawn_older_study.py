"""A search study of an earlier version, resumed by this one, draws what that version would have drawn (fix57).

Before chase56 (stop 55's 1951b1a) DrawSeeded counted as a draw every trial with parameters that were not queued; a
trial killed while recording its parameters (a cut draw) was re-queued with those it had (its copy drew the rest) and
counted. Since chase56 a cut draw is no draw: only trials that record the whole-draw mark (``arch_id``) count. A study
in which the earlier version had already re-queued a cut draw then counted one draw fewer when resumed: the next trial
drew the candidate of the seed before (one already scored), and every later draw was one seed behind. A cut draw
whose copy was queued (the earlier version's way) counts, as it did; one not yet repaired is drawn anew with its seed.

The earlier version's sampler is DrawSeeded with 1951b1a's count (:class:`Earlier`): the fixture that makes its study."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from nas_proxy.search.config import SAMPLERS
from nas_proxy.search.study import DRAWN_ATTR, DrawSeeded
from nas_proxy.spaces import arch_id, get_space
from nas_proxy.studies.identity import worker_tag
from nas_proxy.studies.repair import fail_dead_trials
from nas_proxy.studies.requeue import DRAWN_MARK, mark_drawn
from nas_proxy.studies.storage import open_storage
from tests import warm

SPACE = get_space("convnet-cpu")  # five parameters of two or three choices: a draw is five writes
CHOICES: dict[str, Any] = SPACE.choices  # type: ignore[attr-defined]  # (a declared space's)


class Earlier(DrawSeeded):
    """DrawSeeded as 1951b1a counted: every trial with parameters that were not queued."""

    def drawn(self, study: optuna.Study, trial: FrozenTrial) -> int:
        return sum(
            1 for t in study.get_trials(deepcopy=False) if t.number != trial.number and t.params and "fixed_params" not in t.system_attrs
        )


def _open(path: Path, sampler: type[DrawSeeded]) -> tuple[optuna.Study, optuna.storages.BaseStorage]:
    storage = open_storage(str(path), "s")[0]
    study = optuna.create_study(study_name="s", storage=storage, sampler=sampler(SAMPLERS.get("tpe"), 0, 1), load_if_exists=True)
    return study, storage


def _run_to(study: optuna.Study, complete: int) -> None:
    """Trials as a search's objective draws them (runner.make_objective: the space's parameters, then arch_id)."""
    while len(study.get_trials(states=(TrialState.COMPLETE,))) < complete:
        trial = study.ask()  # a queued copy first, as study.optimize takes it
        aid = arch_id(SPACE.sample(trial))
        trial.set_user_attr(DRAWN_ATTR, aid)
        study.tell(trial, int(aid[:4], 16) % 100)


def _cut(study: optuna.Study, recorded: int) -> None:
    """A trial whose worker was killed after ``recorded`` of its parameters were stored."""
    trial = study.ask()
    for name, choices in list(CHOICES.items())[:recorded]:
        trial.suggest_categorical(name, choices)
    dead = warm.Popen([sys.executable, "-c", "pass"], stdout=subprocess.DEVNULL)
    dead.wait()  # a process id no longer running: the killed worker's
    for key, value in {**worker_tag(), "worker_pid": dead.pid}.items():
        trial.set_user_attr(key, value)


def _drawn(study: optuna.Study) -> list[str]:
    """The architectures of the trials drawn whole and not queued, in order."""
    return [t.user_attrs[DRAWN_ATTR] for t in study.get_trials(states=(TrialState.COMPLETE,)) if "fixed_params" not in t.system_attrs]


@pytest.mark.parametrize("recorded", [1, 3])
def test_a_study_whose_cut_draw_the_earlier_version_requeued_draws_on_as_that_version(tmp_path: Path, recorded: int) -> None:
    study, storage = _open(tmp_path / "s.log", Earlier)
    _run_to(study, 2)
    _cut(study, recorded)
    assert fail_dead_trials(study, storage) == [2]  # the earlier version's repair: the cut draw queued with what it had
    assert DRAWN_MARK not in study.user_attrs and study.trials[3].system_attrs["fixed_params"] == study.trials[2].params
    _run_to(study, 4)  # the copy, then one draw more, by the earlier version
    # the reference: the same study copied, resumed by the earlier version
    (tmp_path / "ref.log").write_bytes((tmp_path / "s.log").read_bytes())
    reference, _ = _open(tmp_path / "ref.log", Earlier)
    _run_to(reference, 6)
    resumed, _ = _open(tmp_path / "s.log", DrawSeeded)  # now this version resumes it (search.study.create_or_check marks it)
    mark_drawn(resumed, DRAWN_ATTR)
    _run_to(resumed, 6)
    assert _drawn(resumed) == _drawn(reference)
    assert len(set(_drawn(resumed))) == len(_drawn(resumed))  # (the bug drew the candidate of the seed before again)


def test_a_study_of_the_earlier_version_killed_mid_draw_draws_as_an_uninterrupted_one(tmp_path: Path) -> None:
    """Not yet repaired (the earlier version was killed, this one resumes it): the cut draw is no draw, so the resumed
    study draws what an uninterrupted run draws (chase56's rule, also for a study that was not marked)."""
    reference, _ = _open(tmp_path / "ref.log", Earlier)
    _run_to(reference, 4)
    study, _ = _open(tmp_path / "s.log", Earlier)
    _run_to(study, 2)
    _cut(study, 2)
    resumed, storage = _open(tmp_path / "s.log", DrawSeeded)
    mark_drawn(resumed, DRAWN_ATTR)
    assert fail_dead_trials(resumed, storage) == [2]
    _run_to(resumed, 4)
    assert _drawn(resumed) == _drawn(reference)
