"""fix58: a search trial whose database heartbeat lapsed after its candidate was drawn whole is queued again by
Optuna's retry (:class:`~nas_proxy.studies.heartbeat.RetryLapsedTrial`): a copy with the trial's parameters and
``arch_id``, not queued by ``enqueue_trial`` (no ``fixed_params``). DrawSeeded counted that copy as a draw besides its
original, so one seed was skipped: the resumed search drew other candidates than an uninterrupted one with the same
seed. A copy queued so is the original's draw, trained again, and counts for nothing; a copy an earlier version queued
(unmarked) still counts, as that version counted it when it drew on."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from nas_proxy.search.config import SAMPLERS
from nas_proxy.search.study import DRAWN_ATTR, DrawSeeded
from nas_proxy.spaces import arch_id, get_space
from nas_proxy.studies import heartbeat
from nas_proxy.studies.heartbeat import BeatingStorage, RetryLapsedTrial
from nas_proxy.studies.repair import fail_dead_trials
from nas_proxy.studies.requeue import LAPSED_COPY, mark_drawn

SPACE = get_space("convnet-cpu")


def _lapsing(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[optuna.Study, BeatingStorage, SimpleNamespace]:
    """A search-like study on a SQLite storage that beats (grace 10 s) and re-queues as a search's does, judged by a
    clock the test moves (``moved.ahead`` seconds: no real time counts)."""
    moved = SimpleNamespace(ahead=0.0)
    moved.monotonic = lambda: 1000.0 + moved.ahead
    monkeypatch.setattr(heartbeat, "time", moved)
    storage = BeatingStorage(
        f"sqlite:///{path}", heartbeat_interval=1, grace_period=10, heartbeat_stale_trial_callback=RetryLapsedTrial(max_retry=2)
    )
    study = optuna.create_study(study_name="s", storage=storage, sampler=DrawSeeded(SAMPLERS.get("random"), 0, 1), load_if_exists=True)
    mark_drawn(study, DRAWN_ATTR)  # as a search's study is (search.study.create_or_check)
    return study, storage, moved


def _draw(study: optuna.Study) -> optuna.Trial:
    """A trial as a search's objective draws it (runner.make_objective: the space's parameters, then arch_id)."""
    trial = study.ask()  # a queued copy first, as study.optimize takes it
    trial.set_user_attr(DRAWN_ATTR, arch_id(SPACE.sample(trial)))
    return trial


def _run_to(study: optuna.Study, complete: int) -> None:
    while len(study.get_trials(states=(TrialState.COMPLETE,))) < complete:
        trial = _draw(study)
        study.tell(trial, 1.0)


def _lapse(study: optuna.Study, storage: BeatingStorage | None, moved: SimpleNamespace | None) -> None:
    """A trial drawn whole whose worker (on another host) is lost: its heartbeat unchanged past the grace period on a
    beating ``storage``; without one, failed and copied as Optuna's fail_stale_trials does (FAIL, then the callback)."""
    trial = _draw(study)
    trial.set_user_attr("worker_host", "another-host")  # its worker elsewhere: judged by its heartbeat alone
    if storage is None or moved is None:
        assert study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        RetryLapsedTrial(max_retry=2)(study, copy.deepcopy(study._storage.get_trial(trial._trial_id)))  # (as Optuna calls it)
    else:
        storage.record_heartbeat(trial._trial_id)
        fail_dead_trials(study, storage)  # first seen
        moved.ahead += 11.0
        fail_dead_trials(study, storage)
    assert study.trials[trial.number].state == TrialState.FAIL


def _drawn(study: optuna.Study) -> list[Any]:
    return [t.user_attrs[DRAWN_ATTR] for t in study.get_trials(states=(TrialState.COMPLETE,))]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
@pytest.mark.parametrize("backend", ["memory", pytest.param("sqlite", marks=pytest.mark.drill)])
def test_a_search_whose_drawn_trial_lapsed_draws_as_an_uninterrupted_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """The copy's own worker is lost too: a copy of the copy (Optuna's ``failed_trial`` the first's), no draw either.
    ``memory``: Optuna's two steps of a lapse by hand (the storage's judgement is tests/studies/test_killed_kind's);
    ``sqlite``: judged by the beating storage (a drill: 3 to 6 s, most of it making the database)."""
    reference = optuna.create_study(sampler=DrawSeeded(SAMPLERS.get("random"), 0, 1))  # uninterrupted
    _run_to(reference, 4)
    if backend == "sqlite":
        study, storage, moved = _lapsing(tmp_path / "s.db", monkeypatch)
    else:
        study, storage, moved = optuna.create_study(sampler=DrawSeeded(SAMPLERS.get("random"), 0, 1)), None, None
        mark_drawn(study, DRAWN_ATTR)
    _run_to(study, 1)
    _lapse(study, storage, moved)
    _lapse(study, storage, moved)  # (it takes the copy first)
    assert [t.system_attrs.get(LAPSED_COPY) for t in study.trials] == [None, None, True, True]
    assert study.trials[3].state == TrialState.WAITING and study.trials[3].params == study.trials[1].params
    _run_to(study, 4)
    assert _drawn(study) == _drawn(reference)


def test_a_copy_an_earlier_version_queued_for_a_lapsed_heartbeat_still_counts(tmp_path: Path) -> None:
    """A study in which an earlier version's retry queued a copy (unmarked) drew on with it counted: so does this one."""
    study = optuna.create_study(sampler=DrawSeeded(SAMPLERS.get("random"), 0, 1))
    mark_drawn(study, DRAWN_ATTR)
    _run_to(study, 2)
    drawn = study.trials[1]
    study.add_trial(
        optuna.create_trial(
            state=TrialState.WAITING,
            params=drawn.params,
            distributions=drawn.distributions,
            user_attrs={DRAWN_ATTR: drawn.user_attrs[DRAWN_ATTR]},
            system_attrs={"failed_trial": 1, "retry_history": [1]},  # Optuna's copy, as that version's retry made it
        )
    )
    _run_to(study, 3)  # the copy trained
    sampler = study.sampler
    assert isinstance(sampler, DrawSeeded)
    assert sampler.drawn(study, study.ask()._cached_frozen_trial) == 3
