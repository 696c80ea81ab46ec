"""A failed architecture's retry whose worker was killed (fix57): the repair queues the retry again, and that copy
carries ``retry_of_failed`` as the retry did (nas_proxy.studies.requeue.CARRIED). Before, it did not: the retry
stayed bounded (the killed retry keeps the mark), but the command that trained it said nothing of it in its closing
line (``retried`` empty), as if it had drawn the architecture afresh.

So was a retry stopped by Ctrl-C, whose copy the stopped command queued: the command that took it up did not count it.
The kill is the state a kill -9 leaves (tests/faults/test_drill56_retry_killed.py kills a real process): the retry
queued and taken, RUNNING under a process that no longer runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas_proxy.cli.search import summary_line
from nas_proxy.search.retry import RETRY_ATTR, retried_since, retry_failed
from nas_proxy.studies.identity import worker_tag
from nas_proxy.studies.requeue import requeued_if_interrupted
from tests import warm
from tests.search.test_retry import Failing, draws, run, study_of


@pytest.mark.parametrize("how", ["killed", "ctrl-c"])
def test_a_retry_killed_or_stopped_and_queued_again_keeps_its_mark_and_is_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    storage, failing = tmp_path / "journal.log", Failing(monkeypatch)
    order = draws(storage, tmp_path, failing)
    failing.aid, failing.fails = order[1], 1
    assert run(storage, tmp_path).trials == {"complete": 2, "fail": 1}  # trial 1 failed
    study = study_of(storage, "r")
    assert retry_failed(study, 3) == [1]  # the next command queued its retry, took it, and was killed
    retry = study.ask()
    if how == "killed":  # as a kill -9 leaves it: RUNNING under a process that no longer runs
        dead = warm.Popen([sys.executable, "-c", "pass"], stdout=subprocess.DEVNULL)
        dead.wait()
        for key, value in {**worker_tag(), "worker_pid": dead.pid}.items():
            retry.set_user_attr(key, value)
    else:  # Ctrl-C: the command that stopped queued it again (requeue.requeued_if_interrupted) and failed it
        with pytest.raises(KeyboardInterrupt), requeued_if_interrupted(retry):
            raise KeyboardInterrupt
        study.tell(retry, state=TrialState.FAIL)
    assert study.trials[retry.number].user_attrs[RETRY_ATTR] == 1
    failing.seen.clear()
    again = run(storage, tmp_path)  # the same command: the retry (a dead one failed and queued again here) scored
    assert failing.seen == [order[1]] and again.unmet is None
    trials = study_of(storage, "r").trials
    copy = trials[-1]
    assert copy.state == TrialState.COMPLETE and copy.user_attrs["arch_id"] == order[1] and copy.user_attrs["retry_of"] == retry.number
    assert copy.user_attrs[RETRY_ATTR] == 1  # carried
    assert again.retried == [1] and "1 architecture that only failed before queued again" in summary_line(again)
    failing.seen.clear()
    more = run(storage, tmp_path, 4)  # a larger budget: a fresh candidate, nothing retried again
    assert failing.seen == [order[3]] and more.retried == []


def test_a_repeat_of_a_retrys_architecture_is_no_retry() -> None:
    """A trial whose sampler proposed an architecture a retry scored is answered from it (search.repeats.answer) with
    its records, but not its retry mark: a later command's proposal is no retry, and is not counted as one."""
    from nas_proxy.search.repeats import answer
    from tests.search.test_retry import config

    study = optuna.create_study()
    dist: dict[str, optuna.distributions.BaseDistribution] = {"depth": optuna.distributions.IntDistribution(0, 9)}
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, params={"depth": 1}, distributions=dist, user_attrs={"arch_id": "a"}))
    scored = {"arch_id": "a", RETRY_ATTR: 0, "retry_of": 0, "params": 10}
    study.add_trial(optuna.trial.create_trial(value=0.5, params={"depth": 1}, distributions=dist, user_attrs=scored))
    proposal = study.ask(dist)
    assert answer(proposal, study.trials[1], config()) == 0.5
    assert RETRY_ATTR not in study.trials[2].user_attrs and retried_since(study, 2) == []
