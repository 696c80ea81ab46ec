"""review60: a search's unmet-budget line counts the failures of its own worker processes (``--workers 2``) as this
command's (fix59's ``runner._processes``: this process and its workers, as their trials name them). No test broke when
the workers were left out of that list: their failures were then said as "more by other commands meanwhile". The
worker process is forked warm (tests/warm.py) and fails its trials as this process does, through a sitecustomize on its
PYTHONPATH (run by a forked process as by a cold one), given to the worker alone."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from nas_proxy.search import SearchConfig, search
from nas_proxy.search.target import SearchProxy
from nas_proxy.studies.storage import open_storage
from tests import warm
from tests.search.test_unmet_counts import again_free

FAILING = (
    "from nas_proxy.search.target import SearchProxy\n\n\n"
    "def score(self, spec, arch_id, report=None):\n"
    "    raise RuntimeError('injected failure')\n\n\n"
    "SearchProxy.score = score\n"
)


def test_the_failures_of_this_commands_worker_processes_are_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nas_proxy.studies import workers

    def score(self: SearchProxy, spec: dict[str, Any], arch_id: str, report: Any = None) -> Any:
        raise RuntimeError("injected failure")

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(FAILING)
    root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (str(site), root, os.environ.get("PYTHONPATH", "")) if p)
    monkeypatch.setattr(SearchProxy, "score", score)
    started: list[int] = []

    def popen(*args: Any, **kwargs: Any) -> Any:  # the worker's environment alone (not the warm server's, if it starts now)
        proc = warm.Popen(*args, env={**os.environ, "PYTHONPATH": path}, **kwargs)
        started.append(proc.pid)
        return proc

    monkeypatch.setattr(workers, "subprocess", SimpleNamespace(Popen=popen))
    config = SearchConfig(
        synthetic=None, space="convnet-small", dataset="digits", proxy_name="params", sampler="random", pruner="none", device="cpu"
    )
    storage = str(tmp_path / "journal.log")
    result = search(config, "u", 2, storage, workers=2, out=tmp_path / "out", progress=False)
    study = optuna.load_study(study_name="u", storage=open_storage(storage, "u").backend)
    failed = [t for t in study.get_trials(states=(TrialState.FAIL,)) if not t.user_attrs.get("beyond_budget")]
    assert len(started) == 1 and started[0] in {t.user_attrs.get("worker_pid") for t in failed}, started  # the worker failed some
    assert result.unmet is not None and again_free(result.unmet) == (
        f"the budget of 2 trials was not met: 0 count ({len(failed)} trials failed (each worker starts at most --n-trials trials))"
    )
