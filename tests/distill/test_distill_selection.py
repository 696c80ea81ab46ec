"""Selection by ranking (``distill --select-by``): the best-ranking set is kept, scored on the
validation split with the proxy protocol, and a killed run resumes without scoring anything twice."""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
import subprocess
import time
import types
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from nas_proxy.calibrate.selection import CalibrationRanker, ranker
from nas_proxy.data import load_dataset
from nas_proxy.distill import distill
from nas_proxy.distill.selection import SELECTED, STATE, Ranker, Ranking, SelectionRepairedWarning
from nas_proxy.errors import InvalidArgumentError
from nas_proxy.spaces import arch_id, get_space
from nas_proxy.synthetic import load_synthetic
from nas_proxy.trainers.synthetic_set import ProxyConfig, ProxyContext
from tests import warm
from tests.conftest import tiny_config
from tests.distill.test_distill_spaces import ROOT, images, nasproxy
from tests.gate import Gate

# Calibration architectures of convnet-cpu with a ground truth (an input here: any fixed numbers do)
CALIBRATION = [
    ({"depth": 1, "width": 16, "activation": "relu", "normalization": "none", "pooling": "avgpooling"}, 81.0),
    ({"depth": 2, "width": 16, "activation": "sigmoid", "normalization": "batchnorm", "pooling": "maxpooling"}, 70.5),
    ({"depth": 2, "width": 32, "activation": "leakyrelu", "normalization": "instancenorm", "pooling": "avgpooling"}, 88.0),
    ({"depth": 3, "width": 64, "activation": "relu", "normalization": "batchnorm", "pooling": "maxpooling"}, 91.5),
    ({"depth": 1, "width": 32, "activation": "sigmoid", "normalization": "none", "pooling": "maxpooling"}, 60.0),
]


@pytest.fixture
def calibration(tmp_path: Path) -> Path:
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps([{"spec": {"family": "convnet", **s}, "accuracy": a} for s, a in CALIBRATION]))
    return path


def select_config(calibration: Path, **overrides: Any) -> Any:
    base: dict[str, Any] = dict(select_by=str(calibration), select_space="convnet-cpu", select_every=3, select_epochs=1, iterations=8)
    return tiny_config(**{**base, **overrides})


class Scripted(Ranker):
    """A ranker whose Spearman is a fixed function of the set (deterministic, as the real one is),
    counting its calls."""

    def __init__(self, value: Any = None) -> None:
        self.calls: list[float] = []
        self.value = value or (lambda x: float(torch.sin(100 * x.double().mean())))

    def start(self, val_x: Tensor, val_y: Tensor, flip: bool, num_classes: int, device: torch.device) -> None:
        pass

    def calibration(self) -> list[str]:
        return ["aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"]

    def rank(self, images: Tensor, labels: Tensor) -> Ranking:
        value = self.value(images)
        self.calls.append(value)
        return Ranking(value, {})

    def describe(self) -> dict[str, Any]:
        return {"calibration": self.calibration()}


def test_the_best_ranking_iteration_is_kept_and_recorded(calibration: Path, tmp_path: Path) -> None:
    scripted = Scripted()
    result = distill(select_config(calibration), tmp_path / "run", progress=False, ranker=scripted)
    selection = result.meta["selection"]
    assert [s["iteration"] for s in selection["scored"]] == [0, 3, 6, 8]  # iteration 0, every 3, the last
    values = [s["spearman"] for s in selection["scored"]]
    assert values == scripted.calls and len(scripted.calls) == 4
    best = max(range(4), key=lambda i: values[i])
    assert selection["chosen_iteration"] == [0, 3, 6, 8][best] and selection["chosen_spearman"] == values[best]
    assert selection["calibration"] == scripted.calibration() and selection["seconds"] >= 0
    kept = distill(tiny_config(iterations=selection["chosen_iteration"]), tmp_path / "plain", progress=False)
    assert torch.equal(images(result.path), images(kept.path))  # the artifact is that iteration's set


def test_the_runs_seconds_count_every_score_the_first_included(calibration: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """meta.json's seconds (the cost the ablation reports) hold the score of iteration 0 too, which
    runs before the loop. The run's clock is one that only the ranker's first call moves, by 1,000 s:
    without it, the run's seconds stay under 1,000 whatever the machine's load."""
    clock = [0.0]
    fake = types.SimpleNamespace(**{**{k: getattr(time, k) for k in dir(time) if not k.startswith("_")}, "perf_counter": lambda: clock[0]})
    monkeypatch.setattr(importlib.import_module("nas_proxy.distill.runner"), "time", fake)
    monkeypatch.setattr(importlib.import_module("nas_proxy.distill.selection"), "time", fake)

    def slow_first(x: Tensor) -> float:
        if clock[0] == 0.0:
            clock[0] = 1000.0
        return float(torch.sin(100 * x.double().mean()))

    result = distill(select_config(calibration), tmp_path / "run", progress=False, ranker=Scripted(slow_first))
    assert result.meta["selection"]["scored"][0]["seconds"] == 1000.0
    assert result.meta["seconds"] == 1000.0


def test_the_artifact_is_the_best_set_even_when_it_is_the_first(calibration: Path, tmp_path: Path) -> None:
    result = distill(select_config(calibration), tmp_path / "run", progress=False, ranker=Scripted(lambda x: -float(len(x))))  # all tie
    assert result.meta["selection"]["chosen_iteration"] == 0  # the earliest of equals: the initial random subset
    subset = distill(tiny_config(method="random"), tmp_path / "r", progress=False)
    assert torch.equal(images(result.path), images(subset.path))
    assert result.meta["iterations_done"] == 8  # the run itself went on to the end (its checkpoint holds the last)


def test_a_killed_selection_run_resumes_without_scoring_again(calibration: Path, tmp_path: Path) -> None:
    whole = distill(select_config(calibration), tmp_path / "whole", progress=False, ranker=Scripted())
    first = Scripted()

    def die_at_5(done: int, losses: dict[str, float]) -> None:
        if done == 5:
            raise SystemExit("killed")

    with pytest.raises(SystemExit):
        distill(select_config(calibration, log_every=1), tmp_path / "cut", progress=False, callback=die_at_5, ranker=first)
    assert len(first.calls) == 2  # iterations 0 and 3
    second = Scripted()
    resumed = distill(select_config(calibration, log_every=1), tmp_path / "cut", resume=True, progress=False, ranker=second)
    assert len(second.calls) == 2  # 6 and 8 only
    assert resumed.meta["selection"]["scored"] == [
        {**s, "seconds": resumed.meta["selection"]["scored"][i]["seconds"]} for i, s in enumerate(whole.meta["selection"]["scored"])
    ]
    assert torch.equal(images(resumed.path), images(whole.path))


def cut_at_5(calibration: Path, out: Path) -> Any:
    """A run of 8 iterations scored every 3, killed at iteration 5 (its checkpoint at 3, sets 0 and 3 scored): its config."""
    config = select_config(calibration, log_every=1)

    def die_at_5(done: int, losses: dict[str, float]) -> None:
        if done == 5:
            raise SystemExit("killed")

    with pytest.raises(SystemExit):
        distill(config, out, progress=False, callback=die_at_5, ranker=Scripted())
    return config


@pytest.mark.parametrize("torn", [STATE, SELECTED])
def test_a_torn_selection_file_is_rebuilt_from_what_is_whole_keeping_the_distillation(calibration: Path, tmp_path: Path, torn: str) -> None:
    """Before, the same command stopped on a torn selection.json or selected.safetensors asking for
    --force, which distils the set again. Now the distillation goes on from its checkpoint (iteration
    3): a torn list is rebuilt by scoring the kept set again; a torn kept set drops the scores whose
    sets are gone and scores the checkpoint's. Either way, one warning line says so."""
    config = cut_at_5(calibration, tmp_path / "cut")
    path = tmp_path / "cut" / torn
    path.write_bytes(path.read_bytes()[:40])
    kept = Scripted()
    with pytest.warns(
        SelectionRepairedWarning, match=rf"{torn} (is unreadable|is missing or unreadable|holds).*; the distillation is kept"
    ):
        resumed = distill(config, tmp_path / "cut", progress=False, ranker=kept)
    scored = [s["iteration"] for s in resumed.meta["selection"]["scored"]]
    if torn == STATE:  # the kept set (the best of 0 and 3) scored again, the checkpoint's (3) if not it, then 6 and 8
        whole = distill(select_config(calibration), tmp_path / "whole", progress=False, ranker=Scripted())
        early = max((s for s in whole.meta["selection"]["scored"] if s["iteration"] <= 3), key=lambda s: s["spearman"])["iteration"]
        assert sorted(scored) == sorted({early, 3, 6, 8}) and len(kept.calls) == len(scored)
        assert torch.equal(images(resumed.path), images(whole.path))  # the same choice as a whole run
    else:  # 0 and 3 lost their sets: the checkpoint's (3) is scored again, then 6 and 8
        assert len(kept.calls) == 3 and scored == [3, 6, 8]
        assert resumed.meta["selection"]["chosen_iteration"] in (3, 6, 8)
    assert resumed.meta["iterations_done"] == 8


def test_a_kept_set_whose_bytes_changed_is_not_taken_as_the_chosen_one(calibration: Path, tmp_path: Path) -> None:
    """selected.safetensors, the best set so far, is the twin of checkpoint.safetensors: before review48 16 bytes of its
    pixels overwritten (size kept, so the header still accounted for it) were taken as the kept set without a word, and
    a run whose best stayed that iteration ended with those pixels as its distilled set. Now its sha256 no longer
    matches: it is called unreadable, its scores dropped and the checkpoint's set scored again, as a torn one is."""
    config = cut_at_5(calibration, tmp_path / "cut")
    path = tmp_path / "cut" / SELECTED
    raw = bytearray(path.read_bytes())
    raw[-16:] = bytes(16)  # the last pixels' bytes: the header, and so the file's size, untouched
    path.write_bytes(bytes(raw))
    kept = Scripted()
    with pytest.warns(SelectionRepairedWarning, match=rf"{SELECTED} is missing or unreadable; .*the distillation is kept"):
        resumed = distill(config, tmp_path / "cut", progress=False, ranker=kept)
    assert [s["iteration"] for s in resumed.meta["selection"]["scored"]] == [3, 6, 8] and len(kept.calls) == 3


def test_the_calibration_ranker_trains_the_proxy_and_scores_on_the_validation_split(calibration: Path, tmp_path: Path) -> None:
    config = select_config(calibration, iterations=2, select_every=2)
    result = distill(config, tmp_path / "run", progress=False, ranker=ranker(config))
    selection = result.meta["selection"]
    ids = [arch_id({"family": "convnet", **s}) for s, _ in CALIBRATION]
    assert selection["calibration"] == ids and selection["protocol"]["epochs"] == 1 and selection["scored_on"] == "validation split"
    state = json.loads((tmp_path / "run" / STATE).read_text())
    chosen = next(s for s in state["scored"] if s["iteration"] == selection["chosen_iteration"])
    # the kept set, trained and scored again by the search's own proxy trial on the validation split
    splits = load_dataset("digits").split(0, 0.1)
    syn = load_synthetic(result.path)
    context = ProxyContext(syn, splits.val_x, splits.val_y, False, torch.device("cpu"), ProxyConfig(epochs=1))
    space = get_space("convnet-cpu")
    again = {aid: context.score(space, {"family": "convnet", **s}, 0).accuracy for aid, (s, _) in zip(ids, CALIBRATION, strict=True)}
    assert again == pytest.approx(chosen["scores"], abs=1e-9)
    rho = chosen["spearman"]
    assert rho is None or -1 <= rho <= 1
    if rho is not None:
        from scipy import stats

        assert rho == pytest.approx(stats.spearmanr([again[a] for a in ids], [a for _, a in CALIBRATION]).statistic)


def test_the_flops_cap_and_the_subset_choose_the_calibration_architectures(calibration: Path) -> None:
    splits = load_dataset("digits").split(0, 0.1)

    def chosen(**overrides: Any) -> CalibrationRanker:
        r = CalibrationRanker(select_config(calibration, **overrides))
        r.start(splits.val_x, splits.val_y, False, 10, torch.device("cpu"))
        return r

    ids = [arch_id({"family": "convnet", **s}) for s, _ in CALIBRATION]
    capped = chosen(select_max_mflops=1.0)
    assert ids[3] in capped.over_cap and ids[3] not in capped.calibration()  # width 64 depth 3: above 1 MFLOP per image
    assert set(capped.calibration()) | set(capped.over_cap) == set(ids)
    subset = chosen(select_archs=3)
    assert len(subset.calibration()) == 3 and subset.calibration() == chosen(select_archs=3).calibration()
    with pytest.raises(InvalidArgumentError, match=r"calibration architectures left .* a rank correlation needs 3"):
        chosen(select_max_mflops=1e-3)
    with pytest.raises(InvalidArgumentError, match="is outside --select-space 'convnet-small'"):
        CalibrationRanker(select_config(calibration, select_space="convnet-small"))


def test_selection_needs_its_ranker_and_a_method_that_optimises(calibration: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="select_by and a ranker go together"):
        distill(select_config(calibration), tmp_path / "a", progress=False)
    with pytest.raises(InvalidArgumentError, match="method 'random' has none"):
        distill(select_config(calibration, method="random"), tmp_path / "b", progress=False, ranker=Scripted())
    from nas_proxy.distill.sharded import distill_sharded

    with pytest.raises(InvalidArgumentError, match="--select-by scores the whole set"):
        distill_sharded(select_config(calibration), tmp_path / "c")


# drill tier: make test kills a distillation mid-run and resumes it (test_distill_spaces); this adds selection's scored list
@pytest.mark.drill
def test_kill_9_drill_of_a_selection_run_resumes_with_the_same_command(calibration: Path, tmp_path: Path, one_thread: None) -> None:
    out = tmp_path / "run"
    flags = ["distill", "--dataset", "digits", "--ipc", "2", "--batch-real", "8", "--iterations", "40", "--device", "cpu", "--quiet"]
    flags += ["--select-by", str(calibration), "--select-space", "convnet-cpu", "--select-every", "10", "--select-epochs", "1"]
    flags += ["--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    gate = Gate(tmp_path / "gate", at="nas_proxy.distill.selection:Selection.score", let_through=1)  # one scoring recorded, the next held
    run = warm.Popen(nasproxy(*flags), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=gate.env(env), cwd=ROOT)
    gate.wait([run], [run.pid])
    assert (out / STATE).exists()
    run.send_signal(signal.SIGKILL)
    run.communicate()
    assert run.returncode == -signal.SIGKILL and not (out / "meta.json").exists()
    before = json.loads((out / STATE).read_text())["scored"]
    resumed = warm.run(nasproxy(*flags, "--resume"), capture_output=True, text=True, env=env, cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert re.search(r"selection: kept iteration \d+ \(Spearman (-?\d\.\d{3}|undefined) on \d+ calibration", resumed.stdout), (
        resumed.stdout
    )  # rounded
    after = json.loads((out / STATE).read_text())["scored"]
    assert after[: len(before)] == before  # what was scored before the kill is kept, seconds and all: not scored again
    assert [s["iteration"] for s in after] == [0, 10, 20, 30, 40]
    config = select_config(calibration, iterations=40, select_every=10, log_every=10, net_width=128)  # the flags above
    whole = distill(config, tmp_path / "whole", progress=False, ranker=ranker(config))
    drop = ("seconds",)
    assert [{k: v for k, v in s.items() if k not in drop} for s in after] == [
        {k: v for k, v in s.items() if k not in drop} for s in json.loads((tmp_path / "whole" / STATE).read_text())["scored"]
    ]
    assert load_synthetic(out).meta["selection"]["chosen_iteration"] == whole.meta["selection"]["chosen_iteration"]
    assert torch.equal(images(out), images(whole.path))


def test_a_score_changed_in_the_list_is_not_taken_but_scored_again(calibration: Path, tmp_path: Path) -> None:
    """selection.json, every score so far, carries the sha256 of its scores: before stop 49 a Spearman edited on disk
    (still valid JSON, still a number) was taken as it was, and made the iteration it names the chosen one. Now the
    list is called unreadable, as a torn one is: the kept set is scored again (the same set, so the same score: the
    choice is a whole run's) and one SelectionRepairedWarning says so."""
    config = cut_at_5(calibration, tmp_path / "cut")
    path = tmp_path / "cut" / STATE
    state = json.loads(path.read_text())
    worst = min(state["scored"], key=lambda s: s["spearman"])
    worst["spearman"] = 1.0  # the set the run did not keep, now the best of all
    path.write_text(json.dumps(state))
    kept = Scripted()
    with pytest.warns(
        SelectionRepairedWarning, match=rf"{STATE} is unreadable \(its scores no longer match the sha256 .*distillation is kept"
    ):
        resumed = distill(config, tmp_path / "cut", progress=False, ranker=kept)
    whole = distill(select_config(calibration), tmp_path / "whole", progress=False, ranker=Scripted())
    assert resumed.meta["selection"]["chosen_iteration"] == whole.meta["selection"]["chosen_iteration"] != worst["iteration"]
    assert torch.equal(images(resumed.path), images(whole.path))


def test_a_list_an_earlier_nasproxy_wrote_without_its_digest_is_read_as_before(calibration: Path, tmp_path: Path) -> None:
    config = cut_at_5(calibration, tmp_path / "cut")
    path = tmp_path / "cut" / STATE
    state = json.loads(path.read_text())
    del state["sha256"]
    path.write_text(json.dumps(state))
    kept = Scripted()
    resumed = distill(config, tmp_path / "cut", progress=False, ranker=kept)
    assert len(kept.calls) == 2 and [s["iteration"] for s in resumed.meta["selection"]["scored"]] == [0, 3, 6, 8]  # 6, 8 only
