"""review58: a trial that ran out of its process's memory before its candidate was drawn has nothing to queue
(``Requeued.NOTHING``, fix57), and the study still stops for the memory limit, as it did when ``requeued`` said True
for it: the next trial would meet the same limit. No test held this since fix57 split the outcomes (the guard read
``not in (SPENT, REFUSED)``; with NOTHING added there every test still passed)."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from nas_proxy.errors import MemoryLimitError
from nas_proxy.studies.guarded import Guarded, unmasked


def test_out_of_memory_before_the_draw_stops_the_study_with_nothing_queued() -> None:
    study = optuna.create_study()

    def objective(trial: optuna.Trial) -> float:
        raise MemoryError  # before any suggest_*: no candidate drawn

    guarded = Guarded(objective)
    with unmasked(guarded):
        study.optimize(guarded, n_trials=3, catch=(Exception,))
    with pytest.raises(MemoryLimitError, match=r"^out of memory: "):
        guarded.raise_stop()
    assert [t.state for t in study.trials] == [TrialState.FAIL]  # stopped after the first; nothing waits
