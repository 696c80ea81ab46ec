"""kill -9 of a search while it retries an architecture that failed (stop 55's ``search/retry.py``; drill56).

A first ``search`` fails its first architecture's scoring (an injected error, in this process: the event), so its study
holds one FAIL trial. The same command then queues that architecture again, first in line; it is killed with SIGKILL
while that retry trains (the event: the process waits at the training gate, tests/gate.py, with the retry RUNNING),
``kills`` times over, then run once more to its end. The architecture must be scored exactly once, by the copy the
retry queued or the one a kill re-queued, never queued as a second retry (each kill -9, no out-of-memory kill meanwhile,
is not counted against it: it is not given up after ``MAX_RETRY`` kills), no architecture scored twice, and the budget
met, not exceeded. benchmarks/kill_drill_retry.py kills the same command at random moments (benchmarks/RESULTS.md §17c).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from nas_proxy.cli import main
from nas_proxy.search.retry import RETRY_ATTR, retry_failed
from nas_proxy.search.target import SearchProxy
from nas_proxy.studies.requeue import MAX_RETRY
from nas_proxy.studies.storage import open_storage
from tests import warm
from tests.gate import Gate
from tests.search.test_search import FAST_ARGS, SMALL_SPACE

pytestmark = pytest.mark.drill


def failing_once(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """SearchProxy.score raises for the first architecture it is given, once; the architectures it failed."""
    real, failed = SearchProxy.score, list[str]()

    def score(self: SearchProxy, spec: dict[str, Any], arch_id: str, report: Any = None) -> Any:
        if not failed:
            failed.append(arch_id)
            raise RuntimeError("injected failure")
        return real(self, spec, arch_id, report)

    monkeypatch.setattr(SearchProxy, "score", score)
    return failed


def load(url: str) -> optuna.Study:
    return optuna.load_study(study_name="r", storage=open_storage(url, "r")[0])


@pytest.mark.parametrize("backend", ["journal", "sqlite"])
def test_a_search_killed_while_it_retries_a_failed_architecture_scores_it_once(
    backend: str, tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = tmp_path / ("journal.log" if backend == "journal" else "s.db")
    url = str(storage) if backend == "journal" else f"sqlite:///{storage}"
    args = ["search", "--synthetic", str(tiny_run), "--space", SMALL_SPACE, "--study", "r", "--storage", url, "--out", str(tmp_path)]
    args += ["--n-trials", "2", "--pruner", "none", "--sampler", "bruteforce", *FAST_ARGS]
    with monkeypatch.context() as patched:
        failed = failing_once(patched)
        assert main(args) == 1  # one failed, one scored: the budget unmet
    (aid,) = failed
    kills = MAX_RETRY + 1  # more than a dead worker's counted retries: a kill -9 must not give the architecture up
    for k in range(kills):
        gate = Gate(tmp_path / f"gate{k}")  # the first training of the command: the architecture's retry (first in line)
        run = warm.Popen([sys.executable, "-m", "nas_proxy", *args], env=gate.env(), text=True, stderr=subprocess.PIPE)
        gate.wait([run], [run.pid])
        (running,) = load(url).get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        assert running.user_attrs["arch_id"] == aid and (k > 0 or running.user_attrs[RETRY_ATTR] == 0)
        os.kill(run.pid, signal.SIGKILL)
        run.communicate()
    assert main(args) == 0  # the same command, to its end
    study = load(url)
    scored = Counter(t.user_attrs["arch_id"] for t in study.get_trials(states=(TrialState.COMPLETE,)))
    assert scored[aid] == 1 and sum(scored.values()) == 2 and max(scored.values()) == 1
    assert [t.number for t in study.trials if t.user_attrs.get("retry_of", -1) == t.user_attrs.get(RETRY_ATTR)] == [2]  # one retry queued
    assert [t.user_attrs.get(RETRY_ATTR) for t in study.trials] == [None, None, *[0] * (kills + 1)]  # its kills' copies keep the mark
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING)) and retry_failed(study, 2) == []
