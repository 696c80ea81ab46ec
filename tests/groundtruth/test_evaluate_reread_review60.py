"""review60: ``evaluate`` reads its set's kept networks again once it holds their lock (``evaluate.one_evaluation``):
another call on the same set, model and protocol may have finished them between this call's first read
(``kept_in``) and its lock. No test broke when that second read was removed (stop 59 added it with the lock): this
call then trained every network the other had just kept, the work the lock is there to save."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nas_proxy.evaluate import evaluate
from nas_proxy.training import TrainConfig
from tests.conftest import copy_of

ev = importlib.import_module("nas_proxy.evaluate")  # the package's name evaluate is the function
KW: dict[str, Any] = dict(runs=2, train=TrainConfig(epochs=1), model="depth=1,width=8", device="cpu", progress=False)


def test_networks_another_call_kept_before_this_one_locked_are_not_trained_again(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syn = copy_of(tiny_run, tmp_path / "syn")
    trained: list[int] = []
    real_train, real_lock = ev.train_model, ev.one_evaluation

    def train_model(net: Any, *args: Any) -> Any:
        trained.append(args[3])  # its seed
        return real_train(net, *args)

    other: list[Any] = []

    @contextlib.contextmanager
    def late(kept: Any, path: Any) -> Iterator[None]:
        if not other:  # this call has read what is kept (nothing yet); another call runs whole before it locks
            other.append(None)
            other[0] = evaluate(syn, **KW)
        with real_lock(kept, path):
            yield

    monkeypatch.setattr(ev, "train_model", train_model)
    monkeypatch.setattr(ev, "one_evaluation", late)
    this = evaluate(syn, **KW)
    assert other[0].reused == 0 and len(trained) == 2, trained  # the other call trained the two networks
    assert this.reused == 2 and this.accuracies == other[0].accuracies  # and this one took them as kept
