"""chase56: a search killed -9 while its trial recorded its candidate's parameters one by one (one storage write
each) left a trial with some of them. The repair queued those again as a copy's fixed parameters, and the copy drew
the rest with the next draw's seed: the resumed search trained an architecture the uninterrupted one never drew
(drill56's SQLite episode killed at 33.68 s, 1 of 10). A draw cut short is no draw: not queued, not counted, so the
resumed search draws the same candidate again with the same seed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from nas_proxy.search.config import SAMPLERS
from nas_proxy.search.study import DRAWN_ATTR, DrawSeeded
from nas_proxy.spaces import arch_id, get_space
from nas_proxy.studies.identity import worker_tag
from nas_proxy.studies.repair import fail_dead_trials
from nas_proxy.studies.requeue import mark_drawn
from nas_proxy.studies.storage import open_storage
from tests import warm

SPACE = get_space("convnet-cpu")  # five parameters of two or three choices: a draw is five writes
CHOICES: dict[str, Any] = SPACE.choices  # type: ignore[attr-defined]  # (a declared space's)


def _study(path: Path) -> tuple[optuna.Study, optuna.storages.BaseStorage]:
    storage = open_storage(str(path), "s")[0]
    study = optuna.create_study(study_name="s", storage=storage, sampler=DrawSeeded(SAMPLERS.get("tpe"), 0, 1))
    mark_drawn(study, DRAWN_ATTR)  # as a search's study is (search.study.create_or_check)
    return study, storage


def _run_to(study: optuna.Study, complete: int) -> None:
    """Trials as a search's objective draws them (runner.make_objective: the space's parameters, then arch_id)."""
    while len(study.get_trials(states=(TrialState.COMPLETE,))) < complete:
        trial = study.ask()  # a queued copy first, as study.optimize takes it
        aid = arch_id(SPACE.sample(trial))
        trial.set_user_attr("arch_id", aid)
        study.tell(trial, int(aid[:4], 16) % 100)


def _drawn(study: optuna.Study) -> list[str]:
    return [t.user_attrs["arch_id"] for t in study.get_trials(states=(TrialState.COMPLETE,))]


@pytest.mark.parametrize("recorded", [1, 3])
def test_a_trial_killed_while_recording_its_parameters_is_drawn_again_as_the_uninterrupted_search_draws_it(
    tmp_path: Path, recorded: int
) -> None:
    reference, _ = _study(tmp_path / "ref.log")
    _run_to(reference, 4)
    study, storage = _study(tmp_path / "killed.log")
    _run_to(study, 2)
    trial = study.ask()  # its worker killed after `recorded` of its parameters were stored
    for name, choices in list(CHOICES.items())[:recorded]:
        trial.suggest_categorical(name, choices)
    dead = warm.Popen([sys.executable, "-c", "pass"], stdout=subprocess.DEVNULL)
    dead.wait()  # a process id no longer running: the killed worker's
    trial.set_user_attr("worker_pid", dead.pid)
    assert {**worker_tag(), "worker_pid": dead.pid}.items() <= study.trials[2].user_attrs.items()
    assert fail_dead_trials(study, storage) == [2]
    _run_to(study, 4)
    assert _drawn(study) == _drawn(reference)
    assert len(study.trials) == 5  # the cut draw, failed; nothing queued in its place


def test_a_trial_of_a_study_of_no_kind_killed_while_recording_its_parameters_is_queued_with_them(tmp_path: Path) -> None:
    """A study that names no mark of a whole draw (not a search's: a plain Optuna study here) keeps what it had: its copy is
    queued with the parameters recorded (requeue.candidate_params), as before chase56."""
    storage = open_storage(str(tmp_path / "plain.log"), "p")[0]
    study = optuna.create_study(study_name="p", storage=storage)
    trial = study.ask()
    trial.suggest_categorical("depth", (1, 2, 3))
    dead = warm.Popen([sys.executable, "-c", "pass"], stdout=subprocess.DEVNULL)
    dead.wait()
    trial.set_user_attr("worker_pid", dead.pid)
    for key, value in worker_tag().items():
        if key != "worker_pid":
            trial.set_user_attr(key, value)
    assert fail_dead_trials(study, storage) == [0]
    (copy,) = study.get_trials(states=(TrialState.WAITING,))
    assert copy.system_attrs["fixed_params"] == study.trials[0].params
