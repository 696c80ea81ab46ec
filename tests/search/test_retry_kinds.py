"""Only a failure that may pass the next time is retried (stop 56): a trial records why it failed (``fail_kind``),
and a diverged training (the retry trains with the same seed) or a candidate out of the device's memory is not
trained again, where an error of another kind is, once; a study of an earlier version, whose trials record no kind,
is retried as before. The failures are raised by the scoring (the event) on a training-free proxy: milliseconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
from optuna.trial import TrialState

from nas_proxy.errors import DivergedError
from nas_proxy.files import DiskFullError
from nas_proxy.search import SearchConfig, search
from nas_proxy.search.retry import FAIL_KIND_ATTR, kind_of, retry_failed
from nas_proxy.search.target import SearchProxy
from nas_proxy.studies.storage import open_storage


def config() -> SearchConfig:
    return SearchConfig(
        synthetic=None, space="convnet-small", dataset="digits", proxy_name="params", sampler="bruteforce", pruner="none", device="cpu"
    )


def failing_first(monkeypatch: pytest.MonkeyPatch, error: Exception) -> list[str]:
    """SearchProxy.score raising ``error`` for the first architecture it is asked, every time; the architectures asked."""
    real, seen = SearchProxy.score, list[str]()

    def score(self: SearchProxy, spec: dict[str, Any], arch_id: str, report: Any = None) -> Any:
        seen.append(arch_id)
        if arch_id == seen[0]:
            raise error
        return real(self, spec, arch_id, report)

    monkeypatch.setattr(SearchProxy, "score", score)
    return seen


def twice(tmp_path: Path) -> tuple[Any, Any, optuna.Study]:
    storage = tmp_path / "journal.log"
    first = search(config(), "k", 3, str(storage), out=tmp_path / "out", progress=False)
    again = search(config(), "k", 3, str(storage), out=tmp_path / "out", progress=False)  # the same command
    return first, again, optuna.load_study(study_name="k", storage=open_storage(str(storage), "k")[0])


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (DivergedError("the loss became NaN at epoch 3"), "diverged"),
        (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB"), "out_of_memory"),
    ],
)
def test_a_failure_that_would_repeat_is_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, kind: str) -> None:
    seen = failing_first(monkeypatch, error)
    first, again, study = twice(tmp_path)
    assert first.trials == {"complete": 2, "fail": 1} and again.retried == [] and again.unmet is None
    assert seen.count(seen[0]) == 1 and len(set(seen)) == 4  # the second command drew a fresh candidate, never the failed one
    (failed,) = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed.user_attrs[FAIL_KIND_ATTR] == kind


def test_an_error_of_another_kind_is_retried_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = failing_first(monkeypatch, OSError(5, "Input/output error"))
    first, again, study = twice(tmp_path)
    assert first.trials == {"complete": 2, "fail": 1} and again.retried == [0] and seen.count(seen[0]) == 2
    assert [t.user_attrs[FAIL_KIND_ATTR] for t in study.trials if t.state == TrialState.FAIL] == ["error", "error"]


def test_a_study_without_kinds_retries_as_before_and_by_kind_where_recorded(tmp_path: Path) -> None:
    study = optuna.create_study(storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "j"))))
    dist = optuna.distributions.IntDistribution(0, 9)
    for depth, attrs in enumerate(
        [
            {"fail_reason": "the loss became NaN at epoch 3"},  # an earlier version's: no kind, retried as before
            {"fail_reason": "the loss became NaN at epoch 3", FAIL_KIND_ATTR: "diverged"},
            {"fail_reason": "out of memory (80 GiB asked)", FAIL_KIND_ATTR: "out_of_memory"},
            {"fail_reason": "RuntimeError: x", FAIL_KIND_ATTR: "error"},
            {"fail_reason": "worker h:1 died during the trial"},  # killed: retried
        ]
    ):
        study.add_trial(
            optuna.trial.create_trial(
                state=TrialState.FAIL, params={"depth": depth}, distributions={"depth": dist}, user_attrs={"arch_id": f"a{depth}", **attrs}
            )
        )
    assert retry_failed(study) == [0, 3, 4]


def test_kind_of() -> None:
    assert kind_of(DivergedError("nan")) == "diverged"
    assert kind_of(DiskFullError(Path("x"), None, None)) == "disk_full"
    assert kind_of(torch.cuda.OutOfMemoryError("CUDA out of memory")) == "out_of_memory"
    assert kind_of(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 bytes")) in (
        "out_of_memory",
        "memory_limit",
    )
    assert kind_of(ValueError("x")) == "error"


@pytest.mark.parametrize(
    ("held", "kind"),
    [
        ("Process 7 has 60.00 GiB memory in use. Including non-PyTorch memory, this process has 10.00 GiB", "gpu_shared"),  # fits alone
        ("Including non-PyTorch memory, this process has 78.00 GiB", "out_of_memory"),  # this process alone: too large for it
    ],
)
def test_out_of_gpu_memory_that_other_processes_held_may_pass_the_next_time(held: str, kind: str) -> None:
    text = f"CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.15 GiB of which 5.00 MiB is free. {held}"
    assert kind_of(torch.cuda.OutOfMemoryError(f"{text} memory in use.")) == kind
