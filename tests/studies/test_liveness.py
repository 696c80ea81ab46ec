"""Whether a RUNNING trial's worker lives (nas_proxy.studies.liveness) and the repair of one whose worker died
(nas_proxy.studies.repair), on records as a stepped clock, another program or a hand edit leaves them."""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from nas_proxy.studies import liveness
from nas_proxy.studies.liveness import UNTAGGED_SECONDS
from nas_proxy.studies.repair import fail_dead_trials
from nas_proxy.studies.storage import open_storage


def clock(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The liveness module's ``time``: its monotonic clock, moved forward by ``ahead`` seconds on demand."""
    moved = SimpleNamespace(ahead=0.0)
    moved.monotonic = lambda: time.monotonic() + moved.ahead
    monkeypatch.setattr(liveness, "time", moved, raising=False)  # (raising: the module of before read no monotonic clock)
    return moved


def running(study: optuna.Study, started: datetime.datetime | None = None, **user_attrs: Any) -> int:
    """A RUNNING trial made in ``study`` as a worker made it (its start by that worker's clock); its number."""
    template = create_trial(state=TrialState.RUNNING, user_attrs=user_attrs)
    template.datetime_start = started or datetime.datetime.now()
    trial_id = study._storage.create_new_trial(study._study_id, template)
    return study._storage.get_trial_number_from_id(trial_id)


def test_an_untagged_trial_is_waited_for_on_the_judges_monotonic_clock_not_the_wall_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fix49b: a RUNNING trial that names no worker yet was dead once the judge's wall clock was UNTAGGED_SECONDS past
    the start its worker's wall clock wrote: a judge's clock stepped forward (NTP, a laptop resumed, a VM migrated),
    or a worker's host an hour behind, failed the live trial at once and queued it again while its worker trained it;
    a worker's clock ahead left a dead one waited for until the clocks met. Now it is judged by how long this process
    has seen it so, on its monotonic clock, which never steps and needs no other host's clock."""
    moved = clock(monkeypatch)
    storage = open_storage(str(tmp_path / "journal.log"), "u")[0]
    study = optuna.create_study(study_name="u", storage=storage)
    hour = datetime.timedelta(hours=1)
    behind, ahead = running(study, datetime.datetime.now() - hour), running(study, datetime.datetime.now() + hour)
    assert fail_dead_trials(study, storage) == []  # first seen now: their workers may be about to record themselves
    moved.ahead = UNTAGGED_SECONDS / 2
    assert fail_dead_trials(study, storage) == []
    assert [t.state for t in study.trials] == [TrialState.RUNNING] * 2
    moved.ahead = UNTAGGED_SECONDS
    assert fail_dead_trials(study, storage) == [behind, ahead]  # seen untagged for UNTAGGED_SECONDS: dead, whatever their start
