"""``search --ladder``: a fidelity ladder climbed in one study. Every rung trains exactly the planned
candidates, the rungs' scores are scalar trial attributes, a resumed or interrupted search trains
nothing twice, two workers with one killed mid-rung converge to the plan, and best.json is the top
rung's best by validation accuracy."""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from nas_proxy.checks import BatchCappedWarning
from nas_proxy.cli import main
from nas_proxy.errors import OutputConflictError
from nas_proxy.protocols import GroundTruthConfig, training_protocol
from nas_proxy.proxies.early import EarlyStopProxy
from nas_proxy.search import ProxyConfig, SearchConfig, SearchResult, runner, search
from nas_proxy.search import ladder as ladder_module
from nas_proxy.search.ladder import LADDER_ATTR, rung_of
from tests import warm
from tests.gate import FULL_TRAINING, Gate
from tests.search.test_search import FAST, SMALL_SPACE, load

LADDER = "synflow:1.0,early@0.2ep:0.5,full:2"  # free scores on every candidate, 0.2 epochs on half, 1 epoch on two
FULL: dict[str, Any] = {"promote_epochs": 1, "promote_images": 200}  # the full rung's protocol, small for a test


def ladder(spec: str = LADDER, **overrides: Any) -> SearchConfig:
    """A ladder search on digits (FAST: 4 epochs where a rung trains on a set; elsewhere the proxy-training
    options change nothing and are refused)."""
    training = FAST if "random-ipc" in spec else ProxyConfig()
    base: dict[str, Any] = dict(
        synthetic=None, space=SMALL_SPACE, device="cpu", proxy=training, pruner="none", dataset="digits", ladder=spec
    )
    return SearchConfig(**{**base, **overrides})


@pytest.fixture
def trainings(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Every training of the upper rungs, by kind: early stopping (rung 1) and full (rung 2)."""
    return counted_trainings(monkeypatch)


def counted_trainings(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """The trainings of the upper rungs counted from now on (:func:`trainings`)."""
    seen: dict[str, list[str]] = {"early": [], "full": []}
    early, full = EarlyStopProxy._train, ladder_module.train_one

    def early_counted(self: EarlyStopProxy, spec: dict[str, Any]) -> dict[str, Any]:
        seen["early"].append(json.dumps(spec, sort_keys=True))
        return early(self, spec)

    def full_counted(spec: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        seen["full"].append(json.dumps(spec, sort_keys=True))
        return full(spec, *args, **kwargs)

    monkeypatch.setattr(EarlyStopProxy, "_train", early_counted)
    monkeypatch.setattr(ladder_module, "train_one", full_counted)
    return seen


Climbed = tuple[Path, Path, SearchResult, dict[str, list[str]]]  # a climbed study's journal, --out, result, trainings


@pytest.fixture(scope="module")
def climbed(tmp_path_factory: pytest.TempPathFactory) -> Climbed:
    """LADDER climbed by one search of 6 trials (study "l"): its journal, its --out, its result and its trainings;
    read-only (a test that writes copies the journal)."""
    where = tmp_path_factory.mktemp("climbed")
    with pytest.MonkeyPatch.context() as monkeypatch:
        seen = counted_trainings(monkeypatch)
        result = search(ladder(), "l", 6, str(where / "journal.log"), out=where / "out", **FULL)
    return where / "journal.log", where / "out", result, seen


def trained(study: optuna.Study, k: int) -> list[optuna.trial.FrozenTrial]:
    """Rung ``k``'s finished trainings (a duplicate climber is pruned untrained)."""
    return [t for t in study.trials if rung_of(t) == k and t.state == TrialState.COMPLETE and not t.user_attrs.get("duplicate")]


def planned(study: optuna.Study, n: int) -> list[int]:
    """The plan of LADDER on ``n`` candidates: all, half of the distinct ones (rounded up), two."""
    distinct = len({t.user_attrs["arch_id"] for t in trained(study, 0)})
    return [n, math.ceil(distinct / 2), min(2, math.ceil(distinct / 2))]


def test_a_ladder_trains_the_planned_candidates_once_per_rung(climbed: Climbed) -> None:
    storage, _, result, trainings = climbed
    study = load(storage, "l")
    plan = planned(study, 6)
    assert result.unmet is None and [len(trained(study, k)) for k in range(3)] == plan
    assert [r["trained"] for r in result.ladder["rungs"]] == [r["planned"] for r in result.ladder["rungs"]] == plan  # type: ignore[index]
    assert len(trainings["early"]) == plan[1] and len(trainings["full"]) == plan[2]  # no training twice, none lost
    assert len(set(trainings["full"])) == plan[2]
    below = {t.user_attrs["arch_id"]: t.value for t in trained(study, 1)}  # the best of rung 1 climbed
    assert {t.user_attrs["arch_id"] for t in trained(study, 2)} == set(sorted(below, key=lambda a: -float(below[a] or 0))[: plan[2]])
    for k in range(3):
        for t in trained(study, k):
            a = t.user_attrs
            assert a["rung"] == k and a["proxy"] == LADDER.split(",")[k].split(":")[0]
            for j in range(k + 1):  # every rung reached: a scalar score and seconds (the dashboard sorts and plots them)
                assert isinstance(a[f"rung{j}_score"], float) and isinstance(a[f"rung{j}_seconds"], float)
            assert k == 0 or t.value == a[f"rung{k}_score"]
            assert "test_accuracy" not in a  # the test split is never loaded
    assert study.user_attrs[LADDER_ATTR]["ladder"] == LADDER
    from optuna_dashboard import get_note  # here: its import costs each pytest-xdist worker ~0.3 CPU-s (test_pipeline.py)

    assert f"ladder `{LADDER}`" in get_note(study)


def test_best_json_is_the_top_rungs_best_by_validation(climbed: Climbed) -> None:
    storage, out, _, _ = climbed
    top = max(trained(load(storage, "l"), 2), key=lambda t: (float(t.value or 0.0), -t.number))
    best = json.loads((out / "best.json").read_text())
    assert best["best"]["arch_id"] == top.user_attrs["arch_id"] and best["best"]["real_val_accuracy"] == top.value
    assert "validation" in best["chosen_by"]


def test_resume_and_an_interrupted_rung_train_nothing_twice(
    tmp_path: Path, trainings: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = tmp_path / "journal.log"
    counted = ladder_module.train_one

    def interrupted_second(spec: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        if len(trainings["full"]) == 1:  # Ctrl-C in the second full training
            trainings["full"].append("interrupted")
            raise KeyboardInterrupt
        return counted(spec, *args, **kwargs)

    monkeypatch.setattr(ladder_module, "train_one", interrupted_second)
    with pytest.raises(KeyboardInterrupt):
        search(ladder(), "r", 6, str(storage), out=tmp_path / "out", **FULL)
    monkeypatch.setattr(ladder_module, "train_one", counted)
    first = {k: list(v) for k, v in trainings.items()}
    result = search(ladder(), "r", 6, str(storage), out=tmp_path / "out", **FULL)
    study = load(storage, "r")
    assert result.unmet is None and [len(trained(study, k)) for k in range(3)] == planned(study, 6)
    assert trainings["early"] == first["early"]  # rung 1 finished before the interrupt: nothing again
    assert len(trainings["full"]) == len(first["full"]) + 1  # only the interrupted one
    again = list(trainings["full"])
    search(ladder(), "r", 6, str(storage), out=tmp_path / "out", **FULL)
    assert trainings["full"] == again and len(load(storage, "r").trials) == len(study.trials)  # a finished ladder: nothing


class Clock:
    """``time`` for the search modules, its monotonic clock jumped forward on demand (the rest is time's)."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.ahead

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def test_the_timeout_bounds_every_rung_and_the_same_command_continues(
    tmp_path: Path, trainings: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = tmp_path / "journal.log"
    clock = Clock()
    monkeypatch.setattr(runner, "time", clock)
    monkeypatch.setattr(ladder_module, "time", clock)
    counted = EarlyStopProxy._train

    def timeout_passes_in_the_first(self: EarlyStopProxy, spec: dict[str, Any]) -> dict[str, Any]:
        clock.ahead = 1e6  # the --timeout passes during rung 1's first training
        return counted(self, spec)

    monkeypatch.setattr(EarlyStopProxy, "_train", timeout_passes_in_the_first)
    result = search(ladder(), "t", 6, str(storage), out=tmp_path / "out", timeout=1e5, **FULL)
    study = load(storage, "t")
    assert [len(trained(study, k)) for k in range(3)] == [6, 1, 0]  # the one running finished, none started after
    assert len(trainings["early"]) == 1 and not trainings["full"]
    assert result.unmet is not None and result.unmet.startswith("the ladder did not finish (the --timeout passed): rung 1")
    result = search(ladder(), "t", 6, str(storage), out=tmp_path / "out", **FULL)  # the same command, no limit
    study = load(storage, "t")
    assert result.unmet is None and [len(trained(study, k)) for k in range(3)] == planned(study, 6)
    assert len(trainings["early"]) == planned(study, 6)[1] and len(set(trainings["early"])) == len(trainings["early"])  # none twice


def test_the_study_refuses_another_ladder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    storage = tmp_path / "journal.log"
    search(ladder("synflow:1.0,full:1"), "o", 2, str(storage), out=tmp_path, **FULL)
    with pytest.raises(OutputConflictError, match=r"--ladder 'synflow:1.0,full:1' there, 'synflow:1.0,full:2' now"):
        search(ladder("synflow:1.0,full:2"), "o", 2, str(storage), out=tmp_path, **FULL)
    with pytest.raises(OutputConflictError, match=r"n_trials 2 there, 3 now"):
        search(ladder("synflow:1.0,full:1"), "o", 3, str(storage), out=tmp_path, **FULL)
    # the same ladder written otherwise resumes the study (before: refused as another ladder)
    for same in ("synflow,full:1", "synflow:1.00, full:1"):
        search(ladder(same), "o", 2, str(storage), out=tmp_path, **FULL)
    with pytest.raises(OutputConflictError, match=r"full .* there, .*'onecycle'.* now\); .*--promote-protocol"):
        search(ladder("synflow:1.0,full:1"), "o", 2, str(storage), out=tmp_path, promote_protocol="fast", **FULL)
    args = ["search", "--ladder", "naswot:1.0,full:1", "--dataset", "digits", "--space", SMALL_SPACE, "--study", "o"]
    code = main([*args, "--storage", str(storage), "--n-trials", "2", "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "there" in err[0], err


def test_a_rung_the_data_cannot_give_is_refused_before_rung_0_draws_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """fix52f: a ladder whose upper rung asks more images per class than the data's smallest class holds was refused
    (in distill's words) only after rung 0 had drawn its random subset, which stayed (random-ipc1-seed0/, 5 files)."""
    monkeypatch.chdir(tmp_path)
    args = ["search", "--dataset", "digits", "--space", SMALL_SPACE, "--study", "r", "--storage", "r.log", "--ladder"]
    code = main([*args, "random-ipc1,random-ipc1000:1,full:1", "--n-trials", "2", "--epochs", "1", "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "ipc must be between 1 and" in err[0] and "got 1000" in err[0], err
    assert sorted(p.name for p in tmp_path.rglob("*")) == []  # nothing drawn, no study


def test_the_full_rung_trains_with_the_promote_protocol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[GroundTruthConfig] = []
    train_one = ladder_module.train_one

    def recorded(spec: dict[str, Any], seed: int, real: Any, protocol: GroundTruthConfig) -> dict[str, Any]:
        seen.append(protocol)
        return train_one(spec, seed, real, protocol)

    monkeypatch.setattr(ladder_module, "train_one", recorded)
    storage = tmp_path / "journal.log"
    cap = "--promote-protocol fast's batch_size 512 is more than the 200 training images"  # said once (fix62b)
    with pytest.warns(BatchCappedWarning, match=cap):
        search(ladder("synflow:1.0,full:1"), "f", 2, str(storage), out=tmp_path, promote_protocol="fast", **FULL)
    fast = training_protocol("fast", FULL["promote_epochs"], FULL["promote_images"])
    assert len(seen) == 1 and seen[0] == fast  # the one climber of 'full:1', trained with the named protocol
    stored = ladder_module.stored(load(storage, "f"))
    assert stored is not None and stored.full == fast


def test_cli_ladder_from_a_config_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text(f'[search]\nladder = "synflow:1.0,full:1"\ndataset = "digits"\nspace = "{SMALL_SPACE}"\n')
    args = ["search", "--config", "s.toml", "--study", "c", "--n-trials", "2", "--promote-epochs", "1", "--promote-images", "100"]
    assert main([*args, "--device", "cpu", "--quiet", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["trained"] for r in result["ladder"]["rungs"]] == [2, 1]
    assert json.loads((tmp_path / "studies" / "c" / "best.json").read_text())["best"]["arch_id"] == result["ladder"]["rows"][0]["arch_id"]


@pytest.mark.slow  # two processes, a random subset and two full trainings on 2 cores
def test_a_worker_killed_mid_rung_converges_to_the_planned_trainings(tmp_path: Path) -> None:
    """kill -9 of one of two workers while both hold a full-rung training at the gate: the survivor
    fails the dead one's trial and trains its climber; every rung ends with exactly its plan."""
    storage = tmp_path / "journal.log"
    gate = Gate(tmp_path / "gate", at=FULL_TRAINING)  # only the full rung trains with it here
    spec = "synflow:1.0,random-ipc2:0.5,full:2"
    command = [sys.executable, "-m", "nas_proxy", "search", "--ladder", spec, "--dataset", "digits", "--space", SMALL_SPACE]
    command += ["--study", "k", "--storage", str(storage), "--n-trials", "6", "--workers", "2", "--pruner", "none"]
    command += ["--epochs", "4", "--report-every", "2", "--report-images", "200", "--promote-epochs", "1", "--promote-images", "200"]
    run = warm.Popen([*command, "--device", "cpu", "--quiet"], env=gate.env(), text=True, stderr=subprocess.PIPE, cwd=tmp_path)
    held = gate.wait([run], count=2)  # both workers in a full-rung training: RUNNING, their worker recorded
    (child,) = held - {run.pid}
    import os

    os.kill(child, signal.SIGKILL)
    gate.open()
    _, err = run.communicate()
    study = load(storage, "k")
    plan = planned(study, 6)
    assert [len(trained(study, k)) for k in range(3)] == plan, err
    dead = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(dead) == 1 and rung_of(dead[0]) == 2 and "died" in dead[0].user_attrs["fail_reason"]
    assert len({t.user_attrs["arch_id"] for t in trained(study, 2)}) == plan[2]


def test_correlate_on_a_ladder_study_says_what_each_rung_bought(
    climbed: Climbed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = tmp_path / "journal.log"
    shutil.copyfile(climbed[0], storage)  # the climbed study, its journal copied: correlate may write to it
    study = load(storage, "l")
    picks = [trained(study, k)[0] for k in range(3)]  # get_trials order: the best of each rung computed below
    best = [max(trained(study, k), key=lambda t: (float(t.value or 0.0), -t.number)).user_attrs["arch_id"] for k in range(3)]
    command = ["correlate", "--study", "l", "--storage", str(storage), "--proxies", "params", "--no-random-subset", "--n-archs", "2"]
    command += ["--ceiling", "0", "--full-epochs", "1", "--full-images", "200", "--early", "0.5", "--gt-storage", str(tmp_path / "gt.log")]
    assert main([*command, "--bootstrap", "100", "--device", "cpu", "--out", str(tmp_path / "c"), "--quiet", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    rungs = result["facts"]["ladder"]["rungs"]
    assert [r["arch_id"] for r in rungs] == best and len(picks) == 3
    truth = {a["arch_id"]: a["truth"] for a in result["archs"]}
    assert set(best) <= set(truth)  # every rung's pick was given a ground truth, beyond --n-archs
    for r in rungs:
        assert r["regret"] == pytest.approx(max(truth.values()) - truth[r["arch_id"]])
    md = (tmp_path / "c" / "report.md").read_text()
    assert "The study's ladder" in md and f"rung 2 (full, {rungs[2]['trained']} trained) picks {best[2]}" in md


def test_a_worker_joining_a_ladder_study_checks_its_rungs_before_it_trains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """fix53c: a worker joining a ladder study did not re-check the study's rungs (the first search --ladder does, fix52f):
    a rung its data cannot give (here a study whose stored ladder asks random-ipc1000 of digits, as one made before fix52f
    could) was met only once a climber reached it. Now refused in one line before the worker trains or writes anything."""
    monkeypatch.chdir(tmp_path)
    storage = tmp_path / "w.log"
    search(ladder("synflow:1.0,full:1"), "w", 2, str(storage), out=tmp_path / "out", **FULL)
    study = load(storage, "w")
    recorded = dict(study.user_attrs[LADDER_ATTR])
    study.set_user_attr(LADDER_ATTR, {**recorded, "ladder": "synflow:1.0,random-ipc1000:1,full:1"})
    before = storage.read_bytes()
    code = main(["worker", "--study", "w", "--storage", str(storage), "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "ipc must be between 1 and" in err[0] and "got 1000" in err[0], err
    assert storage.read_bytes() == before  # no trial, no record
