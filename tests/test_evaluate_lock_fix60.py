"""fix60: a set copied or moved with an empty ``evaluations/KEY.lock`` folder in it (a call killed -9 leaves one; a copy
made while a call ran takes one along): the next evaluate on the new path runs (the folder is nobody's lock there), and
no empty lock folder outlives a call that has finished."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from nas_proxy.cli import main
from nas_proxy.evaluate import EVALUATIONS, evaluate
from nas_proxy.training import TrainConfig
from tests.conftest import copy_of

KW: dict[str, Any] = dict(runs=1, train=TrainConfig(epochs=1), model="depth=1,width=8", device="cpu", progress=False)
ARGS = ["--runs", "1", "--epochs", "1", "--model", "depth=1,width=8", "--device", "cpu", "--quiet"]


def test_a_copied_or_moved_set_with_an_empty_lock_folder_is_evaluated(tiny_run: Path, tmp_path: Path) -> None:
    syn = copy_of(tiny_run, tmp_path / "syn")
    first = evaluate(syn, **KW)
    assert first.kept is not None
    lock = syn / EVALUATIONS / Path(first.kept).with_suffix(".lock").name
    lock.mkdir()  # as a call killed -9 (or copied while it ran) leaves it
    copied = Path(shutil.copytree(syn, tmp_path / "copied"))
    moved = syn.rename(tmp_path / "moved")
    for where in (copied, moved):
        assert main(["evaluate", str(where), *ARGS]) == 0
        assert sorted(p.name for p in (where / EVALUATIONS).iterdir()) == [Path(first.kept).name], where


def test_a_set_moved_while_it_is_evaluated_keeps_no_lock_folder(tiny_run: Path, tmp_path: Path, monkeypatch: Any) -> None:
    import importlib

    ev = importlib.import_module("nas_proxy.evaluate")
    syn = copy_of(tiny_run, tmp_path / "syn")
    real, moved = ev.train_model, tmp_path / "moved"

    def train_model(*args: Any) -> Any:
        if not moved.exists():
            syn.rename(moved)  # the user moves the set while its first network trains
        return real(*args)

    monkeypatch.setattr(ev, "train_model", train_model)
    try:
        evaluate(syn, **KW)
    except Exception as e:  # noqa: BLE001 - what the call says of the move is not this test's; what it leaves is
        print(type(e).__name__, e)
    assert moved.is_dir()  # (its kept results went to the old path, made again: another matter, reported at fix60)
    monkeypatch.setattr(ev, "train_model", real)
    assert [p for p in (moved / EVALUATIONS).iterdir() if p.suffix == ".lock"] == []  # the call ended: its lock is gone
    assert main(["evaluate", str(moved), *ARGS]) == 0
    assert [p for p in (moved / EVALUATIONS).iterdir() if p.suffix == ".lock"] == []
