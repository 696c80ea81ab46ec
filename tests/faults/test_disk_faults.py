"""Disks that refuse a write: full (ENOSPC), read-only (EROFS), a path through a file (ENOTDIR), a
name too long (ENAMETOOLONG), no permission (EACCES).

Each command says so in one line naming the path (and, for a full disk, the bytes it meant to write
and the free space), exits non-zero, leaves every earlier result whole, and, once the disk has
room, the same command finishes what was started. The disks are small tmpfs mounts, filled by a
filler file; mounting needs root (CI runs the suite as root), elsewhere these tests are skipped.
"""

from __future__ import annotations

import errno
import faulthandler
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from nas_proxy.cli import main
from nas_proxy.correlate.archs import from_space
from nas_proxy.evaluate import KeptAccuracies
from nas_proxy.files import DiskFullError
from nas_proxy.spaces import get_space
from nas_proxy.studies import crashes, identity, processes, repair
from nas_proxy.studies.storage import open_storage
from nas_proxy.synthetic import load_synthetic
from tests import uncapable, warm
from tests.bad_input_runner import Case, problems, run_case

PAGE = os.sysconf("SC_PAGE_SIZE")  # tmpfs counts whole pages
ROOT = Path(__file__).resolve().parents[2]


class Disk:
    """A mounted tmpfs: fill it (leaving some pages free), empty it again."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / ".filler"

    def free(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def fill(self, leave_pages: int = 0) -> None:
        """Leave ``leave_pages`` pages free (the filler grows if it is there already)."""
        size = self.free() - leave_pages * PAGE
        block = b"\0" * (1 << 20)
        with self.filler.open("ab") as f:
            while size > 0:
                f.write(block[: min(size, len(block))])
                size -= len(block)
        assert self.free() == leave_pages * PAGE, (self.free(), leave_pages)

    def unfill(self) -> None:
        self.filler.unlink(missing_ok=True)

    def readonly(self) -> None:
        warm.run(["mount", "-o", "remount,ro", str(self.root)], check=True)


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Callable[[str], Disk]]:
    """``mount(name, size)``: a fresh tmpfs at ``tmp_path/name``, unmounted after the test."""
    mounted: list[Path] = []

    def make(name: str, size: str = "8m") -> Disk:
        path = tmp_path / name
        path.mkdir()
        can_mount(path, size)
        mounted.append(path)
        return Disk(path)

    yield make
    for path in reversed(mounted):
        warm.run(["umount", "-l", str(path)], check=False)


def can_mount(path: Path, size: str) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("the disk drills mount a small tmpfs, which needs root and mount(8); CI runs them as root")
    done = warm.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({' '.join(done.stderr.split())}); the disk drills need a machine that can")


def digests(root: Path) -> dict[str, str]:
    """Every file under ``root`` (the filler apart) -> its sha256."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".filler"
    }


def leftovers(root: Path) -> list[str]:
    """Temporary files a write left behind."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.tmp"))


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(args)
    return code, capsys.readouterr().err.strip().splitlines()


def full_disk_problems(code: int, err: list[str], disk: Disk, where: str | None = None) -> list[str]:
    """What is wrong with how a command stopped on a full ``disk`` (empty: one line, exit 4, the
    path on that disk (``where`` it starts, when relative), the bytes it meant to write and the
    free space)."""
    found = []
    if code != 4:
        found.append(f"exit {code}")
    if len(err) != 1:
        found.append(f"{len(err)} lines on stderr: {err[-3:]}")
    line = err[-1] if err else ""
    if "no space left on device" not in line or (where or str(disk.root)) not in line:
        found.append(f"message {line!r}")
    if not re.search(r"[\d,.]+ (bytes|[kMG]B) to write, [\d,.]+ (bytes|[kMG]B) free", line):
        found.append(f"message lacks the bytes to write and the free space: {line!r}")
    if leftovers(disk.root):
        found.append(f"left {leftovers(disk.root)}")
    return found


def whole_records(journal: Path, before: bytes) -> list[str]:
    """A journal that still begins with ``before`` and holds only whole records."""
    data = journal.read_bytes()
    found = [] if data.startswith(before) and data.endswith(b"\n") else ["the journal lost records or ends inside one"]
    for number, line in enumerate(data.splitlines(), start=1):
        try:
            json.loads(line)
        except json.JSONDecodeError:
            found.append(f"journal line {number} is not a record")
            break
    return found


# ---------------------------------------------------------------- distill


def distill_args(out: Path) -> list[str]:
    return [
        *("distill", "--dataset", "digits", "--ipc", "1", "--iterations", "2", "--batch-real", "8", "--device", "cpu"),
        "--quiet",
        "--out",
        str(out),
    ]


# what distill writes, in order (the checkpoint first: the set is made from it)
DISTILL_FILES = ["checkpoint.safetensors", "losses.csv", "synthetic.safetensors", "grid.png", "meta.json", "config.toml"]


def test_distill_on_a_full_disk_stops_at_each_write_and_resumes_to_the_same_set(
    mount: Callable[..., Disk], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The disk left with room for the first i files of a run only, for each i: the run stops at
    file i+1 in one line, an earlier run on the disk unchanged; once room is made, the command the
    message names finishes the set, identical to an uninterrupted run's."""
    reference = tmp_path / "reference"
    assert cli(distill_args(reference), capsys)[0] == 0
    assert sorted(DISTILL_FILES) == sorted(os.listdir(reference))
    images = load_synthetic(reference).images
    pages = [-(-(reference / name).stat().st_size // PAGE) for name in DISTILL_FILES]  # tmpfs gives each file whole pages
    disk = mount("disk")
    earlier = disk.root / "earlier"
    shutil.copytree(reference, earlier)
    kept = digests(earlier)
    problems_at = {}
    for i, name in enumerate(DISTILL_FILES):
        out = disk.root / f"run{i}"
        disk.fill(sum(pages[:i]))
        code, err = cli(distill_args(out), capsys)
        disk.unfill()
        found = full_disk_problems(code, err, disk)
        if not err or str(out / name) not in err[-1]:
            found.append(f"stopped elsewhere: {err}")
        if digests(earlier) != kept:
            found.append("the earlier run changed")
        again = distill_args(out) + (["--resume"] if "--resume" in err[-1] else [])
        code, err = cli(again, capsys)
        if code != 0 or not load_synthetic(out).images.equal(images):
            found.append(f"the resumed run: exit {code} {err}")
        if found:
            problems_at[name] = found
    assert not problems_at, problems_at


# ---------------------------------------------------------------- search


def search_args(tiny_run: Path, journal: Path, out: Path, n: int) -> list[str]:
    return [
        *("search", "--synthetic", str(tiny_run), "--space", "convnet-small", "--study", "s", "--sampler", "bruteforce"),
        *("--storage", str(journal), "--out", str(out), "--n-trials", str(n), "--pruner", "none"),
        *("--epochs", "1", "--report-every", "1", "--report-images", "50", "--device", "cpu", "--quiet"),
    ]


def complete(journal: Path) -> dict[str, float]:
    """arch_id -> value of the complete trials."""
    study = optuna.load_study(study_name="s", storage=open_storage(str(journal), "s")[0])
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len({t.user_attrs["arch_id"] for t in done}) == len(done), "an architecture trained twice"
    return {t.user_attrs["arch_id"]: t.value for t in done}  # type: ignore[misc]


def test_search_on_a_full_disk_keeps_the_study_and_exports_and_resumes(
    mount: Callable[..., Disk], tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A study of 2 trials, then a search for 3 with (a) the journal's disk full, (b) the exports'
    disk full: one line, the journal whole records, best.json and trials.csv the earlier ones;
    room made, the same command finishes: 3 distinct architectures, each scored as an uninterrupted
    run scores it, at once: it never waits for a trial the full disk left (before stop 46, the journal's full disk
    took a trial's creation but not its worker's record, a record of its own: the same command waited
    UNTAGGED_SECONDS, 60 s, printing 'waiting for trials running in other workers', before it retried it)."""
    ref = tmp_path / "ref"
    assert cli(search_args(tiny_run, ref / "journal.log", ref, 6), capsys)[0] == 0  # all 6 of the space
    every = complete(ref / "journal.log")
    jdisk, odisk = mount("journal"), mount("out")
    journal, out = jdisk.root / "s" / "journal.log", odisk.root / "s"
    assert cli(search_args(tiny_run, journal, out, 2), capsys)[0] == 0
    earlier_journal, earlier_out = journal.read_bytes(), digests(out)
    shutil.copytree(out, tmp_path / "earlier")
    for disk, names in ((jdisk, "journal.log"), (odisk, "trials.csv")):
        journal.write_bytes(earlier_journal)  # the study of 2 trials again
        shutil.rmtree(out)
        shutil.copytree(tmp_path / "earlier", out)
        disk.fill()
        # the journal's last page keeps room that fill() cannot take (3.4 KB of 4 KB after these two
        # trials): one more trial's records (3.2 KB) may fit there, two (6.4 KB) never do
        asked = 4 if disk is jdisk else 3
        code, err = cli(search_args(tiny_run, journal, out, asked), capsys)
        disk.unfill()
        assert full_disk_problems(code, err, disk) == [] and names in err[-1], err
        assert whole_records(journal, earlier_journal) == []
        assert digests(out) == earlier_out  # best.json and trials.csv: the earlier ones, whole
        left = optuna.load_study(study_name="s", storage=open_storage(str(journal), "s")[0]).get_trials(states=(TrialState.RUNNING,))
        assert all("worker_pid" in t.user_attrs for t in left), [t.user_attrs for t in left]  # made with its worker, or not made
        code, err = cli([a for a in search_args(tiny_run, journal, out, 3) if a != "--quiet"], capsys)  # (its lines shown)
        assert code == 0, err
        assert not [line for line in err if "waiting for" in line], err
        scored = complete(journal)
        assert len(scored) == 3 and all(every[a] == v for a, v in scored.items()), (scored, every)
        assert json.loads((out / "best.json").read_text())["best"]["values"] == [max(scored.values())]


def test_a_full_disk_at_the_first_kept_result_leaves_no_empty_evaluations_folder(mount: Callable[..., Disk]) -> None:
    """``evaluate``/``score`` on a full disk at their first kept result: the one-line error, and the set's
    folder as it was (before: an empty ``evaluations/`` was left in it). A folder that held a result stays."""
    disk = mount("full", "1m")
    folder = disk.root / "set"
    folder.mkdir()
    disk.fill()
    kept = KeptAccuracies(folder, {"run": "first"})
    with pytest.raises(DiskFullError, match="evaluations"):
        kept.add("0", 50.0)
    assert os.listdir(folder) == []
    disk.unfill()
    kept.add("0", 50.0)
    disk.fill()
    with pytest.raises(DiskFullError):
        KeptAccuracies(folder, {"run": "second"}).add("0", 50.0)
    assert os.listdir(folder / "evaluations") == [kept.path.name]  # the first computation's file and its folder stay


def test_a_journal_write_cut_by_a_full_disk_is_undone(mount: Callable[..., Disk]) -> None:
    """A record that crosses into a page the disk does not have: part of it is written, then
    ENOSPC; the journal is truncated back to its size before the write, and the same write succeeds
    once there is room."""
    disk = mount("disk", "1m")
    journal = disk.root / "journal.log"
    study = optuna.create_study(study_name="f", storage=open_storage(str(journal), "f")[0])
    study.set_user_attr("first", 1)
    before = journal.read_bytes()
    disk.fill()
    room = PAGE - len(before) % PAGE  # what the journal's last page still holds
    value = "x" * (room + 100)  # the record fills that page and needs 100 bytes more
    with pytest.raises(
        DiskFullError, match=rf"no space left on device writing {re.escape(str(journal))}: [\d,]+ bytes to write, 0 bytes free"
    ):
        study.set_user_attr("second", value)
    assert journal.read_bytes() == before
    disk.unfill()
    study.set_user_attr("second", value)
    again = optuna.load_study(study_name="f", storage=open_storage(str(journal), "f")[0])
    assert again.user_attrs == {"first": 1, "second": value}


def test_a_journal_on_a_full_disk_is_named_as_the_user_gave_it(mount: Callable[..., Disk], monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative ``--storage`` is named relatively in the full-disk line, as every other file of a command is
    (before: the journal alone was named by its absolute path, ``/tmp/.../s/journal.log``, fix48a)."""
    disk = mount("disk", "1m")
    monkeypatch.chdir(disk.root)
    (disk.root / "s").mkdir()
    study = optuna.create_study(study_name="f", storage=open_storage("s/journal.log", "f")[0])
    study.set_user_attr("first", 1)
    disk.fill()
    with pytest.raises(DiskFullError) as raised:
        study.set_user_attr("second", "x" * PAGE)
    assert str(raised.value).startswith("no space left on device writing s/journal.log: "), str(raised.value)


# ---------------------------------------------------------------- correlate, calibrate, run


def correlate_args(syn: Path, out: Path, gt: Path) -> list[str]:
    return [
        *("correlate", "--sample", "--space", "convnet-cpu", "--synthetic", str(syn), "--n-archs", "3", "--full-epochs", "2"),
        *("--full-images", "20", "--bootstrap", "100", "--proxies", "synflow", "--no-random-subset"),  # synflow: no --epochs (idle)
        *("--device", "cpu", "--quiet", "--out", str(out), "--gt-storage", str(gt)),
    ]


def ground_truth(out: Path) -> list[tuple[str, float, float]]:
    """(arch_id, ground truth, proxy score) per architecture."""
    rows = json.loads((out / "results.json").read_text())["archs"]
    return sorted((r["arch_id"], r["truth"], r["synflow"]) for r in rows)


def test_a_crash_on_a_full_temporary_disk_still_leaves_its_dump(mount: Callable[..., Disk], monkeypatch: pytest.MonkeyPatch) -> None:
    """The dump file's room is reserved when the trial starts: a worker that crashes once its TMPDIR is
    full still writes its dump, and the death counts against the candidate (before, the write failed,
    the file stayed empty and the crash was re-queued uncounted, as a kill -9 is)."""
    disk = mount("tmp", "1m")
    monkeypatch.setattr(tempfile, "tempdir", str(disk.root))
    monkeypatch.setattr(crashes, "_CRASHES", crashes._CrashWatch())
    monkeypatch.setattr(processes, "oom_kills", lambda: 3)  # no out-of-memory kill meanwhile
    study = optuna.create_study(study_name="w", storage=optuna.storages.InMemoryStorage())
    trial = study.ask()
    identity.claim(trial)
    disk.fill()
    assert crashes._CRASHES.file is not None
    faulthandler.dump_traceback(crashes._CRASHES.file)  # what a segmentation fault's handler writes, on a full disk
    (frozen,) = study.trials
    crash = crashes.crash_dump(frozen)
    assert crash is not None and "(most recent call first)" in crash[0] and repair.suspected(frozen)
    identity.release(trial)


def test_correlate_on_a_full_disk_keeps_its_trainings_and_resumes(
    mount: Callable[..., Disk], tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ground-truth journal's disk full, then the output's with room for 0, 1, 1 pages (the proxy cache, results.csv,
    the first plot stop it): one line each; each run is the same command, resuming from what the fault before it left
    and meeting the next one (one chain of 5 runs instead of 4 pairs, stop 62: each resume drew the whole report, ~3/4
    of its CPU); the trainings, stored by the first run past the ground truth, are reused by every later run (none
    trained twice), and the last run, the disk freed, reports an uninterrupted run's numbers."""
    ref = tmp_path / "ref"
    code, err = cli(correlate_args(tiny_run, ref, tmp_path / "gt.log"), capsys)
    assert code == 0, err
    expected = ground_truth(ref)
    gdisk, odisk = mount("gt"), mount("out")
    gt, out = gdisk.root / "gt.log", odisk.root / "c"
    trained: list[int] = []
    # the output's room: 0 pages (the cache's first write stops it), 1 (the cache written, results.csv stops it), 1 (the
    # cache the run before wrote, reused: results.csv written, the first plot stops it)
    for disk, leave, name in ((gdisk, 0, "gt.log"), (odisk, 0, "cache/"), (odisk, 1, "results.csv"), (odisk, 1, "scatter.png")):
        disk.fill(leave)
        code, err = cli(correlate_args(tiny_run, out, gt), capsys)
        disk.unfill()
        assert full_disk_problems(code, err, disk) == [] and name in err[-1], err
        if disk is odisk:
            trained.append(trainings(gt))
    code, err = cli(correlate_args(tiny_run, out, gt), capsys)
    assert code == 0, err
    assert ground_truth(out) == expected
    trained.append(trainings(gt))
    assert trained[0] > 0 and trained == [trained[0]] * 4, trained  # all trained before the output's first fault, never again


def trainings(journal: Path) -> int:
    """The ground-truth trainings stored in ``journal`` (trials of every study there)."""
    storage = open_storage(str(journal), "gt")[0]
    return sum(len(storage.get_all_trials(s._study_id)) for s in storage.get_all_studies())


def test_calibrate_on_a_full_disk_resumes_and_writes_the_profile(
    mount: Callable[..., Disk], tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """(a) the calibration storage's disk full, (b) the profile's: one line, the earlier profile
    whole; room made, the same command finishes (from the stored trainings) and writes the profile."""
    truth = tmp_path / "truth.json"
    archs = from_space(get_space("convnet-cpu"), 6, 0)
    truth.write_text(json.dumps([{"spec": a.spec, "accuracy": 60.0 + i} for i, a in enumerate(archs)]))
    sdisk, odisk = mount("storage"), mount("out")
    profile = odisk.root / "p.toml"
    earlier = 'format = "nasproxy-proxy-profile"\nformat_version = 1\n[proxy]\nepochs = 2\n'  # an earlier calibration's
    profile.write_text(earlier)
    args = ["calibrate", "--truth", str(truth), "--space", "convnet-cpu", "--synthetic", str(tiny_run), "--study", "c"]
    args += ["--storage", str(sdisk.root / "c.log"), "--folds", "2", "--trials", "1", "--epochs-choices", "1", "--bootstrap", "100"]
    # one protocol to choose (besides the default, the baseline): its trainings are what the disks cut, not the
    # choice among many (TPE's draws from the default choices trained 3 protocols, seeds=4 among them: 1.6 CPU-s more)
    args += ["--lr-choices", "0.01", "--batch-size-choices", "256", "--dsa-choices", "true", "--seeds-choices", "1"]
    args += ["--device", "cpu", "--quiet", "--out", str(profile)]
    for disk in (sdisk, odisk):
        disk.fill()
        code, err = cli(args, capsys)
        disk.unfill()
        assert full_disk_problems(code, err, disk) == [], err
        assert profile.read_text() == earlier
    code, err = cli(args, capsys)
    assert code == 0, err
    assert profile.read_text() != earlier and "[calibration]" in profile.read_text()


def test_run_on_a_full_disk_resumes(
    mount: Callable[..., Disk], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A preset run that fills the disk in its last stage: one line; room made, the same command
    finishes from the earlier stages' results."""
    from tests.bad_inputs_files import PRESET

    disk = mount("disk", "16m")
    monkeypatch.chdir(disk.root)  # the study goes to studies/ under the working directory
    (disk.root / "p.toml").write_text(PRESET.replace('name = "p"', 'name = "p"\nruns = "runs"').replace("iterations = 1", "iterations = 2"))
    disk.fill(40)  # room for the distillation and the search, not for the correlation's report
    code, err = cli(["run", "p.toml", "--device", "cpu", "--quiet"], capsys)
    disk.unfill()
    assert full_disk_problems(code, err, disk, "writing runs/p/correlate/") == [], err
    code, err = cli(["run", "p.toml", "--device", "cpu", "--quiet"], capsys)
    assert code == 0, err
    assert (disk.root / "runs" / "p" / "correlate" / "report.md").is_file()


# ---------------------------------------------------------------- read-only, not a folder, too long, no permission

LONG = "n" * 300
D = "distill --dataset digits --ipc 1 --iterations 1 --batch-real 4 --device cpu --quiet --out"
S = "search --synthetic syn --space convnet-cpu --study s --n-trials 1 --epochs 1 --device cpu --quiet"
C = "correlate --sample --space convnet-cpu --synthetic syn --n-archs 3 --full-epochs 2 --full-images 20 --epochs 1 --bootstrap 100 --device cpu --quiet"
CAL = "calibrate --truth truth.json --space convnet-cpu --synthetic syn --study c --folds 2 --trials 1 --epochs-choices 1 --device cpu --quiet"
READ_ONLY = "read-only file system"
A_FILE = "notes.txt is a file"
TOO_LONG = "longer than the file system allows"

CASES = [
    Case(f"{D} ro/new", READ_ONLY),
    Case(f"{D} notes.txt/sub", A_FILE),
    Case(f"{D} {LONG}", TOO_LONG),
    Case(f"{S} --out ro/out", READ_ONLY),  # no journal left under studies/
    Case(f"{S} --storage ro/new.log", READ_ONLY),
    Case(f"{S} --storage ro/s/journal.log", READ_ONLY),  # an existing study on a read-only disk: its lock
    Case(f"{S} --out notes.txt/sub", A_FILE),
    Case(f"{S} --storage notes.txt/journal.log", A_FILE),
    Case(f"{S} --out {LONG}", TOO_LONG),
    Case(f"{S.replace(' --study s', '')} --study {LONG}", TOO_LONG),
    Case("worker --study s --n-trials 2 --device cpu --quiet --storage ro/s/journal.log", READ_ONLY),
    Case(f"{C} --out ro/c", READ_ONLY),
    Case(f"{C} --out c --gt-storage ro/gt.log", READ_ONLY),
    Case(f"{C} --out notes.txt/sub", A_FILE),
    Case(f"{C} --out {LONG}", TOO_LONG),
    Case(f"{CAL} --out ro/p.toml", READ_ONLY),
    Case(f"{CAL} --storage ro/c.log", READ_ONLY),
    Case(f"{CAL} --out notes.txt/p.toml", A_FILE),
    Case(f"{CAL} --out {LONG}.toml", TOO_LONG),
    Case("run --device cpu --quiet presets/ro.toml", READ_ONLY),
    Case("run --device cpu --quiet presets/file.toml", A_FILE),
    Case("run --device cpu --quiet presets/long.toml", TOO_LONG),
]


@pytest.fixture(scope="module")
def workspace(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """syn, truth.json, notes.txt, presets, and ro/: a read-only tmpfs holding a study (s)."""
    from tests.bad_inputs_files import PRESET

    root = tmp_path_factory.mktemp("disk-ws")
    shutil.copytree(tiny_run, root / "syn")
    archs = from_space(get_space("convnet-cpu"), 6, 0)
    (root / "truth.json").write_text(json.dumps([{"spec": a.spec, "accuracy": 60.0 + i} for i, a in enumerate(archs)]))
    (root / "notes.txt").write_text("my notes\n")
    (root / "presets").mkdir()
    for stem, runs in (("ro", "ro/runs"), ("file", "notes.txt/runs"), ("long", LONG)):
        (root / "presets" / f"{stem}.toml").write_text(PRESET.replace('name = "p"', f'name = "p"\nruns = "{runs}"'))
    ro = root / "ro"
    ro.mkdir()
    can_mount(ro, "4m")
    cwd = Path.cwd()
    os.chdir(root)
    try:
        assert main([*S.split(), "--storage", "ro/s/journal.log", "--out", "ro/s"]) == 0
    finally:
        os.chdir(cwd)
    Disk(ro).readonly()
    yield root
    warm.run(["umount", "-l", str(ro)], check=False)


def case_id(case: Case) -> str:
    """The command and what varies: ``search --out notes.txt/sub``."""
    words = case.args.split()
    return f"{words[0]} {' '.join(w[:12] for w in words[-2:])}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_an_unwritable_path_is_refused_in_one_line_leaving_nothing(case: Case, workspace: Path) -> None:
    outcome = run_case(case, workspace)
    assert problems(case, outcome) == [], outcome.stderr


def test_a_study_on_a_read_only_disk_can_still_be_read(workspace: Path) -> None:
    study = optuna.load_study(study_name="s", storage=open_storage(str(workspace / "ro" / "s" / "journal.log"), "s")[0])
    assert [t.state for t in study.trials] == [TrialState.COMPLETE]


PERMISSION_CASES = [
    Case(f"{D} locked/new", "permission denied"),
    Case(f"{S} --out locked/out", "permission denied"),
    Case(f"{S} --storage locked/new.log", "permission denied"),
    Case(f"{S} --storage locked/s/journal.log", "permission denied"),  # an existing study: its lock
    Case(f"{C} --out locked/c", "permission denied"),
    Case(f"{CAL} --out locked/p.toml", "permission denied"),
    # probe42: inputs this user may not read (as root's CAP_DAC_OVERRIDE is gone): before, "internal error: PermissionError", exit 1
    Case(
        "evaluate unread/set --runs 1 --epochs 1 --device cpu --quiet",
        "synthetic set file unread/set/synthetic.safetensors cannot be read: Permission denied",
    ),
    Case(f"{D} new --dataset imagefolder:unread/img --val-fraction 0.5", "image folder unread/img/dog cannot be read: Permission denied"),
    Case(f"{D} new --dataset imagefolder:unread/shut --val-fraction 0.5", "image folder unread/shut cannot be read: Permission denied"),
    Case(
        f"{D} new --dataset fashion-mnist --data-root unread/fm --val-fraction 0.5",
        "data file unread/fm/train-labels-idx1-ubyte cannot be read",
    ),
    # probe42's notes: a journal this user may not read was "cannot open storage 'X': [Errno 13] Permission denied: 'X'",
    # and a folder's config.toml it may not read "holds config.toml, not search's" (a cause it could not know)
    Case("worker --storage unread/j.log --study s --device cpu --quiet", "cannot read storage unread/j.log: permission denied"),
    # fix43a: search (and calibrate, correlate) checks that it may write the journal: before, "cannot write unread/j.log:
    # permission denied; give a folder you may write to", for a journal it may not read
    Case(f"{S} --storage unread/j.log", "cannot read storage unread/j.log: permission denied; change its permissions"),
    Case(f"{S} --out unread/out", "holds config.toml, which cannot be read, so search cannot tell whose it is: Permission denied; change"),
]


def _unreadable(ws: Path, unread: Path) -> None:
    """``ws/unread``, a link to ``unread``: a set whose tensors, an image folder whose class folder, an image folder,
    a Fashion-MNIST folder whose file, a study's journal and a folder's config.toml this user may not read (mode 000; 0o600, without the search bit). A link:
    the runner's snapshot of the workspace, which this user takes too, does not follow it."""
    from tests import fabricate

    (ws / "unread").symlink_to(unread)
    shutil.copytree(ws / "syn", unread / "set")
    os.chmod(unread / "set" / "synthetic.safetensors", 0)
    for name in ("img", "shut"):
        fabricate.image_folder(unread / name, ["cat", "dog"], 2)
    os.chmod(unread / "img" / "dog", 0)
    os.chmod(unread / "shut", 0o600)  # listed, but nothing in it can be reached
    fabricate.idx_files(
        unread / "fm", fabricate.shuffled_labels(list(range(10)), 2, 0), fabricate.shuffled_labels(list(range(10)), 1, 1), gz=False
    )
    os.chmod(unread / "fm" / "train-labels-idx1-ubyte", 0)
    shutil.copy(ws / "locked" / "s" / "journal.log", unread / "j.log")  # a study's journal
    os.chmod(unread / "j.log", 0)
    (unread / "out").mkdir()
    (unread / "out" / "config.toml").write_text('[search]\nstudy = "s"\n')
    os.chmod(unread / "out" / "config.toml", 0)


def test_no_permission_is_refused_in_one_line_leaving_nothing(workspace: Path, tmp_path: Path) -> None:
    """As root nothing is denied, so the cases run in a child without the capabilities that
    override file permissions (tests/uncapable.py), on a folder that only its owner may write."""
    if (why := uncapable.unavailable()) is not None:
        pytest.skip(why)
    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws, symlinks=True, ignore=shutil.ignore_patterns("ro"))
    locked = ws / "locked"
    shutil.copytree(workspace / "ro" / "s", locked / "s")
    os.chmod(locked / "s", 0o555)
    os.chmod(locked, 0o555)
    _unreadable(ws, tmp_path / "unread")
    command = [sys.executable, "-m", "tests.run_cases", "--uncapable", str(ws), *(c.args for c in PERMISSION_CASES)]
    done = warm.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    outcomes = json.loads(done.stdout)
    for case, outcome in zip(PERMISSION_CASES, outcomes, strict=True):
        assert outcome["problems"] == [] and case.needle in outcome["stderr"], (case.args, outcome)


def test_quota_exceeded_reads_as_a_full_disk() -> None:
    """EDQUOT (a user's quota) is a full disk to the user: the same one line and exit code."""
    from nas_proxy.files import write_error

    error = write_error(OSError(errno.EDQUOT, "Disk quota exceeded"), Path("/tmp/x.json"), 5000)
    assert isinstance(error, DiskFullError) and "disk quota exceeded" in str(error) and "5,000 bytes to write" in str(error)


def test_a_disk_turned_read_only_while_the_command_wrote_on_it_says_so_and_how_to_resume(tmp_path: Path) -> None:
    """drill44: a disk remounted read-only mid-run (``mount -o remount,ro``, as the kernel does after disk errors) said
    "read-only file system; give a path on a writable disk", which, followed, starts the work over elsewhere; a file
    written by the command (or its study's journal appended) before on that disk now says it turned read-only and to
    run the same command again once it is writable. A disk read-only from the start keeps the first line."""
    from nas_proxy import files
    from nas_proxy.studies.journal import JournalFile

    erofs = OSError(errno.EROFS, "Read-only file system")
    (tmp_path / "s").mkdir()
    for write in (
        lambda: files.write_text(tmp_path / "o" / "best.json", "{}"),
        lambda: JournalFile(tmp_path / "s" / "journal.log").append_logs([{}]),
    ):
        with files.one_command():
            before = str(files.write_error(erofs, tmp_path / "o" / "trials.csv"))
            write()
            after = str(files.write_error(erofs, tmp_path / "o" / "trials.csv"))
        assert before.endswith("read-only file system; give a path on a writable disk"), before
        assert READ_ONLY in after and "turned read-only while this command wrote on it" in after, after
        mount = files.mount_of(tmp_path)
        assert mount is not None and after.endswith(
            f"make it writable again (mount -o remount,rw {mount[0]}), then run the same command again"
        )


def test_a_read_only_bind_mount_of_the_disk_written_on_is_not_said_to_have_turned_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only bind mount of the file system a command writes on elsewhere (a container's -v /host/data:/data:ro
    beside -v /host/out:/out: one device, two mounts) was said to have "turned read-only while this command wrote on
    it", to be remounted rw (review44): it is judged by the mount written on, not the device alone."""
    from nas_proxy import files

    real = files.mount_of
    ro = tmp_path / "ro"
    ro.mkdir()

    def mount_of(path: Path) -> tuple[str, str, dict[str, str]] | None:  # tmp_path/ro: a mount of its own, same device
        where = os.path.realpath(files.existing_ancestor(path))
        return (str(ro), "ext4", {"ro": ""}) if where == str(ro) or where.startswith(f"{ro}/") else real(path)

    monkeypatch.setattr(files, "mount_of", mount_of)
    erofs = OSError(errno.EROFS, "Read-only file system")
    with files.one_command():
        files.write_text(tmp_path / "o" / "best.json", "{}")
        refused = str(files.write_error(erofs, ro / "labels.json"))
        turned = str(files.write_error(erofs, tmp_path / "o" / "trials.csv"))
    assert refused.endswith("read-only file system; give a path on a writable disk"), refused
    assert "turned read-only while this command wrote on it" in turned, turned


def test_a_disk_out_of_inodes_says_so_not_free_space(monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC on a file system with bytes to spare and no inode left (a tmpfs's nr_inodes, a disk of many small
    files): the line said "41,716 bytes to write, 536,825,856 bytes free; free space", which would not help (drill42)."""
    from nas_proxy import files

    real = os.statvfs("/")
    full = os.statvfs_result((*real[:5], 8, 0, 0, *real[8:]))  # f_files 8, f_ffree 0, f_favail 0
    monkeypatch.setattr(files.os, "statvfs", lambda path: full)
    error = files.write_error(OSError(errno.ENOSPC, "No space left on device"), Path("/tmp/o/meta.json"), 2962)
    assert isinstance(error, DiskFullError) and error.exit_code == 4
    assert "no free inodes (it holds 8 files and folders, its most)" in str(error) and "delete files there" in str(error)
    assert "free space," not in str(error)


def test_a_file_size_limit_names_the_limit_and_how_to_raise_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ulimit -f`` (CPython ignores SIGXFSZ, so the write fails EFBIG): the line was "cannot write X: File too large",
    without the limit or what to do (drill42)."""
    import resource

    from nas_proxy.files import write_error

    monkeypatch.setattr(resource, "getrlimit", lambda which: (35 * 1024, resource.RLIM_INFINITY))
    error = write_error(OSError(errno.EFBIG, "File too large"), Path("/tmp/o/checkpoint.safetensors"))
    assert "file-size limit (35,840 bytes, ulimit -f); raise the limit (ulimit -f unlimited), then run the same command again" in str(error)


def test_a_path_too_long_in_all_says_so_not_that_a_name_is(tmp_path: Path) -> None:
    """ENAMETOOLONG for a path of 21 names of 200 bytes (each one a file system takes; together past the kernel's
    4,095 bytes): the line said "a name in it is longer than the file system allows (200 bytes; most allow 255)"
    (probe44); a name of 256 bytes still says that."""
    from nas_proxy.files import write_error

    whole = tmp_path.joinpath(*["n" * 200] * 21, "meta.json")
    error = write_error(OSError(errno.ENAMETOOLONG, "File name too long"), whole)
    assert f"it is {len(str(whole)):,} bytes long, longer than the system takes (4,095 at most); use a shorter path" in str(error)
    error = write_error(OSError(errno.ENAMETOOLONG, "File name too long"), tmp_path / ("n" * 256))
    assert "a name in it is longer than the file system allows (256 bytes; most allow 255); use a shorter name" in str(error)


def test_a_writable_file_in_a_folder_that_is_not_is_said_so(tmp_path: Path) -> None:
    """A profile file this user may write in a folder it may not (555, root without capabilities): the file is
    replaced by a rename in its folder, so it is refused, the line naming the folder. Before perm48 it read
    'cannot write pf/p.toml: permission denied', of a file ``ls -l`` shows writable."""
    folder = tmp_path / "pf"
    folder.mkdir()
    (folder / "p.toml").write_text("")
    folder.chmod(0o555)
    table = ROOT / "benchmarks" / "groundtruth"
    command = ["calibrate", "--truth", str(table / "fashion-mnist-convnet720.csv"), "--space", "convnet720", "--ladders", "auto"]
    command += ["--scores", str(table / "fidelity-2026-11-26" / "early-1ep.csv"), "--out", "pf/p.toml"]
    done = uncapable.run(command, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("nasproxy calibrate: error: cannot write pf/p.toml: permission denied on its folder pf ")
    assert (folder / "p.toml").read_text() == ""


def test_a_worker_on_a_journal_whose_folder_it_may_not_write_names_the_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``worker`` on a study whose journal it may write, in a folder it may not (555: the lock is made there): refused
    at its first write, before any training, the line naming the folder. Before stop 48 (perm48's finding 10) it read
    'cannot write sw/journal.log: permission denied', of a file ``ls -l`` shows writable."""
    args = ["search", "--study", "s", "--dataset", "digits", "--proxy", "naswot", "--space", "convnet-small", "--n-trials", "1"]
    assert cli([*args, "--storage", str(tmp_path / "sw" / "journal.log"), "--out", str(tmp_path / "o"), "--device", "cpu"], capsys)[0] == 0
    before = (tmp_path / "sw" / "journal.log").read_bytes()
    (tmp_path / "sw").chmod(0o555)
    done = uncapable.run(["worker", "--study", "s", "--storage", "sw/journal.log", "--n-trials", "2", "--quiet"], cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("nasproxy worker: error: cannot write sw/journal.log: permission denied on its folder sw "), done.stderr
    assert (tmp_path / "sw" / "journal.log").read_bytes() == before
