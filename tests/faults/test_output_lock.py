"""One nasproxy process at a time writes an output folder (files.output_lock): a second distill, train,
soft-labels or correlate on the same folder is refused in one line, before it reads or writes anything there.
Before, two distills sharing one --out both ran, each overwriting the other's checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nas_proxy.cli import main
from nas_proxy.files import FolderBusyError, output_lock


def test_a_held_folder_is_refused_and_released_with_nothing_left(tmp_path: Path) -> None:
    out = tmp_path / "new" / "out"
    with output_lock(out):
        with (
            pytest.raises(FolderBusyError, match=rf"{out} is being written by another nasproxy process \(process {os.getpid()}\)"),
            output_lock(out),
        ):
            pass
        assert list(out.iterdir()) == []  # the lock writes nothing into the folder
    assert not (tmp_path / "new").exists()  # the folders made for the lock, left empty, are removed
    out.mkdir(parents=True)
    with output_lock(out):
        (out / "result").write_text("kept")
    with output_lock(out):  # released on the way out (and by the OS when its holder dies: no stale lock)
        pass
    assert [p.name for p in out.iterdir()] == ["result"]


def test_a_refused_command_leaves_the_folder_above_its_new_out_as_it_was(tmp_path: Path) -> None:
    """The lock makes a missing --out; a command refused inside it (bad input found by the library) made
    and removed it, changing its parent's times (drill38). They are now given back, unless another
    process changed the parent meanwhile."""
    parent = tmp_path / "parent"
    parent.mkdir()
    os.utime(parent, ns=(10**18, 10**18))
    with pytest.raises(ValueError), output_lock(parent / "a" / "new"):
        raise ValueError("refused by the library")
    assert os.stat(parent).st_mtime_ns == 10**18 and list(parent.iterdir()) == []
    with output_lock(parent / "new"):
        (parent / "another's").write_text("written meanwhile by another process")
    assert os.stat(parent).st_mtime_ns != 10**18  # its change is not undone


def test_only_the_folders_it_made_are_removed(tmp_path: Path) -> None:
    """The lock's folder moved away while the command ran, and another empty folder made at its path: before
    fix45b, that one was removed by path at the end; the moved one (empty, made by the lock) stays where it went."""
    out, moved = tmp_path / "new" / "out", tmp_path / "moved"
    with output_lock(out):
        out.rename(moved)
        out.mkdir()  # another's, of the same name
    assert out.is_dir() and moved.is_dir()


@pytest.mark.parametrize(
    "args",
    [
        ["distill", "--dataset", "digits", "--ipc", "1", "--iterations", "2", "--device", "cpu", "--out", "{out}"],
        ["train", "{out}/best.json", "--out", "{out}"],
        ["soft-labels", "{out}", "--teachers", "1"],
        # probe47: before, correlate ran beside another on the same --out, exit 0, the last to finish replacing the report
        [
            *("correlate", "--sample", "--space", "convnet-cpu", "--dataset", "digits", "--n-archs", "3", "--full-epochs", "1"),
            *("--full-images", "20", "--bootstrap", "100", "--device", "cpu", "--quiet", "--out", "{out}"),
        ],
    ],
    ids=["distill", "train", "soft-labels", "correlate"],
)
def test_a_second_command_on_a_folder_being_written_is_refused(tmp_path: Path, args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "checkpoint.safetensors").write_bytes(b"the first run's")
    with output_lock(out):
        before = sorted((p.name, p.read_bytes()) for p in out.iterdir())
        code = main([a.format(out=out) for a in args])
        err = capsys.readouterr().err.strip().splitlines()
        assert sorted((p.name, p.read_bytes()) for p in out.iterdir()) == before
    assert code == 2
    assert len(err) == 1 and f"{out} is being written by another nasproxy process" in err[0], err


def test_a_second_run_of_a_preset_being_run_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """probe47: before, two ``nasproxy run p.toml`` at once both distilled the same set, searched the same study and
    wrote the same report, exit 0 each; the second is now refused, before it reads or writes anything."""
    from tests.bad_inputs_files import PRESET

    monkeypatch.chdir(tmp_path)  # the study's default storage is studies/p under the working folder
    (tmp_path / "p.toml").write_text(PRESET)
    folder = tmp_path / "runs" / "p"
    with output_lock(folder):
        code = main(["run", "p.toml", "--device", "cpu", "--quiet"])
        err = capsys.readouterr().err.strip().splitlines()
        assert list(folder.iterdir()) == []
    assert code == 2
    assert len(err) == 1 and "runs/p is being run by another nasproxy process (process" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.toml"]  # no studies/, and the lock's runs/p removed


@pytest.mark.parametrize("stage", ["synthetic-datadam-ipc1", "search", "correlate"])
def test_a_run_whose_stage_folder_another_command_writes_is_refused(
    stage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """probe49: another command writing one of a run's stage folders as its own --out (``distill --out
    runs/p/synthetic-datadam-ipc1 --resume``, ``correlate --out runs/p/correlate``) held that folder's lock, the run only
    runs/p's: before, both ran, distilling one set (or writing one report) together, exit 0 each. The run now takes each
    stage's folder too, and is refused before it reads or writes anything."""
    from tests.bad_inputs_files import PRESET

    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.toml").write_text(PRESET)
    folder = tmp_path / "runs" / "p" / stage
    with output_lock(folder):  # as that command holds it
        code = main(["run", "p.toml", "--device", "cpu", "--quiet"])
        err = capsys.readouterr().err.strip().splitlines()
        assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["p.toml", "runs", "runs/p", f"runs/p/{stage}"]
    assert code == 2
    assert len(err) == 1 and f"runs/p/{stage} is being written by another nasproxy process (process {os.getpid()})" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.toml"]  # no studies/; the folders made for the locks removed


def test_a_folder_its_last_holder_removed_before_it_was_opened_is_made_again_and_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """review50: the lock folder made (or found) and then removed by the holder it was waiting for (a profile's
    .NAME.writing, removed as its writer ends; an output nothing was written into) before it was opened: the command
    ran unlocked (calibrate warned 'a file in its place, or no flock'), beside a third that made and locked the folder
    anew. Now it makes it again and holds its lock; left empty, it is removed at the end as a folder it made."""
    from nas_proxy import files

    out = tmp_path / "out"
    out.mkdir()
    real = files._make

    def removed_meanwhile(folder: Path) -> list[Path]:
        made = real(folder)
        folder.rmdir()  # the holder ending: what its last step does to an empty lock folder
        return made

    monkeypatch.setattr(files, "_make", removed_meanwhile)
    with output_lock(out) as held:
        assert held and out.is_dir()
        monkeypatch.setattr(files, "_make", real)
        with pytest.raises(FolderBusyError), output_lock(out):  # held: a second is refused
            pass
    assert not out.exists()  # made again by this one, left empty: removed
