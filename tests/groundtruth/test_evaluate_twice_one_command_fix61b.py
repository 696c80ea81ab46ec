"""fix61b: a second ``evaluate`` of the same set, model and protocol within one command (the library's
``files.one_command``: a pipeline that evaluates twice) took its evaluation's lock folder, removed as the first call
ended (``evaluate.one_evaluation``) and made again by the second, for a folder moved or deleted while the command wrote
in it: ``FolderGoneError`` (review60's note). The second call now reuses the first's networks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nas_proxy.evaluate import evaluate
from nas_proxy.files import one_command
from nas_proxy.training import TrainConfig
from tests.conftest import copy_of

KW: dict[str, Any] = dict(runs=1, train=TrainConfig(epochs=1), model="depth=1,width=8", device="cpu", progress=False)


def test_the_same_evaluation_twice_in_one_command_reuses_the_first(tiny_run: Path, tmp_path: Path) -> None:
    syn = copy_of(tiny_run, tmp_path / "syn")
    with one_command():
        first = evaluate(syn, **KW)
        (tmp_path / "taken").mkdir()  # takes the inode number the lock folder freed (a file system reuses it at once)
        second = evaluate(syn, **KW)
    assert first.reused == 0 and second.reused == 1 and second.accuracies == first.accuracies
    assert not list((syn / "evaluations").glob("*.lock"))  # each call removed its lock folder


def test_a_folder_locked_twice_in_one_command_is_its_own(tmp_path: Path) -> None:
    """The rule beneath: a folder ``output_lock`` made and removed empty, locked again in the same command."""
    from nas_proxy.files import output_lock, write_json

    out = tmp_path / "out"
    with one_command():
        with output_lock(out):
            pass
        (tmp_path / "taken").mkdir()
        with output_lock(out):
            write_json(out / "a.json", {"a": 1})
    assert (out / "a.json").is_file()
