"""drill59: ``evaluate`` started twice at once on the same set, model and protocol (two shells).

Each call keeps its finished networks in the set's ``evaluations/KEY.json`` and trains only those not kept; but before
drill59 nothing stopped a second call from reading the file while the first was still training: both trained every
network not yet kept, the same networks twice (the file merged their equal numbers, so nothing showed but the time).
The second is refused in one line now, as a second ``distill``, ``train`` or ``correlate`` on one folder is
(``files.output_lock``): the first's networks stay kept, and the same command run once it is done trains none again.
The cold two-shell version: ``benchmarks/kill_drill_twice.py --only evaluate-kept`` (RESULTS §17f).
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import Any

import pytest

from nas_proxy.cli import main
from nas_proxy.evaluate import EVALUATIONS, evaluate
from nas_proxy.training import TrainConfig
from tests.conftest import copy_of

ev = importlib.import_module("nas_proxy.evaluate")  # the package's name evaluate is the function
KW: dict[str, Any] = dict(runs=2, train=TrainConfig(epochs=1), model="depth=1,width=8", device="cpu", progress=False)


def test_a_second_evaluate_of_the_same_networks_is_refused_while_the_first_trains(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    syn = copy_of(tiny_run, tmp_path / "syn")
    trained: list[tuple[str, int]] = []
    first_training, second_done = threading.Event(), threading.Event()
    real = ev.train_model

    def train_model(net: Any, images: Any, targets: Any, cfg: Any, seed: int, flip: Any) -> Any:
        trained.append((threading.current_thread().name, seed))
        if threading.current_thread().name == "first" and not first_training.is_set():
            first_training.set()  # the first call is training its first network: the second starts now
            second_done.wait()
        return real(net, images, targets, cfg, seed, flip)

    monkeypatch.setattr(ev, "train_model", train_model)
    results: dict[str, Any] = {}
    first = threading.Thread(target=lambda: results.setdefault("first", evaluate(syn, **KW)), name="first")
    first.start()
    first_training.wait()
    try:
        code = main(["evaluate", str(syn), "--runs", "2", "--epochs", "1", "--model", "depth=1,width=8", "--device", "cpu", "--quiet"])
    finally:
        second_done.set()
        first.join()
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "another nasproxy process" in err[0], err
    assert [who for who, _ in trained] == ["first", "first"]  # the second trained nothing
    assert len(results["first"].accuracies) == 2
    (syn / EVALUATIONS / Path(results["first"].kept).with_suffix(".lock").name).mkdir()  # as a call killed -9 leaves it
    again = evaluate(syn, **KW)  # the same command once the first is done: every network kept, none trained again
    assert again.reused == 2 and again.accuracies == results["first"].accuracies and len(trained) == 2
    assert [p.name for p in (syn / EVALUATIONS).iterdir()] == [Path(results["first"].kept).name]  # no lock left behind, nor a killed call's
