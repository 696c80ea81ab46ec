"""What kill -9 in the middle of an atomic write leaves (``.TARGET.RANDOM.tmp`` beside its target) is
removed by the next write of that target, by whichever command writes it: only distill cleaned its
own before, so every other command's folder kept its dead temporaries for ever. A user's file,
another target's and a write still in progress are never touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nas_proxy import configs
from nas_proxy.distill.config import SoftLabelConfig
from nas_proxy.distill.soft_labels import add_soft_labels
from nas_proxy.files import FolderGoneError, append_line, left_as_found, one_command, output_lock, stale_temporaries, watch, write_json
from nas_proxy.report.render import write_reports
from nas_proxy.search import SearchConfig, search
from nas_proxy.search.winner import TrainBestConfig, train_best
from tests.correlate.test_correlate_report import CASES, result

KILLED = "0123abcd"  # the random part of a temporary that kill -9 left (before the writer's process id was in its name)


def _dead_pid() -> int:
    """A process id that no process has now (a process that ran and was reaped)."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    return ended.pid


def left_by_a_kill(folder: Path, *targets: str) -> list[Path]:
    """What kill -9 inside atomic_path leaves beside each of ``targets`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    made = [folder / f".{name}.{KILLED}.tmp" for name in targets]
    for path in made:
        path.write_bytes(b"half a file")
    return made


def test_a_write_removes_only_its_targets_dead_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "best.json"
    dead = [tmp_path / f".best.json.{KILLED}.tmp", tmp_path / f".best.json.{_dead_pid()}-{KILLED}.tmp"]
    kept = [
        tmp_path / f".best.json.{os.getppid()}-{KILLED}.tmp",  # a write in progress, in another (running) process
        tmp_path / ".best.json.notes.tmp",  # a user's: not the helper's naming
        tmp_path / "best.json.tmp",
        tmp_path / f".best.json.{KILLED}.tmp.bak",
        tmp_path / f".trials.csv.{KILLED}.tmp",  # another target's: removed when that one is written
    ]
    for path in dead + kept:
        path.write_bytes(b"x")
    assert sorted(stale_temporaries(target)) == sorted(dead)
    write_json(target, {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in [target, *kept])


def test_every_command_that_writes_a_folder_removes_what_a_kill_left_there(tiny_run: Path, tmp_path: Path) -> None:
    """search (best.json, trials.csv), train (the weights, spec.json), soft-labels (the set's files),
    correlate's report and any config.toml, each run again where a kill -9 cut one of its writes short."""
    left = left_by_a_kill(tmp_path / "search", "best.json", "trials.csv", "config.toml")
    config = SearchConfig(synthetic=None, proxy_name="params", dataset="digits", space="convnet-small", device="cpu", pruner="none")
    search(config, "s", 2, str(tmp_path / "study" / "journal.log"), out=tmp_path / "search", progress=False)
    configs.write(tmp_path / "search" / "config.toml", {"name": "x"})
    left += left_by_a_kill(tmp_path / "model", "model.safetensors", "spec.json")
    train_best(tmp_path / "search" / "best.json", tmp_path / "model", TrainBestConfig(epochs=1, device="cpu"), command="test")
    labelled = tmp_path / "set"
    shutil.copytree(tiny_run, labelled)
    left += left_by_a_kill(labelled, "synthetic.safetensors", "meta.json")
    add_soft_labels(labelled, SoftLabelConfig(teachers=1, space="convnet-small", epochs=2, images=600), device="cpu")
    left += left_by_a_kill(tmp_path / "correlate", "report.html", "results.json", "results.csv")
    write_reports(result(tmp_path / "correlate", CASES["perfect"], 3))
    assert [str(p.relative_to(tmp_path)) for p in left if p.exists()] == []
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_folder_moved_or_deleted_while_a_command_writes_in_it_is_not_made_again(tmp_path: Path) -> None:
    """drill43: ``mv o o2`` (or ``rm -rf o``) while correlate ran: its next write made ``o`` again and put the
    report there, its results.csv in ``o2``, exit 0. Within a command (the CLI's), a folder it has written in is
    written in only while it is still the same folder."""
    out, moved = tmp_path / "o", tmp_path / "o2"
    with one_command():
        write_json(out / "results.json", {})
        append_line(out / "cache" / "rows.jsonl", b"{}\n")
        out.rename(moved)
        for write in (lambda: write_json(out / "report.json", {}), lambda: append_line(out / "cache" / "rows.jsonl", b"{}\n")):
            with pytest.raises(FolderGoneError, match=r"/o was moved or deleted while this command wrote in it, and nothing is"):
                write()
        assert not out.exists()
        moved.rename(out)
        write_json(out / "report.json", {})  # put back: the same folder
        shutil.rmtree(out)
        out.mkdir()  # another folder at its path
        with pytest.raises(FolderGoneError):
            write_json(out / "cache" / "more.json", {})
    with one_command():  # only a subfolder written in, then the folder above it removed (drill43b: correlate's cache)
        append_line(out / "cache" / "rows.jsonl", b"{}\n")
        shutil.rmtree(out)
        with pytest.raises(FolderGoneError, match=r"/o was moved or deleted"):
            write_json(out / "report.json", {})
        assert not out.exists()
    write_json(out / "more.json", {})  # outside a command (the library's callers): as before


def test_a_locked_output_folder_moved_while_still_empty_is_said_not_made_again(tmp_path: Path) -> None:
    """Noticed at stop 43: ``mv OUT OUT2`` while distill ran and had written nothing in ``OUT`` yet (the folder it made and locked):
    its first write made ``OUT`` again with the whole output, exit 0. A folder is watched from its lock on."""
    out, moved = tmp_path / "o", tmp_path / "o2"
    with one_command(), output_lock(out):
        out.rename(moved)
        with pytest.raises(FolderGoneError, match=r"/o was moved or deleted while this command wrote in it"):
            write_json(out / "meta.json", {})
        assert not out.exists()
    with output_lock(out):  # outside a command (the library's callers): as before
        write_json(out / "meta.json", {})


def test_a_run_folder_deleted_between_stages_is_said_not_made_again_by_the_next_stage(tmp_path: Path) -> None:
    """drill43b: ``rm -rf runs/tiny`` during run's search stage: the stage wrote ``runs/tiny/search`` again (best.json,
    trials.csv), and the next stage said "runs/tiny/synthetic-datadam-ipc2 does not exist", exit 2. The run folder is
    watched (the stages write only in its subfolders), and a set found missing in it says that it was moved or deleted."""
    from nas_proxy.synthetic import read_meta

    runs = tmp_path / "runs" / "tiny"
    with one_command():
        write_json(runs / "synthetic" / "meta.json", {})
        watch(runs)
        shutil.rmtree(runs)
        with pytest.raises(FolderGoneError, match=r"/runs/tiny was moved or deleted while this command wrote in it"):
            write_json(runs / "search" / "best.json", {})
        assert not runs.exists()
        with pytest.raises(FolderGoneError, match=r"/runs/tiny was moved or deleted"):
            read_meta(runs / "synthetic")


def test_a_set_moved_while_evaluate_keeps_its_results_is_said_not_made_again(tmp_path: Path) -> None:
    """drill43b: ``mv syn syn2`` while evaluate trained: its kept file made ``syn/evaluations/`` again, a new ``syn``
    holding nothing else, exit 0, and the moved set lacked its evaluation."""
    from nas_proxy.evaluate import Kept

    syn, moved = tmp_path / "syn", tmp_path / "syn2"
    syn.mkdir()
    with one_command():
        kept = Kept(syn, {"a": 1})
        syn.rename(moved)
        with pytest.raises(FolderGoneError, match=r"/syn was moved or deleted while this command wrote in it"):
            kept.add("net", 1.0)
        assert not syn.exists()


def test_folders_a_refused_launch_left_empty_are_removed_and_their_parent_s_times_kept_unless_others_wrote_there(
    tmp_path: Path,
) -> None:
    """probe43's left_as_found (the ranks of a refused distill --launch): the folders they made and left empty go, and
    the folder above gets its times back; not when another job's file came or went there meanwhile (its times are
    that job's: the review of stop 43)."""
    runs = tmp_path / "runs"
    runs.mkdir()
    os.utime(runs, ns=(10**18, 10**18))
    with left_as_found([runs / "out" / "shards" / "0-of-2"]):
        (runs / "out" / "shards" / "0-of-2").mkdir(parents=True)
    assert os.listdir(runs) == [] and runs.stat().st_mtime_ns == 10**18
    with left_as_found([runs / "out" / "shards" / "0-of-2"]):
        (runs / "out" / "shards" / "0-of-2").mkdir(parents=True)
        (runs / "another-job").mkdir()
    assert os.listdir(runs) == ["another-job"] and runs.stat().st_mtime_ns != 10**18
