"""Every file nasproxy writes gets the permissions a plain ``open()`` gives it under the user's umask
(0644 under umask 022, 0600 under 077), as the ``config.toml`` beside it does: a synthetic set and
its checkpoint and selection, a teacher cache, a study's journal and database, ``best.json``, a trained model, the
reports, a proxy cache. An atomic write through ``tempfile.mkstemp`` would make them all 0600."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import pytest

from nas_proxy import configs
from nas_proxy.distill import distill
from nas_proxy.distill.soft_labels import SoftLabelConfig, add_soft_labels
from nas_proxy.proxies.cache import Cache
from nas_proxy.report.render import write_reports
from nas_proxy.search import ProxyConfig, SearchConfig, search
from nas_proxy.search.winner import TrainBestConfig, train_best
from nas_proxy.studies.storage import open_storage
from tests import uncapable
from tests.correlate.test_correlate_report import CASES, result
from tests.distill.test_distill_selection import CALIBRATION, Scripted, select_config


@contextmanager
def umask(mask: int) -> Iterator[None]:
    before = os.umask(mask)
    try:
        yield
    finally:
        os.umask(before)


def modes(root: Path) -> dict[str, int]:
    """Every file and folder under ``root`` (relative path -> permission bits)."""
    return {str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode) for p in sorted(root.rglob("*"))}


# make test: umask 027, whose owner, group and others bits all differ (0640 files, 0750 folders): a mode fixed in the code
# (mkstemp's 0600, a chmod to 0644 or 0666, mkdtemp's 0700) differs from it as from 022's or 077's, each of which misses
# one of them (0600 under 077, 0644 under 022). The drill tier runs the two usual umasks (perf60c: 2.3 CPU-s each).
UMASKS = [pytest.param(0o027, id="umask027"), *(pytest.param(m, id=f"umask{m:03o}", marks=pytest.mark.drill) for m in (0o022, 0o077))]


@pytest.mark.parametrize("mask", UMASKS)
def test_every_artifact_honours_the_umask(mask: int, tmp_path: Path) -> None:
    with umask(mask):
        syn = tmp_path / "syn"
        calibration = tmp_path / "calibration.json"
        calibration.write_text(json.dumps([{"spec": {"family": "convnet", **s}, "accuracy": a} for s, a in CALIBRATION]))
        distill(
            select_config(calibration, checkpoint_every=1), syn, progress=False, ranker=Scripted()
        )  # the set, its checkpoint, selection
        add_soft_labels(syn, SoftLabelConfig(teachers=1, space="convnet-small", epochs=2, images=400), out=tmp_path / "soft", device="cpu")
        proxy = ProxyConfig(epochs=1, report_every=1, report_images=50)
        config = SearchConfig(synthetic=str(syn), space="convnet-small", device="cpu", pruner="none", proxy=proxy)
        search(config, "s", 1, str(tmp_path / "study" / "journal.log"), out=tmp_path / "search", progress=False)
        train_best(tmp_path / "search" / "best.json", tmp_path / "model", TrainBestConfig(epochs=1, device="cpu"), command="test")
        storage, _ = open_storage(f"sqlite:///{tmp_path / 'study.db'}", "db")
        optuna.create_study(study_name="db", storage=storage)
        write_reports(result(tmp_path / "correlate", CASES["perfect"], 3))
        Cache(tmp_path / "cache" / "proxies.jsonl").add({"arch_id": "a", "score": 1.0})
        configs.write(tmp_path / "config.toml", {"name": "x"})
    written = modes(tmp_path)
    kinds = {
        "syn/meta.json",
        "syn/checkpoint.safetensors",
        "syn/selected.safetensors",
        "soft/meta.json",
        "study/journal.log",
        "search/best.json",
    }
    kinds |= {"model/model.safetensors", "model/spec.json", "study.db", "correlate/report.html", "cache/proxies.jsonl"}
    assert kinds <= set(written), sorted(written)
    assert any(name.startswith("soft/") and name.endswith(".safetensors") and "teacher" in name for name in written), sorted(written)
    file_mode, dir_mode = 0o666 & ~mask, 0o777 & ~mask  # what open() and mkdir() give
    wrong = {name: oct(m) for name, m in written.items() if m != (dir_mode if (tmp_path / name).is_dir() else file_mode)}
    assert not wrong, f"expected files {oct(file_mode)} and folders {oct(dir_mode)}: {wrong}"


REMEDY = (
    "Permission denied; change its permissions (a file needs r, a folder r and x, each folder above them x), or give one this user may read"
)


@pytest.mark.parametrize("kind", ["file", "folder", "config"])
def test_an_input_this_user_may_not_read_is_said_with_what_to_do(kind: str, tmp_path: Path) -> None:
    """An input whose mode refuses this user (root without capabilities): a file of mode 000, a file in a folder
    without its search bit (0600: stat fails), a --config file. Before stop 49 the line named the file and the
    OS's words only ('--archs file X cannot be read: Permission denied'); now, every command's, what to do too."""
    (tmp_path / "shut").mkdir()
    spec = {"family": "convnet", "depth": 1, "width": 16, "activation": "relu", "normalization": "none", "pooling": "avgpooling"}
    where = {"file": tmp_path / "archs.json", "folder": tmp_path / "shut" / "archs.json", "config": tmp_path / "c.toml"}[kind]
    where.write_text(json.dumps([spec]) if kind != "config" else "[correlate]\n")
    (tmp_path / "shut").chmod(0o600)
    if kind != "folder":
        where.chmod(0)
    args = ["--config", str(where), "--sample"] if kind == "config" else ["--archs", str(where)]
    try:
        done = uncapable.run(["correlate", *args, "--space", "convnet-cpu", "--dataset", "digits", "--out", str(tmp_path / "o")])
    finally:
        (tmp_path / "shut").chmod(0o700)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"nasproxy correlate: error: {'--config' if kind == 'config' else '--archs'} ")
    assert done.stderr.strip().endswith(f"{where} cannot be read: {REMEDY}"), done.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("kind", ["image folder", "config.toml"])
def test_an_image_folder_or_an_outputs_config_this_user_may_not_read_is_said_in_the_inputs_words(kind: str, tmp_path: Path) -> None:
    """An image folder of mode 000, and a config.toml of mode 000 in --out (whose owner it cannot tell): the remedy
    every input's refusal gives (files.read_failure). Before stop 51 each had a wording of its own ("it needs read and
    search (r-x) permission"; "which this user may not read (permission denied), ...: change its permissions")."""
    from tests import fabricate as fab

    pics, out = fab.image_folder(tmp_path / "pics", ["a", "b"], 2), tmp_path / "o"
    out.mkdir()
    (out / "config.toml").write_text("[x]\n")
    shut = pics if kind == "image folder" else out / "config.toml"
    out = out if kind == "config.toml" else tmp_path / "new"  # (o's config.toml is refused first)
    shut.chmod(0)
    try:
        done = uncapable.run(["correlate", "--sample", "--space", "convnet-cpu", "--dataset", f"imagefolder:{pics}", "--out", str(out)])
    finally:
        shut.chmod(0o700)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    if kind == "image folder":
        assert done.stderr.strip().endswith(f"image folder {pics} cannot be read: {REMEDY}"), done.stderr
    else:
        instead = REMEDY.replace("give one this user may read", "give a directory of its own")
        said = f"--out {out} holds config.toml, which cannot be read, so correlate cannot tell whose it is: {instead}"
        assert done.stderr.strip().endswith(said), done.stderr


@pytest.mark.parametrize("mask", [0o777, 0o277, 0o177])
def test_permission_denied_under_a_umask_that_shuts_the_owner_out_names_the_umask(mask: int, tmp_path: Path) -> None:
    """Under umask 777 (the owner's write or search bit masked), every folder a command makes is shut to itself: probe52
    saw `umask 777; nasproxy distill --out u1` in a folder of mode 777 refused "cannot write u1: permission denied; give a
    folder you may write to, or change its permissions", the folder writable and the umask the cause, unsaid."""
    from nas_proxy.files import write_error

    denied = PermissionError(13, "Permission denied")
    with umask(mask):
        message = str(write_error(denied, tmp_path / "u1"))
    assert f"permission denied: this process's umask {mask:04o} takes the owner's write or search permission" in message
    assert message.endswith("set one that leaves them (umask 022), then run the same command again")
    with umask(0o077):  # the owner's bits left: the folder's permissions are the cause, as before
        assert str(write_error(denied, tmp_path / "u1")).endswith("give a folder you may write to, or change its permissions")


def test_folders_made_on_the_way_to_one_that_cannot_be_made_are_not_left_behind(tmp_path: Path) -> None:
    """probe52: under umask 777 a refused search left an empty `studies/` (mode 000) where it could not make `studies/u`.
    mkdir -p made the parents, then failed: now they are removed again, and a folder that was there before is kept (a name
    too long for the file system fails as a permission would, also for root)."""
    from nas_proxy.files import FileWriteError, make_dirs

    (tmp_path / "kept").mkdir()
    with pytest.raises(FileWriteError, match="cannot write"):
        make_dirs(tmp_path / "kept" / "new" / "newer" / ("x" * 300))
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")] == ["kept"]


def test_a_folder_another_process_makes_meanwhile_is_not_removed_as_ours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """review53: make_dirs listed the missing folders, then made them with mkdir -p; one another process made between the
    two was removed as its own when a deeper one could not be made. Now only the folders its own mkdir made are removed."""
    from nas_proxy import files
    from nas_proxy.files import FileWriteError

    real = Path.mkdir
    other = tmp_path / "shared"

    def other_process_first(self: Path, *args: Any, **kwargs: Any) -> None:  # the other process's mkdir wins the race
        monkeypatch.setattr(Path, "mkdir", real)
        os.mkdir(other)
        real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", other_process_first)
    with pytest.raises(FileWriteError, match="cannot write"):
        files.make_dirs(other / "mine" / ("x" * 300))
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")] == ["shared"]


def test_a_path_too_long_once_made_absolute_is_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """probe54: from a working folder about 4,000 bytes deep, `search --out` of a short relative name was an internal
    error (OSError: File name too long, where check_writable looked at the absolute path), and `distill --out` one
    distilled to the end, then failed writing synthetic.safetensors inside it."""
    from nas_proxy.files import INSIDE_MAX, PATH_MAX, FileWriteError, check_writable

    monkeypatch.chdir(tmp_path)
    deep = PATH_MAX - INSIDE_MAX - 80  # the working folder's length: 80 bytes left before the refusal
    while (short := deep - len(os.fsencode(Path.cwd())) - 1) > 0:  # one relative step at a time, as a shell's cd
        os.mkdir("d" * min(200, short))
        os.chdir("d" * min(200, short))
    with pytest.raises(FileWriteError, match=r"its full path is [\d,]+ bytes long, and what nasproxy writes inside it needs up to 256"):
        check_writable("o" * 150)
    check_writable("o" * 10)  # still room for what is written inside
